"""Training engine: fit, evaluate, checkpoint, run records; the ``python -m hybridlib.train`` CLI.

One *run* is a (profile, dataset, configuration, seed) with its settings. Its record is
``results/<profile>/<dataset>/<configuration>/seed<k>.json``; a complete record whose
``config_hash`` matches is loaded instead of retrained (``force`` retrains). A checkpoint
is written atomically after every epoch under ``runs/``, so a run killed at any moment
continues from its last completed epoch and, on the CPU, ends with exactly the metrics
of an uninterrupted run: the batch order, the augmentation and mixup draws are functions
of (seed, epoch), never of the process's history.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hybridlib import data as datasets
from hybridlib.configs import CONFIGS, PROFILES, config_spec, profile_settings
from hybridlib.resnet import PreActResNet, describe, resnet18

__all__ = ["build_run", "evaluate", "fit", "learning_rate", "main", "record_path", "train_profile"]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Settings of a run beyond its profile, with the default of each.
RUN_DEFAULTS = {
    "momentum": 0.9,  # SGD momentum, as in the official recipe
    "weight_decay": 5e-4,  # on conv/linear weights only; Keras L2 5e-4 == 1e-3 here (paper)
    "label_smoothing": 0.1,  # the official recipe uses 0.2 (paper profile)
    "mixup": 0.0,  # Beta(alpha, alpha) mixup; the official recipe uses 0.2 (paper profile)
    "augment": False,  # random crop + flip; present but off in the official config
    "complexity_weight": 0.0,  # lambda of DiffStride's complexity regulariser (off)
    "strides": None,  # an initial-stride row of the DiffStride paper, e.g. (3, 1, 3)
    "compile": False,  # torch.compile the model (CUDA only)
}
PAPER_RECIPE = {"weight_decay": 1e-3, "label_smoothing": 0.2, "mixup": 0.2}
# The official step schedule: warm-up at 0.01, then 0.1, divided by 10 twice.
OFFICIAL_BOUNDARIES = (400, 18000, 32000)
OFFICIAL_VALUES = (0.01, 0.1, 0.01, 0.001)
# Fields that change the numbers a run produces, and so its hash and path.
OVERRIDABLE = (
    "epochs",
    "batch_size",
    "train_subset",
    "test_subset",
    "lr",
    "width",
    "schedule",
    *RUN_DEFAULTS,
)


# ---------------------------------------------------------------------- run settings
def build_run(
    profile: str,
    config: str,
    seed: int,
    dataset: str | None = None,
    overrides: dict | None = None,
) -> dict:
    """The full, JSON-serialisable settings of one run (what its hash is taken of)."""
    settings = profile_settings(profile)
    if config not in CONFIGS:
        raise ValueError(f"unknown configuration {config!r}; valid: {', '.join(CONFIGS)}")
    dataset = dataset or settings["datasets"][0]
    if dataset not in datasets.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(datasets.DATASETS)}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - set(OVERRIDABLE) - {"device"}
    if unknown:
        raise ValueError(f"unknown run settings {sorted(unknown)}; valid: {OVERRIDABLE}")
    run = {**RUN_DEFAULTS, **(PAPER_RECIPE if settings["schedule"] == "official" else {})}
    run.update({k: settings[k] for k in ("epochs", "batch_size", "train_subset", "test_subset")})
    run.update({k: settings[k] for k in ("lr", "width", "schedule", "device")})
    run.update(overrides)
    if run["strides"] is not None:
        run["strides"] = [int(s) for s in run["strides"]]
    run.update(
        profile=profile,
        dataset=dataset,
        config=config,
        seed=int(seed),
        spec=config_spec(config, run["strides"]),
        overrides=sorted(k for k in overrides if k != "device"),
    )
    return json.loads(json.dumps(run))  # tuples -> lists, as they are stored


def config_hash(run: dict) -> str:
    """SHA-256 of the run's settings, without what does not change the numbers.

    Left out: the device (same recipe) and the configuration's description (prose).
    """
    payload = {k: v for k, v in run.items() if k != "device"}
    payload["spec"] = {k: v for k, v in run["spec"].items() if k != "description"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def record_path(run: dict, results_dir: str | Path = "results") -> Path:
    """``<results>/<profile>[-<hash of overrides>]/<dataset>/<config>[_s<rows>]/seed<k>.json``.

    Runs with overrides go to a folder of their own, so a quick experiment never
    replaces a profile's committed record.
    """
    profile = run["profile"]
    if run["overrides"]:
        chosen = {k: run[k] for k in run["overrides"]}
        tag = hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:8]
        profile = f"{profile}-{tag}"
    config = run["config"]
    if run["strides"] is not None:
        config += "_s" + "".join(str(s) for s in run["strides"])
    return Path(results_dir) / profile / run["dataset"] / config / f"seed{run['seed']}.json"


# ---------------------------------------------------------------------- helpers
def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def learning_rate(step: int, total_steps: int, run: dict) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of ``total_steps``.

    ``onecycle``: linear warm-up to ``lr`` over the first 15 % of the steps, then linear
    decay to zero. ``official``: the official repository's piecewise-constant schedule.
    """
    if run["schedule"] == "official":
        index = sum(step >= b for b in OFFICIAL_BOUNDARIES)
        return OFFICIAL_VALUES[index]
    if run["schedule"] == "onecycle":
        warmup = max(1, int(0.15 * total_steps))
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        return run["lr"] * max(0.0, (total_steps - step) / max(1, total_steps - warmup))
    raise ValueError(f"unknown schedule {run['schedule']!r}; valid: onecycle, official")


