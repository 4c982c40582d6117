"""Learning rates chosen per configuration on the validation split.

A profile may declare ``lr_grid = {"values": (...), "epochs": n, "train_subset": m,
"extend": k}``. Its grid trains every configuration of the profile once (seed
:data:`GRID_SEED`) per value, for ``n`` epochs on ``m`` training images, with everything
else as in the profile (the validation split included). The value with the best final
validation accuracy is the configuration's rate; the test set plays no part. Where the
best value is the grid's largest (or smallest), a rate beyond it might be better still:
the configuration's grid goes one step further that way, by the grid's own ratio, up to
``k`` steps (:func:`grid_values`). The profile stores the
chosen rates (its ``lr`` is ``{config: rate}``), so that a run's settings never depend
on other records; :func:`disagreements` says whether they still match the grid's records.

Grid runs are overrides of the profile; their records sit under ``results/lr_grid/``
(``lr_grid/<profile>-<hash>/...``, one folder per value), their checkpoints under
``runs/lr_grid/``, apart from the profile's own runs and from other experiments.

Examples::

    python -m hybridlib.tuning --profile cpu              # train the grid, show the choice
    python -m hybridlib.tuning --profile cpu --status     # what is recorded, train nothing
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

import numpy as np

from hybridlib.configs import PROFILES, profile_runs, profile_settings
from hybridlib.extras import import_extra
from hybridlib.files import describe_os_error
from hybridlib.local_sweep import Terminated, fit_shared, terminate_as_interrupt
from hybridlib.runs import InvalidRecord, RunStore, build_run
from hybridlib.train import TrainingDiverged

pd = import_extra("pandas", "book", __name__)

__all__ = [
    "GRID_DIR",
    "GRID_SEED",
    "chosen_rates",
    "disagreements",
    "grid_records",
    "grid_runs",
    "grid_table",
    "grid_values",
    "main",
    "sweep_cost",
    "train_grid",
]

GRID_SEED = 0
GRID_DIR = "lr_grid"  # below the results and runs roots


def _grid_run(profile: str, config: str, lr: float) -> dict:
    grid = profile_settings(profile)["lr_grid"]
    shorter = {k: grid[k] for k in ("epochs", "train_subset") if k in grid}
    return build_run(profile, config, GRID_SEED, overrides={**shorter, "lr": float(lr)})


def _grid_record(run: dict, store: RunStore | None) -> dict | None:
    """The run's complete record, whatever library code made it: like the profile's records
    in the book, the grid is shown as it was recorded (retraining it is the command's job)."""
    return (store or RunStore()).sub(GRID_DIR).recorded(run, accept_code=True)


def _best(scores: Sequence[float]) -> int:
    """Index of the best score; a tie goes to the first (the smaller rate)."""
    return int(np.argmax(scores))


def grid_values(profile: str, config: str, store: RunStore | None = None) -> list[float]:
    """The rates of ``config``'s grid, ascending: the profile's values, extended past an end.

    While every value so far is recorded and the best lies at the largest (smallest)
    value, the next value beyond it, by the ratio of the grid's last (first) two values,
    joins the grid, up to the grid's ``extend`` steps each way.
    """
    grid = profile_settings(profile)["lr_grid"]
    values = sorted(float(v) for v in grid["values"])
    steps = {"up": 0, "down": 0}
    while True:
        records = [_grid_record(_grid_run(profile, config, lr), store) for lr in values]
        if None in records or len(values) < 2:
            return values
        best = _best([r["final_val_acc"] for r in records])
        way = "up" if best == len(values) - 1 else "down" if best == 0 else None
        if way is None or steps[way] >= grid.get("extend", 0):
            return values
        steps[way] += 1
        if way == "up":
            values.append(float(f"{values[-1] * values[-1] / values[-2]:.12g}"))
        else:
            values.insert(0, float(f"{values[0] * values[0] / values[1]:.12g}"))


def grid_runs(profile: str, configs: Sequence[str] | None = None,
              store: RunStore | None = None) -> list[dict]:
    """The settings of every grid run of ``profile`` (empty if it declares no grid), with
    the extensions its records in ``store`` call for (:func:`grid_values`)."""
    settings = profile_settings(profile)
    if settings.get("lr_grid") is None:
        return []
    return [
        _grid_run(profile, config, lr)
        for config in configs or settings["configs"]
        for lr in grid_values(profile, config, store)
    ]


def grid_records(profile: str, store: RunStore | None = None) -> list[dict | None]:
    """The record of each grid run, in :func:`grid_runs` order (None where incomplete)."""
    return [_grid_record(run, store) for run in grid_runs(profile, store=store)]


def grid_table(profile: str, store: RunStore | None = None) -> pd.DataFrame:
    """One row per grid run: config, lr, val_acc (%, final epoch; NaN until recorded)."""
    rows = []
    for run in grid_runs(profile, store=store):  # one pass over the runs
        record = _grid_record(run, store)
        score = math.nan if record is None else 100.0 * record["final_val_acc"]
        rows.append({"config": run["config"], "lr": run["lr"], "val_acc": score})
    return pd.DataFrame(rows, columns=["config", "lr", "val_acc"])


def sweep_cost(profile: str, records: Sequence[dict],
               store: RunStore | None = None) -> pd.DataFrame:
    """What ``profile``'s sweep has cost so far, in hours of one process (a CPU core or GPU).

    Args:
        records: the profile's complete run records (``RunStore.load``).

    Rows ``learning-rate grid``, ``profile runs`` and ``total``; columns ``recorded`` and
    ``declared`` (runs) and ``hours``, the sum of the records' own ``wall_seconds``
    (training and scoring, so the time of the processes that made them).
    """
    grid = grid_records(profile, store)
    done = [r for r in grid if r is not None]
    cost = pd.DataFrame(
        {
            "recorded": [len(done), len(records)],
            "declared": [len(grid), len(profile_runs(profile))],
            "hours": [sum(r["wall_seconds"] for r in rs) / 3600 for rs in (done, records)],
        },
        index=["learning-rate grid", "profile runs"],
    )
    cost.loc["total"] = cost.sum()
    return cost


def chosen_rates(table: pd.DataFrame) -> dict[str, float]:
    """The rate with the best validation accuracy, per configuration whose grid is complete.

    A tie goes to the smaller rate (the first in ascending order).
    """
    chosen = {}
    for config, part in table.groupby("config", sort=False):
        if part.val_acc.notna().all():
            ordered = part.sort_values("lr")
            chosen[config] = float(ordered.lr.iloc[_best(ordered.val_acc)])
    return chosen


def disagreements(
    profile: str, store: RunStore | None = None, table: pd.DataFrame | None = None
) -> dict[str, tuple[float, float]]:
    """``{config: (profile's rate, grid's choice)}`` where the two differ (complete grids).

    ``table``: the profile's :func:`grid_table`, when the caller has read it already.
    """
    rates = profile_settings(profile)["lr"]
    chosen = chosen_rates(grid_table(profile, store) if table is None else table)
    if not isinstance(rates, dict):
        return {c: (rates, lr) for c, lr in chosen.items() if lr != rates}
    return {c: (rates.get(c), lr) for c, lr in chosen.items() if rates.get(c) != lr}


def train_grid(profile: str, config: str, store: RunStore | None = None,
               progress: bool = True) -> None:
    """Load-or-train ``config``'s grid, and the extensions its results call for.

    Each run is claimed (``hybridlib.local_sweep.fit_shared``): one that another process
    holds is left to it, and its extension, if any, to the next command. A run that
    diverges (a rate too large) is reported and leaves the grid incomplete, so that no
    rate is chosen for ``config`` until someone decides; the other runs go on.
    """
    store = store or RunStore()
    tried = set()
    while todo := [r for r in grid_runs(profile, [config], store) if r["lr"] not in tried]:
        for run in todo:
            tried.add(run["lr"])
            try:
                fit_shared(run, store.sub(GRID_DIR), progress=progress)
            except TrainingDiverged as err:
                print(f"warning: {config} at lr {run['lr']:g} diverged, so its grid has no "
                      f"choice: {err}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    with_grid = [name for name, p in PROFILES.items() if "lr_grid" in p]
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.tuning",
        description=(
            "Train a profile's learning-rate grid (one seed per configuration and value, "
            "scored on the validation split) and show the rate each configuration gets. "
            "Load-or-train: finished runs are reused, interrupted ones resume; several "
            "processes started with the same command share the work."
        ),
    )
    add = parser.add_argument
    add("--profile", default="cpu", choices=with_grid, help="run profile (default: cpu)")
    add("--config", action="append", help="configuration (repeatable; default: the profile's)")
    add("--status", action="store_true", help="show the recorded grid; train nothing")
    add("--results-dir", help="root of the run records (default: the repository's results/); "
        f"the grid's go to {GRID_DIR}/ below it")
    add("--runs-dir", help=f"root of the checkpoints (default: runs/; the grid's in {GRID_DIR}/)")
    add("--no-progress", action="store_true", help="no progress bars")
    return parser


def _bad_records(profile: str, store: RunStore) -> int:
    """List the grid's records that are not valid, one a line; exit status 1."""
    bad = store.sub(GRID_DIR).invalid(profile)
    print(f"{len(bad)} record(s) of {profile}'s learning-rate grid are not valid (the grid "
          "cannot be shown until they are fixed or removed; training replaces them):",
          file=sys.stderr)
    for err in bad:
        print(f"  bad: {err}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = RunStore(args.results_dir, args.runs_dir)
    configs = args.config or profile_settings(args.profile)["configs"]
    try:
        grid_runs(args.profile, configs, store)  # refuses unknown configurations
    except InvalidRecord:
        if args.status:
            return _bad_records(args.profile, store)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.status:
        try:
            with terminate_as_interrupt():
                for config in configs:
                    train_grid(args.profile, config, store, not args.no_progress)
        except KeyboardInterrupt as stop:
            print("\n" + ("terminated (SIGTERM)" if isinstance(stop, Terminated) else
                          "interrupted") + ": rerun the same command to resume", file=sys.stderr)
            return 143 if isinstance(stop, Terminated) else 130
        except OSError as err:
            print(f"error: {describe_os_error(err)}", file=sys.stderr)
            return 1
        except InvalidRecord:
            return _bad_records(args.profile, store)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    try:
        recorded = grid_table(args.profile, store)
    except InvalidRecord:
        return _bad_records(args.profile, store)
    table = recorded[recorded.config.isin(args.config)] if args.config else recorded
    wide = table.pivot(index="config", columns="lr", values="val_acc")
    print("final validation accuracy (%) by learning rate:")
    print(wide.to_string(float_format=lambda v: f"{v:.2f}", na_rep="-"))
    chosen = chosen_rates(table)
    print("chosen:", ", ".join(f"{c} {lr:g}" for c, lr in chosen.items()) or "none yet")
    differ = disagreements(args.profile, table=recorded)
    for config, (stored, best) in differ.items():
        print(f"note: the profile's rate for {config} is {stored}, the grid chooses {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
