"""Runs as files: a run's identity, its record and checkpoint, and one loader of records.

One *run* is a (profile, data set, configuration, seed) with its settings
(:func:`build_run`). Its identity is the hash of what changes its numbers
(:func:`config_hash`); its record is ``<results>/<profile>/<dataset>/<configuration>/
seed<k>.json`` (:func:`record_path`) and its resumable checkpoint the same path under
``<runs>/`` with ``.pt``. A :class:`RunStore` holds the two folders, so that they travel
as one object; ``RunStore()`` takes them from ``hybridlib.paths`` (the command-line flags
or ``$HYBRIDLIB_RESULTS`` and ``$HYBRIDLIB_RUNS``), and :meth:`RunStore.load` is the one
reader of a profile's records that every command and chapter uses.

Every file is written atomically (:func:`atomic_write`); a damaged record or checkpoint
is reported and never used; a record or checkpoint made by other code is used only when
that code was proven to compute the same (:data:`ACCEPTED_CODE`) or the caller accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import platform
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hybridlib import data as datasets
from hybridlib.codehash import accepted_hashes, code_hash
from hybridlib.configs import (
    CONFIGS,
    PROFILES,
    RECIPES,
    config_spec,
    profile_runs,
    profile_settings,
)
from hybridlib.paths import REPO_ROOT, results_root, runs_root
from hybridlib.tempfiles import remove_dead_writers, temporary_path

__all__ = [
    "ACCEPTED_CODE",
    "CODE_HASH",
    "EXECUTION_SETTINGS",
    "FROM_SCRATCH",
    "OVERRIDABLE",
    "PRECISIONS",
    "RUN_DEFAULTS",
    "RunStore",
    "atomic_write",
    "build_run",
    "declared_runs",
    "config_hash",
    "decode_correct",
    "decode_predictions",
    "encode_correct",
    "encode_predictions",
    "provenance",
    "read_checkpoint",
    "record_path",
    "reusable_record",
    "same_code",
    "trunk_hash",
    "trunk_path",
    "warn",
    "write_json",
]


@dataclass(frozen=True)
class RunStore:
    """Where runs live: the records (``results``, committed) and the checkpoints and claims
    (``runs``, git-ignored). Either folder left out comes from ``hybridlib.paths``."""

    results: Path
    runs: Path

    def __init__(self, results: str | os.PathLike | None = None,
                 runs: str | os.PathLike | None = None) -> None:
        object.__setattr__(self, "results", results_root(results))
        object.__setattr__(self, "runs", runs_root(runs))

    def sub(self, folder: str) -> RunStore:
        """The store of the same name below both folders (the learning-rate grid's)."""
        return RunStore(self.results / folder, self.runs / folder)

    def record_path(self, run: dict) -> Path:
        """Where ``run``'s record is (see :func:`record_path`)."""
        return record_path(run, self.results)

    def checkpoint_path(self, run: dict) -> Path:
        """Where ``run``'s resumable checkpoint is: its record's path under ``runs``."""
        return self.runs / record_path(run, "").with_suffix(".pt")

    def claim_path(self, run: dict) -> Path:
        """The file a process creates while it trains ``run`` (see ``hybridlib.claims``)."""
        return self.checkpoint_path(run).with_suffix(".claim")

    def trunk_path(self, run: dict, epochs: int) -> Path:
        """Where the state of ``run``'s ``wsd`` trunk after ``epochs`` epochs is kept."""
        return trunk_path(run, epochs, self.runs)

    def recorded(self, run: dict, accept_code: bool = False) -> dict | None:
        """The complete record of ``run`` (same settings; same code unless
        ``accept_code``), or None: what ``hybridlib.train.fit`` would reuse."""
        record = reusable_record(self.record_path(run), config_hash(run), None)
        if record is None or not (accept_code or record.get("code_hash") in ACCEPTED_CODE):
            return None
        return record

    def load(
        self,
        profile: str,
        datasets_: Iterable[str] | None = None,
        configs: Iterable[str] | None = None,
        seeds: Iterable[int] | None = None,
        overrides: dict | None = None,
        accept_code: bool = False,
    ) -> list[dict]:
        """The complete records of the runs ``profile`` declares, seed-major; a run without
        one is left out, and a note on stderr counts them. Nothing is trained."""
        records = [self.recorded(run, accept_code)
                   for run in declared_runs(profile, datasets_, configs, seeds, overrides)]
        missing = sum(record is None for record in records)
        if missing:
            warn(f"{missing} runs of profile {profile} have no complete record in "
                 f"{self.results} yet (python -m hybridlib.train --profile {profile} trains "
                 "them)")
        return [record for record in records if record is not None]


def declared_runs(
    profile: str,
    datasets_: Iterable[str] | None = None,
    configs: Iterable[str] | None = None,
    seeds: Iterable[int] | None = None,
    overrides: dict | None = None,
) -> list[dict]:
    """The settings (:func:`build_run`) of every run ``profile`` declares, seed-major,
    narrowed to the given data sets, configurations and seeds."""
    overrides = dict(overrides or {})
    rows = overrides.get("strides") is None  # the profile's stride rows, unless one is chosen
    return [
        build_run(profile, config, seed, dataset,
                  {**overrides, **({"strides": strides} if strides is not None else {})})
        for dataset, config, strides, seed in profile_runs(profile, datasets_, configs, seeds,
                                                           rows)
    ]


# ---------------------------------------------------------------------- run identity
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

# A schedule named after a recipe of hybridlib.configs.RECIPES brings that recipe's
# regularisation (weight decay, label smoothing, mixup) as the run's defaults.
RECIPE_SETTINGS = ("weight_decay", "label_smoothing", "mixup")

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


# ---------------------------------------------------------------------- files
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


# ---------------------------------------------------------------------- reuse and resume
def warn(message: str) -> None:
    """A warning on stderr, between progress bars."""
    tqdm.write(f"warning: {message}", file=sys.stderr)

def _fresh(path: Path, not_before: float | None) -> bool:
    """Whether the existing ``path`` may be reused: no threshold, or written at/after it."""
    return not_before is None or path.stat().st_mtime >= not_before

def _strict_constant(name: str):
    """Refuses the NaN and Infinity that Python's json module reads by default."""
    raise ValueError(f"{name} is not a valid JSON number")

def reusable_record(path: Path, digest: str, not_before: float | None) -> dict | None:
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
    warn(
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

FROM_SCRATCH = "Training the run from scratch; the file is replaced after the first epoch."

def _checkpoint_problem(state) -> str | None:
    """What is wrong with a loaded checkpoint's structure, or None."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict"
    for key, kind in CHECKPOINT_ENTRIES.items():
        if not isinstance(state.get(key), kind):
            return f"its entry {key!r} is missing or of the wrong type"
    return None

def read_checkpoint(
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
    warn(f"{path} is not a usable checkpoint: {problem}. {FROM_SCRATCH}")
    return None

def same_code(made_by: str | None, path: Path, accept: bool) -> bool:
    """Whether a file made by code ``made_by`` may be used; says so when it may not."""
    if made_by in ACCEPTED_CODE or accept:
        return True
    warn(
        f"{path} was made by other code (code hash {made_by}, now {CODE_HASH}): training "
        "the run again; to use it as it is, pass --accept-code-change (accept_code=True)"
    )
    return False
