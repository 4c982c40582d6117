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
import binascii
import errno
import hashlib
import json
import math
import os
import pickle
import platform
import re
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
    stride_row,
)
from hybridlib.files import FileRefused, describe_os_error, file_kind, read_regular
from hybridlib.paths import REPO_ROOT, relative, results_root, runs_root
from hybridlib.tempfiles import remove_dead_writers, temporary_path

__all__ = [
    "ACCEPTED_CODE",
    "CODE_HASH",
    "EXECUTION_SETTINGS",
    "FROM_SCRATCH",
    "OVERRIDABLE",
    "PRECISIONS",
    "RECORD_BYTES",
    "RUN_DEFAULTS",
    "SEED_MAX",
    "InvalidRecord",
    "InvalidRecords",
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
    "read_record",
    "record_path",
    "reusable_record",
    "same_code",
    "trunk_hash",
    "trunk_path",
    "validate_record",
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
        ``accept_code``), or None: what ``hybridlib.train.fit`` would reuse.

        Raises:
            InvalidRecord: if the file at the run's record path is not a valid record
                (:func:`read_record`): it names the file, the field and the reason.
        """
        path = self.record_path(run)
        if not os.path.lexists(path):
            return None
        record = read_record(path)
        if record["config_hash"] != config_hash(run):
            return None  # a record of the run's earlier settings
        if not (accept_code or record["code_hash"] in ACCEPTED_CODE):
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
        one is left out, and a note on stderr counts them. Nothing is trained.

        Raises:
            InvalidRecords: listing every record of those runs that is not valid (each
                named, with the field and the reason); a bad record is never dropped
                silently.
        """
        records, bad = [], []
        for run in declared_runs(profile, datasets_, configs, seeds, overrides):
            try:
                records.append(self.recorded(run, accept_code))
            except InvalidRecord as err:
                bad.append(err)
        if bad:
            raise InvalidRecords(bad, profile)
        missing = sum(record is None for record in records)
        if missing:
            warn(f"{missing} runs of profile {profile} have no complete record in "
                 f"{self.results} yet (python -m hybridlib.train --profile {profile} trains "
                 "them)")
        return [record for record in records if record is not None]

    def invalid(self, profile: str) -> list[InvalidRecord]:
        """What is wrong with every record file of ``profile`` that is not a valid record:
        ``seed<k>.json`` below ``<results>/<profile>/`` and ``<results>/<profile>-<tag>/``
        (its runs with overrides), whatever runs the profile declares now."""
        pattern = re.compile(rf"{re.escape(profile)}(-[0-9a-f]{{8}})?")
        try:
            folders = sorted(p for p in self.results.iterdir() if pattern.fullmatch(p.name))
        except OSError:
            return []
        bad = []
        for folder in folders:
            for path in sorted(folder.rglob("seed*.json")):
                try:
                    read_record(path)
                except InvalidRecord as err:
                    bad.append(err)
        return bad


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

SEED_MAX = 2**32 - 1  # numpy's and torch's generators all take a 32-bit seed

# Values that settings added later take in the runs made before they existed: left out
# of the hash at these values, so those runs' records stay valid.
HASH_NEUTRAL = {"precision": "auto", "validation": None}

# How a run is computed rather than what it computes: recorded, but outside the hash and
# the record's path. ``threads`` is torch's intra-op thread count (None: torch's default);
# sums are split differently per thread count, so it changes results at the 1e-7 level.
# ``branches``: for the ``wsd`` schedule, the shorter budgets (epochs) whose trunk
# checkpoints this run leaves behind for their runs to start from (see wsd_trunk_epochs).
EXECUTION_SETTINGS = ("device", "threads", "branches", "layout")

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
    run["layout"] = settings.get("layout", "auto")  # hybridlib.layout: resolved by fit
    if "budgets" in settings:
        run["branches"] = None
    run.update(overrides)
    if run["strides"] is not None:
        run["strides"] = list(stride_row(run["strides"]))
    # A stride row the profile declares is part of the profile, not an override; the
    # configuration's own row is the configuration's run.
    rows = [list(stride_row(row)) for row in settings.get("stride_rows", ())]
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

    The temporary files of writers killed mid-write in that folder are removed first. A
    write that fails leaves ``path`` as it was.

    Raises:
        OSError: naming ``path`` (not the temporary file), with the cause's errno; a failure
            of torch's writer (which says "unexpected pos" for a full disk) is asked of the
            system again, so that a full disk is told as ENOSPC.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_writers(path.parent)
    tmp = temporary_path(path)
    try:
        try:
            write(tmp)
            os.replace(tmp, path)
        except OSError as err:
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        except RuntimeError as err:
            if not any(w in str(err) for w in TORCH_WRITE_FAILURES):
                raise
            raise _write_failure(path, tmp, err) from err
    finally:
        tmp.unlink(missing_ok=True)

