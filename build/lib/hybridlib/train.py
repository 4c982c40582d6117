"""Training engine: fit, evaluate, checkpoint, run records; the ``python -m hybridlib.train`` CLI.

One *run* is a (profile, dataset, configuration, seed) with its settings. Its record is
``results/<profile>/<dataset>/<configuration>/seed<k>.json``; a complete record whose
``config_hash`` matches is loaded instead of retrained (``force`` retrains what was made
before the forced sweep started). A checkpoint is written atomically after every epoch
under ``runs/``, so a run killed at any moment continues from its last completed epoch
and, on the CPU, ends with exactly the metrics of an uninterrupted run: the batch order,
the augmentation and mixup draws are functions of (seed, epoch), never of the process's
history, and a resumed run uses the thread count its checkpoint was made with.

A run whose loss or parameters become NaN or infinite stops with
:class:`TrainingDiverged`; it never writes a record, and its last good checkpoint stays.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import math
import os
import pickle
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hybridlib import data as datasets
from hybridlib.argtypes import integer, number
from hybridlib.claims import claim
from hybridlib.codehash import accepted_hashes, code_hash
from hybridlib.configs import (
    CONFIGS,
    PROFILES,
    RECIPES,
    config_spec,
    profile_runs,
    profile_settings,
)
from hybridlib.resnet import PreActResNet, describe, resnet18
from hybridlib.tempfiles import remove_dead_writers, temporary_path

__all__ = [
    "FORCED_SINCE_ENV",
    "TrainingDiverged",
    "build_run",
    "evaluate",
    "fit",
    "forced_sweep",
    "learning_rate",
    "main",
    "record_path",
    "train_profile",
    "trunk_hash",
    "trunk_path",
    "wsd_trunk_epochs",
]

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
    # Autocast of the convolutions and linear layers: "bf16", "fp32" (none), or "auto":
    # bf16 on CUDA, fp32 elsewhere. The spectral layers compute in float32 under any.
    "precision": "auto",
    # Training images held out as a class-balanced validation split (drawn with seed 0,
    # the same for every run of a profile), measured after every epoch; None: no split.
    "validation": None,
}
PRECISIONS = ("auto", "fp32", "bf16")
# Values that settings added later take in the runs made before they existed: left out
# of the hash at these values, so those runs' records stay valid.
HASH_NEUTRAL = {"precision": "auto", "validation": None}
# How a run is computed rather than what it computes: recorded, but outside the hash and
# the record's path. ``threads`` is torch's intra-op thread count (None: torch's default);
# sums are split differently per thread count, so it changes results at the 1e-7 level.
# ``branches``: for the ``wsd`` schedule, the shorter budgets (epochs) whose trunk
# checkpoints this run leaves behind for their runs to start from (see wsd_trunk_epochs).
EXECUTION_SETTINGS = ("device", "threads", "branches")
# Set by a command that runs a forced sweep in child processes (the book pipeline): the
# UNIX time before which records and checkpoints are not reused.
FORCED_SINCE_ENV = "HYBRIDLIB_FORCED_SINCE"
FORCED_MARKER = ".forced-since"  # in runs/<profile>/ while a forced sweep is unfinished
# A schedule named after a recipe of hybridlib.configs.RECIPES brings that recipe's
# regularisation (weight decay, label smoothing, mixup) as the run's defaults.
RECIPE_SETTINGS = ("weight_decay", "label_smoothing", "mixup")
# The official step schedule: warm-up at 0.01, then 0.1, divided by 10 twice.
OFFICIAL_BOUNDARIES = (400, 18000, 32000)
OFFICIAL_VALUES = (0.01, 0.1, 0.01, 0.001)
# The step schedule: the rate is divided by 10 at these fractions of the steps.
STEP_DROPS = (1 / 2, 2 / 3)
# The first commit's schedule: the rate is divided by 10 at the start of these epochs.
FIRST_COMMIT_EPOCHS = (200, 300)
# The warmup-stable-decay schedule: a warm-up of a fixed length (the step schedule's 10 %
# of 6 epochs), a constant rate, and a linear decay to zero over the last sixth of the
# epochs. Its first steps do not depend on the budget, so every shorter budget's run
# shares the longer one's trunk up to where its own decay starts.
WSD_WARMUP_EPOCHS = 0.6
WSD_DECAY_SHARE = 6  # the decay is the last epochs // WSD_DECAY_SHARE epochs
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
    unknown = set(overrides) - set(OVERRIDABLE) - set(EXECUTION_SETTINGS)
    if unknown:
        valid = (*OVERRIDABLE, *EXECUTION_SETTINGS)
        raise ValueError(f"unknown run settings {sorted(unknown)}; valid: {valid}")
    recipe = RECIPES.get(overrides.get("schedule", settings["schedule"]), {})
    run = {**RUN_DEFAULTS, **{k: recipe[k] for k in RECIPE_SETTINGS if k in recipe}}
    run.update({k: settings[k] for k in ("epochs", "batch_size", "train_subset", "test_subset")})
    run.update({k: settings[k] for k in ("width", "schedule", "device")})
    # A profile may tune the learning rate per configuration ({config: lr}).
    lr = settings["lr"]
    run["lr"] = lr[config] if isinstance(lr, dict) else lr
    # ... and set any other run setting for all of its runs (validation, precision).
    run.update({k: settings[k] for k in RUN_DEFAULTS if k in settings})
    run["threads"] = settings.get("threads")
    if "budgets" in settings:
        run["branches"] = None
    run.update(overrides)
    if run["strides"] is not None:
        run["strides"] = [int(s) for s in run["strides"]]
    # A stride row the profile declares is part of the profile, not an override; the
    # configuration's own row is the configuration's run.
    rows = [[int(s) for s in row] for row in settings.get("stride_rows", ())]
    profile_row = run["strides"] in rows
    own = [CONFIGS[config][p][1] for p in ("stage2", "stage3", "stage4")]
    if profile_row and run["strides"] == own:
        run["strides"] = None
    # So is a training budget the profile declares (its "budgets", in epochs).
    profile_budget = run["epochs"] in settings.get("budgets", ())
    run.update(
        profile=profile,
        dataset=dataset,
        config=config,
        seed=int(seed),
        spec=config_spec(config, run["strides"]),
        overrides=sorted(
            k
            for k in overrides
            if k not in EXECUTION_SETTINGS
            and not (k == "strides" and profile_row)
            and not (k == "epochs" and profile_budget)
        ),
    )
    return json.loads(json.dumps(run))  # tuples -> lists, as they are stored


def config_hash(run: dict) -> str:
    """SHA-256 of the run's settings, without what does not change the numbers.

    Left out: the execution settings (device, threads: same recipe), settings at their
    :data:`HASH_NEUTRAL` value and the configuration's description (prose).
    """
    payload = {
        k: v
        for k, v in run.items()
        if k not in EXECUTION_SETTINGS and not (k in HASH_NEUTRAL and HASH_NEUTRAL[k] == v)
    }
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
    if "budgets" in PROFILES.get(run["profile"], {}):
        config += f"_e{run['epochs']}"
    return Path(results_dir) / profile / run["dataset"] / config / f"seed{run['seed']}.json"


def trunk_hash(run: dict) -> str:
    """The settings hash of a ``wsd`` run without its budget: equal for every budget."""
    return config_hash({**run, "epochs": None})


def trunk_path(run: dict, epochs: int, runs_dir: str | Path = "runs") -> Path:
    """Where the state of ``run``'s trunk after ``epochs`` epochs is kept (git-ignored)."""
    return Path(runs_dir) / run["profile"] / "trunks" / f"{trunk_hash(run)}-e{epochs}.pt"


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
    ``first_commit``: ``lr`` divided by 10 at the start of epochs 200 and 300.
    ``step``: linear warm-up over the first 10 % of the steps, then ``lr``, divided by 10
    from half of the steps and by 100 from two thirds (the official schedule's shape,
    scaled to any length): the last third runs at a rate small enough that its epochs
    show whether training has reached a plateau. ``wsd`` (warmup-stable-decay): linear
    warm-up over :data:`WSD_WARMUP_EPOCHS` epochs, then ``lr`` until the last
    ``epochs // WSD_DECAY_SHARE`` epochs, which decay it linearly to zero
    (:func:`wsd_trunk_epochs`).
    """
    if run["schedule"] == "first_commit":
        epoch = step * run["epochs"] // total_steps
        return run["lr"] * 0.1 ** sum(epoch >= b for b in FIRST_COMMIT_EPOCHS)
    if run["schedule"] == "official":
        index = sum(step >= b for b in OFFICIAL_BOUNDARIES)
        return OFFICIAL_VALUES[index]
    if run["schedule"] == "onecycle":
        warmup = max(1, int(0.15 * total_steps))
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        return run["lr"] * max(0.0, (total_steps - step) / max(1, total_steps - warmup))
    if run["schedule"] == "step":
        warmup = max(1, int(0.1 * total_steps))
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        return run["lr"] * 0.1 ** sum(step >= f * total_steps for f in STEP_DROPS)
    if run["schedule"] == "wsd":
        steps_per_epoch = total_steps // run["epochs"]
        warmup = max(1, int(WSD_WARMUP_EPOCHS * steps_per_epoch))
        decay_from = wsd_trunk_epochs(run["epochs"]) * steps_per_epoch
        if step < warmup:
            return run["lr"] * (step + 1) / warmup
        if step < decay_from:
            return run["lr"]
        return run["lr"] * (total_steps - step) / (total_steps - decay_from)
    valid = "onecycle, step, wsd, official, first_commit"
    raise ValueError(f"unknown schedule {run['schedule']!r}; valid: {valid}")


def wsd_trunk_epochs(epochs: int) -> int:
    """The epochs of a ``wsd`` run of ``epochs`` before its decay starts (its trunk).

    A budget needs at least :data:`WSD_DECAY_SHARE` epochs, so that its decay has one.
    """
    if epochs < WSD_DECAY_SHARE:
        raise ValueError(
            f"the wsd schedule needs at least {WSD_DECAY_SHARE} epochs, got {epochs}"
        )
    return epochs - epochs // WSD_DECAY_SHARE


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
    """Write through a temporary file in the same folder, then rename over ``path``.

    The temporary files of writers killed mid-write in that folder are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_writers(path.parent)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: dict) -> None:
    """Write ``obj`` to ``path`` as strict JSON; a NaN or an infinity writes nothing.

    Raises:
        ValueError: naming the file, if ``obj`` holds a non-finite number.
    """
    try:
        text = json.dumps(obj, indent=1, allow_nan=False) + "\n"
    except ValueError as err:
        raise ValueError(f"{path} not written: {err} (records are strict JSON)") from err
    atomic_write(path, lambda p: p.write_text(text))


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
# The fingerprint of the code that computes a run (see hybridlib.codehash), also taken at
# import for the same reason.
CODE_HASH = code_hash()
# The fingerprints of older code whose runs were shown to compute exactly what this code
# computes (hybridlib.verify reruns a record and compares its predictions bit for bit).
ACCEPTED_CODE = accepted_hashes(CODE_HASH)


