"""Prove that a record made by older code is what the current code computes.

A change to the code that trains (a new schedule, a new layer option) changes the code
fingerprint (:mod:`hybridlib.codehash`), and the records made before it would be trained
again. When the change leaves what those runs compute untouched, retraining shows it:
this module retrains a record's run with the current code, in a temporary folder, and
compares its predicted class for every test image with the record's, bit for bit.

Bit for bit, a run depends on the machine as well as on the code: oneDNN picks its
kernels by processor, and a record made on another machine may not be reproduced by any
code here. Then the record's own code is taken from its commit (``git archive``) and
run beside the current code, on this machine, with the same settings; if the two
agree on every test prediction, the change did not alter the computation. Either way,
only an exact match adds the pair (the record's fingerprint, the current one) to
``hybridlib/code_equivalences.json``, with the evidence and the kind of proof, after which
the older records are accepted as they are. Anything else changes nothing and exits 1,
saying how many predictions differ.

Example::

    python -m hybridlib.verify results/cpu/fashion_mnist/hybrid/seed0.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hybridlib import codehash, runs, train
from hybridlib.paths import REPO_ROOT

__all__ = ["LIBRARY_PRELUDE", "VerificationFailed", "extract_library", "main",
           "rerun_with_its_own_code", "verify_record"]


class VerificationFailed(RuntimeError):
    """A rerun did not reproduce a record exactly; nothing was written."""


def _read_record(path: Path) -> dict:
    try:
        return runs.read_record(path)
    except runs.InvalidRecord as err:
        raise VerificationFailed(str(err)) from None


def _run_of(record: dict, path: Path) -> dict:
    """The record's own settings, rebuilt by the current code, checked against its hash."""
    settings = record["settings"]
    overrides = {k: settings[k] for k in settings.get("overrides", [])}
    overrides.update(threads=settings.get("threads"), device=settings.get("device", "cpu"))
    # The layout it ran in; before layouts were recorded, the one the device then had.
    overrides["layout"] = settings.get("layout") or (
        "channels_last" if str(overrides["device"]).startswith("cuda") else "contiguous")
    build = lambda extra: runs.build_run(  # noqa: E731
        settings["profile"], settings["config"], settings["seed"], settings["dataset"],
        {**overrides, **extra})
    run = build({})
    if runs.config_hash(run) != record["config_hash"]:
        # A training budget the profile declares is not an override, but still the run's.
        run = build({"epochs": settings["epochs"]})
    if runs.config_hash(run) != record["config_hash"]:
        raise VerificationFailed(
            f"{path}: the current code builds other settings for this run (settings hash "
            f"{runs.config_hash(run)}, the record's {record['config_hash']})"
        )
    return run


# The start of a script run in a separate interpreter with the library in the folder
# argv[1] first on its path: ``identity`` (build_run, config_hash, CODE_HASH) and
# ``fit(run, folder)``, which trains ``run`` from scratch with its files in ``folder``,
# whichever the library's age.
LIBRARY_PRELUDE = """
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import hybridlib.train as train
# Asked of the files, not of an import: an editable install of the current library would
# answer an import of a module the commit lacks.
if os.path.exists(os.path.join(sys.argv[1], "hybridlib", "runs.py")):  # a run store (0.2 on)
    from hybridlib import runs as identity
    fit = lambda run, at: train.fit(run, identity.RunStore(at + "/results", at + "/runs"),
                                    force=True, progress=False)
else:  # the folders passed one by one
    identity = train
    fit = lambda run, at: train.fit(run, at + "/results", at + "/runs", force=True,
                                    progress=False)
"""
# With the record's own code: rebuilds the run from the record's settings with that code
# and writes the rerun's record.
_OLD_CODE_RUN = LIBRARY_PRELUDE + """
record = json.load(open(sys.argv[2]))
settings = record.get("settings") or record["config"]  # "config": older records
overrides = {k: settings[k] for k in settings.get("overrides", [])}
overrides.update(threads=settings.get("threads"), device=settings.get("device", "cpu"))
build = lambda extra: identity.build_run(settings["profile"], settings["config"],
                                         settings["seed"], settings["dataset"],
                                         {**overrides, **extra})
run = build({})
if identity.config_hash(run) != record["config_hash"]:  # a budget the profile declares
    run = build({"epochs": settings["epochs"]})
assert identity.config_hash(run) == record["config_hash"], "other settings"
assert identity.CODE_HASH == record["code_hash"], f"the worktree's code is {identity.CODE_HASH}"
with tempfile.TemporaryDirectory() as folder:
    rerun = fit(run, folder)
json.dump(rerun, open(sys.argv[3], "w"))
"""


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True)


