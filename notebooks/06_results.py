# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Results
#
# This chapter reads the run records that the [training chapter](05_training.ipynb)
# wrote, one JSON file per (data set, configuration, seed), and turns them into the
# comparisons the Hybrid paper {cite}`hybrid2024` makes and a few it does not:
#
# 1. the headline table, test accuracy as the mean over seeds with its 95 % interval,
#    and the provenance of the runs;
# 2. paired comparisons: the hybrid, in its three readings, against DiffStride, and the
#    papers' baselines against each other, seed by seed and image by image, and what the
#    runs rule out;
# 3. whether each run had reached a plateau;
# 4. the same configurations next to the numbers the papers report
#    {cite}`riad2022diffstride,hybrid2024,rippel2015spectral`;
# 5. learning curves, the strides the DiffStride layers learned, and accuracy against
#    compute;
# 6. the position ablation: does it matter where each kind of downsampling sits?
# 7. the baseline question: is the Hybrid paper's CIFAR-100 gain measured against the
#    right number?
#
# Which runs are shown depends on the profile this chapter is executed with. Every
# number in the text below is computed from the records or from
# `hybridlib.results.PAPER_RESULTS`; none is typed in.
#
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * read a mean over a handful of seeds with its t-interval, and say why a gap divided by
#   a standard deviation is not evidence;
# * compare two configurations run for run (same seed) and image for image (same test
#   image), and correct for many comparisons with Holm's method;
# * tell from the learning curves whether a run had settled;
# * say what this experiment supports about the Hybrid paper's claim, and what it
#   cannot.
#
# **Prerequisites:** the [training chapter](05_training.ipynb) (how the runs were made);
# confidence intervals and paired tests at the level of an introductory statistics course.
# ```

# %% tags=["parameters"]
profile = "cpu"
results_dir = None  # root folder of the run records; None: the repository's results/

# %% tags=["hide-input", "remove-stderr"]
import math

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from hybridlib.book.evidence_text import (
    ablation_sentence,
    conclusion,
    describe_comparisons,
    equivalence_sentence,
    format_comparisons,
    format_equivalence,
    pairing_sentence,
)
from hybridlib.book.formatting import dataset_name, listing, md, plural, signed, table
from hybridlib.book.plots import label_points, paired_differences_figure
from hybridlib.configs import ABLATION, CONFIGS, MAIN_CONFIGS, PROFILES, profile_runs
from hybridlib.evidence import (
    EQUIVALENCE_MARGIN,
    HYBRID_COMPARISONS,
    comparison_table,
    detectable_difference,
    equivalence_table,
    headline_table,
    interval_table,
    plateau_span,
    plateau_table,
)
from hybridlib.paths import relative, results_root
from hybridlib.resnet import resnet18
from hybridlib.results import (
    curves_table,
    hybrid_baseline_check,
    paper_table,
    runs_table,
    settings_comparison,
    strides_table,
    summary_table,
)
from hybridlib.runs import RunStore

results_dir = results_root(results_dir)  # from the repository, wherever the kernel runs
# The profile's own runs, as recorded (this chapter never trains).
records = RunStore(results_dir).load(profile, accept_code=True)
reported = paper_table()
runs = runs_table(records)
# The tables below need at least one run; until the first is recorded they are None.
summary, curves, strides = (
    (summary_table(runs), curves_table(records), strides_table(records)) if records
    else (None, None, None))
intervals = interval_table(records)  # mean test accuracy with its 95 % t-interval
settings = PROFILES.get(profile, {})
datasets = list(dict.fromkeys(runs.dataset))
name_of = dataset_name


def provenance(dataset):
    """Facts about the runs of one data set, computed from their records."""
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


expected = [(d, c, s) for d, c, _, s in profile_runs(profile)]
have = set(zip(runs.dataset, runs.config, runs.seed))
missing = [f"{c} seed {s} ({d})" for d, c, s in expected if (d, c, s) not in have]
if not records:
    md(f"Profile **{profile}** declares {len(expected)} runs, and none of them is recorded yet "
       f"under `{relative(results_dir)}/{profile}/` (`python -m hybridlib.train --profile "
       f"{profile}` makes them): the sections below fill in as the runs are recorded.")
else:
    display(Markdown(
        f"Profile **{profile}**: {plural(len(records), 'complete run record')} under "
        f"`{relative(results_dir)}/{profile}/`, on {listing(name_of(d) for d in datasets)}. "
        + (f"The profile declares {len(expected)} runs; all of them are here."
           if expected and not missing else
           f"The profile declares {len(expected)} runs; {len(missing)} are not recorded yet "
           f"({listing(missing[:6])}{' ...' if len(missing) > 6 else ''}), so the tables show "
           f"what exists." if expected else "")))

# %% tags=["remove-input"]
comparisons = comparison_table(records, HYBRID_COMPARISONS)
plateau = plateau_table(records)
md(conclusion(comparisons, plateau, len(records), len(expected), name_of,
              equivalence_table(records)))

# %% [markdown]
# ## The headline table
#
# Test accuracy at the end of training, in %, as the mean over seeds with its 95 %
# t-interval (with one seed, the mean alone); every seed is a dot in the figure below.
# *Train acc.* is the running accuracy over the batches of the last epoch, *val. acc.*
# the final network on the validation split. The caption says what the runs are; the
# paragraph below it, where they come from.

