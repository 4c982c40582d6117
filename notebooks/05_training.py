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
# # Training every configuration
#
# This chapter trains every configuration of the chosen profile, or rather makes sure
# each one *has been* trained: `hybridlib.train` is load-or-train. A run whose complete
# record already exists, with the same settings hash, is read back from
# `results/<profile>/<dataset>/<configuration>/seed<k>.json` in milliseconds; a missing
# run is trained, checkpointed after every epoch under `runs/`, and recorded. The book of
# the published `cpu` profile is built from committed records in minutes and never trains:
# its runs are made by `python -m hybridlib.train` (below), and `force = True` (or
# `make reproduce`) retrains everything.
#
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * state the `cpu` profile's protocol (data split, schedule, precision, seeds) and say
#   why each choice was made;
# * read a run record: its settings, hashes, per-epoch scores and provenance;
# * explain how the learning rate of each configuration was chosen on the validation
#   split, never on the test set;
# * rerun one run, the whole sweep, or the paper-scale sweep on GPUs.
#
# **Prerequisites:** the [architectures chapter](04_architectures.ipynb); SGD with momentum,
# learning-rate schedules and the idea of a validation split.
# ```

# %% tags=["parameters"]
profile = "cpu"
force = False

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from hybridlib.book import plots
from hybridlib.book import training_chapter as chapter
from hybridlib.book.formatting import dataset_name, md, num, table
from hybridlib.book.recipe import recipe_table
from hybridlib.book.selfcheck import check_chosen_rates, check_step_schedule
from hybridlib.configs import CONFIGS, PROFILES, profile_runs
from hybridlib.local_sweep import train_profile
from hybridlib.runs import RunStore, build_run
from hybridlib.tuning import chosen_rates, grid_table, sweep_cost

settings = PROFILES[profile]
# The repository's results/ and runs/, wherever the kernel was started.
store = RunStore()

# %% [markdown]
# ## The protocol
#
# A profile is plain data in `hybridlib.configs`: the data sets, the configurations, the
# seeds and the training recipe. For the published `cpu` profile the choices are these.
#
# * **Data.** Fashion-MNIST {cite}`xiao2017fashion`, zero-padded from 28×28 to 32×32, so
#   that the CIFAR network applies unchanged and the DiffStride sizes of the [DiffStride
#   chapter](03_diffstride.ipynb) are the ones trained here (32 → 24 at $S = 2$, $R = 4$;
#   an odd size would follow the odd-size rule of that chapter). 5,000 training images,
#   500 per class, are held out as a validation split, the same for every run; the runs
#   train on 50,000 of the remaining 55,000 (what the time budget below allows), and the
#   10,000 test images are scored once, after the last epoch.
# * **Schedule.** Six epochs of SGD with momentum, a linear warm-up over the first 10 % of
#   the steps, then the peak rate, divided by 10 after three epochs and by 100 after four.
#   The last two epochs run at a hundredth of the peak rate, so little moves in them:
#   the [results chapter](06_results.ipynb) reports the change run by run, but a run can
#   pass that test and still gain from more epochs. Whether more epochs change the
#   answer is the question of the [budget study](07_budget.ipynb), which trains with a
#   warmup-stable-decay schedule instead: its constant-rate trunk does not depend on the
#   budget, so one run to 18 epochs also gives the 6- and 12-epoch runs, each branching
#   off with a decay of its own.
# * **No augmentation.** The images are centred and upright, and every shoe points the
#   same way: random crops and flips would teach invariances the test set never asks for.
# * **Precision.** Convolutions and linear layers run under bfloat16 autocast; the
#   spectral layers compute in float32 whatever the autocast (PyTorch's FFTs have no
#   bfloat16 version, and the layers' matrix path keeps their precision).
# * **Learning rate per configuration,** chosen on the validation split (next section): a
#   spectral network need not train best at the strided network's rate.
# * **Seeds.** Five seeds for the papers' comparison and the three readings of the hybrid,
#   three for the position ablation. The seed fixes the initialisation and the order of
#   the batches, so runs with the same seed are paired.
#
# The table lists every setting a run record stores, for the hybrid with seed 0; the
# other runs differ in configuration, seed and learning rate only.