def encode_predictions(predictions: torch.Tensor) -> str:
    """Predicted classes ``[N]`` as compact text: base64 of one byte per image."""
    values = predictions.to(torch.int64).cpu().numpy()
    if len(values) and not (0 <= values.min() and values.max() < 256):
        raise ValueError(
            f"predictions must be classes 0..255, got {values.min()}..{values.max()}"
        )
    return base64.b64encode(values.astype(np.uint8).tobytes()).decode("ascii")


def decode_predictions(text: str) -> np.ndarray:
    """The predicted classes ``[N]`` (int64) that :func:`encode_predictions` wrote."""
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).astype(np.int64)


def encode_correct(correct: torch.Tensor) -> str:
    """Whether each test image ``[N]`` was classified correctly, as base64 of packed bits."""
    return base64.b64encode(np.packbits(correct.cpu().numpy().astype(bool)).tobytes()).decode()


def decode_correct(text: str, n: int) -> np.ndarray:
    """The boolean ``[n]`` that :func:`encode_correct` wrote."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def provenance(device: torch.device) -> dict:
    """Where and with what a record was made."""
    return {
        **CODE_VERSION,
        "code_hash": CODE_HASH,
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
def _load(dataset: str, train_subset: int | None, test_subset: int | None, validation=None):
    """The run's data and its validation split ``(images, labels)`` (None without one).

    Every configuration and seed of a profile sees the same split and subsets (drawn with
    seed 0); the training subset is drawn from what the validation split leaves.
    """
    data, held_out = datasets.load_dataset(dataset), None
    if validation is not None:
        data, held_out = data.hold_out(validation, seed=0)
    return data.subset(train=train_subset, test=test_subset, seed=0), held_out


# ---------------------------------------------------------------------- training
class TrainingDiverged(RuntimeError):
    """The loss or the parameters of a run became NaN or infinite.

    Nothing is recorded for the run and its last good checkpoint is kept; the message
    names the run, the epoch and the step.
    """


def _diverged(run: dict, epoch: int, step: int, steps: int, what: str) -> TrainingDiverged:
    """The error for a run that diverged at 0-based ``epoch`` and ``step`` (of ``steps``)."""
    # Epochs before this one all completed, so ``epoch`` is the last good checkpoint's.
    kept = f"no record was written and the checkpoint of epoch {epoch} is kept"
    return TrainingDiverged(
        f"training diverged: {run['config']} seed {run['seed']} on {run['dataset']} "
        f"(profile {run['profile']}): {what} at epoch {epoch + 1}, step {step + 1} of {steps}; "
        f"{kept if epoch else 'nothing was written'}. Lower the learning rate (--lr) and run "
        "again."
    )


def _step_values(loss: torch.Tensor, strides: Sequence[torch.Tensor]) -> list[float]:
    """The loss and every stride value, brought to the host in one transfer."""
    parts = [loss.detach().float().reshape(1), *(p.detach().float().reshape(-1) for p in strides)]
    return torch.cat(parts).tolist()


def _check_parameters(model: PreActResNet, run: dict, epoch: int, steps: int) -> None:
    """Raise :class:`TrainingDiverged` if a parameter or a buffer is NaN or infinite."""
    tensors = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    finite = torch.stack([torch.isfinite(v).all() for v in tensors.values()]).tolist()
    bad = [name for name, ok in zip(tensors, finite, strict=True) if not ok]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise _diverged(run, epoch, steps - 1, steps, f"{bad[0]}{more} became NaN or infinite")


def _mixup(x, y, alpha: float, rng: np.random.Generator):
    """Mix a batch with a shuffled copy of itself; returns inputs, both targets and lambda."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


