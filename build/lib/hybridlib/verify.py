"""Prove that a record made by older code is what the current code computes.

A change to the code that trains (a new schedule, a new layer option) changes the code
fingerprint (:mod:`hybridlib.codehash`), and the records made before it would be trained
again. When the change leaves what those runs compute untouched, one retraining shows it:
this module retrains a record's run with the current code, in a temporary folder, and
compares its predicted class for every test image with the record's, bit for bit. Only
if every one is equal does it add the pair (the record's fingerprint, the current one) to
``hybridlib/code_equivalences.json``, with the evidence, after which the older records are
accepted as they are. Anything else changes nothing and exits 1, saying how many
predictions differ.

Example::

    python -m hybridlib.verify results/cpu/fashion_mnist/hybrid/seed0.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hybridlib import codehash
from hybridlib import train as training

__all__ = ["VerificationFailed", "main", "rerun_record", "verify_record"]


class VerificationFailed(RuntimeError):
    """A rerun did not reproduce a record exactly; nothing was written."""


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise VerificationFailed(f"{path}: cannot read the record ({err})") from None
    if not isinstance(record, dict) or not record.get("complete"):
        raise VerificationFailed(f"{path}: not a complete run record")
    for key in ("config", "config_hash", "code_hash", "test_predictions"):
        if not record.get(key):
            raise VerificationFailed(f"{path}: the record has no {key!r}")
    return record


def _run_of(record: dict, path: Path) -> dict:
    """The record's own settings, rebuilt by the current code, checked against its hash."""
    settings = record["config"]
    overrides = {k: settings[k] for k in settings.get("overrides", [])}
    overrides.update(threads=settings.get("threads"), device=settings.get("device", "cpu"))
    run = training.build_run(settings["profile"], settings["config"], settings["seed"],
                             settings["dataset"], overrides)
    if training.config_hash(run) != record["config_hash"]:
        raise VerificationFailed(
            f"{path}: the current code builds other settings for this run (settings hash "
            f"{training.config_hash(run)}, the record's {record['config_hash']})"
        )
    return run


def rerun_record(path: Path, progress: bool = True) -> tuple[dict, dict]:
    """Retrain the run of the record at ``path`` with the current code in a temporary
    folder; return ``(record, rerun)``."""
    record = _read_record(path)
    run = _run_of(record, path)
    with tempfile.TemporaryDirectory(prefix="hybridlib-verify-") as folder:
        rerun = training.fit(run, Path(folder) / "results", Path(folder) / "runs",
                             force=True, progress=progress)
    return record, rerun


def verify_record(path: str | Path, equivalences: Path = codehash.EQUIVALENCES,
                  progress: bool = True) -> dict:
    """Rerun the record at ``path``; if every test prediction is equal, record the
    equivalence of its code fingerprint with the current one and return the entry.

    Raises:
        VerificationFailed: the record cannot be rerun, or a prediction differs.
    """
    path = Path(path)
    record, rerun = rerun_record(path, progress)
    old = training.decode_predictions(record["test_predictions"])
    new = training.decode_predictions(rerun["test_predictions"])
    if old.shape != new.shape or not np.array_equal(old, new):
        differ = int(np.sum(old != new)) if old.shape == new.shape else "all"
        raise VerificationFailed(
            f"{path}: the current code does not reproduce the record: {differ} of "
            f"{len(old)} test predictions differ (final test accuracy "
            f"{record['final_test_acc']:.4f} recorded, {rerun['final_test_acc']:.4f} now)"
        )
    entry = {
        "old": record["code_hash"],
        "new": training.CODE_HASH,
        "record": path.resolve().relative_to(training.REPO_ROOT).as_posix()
        if path.resolve().is_relative_to(training.REPO_ROOT) else str(path),
        "test_predictions_sha256": hashlib.sha256(
            record["test_predictions"].encode()).hexdigest(),
        "final_test_acc": record["final_test_acc"],
        "commit": training.CODE_VERSION["git_commit"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if record["code_hash"] != training.CODE_HASH:
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
        print(f"{path}: reproduced bit for bit; code {entry['old']} computes as {entry['new']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
