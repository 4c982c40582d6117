"""A profile's whole sweep on many GPUs: the run list, its price, its dispatch, its status.

The paper profile is hundreds of GPU-hours (``profile_runs("paper")`` in
:mod:`hybridlib.configs`). This module does not schedule anything itself: it builds the
run list, prices it, and hands the missing runs to `submitit <https://github.com/
facebookincubator/submitit>`_, which runs them as SLURM job arrays on a cluster or as
local processes, one per GPU, on a workstation. Every job calls
:func:`hybridlib.train.fit`, which is load-or-train, so a sweep submitted again skips the
finished runs and resumes the interrupted ones from their last epoch. Records land in
``results/<profile>/...`` (written atomically, so a shared file system never shows half
a record); submitit's logs and a ledger of which job holds which run live in
``runs/sweep/``. The status also sees the runs that ``python -m hybridlib.train``
processes sharing a sweep hold, and estimates the hours left from the recorded ones.

Examples::

    python -m hybridlib.sweep --profile paper --dry-run                # run list and bill
    python -m hybridlib.sweep --profile paper --executor local --gpus 4
    python -m hybridlib.sweep --profile paper --executor slurm --partition gpu --gpus 32
    python -m hybridlib.sweep status --profile paper
    python -m hybridlib.sweep status --profile cpu     # two train processes on a CPU

The price of a run is its FLOPs (``hybridlib.resnet.describe``: forward FLOPs per image,
times 3 for a training step, over every epoch's training and test images) divided by an
effective throughput: measured by one calibration step of the width-64 DiffStride
network on a CUDA device, or assumed (:data:`ASSUMED_GPU`, or ``--gpu-tflops``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import torch

from hybridlib import data as datasets
from hybridlib.argtypes import integer, number
from hybridlib.claims import ClaimError, holder
from hybridlib.configs import CONFIGS, PROFILES, RECIPES, profile_runs, profile_settings
from hybridlib.extras import import_extra
from hybridlib.files import FileRefused, describe_os_error, probe_folder, read_regular
from hybridlib.resnet import describe, resnet18
from hybridlib.runs import (
    ACCEPTED_CODE,
    SEED_MAX,
    InvalidRecord,
    RunStore,
    build_run,
    config_hash,
    read_checkpoint,
    record_path,
    write_json,
)
from hybridlib.train import autocast, device_name, fit, make_optimizer, resolve_device

pd = import_extra("pandas", "book", __name__)

__all__ = [
    "ASSUMED_GPU",
    "RunJob",
    "calibrate",
    "counts_table",
    "hours_recorded_and_left",
    "main",
    "price",
    "run_list",
    "status",
    "submit",
]

# The throughput a dry-run assumes when it cannot measure the GPU the sweep will run on:
# an A100-class GPU training ResNet-18 on CIFAR under bf16 autocast with channels_last
# reaches about 20 TFLOP/s of counted FLOPs (about 6000 images/s for the (2,2,2) strided
# network). Override with --gpu-tflops, or run the dry-run on the GPU to measure it.
ASSUMED_GPU = {"name": "an A100-class GPU (assumed)", "tflops": 20.0}
TRAIN_FACTOR = 3.0  # a training step's FLOPs per image: forward, and backward at twice that
# Image count and shape of each data set, for pricing without loading it.
SHAPES = {
    "cifar10": (50000, 10000, 10, (3, 32, 32)),
    "cifar100": (50000, 10000, 100, (3, 32, 32)),
    "fashion_mnist": (60000, 10000, 10, (1, 28, 28)),
    "synthetic": (512, 256, 4, (3, 32, 32)),  # hybridlib.data.make_synthetic's defaults
}
SWEEP_DIR = "sweep"  # under runs/: submitit's logs and the ledger
LEDGER = "ledger.jsonl"
# SLURM states of a job that has not ended.
WAITING = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED", "RESIZING"}
ACTIVE = {"RUNNING", "COMPLETING"}
STATES = ("done", "running", "queued", "failed", "missing", "bad")
LEDGER_BYTES = 256 << 20  # a ledger line is ~150 bytes: a million submissions
MARKER_BYTES = 64 << 10  # a job's marker: its id and an error's last line
MAX_WORKERS = 4096  # more processes or GPUs at once than a sweep of this size can use
MAX_TFLOPS = 1e6  # an effective throughput beyond any device (an exaflop per second)


# ---------------------------------------------------------------------- the run list
def recipe_overrides(profile: str, recipe: str | None) -> dict:
    """The run settings that turn ``profile``'s recipe into ``recipe`` (empty: its own)."""
    if recipe is None or recipe == profile_settings(profile).get("recipe"):
        return {}
    if recipe not in RECIPES:
        raise ValueError(f"--recipe {recipe!r} is unknown; valid: {', '.join(RECIPES)}")
    settings = profile_settings(profile)
    base = build_run(profile, settings["configs"][0], settings["seeds"][0])
    chosen = {k: v for k, v in RECIPES[recipe].items() if k != "description"}
    return {k: v for k, v in chosen.items() if base[k] != v}


