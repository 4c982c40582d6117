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
from IPython.display import Markdown, display

from hybridlib.configs import CONFIGS, PROFILES
from hybridlib.paths import results_root, runs_root
from hybridlib.train import CODE_HASH, build_run, record_path, train_profile

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
# Every record carries a fingerprint of the library code that made it; the book shows the
# records as they were made (`accept_code`), and says below which were made by other code
# than the reader's. `force` retrains every run with the current code.

# %% tags=["remove-stderr"]
start = time.perf_counter()
records = train_profile(
    profile, force=force, results_dir=RESULTS, runs_dir=RUNS, accept_code=not force
)
elapsed = time.perf_counter() - start

# %%
runs_made = pd.DataFrame(
    [
        {
            "configuration": r["config"]["config"],
            "seed": r["config"]["seed"],
            "test accuracy (%)": round(100 * r["final_test_acc"], 2),
            "training time (s)": round(r["wall_seconds"]),
            "images/s": round(r["images_per_s"]),
            "device": r["provenance"]["device"],
            "commit": r["provenance"]["git_commit"] or "unknown",
            "code hash": r.get("code_hash") or "not recorded",
            "settings hash": r["config_hash"],
        }
        for r in records
    ]
).set_index(["configuration", "seed"])
# What each run gave, then what made the runs: a commit and code hash are shared by many.
display(runs_made.drop(columns=["device", "commit", "code hash"]))
display(runs_made.groupby(["device", "commit", "code hash"]).size().rename("runs").to_frame())

# %%
other_code = [r for r in records if r.get("code_hash") != CODE_HASH]
Markdown(
    f"{len(other_code)} of the {len(records)} records were made by library code other than "
    f"this book's (code hash `{CODE_HASH}`): their numbers are those of the code they record."
    if other_code else f"Every record was made by this book's library code (`{CODE_HASH}`)."
)

# %%
total = runs_made["training time (s)"].sum()
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

# %%
from hybridlib.sweep import counts_table, run_list

counts_table(run_list("paper"))