# %% tags=["hide-input"]
if records:
    for dataset in datasets:
        p = provenance(dataset)
        caption = (f"Profile {profile}, {name_of(dataset)}: {p['epochs']} "
                   f"epoch{'' if p['epochs'] == '1' else 's'} on "
                   f"{p['train_size']} training images (tested on {p['test_size']}), "
                   f"width-{p['width']} ResNet-18, seed{'' if p['n_seeds'] == 1 else 's'} {p['seeds']} "
                   f"(the *seeds* column: how many each configuration has).")
        display(table(headline_table(records, dataset), caption=caption, digits=4,
                      formats={"test acc. (%)": "{:.2f}", "train acc. (%)": "{:.2f}",
                               "val. acc. (%)": "{:.2f}", "images / s": "{:.0f}"}))
        md(f"*{caption}* Provenance: git commit {p['commits']}"
           f"{' with local changes to the library' if p['modified'] else ''}, code hash "
           f"{p['code_hashes']}, PyTorch {p['torch']}, device {p['devices']}, run on "
           f"{p['dates']}. {plural(p['runs'], 'run')} of {plural(p['configs'], 'configuration')}.")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test accuracy of every configuration: each seed a dot, the mean with its 95 % t-interval in black.", "name": "fig-headline"}}
if records:
    palette = plt.get_cmap("tab10" if runs.config.nunique() <= 10 else "tab20")
    config_order = list(summary.config.drop_duplicates())
    COLOURS = {c: palette(i % palette.N) for i, c in enumerate(config_order)}
    for dataset in datasets:
        ci = intervals[intervals.dataset == dataset].set_index("config").reindex(config_order[::-1])
        ci = ci.dropna(subset=["mean"])
        fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(ci) + 1.2), constrained_layout=True)
        for y, (config, r) in enumerate(ci.iterrows()):
            seeds = runs[(runs.dataset == dataset) & (runs.config == config)].test_acc
            ax.scatter(seeds, [y] * len(seeds), s=16, color=COLOURS[config], alpha=0.7, zorder=3)
            err = None if np.isnan(r.low) else [[r["mean"] - r.low], [r.high - r["mean"]]]
            ax.errorbar(r["mean"], y, xerr=err, fmt="D", color="black", markersize=4, capsize=3,
                        zorder=4)
        ax.set_yticks(range(len(ci)), ci.index)
        ax.set_xlabel("test accuracy (%): seeds (dots), mean and 95 % interval (black)")
        ax.set_title(f"{name_of(dataset)}, profile {profile}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        plt.show()

# %% [markdown]
# (sec-paired)=
# ## Paired comparisons
#
# Each comparison is asked three ways, and none of them draws random numbers, so no
# verdict below can change with a random seed of the analysis.
#
# * **By seed.** Two runs with the same seed start from the same initialisation (where
#   the layers match) and see the batches in the same order. The mean of the seed-pair
#   differences with its t-interval asks whether *training again* gives the same gap.
#   Pairing removes run-to-run noise only as far as the two configurations' runs move
#   together, and the sentence below the figure says how far they do.
# * **By test image.** Every run recorded its prediction for each test image, so a paired
#   t-test over the 10,000 images of the per-image difference in correctness asks whether
#   *these trained networks* differ by more than the sample of test images explains. It
#   holds the networks fixed and is blind to how much a new seed would move them, so its
#   intervals are narrow and it could call a difference real that the next seed undoes.
#   It stays in the data behind the table, not in the table.
# * **Seed × image.** Seeds and test images as *crossed random effects*: the variance of
#   the seed means plus what sampling other test images would add, with a t distribution
#   of no more degrees of freedom than the seeds give. This is the test that counts both
#   sources of noise, and the one the verdicts read.
#
# The p-values are corrected for the number of comparisons with Holm's method. A
# difference counts as shown only when the seed × image interval excludes zero and its
# Holm-adjusted p is below 0.05.

# %% tags=["hide-input"]
if records:
    if comparisons.empty:
        md(f"Profile {profile} has no pair of configurations recorded for these comparisons yet.")
    else:
        display(table(format_comparisons(comparisons),
                      caption=f"Profile {profile}: a − b in points of test accuracy, with 95 % "
                      "intervals and Holm-corrected p (by seed, then by seed × image)"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The paired comparisons: each difference with its unadjusted 95 % interval by seed (black) and by seed × image (blue). The verdicts in the text apply Holm's correction to the seed × image test, so an interval that just excludes the dotted zero line is not necessarily a difference shown.", "name": "fig-paired"}}
if records and not comparisons.empty:
    paired_differences_figure(comparisons, name_of, f"profile {profile}: ")
    plt.show()

# %% tags=["hide-input"]
if records and not comparisons.empty:
    md(describe_comparisons(comparisons, name_of))
    md(pairing_sentence(comparisons, name_of))

# %% [markdown]
# ### What the records rule out
#
# "Not shown" is not "no difference". Two numbers say how to read it. An *equivalence
# test* (two one-sided tests, TOST) asks whether the true difference lies within a stated
# margin; this book's margin is ±0.3 points, the same as the budget study fixes before its
# runs. Its one-sided bounds say which differences the records rule out. The *minimal
# detectable difference* is the smallest true difference that a family of seed-paired
# tests would detect with 80 % power at its number of seeds, judged at Holm's first step.

# %% tags=["hide-input"]
equivalence = equivalence_table(records)
if equivalence.empty:
    md("These tests need at least two paired seeds of a comparison; none is recorded yet.")
else:
    display(table(format_equivalence(equivalence), caption=(
        f"Two one-sided tests of |a − b| < {EQUIVALENCE_MARGIN} points (paired by seed): the "
        "90 % interval, whose ends bound what is ruled out at 5 % one-sided, and the larger "
        "of the two one-sided p")))
    md(equivalence_sentence(equivalence, detectable_difference(comparisons), comparisons,
                            name_of))

# %% [markdown]
# ## Had the runs settled?
#
# The schedule ends with epochs at a hundredth of the peak learning rate. A run whose
# validation accuracy still changes by 0.3 points or more over its last fifth of epochs
# (and the epoch before them) had not reached a plateau; its test accuracy may
# understate what longer training would give. The converse does not hold: at so low a
# rate the last epochs barely move any run, so passing this test says that the schedule
# had ended, not that the network had converged. Whether a longer budget changes the
# comparison is a question for runs with a longer budget, not for this criterion.

# %% tags=["hide-input"]
if records:
    settled = plateau.dropna(subset=["change"])
    if settled.empty:
        md(f"The runs of profile {profile} have no validation split, so there is no plateau "
           "criterion to apply.")
    else:
        per_config = settled.groupby(["dataset", "config"]).agg(
            runs=("seed", "size"), settled=("settled", "sum"),
            largest_change=("change", "max"), mean_change=("change", "mean"))
        display(table(per_config.droplevel(0) if len(datasets) == 1 else per_config,
                      caption="Change of the validation accuracy (points) over the last fifth "
                      "of epochs, per configuration; settled: runs below 0.3 points",
                      formats={"runs": "{:.0f}", "settled": "{:.0f}",
                               "largest_change": "{:.2f}", "mean_change": "{:.2f}"}))
        moving = settled[~settled.settled.astype(bool)]
        md(f"{int(settled.settled.sum())} of {len(settled)} runs had settled. "
           + ("The others: " + ", ".join(f"`{r.config}` seed {r.seed} ({r.change:.2f} points)"
                                         for r in moving.itertuples()) + "."
              if len(moving) else ""))

# %% [markdown]
# ## Next to the numbers the papers report
#
# The papers train the full-width ResNet-18 on CIFAR-10 and CIFAR-100
# {cite}`krizhevsky2009cifar` for hundreds of epochs. This book's published profile
# trains a narrow network for a few epochs on part of Fashion-MNIST
# {cite}`xiao2017fashion`, so the absolute numbers cannot be compared. What can be
# compared is the *order* of the configurations and the *size of the gaps* between
# them: does DiffStride beat fixed spectral pooling, and spectral pooling the strided
# network, by margins that look alike? The table puts our means next to the papers':
# the DiffStride paper's (2,2,2) row (the initial strides of our configurations), the
# official DiffStride README {cite}`diffstride2022readme` (pre-activation network,
# trained with mixup) and the Hybrid paper.

# The settings behind the two sides differ in more than the data set. The table lists
# them. The DiffStride paper's complexity regulariser (a penalty, weighted by λ, on the
# total size of the feature maps) trades accuracy for cost; the official code does not
# implement it and the accuracy tables the two papers share compare networks trained
# without it, so this book, like the `paper` profile, leaves λ at 0.

# %% tags=["hide-input"]
if records:
    width64 = resnet18(CONFIGS["diffstride"], num_classes=10, in_channels=3, width=64)
    display(table(settings_comparison(records, sum(p.numel() for p in width64.parameters())),
                  caption=f"Training settings: this book's profile {profile} (read from its "
                  "run records) against the official DiffStride code and the Hybrid paper"))

# %% tags=["hide-input"]
if records:
    paper_configs = list(MAIN_CONFIGS)  # our rows stay empty until recorded
    compare_configs = [c for c in MAIN_CONFIGS if c in set(runs.config)]


    def reported_value(key, dataset, model, strides=None):
        r = reported[(reported.key == key) & (reported.dataset == dataset) & (reported.model == model)]
        if strides is not None:
            r = r[r.init_strides == strides]
        return r.test_acc.iloc[0] if len(r) else np.nan


    columns = {}
    for dataset in datasets:
        s = summary[summary.dataset == dataset].set_index("config")
        columns[f"ours: {name_of(dataset)}"] = s.test_acc_mean.reindex(paper_configs)
    for dataset in ("cifar10", "cifar100"):
        columns[f"DiffStride paper (2,2,2): {name_of(dataset)}"] = pd.Series(
            {c: reported_value("diffstride_paper", dataset, c, "(2,2,2)") for c in paper_configs})
    for dataset in ("cifar10", "cifar100"):
        columns[f"official README: {name_of(dataset)}"] = pd.Series(
            {c: reported_value("official_readme", dataset, c, "(1,1,2,2,2)") for c in paper_configs})
    for dataset in ("cifar10", "cifar100"):
        columns[f"Hybrid paper: {name_of(dataset)}"] = pd.Series(
            {c: reported_value("hybrid_paper", dataset, c) for c in paper_configs})
    side = pd.DataFrame(columns)
    side.index.name = "configuration"
    gaps = side.sub(side.loc["strided"], axis=1)
    display(side.style.set_caption("Test accuracy (%): our runs (mean over seeds) and the reported "
                                   "numbers. Empty: not reported.").format("{:.2f}", na_rep=""))
    if gaps is not None:
        display(gaps.drop(index="strided").style.set_caption(
            "Gap to the strided network of the same column, in points").format("{:+.2f}",
                                                                                 na_rep=""))

# %% tags=["hide-input"]
if records:
    notes = []
    ours_cols = [c for c in side.columns if c.startswith("ours")]
    for col in ours_cols:
        ranking = side[col].dropna().sort_values(ascending=False)
        notes.append(f"{col.removeprefix('ours: ')}: {' > '.join(f'`{c}`' for c in ranking.index)}")
    paper_c10 = side["DiffStride paper (2,2,2): CIFAR-10"].dropna().sort_values(ascending=False)
    paper_gaps = [f"{paper_c10[c] - paper_c10['strided']:+.1f} (`{c}`)"
                  for c in paper_c10.index if c != "strided"]
    fashion_ref = reported[reported.key == "fashion_mnist_readme"].set_index("model").test_acc
    strided = next(intervals.query("dataset == 'fashion_mnist' and config == 'strided'")
                   .itertuples(), None)
    display(Markdown(
        f"Order of our configurations by mean accuracy: {'; '.join(notes)}. In the DiffStride "
        f"paper's (2,2,2) row on CIFAR-10 the order is "
        f"{' > '.join(f'`{c}`' for c in paper_c10.index)}, with gaps to the strided network of "
        f"{listing(paper_gaps)} points. "
        + (f"For scale on Fashion-MNIST, the data set's README "
           f"{{cite}}`xiao2017fashionreadme` lists "
           f"{listing(f'{v:.1f} % for {k}' for k, v in fashion_ref.items())} with the full "
           f"60,000 training images and long training; our runs see "
           f"{provenance('fashion_mnist')['train_size']} images for "
           f"{provenance('fashion_mnist')['epochs']} epochs"
           + (f", and our strided network reaches {strided.mean:.2f} % (95 % "
              f"interval {strided.low:.2f} to {strided.high:.2f}, "
              f"{plural(strided.seeds, 'seed')})." if strided is not None else ".")
           if "fashion_mnist" in datasets else
           "Our runs use the same data sets as the papers; differences in recipe remain "
           "(see the training chapter)."
           if set(datasets) <= {"cifar10", "cifar100"} else
           "The synthetic data set of this profile only proves that the pipeline runs; its "
           "accuracies say nothing about the methods.")
        + (f" One cell needs care: the Hybrid paper's CIFAR-100 baseline, "
           f"{side.loc['diffstride', 'Hybrid paper: CIFAR-100']:.1f} %, sits in the `diffstride` "
           f"row because the paper presents it as its DiffStride baseline; the section "
           f"[on that baseline](sec-baseline) asks which mean it equals." if "diffstride" in side.index else "")))

# %% [markdown]
# ### When the order differs: underfitting, and the shortcut's amplitude
#
# Where a short schedule puts the strided network first, two measurements help read
# the table. First, the *training* accuracy: if the spectral networks also fit the
# training set worse, they are slower to train, not worse at generalising. Second, an
# amplitude effect of the official layers. Spectral pooling and DiffStride do not
# rescale, so with torch's (and TensorFlow's) default FFT norm a map cropped from
# $H \times W$ to $h \times w$ comes out multiplied by $HW/(hw)$. Inside a projection
# block the main path meets batch norm after the pooling, but the shortcut
# (1×1 convolution, then the *same* pooling module) is added to the block's output as
# it is. The cell below measures, at initialisation and on a batch of this profile's
# images, with batch norm normalising by the batch as in the first training step, how
# much larger the shortcut is than the residual branch in each projection block.

# %% tags=["hide-input"]
if records:
    if set(compare_configs) == set(MAIN_CONFIGS):
        # Load-or-measure: the ratios are recorded next to the run records, so the book builds
        # without the data set; a change of the settings measures them again.
        from hybridlib.book.probes import load_or_measure_amplitudes

        # Measured for the papers' four configurations whenever the profile declares them, so the
        # record does not change as the runs come in.
        probed = [c for c in MAIN_CONFIGS if c in settings.get("configs", ())]
        amplitude = pd.DataFrame(load_or_measure_amplitudes(
            profile, datasets[0], probed, int(settings.get("width", 8)), results_dir)).T.reindex(
            compare_configs)
        amplitude.index.name = "configuration"
        fit = runs.groupby("config")[["train_acc", "test_acc"]].mean().reindex(compare_configs)
        display(pd.concat([fit.rename(columns=lambda c: c + " (%)"), amplitude.add_prefix("shortcut/residual ")],
                          axis=1).style.set_caption(
            f"Final training and test accuracy (mean over seeds{' and data sets' if len(datasets) > 1 else ''}) and, at "
            "initialisation, the ratio of the shortcut's standard deviation to the residual "
            "branch's in each projection block").format("{:.2f}"))
    else:
        md("This diagnosis needs a run of each of the four configurations of the "
           "papers' comparison; it appears once they are recorded.")

# %% tags=["hide-input"]
if records:
    if set(compare_configs) == set(MAIN_CONFIGS):
        best = fit.test_acc.idxmax()
        # "Dominates": a shortcut at least 1.5 times as large, relative to its residual branch, as
        # in the strided network.
        dominated = [c for c in compare_configs if c != "strided"
                     and amplitude.loc[c].mean() > 1.5 * amplitude.loc["strided"].mean()]
        lower_fit = [c for c in compare_configs if c != best and fit.train_acc[c] < fit.train_acc[best]]
        display(Markdown(
            f"Here `{best}` has the best mean test accuracy. "
            + (f"{listing(f'`{c}`' for c in lower_fit)} also fit the training set less well "
               f"(training accuracy {listing(f'{fit.train_acc[c]:.1f} %' for c in lower_fit)} against "
               f"{fit.train_acc[best]:.1f} %), which points to slower training within this budget "
               f"rather than overfitting (the configurations also train at different learning "
               f"rates). " if lower_fit else
               "Every other configuration fits the training set at least as well, so the gaps are "
               "in generalisation, not in fitting. ")
            + f"At initialisation the shortcut of the strided network is "
            f"{amplitude.loc['strided'].mean():.1f}× the residual branch on average over the three "
            f"projection blocks, against "
            f"{listing(f'{amplitude.loc[c].mean():.1f}× for `{c}`' for c in compare_configs if c != 'strided')}. "
            + (f"{listing(f'`{c}`' for c in dominated)} let the shortcut dominate the blocks' output "
               "well beyond the strided network; whether that slows training is a hypothesis these "
               "measurements suggest but do not test (a run with amplitude-preserving pooling, "
               "`SpectralPool2d(rescale=True)` registered as a new kind as in the Extending page, "
               "would)." if dominated else
               "The un-rescaled crops do not make the shortcut relatively larger than in the "
               "strided network, so the amplitude factor does not explain the gap at "
               "initialisation; the slower fit is the better-supported reading.")))

# %% [markdown]
# ## Learning curves
#
# Accuracy and training loss after every epoch: every seed as a thin line, the mean over
# seeds marked. The accuracy is the validation split's where the profile has one (the
# test set is scored once, at the end), else the test set's. The configurations of the
# papers' comparison are drawn as solid lines, the position ablation as dashed lines.
# Below, the last half of the epochs on a scale of their own, with the epochs the
# plateau criterion looks at shaded.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Validation accuracy, or test accuracy for a profile without a validation split (top left: every seed as a thin line, the mean over seeds marked), training loss (top right, mean over seeds) and the accuracy over the last half of the epochs on its own scale (bottom; shaded: the epochs the plateau criterion looks at), per configuration; dashed: the position ablation.", "name": "fig-curves"}}
if records:
    def style(config):
        main = config in MAIN_CONFIGS
        return {"color": COLOURS[config], "linestyle": "-" if main else "--",
                "linewidth": 2.0 if main else 1.3, "marker": "o", "markersize": 4}


    # The validation split's accuracy where it was measured every epoch, else the test set's.
    score = "val_acc" if curves.val_acc.notna().all() else "test_acc"
    score_name = "validation accuracy" if score == "val_acc" else "test accuracy"
    mean_curves = (curves.groupby(["dataset", "config", "epoch"])
                   [[score, "train_loss"]].mean().reset_index())
    # Per data set, the whole run on top and, below on the full width, the final epochs on a
    # scale of their own: at the top's scale the early epochs squeeze the plateau to a line.
    mosaic = [row for d in datasets for row in ([f"{d} acc", f"{d} loss"], [f"{d} end"] * 2)]
    fig, axes = plt.subplot_mosaic(mosaic, figsize=(9, 6.2 * len(datasets) + 0.9),
                                   height_ratios=[1.1, 1] * len(datasets),
                                   constrained_layout=True)
    for dataset in datasets:
        acc, loss, end = (axes[f"{dataset} {part}"] for part in ("acc", "loss", "end"))
        n_ep = int(curves[curves.dataset == dataset].epoch.max())
        first_shown = n_ep // 2 + 1
        for config in config_order:
            c = mean_curves[(mean_curves.dataset == dataset) & (mean_curves.config == config)]
            if c.empty:
                continue
            seeds = curves[(curves.dataset == dataset) & (curves.config == config)]
            for ax, since in ((acc, 1), (end, first_shown)):
                for _, one in seeds[seeds.epoch >= since].groupby("seed"):
                    ax.plot(one.epoch, one[score], color=COLOURS[config], linewidth=0.7,
                            alpha=0.45)
                tail = c[c.epoch >= since]
                ax.plot(tail.epoch, tail[score], label=config, **style(config))
            loss.plot(c.epoch, c.train_loss, label=config, **style(config))
        if n_ep > 1:
            end.axvspan(n_ep - plateau_span(n_ep) + 0.5, n_ep + 0.3, color="0.9", zorder=0)
        acc.set_ylabel(f"{score_name} (%)")
        end.set_ylabel(f"{score_name} (%)")
        loss.set_ylabel("training loss (with label smoothing)")
        for ax, what, since in ((acc, score_name, 1), (loss, "training loss", 1),
                                (end, f"{score_name}, the last epochs", first_shown)):
            ax.set_xlabel("epoch")
            ax.set_title(f"{name_of(dataset)}, profile {profile}: {what}", fontsize=10)
            ax.set_xticks(range(since, n_ep + 1))
            ax.set_xlim(since - 0.3, n_ep + 0.3)
            ax.grid(alpha=0.3)
    handles, labels = axes[f"{datasets[0]} acc"].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=9)
    plt.show()

# %% tags=["hide-input"]
if records:
    last = curves.groupby(["dataset", "config"]).epoch.max()
    first_epoch = curves[curves.epoch == 1].groupby(["dataset", "config"])[score].mean()
    final_epoch = curves.merge(last.rename("last").reset_index()).query("epoch == last")
    final_mean = final_epoch.groupby(["dataset", "config"])[score].mean()
    gain = (final_mean - first_epoch).dropna()
    n_epochs = int(curves.epoch.max())
    if n_epochs == 1:
        display(Markdown("With a single epoch there is no curve to speak of: this profile only "
                         "checks that the chapter runs."))
    else:
        before_last = (curves[curves.epoch == n_epochs - 1]
                       .groupby(["dataset", "config"])[score].mean())
        last_step = (final_mean - before_last).dropna()
        # Still climbing: a mean that rose by the plateau criterion's 0.3 points or more.
        climbing = int((last_step >= 0.3).sum())
        display(Markdown(
            f"From the first to the last epoch the mean {score_name} of a configuration rises by "
            f"{gain.min():.1f} to {gain.max():.1f} points, and in the last epoch alone by "
            f"{signed(last_step.min(), 1)} to {signed(last_step.max(), 1)}: {climbing} of the "
            f"{len(last_step)} mean curves rise by 0.3 points or more in it. "
            + (f"With {n_epochs} epochs the ranking mixes how fast a configuration learns with "
               f"how well it can do; longer training may reorder it."
               if climbing > len(last_step) / 2 else "")))

# %% [markdown]
# ## What the strides learned
#
# Each DiffStride layer has a stride per axis. The grid shows their values after every
# epoch (mean over seeds, the two axes in two colours) for each configuration with
# DiffStride layers, one column per position; the dotted line is the initial stride of
# the spec. A stem initialised at 1 starts in practice at $32/(32 - 4) \approx 1.14$:
# the lower clamp described in the [DiffStride chapter](03_diffstride.ipynb) raises
# it on the first forward pass.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The learned strides after every epoch (mean over seeds; S_h and S_w in two colours) for each configuration with DiffStride layers, one column per position, on one common scale; dotted: the initial stride.", "name": "fig-strides"}}
if records:
    if strides.empty:
        display(Markdown(f"No run of profile {profile} has a DiffStride layer."))
    else:
        s_mean = strides.groupby(["dataset", "config", "position", "axis", "epoch"]).agg(
            stride=("stride", "mean"), initial=("initial", "first")).reset_index()
        pos_order = [p for p in ("stem", "stage2", "stage3", "stage4", "head")
                     if p in set(s_mean.position)]
        for dataset in datasets:
            d = s_mean[s_mean.dataset == dataset]
            cfgs = [c for c in config_order if c in set(d.config)]
            # One y-range for every panel: a stride that moved 0.05 looks as small as it is.
            fig, axes = plt.subplots(len(cfgs), len(pos_order),
                                     figsize=(9, 1.3 * len(cfgs) + 0.8),
                                     squeeze=False, sharex=True, sharey=True,
                                     constrained_layout=True)
            for i, config in enumerate(cfgs):
                for j, position in enumerate(pos_order):
                    ax = axes[i, j]
                    cell = d[(d.config == config) & (d.position == position)]
                    if cell.empty:
                        ax.set_axis_off()
                        continue
                    for axis, colour in (("h", "tab:blue"), ("w", "tab:orange")):
                        a = cell[cell.axis == axis]
                        ax.plot(a.epoch, a.stride, marker="o", markersize=3, color=colour,
                                label=f"$S_{axis}$")
                    initial = cell.initial.iloc[0]
                    ax.axhline(initial, color="grey", linestyle=":", linewidth=1)
                    ax.ticklabel_format(axis="y", useOffset=False)
                    n_ep = int(cell.epoch.max())
                    ax.set_xticks(range(1, n_ep + 1))
                    ax.set_xlim(0.7, n_ep + 0.3)
                    ax.set_title(position, fontsize=9, pad=3)
                    if not any(axes[i, k].axison for k in range(j)):  # first panel of the row
                        ax.set_ylabel(config, fontsize=9, fontweight="bold")
                        # sharey keeps the tick labels of column 0 only, empty in some rows
                        ax.yaxis.set_tick_params(labelleft=True)
            for j in range(len(pos_order)):
                shown = [axes[i, j] for i in range(len(cfgs)) if axes[i, j].axison]
                if shown:
                    shown[-1].set_xlabel("epoch", fontsize=9)
                    shown[-1].xaxis.set_tick_params(labelbottom=True)
            handles, labels = next(ax for ax in axes.flat if ax.axison).get_legend_handles_labels()
            fig.legend(handles + [plt.Line2D([], [], color="grey", linestyle=":")],
                       labels + ["initial stride"], loc="outside lower center", ncol=3, fontsize=9)
            fig.suptitle(f"Learned strides per epoch, {name_of(dataset)}, profile {profile}",
                         fontsize=10)
            plt.show()

# %% tags=["hide-input"]
if records:
    if not strides.empty:
        final_s = strides[strides.epoch == strides.groupby(["dataset", "config", "seed"])
                          .epoch.transform("max")]
        moved = final_s.assign(change=final_s.stride - final_s.initial.clip(lower=1))
        per_layer = (final_s.groupby(["dataset", "config", "position"]).stride.mean()
                     .unstack("position").reindex(columns=pos_order))
        display(per_layer.style.set_caption(
            "Learned stride at the end of training (mean over seeds and over the two axes)")
            .format("{:.3f}", na_rep=""))
        non_stem = moved[moved.position != "stem"]
        stem = moved[moved.position == "stem"]
        text = ""
        clamp = 32 / (32 - 4)  # the lower clamp n / (n - R) on the 32x32 input of the stem
        if len(stem):
            lo, hi = stem.stride.min(), stem.stride.max()
            text += (f"The stem strides end {f'at {lo:.3f}' if round(lo, 3) == round(hi, 3) else f'between {lo:.3f} and {hi:.3f}'}, "
                     f"against the {clamp:.3f} the clamp gives them before any learning. ")
        if len(non_stem):
            big = non_stem.loc[non_stem.change.abs().idxmax()]
            text += (f"Away from the stem, the largest change of a stride from its initial value "
                     f"is {big.change:+.3f} (`{big.config}`, {big.position}, axis {big.axis}, "
                     f"seed {big.seed}). "
                     + (f"Over {plural(int(strides.epoch.max()), 'epoch')}, with the learning rate "
                        f"of the weights, the strides are learned but move little. "
                        if non_stem.change.abs().max() < 0.25 else "The strides do move. "))
        with_diffstride = [r for r in records if r["learned_strides"]]
        same = sum(r["feature_sizes"] == r["initial_feature_sizes"] for r in with_diffstride)
        text += (f"{same} of the {len(with_diffstride)} runs with DiffStride layers end with "
                 f"exactly the map sizes they started with"
                 + (": the output size is a step function of the stride (an even number of "
                    "rows, rounded up), and a stride can move without crossing a step, or "
                    "press against the largest stride a small map allows. The table below "
                    "shows the sizes at initialisation and at the end of training." if same else "; the table below shows how the sizes moved."))
        display(Markdown(text))

# %% tags=["hide-input"]
if records:
    if not strides.empty:
        size_rows = []
        for r in records:
            if not r["learned_strides"]:
                continue
            row = {"dataset": r["config"]["dataset"], "configuration": r["config"]["config"],
                   "seed": r["config"]["seed"]}
            for position in ("stem", "stage2", "stage3", "stage4", "head"):
                a, b = r["initial_feature_sizes"][position], r["feature_sizes"][position]
                row[position] = (f"{a[0]}x{a[1]}" if a == b
                                 else f"{a[0]}x{a[1]} → {b[0]}x{b[1]}")
            size_rows.append(row)
        display(pd.DataFrame(size_rows).drop(columns="dataset")
                .set_index(["configuration", "seed"]).style
                .set_caption("Map size after each position at initialisation → at the end of "
                             "training, for the runs with DiffStride layers"))

# %% [markdown]
# ## Accuracy against compute
#
# The cost of a configuration in two currencies: floating-point operations for one
# image at the end of training (counted, so exact but blind to how well the hardware
# runs FFTs), and training images per second (measured, so real but dependent on the
# machine and on whatever else it was doing). Both axes are logarithmic; the bars are
# the 95 % t-intervals over seeds.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test accuracy (mean with its 95 % interval over seeds) against the counted FLOPs per image (left) and the measured training speed (right), both on logarithmic axes.", "name": "fig-cost"}}
if records:
    for dataset in datasets:
        s = summary[summary.dataset == dataset].set_index("config")
        half_width = intervals[intervals.dataset == dataset].set_index("config").half_width
        scale, unit = (1.0, "GFLOPs") if s.gflops.max() >= 1 else (1e3, "MFLOPs")
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), sharey=True, constrained_layout=True)
        for ax, (col, label) in zip(axes, (("gflops", f"{unit} per image (end of training)"),
                                           ("images_per_s", "training images per second"))):
            xs = s[col] * (scale if col == "gflops" else 1.0)
            for config, r in s.iterrows():
                ax.errorbar(xs[config], r.test_acc_mean, yerr=np.nan_to_num(half_width[config]),
                            fmt="o", color=COLOURS[config], capsize=3,
                            markersize=6 if config in MAIN_CONFIGS else 4.5)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.margins(x=0.15, y=0.1)
            ax.set_xlabel(label)
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3, which="both")
            label_points(ax, xs, s.test_acc_mean, s.index, [COLOURS[c] for c in s.index])
        axes[0].set_title(f"{name_of(dataset)}, profile {profile}: accuracy vs counted cost",
                          fontsize=10)
        axes[1].set_title(f"accuracy vs measured speed ({provenance(dataset)['devices']})",
                          fontsize=10)
        plt.show()