# %% tags=["hide-input"]
example = build_run(profile, "hybrid", settings["seeds"][0])
table(recipe_table(example).rename_axis(None), caption=f"The settings of a run of profile "
      f"{profile}, as its record stores them")

# %% [markdown]
# ## Learning rates, chosen on the validation split
#
# `hybridlib.tuning` trains each configuration once (seed 0) at every rate of the profile's
# grid, for a shorter run (fewer epochs, fewer images, the same schedule shape), and keeps
# the rate with the best final validation accuracy; a tie goes to the smaller rate. Where
# the best rate is the largest (or smallest) of the grid, a rate beyond it might be better
# still, so that configuration's grid goes one step further that way, by the grid's own
# factor, as often as the profile's `extend` allows. The chosen rates are written into the
# profile, so that a run's settings never depend on
# other files; the cell below checks that they still agree with the recorded grid.
# {numref}`fig-lr-grid` draws the same numbers, one line per configuration.

# %% tags=["hide-input"]
grid = grid_table(profile)
if grid.empty:
    md(f"Profile {profile} has no learning-rate grid: every run uses the rate "
       f"{num(settings['lr'])}.")
else:
    spec = settings["lr_grid"]
    wide, formats = chapter.grid_wide(grid, settings)
    display(table(wide, formats=formats, caption=(
        f"Final validation accuracy (%) of the grid: seed 0, {spec['epochs']} epochs on "
        f"{spec['train_subset']:,} images; a dash: not recorded yet, or not in that "
        "configuration's grid")))
    md(chapter.grid_sentence(grid, profile, settings))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The learning-rate grid: final validation accuracy against the peak learning rate (seed 0, a short run), one line per configuration; a ring marks the rate the grid chose. The papers' four configurations are on the left, the others on the right.", "name": "fig-lr-grid"}}
plots.grid_figure(grid, plots.config_colours(settings["configs"]), chosen_rates(grid))
plt.show()

# %% [markdown]
# ## Load or train
#
# When a run trains, its progress bars (one per epoch, with loss, accuracy and images per
# second) go to the terminal, and an interrupted run resumes from its last completed
# epoch. The book of a profile other than `smoke` only reads the records; a run without
# one is counted below and left to the command line. Every record carries a fingerprint of
# the library code that made it; the book shows the records as they were made
# (`accept_code`) and says which were made by other code than the reader's.

# %% tags=["remove-stderr"]
if force or settings.get("book_trains", False):
    records = train_profile(profile, store, force=force, accept_code=not force)
else:
    records = store.load(profile, accept_code=True)

# %% [markdown]
# In the table, the *train* accuracy is the running accuracy over the batches of the last
# epoch (the network changes while it is measured, so it trails the network's final
# accuracy on the same images); *val.* is the final network on the validation split
# and *test* on the test set. The *settings hash* identifies the settings above; the
# *code hash* the library code that computed the run.

# %% tags=["hide-input"]
declared = profile_runs(profile)
if records:
    display(table(chapter.runs_made_table(records),
                  caption=f"The {len(records)} recorded runs of profile {profile}",
                  formats={("", "lr"): num, ("", "images/s"): "{:.0f}"}))
else:
    md(f"None of the {len(declared)} runs of profile {profile} is recorded yet.")

# %% tags=["hide-input"]
if records:
    display(table(chapter.made_by_table(records),
                  caption="What made the runs: commit, code hash and device"))
md(chapter.code_sentence(records, len(declared)))

# %% [markdown]
# ## What the sweep costs
#
# Each run records the seconds it spent training and scoring. The `cpu` profile's runs use
# one thread each, and two processes share the two cores of the machine the published
# runs were made on, so the sweep's wall-clock time is about half the sum.

