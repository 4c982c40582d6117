"""Self-checks for the exercises of chapter 5 (training every configuration).

* :func:`check_chosen_rates`: ``fn(grid) -> {config: rate}``, the learning rate the grid
  rule keeps for each configuration, against :func:`hybridlib.tuning.chosen_rates`.
* :func:`check_step_schedule`: ``fn(step, total_steps, lr) -> rate``, the ``step``
  schedule of the ``cpu`` profile, against :func:`hybridlib.train.learning_rate`.

Both use :func:`~hybridlib.book.selfcheck.core.run_cases`: a wrong answer raises an
``AssertionError`` naming the case, a passing check reads "all N cases pass".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from hybridlib.book.selfcheck.core import CheckResult, run_cases
from hybridlib.train import learning_rate
from hybridlib.tuning import chosen_rates

__all__ = ["check_chosen_rates", "check_step_schedule"]

NAN = math.nan


def _grid(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["config", "lr", "val_acc"])


# (case name, grid rows (config, lr, validation accuracy in %)).
_GRID_CASES: list[tuple[str, list[tuple[str, float, float]]]] = [
    ("one configuration, best rate inside the grid",
     [("hybrid", 0.05, 88.1), ("hybrid", 0.1, 89.4), ("hybrid", 0.2, 89.0)]),
    ("two configurations, rows in no particular order",
     [("strided", 0.4, 90.2), ("hybrid", 0.2, 88.0), ("strided", 0.1, 89.9),
      ("hybrid", 0.05, 88.5), ("strided", 0.8, 90.6), ("hybrid", 0.1, 88.4)]),
    ("a tie goes to the smaller rate",
     [("spectral", 0.4, 89.3), ("spectral", 0.1, 89.3), ("spectral", 0.2, 88.7)]),
    ("a tie listed largest rate first",
     [("diffstride", 0.8, 90.0), ("diffstride", 0.4, 90.0), ("diffstride", 0.2, 89.0)]),
    ("an incomplete grid (a rate not recorded yet) chooses nothing",
     [("hybrid", 0.05, 88.1), ("hybrid", 0.1, NAN), ("strided", 0.1, 90.0),
      ("strided", 0.2, 90.5)]),
    ("the best rate at the end of the grid",
     [("reversed_hybrid", 0.1, 87.0), ("reversed_hybrid", 0.2, 88.0),
      ("reversed_hybrid", 0.4, 88.9)]),
]


def check_chosen_rates(fn: Callable[[pd.DataFrame], Mapping[str, float]], *,
                       every_case: bool = False) -> CheckResult:
    """Check ``fn(grid) -> {config: rate}``.

    ``grid`` has one row per grid run, columns ``config``, ``lr`` and ``val_acc`` (the
    final validation accuracy in %, NaN for a run not recorded yet), as
    :func:`hybridlib.tuning.grid_table` returns it. The answer keeps, for each
    configuration whose runs are all recorded, the rate with the best validation
    accuracy, a tie going to the smaller rate; a configuration with a missing run is left
    out.
    """

    def case(rows):
        def run():
            grid = _grid(rows)
            want = chosen_rates(grid.copy())
            got = fn(grid.copy())
            if not isinstance(got, Mapping):
                raise AssertionError(f"expected a dict {{config: rate}}, got {type(got).__name__}")
            got = {str(k): float(v) for k, v in got.items()}
            if got != want:
                raise AssertionError(f"got {got}, expected {want}")

        return run

    cases = [(name, case(rows)) for name, rows in _GRID_CASES]
    return run_cases("check_chosen_rates", cases, every_case)


# (case name, step, total_steps, lr): the warm-up, the plateau, both drops and their edges.
_SCHEDULE_CASES: list[tuple[str, int, int, float]] = [
    ("the first step of the warm-up", 0, 1000, 0.1),
    ("the middle of the warm-up", 49, 1000, 0.1),
    ("the last step of the warm-up", 99, 1000, 0.1),
    ("the first step at the peak rate", 100, 1000, 0.1),
    ("the last step before the first drop", 499, 1000, 0.4),
    ("the first step after the first drop (half of the steps)", 500, 1000, 0.4),
    ("the first step after the second drop (two thirds)", 667, 1000, 0.4),
    ("the step just before two thirds", 666, 1000, 0.4),
    ("the last step", 999, 1000, 0.2),
    ("a run too short for a tenth of warm-up", 0, 5, 0.1),
    ("steps that do not divide evenly", 1757, 2346, 0.8),
]


def check_step_schedule(fn: Callable[[int, int, float], float], *,
                        every_case: bool = False) -> CheckResult:
    """Check ``fn(step, total_steps, lr) -> rate``, the ``step`` schedule.

    At optimiser step ``step`` (0-based) of ``total_steps``: a linear warm-up over the
    first tenth of the steps (at least one step), reaching ``lr`` at its last step; then
    ``lr``, divided by 10 from half of the steps and by 100 from two thirds of them.
    """

    def case(step, total, lr):
        def run():
            want = learning_rate(step, total, {"schedule": "step", "lr": lr})
            got = fn(step, total, lr)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise AssertionError(f"expected a number, got {got!r}") from None
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15):
                raise AssertionError(f"fn({step}, {total}, {lr}) returned {got:.6g}, "
                                     f"expected {want:.6g}")

        return run

    cases = [(name, case(step, total, lr)) for name, step, total, lr in _SCHEDULE_CASES]
    return run_cases("check_step_schedule", cases, every_case)
