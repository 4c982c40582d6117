"""Statistics for comparing configurations over few seeds and one shared test set.

With a handful of seeds a mean needs its t-interval (with n = 2 the 95 % half-width is
12.7 standard errors), and a gap divided by a pooled standard deviation is not a z-score.
Two designs give more power per CPU-hour: pairing runs by seed (same initialisation
seed, same data order) and pairing predictions by test image (every run sees the same
test images). This module provides both, and Holm's correction for a family of
comparisons. Everything is plain numpy and the standard library (the t quantile comes
from a regularised incomplete beta function); the tests check it against scipy.stats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Interval",
    "holm",
    "mcnemar",
    "mean_interval",
    "paired_bootstrap",
    "paired_difference",
    "t_cdf",
    "t_quantile",
]


@dataclass(frozen=True)
class Interval:
    """A mean (or mean difference) with its two-sided confidence interval.

    ``p`` is the two-sided p-value of "the true value is 0" where it applies.
    """

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95
    p: float | None = None

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df!r}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on :func:`t_cdf`, to 1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie strictly between 0 and 1, got {q!r}")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        low, high = (mid, high) if t_cdf(mid, df) < q else (low, mid)
        if high - low < 1e-12:
            break
    return (low + high) / 2.0


def _values(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(f"{name} needs at least two values, got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``values`` (one per seed) with its ``level`` t-interval, and the p of mean = 0."""
    x = _values(values, "mean_interval")
    n = len(x)
    mean, se = float(x.mean()), float(x.std(ddof=1) / math.sqrt(n))
    half = t_quantile(0.5 + level / 2, n - 1) * se
    p = 2 * (1 - t_cdf(abs(mean) / se, n - 1)) if se > 0 else (0.0 if mean != 0 else 1.0)
    return Interval(mean, mean - half, mean + half, n, level, p)


def paired_difference(
    a: Sequence[float], b: Sequence[float], level: float = 0.95
) -> Interval:
    """Mean of ``a[i] - b[i]`` (paired by seed) with its t-interval and paired-t p-value."""
    x, y = _values(a, "paired_difference a"), _values(b, "paired_difference b")
    if len(x) != len(y):
        raise ValueError(f"paired values need equal lengths, got {len(x)} and {len(y)}")
    return mean_interval(x - y, level)


def _correct(predictions, labels, name: str) -> np.ndarray:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(
            f"{name}: predictions and labels must be 1-D of one length, got "
            f"{predictions.shape} and {labels.shape}"
        )
    return predictions == labels


def mcnemar(
    predictions_a: Sequence[int], predictions_b: Sequence[int], labels: Sequence[int]
) -> dict:
    """Exact McNemar test on the test images where exactly one of two runs is right.

    Returns ``{"a_only": n10, "b_only": n01, "p": two-sided exact binomial p}``.
    """
    right_a = _correct(predictions_a, labels, "mcnemar a")
    right_b = _correct(predictions_b, labels, "mcnemar b")
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return {"a_only": 0, "b_only": 0, "p": 1.0}
    # P(X <= k) for X ~ Binomial(n, 1/2), doubled, in log space for large n.
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
        for i in range(k + 1)
    ]
    top = max(log_terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return {"a_only": a_only, "b_only": b_only, "p": min(1.0, 2 * tail)}


def paired_bootstrap(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    level: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Accuracy difference of two sets of runs, resampling test images (paired).

    Args:
        correct_a, correct_b: boolean ``[runs, images]`` (or ``[images]``): whether each
            run classified each test image correctly. Runs of a configuration are
            averaged per image, then images are resampled with replacement.

    Returns the difference in accuracy points (``a - b``, in %) with a percentile
    interval; ``p`` is the two-sided bootstrap p-value of a zero difference, counted with
    the add-one rule, ``2 (k + 1) / (resamples + 1)``, so that a finite number of
    resamples never claims ``p = 0``.
    """
    a = np.atleast_2d(np.asarray(correct_a, dtype=float)).mean(0)
    b = np.atleast_2d(np.asarray(correct_b, dtype=float)).mean(0)
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap needs one test set, got {a.shape} and {b.shape}")
    diff = 100.0 * (a - b)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 500):  # bounded memory for large test sets
        idx = rng.integers(0, len(diff), size=(min(500, resamples - start), len(diff)))
        means[start : start + len(idx)] = diff[idx].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    beyond_zero = min(int(np.sum(means <= 0)), int(np.sum(means >= 0)))
    p = min(1.0, 2 * (beyond_zero + 1) / (resamples + 1))
    return Interval(float(diff.mean()), float(low), float(high), len(diff), level, p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (family-wise error control)."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()