# %% tags=["hide-input"]
cost = sweep_cost(profile, records)
display(table(cost.rename(columns={"recorded": "runs recorded", "declared": "runs declared",
                                   "hours": "hours of one process"}),
              caption="Recorded training and scoring time", digits=3,
              formats={"runs recorded": "{:.0f}", "runs declared": "{:.0f}"}))
md(chapter.cost_sentence(cost))

# %% [markdown]
# ## Rerunning and changing a run
#
# Each run is also one command, with flags overriding the profile for that run only:
#
# ```bash
# python -m hybridlib.train --profile cpu --config hybrid --seed 0          # load or train
# python -m hybridlib.train --profile cpu --config hybrid --seed 0 --force  # retrain
# python -m hybridlib.train --profile cpu --config diffstride --epochs 10   # an override
# ```
#
# A run retrained on another machine need not end with its record's numbers: oneDNN picks
# its kernels by processor, the last bits of a sum differ, and over thousands of steps
# the difference grows into a different network of the same quality. On one machine a
# run is repeatable to the bit, and resumes exactly after an interruption. So compare
# means over seeds with their intervals, not single runs; the end of the section *Load
# or train* above says how far one committed run moved when retrained here.
#
# A run with overrides is recorded under `results/<profile>-<hash>/…`, so an experiment
# never replaces the profile's own records. The whole `cpu` sweep is the grid, then the
# profile's runs; every command is load-or-train and can be started twice, in two
# terminals, to use two cores: each run is claimed by one process (a claim file beside its
# checkpoint), and a claim left by a killed process is taken over.
#
# ```bash
# python -m hybridlib.tuning --profile cpu     # the learning-rate grid (twice, for 2 cores)
# python -m hybridlib.tuning --profile cpu --status   # the grid and the rates it chooses
# python -m hybridlib.train --profile cpu      # the profile's runs (twice, for 2 cores)
# python -m hybridlib.sweep status --profile cpu      # done, running (epochs), missing,
#                                                     # and the hours left
# ```
#
# The configurations available are:

# %% tags=["hide-input"]
table(pd.DataFrame({"description": [s["description"] for s in CONFIGS.values()]},
                   index=pd.Index(list(CONFIGS), name="configuration")),
      caption="Every configuration of hybridlib.configs")

# %% [markdown]
# ## The paper profile at scale: one GPU, several, or a cluster
#
# The `paper` profile is the DiffStride paper's whole table: CIFAR-10 and CIFAR-100,
# strided, spectral and DiffStride networks and the three readings of the hybrid at each
# of the six initial-stride rows, the other baselines and the position ablation at
# (2, 2, 2), three seeds, with the official repository's current recipe (`--recipe
# first_commit` runs its first commit's instead). The papers' baselines are means over the
# six rows, so nothing less reproduces them. The run list is data,
# `hybridlib.sweep.run_list`; the table below counts it.
#
# That is hundreds of GPU-hours, so `hybridlib.sweep` prices the list before anything
# starts, and hands the missing runs to [submitit](https://github.com/facebookincubator/submitit)
# (install it with `pip install -e '.[sweep]'`). Every job is load-or-train: submitting the
# same sweep again skips the finished runs and resumes the interrupted ones from their last
# epoch, and a job that reaches its time limit is requeued and resumes the same way.
#
# ```bash
# # the bill first: the run list and GPU-hours per run (one calibration step on this device;
# # on a machine without a GPU an assumed throughput, which --gpu-tflops replaces)
# python -m hybridlib.sweep --profile paper --dry-run
# # a laptop or a desktop with one GPU: one run at a time
# python -m hybridlib.sweep --profile paper --executor local --gpus 1
# # a workstation with 4 GPUs: one process per GPU, the runs shared by estimated hours
# python -m hybridlib.sweep --profile paper --executor local --gpus 4
# # a SLURM cluster: one job array, one GPU per run, at most 32 at once
# python -m hybridlib.sweep --profile paper --executor slurm --partition gpu --gpus 32
# # where it stands: done, running, queued, failed (with its last log line), missing
# python -m hybridlib.sweep status --profile paper
# ```
#
# Records land in `results/paper/<dataset>/<configuration>[_s<row>]/seed<k>.json`, each
# written atomically, so a shared file system never shows half a record; submitit's logs
# are in `runs/sweep/`. Once the records are there, the next chapter reads them as it reads
# this book's own.

