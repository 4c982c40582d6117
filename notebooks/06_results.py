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
import matplotlib.pyplot as plt
from IPython.display import display

from hybridlib import evidence, results
from hybridlib.book import evidence_text as words
from hybridlib.book import plots
from hybridlib.book import results_chapter as chapter
from hybridlib.book.formatting import dataset_name, md, table
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
    display(table(evidence.headline_table(records, dataset), caption=caption, digits=4,
                  formats={"test acc. (%)": "{:.2f}", "train acc. (%)": "{:.2f}",
                           "val. acc. (%)": "{:.2f}", "images / s": "{:.0f}"}))
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
    display(table(words.format_comparisons(comparisons),
                  caption=f"Profile {profile}: a − b in points of test accuracy, with 95 % "
                  "intervals and Holm-corrected p (by seed, then by seed × image)"))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The paired comparisons: each difference with its unadjusted 95 % interval by seed (black) and by seed × image (blue). The verdicts in the text apply Holm's correction to the seed × image test, so an interval that just excludes the dotted zero line is not necessarily a difference shown.", "name": "fig-paired"}}
if records and not comparisons.empty:
    plots.paired_differences_figure(comparisons, dataset_name, f"profile {profile}: ")
    plt.show()

# %% tags=["hide-input"]
if records and not comparisons.empty:
    md(words.describe_comparisons(comparisons, dataset_name))
    md(words.pairing_sentence(comparisons, dataset_name))

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
# comparison is a question for runs with a longer budget, not for this criterion.

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
    display(table(results.settings_comparison(records, chapter.width64_parameters()),
                  caption=f"Training settings: this book's profile {profile} (read from its "
                  "run records) against the official DiffStride code and the Hybrid paper"))

# %% tags=["hide-input"]
if records:
    side = chapter.reported_side_by_side(summary, reported)
    display(side.style.set_caption("Test accuracy (%): our runs (mean over seeds) and the "
                                   "reported numbers. Empty: not reported.")
            .format("{:.2f}", na_rep=""))
    display(side.sub(side.loc["strided"], axis=1).drop(index="strided").style.set_caption(
        "Gap to the strided network of the same column, in points").format("{:+.2f}", na_rep=""))

# %% tags=["hide-input"]
if records:
    md(chapter.ranking_sentence(side, reported, intervals, facts.get("fashion_mnist")))

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
compare_configs = [c for c in MAIN_CONFIGS if c in set(runs.config)]
if records and set(compare_configs) == set(MAIN_CONFIGS):
    amplitude = chapter.fit_and_amplitude(runs, profile, results_dir)
    display(amplitude.style.set_caption(
        "Final training and test accuracy (mean over seeds) and, at initialisation, the ratio "
        "of the shortcut's standard deviation to the residual branch's in each projection "
        "block").format("{:.2f}"))
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
    display(chapter.stride_table(strides).style.set_caption(
        "Learned stride at the end of training (mean over seeds and over the two axes)")
        .format("{:.3f}", na_rep=""))
    md(chapter.strides_sentence(strides, records))

# %% tags=["hide-input"]
if records and not strides.empty:
    display(chapter.map_size_table(records).style.set_caption(
        "Map size after each position at initialisation → at the end of training, for the "
        "runs with DiffStride layers"))

# %% [markdown]
# ## Accuracy against compute
#
# The cost of a configuration in two currencies: floating-point operations for one
# image at the end of training (counted, so exact but blind to how well the hardware
# runs FFTs), and training images per second (measured, so real but dependent on the
# machine and on whatever else it was doing). Both axes are logarithmic; the bars are
# the 95 % t-intervals over seeds.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test accuracy (mean with its 95 % interval over seeds) against the counted FLOPs per image (left) and the measured training speed (right), both on logarithmic axes.", "name": "fig-cost"}}
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
    display(table(words.format_comparisons(ablation), caption=(
        "Position ablation: each configuration minus the hybrid and minus DiffStride, in "
        "points of test accuracy, with 95 % intervals (Holm-corrected p)")))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The position ablation: each configuration minus the hybrid (top half) and minus DiffStride (bottom half), with unadjusted 95 % intervals by seed (black) and by seed × image (blue). The verdicts apply Holm's correction over all these comparisons, so an interval that excludes zero here is not by itself a difference shown.", "name": "fig-ablation"}}
if records and ablation_present:
    plots.paired_differences_figure(ablation, dataset_name, f"profile {profile}: ")
    plt.show()

# %% tags=["hide-input"]
if records and ablation_present:
    md(words.describe_comparisons(ablation, dataset_name))
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
display(check.T.style.set_caption("The Hybrid paper's claims and the DiffStride paper's means "
                                  "(accuracy and gains in %)").format(
    lambda v: f"{v:.2f}" if isinstance(v, float) else v))

# %% tags=["hide-input"]
md(chapter.baseline_sentence(check, reported, datasets, settings.get("width"),
                             settings.get("epochs")))

# %% tags=["hide-input"]
md(chapter.own_comparison(comparisons, profile))

# %% [markdown]
# Every run's own numbers (accuracy, cost, map sizes, learned strides and where it was
# made) are in the [appendix of all runs](09_all_runs.ipynb); the records themselves are
# the JSON files under `results/`.