# %% tags=["hide-input"]
if records:
    compute_lines = []
    for dataset in datasets:
        s = summary[summary.dataset == dataset].set_index("config")
        if {"strided", "diffstride"} <= set(s.index):
            compute_lines.append(
                f"On {name_of(dataset)}, DiffStride costs {s.gflops['diffstride'] / s.gflops['strided']:.1f} "
                f"times the FLOPs of the strided network and trains "
                f"{s.images_per_s['strided'] / s.images_per_s['diffstride']:.1f} times slower "
                f"({s.images_per_s['diffstride']:.0f} against {s.images_per_s['strided']:.0f} "
                f"images/s) for a difference in accuracy of "
                f"{signed(s.test_acc_mean['diffstride'] - s.test_acc_mean['strided'])} points.")
        if {"hybrid", "diffstride"} <= set(s.index):
            compute_lines.append(
                f"The hybrid's mean FLOPs differ from DiffStride's by "
                f"{signed(100 * (s.gflops['hybrid'] / s.gflops['diffstride'] - 1), 1)} %; each "
                f"run's FLOPs follow its learned strides, so this mixes the head layer with "
                f"where the strides ended.")
        frontier = s.sort_values("gflops")
        best_so_far, efficient = -math.inf, []
        for config, r in frontier.iterrows():
            if r.test_acc_mean > best_so_far:
                efficient.append(config)
                best_so_far = r.test_acc_mean
        if len(efficient) == 1:
            compute_lines.append(f"The cheapest configuration, `{efficient[0]}`, is also the most "
                                 f"accurate.")
        else:
            compute_lines.append(
                f"Going up in FLOPs, each of {listing(f'`{c}`' for c in efficient)} is more "
                f"accurate than every cheaper configuration: they form the accuracy-cost "
                f"(Pareto) front, and every other configuration pays more for less.")
    display(Markdown(" ".join(compute_lines)))