def make_optimizer(model: PreActResNet, run: dict) -> torch.optim.SGD:
    """SGD with weight decay on convolution and linear weights only (never BN or strides)."""
    strides = {id(p) for p in model.stride_parameters()}
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 and id(p) not in strides else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": run["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=run["lr"], momentum=run["momentum"])


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1) + "\n"))


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _code_version() -> dict:
    """The commit of the code this process imported, and whether the library differed."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "hybridlib")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "library_modified": bool(status) if status is not None else None,
    }


# Taken at import: a long sweep keeps running the code it started with, whatever is
# committed while it runs.
CODE_VERSION = _code_version()


def provenance(device: torch.device) -> dict:
    """Where and with what a record was made."""
    return {
        **CODE_VERSION,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
        ),
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@functools.lru_cache(maxsize=4)
def _load(dataset: str, train_subset: int | None, test_subset: int | None):
    # Every configuration and seed of a profile sees the same subset (drawn with seed 0).
    return datasets.load_dataset(dataset).subset(train=train_subset, test=test_subset, seed=0)


# ---------------------------------------------------------------------- training
def _mixup(x, y, alpha: float, rng: np.random.Generator):
    """Mix a batch with a shuffled copy of itself; returns inputs, both targets and lambda."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


@torch.no_grad()
def evaluate(model: PreActResNet, images, labels, mean, std, batch_size: int = 512) -> dict:
    """Loss and accuracy of ``model`` on uint8 ``images`` ``[N, C, H, W]``."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for x, y in datasets.iterate_batches(images, labels, batch_size, mean=mean, std=std):
        with _autocast(x.device):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    n = len(labels)
    return {"loss": loss_sum / n, "acc": correct / n}


def _autocast(device: torch.device):
    """bfloat16 autocast on CUDA (the spectral layers compute their FFTs in float32)."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def _train_epoch(model, optimizer, data, run, epoch, steps_per_epoch, progress) -> dict:
    device = data.train_images.device
    # Mixup draws depend on (seed, epoch) only, so a resumed run repeats them exactly.
    rng = np.random.default_rng([run["seed"], epoch])
    total_steps = run["epochs"] * steps_per_epoch
    batches = datasets.iterate_batches(
        data.train_images,
        data.train_labels,
        run["batch_size"],
        mean=data.mean,
        std=data.std,
        shuffle=True,
        augment=run["augment"],
        seed=run["seed"],
        epoch=epoch,
        drop_last=True,
    )
    bar = tqdm(
        batches,
        total=steps_per_epoch,
        desc=f"{run['config']} s{run['seed']} epoch {epoch + 1}/{run['epochs']}",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    model.train()
    loss_sum, correct, seen, start = 0.0, 0.0, 0, time.perf_counter()
    for step, (x, y) in enumerate(bar):
        lr = learning_rate(epoch * steps_per_epoch + step, total_steps, run)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            if run["mixup"] > 0:
                x, y_a, y_b, lam = _mixup(x, y, run["mixup"], rng)
                logits = model(x)
                loss = lam * F.cross_entropy(
                    logits.float(), y_a, label_smoothing=run["label_smoothing"]
                ) + (1 - lam) * F.cross_entropy(
                    logits.float(), y_b, label_smoothing=run["label_smoothing"]
                )
            else:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=run["label_smoothing"])
            if run["complexity_weight"] > 0:
                loss = loss + run["complexity_weight"] * model.complexity().to(loss.device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix(
            loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}"
        )
    seconds = time.perf_counter() - start
    return {
        "train_loss": loss_sum / seen,
        "train_acc": correct / seen,
        "lr_last": lr,
        "train_seconds": seconds,
        "images_per_s": seen / seconds,
    }