@torch.no_grad()
def evaluate(
    model: PreActResNet,
    images,
    labels,
    mean,
    std,
    batch_size: int = 512,
    precision: str = "auto",
) -> dict:
    """Loss, accuracy and predicted classes ``[N]`` of ``model`` on ``images [N, C, H, W]``."""
    model.eval()
    loss_sum, correct, predicted = 0.0, 0, []
    for x, y in datasets.iterate_batches(images, labels, batch_size, mean=mean, std=std):
        with _autocast(x.device, precision):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        predicted.append(logits.argmax(1))
        correct += (predicted[-1] == y).sum().item()
    n = len(labels)
    predictions = torch.cat(predicted).cpu() if predicted else torch.zeros(0, dtype=torch.int64)
    return {"loss": loss_sum / n, "acc": correct / n, "predictions": predictions}


def _autocast(device: torch.device, precision: str):
    """bfloat16 autocast for ``precision`` ``bf16``, or ``auto`` on CUDA; else none.

    The spectral layers leave autocast and compute in float32 whatever is chosen.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    enabled = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


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
    strides = model.stride_parameters()
    loss_sum, correct, seen, start = 0.0, 0.0, 0, time.perf_counter()
    for step, (x, y) in enumerate(bar):
        lr = learning_rate(epoch * steps_per_epoch + step, total_steps, run)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, run["precision"]):
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
        # The loss comes to the host anyway; the strides travel with it, since the next
        # forward computes its sizes from them and would fail on a NaN with an unrelated error.
        values = _step_values(loss, strides)
        if not math.isfinite(values[0]):
            raise _diverged(run, epoch, step, steps_per_epoch, f"the loss is {values[0]}")
        if not all(map(math.isfinite, values)):
            what = "a DiffStride stride became NaN or infinite"
            raise _diverged(run, epoch, step, steps_per_epoch, what)
        loss_sum += values[0] * len(y)
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


def _warn(message: str) -> None:
    """A warning on stderr, between progress bars."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------- reuse and resume