# %% [markdown]
# ## Does the position matter? The ablation
#
# The Hybrid paper reports that DiffStride works best early in the network and spectral
# pooling late. `hybridlib.configs.ABLATION` turns that into configurations that move
# one kind at a time (see the [architectures chapter](04_architectures.ipynb) for
# their sizes). Each is compared with the hybrid and with plain DiffStride as in the
# paired comparisons above, by seed and by seed × image; the comparisons of a data set
# form one family for Holm's correction. The seeds of each configuration are the dots
# of the headline figure.

# %% tags=["hide-input"]
if records:
    ablation_present = [c for c in ABLATION if c in set(runs.config)]
    if not ablation_present and set(ABLATION) & set(settings.get("configs", ())):
        display(Markdown(
            f"Profile {profile} declares the ablation configurations, but none of their runs is "
            f"recorded yet: finish the sweep (`python -m hybridlib.train --profile {profile}`) "
            f"and rerun this chapter."))
    elif not ablation_present:
        display(Markdown(
            f"Profile {profile} trains {listing(f'`{c}`' for c in settings.get('configs', []))}"
            f" only, no ablation configuration: run the chapter with the `cpu` profile (or "
            f"`python -m hybridlib.train --profile cpu`) to see this section filled."))
    else:
        ablation = comparison_table(
            records, [(c, ref) for ref in ("hybrid", "diffstride") for c in ablation_present]
        )
        display(table(format_comparisons(ablation), caption=(
            "Position ablation: each configuration minus the hybrid and minus DiffStride, in "
            "points of test accuracy, with 95 % intervals (Holm-corrected p)")))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The position ablation: each configuration minus the hybrid (top half) and minus DiffStride (bottom half), with unadjusted 95 % intervals by seed (black) and by seed × image (blue). The verdicts apply Holm's correction over all these comparisons, so an interval that excludes zero here is not by itself a difference shown.", "name": "fig-ablation"}}
