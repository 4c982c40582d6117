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
import pandas as pd

from hybridlib import stats
from hybridlib.configs import MAIN_CONFIGS
from hybridlib.formatting import dataset_name, signed
from hybridlib.results import config_label, hybrid_baseline_check, runs_table, summary_table
from hybridlib.train import decode_correct

__all__ = [
    "CLAIM",
    "EQUIVALENCE_MARGIN",
    "HYBRID_COMPARISONS",
    "PAPER_GAIN",
    "ablation_ranking",
    "ablation_sentence",
    "baselines_sentence",
    "claim_equivalence",
    "comparison_table",
    "conclusion",
    "detectable_difference",
    "direction",
    "describe_comparisons",
    "equivalence_sentence",
    "equivalence_table",
    "format_comparisons",
    "format_equivalence",
    "glance",
    "headline_table",
    "interval_table",
    "p_text",
    "pairing_sentence",
    "plateau_span",
    "plateau_table",
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
        c = r["config"]
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
    runs = runs_table([r for r in records if r["config"]["dataset"] == dataset])
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
        c = r["config"]
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


# ---------------------------------------------------------------------- for the reader
def _end(x: float) -> str:
    """An interval's end, ``+0.36``; one that rounds to 0.00 gets the decimals (up to 4)
    that show its side of zero, ``+0.002``, as the verdict beside it rests on that side."""
    decimals = 2
    while x != 0 and decimals < 4 and round(x, decimals) == 0:
        decimals += 1
    return signed(x, decimals)


def _bracket(low: float, high: float) -> str:
    return f"[{_end(low)}, {_end(high)}]"


def _interval_text(mean: float, low: float, high: float) -> str:
    return f"{signed(mean)} {_bracket(low, high)}"


def p_text(p: float) -> str:
    """A p-value for the reader: two significant digits, and no smaller than 0.0001."""
    return "< 0.0001" if p < 1e-4 else f"{p:#.2g}"


def format_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison_table` as a reader's table: one row per pair, intervals as text.

    Shows the seed-paired test and the crossed seed x image test (the one the verdicts
    read); the per-image test stays in ``table``.
    """
    rows = []
    for _, r in table.iterrows():
        row = {"data set": r.dataset, "comparison": f"{r.a} − {r.b}", "seeds": r.paired_seeds}
        for kind, title in (("seed", "by seed"), ("crossed", "seed × image")):
            diff = r[f"{kind}_diff"]
            row[f"{title}: mean [95 % CI]"] = (
                "" if math.isnan(diff)
                else _interval_text(diff, r[f"{kind}_low"], r[f"{kind}_high"]))
            row[f"{title}: p (Holm)"] = (
                "" if math.isnan(r[f"{kind}_p_holm"]) else p_text(r[f"{kind}_p_holm"]))
        rows.append(row)
    return pd.DataFrame(rows).set_index(["data set", "comparison"])


def _kind(row) -> str | None:
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
    kind = _kind(row)
    if kind is None:
        return None
    low, high = row[f"{kind}_low"], row[f"{kind}_high"]
    sign = 1 if low > 0 else -1 if high < 0 else 0
    return sign if sign and row[f"{kind}_p_holm"] < 0.05 else 0


def _not_shown(row) -> str:
    """Why :func:`direction` gives 0 for ``row``, in words."""
    kind = _kind(row)
    if row[f"{kind}_low"] <= 0 <= row[f"{kind}_high"]:
        return ("no difference these runs can show; a true difference, if any, is likely "
                "inside that interval.")
    return ("the interval excludes zero on its own, but not after Holm's correction "
            f"(adjusted p = {p_text(row[f'{kind}_p_holm'])}), so no difference is shown.")


def _interval_sentence(row) -> str:
    """``+0.18 points, 95 % interval [−0.04, +0.40] over 5 seeds (seeds and test images)``."""
    kind = _kind(row)
    noise = "seeds and test images" if kind == VERDICT_KIND else "seeds"
    return (f"{signed(row[f'{kind}_diff'])} points, 95 % interval "
            f"{_bracket(row[f'{kind}_low'], row[f'{kind}_high'])} over {row.paired_seeds} "
            f"seeds (counting the noise of {noise})")


def _judged(table: pd.DataFrame, name):
    """Each comparison row with its label (``a − b on <data set>``) and :func:`direction`."""
    for _, r in table.iterrows():
        yield r, f"`{r.a}` − `{r.b}` on {name(r.dataset)}", direction(r)


def describe_comparisons(table: pd.DataFrame, name=lambda dataset: dataset) -> str:
    """A Markdown list, one sentence per comparison saying what its test supports.

    A difference is called shown only when the crossed test's interval excludes zero and
    its Holm-adjusted p is below 0.05 (see :func:`direction`); otherwise the sentence
    says why it is not.
    """
    sentences = []
    for r, what, shown in _judged(table, name):
        if shown is None:
            sentences.append(f"{what}: fewer than two paired seeds, no interval.")
            continue
        verdict = (f"a difference these runs show (Holm-adjusted p = "
                   f"{p_text(r[f'{_kind(r)}_p_holm'])})." if shown else _not_shown(r))
        sentences.append(f"{what}: {_interval_sentence(r)}: {verdict}")
    return "\n".join(f"* {sentence}" for sentence in sentences)


CLAIM = ("hybrid", "diffstride")  # the Hybrid paper's claim: hybrid above DiffStride

# What a shown difference means where the names suggest something else.
MEANING = {
    ("hybrid_at_gap", "diffstride"): (
        " That network computes DiffStride's function with a rescaled last layer (the "
        "architectures chapter), so the difference is what the rescaling does to training, "
        "not an effect of spectral pooling."
    ),
}


def claim_equivalence(row) -> str:
    """What an :func:`equivalence_table` row rules out, in words (for :data:`CLAIM`)."""
    margin = EQUIVALENCE_MARGIN
    text = (f"Over {row.seeds} seeds, a gain of `{row.a}` over `{row.b}` larger than "
            f"{row.high:.2f} points is ruled out (one-sided test at 5 %), and so is the Hybrid "
            f"paper's {signed(PAPER_GAIN)} (p = {p_text(row.p_paper_gain)}). ")
    if row.equivalent:
        return text + (f"The two lie within ±{margin} points of each other (two one-sided "
                       f"tests, p = {p_text(max(row.p_lower, row.p_upper))}).")
    return text + (f"That they lie within ±{margin} points of each other is not shown either "
                   f"(two one-sided tests, p = {p_text(max(row.p_lower, row.p_upper))}): "
                   "these runs cannot tell a small gain from none.")


def conclusion(
    comparisons: pd.DataFrame, plateau: pd.DataFrame, recorded: int, declared: int,
    name=lambda dataset: dataset, equivalence: pd.DataFrame | None = None,
) -> str:
    """The results chapter's conclusion box (MyST admonition), generated from the tables.

    Args:
        comparisons: :func:`comparison_table` of :data:`HYBRID_COMPARISONS`.
        plateau: :func:`plateau_table` of the same records.
        recorded, declared: runs recorded and runs the profile declares.
        equivalence: :func:`equivalence_table` of the same records; its :data:`CLAIM`
            row adds what the records rule out.
    """
    lines = []
    for r, what, shown in _judged(comparisons, name):
        if shown is None:
            lines.append(f"{what}: {r.paired_seeds} paired seed so far, no interval yet.")
            continue
        words = {1: "higher", -1: "lower", 0: None}[shown]
        lines.append(
            f"{what}: {_interval_sentence(r)}: "
            + (f"`{r.a}` is {words}." + MEANING.get((r.a, r.b), "")
               if words else _not_shown(r))
        )
        if (r.a, r.b) == CLAIM:
            verdict = {1: "supports", -1: "contradicts", 0: "does not support"}[shown]
            lines[-1] += f" This {verdict} the Hybrid paper's claim at this scale."
            if equivalence is not None:
                row = equivalence[(equivalence.dataset == r.dataset) & (equivalence.a == r.a)
                                  & (equivalence.b == r.b)]
                if len(row):
                    lines[-1] += " " + claim_equivalence(row.iloc[0])
    settled = plateau.settled.dropna()
    if len(settled):
        lines.append(
            f"{int(settled.sum())} of {len(settled)} runs changed by less than 0.3 points of "
            "validation accuracy over their last fifth of epochs and the epoch before. At the "
            "end of a step schedule, whose last epochs run at its lowest learning rate, "
            "that says the schedule had ended, not that longer training would not change "
            "the numbers."
        )
    status = (
        f"All {declared} runs of the profile are recorded."
        if recorded >= declared
        else f"The sweep is incomplete: {recorded} of {declared} runs are recorded, so every "
        "statement here is provisional."
    )
    scope = (
        "Not supported by anything here: any statement about CIFAR-10 or CIFAR-100, the "
        "full-width network or hundreds of epochs. The paper-scale runs (the `paper` "
        "profile, on GPUs) are not among this book's records."
    )
    bullets = "\n".join(f"* {line}" for line in (status, *lines, scope))
    return f"```{{admonition}} What this experiment supports\n:class: conclusion\n{bullets}\n```"


def baselines_sentence() -> str:
    """What the papers' own numbers say about the Hybrid paper's baselines, in words."""
    check = hybrid_baseline_check()
    c10, c100 = check.loc["cifar10"], check.loc["cifar100"]
    return (
        f"The papers' own numbers: the Hybrid paper's CIFAR-100 baseline, "
        f"{c100['baseline (Hybrid paper)']:.1f} %, is the DiffStride paper's "
        f"{c100['baseline equals']}, not its DiffStride mean "
        f"({c100['DiffStride mean (DiffStride paper)']:.1f} %); against that, the hybrid's "
        f"{c100['hybrid (Hybrid paper)']:.2f} % is a gain of "
        f"{signed(c100['gain over DiffStride mean'])} points, not "
        f"{signed(c100['gain claimed'])}. On CIFAR-10 the official DiffStride README reports "
        f"{c10['DiffStride (official README, 1,1,2,2,2)']:.2f} % for DiffStride (another "
        f"recipe), above the hybrid's {c10['hybrid (Hybrid paper)']:.2f} %."
    )


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


def glance(records: Sequence[dict], declared: int, name=dataset_name) -> str:
    """The intro page's "results at a glance" (Markdown): the mean test accuracy of the
    papers' four configurations with 95 % intervals, then the :func:`conclusion` box."""
    intervals = interval_table(records)
    lines = []
    for _, r in intervals[intervals.config.isin(MAIN_CONFIGS)].iterrows():
        spread = "" if math.isnan(r.low) else f" (95 % interval {r.low:.2f} to {r.high:.2f})"
        seeds = f"{r.seeds} seed" + ("s" if r.seeds != 1 else "")
        lines.append(f"`{r.config}` {r['mean']:.2f} %{spread} over {seeds}")
    means = (
        "Mean test accuracy on " + "; ".join(
            f"{name(d)}: " + ", ".join(lines) for d in dict.fromkeys(intervals.dataset)
        ) + "."
        if lines else "No run is recorded yet."
    )
    box = conclusion(comparison_table(records), plateau_table(records), len(records), declared,
                     name, equivalence_table(records))
    box = box.replace("\n```", f"\n* {baselines_sentence()}\n```")
    return f"{means}\n\n{box}\n"



def pairing_sentence(comparisons: pd.DataFrame, name=lambda dataset: dataset) -> str:
    """How much pairing by seed bought for the :data:`CLAIM` pair: the correlation of the
    two configurations' accuracies over seeds, in words (empty without that pair)."""
    rows = comparisons[(comparisons.a == CLAIM[0]) & (comparisons.b == CLAIM[1])
                       & comparisons.seed_r.notna()]
    if rows.empty:
        return ""
    parts = []
    for r in rows.itertuples():
        strength = ("almost nothing" if abs(r.seed_r) < 0.3 else
                    "some of the run-to-run noise" if abs(r.seed_r) < 0.7 else
                    "much of the run-to-run noise")
        where = f" on {name(r.dataset)}" if len(rows) > 1 else ""
        parts.append(f"For `{r.a}` and `{r.b}`{where} the correlation of their test "
                     f"accuracies over {r.paired_seeds} seeds is r = {r.seed_r:.2f}, so "
                     f"pairing removes {strength} there.")
    return ("Pairing by seed removes noise only where the two configurations' runs move "
            "together. " + " ".join(parts))


def format_equivalence(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`equivalence_table` as a reader's table, one row per pair."""
    rows = []
    for _, r in table.iterrows():
        rows.append({
            "data set": r.dataset, "comparison": f"{r.a} − {r.b}", "seeds": r.seeds,
            "mean [90 % CI]": _interval_text(r["diff"], r.low, r.high),
            "TOST p": p_text(max(r.p_lower, r.p_upper)),
            f"within ±{EQUIVALENCE_MARGIN}": "shown" if r.equivalent else "not shown",
        })
    return pd.DataFrame(rows).set_index(["data set", "comparison"])


def equivalence_sentence(equivalence: pd.DataFrame, detectable: pd.DataFrame,
                         comparisons: pd.DataFrame, name=lambda dataset: dataset) -> str:
    """What the records rule out for the :data:`CLAIM` pair, and what each family could
    detect, in words, per data set."""
    parts = []
    several = comparisons.dataset.nunique() > 1
    for dataset in dict.fromkeys(comparisons.dataset):
        where = f"On {name(dataset)}: " if several else ""
        claim = equivalence[(equivalence.dataset == dataset) & (equivalence.a == CLAIM[0])
                            & (equivalence.b == CLAIM[1])]
        if len(claim):
            parts.append(where + claim_equivalence(claim.iloc[0]))
            where = ""
        row = comparisons[(comparisons.dataset == dataset) & (comparisons.a == CLAIM[0])
                          & (comparisons.b == CLAIM[1])]
        if len(row) and not math.isnan(row.iloc[0].seed_sd):
            r = row.iloc[0]
            alone = stats.minimal_detectable_difference(r.seed_sd, r.paired_seeds)
            parts.append(f"{where}On its own, with {r.paired_seeds} seeds and a paired "
                         f"standard deviation of {r.seed_sd:.2f} points, that comparison would "
                         f"detect a true difference of {alone:.2f} points with 80 % power.")
            where = ""
        for _, d in detectable[detectable.dataset == dataset].iterrows():
            parts.append(f"{where}As one of a family of {d.comparisons} comparisons corrected "
                         f"by Holm's method, at {d.seeds} seeds and a pooled paired standard "
                         f"deviation of {d.sd:.2f}, the smallest difference detected with 80 % "
                         f"power is {d.detectable:.2f} points: a smaller true difference is "
                         "likely to be \"not shown\".")
    return " ".join(parts)


def ablation_sentence(records: Sequence[dict], ablation: pd.DataFrame,
                      configs: Sequence[str], name=lambda dataset: dataset) -> str:
    """The position ablation's verdict in words, per data set: the number of differences
    shown, what the family could detect, and where the configurations that move
    DiffStride rank."""
    texts = []
    detectable = detectable_difference(ablation).set_index("dataset")
    compared = ["hybrid", "diffstride", *configs]
    for dataset, family in ablation.groupby("dataset", sort=False):
        shown = [r for _, r in family.iterrows() if direction(r)]
        text = (f"On {name(dataset)}, {len(shown) or 'none'} of the {len(family)} ablation "
                f"comparisons {'is' if len(shown) == 1 else 'are'} shown after Holm's "
                "correction")
        if dataset in detectable.index:
            d = detectable.loc[dataset]
            text += (f"; with {int(d.seeds)} seeds this family detects only differences of about "
                     f"{d.detectable:.1f} points or more with 80 % power")
        text += ". "
        own = [r for r in records if r["config"]["dataset"] == dataset]
        lowest = ablation_ranking(own, compared)["lowest"]
        means = interval_table(own).set_index("config")["mean"]
        means = means[means.index.isin(compared)]
        if lowest:
            text += (f"`{lowest[0]}` is the lowest of these configurations in every seed they "
                     f"share, and the highest mean is `{means.idxmax()}`'s "
                     f"({means.max():.2f} %). ")
        if {"diffstride_early", "diffstride_late"} <= set(means.index):
            early, late = means["diffstride_early"], means["diffstride_late"]
            agrees = early >= late
            text += (f"The order of the means {'agrees with' if agrees else 'runs against'} "
                     "the Hybrid paper's \"DiffStride early, spectral pooling late\" "
                     f"(`diffstride_early` {early:.2f} %, `diffstride_late` {late:.2f} %)"
                     + ("." if shown else ", though no difference is shown."))
        texts.append(text.strip())
    return " ".join(texts)