# %% tags=["hide-input"]
from hybridlib.sweep import counts_table, run_list

table(counts_table(run_list("paper")).rename(columns=dataset_name),
      caption="Runs of the paper profile")

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"id": "5.1", "points": 2, "function": "choose_rates", "check": "hybridlib.book.selfcheck.check_chosen_rates", "reference": ["hybridlib.tuning.chosen_rates"]}
# **Exercise 5.1** (The grid's rule). Write `choose_rates(grid)`, the rule that picks each
# configuration's learning rate. `grid` is a DataFrame with one row per grid run and the
# columns `config`, `lr` and `val_acc` (the final validation accuracy in %, NaN for a run
# not recorded yet), as `hybridlib.tuning.grid_table` returns it. Return a dict
# `{config: rate}` with, for every configuration whose runs are all recorded, the rate of
# the best validation accuracy; a tie goes to the smaller rate, and a configuration with a
# missing run gets no rate at all. Why should a tie go to the *smaller* rate?

# %% tags=["exercise-stub"]
def choose_rates(grid):
    """The learning rate the grid keeps for each configuration whose grid is complete.

    Args:
        grid: DataFrame with columns config, lr, val_acc (%, NaN where not recorded).

    Returns:
        {config: rate}.
    """
    raise NotImplementedError(
        "Exercise 5.1: group the rows by config, skip a group with a NaN score, sort it by "
        "lr, and take the rate of the first maximum of val_acc")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 5.1", "code_prompt_hide": "Hide the solution to Exercise 5.1"}
def choose_rates(grid):
    """The learning rate the grid keeps for each configuration whose grid is complete."""
    chosen = {}
    for config, runs in grid.groupby("config", sort=False):
        if runs.val_acc.isna().any():
            continue  # a rate not tried yet could still win
        runs = runs.sort_values("lr")
        best = runs.val_acc.to_numpy().argmax()  # the first maximum: the smaller rate
        chosen[config] = float(runs.lr.iloc[best])
    return chosen


# %% tags=["exercise-check"]
print(check_chosen_rates(choose_rates))

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 5.1, the tie
# :class: dropdown
# Two rates that score the same on one short run with one seed are equally good as far as
# the grid can tell. The smaller one is the safer bet for the longer runs: a rate near the
# edge of stability can work for three epochs and diverge, or train erratically, over six
# or in another seed, while a smaller rate only trains a little more slowly. Any fixed rule
# would do to make the choice reproducible; this one also errs on the side of stability.
# ```

# %% [markdown] exercise={"id": "5.2", "points": 2, "function": "step_rate", "check": "hybridlib.book.selfcheck.check_step_schedule", "reference": ["hybridlib.train.learning_rate"]}
# **Exercise 5.2** (The step schedule). Write `step_rate(step, total_steps, lr)`, the
# learning rate of the `cpu` profile's schedule at optimiser step `step` (counted from 0)
# of `total_steps`: a linear warm-up over the first tenth of the steps (at least one step),
# rising in equal increments to reach `lr` at its last step; then `lr`, divided by 10 from
# half of the steps on and by 100 from two thirds of the steps on. Then say how many of a
# six-epoch run's epochs run at the peak rate, and why the schedule ends at a hundredth of
# it.