if records and ablation_present:
    paired_differences_figure(ablation, name_of, f"profile {profile}: ")
    plt.show()

# %% tags=["hide-input"]
if records and ablation_present:
    display(Markdown(describe_comparisons(ablation, name_of)))
    md(ablation_sentence(records, ablation, ablation_present, name_of))

# %% [markdown]
# (sec-baseline)=
# ## Is the Hybrid paper's CIFAR-100 baseline the right one?
#
# The Hybrid paper reports its model against a DiffStride baseline on both CIFAR data
# sets. The DiffStride paper, whose table both papers share, reports the mean over six
# initial-stride rows for each method. Putting the numbers side by side shows which
# mean each baseline equals.

# %% tags=["hide-input"]
check = hybrid_baseline_check()
display(check.T.style.set_caption("The Hybrid paper's claims and the DiffStride paper's means "
                                  "(accuracy and gains in %)").format(
    lambda v: f"{v:.2f}" if isinstance(v, float) else v))

# %% tags=["hide-input"]
c10, c100 = check.loc["cifar10"], check.loc["cifar100"]
share = c100["gain over DiffStride mean"] / c100["gain claimed"]
row_std = reported[(reported.key == "diffstride_paper") & (reported.dataset == "cifar100")
                   & (reported.model == "diffstride")].test_acc_std.max()