def extract_library(commit: str, folder: Path) -> Path:
    """Extract the library of ``commit`` into ``folder/tree`` and return that folder, to be
    put first on an interpreter's path.

    Raises:
        ValueError: the commit cannot be read (unknown, or not in this clone).
    """
    tree = folder / "tree"
    tree.mkdir()
    archive = _git("archive", "--output", str(folder / "code.tar"), commit, "hybridlib")
    if archive.returncode != 0:
        raise ValueError(f"cannot read commit {commit}: {archive.stderr.strip()}")
    with tarfile.open(folder / "code.tar") as code:
        code.extractall(tree, filter="data")
    # Older commits hold a namespace package, which an installed regular package of the
    # same name would shadow on the path: made regular, the commit's own code comes first.
    (tree / "hybridlib" / "__init__.py").touch()
    return tree


def rerun_with_its_own_code(path: Path, record: dict, folder: Path) -> subprocess.Popen:
    """Start retraining the record's run with the library of its own commit (extracted
    into ``folder``), in another process; its rerun is written to ``folder/rerun.json``."""
    commit = record.get("provenance", {}).get("git_commit")
    if not commit or record["provenance"].get("library_modified"):
        raise VerificationFailed(f"{path}: the record names no clean commit to rerun it with")
    try:
        tree = extract_library(commit, folder)
    except ValueError as err:
        raise VerificationFailed(f"{path}: {err}") from None
    return subprocess.Popen(
        [sys.executable, "-c", _OLD_CODE_RUN, str(tree), str(path.resolve()),
         str(folder / "rerun.json")], cwd=folder, stderr=subprocess.PIPE, text=True)


def _differing(a: str, b: str) -> int:
    old, new = runs.decode_predictions(a), runs.decode_predictions(b)
    return int(np.sum(old != new)) if old.shape == new.shape else max(len(old), len(new))


def verify_record(path: str | Path, equivalences: Path = codehash.EQUIVALENCES,
                  progress: bool = True) -> dict:
    """Rerun the record at ``path`` with the current code (and, if that does not
    reproduce it, with its own code beside it); on an exact match of every test
    prediction, record the equivalence of its code fingerprint with the current one and
    return the entry.

    Raises:
        VerificationFailed: the record cannot be rerun, or a prediction differs.
    """
    path = Path(path)
    record = _read_record(path)
    run = _run_of(record, path)
    with tempfile.TemporaryDirectory(prefix="hybridlib-verify-") as scratch:
        scratch = Path(scratch)
        # The record's own code runs beside the current code, in case the machine cannot
        # reproduce the record itself; it is only waited for if that is so.
        own, cannot = None, None
        if record["code_hash"] != runs.CODE_HASH:
            try:
                own = rerun_with_its_own_code(path, record, scratch)
            except VerificationFailed as err:
                cannot = err  # raised only if the record itself is not reproduced
        try:
            rerun = train.fit(run, runs.RunStore(scratch / "results", scratch / "runs"), force=True,
                                 progress=progress)
            against_record = _differing(record["test_predictions"], rerun["test_predictions"])
            proof, reference = "the record reproduced", record
            if against_record and cannot is not None:
                raise cannot
            if against_record and own is not None:
                _, errors = own.communicate()
                if own.returncode != 0:
                    raise VerificationFailed(f"{path}: the rerun with its own code failed: "
                                             f"{errors.strip().splitlines()[-1:]}")
                reference = json.loads((scratch / "rerun.json").read_text())
                proof = ("the record's own code and the current code, rerun side by side on "
                         f"this machine; the record itself differs here in {against_record} "
                         "predictions (another machine)")
        finally:
            if own is not None:
                own.kill()
                own.wait()
    differ = _differing(reference["test_predictions"], rerun["test_predictions"])
    if differ:
        what = "the record" if reference is record else "its own code's rerun"
        raise VerificationFailed(
            f"{path}: the current code does not reproduce {what}: {differ} of "
            f"{record['test_size']} test predictions differ (final test accuracy "
            f"{reference['final_test_acc']:.4f} against {rerun['final_test_acc']:.4f} now)"
        )
    entry = {
        "old": record["code_hash"],
        "new": runs.CODE_HASH,
        "record": path.resolve().relative_to(REPO_ROOT).as_posix()
        if path.resolve().is_relative_to(REPO_ROOT) else str(path),
        "test_predictions_sha256": hashlib.sha256(
            record["test_predictions"].encode()).hexdigest(),
        "proof": proof,
        "rerun_test_acc": rerun["final_test_acc"],
        "commit": runs.CODE_VERSION["git_commit"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if record["code_hash"] != runs.CODE_HASH:
        codehash.add_equivalence(entry, equivalences)
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.verify",
        description=(
            "Retrain run records with the current code and compare every test prediction "
            "bit for bit; when they are equal, the records' code fingerprint is accepted "
            "as the current one's (hybridlib/code_equivalences.json)."
        ),
    )
    parser.add_argument("records", nargs="+", type=Path, help="run record JSON files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for path in args.records:
        try:
            entry = verify_record(path, progress=not args.no_progress)
        except VerificationFailed as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{path}: every test prediction equal ({entry['proof']}); code {entry['old']} "
              f"computes as {entry['new']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
