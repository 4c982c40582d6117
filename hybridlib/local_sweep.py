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
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from hybridlib import data as datasets
from hybridlib.argtypes import integer, number
from hybridlib.claims import EXPIRES_SECONDS, claim, describe_holder
from hybridlib.configs import CONFIGS, PROFILES, stride_row
from hybridlib.files import describe_os_error, file_kind, probe_folder
from hybridlib.layout import LAYOUTS
from hybridlib.paths import RESULTS_ENV, RUNS_ENV
from hybridlib.runs import (
    EXECUTION_SETTINGS,
    OVERRIDABLE,
    PRECISIONS,
    SEED_MAX,
    RunStore,
    atomic_write,
    declared_runs,
    warn,
)
from hybridlib.train import TrainingDiverged, device_name, fit, resolve_device

__all__ = [
    "FORCED_SINCE_ENV",
    "HELD_EXIT",
    "SEED_MAX",
    "Terminated",
    "fit_shared",
    "forced_sweep",
    "main",
    "preflight",
    "terminate_as_interrupt",
    "train_profile",
]


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
    kind = file_kind(marker)
    if kind is not None:
        raise ValueError(f"{marker} is {kind}, where a forced sweep keeps its start time: "
                         "remove it")
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
    held: list[dict] | None = None,
) -> list[dict]:
    """Load-or-train every run of a profile (``hybridlib.configs.profile_runs``), seed-major.

    ``force=True`` retrains the runs made before this forced sweep started (see
    :func:`forced_sweep`). ``share=True`` lets several processes work through the same
    sweep: each run is claimed first (:mod:`hybridlib.claims`), and a run another live
    process holds is skipped (left out of the returned records, with a note naming its
    claim, and appended to ``held`` when it is given; with ``force``, a claim that cannot
    be proven live is taken over). To read the records without training, use
    ``RunStore.load``.
    """
    store = store or RunStore()
    runs = declared_runs(profile, datasets_, configs, seeds, overrides)
    if share:
        def train_one(run, store, **kwargs):
            return fit_shared(run, store, take_over=force, **kwargs)
    else:
        train_one = fit
    if not force:
        done = [train_one(run, store, progress=progress, accept_code=accept_code) for run in runs]
    else:
        with forced_sweep(store, profile) as since:
            done = [train_one(run, store, since=since, progress=progress,
                              accept_code=accept_code) for run in runs]
    if held is not None:
        held.extend(run for run, record in zip(runs, done, strict=True) if record is None)
    return [record for record in done if record is not None]


def fit_shared(run: dict, store: RunStore | None = None, take_over: bool = False,
               **kwargs) -> dict | None:
    """:func:`hybridlib.train.fit` under the run's claim; None (and a note naming the claim
    file) when another process holds it. ``take_over``: take over a claim that cannot be
    proven live (one from another host, whatever its age; see :mod:`hybridlib.claims`)."""
    store = store or RunStore()
    path = store.claim_path(run)
    with claim(path, force=take_over) as other:
        if other is not None:
            warn(f"skipped {store.record_path(run)}: {describe_holder(other, path)} is "
                 "training this run")
            return None
        return fit(run, store, **kwargs)