# What torch's file writer says when the system refused a write.
TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "PytorchStreamWriter",
                        "inline_container")


def _write_failure(path: Path, tmp: Path, err: RuntimeError) -> OSError:
    """The OSError behind a failed write of torch's: the system is asked again with a write
    of the same temporary file (its errno, ENOSPC for a full disk); else an EIO."""
    try:
        with open(tmp, "wb") as f:
            f.write(bytes(1 << 20))
            f.flush()
            os.fsync(f.fileno())
    except OSError as cause:
        return OSError(cause.errno, cause.strerror, str(path))
    first = (str(err).strip().splitlines() or [""])[0]
    return OSError(errno.EIO, f"the write failed ({first})", str(path))


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


def _replaceable(path: Path, what: str) -> None:
    """Refuse a folder where a file is written later: found now, not after the training.

    Raises:
        IsADirectoryError: naming the path (``files.describe_os_error`` words it).
    """
    if file_kind(path) == "a folder":
        raise IsADirectoryError(errno.EISDIR, f"a folder stands where the run's {what} goes",
                                str(path))


def _fresh(path: Path, not_before: float | None) -> bool:
    """Whether the existing ``path`` may be reused: no threshold, or written at/after it."""
    return not_before is None or path.stat().st_mtime >= not_before


def _strict_constant(name: str):
    """Refuses the NaN and Infinity that Python's json module reads by default."""
    raise ValueError(f"{name} is not a valid JSON number")


def reusable_record(path: Path, digest: str, not_before: float | None) -> dict | None:
    """The complete record at ``path`` if it matches ``digest`` and may be reused.

    A record that is not valid (:func:`read_record`) is reported and left in place: the
    run is trained again (resumed from its checkpoint, if it has one) and the file is
    replaced when it completes.
    """
    _replaceable(path, "record")
    try:
        if not os.path.lexists(path) or not _fresh(path, not_before):
            return None
    except FileNotFoundError:  # a link to nothing
        pass
    try:
        record = read_record(path)
    except InvalidRecord as err:
        warn(f"{err}. Training the run again (from its checkpoint if it has one); the file "
             "is replaced when the run completes.")
        return None
    return record if record["config_hash"] == digest else None


# ---------------------------------------------------------------------- records, checked
# A record is data, not trust: every reader takes it through read_record, which checks
# each field's type and range, the lengths against the record's own sizes, and that its
# settings hash, recomputed, matches the stored one and the folder the record sits in.
RECORD_BYTES = 16 << 20  # a record is a few kB of numbers and one byte per test image
MAX_IMAGES = 10**8  # more test or training images than any data set here has, by far
MAX_EPOCHS = 10**5

