"""The results chapter's companion: the facts, tables and sentences it shows, each computed
from the run records here so that the chapter holds its narrative and one call per
table, figure or sentence (as ``architectures`` does for chapter 4).

Tables come from :func:`hybridlib.results.runs_table` (one row per run, accuracies in %),
:func:`hybridlib.results.summary_table` (means per configuration) and
:func:`hybridlib.results.strides_table` (strides per epoch); sentences are Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hybridlib.book.evidence_text import describe_comparisons
from hybridlib.book.formatting import dataset_name, listing, plural, signed, size
from hybridlib.configs import ABLATION, CONFIGS, MAIN_CONFIGS, PROFILES
from hybridlib.resnet import resnet18
from hybridlib.results import config_label

__all__ = [
    "ablation_status",
    "all_runs_tables",
    "amplitude_sentence",
    "baseline_sentence",
    "baseline_table",
    "compute_sentence",
    "curves_sentence",
    "fit_and_amplitude",
    "headline_caption",
    "map_size_table",
    "own_comparison",
    "plateau_summary",
    "provenance_sentence",
    "ranking_sentence",
    "records_status",
    "reported_rows",
    "reported_side_by_side",
    "run_facts",
    "stride_table",
    "strides_sentence",
    "width64_parameters",
]

POSITIONS = ("stem", "stage2", "stage3", "stage4", "head")  # where a stride can be learned
# A shortcut "dominates" its block when, relative to the residual branch, it is at least
# this many times as large as in the strided network.
DOMINATES = 1.5
CLIMBING = 0.3  # points in the last epoch: the plateau criterion's threshold


def run_facts(runs: pd.DataFrame, dataset: str) -> dict:
    """What the runs of one data set were: sizes, seeds and provenance, as text."""
    d = runs[runs.dataset == dataset]
    dates = pd.to_datetime(d.date, utc=True)
    devices = sorted({f"{dev} ({name})" if isinstance(name, str) and name else str(dev)
                      for dev, name in zip(d.device, d.device_name)})
    commits = sorted({str(c) for c in d.git_commit.dropna()}) or ["unknown"]
    code_hashes = sorted({str(c) for c in d.code_hash.dropna()}) or ["not recorded"]
    return {
        "runs": len(d),
        "configs": d.config.nunique(),
        "epochs": listing(sorted(d.epochs.unique())),
        "train_size": listing(f"{int(v):,}" for v in sorted(d.train_size.unique())),
        "test_size": listing(f"{int(v):,}" for v in sorted(d.test_size.unique())),
        "width": listing(sorted(d.width.unique())),
        "seeds": listing(sorted(d.seed.unique())),
        "n_seeds": d.seed.nunique(),
        "commits": listing(f"`{c}`" for c in commits),
        "code_hashes": listing(f"`{c}`" for c in code_hashes),
        "modified": bool(d.library_modified.fillna(False).any()),
        "torch": listing(sorted(d.torch.dropna().unique())),
        "devices": listing(devices),
        "dates": (f"{dates.min():%Y-%m-%d}" if dates.min().date() == dates.max().date()
                  else f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}"),
    }


def width64_parameters() -> int:
    """The parameters of the papers' full-width (64) DiffStride ResNet-18 on 10 classes."""
    network = resnet18(CONFIGS["diffstride"], num_classes=10, in_channels=3, width=64)
    return sum(p.numel() for p in network.parameters())


def records_status(runs: pd.DataFrame, declared: Sequence[tuple], profile: str,
                   folder: str) -> str:
    """How many of the ``declared`` runs ``(dataset, config, seed)`` are recorded, in words.

    ``folder`` is where the records are, as the reader should see it.
    """
    have = set(zip(runs.dataset, runs.config, runs.seed))
    missing = [f"{c} seed {s} ({d})" for d, c, s in declared if (d, c, s) not in have]
    if runs.empty:
        return (f"Profile **{profile}** declares {len(declared)} runs, and none of them is "
                f"recorded yet under `{folder}/{profile}/` (`python -m hybridlib.train "
                f"--profile {profile}` makes them): the sections below fill in as the runs are "
                "recorded.")
    datasets = dict.fromkeys(runs.dataset)
    text = (f"Profile **{profile}**: {plural(len(runs), 'complete run record')} under "
            f"`{folder}/{profile}/`, on {listing(dataset_name(d) for d in datasets)}. ")
    if not missing:
        return text + f"The profile declares {len(declared)} runs; all of them are here."
    return text + (f"The profile declares {len(declared)} runs; {len(missing)} are not "
                   f"recorded yet ({listing(missing[:6])}{' ...' if len(missing) > 6 else ''}),"
                   " so the tables show what exists.")