display(Markdown(
    f"On CIFAR-10 the baseline, {c10['baseline (Hybrid paper)']:.2f} %, is the DiffStride "
    f"paper's mean for DiffStride ({c10['DiffStride mean (DiffStride paper)']:.1f} %), and "
    f"the claimed gain of {c10['gain claimed']:+.2f} points holds against it. On "
    f"CIFAR-100 the baseline, {c100['baseline (Hybrid paper)']:.1f} %, equals the "
    f"{c100['baseline equals']} ({c100['spectral mean (DiffStride paper)']:.1f} %), not the "
    f"DiffStride mean ({c100['DiffStride mean (DiffStride paper)']:.1f} %). Against "
    f"DiffStride's own mean the hybrid's {c100['hybrid (Hybrid paper)']:.2f} % is a gain "
    f"of {c100['gain over DiffStride mean']:+.2f} points instead of "
    f"{c100['gain claimed']:+.2f}, {100 * share:.0f} % of the claim, and "
    f"{'smaller' if c100['gain over DiffStride mean'] < row_std else 'larger'} than the "
    f"largest standard deviation of DiffStride's CIFAR-100 rows ({row_std:.1f}). "
    f"The official README's DiffStride runs {{cite}}`diffstride2022readme`, with another "
    f"recipe, reach "
    f"{c100['DiffStride (official README, 1,1,2,2,2)']:.2f} % on CIFAR-100, "
    f"{-c100['gain over official README DiffStride']:.2f} points above the hybrid's "
    f"number. The comparison the paper needed is hybrid against DiffStride trained with "
    f"the same recipe and seeds. "
    + ("Our runs make that comparison:" if set(datasets) <= {"cifar10", "cifar100"} else
       f"Our runs make that comparison in design only, on "
       f"{listing(name_of(d) for d in datasets)} at width {settings.get('width')} for "
       f"{settings.get('epochs')} epochs, so they test the claim at this scale, not on "
       f"CIFAR:")))

