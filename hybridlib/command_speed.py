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
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hybridlib.configs import profile_settings
from hybridlib.paths import REPO_ROOT, RESULTS_ENV, results_root
from hybridlib.runs import CODE_VERSION
from hybridlib.stats import quartiles
from hybridlib.verify import LIBRARY_PRELUDE, extract_library

__all__ = ["bench_command"]

# Trains the run (argv[2:5]: profile, configuration, overrides as JSON) with the library at
# argv[1] and prints the images/s of each epoch.
_TIME_ONE_RUN = LIBRARY_PRELUDE + """
profile, config, overrides = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with tempfile.TemporaryDirectory() as at:
    record = fit(identity.build_run(profile, config, 0, None, overrides), at)
print(json.dumps([e["images_per_s"] for e in record["epochs"]]))
"""


def _images_per_s(side: str, tree: Path, profile: str, config: str, overrides: dict) -> float:
    # Both sides read this checkout's benchmark records (an extracted library has none),
    # so that a library that chooses its layout from them chooses as this one does.
    env = {**os.environ, RESULTS_ENV: str(results_root())}
    done = subprocess.run(
        [sys.executable, "-c", _TIME_ONE_RUN, str(tree), profile, config, json.dumps(overrides)],
        capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"the timed run of {config} ({profile} profile) with the library "
                           f"of {side} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])[0]


def _commit(name: str) -> str:
    """The full hash of commit ``name`` (a hash, a branch, ``HEAD~1``)."""
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"cannot read commit {name}: not a commit of this clone")
    return done.stdout.strip()


def bench_command(against: str, config: str = "diffstride", profile: str = "cpu",
                  train_images: int = 6400, repeats: int = 5) -> dict:
    """Images/s of one epoch of ``config`` in ``profile`` (seed 0, ``train_images``
    training images, a tenth as many test images) with the library of commit ``against``
    and with this one, ``repeats`` rounds, the two in turn and the first of each round
    alternating.

    Returns the rounds, each side's median and quartiles, the ratio this / against, and
    both sides' commits.

    Raises:
        ValueError: ``against`` is not a commit of this clone.
        RuntimeError: a timed run failed (its last line of errors).
    """
    commit = _commit(against)
    # The profile's own validation split comes out of the training subset: the epoch
    # trains on ``train_images``.
    validation = profile_settings(profile).get("validation") or 0
    overrides = {"epochs": 1, "train_subset": train_images + validation,
                 "test_subset": max(train_images // 10, 1)}
    rounds = []
    with tempfile.TemporaryDirectory(prefix="hybridlib-command-") as folder:
        trees = {"against": extract_library(commit, Path(folder)), "this": REPO_ROOT}
        names = {"against": f"commit {commit[:10]}", "this": "this checkout"}
        for k in range(repeats):
            order = ("against", "this") if k % 2 == 0 else ("this", "against")
            rates = {side: _images_per_s(names[side], trees[side], profile, config, overrides)
                     for side in order}
            rounds.append({**rates, "ratio": rates["this"] / rates["against"]})
    return {
        "against": commit, "this": CODE_VERSION, "config": config, "profile": profile,
        "overrides": overrides, "rounds": rounds,
        "images_per_s": {side: quartiles([r[side] for r in rounds])
                         for side in ("against", "this")},
        "ratio": quartiles([r["ratio"] for r in rounds]),
    }