def _not_before(force: bool | float) -> float | None:
    """The UNIX time before which records and checkpoints are not reused (None: any is)."""
    if force is True:
        return time.time()
    if force is False or force is None:
        return None
    return float(force)


def _fresh(path: Path, not_before: float | None) -> bool:
    """Whether the existing ``path`` may be reused: no threshold, or written at/after it."""
    return not_before is None or path.stat().st_mtime >= not_before


def _strict_constant(name: str):
    """Refuses the NaN and Infinity that Python's json module reads by default."""
    raise ValueError(f"{name} is not a valid JSON number")


def _reusable_record(path: Path, digest: str, not_before: float | None) -> dict | None:
    """The complete record at ``path`` if it matches ``digest`` and may be reused.

    A damaged record is reported and left in place: the run is trained again (resumed
    from its checkpoint, if it has one) and the file is replaced when it completes.
    """
    if not path.exists() or not _fresh(path, not_before):
        return None
    try:
        record = json.loads(path.read_text(encoding="utf8"), parse_constant=_strict_constant)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problem = f"it does not parse as strict JSON ({err})"
    else:
        if isinstance(record, dict):
            ok = record.get("config_hash") == digest and record.get("complete")
            return record if ok else None
        problem = f"it holds a JSON {type(record).__name__}, not an object"
    _warn(
        f"{path} is not a valid run record: {problem}. Training the run again (from its "
        "checkpoint if it has one); the file is replaced when the run completes."
    )
    return None


# What a checkpoint holds, and the type of each entry.
CHECKPOINT_ENTRIES = {
    "model": dict,
    "optimizer": dict,
    "history": list,
    "elapsed": (int, float),
    "config_hash": str,
}