def _checkpoint_path(record: Path, results_dir: Path, runs_dir: Path) -> Path:
    return Path(runs_dir) / record.relative_to(results_dir).with_suffix(".pt")


def fit(
    run: dict,
    results_dir: str | Path = "results",
    runs_dir: str | Path = "runs",
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train (or load, or resume) the run described by ``run`` and return its record.

    Args:
        run: settings from :func:`build_run`.
        results_dir: root of the run records (JSON).
        runs_dir: root of the resumable checkpoints (git-ignored).
        force: retrain even if a complete matching record exists.
        progress: show a progress bar per epoch.
    """
    results_dir, runs_dir = Path(results_dir), Path(runs_dir)
    digest = config_hash(run)
    path = record_path(run, results_dir)
    ckpt_path = _checkpoint_path(path, results_dir, runs_dir)
    if not force and path.exists():
        record = json.loads(path.read_text())
        if record.get("config_hash") == digest and record.get("complete"):
            return record
    if force:
        ckpt_path.unlink(missing_ok=True)

    device = resolve_device(run["device"])
    data = _load(run["dataset"], run["train_subset"], run["test_subset"]).to(device)
    torch.manual_seed(run["seed"])
    model = resnet18(
        run["spec"], num_classes=data.num_classes, in_channels=data.in_channels, width=run["width"]
    ).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, run)
    input_size = (data.in_channels, *data.image_size)
    initial = describe(model, input_size)
    history, elapsed = [], 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if state["config_hash"] == digest:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history, elapsed = state["history"], state["elapsed"]
    step_model = torch.compile(model) if run["compile"] and device.type == "cuda" else model
    steps_per_epoch = datasets.num_batches(len(data.train_labels), run["batch_size"], True)
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size {run['batch_size']} is larger than the training set "
            f"({len(data.train_labels)} images)"
        )

    for epoch in range(len(history), run["epochs"]):
        start = time.perf_counter()
        stats = _train_epoch(step_model, optimizer, data, run, epoch, steps_per_epoch, progress)
        test = evaluate(step_model, data.test_images, data.test_labels, data.mean, data.std)
        shape = describe(model, input_size)
        elapsed += time.perf_counter() - start
        history.append(
            {
                "epoch": epoch + 1,
                **stats,
                "test_loss": test["loss"],
                "test_acc": test["acc"],
                "learned_strides": model.learned_strides(),
                "feature_sizes": shape["sizes"],
                "flops": shape["flops"],
            }
        )
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history,
            "elapsed": elapsed,
            "config_hash": digest,
        }
        atomic_write(ckpt_path, lambda p, s=state: torch.save(s, p))
        tqdm.write(
            f"{path.parent.name} seed {run['seed']} epoch {epoch + 1}: "
            f"train acc {stats['train_acc']:.4f}, test acc {test['acc']:.4f}, "
            f"{stats['images_per_s']:.0f} img/s",
            file=sys.stderr,
        )

    final = history[-1]
    record = {
        "config": run,
        "config_hash": digest,
        "complete": True,
        "description": run["spec"]["description"],
        "final_test_acc": final["test_acc"],
        "final_test_loss": final["test_loss"],
        "learned_strides": final["learned_strides"],
        "feature_sizes": final["feature_sizes"],
        "initial_feature_sizes": initial["sizes"],
        "parameters": initial["parameters"],
        "flops": final["flops"],
        "wall_seconds": elapsed,
        "images_per_s": sum(e["images_per_s"] for e in history) / len(history),
        "train_size": len(data.train_labels),
        "test_size": len(data.test_labels),
        "epochs": history,
        "provenance": provenance(device),
    }
    write_json(path, record)
    return record


def train_profile(
    profile: str,
    force: bool = False,
    datasets_: Iterable[str] | None = None,
    configs: Iterable[str] | None = None,
    seeds: Iterable[int] | None = None,
    overrides: dict | None = None,
    results_dir: str | Path = "results",
    runs_dir: str | Path = "runs",
    progress: bool = True,
) -> list[dict]:
    """Load-or-train every (dataset, configuration, seed) of a profile, seed-major."""
    settings = profile_settings(profile)
    records = []
    for seed in seeds if seeds is not None else settings["seeds"]:
        for dataset in datasets_ or settings["datasets"]:
            for config in configs or settings["configs"]:
                run = build_run(profile, config, seed, dataset, overrides)
                records.append(fit(run, results_dir, runs_dir, force=force, progress=progress))
    return records


# ---------------------------------------------------------------------- CLI
def _parse_strides(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace("(", "").replace(")", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--strides must look like 3,1,3, got {text!r}")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.train",
        description=(
            "Train ResNet-18 configurations and write their run records (load-or-train: a "
            "complete matching record is reused; an interrupted run resumes)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  python -m hybridlib.train --profile cpu --config hybrid --seed 0\n"
            "  python -m hybridlib.train --profile cpu            # the whole cpu sweep\n"
            "  python -m hybridlib.train --profile paper --dataset cifar100 "
            "--config diffstride --strides 3,1,3\n"
            "  python -m hybridlib.train --profile smoke --config strided --epochs 2 --force\n"
            f"\nprofiles: {', '.join(PROFILES)}\nconfigurations: {', '.join(CONFIGS)}"
        ),
    )
    add = parser.add_argument
    add("--profile", default="cpu", choices=list(PROFILES), help="run profile (default: cpu)")
    add(
        "--config",
        action="append",
        choices=list(CONFIGS),
        help="configuration (repeatable; default: the profile's)",
    )
    add("--seed", action="append", type=int, help="seed (repeatable; default: the profile's)")
    add(
        "--dataset",
        action="append",
        choices=list(datasets.DATASETS),
        help="data set (default: the profile's)",
    )
    add("--force", action="store_true", help="retrain even if a matching record exists")
    add("--epochs", type=int, help="override the profile's number of epochs")
    add("--batch-size", type=int, help="override the batch size")
    add("--train-subset", type=int, help="train on this many images (class-balanced)")
    add("--test-subset", type=int, help="test on this many images")
    add("--lr", type=float, help="peak learning rate (onecycle schedule)")
    add("--width", type=int, help="channels of the stem (64 in the papers)")
    add("--strides", type=_parse_strides, help="initial strides of stages 2-4, e.g. 3,1,3")
    add("--complexity-weight", type=float, help="lambda of the complexity regulariser")
    add("--mixup", type=float, help="mixup alpha (0 disables)")
    add("--compile", action="store_true", default=None, help="torch.compile the model (CUDA)")
    add("--device", help="auto, cpu, cuda, cuda:1 or mps (default: the profile's)")
    add("--results-dir", default="results", help="where run records go (default: results)")
    add("--runs-dir", default="runs", help="where checkpoints go (default: runs)")
    add("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("epochs", "batch_size", "train_subset", "test_subset", "width"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    # Settings without a flag (momentum, ...) come out None and are left to the profile.
    overrides = {name: getattr(args, name, None) for name in (*OVERRIDABLE, "device")}
    try:
        records = train_profile(
            args.profile,
            force=args.force,
            datasets_=args.dataset,
            configs=args.config,
            seeds=args.seed,
            overrides=overrides,
            results_dir=args.results_dir,
            runs_dir=args.runs_dir,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print(
            "\ninterrupted: rerun the same command to resume from the last epoch", file=sys.stderr
        )
        return 130
    for r in records:
        c = r["config"]
        print(
            f"{c['dataset']:>14} {c['config']:>18} seed {c['seed']}: "
            f"test acc {r['final_test_acc']:.4f} ({r['images_per_s']:.0f} img/s, "
            f"{r['wall_seconds']:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