# The fields of a record (:func:`hybridlib.train.fit` writes them), and of its settings.
RECORD_FIELDS = (
    "settings", "config_hash", "code_hash", "complete", "description", "final_test_acc",
    "final_test_loss", "final_val_acc", "test_predictions", "test_correct",
    "learned_strides", "feature_sizes", "initial_feature_sizes", "parameters", "flops",
    "wall_seconds", "images_per_s", "train_size", "test_size", "epochs", "provenance",
)
OPTIONAL_FIELDS = ("from_trunk",)
# Records written by earlier code (before code 10f819860fe70478) keep their settings
# under "config", the name the configuration has inside them; they are read as they are,
# the key renamed on reading.
LEGACY_SETTINGS_KEY = "config"
SETTINGS_FIELDS = (
    *RUN_DEFAULTS, "epochs", "batch_size", "train_subset", "test_subset", "width",
    "schedule", "device", "lr", "threads", "profile", "dataset", "config", "seed", "spec",
    "overrides",
)
# Settings a run has only in some profiles (branches), or that came later (layout).
OPTIONAL_SETTINGS = tuple(dict.fromkeys(
    k for k in ("branches", "layout", *EXECUTION_SETTINGS) if k not in SETTINGS_FIELDS))
EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "lr_last", "train_seconds",
                "images_per_s", "learned_strides", "feature_sizes", "flops")
# Provenance fields the readers use, and whether each may be null; others are kept as
# they are.
PROVENANCE_FIELDS = {"git_commit": True, "device": False, "date": False}


class InvalidRecord(ValueError):
    """A run record that is not valid: the message names the file, the field and why.

    Attributes:
        path: the record's file (None for a record checked without one).
        field: the field, as ``settings.seed`` or ``epochs[2].train_acc`` (None: the file).
        reason: what is wrong with it.
    """

    def __init__(self, path: str | os.PathLike | None, field: str | None, reason: str):
        self.path = None if path is None else Path(path)
        self.field, self.reason = field, reason
        where = "a record" if path is None else relative(path)
        what = f"field {field}: " if field else ""
        super().__init__(f"{where} is not a valid run record: {what}{reason}")


class InvalidRecords(InvalidRecord):
    """Several records of a profile that are not valid (``errors``), named one a line."""

    def __init__(self, errors: list[InvalidRecord], profile: str):
        first = errors[0]
        super().__init__(first.path, first.field, first.reason)
        self.errors = list(errors)
        lines = "\n  ".join(str(err) for err in self.errors)
        self.args = (
            f"{len(self.errors)} run record(s) of profile {profile} are not valid:\n  {lines}"
            f"\nFix or remove them; python -m hybridlib.train --profile {profile} trains "
            "their runs again and replaces them.",
        )

    def __str__(self) -> str:
        return self.args[0]


def _shown(value) -> str:
    """A value for a message: short, with its JSON type."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    text = repr(value) if not isinstance(value, (list, dict)) else json.dumps(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} ({kinds.get(type(value), type(value).__name__)})"


class _Fields:
    """Checks of a record's values; the first failure raises :class:`InvalidRecord`."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def fail(self, field: str | None, reason: str):
        raise InvalidRecord(self.path, field, reason)

    def mapping(self, value, field: str | None, required=(), optional=(),
                others: bool = False) -> dict:
        """An object with the ``required`` keys, and the ``optional`` ones or, with
        ``others``, any others."""
        if not isinstance(value, dict):
            what = "the file" if field is None else "it"
            self.fail(field, f"{what} must be a JSON object, got {_shown(value)}")
        prefix = f"{field}." if field else ""
        for key in required:
            if key not in value:
                self.fail(f"{prefix}{key}", "is missing")
        if (required or optional) and not others:
            unknown = sorted(set(value) - set(required) - set(optional))
            if unknown:
                self.fail(f"{prefix}{unknown[0]}", "is not a field of a run record")
        return value

    def integer(self, value, field: str, low: int, high: int | None = None,
                none: bool = False) -> int | None:
        if value is None and none:
            return None
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not (ok and value >= low and (high is None or value <= high)):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            self.fail(field, f"must be an integer {bound}{' or null' if none else ''}, "
                      f"got {_shown(value)}")
        return value

    def number(self, value, field: str, low: float, high: float | None = None,
               none: bool = False, above: bool = False) -> float | None:
        if value is None and none:
            return None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and (value > low if above else value >= low)
        if not (ok and (high is None or value <= high)):
            bound = f"{'>' if above else '>='} {low:g}" if high is None else f"in {low:g}..{high:g}"
            self.fail(field, f"must be a finite number {bound}{' or null' if none else ''}, "
                      f"got {_shown(value)}")
        return value

    def boolean(self, value, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"must be true or false, got {_shown(value)}")
        return value

    def string(self, value, field: str, choices=None, none: bool = False) -> str | None:
        if value is None and none:
            return None
        if not isinstance(value, str) or (choices is not None and value not in choices):
            valid = f" ({', '.join(choices)})" if choices is not None else ""
            what = "one of the names" if choices else "a string"
            self.fail(field, f"must be {what}{valid}{' or null' if none else ''}, "
                      f"got {_shown(value)}")
        return value

    def listing(self, value, field: str, length: int | None = None) -> list:
        if not isinstance(value, list):
            self.fail(field, f"must be a list, got {_shown(value)}")
        if length is not None and len(value) != length:
            self.fail(field, f"must have {length} entries, has {len(value)}")
        return value

    def pairs(self, value, field: str, check) -> dict:
        """An object of ``name: [a, b]``, each entry checked by ``check(value, field)``."""
        for name, pair in self.mapping(value, field).items():
            for i, entry in enumerate(self.listing(pair, f"{field}.{name}", 2)):
                check(entry, f"{field}.{name}[{i}]")
        return value

    def base64(self, value, field: str, size: int) -> bytes:
        """The bytes of base64 text that must decode to ``size`` bytes."""
        if not isinstance(value, str):
            self.fail(field, f"must be base64 text, got {_shown(value)}")
        if len(value) != 4 * math.ceil(size / 3):
            self.fail(field, f"must be base64 of {size} bytes ({4 * math.ceil(size / 3)} "
                      f"characters), has {len(value)} characters")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as err:
            self.fail(field, f"is not base64 ({err})")
        if len(raw) != size:
            self.fail(field, f"must decode to {size} bytes, decodes to {len(raw)}")
        return raw


