"""Run records -> what the evidence supports: intervals, paired comparisons, plateaus.

The tables chapter 6 reports, built on ``hybridlib.stats``:

* :func:`interval_table`: per data set and configuration, the mean test accuracy over
  seeds with its 95 % t-interval (never a gap divided by a standard deviation);
* :func:`headline_table`: those intervals beside the other means of one data set's runs;
* :func:`comparison_table`: for pairs of configurations, the seed-paired difference with
  its t-interval and paired-t p, and a paired bootstrap over test images (from the
  per-image correctness every record stores), each family Holm-corrected;
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
from hybridlib.results import config_label, runs_table, summary_table
from hybridlib.train import decode_correct

__all__ = [
    "CLAIM",
    "HYBRID_COMPARISONS",
    "comparison_table",
    "conclusion",
    "direction",
    "describe_comparisons",
    "format_comparisons",
    "glance",
    "headline_table",
    "interval_table",
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


def comparison_table(
    records: Sequence[dict],
    pairs: Sequence[tuple[str, str]] = HYBRID_COMPARISONS,
    level: float = 0.95,
    resamples: int = 10_000,
) -> pd.DataFrame:
    """Paired comparisons ``a - b`` of test accuracy (points), by seed and by test image.

    For each data set and each pair present: the seeds both have, the mean seed-paired
    difference with its t-interval and paired-t p (``seed_*``), and the paired bootstrap
    over test images of the correctness averaged over those same seeds (``image_*``, so
    ``image_diff`` equals ``seed_diff``). ``*_p_holm`` are Holm-adjusted across the pairs
    of one data set, each family on its own.
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
            if len(seeds) > 1:
                paired = stats.paired_difference(
                    [100 * runs_a[s]["final_test_acc"] for s in seeds],
                    [100 * runs_b[s]["final_test_acc"] for s in seeds],
                    level,
                )
                row.update(
                    seed_diff=paired.mean, seed_low=paired.low, seed_high=paired.high,
                    seed_p=paired.p,
                )
            # The same seeds as the seed-paired test, so that both estimate one difference.
            correct_a = [_correct(runs_a[s]) for s in seeds]
            correct_b = [_correct(runs_b[s]) for s in seeds]
            if seeds and not any(c is None for c in (*correct_a, *correct_b)):
                boot = stats.paired_bootstrap(
                    np.array(correct_a), np.array(correct_b), level, resamples
                )
                row.update(
                    image_diff=boot.mean, image_low=boot.low, image_high=boot.high,
                    image_p=boot.p,
                )
            family.append(row)
        for kind in ("seed", "image"):
            tested = [r for r in family if f"{kind}_p" in r]
            for r, adjusted in zip(tested, stats.holm([r[f"{kind}_p"] for r in tested])):
                r[f"{kind}_p_holm"] = adjusted
        rows.extend(family)
    columns = [
        "dataset", "a", "b", "paired_seeds",
        "seed_diff", "seed_low", "seed_high", "seed_p", "seed_p_holm",
        "image_diff", "image_low", "image_high", "image_p", "image_p_holm",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


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


def format_comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison_table` as a reader's table: one row per pair, intervals as text."""
    rows = []
    for _, r in table.iterrows():
        row = {"data set": r.dataset, "comparison": f"{r.a} − {r.b}", "seeds": r.paired_seeds}
        row["by seed: mean [95 % CI]"] = (
            "" if math.isnan(r.seed_diff) else _interval_text(r.seed_diff, r.seed_low, r.seed_high)
        )
        row["p (Holm)"] = "" if math.isnan(r.seed_p_holm) else f"{r.seed_p_holm:.2g}"
        row["by test image: mean [95 % CI]"] = (
            "not recorded"
            if math.isnan(r.image_diff)
            else _interval_text(r.image_diff, r.image_low, r.image_high)
        )
        row["p (Holm) "] = "" if math.isnan(r.image_p_holm) else f"{r.image_p_holm:.2g}"
        rows.append(row)
    return pd.DataFrame(rows).set_index(["data set", "comparison"])


def _verdict(low: float, high: float, p_holm: float, family: int) -> str:
    """What an interval and its Holm-adjusted p support, in words."""
    if low <= 0 <= high:
        return "an interval that includes zero: these runs do not show a difference"
    if p_holm >= 0.05:
        return (
            f"an interval that excludes zero on its own, but not after Holm's correction for "
            f"the {family} comparisons (adjusted p = {p_holm:.2g}): not shown"
        )
    return f"a difference these runs show (Holm-adjusted p = {p_holm:.2g})"


def describe_comparisons(table: pd.DataFrame, name=lambda dataset: dataset) -> str:
    """A Markdown list, one sentence per comparison saying what its intervals support,
    generated from them.

    A difference is called shown only when its interval excludes zero and its
    Holm-adjusted p is below 0.05; otherwise the sentence says why it is not.
    """
    sentences = []
    family = table.groupby("dataset").size()
    for _, r in table.iterrows():
        what = f"`{r.a}` − `{r.b}` on {name(r.dataset)}"
        if math.isnan(r.seed_diff):
            sentences.append(f"{what}: fewer than two paired seeds, no interval.")
            continue
        text = (
            f"{what}: {signed(r.seed_diff)} points over {r.paired_seeds} paired seeds, 95 % "
            f"interval {_bracket(r.seed_low, r.seed_high)}, "
            + _verdict(r.seed_low, r.seed_high, r.seed_p_holm, family[r.dataset])
        )
        if not math.isnan(r.image_diff):
            text += (
                f"; over test images {_interval_text(r.image_diff, r.image_low, r.image_high)}, "
                + _verdict(r.image_low, r.image_high, r.image_p_holm, family[r.dataset])
            )
        sentences.append(text + ".")
    return "\n".join(f"* {sentence}" for sentence in sentences)


def direction(row) -> int | None:
    """+1 or -1 when a comparison row shows ``a`` above or below ``b``, 0 when it does not
    show a difference, None with fewer than two paired seeds.

    Shown means: the seed-paired interval excludes zero with Holm-adjusted p < 0.05, and
    the per-image test, where recorded, agrees in sign with adjusted p < 0.05.
    """
    if math.isnan(row.seed_diff):
        return None
    sign = 1 if row.seed_low > 0 else -1 if row.seed_high < 0 else 0
    if sign == 0 or row.seed_p_holm >= 0.05:
        return 0
    if not math.isnan(row.image_diff) and (
        row.image_p_holm >= 0.05 or np.sign(row.image_diff) != sign
    ):
        return 0
    return sign


def _not_shown(row) -> str:
    """Why :func:`direction` gives 0 for ``row``, in words."""
    if row.seed_low <= 0 <= row.seed_high:
        return ("no difference these runs can show; a true difference, if any, is likely "
                "inside that interval.")
    if row.seed_p_holm >= 0.05:
        return ("the interval excludes zero on its own, but not after Holm's correction "
                f"(adjusted p = {row.seed_p_holm:.2g}), so no difference is shown.")
    return ("the interval excludes zero, but the per-image test does not agree "
            f"({signed(row.image_diff)} points, Holm-adjusted p = {row.image_p_holm:.2g}), "
            "so no difference is shown.")


CLAIM = ("hybrid", "diffstride")  # the Hybrid paper's claim: hybrid above DiffStride

# What a shown difference means where the names suggest something else.
MEANING = {
    ("hybrid_at_gap", "diffstride"): (
        " That network computes DiffStride's function with a rescaled last layer (the "
        "architectures chapter), so the difference is what the rescaling does to training, "
        "not an effect of spectral pooling."
    ),
}


def conclusion(
    comparisons: pd.DataFrame, plateau: pd.DataFrame, recorded: int, declared: int,
    name=lambda dataset: dataset,
) -> str:
    """The results chapter's conclusion box (MyST admonition), generated from the tables.

    Args:
        comparisons: :func:`comparison_table` of :data:`HYBRID_COMPARISONS`.
        plateau: :func:`plateau_table` of the same records.
        recorded, declared: runs recorded and runs the profile declares.
    """
    lines = []
    for _, r in comparisons.iterrows():
        what = f"`{r.a}` − `{r.b}` on {name(r.dataset)}"
        shown = direction(r)
        if shown is None:
            lines.append(f"{what}: {r.paired_seeds} paired seed so far, no interval yet.")
            continue
        interval = (f"{signed(r.seed_diff)} points, 95 % interval "
                    f"{_bracket(r.seed_low, r.seed_high)}")
        words = {1: "higher", -1: "lower", 0: None}[shown]
        lines.append(
            f"{what}: {interval} over {r.paired_seeds} seeds: "
            + (f"`{r.a}` is {words}, by both paired tests." + MEANING.get((r.a, r.b), "")
               if words else _not_shown(r))
        )
        if (r.a, r.b) == CLAIM:
            verdict = {1: "supports", -1: "contradicts", 0: "does not support"}[shown]
            lines[-1] += f" This {verdict} the Hybrid paper's claim at this scale."
    settled = plateau.settled.dropna()
    if len(settled):
        lines.append(
            f"{int(settled.sum())} of {len(settled)} runs had settled (validation accuracy "
            "changing by less than 0.3 points over their last fifth of epochs)"
            + ("." if settled.all() else "; the others were still moving, so their numbers "
               "may understate what longer training gives.")
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
                     name)
    return f"{means}\n\n{box}\n"

