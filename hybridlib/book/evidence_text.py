"""The evidence in words: the sentences, boxes and reader's tables chapter 6 and the intro
show, written from :mod:`hybridlib.evidence`'s tables.

Every verdict here reads :func:`hybridlib.evidence.direction` (the crossed seed x image
test, Holm-corrected), so a sentence never claims more than the test behind it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from hybridlib import stats
from hybridlib.book.formatting import dataset_name, listing, plural, signed
from hybridlib.configs import MAIN_CONFIGS
from hybridlib.evidence import (
    CLAIM,
    EQUIVALENCE_MARGIN,
    PAPER_GAIN,
    VERDICT_KIND,
    ablation_ranking,
    comparison_table,
    detectable_difference,
    direction,
    equivalence_table,
    interval_table,
    plateau_table,
    verdict_test,
)
from hybridlib.results import hybrid_baseline_check

__all__ = [
    "MEANING",
    "ablation_sentence",
    "baselines_sentence",
    "claim_equivalence",
    "comparisons_sentence",
    "conclusion",
    "describe_comparisons",
    "equivalence_sentence",
    "format_comparisons",
    "format_equivalence",
    "glance",
    "p_text",
    "pairing_sentence",
]


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
        row = {"data set": dataset_name(r.dataset), "comparison": f"{r.a} − {r.b}",
               "seeds": r.paired_seeds}
        for kind, title in (("seed", "by seed"), ("crossed", "seed × image")):
            diff = r[f"{kind}_diff"]
            row[f"{title}: mean [95 % CI]"] = (
                "" if math.isnan(diff)
                else _interval_text(diff, r[f"{kind}_low"], r[f"{kind}_high"]))
            row[f"{title}: p (Holm)"] = (
                "" if math.isnan(r[f"{kind}_p_holm"]) else p_text(r[f"{kind}_p_holm"]))
        rows.append(row)
    return pd.DataFrame(rows).set_index(["data set", "comparison"])


def _not_shown(row) -> str:
    """Why :func:`direction` gives 0 for ``row``, in words."""
    kind = verdict_test(row)
    if row[f"{kind}_low"] <= 0 <= row[f"{kind}_high"]:
        return ("no difference these runs can show; the interval holds the differences "
                "these records are compatible with.")
    return ("the interval excludes zero on its own, but not after Holm's correction "
            f"(adjusted p = {p_text(row[f'{kind}_p_holm'])}), so no difference is shown.")


def _interval_sentence(row) -> str:
    """``+0.18 points, 95 % interval [−0.04, +0.40] over 5 seeds (seeds and test images)``."""
    kind = verdict_test(row)
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
                   f"{p_text(r[f'{verdict_test(r)}_p_holm'])})." if shown else _not_shown(r))
        sentences.append(f"{what}: {_interval_sentence(r)}: {verdict}")
    return "\n".join(f"* {sentence}" for sentence in sentences)


def comparisons_sentence(table: pd.DataFrame, name=lambda dataset: dataset) -> str:
    """One interpretive sentence for a family of comparisons whose numbers a table beside
    it shows: how many differences the runs show after Holm's correction and which way
    they go, and why the others are not shown (an interval that includes zero, or one
    that excludes it only before the correction)."""
    several = table.dataset.nunique() > 1
    where = (lambda r: f" on {name(r.dataset)}") if several else (lambda r: "")
    judged = [(r, f"`{r.a}` − `{r.b}`{where(r)}", d) for r, _, d in _judged(table, name)]
    tested = [(r, what, d) for r, what, d in judged if d is not None]
    if not tested:
        return "No comparison has two paired seeds yet, so none has an interval."
    shown = [(r, what, d) for r, what, d in tested if d]
    inside = [what for r, what, d in tested
              if not d and r[f"{verdict_test(r)}_low"] <= 0 <= r[f"{verdict_test(r)}_high"]]
    corrected = [what for r, what, d in tested if not d and what not in inside]
    if shown:
        ways = [f"`{r.a}` {'above' if d > 0 else 'below'} `{r.b}`{where(r)}"
                for r, _, d in shown]
        text = (f"Of these {plural(len(tested), 'comparison')} the runs show "
                f"{len(shown)} after Holm's correction ({listing(ways)})")
    else:
        text = (f"None of these {plural(len(tested), 'comparison')} shows a difference after "
                "Holm's correction")
    reasons = []
    if inside:
        reasons.append(f"{'the interval' if len(inside) == 1 else 'the intervals'} of "
                       f"{listing(inside)} {'includes' if len(inside) == 1 else 'include'} "
                       "zero")
    if corrected:
        reasons.append(f"{listing(corrected)} {'excludes' if len(corrected) == 1 else 'exclude'}"
                       " zero only before the correction")
    if reasons:
        text += ("; of the others, " if shown else ": ") + "; ".join(reasons)
    return text + "."


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
            f"{row.high:.2f} points is ruled out (one-sided test at 5 %), and so is one as "
            f"large as the Hybrid paper's {signed(PAPER_GAIN)} on CIFAR-10 "
            f"(p = {p_text(row.p_paper_gain)}). ")
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
            lines.append(f"{what}: {plural(r.paired_seeds, 'paired seed')} so far, no "
                         "interval yet.")
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
        f"{c100['baseline (Hybrid paper)']:.1f} %, equals the DiffStride paper's "
        f"{c100['baseline equals']}, not its DiffStride mean "
        f"({c100['DiffStride mean (DiffStride paper)']:.1f} %); against that, the hybrid's "
        f"{c100['hybrid (Hybrid paper)']:.2f} % is a gain of "
        f"{signed(c100['gain over DiffStride mean'])} points, not "
        f"{signed(c100['gain claimed'])}. On CIFAR-10 the official DiffStride README reports "
        f"{c10['DiffStride (official README, 1,1,2,2,2)']:.2f} % for DiffStride (another "
        f"recipe), above the hybrid's {c10['hybrid (Hybrid paper)']:.2f} %."
    )


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
        # Pairing removes noise the two share (r > 0); with r < 0 it adds some.
        effect = ("removes almost nothing" if abs(r.seed_r) < 0.3 else
                  "adds to the run-to-run noise" if r.seed_r < 0 else
                  "removes some of the run-to-run noise" if r.seed_r < 0.7 else
                  "removes much of the run-to-run noise")
        where = f" on {name(r.dataset)}" if len(rows) > 1 else ""
        parts.append(f"For `{r.a}` and `{r.b}`{where} the correlation of their test "
                     f"accuracies over {r.paired_seeds} seeds is r = {r.seed_r:.2f}, so "
                     f"pairing {effect} there.")
    return ("Pairing by seed removes noise only where the two configurations' runs move "
            "together. " + " ".join(parts))


def format_equivalence(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`equivalence_table` as a reader's table, one row per pair."""
    rows = []
    for _, r in table.iterrows():
        rows.append({
            "data set": dataset_name(r.dataset), "comparison": f"{r.a} − {r.b}",
            "seeds": r.seeds,
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
        own = [r for r in records if r["settings"]["dataset"] == dataset]
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
                     f"(`diffstride_early` {early:.2f} %, `diffstride_late` {late:.2f} %): an "
                     "order of means, not a tested difference.")
        texts.append(text.strip())
    return " ".join(texts)
