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
# run is trained, checkpointed after every epoch under `runs/`, and recorded. The
# published book of the `cpu` profile is therefore built from committed records in
# minutes, and setting `force = True` (or `make reproduce`) retrains everything.

# %% tags=["parameters"]
profile = "cpu"
force = False

# %%
import time

import pandas as pd
from IPython.display import Markdown

from hybridlib.configs import CONFIGS, PROFILES
from hybridlib.paths import results_root, runs_root
from hybridlib.train import build_run, record_path, train_profile

settings = PROFILES[profile]
# The repository's results/ and runs/, wherever the kernel was started.
RESULTS, RUNS = results_root(), runs_root()

# %% [markdown]
# ## What the profile asks for
#
# A profile is plain data in `hybridlib.configs`: the data sets, the configurations, the
# seeds and the training recipe. Every field ends up in each run record, together with
# the settings' hash, so a record always says how it was made.

# %%
recipe = build_run(profile, settings["configs"][0], settings["seeds"][0])
shown = ["epochs", "batch_size", "train_subset", "test_subset", "width", "schedule", "lr",
         "momentum", "weight_decay", "label_smoothing", "mixup", "augment", "device"]
pd.DataFrame({"setting": shown, "value": [str(recipe[k]) for k in shown]}).set_index("setting")

# %%
runs = [(d, c, s) for s in settings["seeds"] for d in settings["datasets"] for c in settings["configs"]]
existing = sum(record_path(build_run(profile, c, s, d), RESULTS).exists() for d, c, s in runs)
Markdown(
    f"Profile **{profile}**: {settings['description']}. It has {len(runs)} runs "
    f"({len(settings['configs'])} configurations × {len(settings['datasets'])} data set(s) × "
    f"{len(settings['seeds'])} seed(s)); {existing} of them have a record on disk"
    + (", but `force` retrains them all." if force else ".")
)

# %% [markdown]
# ## Load or train
#
# The progress bars (one per epoch, with loss, accuracy and images per second) go to the
# terminal when a run actually trains; the book only shows the summary below. An
# interrupted run simply resumes from its last completed epoch when this cell runs again.

# %% tags=["remove-stderr"]
start = time.perf_counter()
records = train_profile(profile, force=force, results_dir=RESULTS, runs_dir=RUNS)
elapsed = time.perf_counter() - start

# %%
table = pd.DataFrame(
    [
        {
            "dataset": r["config"]["dataset"],
            "configuration": r["config"]["config"],
            "seed": r["config"]["seed"],
            "test accuracy (%)": round(100 * r["final_test_acc"], 2),
            "training time (s)": round(r["wall_seconds"]),
            "images/s": round(r["images_per_s"]),
            "device": r["provenance"]["device"],
            "commit": (r["provenance"]["git_commit"] or "unknown")[:8],
            "settings hash": r["config_hash"],
        }
        for r in records
    ]
)
table

# %%
total = table["training time (s)"].sum()
Markdown(
    f"This cell took {elapsed:.1f} s; the {len(records)} runs took {total / 60:.1f} minutes "
    f"of training when they were made (as recorded, on the devices listed above)."
)

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
# A run with overrides is recorded under `results/<profile>-<hash>/…`, so an experiment
# never replaces the profile's own records. The configurations available are:

# %%
pd.DataFrame(
    {"configuration": list(CONFIGS), "description": [s["description"] for s in CONFIGS.values()]}
).set_index("configuration")