# ---------------------------------------------------------------------- command line
HELD_EXIT = 3  # the exit status of a command that skipped runs other processes hold


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a scheduler's pre-emption), handled as Ctrl-C: the
    ``finally`` blocks run, so the claim is removed and no file is left half-written."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread only)."""
    def terminated(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def preflight(store: RunStore, runs: Iterable[dict], results_flag: str | None = None,
              runs_flag: str | None = None) -> None:
    """Check, before any work, what would otherwise fail after it: both folders take a
    write (not a file, not read-only, not a full disk), and every run's device exists.

    Raises:
        UnusableFolder: naming the folder (and its flag) and the cause.
        ValueError: naming a device this machine does not have.
    """
    probe_folder(store.results, results_flag or "the results folder")
    probe_folder(store.runs, runs_flag or "the runs folder")
    for device in sorted({str(run["device"]) for run in runs}):
        resolve_device(device)


def _parse_strides(text: str) -> tuple[int, int, int]:
    """An argparse type: ``configs.stride_row``, whose error argparse names the flag of."""
    try:
        return stride_row(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
            "\nclaims: a process claims each run it trains (runs/.../seed<k>.claim, with its "
            "host, process id\nand start time, renewed every minute). A run another live "
            "process holds is skipped, named\nwith its claim file. A claim is taken over when "
            "its process is gone: on this host, no process\nwith its id and start time; from "
            f"another host, not renewed for {EXPIRES_SECONDS // 60} minutes; with --force, "
            "any claim\nbut that of a live process on this host.\n"
            "\nexit status: 0 done; 1 an error (named); 2 a bad command line; "
            f"{HELD_EXIT} runs were skipped\nbecause other processes hold them (0 with "
            "--skip-held); 130 interrupted (Ctrl-C); 143 terminated\n(SIGTERM). An interrupted "
            "or terminated command removes its claim and leaves every finished\nepoch in its "
            "checkpoint: rerun the same command to resume.\n"
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
    add("--layout", choices=LAYOUTS,
        help="memory layout of the activations: auto (the default: the faster one "
        "measured for the width, results/bench/grid.json), contiguous or channels_last; "
        "changes results only by rounding, so it is recorded but not part of the run's hash")
    add("--device", type=device_name,
        help="auto, cpu, cuda, cuda:1 or mps (default: the profile's)")
    add(
        "--threads",
        type=integer(1),
        help="torch's intra-op thread count (default: the profile's, else torch's); a run "
        "resumes with the count its checkpoint was made with",
    )
    add("--results-dir", help=f"where run records go (default: ${RESULTS_ENV}, else results)")
    add("--runs-dir", help=f"where checkpoints go (default: ${RUNS_ENV}, else runs)")
    add("--no-progress", action="store_true", help="no progress bars")
    add("--dry-run", action="store_true",
        help="train nothing: print the profile's price on this machine, from the committed "
        "grid benchmark (results/bench/grid.json)")
    add("--processes", type=integer(1, 64), default=2,
        help="--dry-run: the processes that share the sweep (default 2)")
    add(
        "--skip-held",
        action="store_true",
        help=f"exit 0 when runs were skipped because other processes hold them (default: exit "
        f"{HELD_EXIT})",
    )
    add(
        "--accept-code-change",
        action="store_true",
        help="reuse records and checkpoints made by other library code (default: retrain them)",
    )
    return parser


def _named(flag: str, given: str | None, env: str) -> str:
    """How the user chose a folder: ``flag``, else ``$env``, else the default."""
    folder = "results" if "results" in flag else "runs"
    if given:
        return flag
    return f"${env}" if os.environ.get(env) else f"the {folder} folder"


def _print_price(profile: str, processes: int) -> int:
    from hybridlib.price import NoBenchmark, price_profile

    try:
        table = price_profile(profile, processes)
    except NoBenchmark as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    total = table.loc["total"]
    print(f"\nprofile {profile}: {total.hours:.1f} process-hours, about {total['wall hours']:.1f} "
          f"wall hours with {processes} processes on this machine (from the grid benchmark)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Settings without a flag (momentum, ...) come out None and are left to the profile.
    if args.dry_run:
        return _print_price(args.profile, args.processes)
    overrides = {name: getattr(args, name, None) for name in (*OVERRIDABLE, *EXECUTION_SETTINGS)}
    held: list[dict] = []
    try:
        with terminate_as_interrupt():
            store = RunStore(args.results_dir, args.runs_dir)
            runs = declared_runs(args.profile, args.dataset, args.config, args.seed, overrides)
            preflight(store, runs, _named("--results-dir", args.results_dir, RESULTS_ENV),
                      _named("--runs-dir", args.runs_dir, RUNS_ENV))
            records = train_profile(
                args.profile,
                store,
                force=args.force,
                datasets_=args.dataset,
                configs=args.config,
                seeds=args.seed,
                overrides=overrides,
                progress=not args.no_progress,
                accept_code=args.accept_code_change,
                share=True,
                held=held,
            )
    except KeyboardInterrupt as stop:
        what = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
        print(f"\n{what}: the claim is removed and the finished epochs are kept; rerun the "
              "same command to resume from the last epoch", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except OSError as err:
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 1
    except (TrainingDiverged, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for r in records:
        c = r["settings"]
        print(
            f"{c['dataset']:>14} {c['config']:>18} seed {c['seed']}: "
            f"test acc {r['final_test_acc']:.4f} ({r['images_per_s']:.0f} img/s, "
            f"{r['wall_seconds']:.0f} s)"
        )
    if held and not args.skip_held:
        print(f"error: {len(held)} run(s) skipped because other processes hold them (named "
              "above); rerun when they are done, or pass --force to take over claims of other "
              "hosts, or --skip-held to exit 0", file=sys.stderr)
        return HELD_EXIT
    return 0