def headline_caption(facts: dict, profile: str, dataset: str) -> str:
    """The caption of one data set's headline table, from :func:`run_facts`."""
    epochs = f"epoch{'' if facts['epochs'] == '1' else 's'}"
    seeds = f"seed{'' if facts['n_seeds'] == 1 else 's'}"
    return (f"Profile {profile}, {dataset_name(dataset)}: {facts['epochs']} {epochs} on "
            f"{facts['train_size']} training images (tested on {facts['test_size']}), "
            f"width-{facts['width']} ResNet-18, {seeds} {facts['seeds']} (the seeds column: "
            "how many each configuration has).")


def provenance_sentence(facts: dict) -> str:
    """Where, when and by which code the runs of :func:`run_facts` were made."""
    changes = " with local changes to the library" if facts["modified"] else ""
    return (f"Provenance: git commit {facts['commits']}{changes}, code hash "
            f"{facts['code_hashes']}, PyTorch {facts['torch']}, device {facts['devices']}, run "
            f"on {facts['dates']}. {plural(facts['runs'], 'run')} of "
            f"{plural(facts['configs'], 'configuration')}.")


def plateau_summary(plateau: pd.DataFrame) -> tuple[pd.DataFrame, str] | None:
    """Per configuration, how many runs had settled (``hybridlib.evidence.plateau_table``),
    and a sentence naming the runs that had not; None without a validation split."""
    settled = plateau.dropna(subset=["change"])
    if settled.empty:
        return None
    per_config = settled.groupby(["dataset", "config"]).agg(
        runs=("seed", "size"), settled=("settled", "sum"),
        largest=("change", "max"), mean=("change", "mean"))
    per_config.columns = ["runs", "settled", "largest change", "mean change"]
    per_config = per_config.rename_axis(["data set", "configuration"])
    if settled.dataset.nunique() == 1:
        per_config = per_config.droplevel(0)
    moving = settled[~settled.settled.astype(bool)]
    sentence = f"{int(settled.settled.sum())} of {len(settled)} runs had settled."
    if len(moving):
        sentence += " The others: " + ", ".join(
            f"`{r.config}` seed {r.seed} ({r.change:.2f} points)" for r in moving.itertuples()
        ) + "."
    return per_config, sentence


def _reported(reported: pd.DataFrame, key: str, dataset: str, model: str,
              strides: str | None = None) -> float:
    rows = reported[(reported.key == key) & (reported.dataset == dataset)
                    & (reported.model == model)]
    if strides is not None:
        rows = rows[rows.init_strides == strides]
    return rows.test_acc.iloc[0] if len(rows) else np.nan


# The papers' columns beside ours: (source key, stride row, column title).
REPORTED_COLUMNS = (
    ("diffstride_paper", "(2,2,2)", "DiffStride paper (2,2,2)"),
    ("official_readme", "(1,1,2,2,2)", "official README"),
    ("hybrid_paper", None, "Hybrid paper"),
)