# %% tags=["exercise-stub"]
def step_rate(step, total_steps, lr):
    """The step schedule's learning rate at 0-based step `step` of `total_steps`."""
    raise NotImplementedError(
        "Exercise 5.2: warm-up = max(1, int(0.1 * total_steps)); during it the rate is "
        "lr * (step + 1) / warm-up; after it, lr times 0.1 for each of the fractions 1/2 "
        "and 2/3 of total_steps that step has reached")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 5.2", "code_prompt_hide": "Hide the solution to Exercise 5.2"}
def step_rate(step, total_steps, lr):
    """The step schedule's learning rate at 0-based step `step` of `total_steps`."""
    warmup = max(1, int(0.1 * total_steps))
    if step < warmup:
        return lr * (step + 1) / warmup
    drops = (step >= total_steps / 2) + (step >= 2 * total_steps / 3)
    return lr * 0.1**drops


# %% tags=["exercise-check"]
print(check_step_schedule(step_rate))

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 5.2, the epochs
# :class: dropdown
# Over six epochs the warm-up takes the first 0.6 of an epoch, the peak rate runs until
# the middle of the run (epochs 1 to 3, the first partly warm-up), a tenth of it for the
# fourth epoch and a hundredth for the fifth and sixth. At a hundredth of the peak the
# weights barely move, so the network's scores settle: the noise of the large steps is
# averaged out. They settle whatever the network's state, so settled last epochs say that
# the schedule has ended, not that the network has converged; the
# [budget chapter](07_budget.ipynb) compares budgets instead.
# ```

# %% [markdown] exercise={"id": "5.3", "points": 3}
# **Exercise 5.3** (What the grid can and cannot tell). The grid scores every rate with one
# seed, on a shorter run than the profile's (fewer epochs and fewer images, the same shape
# of schedule), on the validation split. (a) Give one way in which the short run could
# favour a rate that is too large, and one in which it could favour a rate that is too
# small, for the full runs. (b) Why is the rate chosen on the validation split and never
# on the test set, and what would the results chapter's intervals mean otherwise? (c) With
# the records this chapter shows, how would you check whether a configuration's chosen
# rate was a good choice, without training anything new?

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 5.3
# :class: dropdown
# (a) *Too large:* a large rate can reach a good score in a few epochs and stay stable
# for that long, yet its steps keep the network noisy or unstable over a longer run with
# more steps at the peak. *Too small:* on a short run a small rate has not had the steps
# to get anywhere, so its score understates what it would reach with more epochs; and
# fewer images mean fewer steps per epoch, which favours larger rates at a fixed number
# of epochs. One seed adds its own noise: a second-best rate within a point of the best
# could win with another seed (the sentence under the grid's table says for which
# configurations that is so).
#
# (b) A rate chosen on the test set would be fitted to it: the test score of the chosen
# rate is then the maximum of several noisy scores, biased upwards, and more so for a
# configuration whose grid tried more rates. The results chapter's intervals assume that
# the test set played no part in any choice; with the validation split chosen once and
# the test set scored once, at the end, they do.
#
# (c) The profile's runs record their validation accuracy after every epoch: compare the
# configuration's curve with those of the others (the results chapter's learning curves),
# check whether its runs had settled, and whether its chosen rate sat at the end of the
# grid (the figure's ring at an end of its line), where a rate beyond might be better.
# ```

# %% [markdown]
# ```{admonition} Key takeaways
# :class: takeaways
# * Training is load-or-train: a record with the same settings hash is reused, an
#   interrupted run resumes from its last epoch, and the book never trains the published
#   profile.
# * The `cpu` protocol scores a fixed validation split every epoch and the test set once,
#   at the end; the learning rate of each configuration is chosen on the validation split.
# * The last epochs run at a hundredth of the peak rate, so most runs' scores settle at
#   the end; whether more epochs would help is a question for longer runs.
# * Every record stores its settings, the fingerprint of the code that made it, the
#   per-epoch scores and the prediction for every test image, for the paired tests of the
#   results chapter.
# ```