def _check_settings(f: _Fields, settings, key: str = "settings") -> dict:
    """The record's settings (under ``key`` in its file): the run's settings as
    :func:`build_run` makes them."""
    f.mapping(settings, key, SETTINGS_FIELDS, OPTIONAL_SETTINGS)
    at = f"{key}."
    for key in ("momentum", "weight_decay", "mixup", "complexity_weight"):
        f.number(settings[key], at + key, 0)
    f.number(settings["label_smoothing"], at + "label_smoothing", 0, 1)
    for key in ("augment", "compile"):
        f.boolean(settings[key], at + key)
    if settings["strides"] is not None:
        for i, s in enumerate(f.listing(settings["strides"], at + "strides", 3)):
            f.integer(s, f"{at}strides[{i}]", 1)
    f.string(settings["precision"], at + "precision", PRECISIONS)
    f.integer(settings["validation"], at + "validation", 1, MAX_IMAGES, none=True)
    f.integer(settings["epochs"], at + "epochs", 1, MAX_EPOCHS)
    f.integer(settings["batch_size"], at + "batch_size", 1)
    for key in ("train_subset", "test_subset"):
        f.integer(settings[key], at + key, 1, MAX_IMAGES, none=True)
    f.integer(settings["width"], at + "width", 1)
    f.string(settings["schedule"], at + "schedule")
    f.string(settings["device"], at + "device")
    f.number(settings["lr"], at + "lr", 0, above=True)
    f.integer(settings["threads"], at + "threads", 1, none=True)
    f.string(settings["profile"], at + "profile", tuple(PROFILES))
    f.string(settings["dataset"], at + "dataset", datasets.DATASETS)
    f.string(settings["config"], at + "config", tuple(CONFIGS))
    f.integer(settings["seed"], at + "seed", 0, SEED_MAX)
    f.mapping(settings["spec"], at + "spec")
    overrides = f.listing(settings["overrides"], at + "overrides")
    for i, name in enumerate(overrides):
        f.string(name, f"{at}overrides[{i}]", OVERRIDABLE)
    if overrides != sorted(set(overrides)):
        f.fail(at + "overrides", "must be sorted, without repeats")
    f.string(settings.get("layout"), at + "layout", none=True)
    if settings.get("branches") is not None:
        for i, b in enumerate(f.listing(settings["branches"], at + "branches")):
            f.integer(b, f"{at}branches[{i}]", 1, MAX_EPOCHS)
    return settings


