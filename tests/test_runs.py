"""hybridlib.runs: a run's identity, its files, and the one loader of records."""

from __future__ import annotations

import json

from hybridlib import runs
from hybridlib.paths import RESULTS_ENV, RUNS_ENV
from hybridlib.runs import RunStore


def write_complete(store: RunStore, run: dict, **fields) -> None:
    """A record ``RunStore.recorded`` takes: this run's settings hash, this code's hash."""
    runs.write_json(store.record_path(run), {
        "config": run, "config_hash": runs.config_hash(run), "code_hash": runs.CODE_HASH,
        "complete": True, **fields})


def test_the_store_takes_its_folders_from_the_paths_settings(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "records"))
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.chdir(tmp_path)  # a folder of its own: nothing is relative to it
    store = RunStore()
    assert (store.results, store.runs) == (tmp_path / "records", tmp_path / "checkpoints")
    assert RunStore(tmp_path / "r").results == tmp_path / "r"


def test_a_run_s_files_sit_at_the_same_place_under_both_folders(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    run = runs.build_run("smoke", "hybrid", 0)
    record = store.record_path(run)
    assert record == tmp_path / "r" / "smoke" / "synthetic" / "hybrid" / "seed0.json"
    assert store.checkpoint_path(run) == tmp_path / "c" / record.relative_to(
        tmp_path / "r").with_suffix(".pt")
    assert store.claim_path(run).suffix == ".claim"
    grid = store.sub("lr_grid")
    assert grid.record_path(run) == tmp_path / "r" / "lr_grid" / record.relative_to(tmp_path / "r")


def test_load_returns_the_complete_records_of_the_declared_runs_only(tmp_path, capsys):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    declared = runs.declared_runs("smoke")
    assert len(declared) >= 4
    write_complete(store, declared[0])
    # Left out: an incomplete record, a record of other settings, other code unless accepted.
    runs.write_json(store.record_path(declared[1]), {
        "config": declared[1], "config_hash": runs.config_hash(declared[1]),
        "code_hash": runs.CODE_HASH, "complete": False})
    other = {**declared[2], "lr": 123.0}
    runs.write_json(store.record_path(declared[2]), {
        "config": other, "config_hash": runs.config_hash(other), "code_hash": runs.CODE_HASH,
        "complete": True})
    write_complete(store, declared[3], code_hash="0123456789abcdef")
    loaded = store.load("smoke")
    assert [r["config"] for r in loaded] == [declared[0]]
    assert f"{len(declared) - 1} runs of profile smoke have no complete record" in (
        capsys.readouterr().err)
    assert len(store.load("smoke", accept_code=True)) == 2
    assert not (tmp_path / "c").exists()  # reading trains nothing


def test_the_committed_records_load_through_the_store():
    store = RunStore()
    cpu = store.load("cpu", accept_code=True)
    assert len(cpu) == len(runs.declared_runs("cpu"))
    assert all(json.dumps(r["config"]) for r in cpu)
