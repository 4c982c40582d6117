"""Many runs on this machine: every run of a profile, loaded or trained, and the command
line ``python -m hybridlib.train``.

:func:`train_profile` goes through a profile's runs seed-major; with ``share=True`` each
run is claimed first (``hybridlib.claims``), so that several processes started with the
same command share one sweep. A forced sweep (:func:`forced_sweep`) retrains what was
made before it started and keeps what it made itself, so rerunning an interrupted forced
command continues it. The same runs on a cluster are ``hybridlib.sweep``'s job.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import torch

from hybridlib import data as datasets
from hybridlib.argtypes import integer, number
from hybridlib.claims import claim
from hybridlib.configs import CONFIGS, PROFILES
from hybridlib.paths import RESULTS_ENV, RUNS_ENV
from hybridlib.runs import (
    EXECUTION_SETTINGS,
    OVERRIDABLE,
    PRECISIONS,
    RunStore,
    atomic_write,
    declared_runs,
    warn,
)
from hybridlib.train import TrainingDiverged, fit

__all__ = ["FORCED_SINCE_ENV", "SEED_MAX", "fit_shared", "forced_sweep", "main", "train_profile"]


# Set by a command that runs a forced sweep in child processes (the book pipeline): the
# UNIX time before which records and checkpoints are not reused.
FORCED_SINCE_ENV = "HYBRIDLIB_FORCED_SINCE"

FORCED_MARKER = ".forced-since"  # in runs/<profile>/ while a forced sweep is unfinished


def _read_marker(marker: Path) -> float | None:
    """The start time an unfinished forced sweep left in ``marker``, if readable."""
    try:
        since = float(marker.read_text(encoding="utf8").split()[0])
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        warn(f"{marker} is not a start time; the forced sweep starts afresh")
        return None
    return since if math.isfinite(since) else None

@contextmanager
def forced_sweep(store: RunStore, profile: str) -> Iterator[float]:
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
    marker = store.runs / profile / FORCED_MARKER
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
    store: RunStore | None = None,
    force: bool = False,
    datasets_: Iterable[str] | None = None,
    configs: Iterable[str] | None = None,
    seeds: Iterable[int] | None = None,
    overrides: dict | None = None,
    progress: bool = True,
    accept_code: bool = False,
    share: bool = False,
) -> list[dict]:
    """Load-or-train every run of a profile (``hybridlib.configs.profile_runs``), seed-major.

    ``force=True`` retrains the runs made before this forced sweep started (see
    :func:`forced_sweep`). ``share=True`` lets several processes work through the same
    sweep: each run is claimed first (:mod:`hybridlib.claims`), and a run another live
    process holds is skipped (left out of the returned records, with a note). To read the
    records without training, use ``RunStore.load``.
    """
    store = store or RunStore()
    runs = declared_runs(profile, datasets_, configs, seeds, overrides)
    train_one = fit_shared if share else fit
    if not force:
        done = [train_one(run, store, progress=progress, accept_code=accept_code) for run in runs]
    else:
        with forced_sweep(store, profile) as since:
            done = [train_one(run, store, since=since, progress=progress,
                              accept_code=accept_code) for run in runs]
    return [record for record in done if record is not None]


def fit_shared(run: dict, store: RunStore | None = None, **kwargs) -> dict | None:
    """:func:`hybridlib.train.fit` under the run's claim; None (and a note) when another
    process holds it."""
    store = store or RunStore()
    with claim(store.claim_path(run)) as other:
        if other is not None:
            warn(f"{store.record_path(run)}: process {other['pid']} on {other['host']} is "
                 "training this run; skipped")
            return None
        return fit(run, store, **kwargs)


# ---------------------------------------------------------------------- command line
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
    add("--results-dir", help=f"where run records go (default: ${RESULTS_ENV}, else results)")
    add("--runs-dir", help=f"where checkpoints go (default: ${RUNS_ENV}, else runs)")
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
            RunStore(args.results_dir, args.runs_dir),
            force=args.force,
            datasets_=args.dataset,
            configs=args.config,
            seeds=args.seed,
            overrides=overrides,
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
