"""Older records stay valid only by proof: a bit-for-bit rerun (hybridlib.verify)."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from hybridlib import codehash, runs, train, verify
from hybridlib.runs import RunStore

REPO = Path(__file__).resolve().parent.parent


def smoke_record(tmp_path, monkeypatch, made_by="0123456789abcdef"):
    """A smoke run's record, written as if by code with fingerprint ``made_by``."""
    for module in (train, runs):  # train writes the fingerprint, runs checks it
        monkeypatch.setattr(module, "CODE_HASH", made_by)
    monkeypatch.setattr(runs, "ACCEPTED_CODE", frozenset({made_by}))
    run = runs.build_run("smoke", "hybrid", 0, "synthetic", {"epochs": 1, "width": 4})
    train.fit(run, RunStore(tmp_path / "results", tmp_path / "runs"), progress=False)
    monkeypatch.undo()
    return runs.record_path(run, tmp_path / "results")


def test_a_reproduced_record_makes_its_code_accepted(tmp_path, monkeypatch):
    path = smoke_record(tmp_path, monkeypatch)
    equivalences = tmp_path / "equivalences.json"
    entry = verify.verify_record(path, equivalences, progress=False)
    assert entry["old"] == "0123456789abcdef" and entry["new"] == runs.CODE_HASH
    assert "0123456789abcdef" in codehash.accepted_hashes(runs.CODE_HASH, equivalences)
    # ... and, through a chain of proofs, from a later fingerprint too.
    codehash.add_equivalence({"old": runs.CODE_HASH, "new": "later"}, equivalences)
    assert "0123456789abcdef" in codehash.accepted_hashes("later", equivalences)
    assert codehash.accepted_hashes("unrelated", equivalences) == {"unrelated"}


def tamper(path: Path, **provenance) -> None:
    """Change one test prediction of the record at ``path`` (and its provenance)."""
    record = json.loads(path.read_text())
    predictions = runs.decode_predictions(record["test_predictions"])
    predictions[3] = (predictions[3] + 1) % 4
    record["test_predictions"] = runs.encode_predictions(torch.from_numpy(predictions))
    record["provenance"].update(provenance)
    path.write_text(json.dumps(record))


def test_a_record_nothing_reproduces_is_refused_and_nothing_written(tmp_path, monkeypatch):
    path = smoke_record(tmp_path, monkeypatch)
    equivalences = tmp_path / "equivalences.json"
    # Its commit does not exist: the record's own code cannot be run to compare with.
    tamper(path, git_commit="f" * 40, library_modified=False)
    with pytest.raises(verify.VerificationFailed, match="cannot read commit"):
        verify.verify_record(path, equivalences, progress=False)
    tamper(path, git_commit=None)
    with pytest.raises(verify.VerificationFailed, match="names no clean commit"):
        verify.verify_record(path, equivalences, progress=False)
    assert not equivalences.exists()


def git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


def test_where_the_machine_differs_the_records_own_code_is_rerun_beside(tmp_path, monkeypatch):
    # A record of the committed code whose predictions this machine does not reproduce
    # (one is changed): its own code, taken from its commit, and the current code agree.
    if git("status", "--porcelain", "--", "hybridlib").stdout.strip():
        pytest.skip("the library differs from its commit: its own code cannot be rerun")
    run = runs.build_run("smoke", "hybrid", 0, "synthetic", {"epochs": 1, "width": 4})
    train.fit(run, RunStore(tmp_path / "results", tmp_path / "runs"), progress=False)
    path = runs.record_path(run, tmp_path / "results")
    tamper(path, git_commit=git("rev-parse", "HEAD").stdout.strip(), library_modified=False)
    for module in (train, runs):  # the current code is newer
        monkeypatch.setattr(module, "CODE_HASH", "a later version")
    equivalences = tmp_path / "equivalences.json"
    entry = verify.verify_record(path, equivalences, progress=False)
    assert entry["proof"].startswith("the record's own code and the current code")
    assert "differs here in 1 predictions" in entry["proof"]
    assert codehash.accepted_hashes("a later version", equivalences) >= {
        "a later version", json.loads(path.read_text())["code_hash"]}


def test_a_record_with_other_settings_is_refused(tmp_path, monkeypatch):
    path = smoke_record(tmp_path, monkeypatch)
    record = json.loads(path.read_text())
    # Valid and self-consistent, but not what the profile makes of this run.
    record["settings"]["momentum"] = 0.5
    record["config_hash"] = runs.config_hash(record["settings"])
    path.write_text(json.dumps(record))
    with pytest.raises(verify.VerificationFailed, match="builds other settings"):
        verify.verify_record(path, tmp_path / "eq.json", progress=False)
    record["config_hash"] = "f" * 16  # an edited hash is no record at all
    path.write_text(json.dumps(record))
    with pytest.raises(verify.VerificationFailed, match="is not a valid run record"):
        verify.verify_record(path, tmp_path / "eq.json", progress=False)
    assert verify.main([str(tmp_path / "missing.json")]) == 1


def test_every_committed_record_was_made_by_code_the_current_code_accepts():
    # A committed record never goes stale silently: its fingerprint is the current one,
    # or one that a bit-for-bit rerun proved equivalent (hybridlib.verify).
    made_by = {}
    for path in (REPO / "results").rglob("seed*.json"):
        record = json.loads(path.read_text())
        made_by.setdefault(record["code_hash"], path)
    assert made_by, "no committed run records found"
    stale = {h: str(p) for h, p in made_by.items() if h not in runs.ACCEPTED_CODE}
    assert not stale, f"records made by code not proven equivalent to the current: {stale}"


def test_the_proofs_name_records_that_exist_with_the_predictions_they_checked():
    import hashlib

    for entry in json.loads(codehash.EQUIVALENCES.read_text())["equivalences"]:
        record = json.loads((REPO / entry["record"]).read_text())
        assert record["code_hash"] == entry["old"]
        digest = hashlib.sha256(record["test_predictions"].encode()).hexdigest()
        assert digest == entry["test_predictions_sha256"]
