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
# # Appendix: every run
#
# One row per run of the profile, for reference: its accuracy and cost, the feature-map
# sizes after each downsampling position and the learned strides at the end of
# training, and the commit and code fingerprint that made it. The
# [results chapter](06_results.ipynb) reads these runs; the records themselves are the
# JSON files under `results/<profile>/`.

# %% tags=["parameters"]
profile = "cpu"
results_dir = None  # root folder of the run records; None: the repository's results/

# %% tags=["remove-input", "remove-stderr"]
from IPython.display import display

from hybridlib.book.formatting import md, table
from hybridlib.book.results_chapter import all_runs_tables
from hybridlib.results import runs_table
from hybridlib.runs import RunStore

records = RunStore(results_dir).load(profile, accept_code=True)
if not records:
    md(f"Profile {profile} has no run recorded yet.")
for frame, caption in all_runs_tables(runs_table(records)):
    display(table(frame, caption=caption))