def _check_epochs(f: _Fields, record: dict, settings: dict) -> None:
    """The history: one entry per epoch, the last one the record's final numbers."""
    history = f.listing(record["epochs"], "epochs", settings["epochs"])
    validation = settings["validation"] is not None
    for i, entry in enumerate(history):
        at = f"epochs[{i}]"
        last = i == len(history) - 1
        scores = (("val_loss", "val_acc") if validation else ()) + (
            ("test_loss", "test_acc") if last or not validation else ())
        optional = () if validation else ("val_loss", "val_acc")
        optional += ("test_loss", "test_acc") if validation and not last else ()
        f.mapping(entry, at, (*EPOCH_FIELDS, *scores), optional)
        if entry["epoch"] != i + 1 or isinstance(entry["epoch"], bool):
            f.fail(f"{at}.epoch", f"must be {i + 1}, got {_shown(entry['epoch'])}")
        for key in ("train_loss", "lr_last", "train_seconds", "images_per_s", "flops"):
            f.number(entry[key], f"{at}.{key}", 0)
        f.number(entry["train_acc"], f"{at}.train_acc", 0, 1)
        for key in ("val_loss", "test_loss"):
            if key in entry:
                f.number(entry[key], f"{at}.{key}", 0)
        for key in ("val_acc", "test_acc"):
            if key in entry:
                f.number(entry[key], f"{at}.{key}", 0, 1)
        f.pairs(entry["learned_strides"], f"{at}.learned_strides",
                lambda v, name: f.number(v, name, 0, above=True))
        f.pairs(entry["feature_sizes"], f"{at}.feature_sizes",
                lambda v, name: f.integer(v, name, 0))
    final = history[-1]
    for key, field in [("test_acc", "final_test_acc"), ("test_loss", "final_test_loss"),
                       ("val_acc", "final_val_acc"), ("learned_strides", "learned_strides"),
                       ("feature_sizes", "feature_sizes"), ("flops", "flops")]:
        if final.get(key) != record[field]:
            f.fail(field, f"is {_shown(record[field])}, but the last epoch's {key} is "
                   f"{_shown(final.get(key))}")


