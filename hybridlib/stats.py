"""Statistics for comparing configurations over few seeds and one shared test set.

With a handful of seeds a mean needs its t-interval (with n = 2 the 95 % half-width is
12.7 standard errors), and a gap divided by a pooled standard deviation is not a z-score.
Two designs give more power per CPU-hour: pairing runs by seed (same initialisation
seed, same data order) and pairing predictions by test image (every run sees the same
test images). This module provides both, and Holm's correction for a family of
comparisons. Everything is plain numpy and the standard library (the t quantile comes
from a regularised incomplete beta function); the tests check it against scipy.stats and
statsmodels.

No test here draws random numbers: a verdict computed from these functions is the same
every time it is computed.

Which noise each test counts:

* :func:`paired_difference` (by seed): the run-to-run noise of training, with the test
  set held fixed;
* :func:`paired_image_test` (by test image): the sampling noise of the test images, with
  the trained networks held fixed, so it cannot say whether training again would keep
  a difference;
* :func:`crossed_difference` (seed x image): both, as random effects of a crossed
  design; the test the book's verdicts read.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Equivalence",
    "Interval",
    "crossed_difference",
    "holm",
    "mcnemar",
    "mean_interval",
    "minimal_detectable_difference",
    "paired_difference",
    "paired_image_test",
    "quartiles",
    "t_cdf",
    "t_quantile",
    "tost",
]


@dataclass(frozen=True)
class Interval:
    """A mean (or mean difference) with its two-sided confidence interval.

    ``p`` is the two-sided p-value of "the true value is 0" where it applies; ``se`` and
    ``df`` are the standard error and the degrees of freedom of the t distribution the
    interval and ``p`` come from.
    """

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95
    p: float | None = None
    se: float | None = None
    df: float | None = None

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


def _t_interval(mean: float, se: float, df: float, n: int, level: float) -> Interval:
    """The ``level`` interval and two-sided p of a mean with standard error ``se``, t(df)."""
    half = t_quantile(0.5 + level / 2, df) * se
    # The lower tail, doubled: 1 - cdf would round a far tail to exactly zero.
    p = 2 * t_cdf(-abs(mean) / se, df) if se > 0 else (0.0 if mean != 0 else 1.0)
    return Interval(mean, mean - half, mean + half, n, level, p, se, df)


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``values`` (one per seed) with its ``level`` t-interval, and the p of mean = 0."""
    x = _values(values, "mean_interval")
    n = len(x)
    return _t_interval(float(x.mean()), float(x.std(ddof=1) / math.sqrt(n)), n - 1, n, level)


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


