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
# # What the evidence says, and what it cannot
#
# The Hybrid paper claims that DiffStride early in the network and spectral pooling late
# beats DiffStride everywhere. Seven chapters built the layers, checked them against the
# official code, trained the comparison and tested it. This chapter puts the answer in
# one place, with the limits of the records it rests on, and says what it would take to
# test the claim at the papers' scale.
#
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * state what these records support about the Hybrid paper's claim, and what they do not;
# * say which differences between this book's runs and the papers' could change the answer;
# * run the paper-scale comparison on GPUs, knowing its price beforehand.
#
# **Prerequisites:** the [results](06_results.ipynb) and [budget](07_budget.ipynb)
# chapters.
# ```

# %% tags=["parameters"]
profile = "cpu"
results_dir = None  # root folder of the run records; None: the repository's results/

# %% tags=["hide-input", "remove-stderr"]
from hybridlib import budget
from hybridlib.book import closing
from hybridlib.book.formatting import md
from hybridlib.runs import RunStore

store = RunStore(results_dir)
records = store.load(profile, accept_code=True)

# %% [markdown]
# ## The claim, at this book's scale
#
# The [results chapter](06_results.ipynb) tests hybrid − DiffStride with seeds and test
# images as crossed sources of noise, and asks what the records rule out with two
# one-sided tests against a margin of 0.3 points:

# %% tags=["remove-input"]
md(closing.claim_paragraph(records, profile))

# %% [markdown]
# Those networks stopped after six epochs because their schedule ended, not because they
# had converged. The [budget study](07_budget.ipynb) trains the comparison again for
# longer, with its analysis fixed in code before its first run:

# %% tags=["remove-input"]
md(closing.study_paragraph(budget.study_records(store, accept_code=True)))

# %% [markdown]
# ## What this book could not test

# %% tags=["remove-input"]
md(closing.scale_paragraph(profile))

# %% [markdown]
# Each of these differences could change the answer. Spectral pooling keeps more of an
# image's low frequencies than a strided convolution, which may matter more for colour
# images with fine texture (CIFAR) than for grey clothing silhouettes (Fashion-MNIST): a
# hypothesis these records do not test. A network of width 64 has eight times the
# channels to spend on what the pooling keeps. And the papers train for hundreds of
# epochs, this book's networks for at most eighteen.

# %% tags=["remove-cell"]
# The prose above states the scales: keep it true to the profiles.
from hybridlib.configs import profile_settings

assert max(budget.budgets()) == 18
assert profile_settings("paper")["width"] == 64 == 8 * profile_settings("cpu")["width"]

# %% [markdown]
# ## The paper-scale runs
#
# The `paper` profile declares the papers' comparison whole: CIFAR-10 and CIFAR-100, the
# four configurations and the stride rows of the DiffStride paper, at width 64 with the
# official recipe, several seeds each. With GPUs, install the CUDA build of PyTorch and
# price the sweep before starting it:
#
# ```bash
# make setup TORCH=cu128
# python -m hybridlib.bench gpu --record          # checks the layers on the GPU, times them
# python -m hybridlib.sweep --profile paper --dry-run
# python -m hybridlib.sweep --profile paper --executor slurm --partition gpu --gpus 32
# python -m hybridlib.sweep status --profile paper
# make book PROFILE=paper                         # the book of those records
# ```
#
# Every run is load-or-train and resumes from its last epoch after a pre-emption, so the
# same commands continue an interrupted sweep.

# %% tags=["remove-input"]
md(closing.paper_price_paragraph())

# %% [markdown]
# ## Open questions
#
# * **Does the order hold when the networks are trained to convergence?** The budget
#   study follows it into longer training for width 8 on Fashion-MNIST, and its
#   convergence check says whether that is far enough; the paper profile is the papers'
#   setting.
# * **Is a gain of the hybrid, where there is one, the spectral layer's or the
#   rescaling's?** Spectral pooling without rescaling shrinks the residual branch against
#   the shortcut (the [results chapter](06_results.ipynb) measures it). The budget study's
#   `diffstride_rescaled` control tests the amplitude for DiffStride alone; a hybrid with
#   amplitude-preserving crops is not trained here.
# * **Where in the network does learned striding pay?** The position ablation shows no
#   difference these runs can detect at 3 seeds; the
#   [results chapter](06_results.ipynb) computes how large a difference 3 seeds can
#   detect.
# * **What do the strides learn when the weights are trained longer?** The strides move
#   in these runs, though not always far enough to change a map's size (the results
#   chapter's table of map sizes); where longer training takes them is open.
#
# ```{admonition} Key takeaways
# :class: takeaways
# * A claim is tested at a scale; these records test the Hybrid paper's claim on
#   Fashion-MNIST at width 8, not on CIFAR at width 64.
# * "No difference shown" is not "no difference": the equivalence test says which
#   differences the records rule out, and the detectable difference says which they
#   could have found.
# * An analysis fixed before its runs, and records that carry the hash of the code that
#   made them, let a reader check every number in this book.
# ```
