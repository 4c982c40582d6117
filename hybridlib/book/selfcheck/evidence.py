"""Self-checks for the exercises of chapter 6 (the results).

* :func:`check_seed_paired_interval`: ``fn(records_a, records_b) -> (mean, low, high)``,
  the seed-paired difference of two configurations' test accuracies with its 95 %
  t-interval, against :func:`hybridlib.stats.paired_difference`.
* :func:`check_holm`: ``fn(p_values) -> adjusted``, Holm's step-down adjustment, against
  :func:`hybridlib.stats.holm`.

Both use :func:`~hybridlib.book.selfcheck.core.run_cases`: a wrong answer raises an
``AssertionError`` naming the case, a passing check reads "all N cases pass".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hybridlib import stats
from hybridlib.book.selfcheck.core import CheckResult, run_cases

__all__ = ["check_holm", "check_seed_paired_interval"]


def _records(config: str, accuracies: dict[int, float]) -> list[dict]:
    """Run records reduced to what the exercise reads: the seed and the test accuracy."""
    return [{"settings": {"config": config, "seed": seed, "dataset": "fashion_mnist"},
             "final_test_acc": acc} for seed, acc in accuracies.items()]


# (case name, accuracies of a by seed, of b by seed), as fractions like the records'.
_PAIR_CASES: list[tuple[str, dict[int, float], dict[int, float]]] = [
    ("five seeds, in order", {0: 0.912, 1: 0.915, 2: 0.909, 3: 0.913, 4: 0.911},
     {0: 0.910, 1: 0.911, 2: 0.910, 3: 0.909, 4: 0.912}),
    ("records in different orders",
     {3: 0.9013, 0: 0.8998, 2: 0.9041, 1: 0.9002}, {0: 0.8963, 1: 0.8991, 2: 0.9012, 3: 0.8970}),
    ("only the seeds both configurations have are paired",
     {0: 0.90, 1: 0.91, 2: 0.92, 5: 0.70}, {1: 0.905, 2: 0.90, 0: 0.895, 7: 0.99}),
    ("two seeds: a wide t-interval", {0: 0.88, 1: 0.89}, {0: 0.87, 1: 0.875}),
    ("a negative difference", {0: 0.80, 1: 0.81, 2: 0.79}, {0: 0.83, 1: 0.82, 2: 0.825}),
    ("pairing matters: the seeds move together",
     {0: 0.85, 1: 0.90, 2: 0.95}, {0: 0.849, 1: 0.898, 2: 0.949}),
]


def check_seed_paired_interval(
        fn: Callable[[Sequence[dict], Sequence[dict]], tuple[float, float, float]], *,
        every_case: bool = False) -> CheckResult:
    """Check ``fn(records_a, records_b) -> (mean, low, high)``.

    ``records_a`` and ``records_b`` are the run records of two configurations on one data
    set, in any order: ``record["settings"]["seed"]`` is a run's seed and
    ``record["final_test_acc"]`` its test accuracy as a fraction. The answer pairs the
    runs by seed (the seeds both have), takes ``a - b`` in points of accuracy (100 times
    the fractions) and returns the mean difference with its two-sided 95 % t-interval.
    """

    def case(a, b):
        def run():
            seeds = sorted(set(a) & set(b))
            want = stats.paired_difference([100 * a[s] for s in seeds],
                                           [100 * b[s] for s in seeds])
            got = fn(_records("a", a), _records("b", b))
            try:
                mean, low, high = (float(v) for v in got)
            except (TypeError, ValueError):
                raise AssertionError(f"expected (mean, low, high), got {got!r}") from None
            for what, value, expected in (("mean", mean, want.mean), ("low", low, want.low),
                                          ("high", high, want.high)):
                if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
                    raise AssertionError(
                        f"{what} is {value:.4f}, expected {expected:.4f} (the interval "
                        f"{want.mean:.4f} [{want.low:.4f}, {want.high:.4f}] points over "
                        f"{len(seeds)} paired seeds)")

        return run

    cases = [(name, case(a, b)) for name, a, b in _PAIR_CASES]
    return run_cases("check_seed_paired_interval", cases, every_case)


# (case name, p-values in the order given).
_HOLM_CASES: list[tuple[str, list[float]]] = [
    ("one p-value is its own adjustment", [0.03]),
    ("three p-values, sorted", [0.01, 0.02, 0.04]),
    ("three p-values, the order given is kept", [0.04, 0.01, 0.02]),
    ("adjusted values never fall below an earlier step's", [0.001, 0.0105, 0.011, 0.5]),
    ("adjusted values are at most 1", [0.3, 0.6, 0.45]),
    ("ties", [0.02, 0.02, 0.5, 0.001]),
    ("a family of twelve, as the ablation's",
     [0.81, 0.002, 0.04, 0.33, 0.0004, 0.07, 0.5, 0.012, 0.9, 0.2, 0.03, 0.6]),
]


def check_holm(fn: Callable[[Sequence[float]], Sequence[float]], *,
               every_case: bool = False) -> CheckResult:
    """Check ``fn(p_values) -> adjusted``, Holm's adjusted p-values in the order given.

    Sorted from the smallest, the k-th of m p-values (k from 0) is multiplied by m - k;
    an adjusted value is never smaller than the one before it in that order, and never
    above 1. A comparison is shown at level 0.05 exactly when its adjusted p is below it.
    """

    def case(p_values):
        def run():
            want = stats.holm(p_values)
            got = fn(list(p_values))
            try:
                got = [float(v) for v in got]
            except (TypeError, ValueError):
                raise AssertionError(f"expected a list of numbers, got {got!r}") from None
            if len(got) != len(want):
                raise AssertionError(f"{len(got)} adjusted values for {len(want)} p-values")
            for i, (g, w) in enumerate(zip(got, want)):
                if not math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12):
                    raise AssertionError(f"p = {p_values[i]} (position {i}) is adjusted to "
                                         f"{g:.4g}, expected {w:.4g} (all: "
                                         f"{[round(v, 4) for v in want]})")

        return run

    cases = [(name, case(p)) for name, p in _HOLM_CASES]
    return run_cases("check_holm", cases, every_case)