def run_list(
    profile: str = "paper",
    recipe: str | None = None,
    datasets_: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    rows: bool = True,
    overrides: dict | None = None,
) -> list[dict]:
    """The settings of every run the profile declares (``build_run`` dicts), as data.

    Args:
        profile: a profile of ``hybridlib.configs.PROFILES``.
        recipe: a recipe of ``hybridlib.configs.RECIPES`` other than the profile's; its
            runs are overrides, recorded under ``results/<profile>-<hash>/``.
        datasets_, configs, seeds: narrow the list.
        rows: include the profile's other initial-stride rows.
        overrides: further run settings, as ``hybridlib.runs.build_run`` takes them.
    """
    extra = {**recipe_overrides(profile, recipe), **(overrides or {})}
    runs = []
    for dataset, config, strides, seed in profile_runs(profile, datasets_, configs, seeds, rows):
        row = {"strides": strides} if strides is not None else {}
        runs.append(build_run(profile, config, seed, dataset, {**extra, **row}))
    return runs


def run_label(run: dict) -> str:
    """``cifar10/diffstride_s313/seed0``: the run's record path below its profile folder."""
    path = record_path(run, "")
    return path.relative_to(path.parts[0]).with_suffix("").as_posix()


def counts_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Runs per configuration and data set: stride rows, seeds, one column per data set."""
    df = pd.DataFrame(
        {
            "configuration": r["config"],
            "dataset": r["dataset"],
            "strides": tuple(r["strides"] or (2, 2, 2)),
            "seed": r["seed"],
        }
        for r in runs
    )
    order = list(dict.fromkeys(df["configuration"]))
    table = df.pivot_table(
        index="configuration", columns="dataset", values="seed", aggfunc="count", fill_value=0
    ).reindex(order)
    table.insert(0, "stride rows", df.groupby("configuration")["strides"].nunique())
    table.insert(1, "seeds", df.groupby("configuration")["seed"].nunique())
    table["runs"] = table[list(dict.fromkeys(df["dataset"]))].sum(axis=1)
    table = table.astype(object)
    table.loc["total"] = ["", "", *table.iloc[:, 2:].sum().tolist()]
    table.columns.name = None
    return table


# ---------------------------------------------------------------------- the price
@functools.cache
def _forward_flops(spec_json: str, width: int, shape: tuple) -> tuple[float, int]:
    """Forward FLOPs per image with a 10-class head, and the head's input features."""
    model = resnet18(json.loads(spec_json), num_classes=10, in_channels=shape[0], width=width)
    with torch.no_grad():
        return describe(model, shape)["flops"], model.fc.in_features


def _flops_at(spec_json: str, width: int, shape: tuple) -> tuple[float, int]:
    """:func:`_forward_flops` at any width from two narrow networks.

    Every count of ``describe`` is a product of channel counts, all proportional to the
    width but the input's, so the FLOPs are ``a * width**2 + b * width`` exactly (the
    feature-map sizes do not depend on the width): two narrow networks give ``a`` and
    ``b`` in a fraction of the time a width-64 one takes to build.
    """
    (f4, c4), (f8, _) = _forward_flops(spec_json, 4, shape), _forward_flops(spec_json, 8, shape)
    a = (f8 - 2.0 * f4) / 32.0
    b = (f4 - 16.0 * a) / 4.0
    return a * width**2 + b * width, c4 * width // 4