def _correct_matrices(correct_a, correct_b, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two boolean ``[runs, images]`` arrays as float, checked to have one shape."""
    a = np.atleast_2d(np.asarray(correct_a, dtype=float))
    b = np.atleast_2d(np.asarray(correct_b, dtype=float))
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(
            f"{name} needs two [runs, images] arrays of one shape with at least two images, "
            f"got {a.shape} and {b.shape}"
        )
    return a, b


def paired_image_test(correct_a, correct_b, level: float = 0.95) -> Interval:
    """Accuracy difference ``a - b`` (points) of trained networks, paired by test image.

    Args:
        correct_a, correct_b: boolean ``[runs, images]`` (or ``[images]``): whether each
            run classified each test image correctly, runs paired by seed. The runs of
            a configuration are averaged per image.

    A paired t-test on the per-image differences, with ``images - 1`` degrees of freedom.
    It holds the networks fixed: the interval says how far the test images' sampling
    moves the difference, not how far training again would (see
    :func:`crossed_difference`). With a single run per side it is the large-sample form
    of McNemar's test.
    """
    a, b = _correct_matrices(correct_a, correct_b, "paired_image_test")
    diff = 100.0 * (a.mean(0) - b.mean(0))
    n = len(diff)
    return _t_interval(float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(n)), n - 1, n,
                       level)


def crossed_difference(correct_a, correct_b, level: float = 0.95) -> Interval:
    """Accuracy difference ``a - b`` (points) counting the noise of seeds and of test images.

    Args:
        correct_a, correct_b: boolean ``[seeds, images]``, row ``s`` of both from runs
            with seed ``s``; at least two seeds.

    The per-run, per-image differences ``d[s, i]`` follow a crossed random-effects model,
    ``d = mu + seed_s + image_i + residual``, and the mean's variance is estimated from the
    two-way analysis of variance without replication as
    ``(MS_seed + MS_image - MS_residual) / (S N)``: the variance of the seed means over
    ``S`` (what the seed-paired t-test uses, observed directly) plus ``var(image) / N``,
    what sampling other test images adds; that component is set to zero where it is
    estimated below zero. The degrees of freedom are Satterthwaite's for that combination
    of mean squares, capped at ``S - 1``: the seed term rests on ``S - 1`` degrees of
    freedom, and with a handful of seeds a small, noisy estimate of it must not lend the
    interval more certainty than the seeds hold (with 3 seeds Satterthwaite's formula can
    give 17). So the interval is never narrower than a t-interval with ``S - 1`` degrees
    of freedom on the same standard error.
    """
    a, b = _correct_matrices(correct_a, correct_b, "crossed_difference")
    d = 100.0 * (a - b)
    s, n = d.shape
    if s < 2:
        raise ValueError(f"crossed_difference needs at least two seeds, got {s}")
    grand = d.mean()
    seed_means, image_means = d.mean(1), d.mean(0)
    ms_seed = n * float(np.sum((seed_means - grand) ** 2)) / (s - 1)
    ms_image = s * float(np.sum((image_means - grand) ** 2)) / (n - 1)
    residual = d - seed_means[:, None] - image_means[None, :] + grand
    ms_residual = float(np.sum(residual**2)) / ((s - 1) * (n - 1))
    # The variance of the mean times S N as a combination of independent mean squares,
    # (coefficient, MS, df): MS_seed, plus MS_image - MS_residual where that is positive.
    combination = [(1.0, ms_seed, s - 1)]
    if ms_image > ms_residual:
        combination += [(1.0, ms_image, n - 1), (-1.0, ms_residual, (s - 1) * (n - 1))]
    variance = sum(c * ms for c, ms, _ in combination)
    spread = sum((c * ms) ** 2 / df for c, ms, df in combination)
    df = min(variance**2 / spread, s - 1) if spread > 0 else s - 1
    return _t_interval(float(grand), math.sqrt(variance / (s * n)), df, s, level)


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests (TOST) of ``|true difference| < margin`` for paired values.

    ``p_lower`` tests "difference <= -margin", ``p_upper`` "difference >= +margin"; the
    difference is shown to lie within the margin when both are below alpha (``p`` is the
    larger). ``low`` and ``high`` are the ``1 - 2 alpha`` interval's ends: a difference
    above ``high`` (below ``low``) is ruled out by a one-sided test at ``alpha``.
    """

    mean: float
    margin: float
    p_lower: float
    p_upper: float
    low: float
    high: float
    n: int
    alpha: float = 0.05

    @property
    def p(self) -> float:
        return max(self.p_lower, self.p_upper)

    @property
    def equivalent(self) -> bool:
        return self.p < self.alpha


def tost(a: Sequence[float], b: Sequence[float], margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST of ``a[i] - b[i]`` (paired by seed) against the margin ``+-margin``.

    Each one-sided test is a paired t-test with ``n - 1`` degrees of freedom.
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    interval = paired_difference(a, b, level=1 - 2 * alpha)
    se, df = interval.se, interval.df
    if se == 0:
        inside = -margin < interval.mean < margin
        p_lower = p_upper = 0.0 if inside else 1.0
    else:
        p_lower = 1 - t_cdf((interval.mean + margin) / se, df)
        p_upper = t_cdf((interval.mean - margin) / se, df)
    return Equivalence(interval.mean, margin, p_lower, p_upper, interval.low, interval.high,
                       interval.n, alpha)


def minimal_detectable_difference(
    sd: float, n: int, alpha: float = 0.05, power: float = 0.8, family: int = 1
) -> float:
    """The smallest true paired difference a seed-paired t-test detects with ``power``.

    Two-sided at ``alpha / family`` (the first step of Holm's method in a family of
    ``family`` comparisons, where the strongest difference is judged), ``n`` seeds, paired
    standard deviation ``sd``: ``(t(1 - alpha/(2 family), n-1) + t(power, n-1)) sd / sqrt(n)``,
    the usual approximation of the noncentral t's power.
    """
    if n < 2:
        raise ValueError(f"a paired t-test needs at least two seeds, got {n}")
    if family < 1:
        raise ValueError(f"family must be at least 1, got {family}")
    level = alpha / family
    quantiles = t_quantile(1 - level / 2, n - 1) + t_quantile(power, n - 1)
    return quantiles * sd / math.sqrt(n)


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


def quartiles(values: Sequence[float]) -> dict[str, float]:
    """The median and the quartiles of ``values`` (all three the value itself for one):
    how a benchmark reports a time or a ratio measured round after round."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": q1, "q3": q3}