def reported_side_by_side(summary: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy (%) of the papers' four configurations: our means per data set, then
    the reported numbers (``hybridlib.results.paper_table``) on CIFAR-10 and CIFAR-100."""
    columns = {}
    for dataset in dict.fromkeys(summary.dataset):
        ours = summary[summary.dataset == dataset].set_index("config").test_acc_mean
        columns[f"ours: {dataset_name(dataset)}"] = ours.reindex(MAIN_CONFIGS)
    for key, strides, title in REPORTED_COLUMNS:
        for dataset in ("cifar10", "cifar100"):
            columns[f"{title}: {dataset_name(dataset)}"] = pd.Series(
                {c: _reported(reported, key, dataset, c, strides) for c in MAIN_CONFIGS})
    side = pd.DataFrame(columns)
    side.index.name = "configuration"
    return side


def reported_rows(side: pd.DataFrame) -> pd.DataFrame:
    """:func:`reported_side_by_side` turned to fit the text column: one row per source and
    data set (``ours``, ``DiffStride paper (2,2,2)``, ...), one column per configuration."""
    rows = side.T
    rows.index = pd.MultiIndex.from_tuples([tuple(c.split(": ", 1)) for c in rows.index],
                                           names=["reported by", "data set"])
    return rows.rename_axis(columns=None)


def ranking_sentence(side: pd.DataFrame, reported: pd.DataFrame, intervals: pd.DataFrame,
                     facts: dict | None) -> str:
    """Our order of the configurations beside the DiffStride paper's, and what the
    Fashion-MNIST README reports for scale (``facts``: :func:`run_facts` of Fashion-MNIST,
    None when the profile has no Fashion-MNIST runs)."""
    orders = [f"{col.removeprefix('ours: ')}: "
              + " > ".join(f"`{c}`" for c in side[col].dropna().sort_values(ascending=False).index)
              for col in side.columns if col.startswith("ours")]
    paper = side["DiffStride paper (2,2,2): CIFAR-10"].dropna().sort_values(ascending=False)
    gaps = [f"{paper[c] - paper['strided']:+.1f} (`{c}`)" for c in paper.index if c != "strided"]
    text = (f"Order of our configurations by mean accuracy: {'; '.join(orders)}. In the "
            "DiffStride paper's (2,2,2) row on CIFAR-10 the order is "
            f"{' > '.join(f'`{c}`' for c in paper.index)}, with gaps to the strided network of "
            f"{listing(gaps)} points. ")
    datasets = {col.removeprefix("ours: ") for col in side.columns if col.startswith("ours")}
    if facts is not None:
        readme = reported[reported.key == "fashion_mnist_readme"].set_index("model").test_acc
        strided = next(intervals.query("dataset == 'fashion_mnist' and config == 'strided'")
                       .itertuples(), None)
        text += (f"For scale on Fashion-MNIST, the data set's README "
                 f"{{cite}}`xiao2017fashionreadme` lists "
                 f"{listing(f'{v:.1f} % for {k}' for k, v in readme.items())} with the full "
                 f"60,000 training images and long training; our runs see "
                 f"{facts['train_size']} images for {facts['epochs']} epochs")
        text += (f", and our strided network reaches {strided.mean:.2f} % (95 % interval "
                 f"{strided.low:.2f} to {strided.high:.2f}, {plural(strided.seeds, 'seed')})."
                 if strided is not None else ".")
    elif datasets <= {"CIFAR-10", "CIFAR-100"}:
        text += ("Our runs use the same data sets as the papers; differences in recipe remain "
                 "(see the training chapter).")
    else:
        text += ("The synthetic data set of this profile only proves that the pipeline runs; "
                 "its accuracies say nothing about the methods.")
    return text + (
        f" One cell needs care: the Hybrid paper's CIFAR-100 baseline, "
        f"{side.loc['diffstride', 'Hybrid paper: CIFAR-100']:.1f} %, sits in the `diffstride` "
        "row because the paper presents it as its DiffStride baseline; the section "
        "[on that baseline](sec-baseline) asks which mean it equals.")


def fit_and_amplitude(runs: pd.DataFrame, profile: str, results_dir=None) -> pd.DataFrame:
    """Mean final training and test accuracy per configuration beside the shortcut/residual
    ratios at initialisation, one row per configuration of the papers' four.

    The ratios are load-or-measure (``hybridlib.book.probes``): recorded next to the run
    records, so the book builds without the data set. They are measured for the four
    configurations the profile declares, so the record does not change as runs come in.
    """
    from hybridlib.book.probes import load_or_measure_amplitudes

    settings = PROFILES[profile]
    probed = [c for c in MAIN_CONFIGS if c in settings.get("configs", ())]
    ratios = pd.DataFrame(load_or_measure_amplitudes(
        profile, runs.dataset.iloc[0], probed, int(settings.get("width", 8)), results_dir))
    ratios = ratios.T.reindex(probed)
    fit = runs.groupby("config")[["train_acc", "test_acc"]].mean().reindex(ratios.index)
    fit.columns = pd.MultiIndex.from_product([[FIT], ["train", "test"]])
    ratios.columns = pd.MultiIndex.from_product([[RATIO], ratios.columns])
    table = pd.concat([fit, ratios], axis=1)
    table.index.name = "configuration"
    return table


# The two column groups of fit_and_amplitude's table.
FIT = "final accuracy (%)"
RATIO = "shortcut / residual at initialisation"


def amplitude_sentence(table: pd.DataFrame) -> str:
    """What :func:`fit_and_amplitude` says: which configuration fits best, whether the others
    fit the training set less well, and whether a shortcut dominates its block."""
    train, test = table[(FIT, "train")], table[(FIT, "test")]
    ratio = table[RATIO].mean(axis=1)
    best = test.idxmax()
    others = [c for c in table.index if c != "strided"]
    dominated = [c for c in others if ratio[c] > DOMINATES * ratio["strided"]]
    lower_fit = [c for c in table.index if c != best and train[c] < train[best]]
    text = f"Here `{best}` has the best mean test accuracy. "
    if lower_fit:
        text += (f"{listing(f'`{c}`' for c in lower_fit)} also fit the training set less well "
                 f"(training accuracy {listing(f'{train[c]:.1f} %' for c in lower_fit)} "
                 f"against {train[best]:.1f} %), which points to slower training within this "
                 "budget rather than overfitting (the configurations also train at different "
                 "learning rates). ")
    else:
        text += ("Every other configuration fits the training set at least as well, so the gaps "
                 "are in generalisation, not in fitting. ")
    text += (f"At initialisation the shortcut of the strided network is "
             f"{ratio['strided']:.1f}× the residual branch on average over the three projection "
             f"blocks, against {listing(f'{ratio[c]:.1f}× for `{c}`' for c in others)}. ")
    if dominated:
        return text + (
            f"{listing(f'`{c}`' for c in dominated)} let the shortcut dominate the blocks' "
            "output well beyond the strided network; whether that slows training is a "
            "hypothesis these measurements suggest but do not test. The "
            "[budget chapter](07_budget.ipynb) tests it with a control, DiffStride whose crops "
            "keep their amplitude.")
    reading = ("; the slower fit is the better-supported reading" if lower_fit else "")
    return text + ("The un-rescaled crops do not make the shortcut relatively larger than in "
                   "the strided network, so the amplitude factor does not explain the gap at "
                   f"initialisation{reading}.")


def curves_sentence(curves: pd.DataFrame, score: str, score_name: str) -> str:
    """How much the mean curves rose, overall and in the last epoch, in words."""
    by = ["dataset", "config"]
    n_epochs = int(curves.epoch.max())
    if n_epochs == 1:
        return ("With a single epoch there is no curve to speak of: this profile only checks "
                "that the chapter runs.")
    last = curves.groupby(by).epoch.max().rename("last").reset_index()
    final = curves.merge(last).query("epoch == last").groupby(by)[score].mean()
    gain = (final - curves[curves.epoch == 1].groupby(by)[score].mean()).dropna()
    last_step = (final - curves[curves.epoch == n_epochs - 1].groupby(by)[score].mean()).dropna()
    climbing = int((last_step >= CLIMBING).sum())
    text = (f"From the first to the last epoch the mean {score_name} of a configuration rises "
            f"by {gain.min():.1f} to {gain.max():.1f} points, and in the last epoch alone by "
            f"{signed(last_step.min(), 1)} to {signed(last_step.max(), 1)}: {climbing} of the "
            f"{len(last_step)} mean curves rise by {CLIMBING} points or more in it.")
    if climbing > len(last_step) / 2:
        text += (f" With {n_epochs} epochs the ranking mixes how fast a configuration learns "
                 "with how well it can do; longer training may reorder it.")
    return text


def _final(strides: pd.DataFrame) -> pd.DataFrame:
    """The rows of each run's last epoch."""
    last = strides.groupby(["dataset", "config", "seed"]).epoch.transform("max")
    return strides[strides.epoch == last]


def stride_table(strides: pd.DataFrame) -> pd.DataFrame:
    """Learned stride at the end of training, mean over seeds and the two axes; one row per
    configuration (and data set, where there are several), one column per position."""
    positions = [p for p in POSITIONS if p in set(strides.position)]
    table = (_final(strides).groupby(["dataset", "config", "position"]).stride.mean()
             .unstack("position").reindex(columns=positions))
    table = table.rename_axis(index=["data set", "configuration"], columns=None)
    return table.droplevel(0) if strides.dataset.nunique() == 1 else table


def strides_sentence(strides: pd.DataFrame, records: Sequence[dict], input_size: int = 32,
                     smoothness: float = 4.0) -> str:
    """Where the strides ended: the stem against its clamp, the largest change elsewhere,
    and how many runs kept the map sizes they started with."""
    moved = _final(strides)
    moved = moved.assign(change=moved.stride - moved.initial.clip(lower=1))
    stem, others = moved[moved.position == "stem"], moved[moved.position != "stem"]
    text = ""
    if len(stem):
        clamp = input_size / (input_size - smoothness)  # the lower clamp n / (n - R)
        low, high = stem.stride.min(), stem.stride.max()
        where = (f"at {low:.3f}" if round(low, 3) == round(high, 3)
                 else f"between {low:.3f} and {high:.3f}")
        text += (f"The stem strides end {where}, against the {clamp:.3f} the clamp gives them "
                 "before any learning. ")
    if len(others):
        big = others.loc[others.change.abs().idxmax()]
        text += (f"Away from the stem, the largest change of a stride from its initial value is "
                 f"{big.change:+.3f} (`{big.config}`, {big.position}, axis {big.axis}, seed "
                 f"{big.seed}). ")
        text += (f"Over {plural(int(strides.epoch.max()), 'epoch')}, with the learning rate of "
                 "the weights, the strides are learned but move little. "
                 if others.change.abs().max() < 0.25 else "The strides do move. ")
    learned = [r for r in records if r["learned_strides"]]
    same = sum(r["feature_sizes"] == r["initial_feature_sizes"] for r in learned)
    text += (f"{same} of the {len(learned)} runs with DiffStride layers end with exactly the "
             "map sizes they started with")
    if same:
        return text + (": the output size is a step function of the stride (an even number of "
                       "rows, rounded up), and a stride can move without crossing a step, or "
                       "press against the largest stride a small map allows. The table below "
                       "shows the sizes at initialisation and at the end of training.")
    return text + "; the table below shows how the sizes moved."


def map_size_table(records: Sequence[dict]) -> pd.DataFrame:
    """For each run with DiffStride layers, the map size after each position at
    initialisation → at the end (``"16×16"`` where it did not change); one row per run,
    by configuration (with its stride row) and seed, and by data set when there are
    several."""
    rows = []
    for r in records:
        if not r["learned_strides"]:
            continue
        row = {"data set": dataset_name(r["settings"]["dataset"]),
               "configuration": config_label(r), "seed": r["settings"]["seed"]}
        for position in POSITIONS:
            a, b = r["initial_feature_sizes"][position], r["feature_sizes"][position]
            row[position] = size(a) if a == b else f"{size(a)} → {size(b)}"
        rows.append(row)
    table = pd.DataFrame(rows)
    several = table["data set"].nunique() > 1 if rows else False
    return table.set_index((["data set"] if several else []) + ["configuration", "seed"]).drop(
        columns=[] if several else ["data set"])


def _pareto(summary: pd.DataFrame) -> list[str]:
    """The configurations more accurate than every cheaper one, cheapest first."""
    best, front = -math.inf, []
    for config, r in summary.sort_values("gflops").iterrows():
        if r.test_acc_mean > best:
            front.append(config)
            best = r.test_acc_mean
    return front


def compute_sentence(summary: pd.DataFrame) -> str:
    """What DiffStride and the hybrid cost against the strided network, and the
    accuracy-cost front, per data set, in words."""
    lines = []
    for dataset in dict.fromkeys(summary.dataset):
        s = summary[summary.dataset == dataset].set_index("config")
        if {"strided", "diffstride"} <= set(s.index):
            slower = s.images_per_s["strided"] / s.images_per_s["diffstride"]
            pace = (f"{slower:.1f} times slower" if slower >= 1
                    else f"{1 / slower:.1f} times faster")
            lines.append(
                f"On {dataset_name(dataset)}, DiffStride costs "
                f"{s.gflops['diffstride'] / s.gflops['strided']:.1f} times the FLOPs of the "
                f"strided network and trains {pace} "
                f"({s.images_per_s['diffstride']:.0f} against {s.images_per_s['strided']:.0f} "
                f"images/s) for a difference in accuracy of "
                f"{signed(s.test_acc_mean['diffstride'] - s.test_acc_mean['strided'])} points.")
        if {"hybrid", "diffstride"} <= set(s.index):
            lines.append(
                f"The hybrid's mean FLOPs differ from DiffStride's by "
                f"{signed(100 * (s.gflops['hybrid'] / s.gflops['diffstride'] - 1), 1)} %; each "
                "run's FLOPs follow its learned strides, so this mixes the head layer with "
                "where the strides ended.")
        front = _pareto(s)
        lines.append(
            f"The cheapest configuration, `{front[0]}`, also has the highest mean accuracy."
            if len(front) == 1 else
            f"Going up in FLOPs, each of {listing(f'`{c}`' for c in front)} has a higher mean "
            "accuracy than every cheaper configuration: they form the accuracy-cost (Pareto) "
            "front of the means, and every other configuration pays more for a lower mean.")
    return " ".join(lines)


def ablation_status(runs: pd.DataFrame, declared_configs: Sequence[str],
                    profile: str) -> tuple[list[str], str]:
    """The ablation configurations recorded, and, when there are none, why in words."""
    present = [c for c in ABLATION if c in set(runs.config)]
    if present:
        return present, ""
    if set(ABLATION) & set(declared_configs):
        return present, (f"Profile {profile} declares the ablation configurations, but none of "
                         "their runs is recorded yet: finish the sweep (`python -m "
                         f"hybridlib.train --profile {profile}`) and rerun this chapter.")
    return present, (f"Profile {profile} trains {listing(f'`{c}`' for c in declared_configs)} "
                     "only, no ablation configuration: run the chapter with the `cpu` profile "
                     "(or `python -m hybridlib.train --profile cpu`) to see this section filled.")


def baseline_table(check: pd.DataFrame) -> pd.DataFrame:
    """:func:`hybridlib.results.hybrid_baseline_check` as the book shows it: one row per
    number, one column per data set, named as their authors write them."""
    shown = check.T.rename(columns=dataset_name)
    return shown.rename_axis(index=None, columns=None)


def baseline_sentence(check: pd.DataFrame, reported: pd.DataFrame, datasets: Sequence[str],
                      width: int | None, epochs: int | None) -> str:
    """What ``hybridlib.results.hybrid_baseline_check`` shows about the Hybrid paper's
    baselines, and how this profile's runs (``datasets``, ``width``, ``epochs``) test it."""
    c10, c100 = check.loc["cifar10"], check.loc["cifar100"]
    share = c100["gain over DiffStride mean"] / c100["gain claimed"]
    row_std = reported[(reported.key == "diffstride_paper") & (reported.dataset == "cifar100")
                       & (reported.model == "diffstride")].test_acc_std.max()
    size = "smaller" if c100["gain over DiffStride mean"] < row_std else "larger"
    text = (
        f"On CIFAR-10 the baseline, {c10['baseline (Hybrid paper)']:.2f} %, is the DiffStride "
        f"paper's mean for DiffStride ({c10['DiffStride mean (DiffStride paper)']:.1f} %), and "
        f"the claimed gain of {c10['gain claimed']:+.2f} points is measured against it. On "
        f"CIFAR-100 "
        f"the baseline, {c100['baseline (Hybrid paper)']:.1f} %, equals the "
        f"{c100['baseline equals']} ({c100['spectral mean (DiffStride paper)']:.1f} %), not the "
        f"DiffStride mean ({c100['DiffStride mean (DiffStride paper)']:.1f} %). Against "
        f"DiffStride's own mean the hybrid's {c100['hybrid (Hybrid paper)']:.2f} % is a gain of "
        f"{c100['gain over DiffStride mean']:+.2f} points instead of "
        f"{c100['gain claimed']:+.2f}, {100 * share:.0f} % of the claim, and {size} than the "
        f"largest standard deviation of DiffStride's CIFAR-100 rows ({row_std:.1f}). The "
        f"official README's DiffStride runs {{cite}}`diffstride2022readme`, with another recipe, "
        f"reach {c100['DiffStride (official README, 1,1,2,2,2)']:.2f} % on CIFAR-100, "
        f"{-c100['gain over official README DiffStride']:.2f} points above the hybrid's number. "
        "The comparison the paper needed is hybrid against DiffStride trained with the same "
        "recipe and seeds. ")
    if set(datasets) <= {"cifar10", "cifar100"}:
        return text + "Our runs make that comparison:"
    return text + (f"Our runs make that comparison in design only, on "
                   f"{listing(dataset_name(d) for d in datasets)} at width {width} for "
                   f"{epochs} epochs, so they test the claim at this scale, not on CIFAR:")


def own_comparison(comparisons: pd.DataFrame, profile: str) -> str:
    """The hybrid − DiffStride comparison of these runs, pointing back to where it is made
    (``comparisons``: ``hybridlib.evidence.comparison_table``)."""
    own = comparisons[(comparisons.a == "hybrid") & (comparisons.b == "diffstride")]
    text = "Our own runs make that comparison in the [paired comparisons](sec-paired) above"
    if own.empty:
        return text + f", once profile {profile} has recorded both the hybrid and DiffStride."
    return text + f":\n\n{describe_comparisons(own, dataset_name)}"


# The appendix's tables of every run: (columns of runs_table -> header, caption).
ALL_RUNS_TABLES = (
    ({"test_acc": "test (%)", "train_acc": "train (%)", "mflops": "MFLOPs",
      "images_per_s": "images/s", "wall_seconds": "seconds"}, "Accuracy and cost of every run"),
    ({f"size_{p}": p for p in POSITIONS[1:]}, "Final map size (h×w) after each position"),
    ({f"stride_{p}": p for p in POSITIONS[1:]}, "Learned strides (h, w) at the end of training"),
)


def all_runs_tables(runs: pd.DataFrame) -> list[tuple[pd.DataFrame, str]]:
    """Every run's accuracy and cost, map sizes, learned strides and provenance, as
    ``(table, caption)`` pairs."""
    index = (["dataset"] if runs.dataset.nunique() > 1 else []) + ["config", "seed"]
    indexed = runs.assign(mflops=1e3 * runs.gflops).set_index(index)  # MFLOPs, as everywhere
    indexed = indexed.rename_axis(index={"dataset": "data set", "config": "configuration"})
    tables = [(indexed[list(columns)].rename(columns=columns), caption)
              for columns, caption in ALL_RUNS_TABLES]
    origin = runs.assign(date=runs.date.str[:10], git_commit=runs.git_commit.fillna("unknown"),
                         code_hash=runs.code_hash.fillna("not recorded"))
    tables.append((origin.groupby(["git_commit", "code_hash", "date"]).size().rename("runs")
                   .to_frame().rename_axis(["commit", "code hash", "date"]),
                   "Where the runs come from: the commit and the code fingerprint that made "
                   "them, and when"))
    return tables