def flops_per_image(run: dict) -> float:
    """Forward FLOPs per image of the run's network at initialisation (``describe``)."""
    if run["dataset"] not in SHAPES:
        raise ValueError(f"cannot price data set {run['dataset']!r}; priced: {', '.join(SHAPES)}")
    _, _, classes, shape = SHAPES[run["dataset"]]
    spec = json.dumps(run["spec"], sort_keys=True)
    flops, features = _flops_at(spec, run["width"], shape)
    return flops + 2.0 * features * (classes - 10)  # the head is the only part that differs


def calibrate(
    device: str = "auto", width: int = 64, batch_size: int | None = None, config: str = "diffstride"
) -> dict:
    """Time one training step of the width-``width`` network ``config`` on ``device``.

    The step runs as training does (bf16 autocast and channels_last on CUDA), after one
    untimed warm-up step. Returns the device, its name, the step's seconds and the
    effective throughput in counted FLOPs per second. ``batch_size`` defaults to 128 on
    CUDA and 16 elsewhere (a CPU step at 128 takes minutes).
    """
    dev = resolve_device(device)
    batch_size = batch_size or (128 if dev.type == "cuda" else 16)
    run = build_run("paper", config, 0, "cifar10", {"width": width, "device": str(dev)})
    torch.manual_seed(0)
    model = resnet18(run["spec"], num_classes=10, in_channels=3, width=width).to(dev)
    forward = describe(model, (3, 32, 32))["flops"]
    optimizer = make_optimizer(model, run)
    x = torch.randn(batch_size, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (batch_size,), device=dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def step():
        with autocast(dev, "auto"):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    model.train()
    step()  # warm-up: allocations, kernel selection
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    return {
        "device": str(dev),
        "device_name": name,
        "batch_size": batch_size,
        "seconds_per_step": seconds,
        "flops_per_s": TRAIN_FACTOR * forward * batch_size / seconds,
    }


def run_hours(run: dict, flops_per_s: float) -> float:
    """Estimated hours of one run at ``flops_per_s``: every epoch's training and testing."""
    train, test = SHAPES[run["dataset"]][:2]
    train = min(train, run["train_subset"] or train)
    test = min(test, run["test_subset"] or test)
    flops = flops_per_image(run) * run["epochs"] * (TRAIN_FACTOR * train + test)
    return flops / flops_per_s / 3600.0


def price(runs: Sequence[dict], flops_per_s: float) -> pd.DataFrame:
    """One row per run: its label, data set, configuration, strides, seed, GFLOPs per
    image (forward), epochs and estimated GPU-hours at ``flops_per_s``."""
    if not (math.isfinite(flops_per_s) and flops_per_s > 0):
        raise ValueError(f"the throughput must be a positive number, got {flops_per_s!r}")
    return pd.DataFrame(
        {
            "run": run_label(r),
            "dataset": r["dataset"],
            "configuration": r["config"],
            "strides": ",".join(str(s) for s in (r["strides"] or (2, 2, 2))),
            "seed": r["seed"],
            "gflops": flops_per_image(r) / 1e9,
            "epochs": r["epochs"],
            "gpu_hours": run_hours(r, flops_per_s),
        }
        for r in runs
    )


# ---------------------------------------------------------------------- the jobs
class RunJob:
    """A submitit job: load-or-train each of its runs in turn with ``fit``.

    A run that fails is reported (its traceback on stderr, its last line in
    ``<checkpoint>.failed``) and the job goes on with the next one; the job fails at the
    end if any run did. On a SLURM time-out or pre-emption submitit calls
    :meth:`checkpoint` and requeues the job, which resumes from the last epoch.
    """

    def __call__(self, runs: list[dict], store: RunStore) -> list[str]:
        job_id = _job_id()
        failed = []
        for run in runs:
            base = _checkpoint_base(run, store)
            write_json(base.with_suffix(".job"), {"job_id": job_id, "host": socket.gethostname()})
            base.with_suffix(".failed").unlink(missing_ok=True)
            try:
                fit(run, store, progress=False)
            except Exception as err:  # report, and go on with the job's next run
                traceback.print_exc()
                last = f"{type(err).__name__}: {err}".splitlines()[0]
                write_json(base.with_suffix(".failed"), {"job_id": job_id, "error": last})
                failed.append(run_label(run))
            finally:
                base.with_suffix(".job").unlink(missing_ok=True)
        if failed:
            raise RuntimeError(f"{len(failed)} run(s) failed: {', '.join(failed)}")
        return [run_label(r) for r in runs]

    def checkpoint(self, *args, **kwargs):
        """Requeue the same runs: ``fit`` resumes each one from its last epoch."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _job_id() -> str:
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except (ImportError, RuntimeError):
        return f"pid{os.getpid()}"


def _checkpoint_base(run: dict, store: RunStore) -> Path:
    """``runs/<profile>/<dataset>/<config>/seed<k>``: the run's files beside its checkpoint."""
    return store.checkpoint_path(run).with_suffix("")


def _import_submitit():
    try:
        import submitit
    except ImportError:
        raise SystemExit(
            "error: the sweep needs submitit: pip install -e '.[sweep]' (or pip install submitit)"
        ) from None
    return submitit


def _is_done(run: dict, store: RunStore) -> bool:
    """Whether the run has a record that load-or-train would reuse (this code's)."""
    return store.recorded(run) is not None


def _balanced(runs: Sequence[dict], hours: Sequence[float], workers: int) -> list[list[dict]]:
    """Runs split over ``workers`` lists of about equal hours (longest first, to the least
    loaded list)."""
    loads = [[0.0, []] for _ in range(min(workers, len(runs)))]
    for h, run in sorted(zip(hours, runs), key=lambda p: -p[0]):
        least = min(loads, key=lambda load: load[0])
        least[0] += h
        least[1].append(run)
    return [runs_ for _, runs_ in loads if runs_]


def submit(
    runs: Sequence[dict],
    executor: str = "local",
    gpus: int = 1,
    max_parallel: int | None = None,
    partition: str | None = None,
    timeout_min: int | None = None,
    flops_per_s: float | None = None,
    cpus_per_task: int = 8,
    store: RunStore | None = None,
    folder=None,
    job: RunJob | None = None,
) -> list:
    """Submit every run that is neither done nor held by a live job; return the jobs.

    ``slurm``: one job array, one task (and GPU) per run, at most ``max_parallel`` (else
    ``gpus``) at once. ``local``: one process per GPU (``gpus`` of them, each pinned to
    its GPU), or ``max_parallel`` CPU processes when ``gpus`` is 0, each working through
    its share of the runs, balanced by estimated hours. A job's time limit is
    ``timeout_min``, else three times its estimated hours plus an hour; a job that hits it
    is requeued and resumes.
    """
    submitit = _import_submitit()
    if executor == "slurm" and shutil.which("sbatch") is None:
        raise ValueError("--executor slurm needs SLURM, and its sbatch command is not on this "
                         "machine's PATH: submit from a SLURM login node, or use --executor "
                         "local")
    if executor == "local" and gpus > torch.cuda.device_count():
        raise ValueError(f"--gpus {gpus}: this machine has {torch.cuda.device_count()} CUDA "
                         "device(s) (--gpus 0 runs on the CPU)")
    store = store or RunStore()
    folder = Path(folder) if folder else store.runs / SWEEP_DIR
    job = job or RunJob()
    table = status(runs, store, folder)
    todo = [r for r, state in zip(runs, table["state"]) if state in ("missing", "failed")]
    print(
        f"{len(runs)} runs: {', '.join(f'{n} {s}' for s, n in _counts(table).items() if n)}; "
        f"submitting {len(todo)}",
        file=sys.stderr,
    )
    if not todo:
        return []
    rate = flops_per_s or ASSUMED_GPU["tflops"] * 1e12
    hours = [run_hours(r, rate) for r in todo]
    args = (store,)
    if executor == "slurm":
        ex = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
        ex.update_parameters(
            name="hybridlib-sweep",
            timeout_min=timeout_min or _limit(max(hours)),
            gpus_per_node=1,
            tasks_per_node=1,
            cpus_per_task=cpus_per_task,
            slurm_partition=partition,
            slurm_array_parallelism=max_parallel or gpus,
        )
        jobs = ex.map_array(job, [[r] for r in todo], *([a] * len(todo) for a in args))
        held = [(j, [r]) for j, r in zip(jobs, todo)]
    elif executor == "local":
        workers = min(gpus, max_parallel or gpus) if gpus else (max_parallel or 1)
        ex = submitit.LocalExecutor(folder=folder / "%j")
        held = []
        for k, chunk in enumerate(_balanced(todo, hours, workers)):
            limit = timeout_min or _limit(sum(run_hours(r, rate) for r in chunk))
            pinned = {"gpus_per_node": 1, "visible_gpus": (k,)} if gpus else {}
            ex.update_parameters(timeout_min=limit, **pinned)
            held.append((ex.submit(job, chunk, *args), chunk))
            print(f"job {held[-1][0].job_id}: {len(chunk)} runs"
                  + (f" on GPU {k}" if gpus else " on the CPU"), file=sys.stderr)
    else:
        raise ValueError(f"--executor must be local or slurm, got {executor!r}")
    _write_ledger(folder, executor, held)
    print(f"submitted {len(todo)} runs as {len(held)} {executor} job(s); logs in {folder}",
          file=sys.stderr)
    return [j for j, _ in held]


def _limit(hours: float) -> int:
    return int(math.ceil(3 * hours * 60 + 60))


def _write_ledger(folder: Path, executor: str, held) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    host, now = socket.gethostname(), time.time()
    with open(folder / LEDGER, "a", encoding="utf8") as f:
        for job, runs in held:
            for run in runs:
                entry = {"run": str(record_path(run, "")),
                         "job_id": str(job.job_id), "executor": executor, "host": host,
                         "submitted": now}
                f.write(json.dumps(entry) + "\n")


# ---------------------------------------------------------------------- status
def _ledger_entry(line: str) -> dict | None:
    """A ledger line's entry, or None for one that is not (cut short by a crash, edited)."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    ok = (isinstance(entry, dict) and isinstance(entry.get("run"), str)
          and isinstance(entry.get("job_id"), str) and entry["job_id"]
          and entry.get("executor") in ("local", "slurm"))
    return entry if ok else None


def _read_ledger(folder: Path) -> dict[str, dict]:
    """The latest ledger entry of each run; a line that is not an entry is skipped, with a
    note counting them.

    Raises:
        FileRefused: if the ledger is not a regular file, or larger than
            :data:`LEDGER_BYTES`.
    """
    entries, skipped = {}, 0
    try:
        text = read_regular(folder / LEDGER, LEDGER_BYTES).decode("utf8", errors="replace")
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        entry = _ledger_entry(line)
        if entry is None:
            skipped += line.strip() != ""
            continue
        entries[entry["run"]] = entry
    if skipped > 1:  # the last line of a crashed submission is cut short: one is expected
        print(f"note: {skipped} lines of {folder / LEDGER} are not ledger entries (a run, "
              "a job_id string, an executor); skipped", file=sys.stderr)
    return entries


def _job_phase(entry: dict, folder: Path) -> str:
    """``running``, ``queued``, ``ended`` or ``unknown`` for the job of a ledger entry."""
    if entry["executor"] == "local":
        if entry.get("host") != socket.gethostname():
            return "unknown"
        try:
            cmdline = Path(f"/proc/{int(entry['job_id'])}/cmdline").read_bytes()
        except (OSError, ValueError):
            return "ended"
        return "running" if b"submitit" in cmdline else "ended"
    import submitit

    state = submitit.SlurmJob(folder / "%j", entry["job_id"]).state.split()[0]
    if state in ACTIVE:
        return "running"
    if state in WAITING:
        return "queued"
    return "unknown" if state == "UNKNOWN" else "ended"


def _log_paths(entry: dict, folder: Path) -> list[Path]:
    job_folder = folder / entry["job_id"].split("_")[0]
    return sorted(job_folder.glob(f"{entry['job_id']}_0_log.err"))


def _last_line(entry: dict, folder: Path) -> str:
    for path in _log_paths(entry, folder):
        text = path.read_text(encoding="utf8", errors="replace").replace("\r", "\n")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "no log"


def status(runs: Sequence[dict], store: RunStore | None = None, folder=None) -> pd.DataFrame:
    """One row per run: its label, state (done, running, queued, failed, missing), job,
    epochs in the checkpoint of a run not done (``"2/6"``; empty without one) and, for a
    failed run, the last line its job logged.

    A run is running when a submitted job holds it, or when a ``python -m hybridlib.train``
    process sharing the sweep does (its claim file; the job is then ``pid <n>``; a claim
    from another host counts as live until it expires, see ``hybridlib.claims``). A run
    whose record is not valid, or whose claim is not a file, is ``bad``, with the reason
    in the last column.
    """
    store = store or RunStore()
    folder = Path(folder) if folder else store.runs / SWEEP_DIR
    ledger, phases = _read_ledger(folder), {}
    rows = []
    for run in runs:
        key = str(record_path(run, ""))
        entry, note = ledger.get(key), ""
        job = entry["job_id"] if entry else ""
        base = _checkpoint_base(run, store)
        epochs = ""
        try:
            done_ = _is_done(run, store)
            claimed = None if done_ else holder(base.with_suffix(".claim"))
            done = 0 if done_ else _epochs_done(run, store)
        except (InvalidRecord, ClaimError) as err:
            rows.append({"run": key, "state": "bad", "job": job, "epochs": "",
                         "last log line": str(err)})
            continue
        except OSError as err:  # a folder where the checkpoint goes
            rows.append({"run": key, "state": "bad", "job": job, "epochs": "",
                         "last log line": describe_os_error(err)})
            continue
        if done_:
            state = "done"
        else:
            epochs = f"{done}/{run['epochs']}" if done else ""
            if claimed is not None:
                state, job = "running", f"pid {claimed['pid']}"
            elif entry is None:
                state = "missing"
            else:
                if entry["job_id"] not in phases:
                    phases[entry["job_id"]] = _job_phase(entry, folder)
                phase = phases[entry["job_id"]]
                mine = _read_marker(base.with_suffix(".job"), entry["job_id"])
                if phase == "running":
                    state = "running" if mine is not None else "queued"
                elif phase in ("queued", "unknown"):
                    state = "queued" if phase == "queued" else "unknown"
                else:
                    state = "failed"
                    failure = _read_marker(base.with_suffix(".failed"), entry["job_id"])
                    note = failure["error"] if failure else _last_line(entry, folder)
        rows.append({"run": key, "state": state, "job": job, "epochs": epochs,
                     "last log line": note})
    return pd.DataFrame(rows, columns=["run", "state", "job", "epochs", "last log line"])


def _epochs_done(run: dict, store: RunStore) -> int:
    """Epochs in the checkpoint the run would resume from (0 without a usable one)."""
    path = store.checkpoint_path(run)
    # Mapped, not read: a full-width checkpoint is hundreds of MB, and only its history counts.
    state = read_checkpoint(path, torch.device("cpu"), config_hash(run), None, mmap=True)
    if state is None or state.get("code_hash") not in ACCEPTED_CODE:
        return 0
    return len(state["history"])


def hours_recorded_and_left(runs: Sequence[dict], table: pd.DataFrame,
                            store: RunStore | None = None) -> dict:
    """Core-hours (or GPU-hours) recorded, and an estimate of those left.

    A run still to train is estimated as the mean recorded time of its configuration
    (same data set and stride row), less the share of epochs in its checkpoint; runs of a
    configuration with no record yet are counted in ``unestimated``. Times are the runs'
    own, so the estimate holds for the same machine and the same number of processes.

    Returns:
        ``{"recorded": h, "left": h, "unestimated": n}``.
    """
    store = store or RunStore()
    kind = lambda run: (run["dataset"], run["config"], str(run["strides"]))  # noqa: E731
    spent = {}
    for run, state in zip(runs, table["state"]):
        try:
            record = store.recorded(run) if state == "done" else None
        except InvalidRecord:  # replaced by a bad file since the table was made
            record = None
        if record is not None:  # (None also if it was replaced since the table was made)
            spent.setdefault(kind(run), []).append(record["wall_seconds"])
    left, unestimated = 0.0, 0
    for run, state, epochs in zip(runs, table["state"], table["epochs"]):
        if state == "done":
            continue
        if kind(run) not in spent:
            unestimated += 1
            continue
        done = int(epochs.split("/")[0]) if epochs else 0
        mean = sum(spent[kind(run)]) / len(spent[kind(run)])
        left += mean * (1 - done / run["epochs"])
    total = sum(sum(s) for s in spent.values())
    return {"recorded": total / 3600, "left": left / 3600, "unestimated": unestimated}


def _read_marker(path: Path, job_id: str) -> dict | None:
    try:
        marker = json.loads(read_regular(path, MARKER_BYTES))
    except (OSError, ValueError, RecursionError):  # FileRefused is a ValueError
        return None
    return marker if isinstance(marker, dict) and marker.get("job_id") == job_id else None


def _counts(table: pd.DataFrame) -> dict[str, int]:
    counts = table["state"].value_counts()
    return {s: int(counts.get(s, 0)) for s in (*STATES, "unknown")}


# ---------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.sweep",
        description=(
            "Submit every missing run of a profile through submitit (SLURM job arrays, or "
            "local processes one per GPU), price it first, or show where it stands. Jobs "
            "are load-or-train: submitting again skips finished runs and resumes "
            "interrupted ones."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  python -m hybridlib.sweep --profile paper --dry-run\n"
            "  python -m hybridlib.sweep --profile paper --dry-run --gpu-tflops 60\n"
            "  python -m hybridlib.sweep --profile paper --executor local --gpus 1\n"
            "  python -m hybridlib.sweep --profile paper --executor local --gpus 8\n"
            "  python -m hybridlib.sweep --profile paper --executor slurm --partition gpu "
            "--gpus 32\n"
            "  python -m hybridlib.sweep status --profile paper\n"
            "  python -m hybridlib.sweep status --profile cpu   # also python -m hybridlib.train's "
            "runs\n"
            f"\nprofiles: {', '.join(PROFILES)}; recipes: {', '.join(RECIPES)}"
        ),
    )
    add = parser.add_argument
    add("command", nargs="?", default="submit", choices=("submit", "status"),
        help="submit the missing runs (default), or print the status of every run and the "
        "hours left")
    add("--profile", default="paper", choices=list(PROFILES), help="run profile (default: paper)")
    add("--recipe", choices=list(RECIPES), help="another recipe than the profile's")
    add("--dataset", action="append", choices=list(datasets.DATASETS), help="repeatable")
    add("--config", action="append", choices=list(CONFIGS),
        help="configuration (repeatable; default: the profile's)")
    add("--seed", action="append", type=integer(0, SEED_MAX), help="seed (repeatable)")
    add("--executor", default="local", choices=("local", "slurm"),
        help="local: processes on this machine; slurm: job arrays (default: local)")
    add("--gpus", type=integer(0, MAX_WORKERS), default=1,
        help="GPUs in use at once: local GPUs 0..N-1, one run each (0: the CPU), or the "
        "SLURM array's parallelism (default: 1)")
    add("--max-parallel", type=integer(1, MAX_WORKERS),
        help="at most this many runs at once (default: --gpus; 1 on the CPU)")
    add("--partition", help="SLURM partition")
    add("--cpus-per-task", type=integer(1), default=8, help="SLURM CPUs per run (default: 8)")
    add("--timeout-min", type=integer(1),
        help="a job's time limit in minutes (default: 3x its estimate + 60; it is requeued)")
    add("--dry-run", action="store_true", help="print the run list and its price, submit nothing")
    add("--gpu-tflops", type=number(0, inclusive=False, high=MAX_TFLOPS),
        help=f"effective TFLOP/s of the target GPU for the price (default: measured on a "
        f"CUDA device, else {ASSUMED_GPU['tflops']:g}, {ASSUMED_GPU['name']})")
    add("--calibrate-on", default="auto", type=device_name,
        help="device of the calibration step: auto, cpu, cuda, cuda:<index> or mps (default: "
        "auto)")
    add("--results-dir", help="where run records go (default: the repository's results/)")
    add("--runs-dir", help="where checkpoints and sweep logs go (default: runs/)")
    return parser




def _throughput(args) -> tuple[float, str]:
    """Effective FLOP/s for the price, and a sentence saying where it comes from."""
    if args.gpu_tflops:
        return args.gpu_tflops * 1e12, f"an assumed {args.gpu_tflops:g} TFLOP/s (--gpu-tflops)"
    print(f"calibrating: one training step on {args.calibrate_on} ...", file=sys.stderr)
    cal = calibrate(args.calibrate_on)
    measured = (f"one step of the width-64 DiffStride network, batch {cal['batch_size']}, took "
                f"{cal['seconds_per_step']:.2f} s on {cal['device']} ({cal['device_name']}): "
                f"{cal['flops_per_s'] / 1e12:.3g} TFLOP/s")
    if cal["device"].startswith("cuda"):
        return cal["flops_per_s"], f"measured: {measured}"
    assumed = ASSUMED_GPU["tflops"]
    return assumed * 1e12, (
        f"{ASSUMED_GPU['name']} at {assumed:g} TFLOP/s, since the calibration ran on "
        f"{cal['device']}, not a GPU ({measured}); set --gpu-tflops, or run the dry-run on "
        "the GPU"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except OSError as err:
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 1
    except (ValueError, FileRefused) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _main(args) -> int:
    try:
        runs = run_list(args.profile, args.recipe, args.dataset, args.config, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = RunStore(args.results_dir, args.runs_dir)
    if args.command == "status":
        table = status(runs, store)
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 100,
                               "display.width", 200):
            print(table.to_string(index=False))
        print(", ".join(f"{n} {s}" for s, n in _counts(table).items() if n))
        spent = hours_recorded_and_left(runs, table, store)
        if spent["recorded"]:
            print(f"recorded: {spent['recorded']:.1f} hours of one device (a GPU, or a CPU "
                  f"process); left: about {spent['left']:.1f}, estimated from the recorded "
                  "runs of each configuration"
                  + (f", without the {spent['unestimated']} runs of configurations not "
                     "recorded yet" if spent["unestimated"] else ""))
        return 0
    if args.dry_run:
        rate, source = _throughput(args)
        print(f"pricing {len(runs)} runs ...", file=sys.stderr)
        table = price(runs, rate)
        with pd.option_context("display.max_rows", None, "display.width", 200):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        print()
        print(counts_table(runs).to_string())
        print()
        for dataset, part in table.groupby("dataset", sort=False):
            print(f"{dataset}: {len(part)} runs, {part['gpu_hours'].sum():.0f} GPU-hours")
        print(f"total: {len(table)} runs, {table['gpu_hours'].sum():.0f} GPU-hours "
              f"({table['gpu_hours'].mean():.2f} per run on average)")
        print(f"throughput: {source}; a training step counts 3x the forward FLOPs of "
              "hybridlib.resnet.describe, every epoch trains and tests on the whole data set")
        return 0
    rate = args.gpu_tflops * 1e12 if args.gpu_tflops else None
    # Before anything is submitted: the folders take a write, the scheduler is there.
    probe_folder(store.results, "--results-dir" if args.results_dir else "the results folder")
    probe_folder(store.runs, "--runs-dir" if args.runs_dir else "the runs folder")
    try:
        jobs = submit(runs, args.executor, args.gpus, args.max_parallel, args.partition,
                      args.timeout_min, rate, args.cpus_per_task, store)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if jobs:
        print(f"follow it with: python -m hybridlib.sweep status --profile {args.profile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