_FROM_SCRATCH = "Training the run from scratch; the file is replaced after the first epoch."


def _checkpoint_problem(state) -> str | None:
    """What is wrong with a loaded checkpoint's structure, or None."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict"
    for key, kind in CHECKPOINT_ENTRIES.items():
        if not isinstance(state.get(key), kind):
            return f"its entry {key!r} is missing or of the wrong type"
    return None


def _read_checkpoint(
    path: Path, device: torch.device, digest: str, not_before: float | None,
    mmap: bool = False,
) -> dict | None:
    """The checkpoint at ``path`` if it belongs to this run and may be resumed from.

    Loaded with ``weights_only=True``: a checkpoint holds tensors, containers and numbers
    only, and a file that asks for anything else (code to run while loading) is refused.
    A damaged checkpoint is reported and ignored: the run starts from scratch and the
    file is replaced after the first epoch; the run's record is not touched. ``mmap``
    maps the tensors instead of reading them, for a caller that only needs the history.
    """
    if not path.exists() or not _fresh(path, not_before):
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        refused = [line for line in str(err).splitlines() if "GLOBAL" in line]
        problem = "it holds objects other than tensors and numbers, refused because loading "
        problem += "them could run code" + (f" ({refused[0].strip()})" if refused else "")
    except Exception as err:  # torch.load raises many types for a damaged file
        lines = str(err).strip().splitlines() or [""]
        problem = f"it cannot be read ({type(err).__name__}: {lines[0]})"
    else:
        problem = _checkpoint_problem(state)
        if problem is None:
            return state if state["config_hash"] == digest else None
    _warn(f"{path} is not a usable checkpoint: {problem}. {_FROM_SCRATCH}")
    return None


@contextmanager
def _thread_count(run: dict, state: dict | None, ckpt_path: Path) -> Iterator[int]:
    """Run the block with the run's intra-op thread count, then restore the previous one.

    Sums are split differently per thread count, so a resumed run uses the count its
    checkpoint was made with: only then does it end as an uninterrupted run would.
    """
    previous = torch.get_num_threads()
    threads = run.get("threads") or previous
    recorded = state.get("threads") if state is not None else None
    if isinstance(recorded, int) and recorded > 0 and recorded != threads:
        print(
            f"note: resuming with {recorded} threads, the count {ckpt_path} was made with "
            f"(not {threads}), so that the run ends exactly as an uninterrupted one",
            file=sys.stderr,
        )
        threads = recorded
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------- fit
def fit(
    run: dict,
    results_dir: str | Path = "results",
    runs_dir: str | Path = "runs",
    force: bool | float = False,
    progress: bool = True,
    accept_code: bool = False,
) -> dict:
    """Train (or load, or resume) the run described by ``run`` and return its record.

    Args:
        run: settings from :func:`build_run`.
        results_dir: root of the run records (JSON).
        runs_dir: root of the resumable checkpoints (git-ignored).
        force: ``False`` loads a complete matching record and resumes from a matching
            checkpoint; a UNIX time does so only for files written at or after it (a
            forced sweep's start, see :func:`forced_sweep`); ``True`` means the time of
            this call, so the run is trained from scratch.
        progress: show a progress bar per epoch.
        accept_code: reuse a record (or resume a checkpoint) made by other code than
            this (another :data:`CODE_HASH`); by default such a run is trained again,
            with a note saying why.

    Raises:
        TrainingDiverged: if the loss or the parameters become NaN or infinite; no record
            is written and the checkpoint of the last good epoch is kept.
    """
    results_dir, runs_dir = Path(results_dir), Path(runs_dir)
    not_before = _not_before(force)
    digest = config_hash(run)
    path = record_path(run, results_dir)
    ckpt_path = _checkpoint_path(path, results_dir, runs_dir)
    record = _reusable_record(path, digest, not_before)
    if record is not None and _same_code(record.get("code_hash"), path, accept_code):
        return record
    device = resolve_device(run["device"])
    state = _read_checkpoint(ckpt_path, device, digest, not_before)
    if state is not None and not _same_code(state.get("code_hash"), ckpt_path, accept_code):
        state = None
    trunks, from_trunk = {}, None
    if run["schedule"] == "wsd":
        # A shorter budget starts from the trunk a longer run of the same settings left.
        start = trunk_path(run, wsd_trunk_epochs(run["epochs"]), runs_dir)
        if state is None:
            state = _read_checkpoint(start, device, trunk_hash(run), not_before)
            if state is not None and not _same_code(state.get("code_hash"), start, accept_code):
                state = None
            if state is not None:
                from_trunk = {"epochs": len(state["history"]), "seconds": state["elapsed"]}
        trunks = {wsd_trunk_epochs(b): trunk_path(run, wsd_trunk_epochs(b), runs_dir)
                  for b in run.get("branches") or () if b < run["epochs"]}
    with _thread_count(run, state, ckpt_path):
        record = _train(run, digest, device, state, ckpt_path, path.parent.name, progress,
                        trunks)
    if from_trunk is not None:
        # Its first epochs were computed once, by the longer run: say so, for the bill.
        record["from_trunk"] = from_trunk
    write_json(path, record)
    return record


def _same_code(made_by: str | None, path: Path, accept: bool) -> bool:
    """Whether a file made by code ``made_by`` may be used; says so when it may not."""
    if made_by in ACCEPTED_CODE or accept:
        return True
    _warn(
        f"{path} was made by other code (code hash {made_by}, now {CODE_HASH}): training "
        "the run again; to use it as it is, pass --accept-code-change (accept_code=True)"
    )
    return False


def _new_model(run: dict, data, device: torch.device):
    """The run's freshly initialised network (seeded by the run's seed) and its optimiser."""
    torch.manual_seed(run["seed"])
    model = resnet18(
        run["spec"], num_classes=data.num_classes, in_channels=data.in_channels, width=run["width"]
    ).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, make_optimizer(model, run)


def _train(
    run: dict,
    digest: str,
    device: torch.device,
    state: dict | None,
    ckpt_path: Path,
    label: str,
    progress: bool,
    trunks: dict[int, Path] | None = None,
) -> dict:
    """Train from ``state`` (a checkpoint, or None) to the last epoch; return the record.

    ``trunks`` maps an epoch to the file where the state after it is also kept, with the
    run's :func:`trunk_hash`: the start of a shorter ``wsd`` budget.
    """
    subsets = (run["train_subset"], run["test_subset"], run["validation"])
    data, held_out = _load(run["dataset"], *subsets)
    data = data.to(device)
    held_out = None if held_out is None else tuple(t.to(device) for t in held_out)
    model, optimizer = _new_model(run, data, device)
    input_size = (data.in_channels, *data.image_size)
    initial = describe(model, input_size)
    history, elapsed, predictions, correct = [], 0.0, None, None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history, elapsed = state["history"], float(state["elapsed"])
            predictions, correct = state.get("test_predictions"), state.get("test_correct")
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            lines = str(err).strip().splitlines() or [""]
            _warn(f"{ckpt_path} does not fit this network ({lines[0]}). {_FROM_SCRATCH}")
            model, optimizer = _new_model(run, data, device)  # a load may stop half-way
            history, elapsed, predictions, correct = [], 0.0, None, None
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
        _check_parameters(model, run, epoch, steps_per_epoch)
        # With a validation split the test set is read once, after the last epoch: what
        # is chosen while training (learning rate, epochs) sees the validation split only.
        scores = {}
        if held_out is not None:
            val = evaluate(step_model, *held_out, data.mean, data.std, precision=run["precision"])
            scores.update(val_loss=val["loss"], val_acc=val["acc"])
        if held_out is None or epoch == run["epochs"] - 1:
            test = evaluate(
                step_model,
                data.test_images,
                data.test_labels,
                data.mean,
                data.std,
                precision=run["precision"],
            )
            scores.update(test_loss=test["loss"], test_acc=test["acc"])
            predictions = encode_predictions(test["predictions"])
            correct = encode_correct(test["predictions"] == data.test_labels.cpu())
        for split in ("val", "test"):
            if not math.isfinite(scores.get(f"{split}_loss", 0.0)):
                what = f"the {split} loss is {scores[f'{split}_loss']}"
                raise _diverged(run, epoch, steps_per_epoch - 1, steps_per_epoch, what)
        shape = describe(model, input_size)
        elapsed += time.perf_counter() - start
        history.append(
            {
                "epoch": epoch + 1,
                **stats,
                **scores,
                "learned_strides": model.learned_strides(),
                "feature_sizes": shape["sizes"],
                "flops": shape["flops"],
            }
        )
        checkpoint = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history,
            "elapsed": elapsed,
            "config_hash": digest,
            "threads": torch.get_num_threads(),
            "code_hash": CODE_HASH,
            "test_predictions": predictions,
            "test_correct": correct,
        }
        atomic_write(ckpt_path, lambda p, s=checkpoint: torch.save(s, p))
        if (trunks or {}).get(epoch + 1):
            trunk = {**checkpoint, "config_hash": trunk_hash(run)}
            atomic_write(trunks[epoch + 1], lambda p, s=trunk: torch.save(s, p))
        accuracies = "".join(f"{k.replace('_', ' ')} {v:.4f}, " for k, v in scores.items()
                             if k.endswith("acc"))
        tqdm.write(
            f"{label} seed {run['seed']} epoch {epoch + 1}: train acc {stats['train_acc']:.4f}, "
            f"{accuracies}{stats['images_per_s']:.0f} img/s",
            file=sys.stderr,
        )

    final = history[-1]
    return {
        "config": run,
        "config_hash": digest,
        "code_hash": CODE_HASH,
        "complete": True,
        "description": run["spec"]["description"],
        "final_test_acc": final["test_acc"],
        "final_test_loss": final["test_loss"],
        "final_val_acc": final.get("val_acc"),
        # Predicted class of every test image, in the test set's order, and whether it is
        # right (base64; decode_predictions and decode_correct read them): the per-image
        # paired tests need no data set.
        "test_predictions": predictions,
        "test_correct": correct,
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


# ---------------------------------------------------------------------- sweeps
def _read_marker(marker: Path) -> float | None:
    """The start time an unfinished forced sweep left in ``marker``, if readable."""
    try:
        since = float(marker.read_text(encoding="utf8").split()[0])
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        _warn(f"{marker} is not a start time; the forced sweep starts afresh")
        return None
    return since if math.isfinite(since) else None


@contextmanager
def forced_sweep(runs_dir: str | Path, profile: str) -> Iterator[float]:
    """The start of the forced sweep this command belongs to, as a UNIX time.

    A forced sweep retrains every run whose record or checkpoint is older than its start
    and reuses those written since, so rerunning an interrupted forced command resumes
    where it stopped instead of starting over. The start is taken from
    ``$HYBRIDLIB_FORCED_SINCE`` when an enclosing command (the book pipeline) set it;
    else from the marker ``runs/<profile>/.forced-since`` that an unfinished forced
    sweep left; else it is now, written to that marker. The marker is removed when the
    block completes without an exception: the next forced command starts afresh.
    """
    inherited = os.environ.get(FORCED_SINCE_ENV)
    if inherited:
        try:
            since = float(inherited)
        except ValueError:
            since = math.nan
        if not math.isfinite(since):
            raise ValueError(
                f"${FORCED_SINCE_ENV} must be a UNIX time in seconds, got {inherited!r}; "
                "unset it to start a new forced sweep"
            )
        yield since
        return
    marker = Path(runs_dir) / profile / FORCED_MARKER
    since = _read_marker(marker)
    if since is None:
        since = time.time()
        atomic_write(marker, lambda p: p.write_text(f"{since!r}\n", encoding="utf8"))
    else:
        when = datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds")
        print(f"note: continuing the forced sweep started at {when}", file=sys.stderr)
    yield since
    marker.unlink(missing_ok=True)


def train_profile(
    profile: str,
    force: bool | float = False,
    datasets_: Iterable[str] | None = None,
    configs: Iterable[str] | None = None,
    seeds: Iterable[int] | None = None,
    overrides: dict | None = None,
    results_dir: str | Path = "results",
    runs_dir: str | Path = "runs",
    progress: bool = True,
    accept_code: bool = False,
    share: bool = False,
    train: bool = True,
) -> list[dict]:
    """Load-or-train every run of a profile (``hybridlib.configs.profile_runs``), seed-major.

    ``force=True`` retrains the runs made before this forced sweep started (see
    :func:`forced_sweep`); a UNIX time is passed to :func:`fit` as it is. ``share=True``
    lets several processes work through the same sweep: each run is claimed first
    (:mod:`hybridlib.claims`), and a run another live process holds is skipped (left out
    of the returned records, with a note). ``train=False`` only reads the complete
    records (:func:`recorded`): a run without one is left out, and a note counts them.
    """
    if force is True:
        with forced_sweep(runs_dir, profile) as since:
            return train_profile(
                profile,
                force=since,
                datasets_=datasets_,
                configs=configs,
                seeds=seeds,
                overrides=overrides,
                results_dir=results_dir,
                runs_dir=runs_dir,
                progress=progress,
                accept_code=accept_code,
                share=share,
                train=train,
            )
    overrides = dict(overrides or {})
    rows = overrides.get("strides") is None  # the profile's stride rows, unless one is chosen
    records, unrecorded = [], 0
    for dataset, config, strides, seed in profile_runs(profile, datasets_, configs, seeds, rows):
        row = {"strides": strides} if strides is not None else {}
        run = build_run(profile, config, seed, dataset, {**overrides, **row})
        if train:
            train_one = fit_shared if share else fit
            done = train_one(run, results_dir, runs_dir, force, progress, accept_code=accept_code)
        else:
            done = recorded(run, results_dir, accept_code)
            unrecorded += done is None
        if done is not None:
            records.append(done)
    if unrecorded:
        _warn(f"{unrecorded} runs of profile {profile} have no complete record yet (not trained "
              f"here: python -m hybridlib.train --profile {profile} trains them)")
    return records


def recorded(run: dict, results_dir: str | Path = "results", accept_code: bool = False):
    """The complete record of ``run`` (same settings; same code unless ``accept_code``), or
    None: what :func:`fit` would reuse, without training anything."""
    record = _reusable_record(record_path(run, results_dir), config_hash(run), None)
    if record is None or not (accept_code or record.get("code_hash") in ACCEPTED_CODE):
        return None
    return record


def fit_shared(run: dict, results_dir="results", runs_dir="runs", *args, **kwargs) -> dict | None:
    """:func:`fit` under the run's claim; None (and a note) when another process holds it."""
    record = record_path(run, results_dir)
    ckpt = _checkpoint_path(record, Path(results_dir), Path(runs_dir))
    with claim(ckpt.with_suffix(".claim")) as other:
        if other is not None:
            _warn(f"{record}: process {other['pid']} on {other['host']} is training this run; "
                  "skipped")
            return None
        return fit(run, results_dir, runs_dir, *args, **kwargs)


