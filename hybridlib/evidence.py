"""Run records -> what the evidence supports: intervals, paired comparisons, plateaus.

The tables chapter 6 reports, built on ``hybridlib.stats``:

* :func:`interval_table`: per data set and configuration, the mean test accuracy over
  seeds with its 95 % t-interval (never a gap divided by a standard deviation);
* :func:`headline_table`: those intervals beside the other means of one data set's runs;
* :func:`comparison_table`: for pairs of configurations, the difference tested by seed,
  by test image (from the per-image correctness every record stores) and by both as
  crossed random effects, each family Holm-corrected; no test draws random numbers, so
  no verdict depends on a random seed of the analysis;
* :func:`equivalence_table` and :func:`detectable_difference`: what the records rule out
  (two one-sided tests against a stated margin) and the smallest difference each family
  of comparisons could detect;
* :func:`plateau_table`: whether each run's validation accuracy had settled, the change
  over its last 20 % of epochs.

Records made before the per-image results or the validation split existed give NaN in
the columns that need them, and the tables say how many runs they rest on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hybridlib import stats
from hybridlib.extras import import_extra
from hybridlib.results import config_label, runs_table, summary_table
from hybridlib.runs import decode_correct

pd = import_extra("pandas", "book", __name__)

__all__ = [
    "CLAIM",
    "EQUIVALENCE_MARGIN",
    "HYBRID_COMPARISONS",
    "KINDS",
    "PAPER_GAIN",
    "VERDICT_KIND",
    "ablation_ranking",
    "comparison_table",
    "detectable_difference",
    "direction",
    "equivalence_table",
    "headline_table",
    "interval_table",
    "plateau_change",
    "plateau_span",
    "plateau_table",
    "verdict_test",
]

# The comparisons the experiment is designed for: (a, b) reads "a minus b".
HYBRID_COMPARISONS = (
    ("hybrid", "diffstride"),
    ("hybrid_at_gap", "diffstride"),
    ("hybrid_stem", "diffstride"),
    ("hybrid", "spectral"),
    ("spectral", "strided"),
    ("diffstride", "strided"),
)


def _by_config(records: Sequence[dict]) -> dict[tuple[str, str], dict[int, dict]]:
    """``{(dataset, config label): {seed: record}}``; a stride row is its own label."""
    out: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        c = r["settings"]
        out.setdefault((c["dataset"], config_label(r)), {})[c["seed"]] = r
    return out


def interval_table(records: Sequence[dict], level: float = 0.95) -> pd.DataFrame:
    """Mean test accuracy (%) over seeds with its t-interval, per data set and configuration.

    Columns: dataset, config, seeds, mean, low, high, half_width (NaN with one seed).
    """
    rows = []
    for (dataset, config), runs in _by_config(records).items():
        accs = [100 * r["final_test_acc"] for r in runs.values()]
        row = {"dataset": dataset, "config": config, "seeds": len(accs), "mean": np.mean(accs)}
        if len(accs) > 1:
            interval = stats.mean_interval(accs, level)
            row.update(low=interval.low, high=interval.high, half_width=interval.half_width)
        rows.append(row)
    columns = ["dataset", "config", "seeds", "mean", "low", "high", "half_width"]
    return pd.DataFrame(rows).reindex(columns=columns)


def headline_table(records: Sequence[dict], dataset: str, level: float = 0.95) -> pd.DataFrame:
    """Chapter 6's headline table: one row per configuration of ``dataset``'s runs.

    Rows follow ``hybridlib.configs.CONFIGS``. Columns: ``test acc. (%)`` (mean over
    seeds), ``95 % interval`` (``"low to high"``, empty with one seed), ``seeds``, and the
    means of ``train acc. (%)``, ``val. acc. (%)`` (NaN without a validation split),
    ``MFLOPs / image`` and ``images / s``.
    """
    runs = runs_table([r for r in records if r["settings"]["dataset"] == dataset])
    if runs.empty:
        raise ValueError(f"no run records for dataset={dataset!r}")
    summary = summary_table(runs).set_index("config")
    # Every column is aligned on the configuration, so no column can slip against another.
    ci = interval_table(records, level).query("dataset == @dataset").set_index("config")
    ci = ci.reindex(summary.index)
    interval = pd.Series([("" if np.isnan(lo) else f"{lo:.2f} to {hi:.2f}")
                          for lo, hi in zip(ci["low"], ci["high"])], index=summary.index)
    return pd.DataFrame({
        "test acc. (%)": ci["mean"],
        "95 % interval": interval,
        "seeds": summary.n_seeds,
        "train acc. (%)": summary.train_acc_mean,
        "val. acc. (%)": runs.groupby("config").val_acc.mean(),
        "MFLOPs / image": summary.gflops * 1e3,
        "images / s": summary.images_per_s,
    }, index=summary.index)


def _correct(record: dict) -> np.ndarray | None:
    text = record.get("test_correct")
    return None if text is None else decode_correct(text, record["test_size"])


KINDS = ("seed", "image", "crossed")  # the three paired tests of comparison_table
VERDICT_KIND = "crossed"  # the test the verdicts read: it counts both sources of noise


def comparison_table(
    records: Sequence[dict],
    pairs: Sequence[tuple[str, str]] = HYBRID_COMPARISONS,
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired comparisons ``a - b`` of test accuracy (points): by seed, by image, crossed.

    For each data set and each pair present, over the seeds both have:

    * ``seed_*``: the mean seed-paired difference with its t-interval and paired-t p
      (training noise, the test set fixed); ``seed_sd`` the paired differences' standard
      deviation and ``seed_r`` the correlation of the two configurations over seeds;
    * ``image_*``: the paired t-test over test images of the correctness averaged over
      those seeds (the test images' noise, the trained networks fixed);
    * ``crossed_*``: seeds and test images as crossed random effects
      (:func:`hybridlib.stats.crossed_difference`), both sources of noise; the verdicts
      (:func:`direction`) read this one.

    The three estimate one difference (``seed_diff == image_diff == crossed_diff``) with
    different intervals; none draws random numbers. ``*_p_holm`` are Holm-adjusted across
    the pairs of one data set, each kind of test on its own.
    """
    by_config = _by_config(records)
    rows = []
    for dataset in dict.fromkeys(d for d, _ in by_config):
        family = []
        for a, b in pairs:
            runs_a, runs_b = by_config.get((dataset, a)), by_config.get((dataset, b))
            if not runs_a or not runs_b:
                continue
            seeds = sorted(set(runs_a) & set(runs_b))
            row = {"dataset": dataset, "a": a, "b": b, "paired_seeds": len(seeds)}
            tests = {}
            if len(seeds) > 1:
                acc_a = [100 * runs_a[s]["final_test_acc"] for s in seeds]
                acc_b = [100 * runs_b[s]["final_test_acc"] for s in seeds]
                tests["seed"] = stats.paired_difference(acc_a, acc_b, level)
                row.update(seed_sd=float(np.std(np.subtract(acc_a, acc_b), ddof=1)),
                           seed_r=_correlation(acc_a, acc_b))
            correct_a = [_correct(runs_a[s]) for s in seeds]
            correct_b = [_correct(runs_b[s]) for s in seeds]
            if seeds and not any(c is None for c in (*correct_a, *correct_b)):
                tests["image"] = stats.paired_image_test(np.array(correct_a),
                                                         np.array(correct_b), level)
                if len(seeds) > 1:
                    tests["crossed"] = stats.crossed_difference(np.array(correct_a),
                                                                np.array(correct_b), level)
            for kind, interval in tests.items():
                row.update({f"{kind}_diff": interval.mean, f"{kind}_low": interval.low,
                            f"{kind}_high": interval.high, f"{kind}_p": interval.p})
            family.append(row)
        for kind in KINDS:
            tested = [r for r in family if f"{kind}_p" in r]
            for r, adjusted in zip(tested, stats.holm([r[f"{kind}_p"] for r in tested])):
                r[f"{kind}_p_holm"] = adjusted
        rows.extend(family)
    columns = ["dataset", "a", "b", "paired_seeds", "seed_sd", "seed_r"] + [
        f"{kind}_{field}" for kind in KINDS for field in ("diff", "low", "high", "p", "p_holm")
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


def _correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r of two configurations' accuracies over seeds (NaN if one is constant)."""
    if np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


EQUIVALENCE_MARGIN = 0.3  # points: the margin of every equivalence test in this book
PAPER_GAIN = 0.94  # points: the Hybrid paper's CIFAR-10 gain of hybrid over DiffStride


def equivalence_table(
    records: Sequence[dict],
    pairs: Sequence[tuple[str, str]] = HYBRID_COMPARISONS,
    margin: float = EQUIVALENCE_MARGIN,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Two one-sided tests (TOST) of ``|a - b| < margin`` for each pair, paired by seed.

    Columns: dataset, a, b, seeds, diff, low, high (the ``1 - 2 alpha`` interval: a
    difference beyond either end is ruled out by a one-sided test at ``alpha``), p_lower,
    p_upper, equivalent (both p below ``alpha``), and ``p_paper_gain``: the one-sided p
    that ``a - b`` is at least :data:`PAPER_GAIN` points.
    """
    by_config = _by_config(records)
    rows = []
    for dataset in dict.fromkeys(d for d, _ in by_config):
        for a, b in pairs:
            runs_a, runs_b = by_config.get((dataset, a), {}), by_config.get((dataset, b), {})
            seeds = sorted(set(runs_a) & set(runs_b))
            if len(seeds) < 2:
                continue
            acc_a = [100 * runs_a[s]["final_test_acc"] for s in seeds]
            acc_b = [100 * runs_b[s]["final_test_acc"] for s in seeds]
            test = stats.tost(acc_a, acc_b, margin, alpha)
            rows.append({"dataset": dataset, "a": a, "b": b, "seeds": len(seeds),
                         "diff": test.mean, "low": test.low, "high": test.high,
                         "p_lower": test.p_lower, "p_upper": test.p_upper,
                         "equivalent": test.equivalent,
                         "p_paper_gain": stats.tost(acc_a, acc_b, PAPER_GAIN, alpha).p_upper})
    columns = ["dataset", "a", "b", "seeds", "diff", "low", "high", "p_lower", "p_upper",
               "equivalent", "p_paper_gain"]
    return pd.DataFrame(rows, columns=columns)


def detectable_difference(comparisons: pd.DataFrame, alpha: float = 0.05,
                          power: float = 0.8) -> pd.DataFrame:
    """Per data set, the smallest true difference each family's seed-paired tests detect.

    Over the rows of ``comparisons`` (one family, a :func:`comparison_table`): the fewest
    paired seeds, the pooled standard deviation of the seed-paired differences, the
    family's size and :func:`hybridlib.stats.minimal_detectable_difference` at
    ``power``, judged at Holm's first step (``alpha`` over the family's size).
    """
    rows = []
    for dataset, family in comparisons.dropna(subset=["seed_sd"]).groupby("dataset", sort=False):
        seeds = int(family.paired_seeds.min())
        sd = float(np.sqrt(np.mean(family.seed_sd**2)))
        rows.append({"dataset": dataset, "seeds": seeds, "comparisons": len(family), "sd": sd,
                     "detectable": stats.minimal_detectable_difference(
                         sd, seeds, alpha, power, family=len(family))})
    return pd.DataFrame(rows, columns=["dataset", "seeds", "comparisons", "sd", "detectable"])


def plateau_span(epochs: int, share: float = 0.2) -> int:
    """How many of the last epochs the plateau criterion looks at.

    The last ``share * epochs`` epochs, rounded to the nearest whole number (at least
    one), and the epoch before them, so that a run still climbing in its final epochs
    shows it: for 6 epochs and a fifth, epochs 5 and 6, a span of 2.
    """
    return min(epochs, max(1, math.floor(share * epochs + 0.5)) + 1)


def plateau_change(values: Sequence[float], share: float = 0.2) -> float:
    """Largest change (max - min) of ``values`` (one per epoch) over their
    :func:`plateau_span`; NaN for fewer than two epochs."""
    values = list(values)
    if len(values) < 2:
        return math.nan
    span = values[-plateau_span(len(values), share) :]
    return max(span) - min(span)


def plateau_table(
    records: Sequence[dict], share: float = 0.2, tolerance: float = 0.3
) -> pd.DataFrame:
    """Per run: the validation accuracy's change (points) over its last ``share`` of epochs.

    Columns: dataset, config, seed, epochs, change, settled (change < ``tolerance``);
    NaN and None for a run without a validation split.
    """
    rows = []
    for r in records:
        c = r["settings"]
        val = [100 * e["val_acc"] for e in r["epochs"] if e.get("val_acc") is not None]
        change = plateau_change(val, share) if len(val) == len(r["epochs"]) else math.nan
        rows.append(
            {
                "dataset": c["dataset"], "config": config_label(r), "seed": c["seed"],
                "epochs": len(r["epochs"]), "change": change,
                "settled": None if math.isnan(change) else bool(change < tolerance),
            }
        )
    return pd.DataFrame(rows, columns=["dataset", "config", "seed", "epochs", "change", "settled"])


def verdict_test(row) -> str | None:
    """The test a verdict on ``row`` reads: the crossed one, else (no per-image record)
    the seed-paired one; None with fewer than two paired seeds."""
    for kind in (VERDICT_KIND, "seed"):
        if not math.isnan(row.get(f"{kind}_diff", math.nan)):
            return kind
    return None


def direction(row) -> int | None:
    """+1 or -1 when a comparison row shows ``a`` above or below ``b``, 0 when it does not
    show a difference, None with fewer than two paired seeds.

    Shown means: the interval of the crossed seed x image test (which counts the noise of
    training and of the test images) excludes zero, with Holm-adjusted p < 0.05. Records
    without per-image results fall back on the seed-paired test.
    """
    kind = verdict_test(row)
    if kind is None:
        return None
    low, high = row[f"{kind}_low"], row[f"{kind}_high"]
    sign = 1 if low > 0 else -1 if high < 0 else 0
    return sign if sign and row[f"{kind}_p_holm"] < 0.05 else 0


CLAIM = ("hybrid", "diffstride")  # the Hybrid paper's claim: hybrid above DiffStride


def ablation_ranking(records: Sequence[dict], configs: Sequence[str]) -> dict[str, list[str]]:
    """Which of ``configs`` is the lowest and the highest in every seed all of them share.

    Returns ``{"lowest": [...], "highest": [...]}``: the configuration ranked last (first)
    by test accuracy in each such seed, if it is the same in all of them (else an empty
    list, as with no shared seed). Pass the records of one data set.
    """
    by_config = _by_config(records)
    runs = {c: r for (_, c), r in by_config.items() if c in configs}
    seeds = set.intersection(*(set(r) for r in runs.values())) if runs else set()
    if len(runs) < 2 or not seeds:
        return {"lowest": [], "highest": []}
    lowest, highest = set(), set()
    for seed in seeds:
        accs = {c: r[seed]["final_test_acc"] for c, r in runs.items()}
        lowest.add(min(accs, key=accs.get))
        highest.add(max(accs, key=accs.get))
    return {"lowest": sorted(lowest) if len(lowest) == 1 else [],
            "highest": sorted(highest) if len(highest) == 1 else []}
