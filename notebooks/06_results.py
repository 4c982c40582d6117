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
# result in the text below is computed from the records or from
# `hybridlib.results.PAPER_RESULTS`; the few numbers typed into the prose describe the
# protocol (the chapter checks its thresholds against the code).
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
import matplotlib.pyplot as plt
from IPython.display import display

from hybridlib import evidence, results
from hybridlib.book import evidence_text as words
from hybridlib.book import plots
from hybridlib.book import results_chapter as chapter
from hybridlib.book.formatting import dataset_name, md, table
from hybridlib.book.selfcheck import check_holm, check_seed_paired_interval
from hybridlib.configs import MAIN_CONFIGS, PROFILES, profile_runs
from hybridlib.paths import relative, results_root
from hybridlib.runs import RunStore

results_dir = results_root(results_dir)  # from the repository, wherever the kernel runs
# The profile's own runs, as recorded (this chapter never trains).
records = RunStore(results_dir).load(profile, accept_code=True)
reported = results.paper_table()
runs = results.runs_table(records)
# The tables below need at least one run; until the first is recorded they are None.
summary, curves, strides = (
    (results.summary_table(runs), results.curves_table(records),
     results.strides_table(records)) if records else (None, None, None))
intervals = evidence.interval_table(records)  # mean test accuracy with its 95 % t-interval
settings = PROFILES.get(profile, {})
datasets = list(dict.fromkeys(runs.dataset))
facts = {d: chapter.run_facts(runs, d) for d in datasets}
declared = [(d, c, s) for d, c, _, s in profile_runs(profile)]
md(chapter.records_status(runs, declared, profile, relative(results_dir)))

# %% tags=["remove-cell"]
# The prose types the protocol's thresholds: keep it true to the code.
import inspect

assert evidence.EQUIVALENCE_MARGIN == 0.3
assert inspect.signature(evidence.plateau_table).parameters["tolerance"].default == 0.3

# %% tags=["remove-input"]
comparisons = evidence.comparison_table(records, evidence.HYBRID_COMPARISONS)
plateau = evidence.plateau_table(records)
md(words.conclusion(comparisons, plateau, len(records), len(declared), dataset_name,
                    evidence.equivalence_table(records)))

# %% [markdown]
# ## The headline table
#
# Test accuracy at the end of training, in %, as the mean over seeds with its 95 %
# t-interval (with one seed, the mean alone); every seed is a dot in the figure below.
# *Train acc.* is the running accuracy over the batches of the last epoch, *val. acc.*
# the final network on the validation split. The caption says what the runs are; the
# paragraph below it, where they come from.

# %% tags=["hide-input"]
for dataset in datasets:
    caption = chapter.headline_caption(facts[dataset], profile, dataset)
    display(table(evidence.headline_table(records, dataset).rename_axis("configuration"),
                  caption=caption, digits=4,
                  formats={"test acc. (%)": "{:.2f}", "train acc. (%)": "{:.2f}",
                           "val. acc. (%)": "{:.2f}", "images / s": "{:.0f}"}, compact=True))
    md(chapter.provenance_sentence(facts[dataset]))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test accuracy of every configuration: each seed a dot, the mean with its 95 % t-interval in black.", "name": "fig-headline"}}
if records:
    COLOURS = plots.config_colours(summary.config.unique())
    for dataset in datasets:
        title = f"{dataset_name(dataset)}, profile {profile}"
        plots.headline_figure(intervals, runs, COLOURS, dataset, title)
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
if records and comparisons.empty:
    md(f"Profile {profile} has no pair of configurations recorded for these comparisons yet.")
