"""The training command of this code against another commit's: one run, timed in turn.

``python -m hybridlib.bench command --against COMMIT`` trains the same short run (a
profile's settings on a subset of the training images, for one epoch) with the library of
``COMMIT`` and with this one, each in a fresh process, alternately, round after round. It
reports the images/s each reached in its epoch as ``fit`` runs it (batching, the step,
the per-step checks, the progress bookkeeping: everything but the evaluation) as medians
with quartiles, and their ratio within each round, which holds when the machine's speed
drifts between rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hybridlib.configs import profile_settings
from hybridlib.paths import REPO_ROOT
from hybridlib.stats import quartiles
from hybridlib.verify import extract_library

__all__ = ["bench_command"]

# Trains the run with the library at argv[1] first on the path and prints the images/s
# of each epoch. Commits before the run store (0.2) passed the folders one by one.
_TIME_ONE_RUN = """
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import hybridlib.train as train
profile, config, overrides = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with tempfile.TemporaryDirectory() as at:
    if os.path.exists(os.path.join(sys.argv[1], "hybridlib", "runs.py")):
        from hybridlib import runs
        run = runs.build_run(profile, config, 0, None, overrides)
        record = train.fit(run, runs.RunStore(at + "/r", at + "/c"), force=True, progress=False)
    else:
        run = train.build_run(profile, config, 0, None, overrides)
        record = train.fit(run, at + "/r", at + "/c", force=True, progress=False)
print(json.dumps([e["images_per_s"] for e in record["epochs"]]))
"""


def _images_per_s(tree: Path, profile: str, config: str, overrides: dict) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _TIME_ONE_RUN, str(tree), profile, config, json.dumps(overrides)],
        capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise RuntimeError(f"the timed run with the library in {tree} failed: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])[0]


def bench_command(against: str, config: str = "diffstride", profile: str = "cpu",
                  train_images: int = 6400, repeats: int = 5) -> dict:
    """Images/s of one epoch of ``config`` in ``profile`` (seed 0, ``train_images``
    training images, a tenth as many test images) with the library of commit ``against``
    and with this one, ``repeats`` rounds, the two in turn and the first of each round
    alternating.

    Returns the rounds, each side's median and quartiles, and the ratio this / against.
    """
    # The profile's own validation split comes out of the training subset: the epoch
    # trains on ``train_images``.
    validation = profile_settings(profile).get("validation") or 0
    overrides = {"epochs": 1, "train_subset": train_images + validation,
                 "test_subset": max(train_images // 10, 1)}
    rounds = []
    with tempfile.TemporaryDirectory(prefix="hybridlib-command-") as folder:
        trees = {"against": extract_library(against, Path(folder)), "this": REPO_ROOT}
        for k in range(repeats):
            order = ("against", "this") if k % 2 == 0 else ("this", "against")
            rates = {side: _images_per_s(trees[side], profile, config, overrides)
                     for side in order}
            rounds.append({**rates, "ratio": rates["this"] / rates["against"]})
    return {
        "against": against, "config": config, "profile": profile, "overrides": overrides,
        "rounds": rounds,
        "images_per_s": {side: quartiles([r[side] for r in rounds])
                         for side in ("against", "this")},
        "ratio": quartiles([r["ratio"] for r in rounds]),
    }