# %% tags=["hide-input"]
own = comparisons[(comparisons.a == "hybrid") & (comparisons.b == "diffstride")]
md("Our own runs make that comparison in the [paired comparisons](sec-paired) "
   + (f"above:\n\n{describe_comparisons(own, name_of)}" if len(own) else
      f"above, once profile {profile} has recorded both the hybrid and DiffStride."))

# %% [markdown]
# ## All runs
#
# One row per run, for reference: the final feature-map sizes after each position and
# the learned strides, the cost and where the run was made. The records themselves are
# the JSON files under `results/`.

# %% tags=["hide-input"]
if records:
    all_runs = runs.set_index((["dataset"] if len(datasets) > 1 else []) + ["config", "seed"])
    for columns, caption in (
        ({"test_acc": "test (%)", "train_acc": "train (%)", "gflops": "GFLOPs",
          "images_per_s": "images/s", "wall_seconds": "seconds"},
         "Accuracy and cost of every run"),
        ({f"size_{p}": p for p in ("stage2", "stage3", "stage4", "head")},
         "Final map size (h×w) after each position"),
        ({f"stride_{p}": p for p in ("stage2", "stage3", "stage4", "head")},
         "Learned strides (h, w) at the end of training"),
    ):
        display(table(all_runs[list(columns)].rename(columns=columns), caption=caption))
    origin = runs.assign(date=runs.date.str[:10], git_commit=runs.git_commit.fillna("unknown"),
                         code_hash=runs.code_hash.fillna("not recorded"))
    display(table(origin.groupby(["git_commit", "code_hash", "date"]).size().rename("runs")
                  .to_frame(), caption="Where the runs come from: the commit and the code "
                  "fingerprint that made them, and when"))