elif records:
    display(table(words.format_comparisons(comparisons), compact=True,
                  caption=f"Profile {profile}: a − b in points of test accuracy, with 95 % "
                  "intervals and Holm-corrected p (by seed, then by seed × image)"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The paired comparisons: each difference with its unadjusted 95 % interval by seed (black) and by seed × image (blue). The verdicts in the text apply Holm's correction to the seed × image test, so an interval that just excludes the dotted zero line is not necessarily a difference shown.", "name": "fig-paired"}}
if records and not comparisons.empty:
    plots.paired_differences_figure(comparisons, dataset_name, f"profile {profile}: ")
    plt.show()

# %% tags=["hide-input"]
if records and not comparisons.empty:
    md(words.comparisons_sentence(comparisons, dataset_name) + " "
       + words.pairing_sentence(comparisons, dataset_name))

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
equivalence = evidence.equivalence_table(records)
if equivalence.empty:
    md("These tests need at least two paired seeds of a comparison; none is recorded yet.")
else:
    display(table(words.format_equivalence(equivalence), caption=(
        f"Two one-sided tests of |a − b| < {evidence.EQUIVALENCE_MARGIN} points (paired by "
        "seed): the 90 % interval, whose ends bound what is ruled out at 5 % one-sided, and "
        "the larger of the two one-sided p")))
    md(words.equivalence_sentence(equivalence, evidence.detectable_difference(comparisons),
                                  comparisons, dataset_name))

# %% [markdown]
# ## Had the runs settled?
#
# The schedule ends with epochs at a hundredth of the peak learning rate. A run whose
# validation accuracy still changes by 0.3 points or more over its last fifth of epochs
# (and the epoch before them) had not reached a plateau; its test accuracy may
# understate what longer training would give. The converse does not hold: at so low a
# rate the last epochs barely move any run, so passing this test says that the schedule
# had ended, not that the network had converged. Whether a longer budget changes the
# comparison is a question for runs with a longer budget, not for this criterion: the
# [budget chapter](07_budget.ipynb) asks it, with a criterion that compares budgets.

# %% tags=["hide-input"]
settled = chapter.plateau_summary(plateau)
if records and settled is None:
    md(f"The runs of profile {profile} have no validation split, so there is no plateau "
       "criterion to apply.")
elif records:
    display(table(settled[0], caption="Change of the validation accuracy (points) over the last "
                  "fifth of epochs, per configuration; settled: runs below 0.3 points",
                  formats={"runs": "{:.0f}", "settled": "{:.0f}", "largest change": "{:.2f}",
                           "mean change": "{:.2f}"}))
    md(settled[1])

# %% [markdown]
# ## Next to the numbers the papers report
#
# The papers train the full-width ResNet-18 on CIFAR-10 and CIFAR-100
# {cite}`krizhevsky2009cifar`, the official DiffStride recipe for hundreds of epochs (the
# Hybrid paper's recipe could not be recovered). This book's published profile
# trains a narrow network for a few epochs on part of Fashion-MNIST
# {cite}`xiao2017fashion`, so the absolute numbers cannot be compared. What can be
# compared is the *order* of the configurations and the *size of the gaps* between
# them: does DiffStride beat fixed spectral pooling, and spectral pooling the strided
# network, by margins that look alike? The table puts our means next to the papers':
# the DiffStride paper's (2,2,2) row (the initial strides of our configurations), the
# official DiffStride README {cite}`diffstride2022readme` (pre-activation network,
# trained with mixup) and the Hybrid paper.
#
# The settings behind the two sides differ in more than the data set. The table lists
# them. The DiffStride paper's complexity regulariser (a penalty, weighted by λ, on the
# total size of the feature maps) trades accuracy for cost; the official code does not
# implement it and the accuracy tables the two papers share compare networks trained
# without it, so this book, like the `paper` profile, leaves λ at 0.

# %% tags=["hide-input"]
if records:
    display(table(results.settings_comparison(records, chapter.width64_parameters()),
                  caption=f"Training settings: this book's profile {profile} (read from its "
                  "run records) against the official DiffStride code and the Hybrid paper"))

# %% tags=["hide-input"]
if records:
    side = chapter.reported_side_by_side(summary, reported)
    display(table(chapter.reported_rows(side), digits=4, caption="Test accuracy (%): our runs "
                  "(mean over seeds) and the numbers the papers report; a dash: not reported"))
    display(table(chapter.reported_rows(side.sub(side.loc["strided"], axis=1))
                  .drop(columns="strided"), formats={c: "{:+.2f}" for c in MAIN_CONFIGS[1:]},
                  caption="Gap to the strided network of the same row, in points"))

# %% tags=["hide-input"]
if records:
    md(chapter.ranking_sentence(side, reported, intervals, facts.get("fashion_mnist")))

# %% [markdown]
# ### When the order differs: underfitting, and the shortcut's amplitude
#
# Where a short schedule puts the strided network first, two measurements help read
# the table. First, the *training* accuracy: if the spectral networks also fit the
# training set worse, that points to slower fitting rather than worse generalisation.
# Second, an
# amplitude effect of the official layers. Spectral pooling and DiffStride do not
# rescale, so with torch's (and TensorFlow's) default FFT norm a map cropped from
# $H \times W$ to $h \times w$ comes out multiplied by $HW/(hw)$. Inside a projection
# block the main path meets batch norm after the pooling, but the shortcut
# (1×1 convolution, then the *same* pooling module) is added to the block's output as
# it is. The cell below measures, at initialisation and on a batch of this profile's
# images, with batch norm normalising by the batch as in the first training step, how
# much larger the shortcut is than the residual branch in each projection block.

# %% tags=["hide-input"]
compare_configs = [c for c in MAIN_CONFIGS if c in set(runs.config)]
if records and set(compare_configs) == set(MAIN_CONFIGS):
    amplitude = chapter.fit_and_amplitude(runs, profile, results_dir)
    display(table(amplitude, formats={c: "{:.2f}" for c in amplitude.columns}, caption=(
        "Final training and test accuracy (mean over seeds) and, at initialisation, the ratio "
        "of the shortcut's standard deviation to the residual branch's in each projection "
        "block")))
elif records:
    md("This diagnosis needs a run of each of the four configurations of the papers' "
       "comparison; it appears once they are recorded.")

# %% tags=["hide-input"]
if records and set(compare_configs) == set(MAIN_CONFIGS):
    md(chapter.amplitude_sentence(amplitude))

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
    score, score_name = plots.curve_score(curves)
    plots.curves_figure(curves, COLOURS, profile, dataset_name)
    plt.show()

# %% tags=["hide-input"]
if records:
    md(chapter.curves_sentence(curves, score, score_name))

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
if records and strides.empty:
    md(f"No run of profile {profile} has a DiffStride layer.")
elif records:
    plots.strides_figures(strides, list(COLOURS), profile, dataset_name)
    plt.show()

# %% tags=["hide-input"]
if records and not strides.empty:
    learned = chapter.stride_table(strides)
    display(table(learned, formats={c: "{:.3f}" for c in learned.columns}, caption=(
        "Learned stride at the end of training (mean over seeds and over the two axes)")))
    md(chapter.strides_sentence(strides, records))

# %% tags=["hide-input"]
if records and not strides.empty:
    display(table(chapter.map_size_table(records), caption=(
        "Map size after each position at initialisation → at the end of training, for the "
        "runs with DiffStride layers")))

# %% [markdown]
# ## Accuracy against compute
#
# The cost of a configuration in two currencies: floating-point operations for one
# image at the end of training (counted, so exact but blind to how well the hardware
# runs FFTs), and training images per second (measured, so real but dependent on the
# machine and on whatever else it was doing). Both axes are logarithmic; the bars are
# the 95 % t-intervals over seeds.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test accuracy (mean with its 95 % interval over seeds) against the counted MFLOPs per image (top) and the measured training speed (bottom), both on logarithmic axes.", "name": "fig-cost"}}
for dataset in datasets:
    title = f"{dataset_name(dataset)}, profile {profile}: accuracy vs counted cost"
    speed = f"accuracy vs measured speed ({facts[dataset]['devices']})"
    plots.cost_figure(summary, intervals, COLOURS, dataset, (title, speed))
    plt.show()

# %% tags=["hide-input"]
if records:
    md(chapter.compute_sentence(summary))

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
ablation_present, why_not = chapter.ablation_status(runs, settings.get("configs", []), profile)
if records and why_not:
    md(why_not)
elif records:
    ablation = evidence.comparison_table(
        records, [(c, ref) for ref in ("hybrid", "diffstride") for c in ablation_present])
    display(table(words.format_comparisons(ablation), compact=True, caption=(
        "Position ablation: each configuration minus the hybrid and minus DiffStride, in "
        "points of test accuracy, with 95 % intervals (Holm-corrected p)")))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The position ablation: each configuration minus the hybrid (top half) and minus DiffStride (bottom half), with unadjusted 95 % intervals by seed (black) and by seed × image (blue). The verdicts apply Holm's correction over all these comparisons, so an interval that excludes zero here is not by itself a difference shown.", "name": "fig-ablation"}}
if records and ablation_present:
    plots.paired_differences_figure(ablation, dataset_name, f"profile {profile}: ")
    plt.show()

# %% tags=["hide-input"]
if records and ablation_present:
    md(words.ablation_sentence(records, ablation, ablation_present, dataset_name))

# %% [markdown]
# (sec-baseline)=
# ## Is the Hybrid paper's CIFAR-100 baseline the right one?
#
# The Hybrid paper reports its model against a DiffStride baseline on both CIFAR data
# sets. The DiffStride paper, whose table both papers share, reports the mean over six
# initial-stride rows for each method. Putting the numbers side by side shows which
# mean each baseline equals.

# %% tags=["hide-input"]
check = results.hybrid_baseline_check()
table(chapter.baseline_table(check), digits=4, caption="The Hybrid paper's claims and the "
      "DiffStride paper's means (accuracies in %, gains in points)")

# %% tags=["hide-input"]
md(chapter.baseline_sentence(check, reported, datasets, settings.get("width"),
                             settings.get("epochs")))

# %% tags=["hide-input"]
md(chapter.own_comparison(comparisons, profile))

# %% [markdown]
# Every run's own numbers (accuracy, cost, map sizes, learned strides and where it was
# made) are in the [appendix of all runs](09_all_runs.ipynb); the records themselves are
# the JSON files under `results/`.
#
# ## Exercises

# %% [markdown] exercise={"id": "6.1", "points": 3, "function": "seed_paired_interval", "check": "hybridlib.book.selfcheck.check_seed_paired_interval", "reference": ["hybridlib.stats.paired_difference", "hybridlib.stats.mean_interval"]}
# **Exercise 6.1** (A seed-paired interval from the records). Write
# `seed_paired_interval(records_a, records_b)`. Each argument is a list of run records of
# one configuration on one data set, in any order, as `RunStore.load` returns them:
# `record["settings"]["seed"]` is a run's seed, `record["final_test_acc"]` its test accuracy
# as a fraction. Pair the runs by seed (only the seeds both configurations have), take the
# differences $a - b$ in points of accuracy, and return their mean with its two-sided 95 %
# t-interval, `(mean, low, high)`. Then compute it for `hybrid` against `diffstride` from
# this chapter's `records` and find your numbers in the paired-comparisons table. Why is
# the interval narrower than the difference of the two configurations' own intervals in
# the headline table would suggest, or is it?

# %% tags=["exercise-stub"]
def seed_paired_interval(records_a, records_b):
    """Mean of a - b over the seeds both have (points), with its 95 % t-interval.

    Returns:
        (mean, low, high).
    """
    raise NotImplementedError(
        "Exercise 6.1: map seed -> 100 * final_test_acc for each side, keep the common seeds, "
        "take the differences d; the half-width is t(0.975, n - 1) * std(d, ddof=1) / sqrt(n) "
        "(scipy.stats.t.ppf gives the t quantile)")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 6.1", "code_prompt_hide": "Hide the solution to Exercise 6.1"}
import math

import numpy as np
import scipy.stats


def seed_paired_interval(records_a, records_b):
    """Mean of a - b over the seeds both have (points), with its 95 % t-interval."""
    a = {r["settings"]["seed"]: 100 * r["final_test_acc"] for r in records_a}
    b = {r["settings"]["seed"]: 100 * r["final_test_acc"] for r in records_b}
    d = np.array([a[s] - b[s] for s in sorted(set(a) & set(b))])
    half = scipy.stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


# %% tags=["exercise-check"]
print(check_seed_paired_interval(seed_paired_interval))

# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 6.1, on this book's runs", "code_prompt_hide": "Hide the solution to Exercise 6.1, on this book's runs"}
def runs_of(config, dataset):
    return [r for r in records if r["settings"]["config"] == config
            and r["settings"]["dataset"] == dataset]


for dataset in datasets:
    pair = runs_of("hybrid", dataset), runs_of("diffstride", dataset)
    paired = {r["settings"]["seed"] for r in pair[0]} & {r["settings"]["seed"] for r in pair[1]}
    if len(paired) > 1:
        mean, low, high = seed_paired_interval(*pair)
        print(f"{dataset_name(dataset)}: hybrid − diffstride = {mean:+.2f} points, "
              f"95 % interval [{low:+.2f}, {high:+.2f}] over {len(paired)} seeds")

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 6.1, the width
# :class: dropdown
# The printed interval is the "by seed" column of the paired-comparisons table. Its width
# depends on the standard deviation of the *differences*, $\sigma_a^2 + \sigma_b^2 -
# 2\rho\,\sigma_a\sigma_b$, where $\rho$ is the correlation of the two configurations'
# accuracies over seeds. Two unpaired intervals add the variances without the last term.
# Pairing narrows the interval only when $\rho > 0$, when the same seed moves both
# configurations the same way; the sentence under the paired-comparisons figure gives
# $\rho$ for this pair. With $\rho$ near zero the paired interval is about as wide as the
# unpaired one, and with fewer degrees of freedom ($n - 1$ instead of about $2n - 2$) it
# can even be wider.
# ```

# %% [markdown] exercise={"id": "6.2", "points": 2, "function": "holm_adjust", "check": "hybridlib.book.selfcheck.check_holm", "reference": ["hybridlib.stats.holm"]}
# **Exercise 6.2** (Holm's method). Write `holm_adjust(p_values)`, which returns Holm's
# adjusted p-values in the order given. Sort the $m$ p-values from the smallest; the one
# of rank $k$ (from 0) is multiplied by $m - k$; an adjusted value is never smaller than
# the one of the rank before it (take the running maximum) and never above 1. A comparison
# is shown at level 0.05 when its adjusted p is below 0.05, which is the same as running
# Holm's steps: test the smallest p against $0.05/m$, and only if it passes the next
# against $0.05/(m - 1)$, and so on.

# %% tags=["exercise-stub"]
def holm_adjust(p_values):
    """Holm's adjusted p-values, in the order of `p_values`."""
    raise NotImplementedError(
        "Exercise 6.2: visit the p-values from the smallest; multiply the one of rank k by "
        "m - k, cap it at 1, keep the running maximum, and store it at the p-value's position")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 6.2", "code_prompt_hide": "Hide the solution to Exercise 6.2"}
def holm_adjust(p_values):
    """Holm's adjusted p-values, in the order of `p_values`."""
    m = len(p_values)
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# %% tags=["exercise-check"]
print(check_holm(holm_adjust))

# %% [markdown] exercise={"id": "6.3", "points": 3}
# **Exercise 6.3** (One Holm step by hand). Take the seed × image p-values of one data
# set's family in the paired-comparisons table (before the correction: the table shows
# the adjusted ones, and `comparisons` holds both as `crossed_p` and `crossed_p_holm`).
# (a) Run the first step of Holm's method by hand: which comparison is tested first,
# against which threshold, and does it pass? (b) If it passes, run the second step; if
# not, say what Holm's method concludes about the other comparisons, and why. (c) A
# comparison that is "not shown" is not shown to be equal either: which table of this
# chapter says what differences the records rule out, and what does it say for the hybrid
# against DiffStride?

# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 6.3, the steps computed", "code_prompt_hide": "Hide the solution to Exercise 6.3, the steps computed"}
for dataset, family in comparisons.dropna(subset=["crossed_p"]).groupby("dataset"):
    family = family.sort_values("crossed_p")
    m = len(family)
    for step, row in enumerate(family.itertuples()):
        threshold = 0.05 / (m - step)
        passes = row.crossed_p < threshold
        print(f"{dataset_name(dataset)}, step {step + 1}: {row.a} − {row.b}, p = "
              f"{row.crossed_p:.4g} against 0.05/{m - step} = {threshold:.4g}: "
              f"{'shown' if passes else 'not shown, and Holm stops here'}")
        if not passes:
            break

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 6.3
# :class: dropdown
# (a) The first step tests the comparison with the smallest p against $0.05/m$, where
# $m$ is the number of comparisons in the family; the cell above prints it for this
# book's records. (b) If it passes, the next smallest is tested against $0.05/(m-1)$, and
# so on; at the first comparison that fails, Holm's method stops, and that comparison
# and every one with a larger p are not shown, whatever their own p, because the method
# guarantees a family-wise error rate of 5 % only when it stops there. This is the same
# as reading which adjusted p-values are below 0.05. (c) The equivalence table (two
# one-sided tests, in *What the records rule out*): its 90 % interval bounds the true
# difference, and "within ±0.3" is shown only when the whole interval lies inside the
# margin. The sentence below it says what it rules out for the hybrid against DiffStride.
# ```

# %% [markdown]
# ```{admonition} Key takeaways
# :class: takeaways
# * A mean over a handful of seeds is read with its t-interval; a gap between two means is
#   evidence only through an interval of the *difference*, and the verdicts here read the
#   one that counts both seeds and test images, after Holm's correction for the family.
# * Pairing by seed removes noise only as far as two configurations' runs move together;
#   pairing by test image holds the networks fixed and is blind to a new seed.
# * "Not shown" is not "no difference": the equivalence tests and the minimal detectable
#   difference say what these records rule out, and what they could not have detected.
# * Next to the papers, compare the order and the gaps, not the absolute numbers: the
#   settings differ in data, width and budget, and the Hybrid paper's CIFAR-100 gain is
#   measured against the spectral-pooling mean, not DiffStride's.
# * What this says about the Hybrid paper's claim is the box at the top of the chapter,
#   computed from the records; the [closing chapter](08_closing.ipynb) puts it together
#   with the budget study.
# ```