def validate_record(record, path: str | os.PathLike | None = None) -> dict:
    """``record`` if it is a valid, complete run record; else :class:`InvalidRecord`.

    A record that keeps its settings under :data:`LEGACY_SETTINGS_KEY` comes back with
    them under ``settings``, as every record now has them.

    Checked: every field's type and range; the lengths of the history and of the per-image
    fields against the record's own sizes (its epochs, its ``test_size``), and its test
    accuracy against its per-image results; that its settings, hashed again, give its
    ``config_hash``; and, with ``path``, that those settings belong in the folder the
    record sits in (profile, data set, configuration, seed: :func:`record_path`).

    Raises:
        InvalidRecord: naming ``path``, the first field that is wrong and the reason.
    """
    path = None if path is None else Path(path)
    f = _Fields(path)
    settings_key = "settings"  # as the file has it, so that errors name what is there
    if isinstance(record, dict) and LEGACY_SETTINGS_KEY in record and "settings" not in record:
        settings_key = LEGACY_SETTINGS_KEY
        record = {"settings": record[settings_key],
                  **{k: v for k, v in record.items() if k != settings_key}}
    f.mapping(record, None, RECORD_FIELDS, OPTIONAL_FIELDS)
    if record["complete"] is not True:
        f.fail("complete", f"must be true (a finished run), got {_shown(record['complete'])}")
    settings = _check_settings(f, record["settings"], settings_key)
    f.string(record["config_hash"], "config_hash")
    f.string(record["code_hash"], "code_hash")
    f.string(record["description"], "description")
    f.number(record["final_test_acc"], "final_test_acc", 0, 1)
    f.number(record["final_test_loss"], "final_test_loss", 0)
    f.number(record["final_val_acc"], "final_val_acc", 0, 1,
             none=settings["validation"] is None)
    f.integer(record["parameters"], "parameters", 1)
    for key in ("flops", "wall_seconds", "images_per_s"):
        f.number(record[key], key, 0)
    for key in ("train_size", "test_size"):
        f.integer(record[key], key, 1, MAX_IMAGES)
        subset = settings[key.replace("size", "subset")]
        if subset is not None and record[key] != subset:
            f.fail(key, f"is {record[key]}, but the settings ask for {subset} images")
    n = record["test_size"]
    f.base64(record["test_predictions"], "test_predictions", n)
    correct = np.unpackbits(np.frombuffer(
        f.base64(record["test_correct"], "test_correct", math.ceil(n / 8)), np.uint8))[:n]
    if int(correct.sum()) / n != record["final_test_acc"]:
        f.fail("final_test_acc", f"is {record['final_test_acc']!r}, but test_correct holds "
               f"{int(correct.sum())} right of {n} ({int(correct.sum()) / n!r})")
    f.pairs(record["learned_strides"], "learned_strides",
            lambda v, name: f.number(v, name, 0, above=True))
    for key in ("feature_sizes", "initial_feature_sizes"):
        f.pairs(record[key], key, lambda v, name: f.integer(v, name, 0))
    _check_epochs(f, record, settings)
    provenance = f.mapping(record["provenance"], "provenance", tuple(PROVENANCE_FIELDS),
                           others=True)
    for key, none in PROVENANCE_FIELDS.items():
        f.string(provenance[key], f"provenance.{key}", none=none)
    if "from_trunk" in record:
        trunk = f.mapping(record["from_trunk"], "from_trunk", ("epochs", "seconds"))
        f.integer(trunk["epochs"], "from_trunk.epochs", 1, settings["epochs"])
        f.number(trunk["seconds"], "from_trunk.seconds", 0)
    digest = config_hash(settings)
    if record["config_hash"] != digest:
        f.fail("config_hash", f"is {record['config_hash']!r}, but the record's own settings "
               f"hash to {digest!r}: the settings or the hash were changed")
    if path is not None:
        expected = record_path(settings, "")
        if path.parts[-len(expected.parts):] != expected.parts:
            f.fail(settings_key, f"these settings ({settings['profile']}, {settings['dataset']}, "
                   f"{settings['config']}, seed {settings['seed']}) belong in "
                   f"<results>/{expected.as_posix()}, not here")
    return record


def read_record(path: str | os.PathLike) -> dict:
    """The valid run record in file ``path`` (:func:`validate_record`).

    Only a regular file of at most :data:`RECORD_BYTES` is read, as UTF-8 strict JSON
    (no NaN, no infinity).

    Raises:
        InvalidRecord: naming the file, the field and the reason; for a file that cannot
            be read at all (a folder, a named pipe, too large, not UTF-8, not JSON), the
            field is None.
    """
    path = Path(path)
    try:
        text = read_regular(path, RECORD_BYTES).decode("utf8")
        record = json.loads(text, parse_constant=_strict_constant)
    except FileRefused as err:
        raise InvalidRecord(path, None, err.reason) from None
    except UnicodeDecodeError as err:
        raise InvalidRecord(path, None, f"it is not UTF-8 text ({err.reason} at byte "
                            f"{err.start})") from None
    except ValueError as err:
        raise InvalidRecord(path, None, f"it does not parse as strict JSON ({err})") from None
    except RecursionError:
        raise InvalidRecord(path, None, "it is JSON nested too deeply to be a record") from None
    except OSError as err:
        raise InvalidRecord(path, None, f"it cannot be read: "
                            f"{describe_os_error(err, with_path=False)}") from None
    return validate_record(record, path)


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
    _replaceable(path, "checkpoint")
    if not path.exists() or not _fresh(path, not_before):
        return None
    kind = file_kind(path)
    if kind is not None:  # a named pipe would block torch.load forever
        warn(f"{path} is not a usable checkpoint: it is {kind}, not a file. {FROM_SCRATCH}")
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