# ---------------------------------------------------------------------- CLI
SEED_MAX = 2**32 - 1  # numpy's and torch's generators all take a 32-bit seed


def _device(text: str) -> str:
    """An argparse type: ``auto`` or a name ``torch.device`` accepts."""
    if text != "auto":
        try:
            torch.device(text)
        except (RuntimeError, ValueError, TypeError):
            raise argparse.ArgumentTypeError(
                f"must be auto, cpu, cuda, cuda:<index> or mps, got {text!r}"
            ) from None
    return text


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
            "  python -m hybridlib.train --profile cpu & python -m hybridlib.train --profile cpu\n"
            "      # two processes share the sweep: each run is claimed by one of them\n"
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
    add(
        "--seed",
        action="append",
        type=integer(0, SEED_MAX),
        help="seed (repeatable; default: the profile's)",
    )
    add(
        "--dataset",
        action="append",
        choices=list(datasets.DATASETS),
        help="data set (default: the profile's)",
    )
    add(
        "--force",
        action="store_true",
        help="retrain the runs whose record or checkpoint was made before this forced sweep "
        "started; rerunning an interrupted forced command continues the same sweep (the runs "
        "it finished are kept, the one it stopped in resumes)",
    )
    add("--epochs", type=integer(1), help="override the profile's number of epochs")
    add("--batch-size", type=integer(1), help="override the batch size")
    add("--train-subset", type=integer(1), help="train on this many images (class-balanced)")
    add("--test-subset", type=integer(1), help="test on this many images")
    add(
        "--validation",
        type=integer(1),
        help="hold this many training images out as a validation split (class-balanced)",
    )
    add("--lr", type=number(0, False), help="peak learning rate (onecycle schedule), > 0")
    add("--width", type=integer(1), help="channels of the stem (64 in the papers)")
    add("--strides", type=_parse_strides, help="initial strides of stages 2-4, e.g. 3,1,3")
    add(
        "--complexity-weight",
        type=number(0, True),
        help="lambda of the complexity regulariser, >= 0",
    )
    add("--mixup", type=number(0, True), help="mixup alpha, >= 0 (0 disables)")
    add("--compile", action="store_true", default=None, help="torch.compile the model (CUDA)")
    add(
        "--precision",
        choices=PRECISIONS,
        help="autocast of convolutions: bf16, fp32, or auto (bf16 on CUDA only; the default)",
    )
    add("--device", type=_device, help="auto, cpu, cuda, cuda:1 or mps (default: the profile's)")
    add(
        "--threads",
        type=integer(1),
        help="torch's intra-op thread count (default: the profile's, else torch's); a run "
        "resumes with the count its checkpoint was made with",
    )
    add("--results-dir", default="results", help="where run records go (default: results)")
    add("--runs-dir", default="runs", help="where checkpoints go (default: runs)")
    add("--no-progress", action="store_true", help="no progress bars")
    add(
        "--accept-code-change",
        action="store_true",
        help="reuse records and checkpoints made by other library code (default: retrain them)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Settings without a flag (momentum, ...) come out None and are left to the profile.
    overrides = {name: getattr(args, name, None) for name in (*OVERRIDABLE, *EXECUTION_SETTINGS)}
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
            accept_code=args.accept_code_change,
            share=True,
        )
    except KeyboardInterrupt:
        print(
            "\ninterrupted: rerun the same command to resume from the last epoch", file=sys.stderr
        )
        return 130
    except (TrainingDiverged, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
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
