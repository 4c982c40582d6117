"""hybridlib.runs: a run's identity, its files, and the one loader of records."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from hybridlib import runs
from hybridlib.paths import RESULTS_ENV, RUNS_ENV
from hybridlib.runs import RunStore
from tests.guards import no_hang  # noqa: F401
from tests.records import valid_record, write_valid


def write_complete(store: RunStore, run: dict, **fields) -> None:
    """A record ``RunStore.recorded`` takes: this run's settings hash, this code's hash."""
    runs.write_json(store.record_path(run), valid_record(run, **fields))


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
    # Left out: a record of other settings (the profile's earlier ones), other code unless
    # accepted.
    other = {**declared[2], "lr": 123.0}
    runs.write_json(store.record_path(declared[2]), valid_record(other))
    write_complete(store, declared[3], code_hash="0123456789abcdef")
    loaded = store.load("smoke")
    assert [r["settings"] for r in loaded] == [declared[0]]
    assert f"{len(declared) - 1} runs of profile smoke have no complete record" in (
        capsys.readouterr().err)
    assert len(store.load("smoke", accept_code=True)) == 2
    assert not (tmp_path / "c").exists()  # reading trains nothing


def test_the_committed_records_load_through_the_store():
    store = RunStore()
    cpu = store.load("cpu", accept_code=True)
    assert len(cpu) == len(runs.declared_runs("cpu"))
    assert all(json.dumps(r["settings"]) for r in cpu)
    # They were written before the settings had their own name, and are read as they are.
    on_disk = json.loads(store.record_path(cpu[0]["settings"]).read_text())
    assert "config" in on_disk and "settings" not in on_disk
    assert on_disk["config"] == cpu[0]["settings"] and "config" not in cpu[0]


def test_every_committed_record_is_valid():
    root = RunStore().results
    paths = sorted(root.rglob("seed*.json"))
    assert len(paths) > 100
    for path in paths:
        runs.read_record(path)  # raises, naming the file, for one that is not


# ------------------------------------------------------------------ records are data, not trust
@pytest.fixture
def smoke(tmp_path):
    """A store with a valid record of every smoke run; ``records`` maps config -> record."""
    store = RunStore(tmp_path / "r", tmp_path / "c")
    records = {run["config"]: write_valid(store, run) for run in runs.declared_runs("smoke")}
    return SimpleNamespace(store=store, records=records,
                           path=lambda config: store.record_path(records[config]["settings"]))


def bad(store: RunStore, config: str, **fields) -> tuple[runs.InvalidRecord, str]:
    """The error reading ``config``'s record raises, and the loader's message."""
    run = next(r for r in runs.declared_runs("smoke") if r["config"] == config)
    with pytest.raises(runs.InvalidRecord) as one:
        store.recorded(run, accept_code=True)
    with pytest.raises(runs.InvalidRecords) as loaded:
        store.load("smoke", accept_code=True)
    assert str(one.value) in str(loaded.value)
    for name, value in fields.items():
        assert getattr(one.value, name) == value, (name, str(one.value))
    return one.value, str(loaded.value)


def test_a_record_copied_over_another_run_s_is_refused_with_or_without_its_hash(smoke):
    hybrid = dict(smoke.records["hybrid"])
    strided = smoke.records["strided"]
    # Copied with the hash edited to strided's: the settings hash to hybrid's.
    runs.write_json(smoke.path("strided"), {**hybrid, "config_hash": strided["config_hash"]})
    err, message = bad(smoke.store, "strided", field="config_hash")
    assert "the record's own settings hash to" in err.reason
    assert str(smoke.path("strided").name) in message and "strided" in message
    # Copied as it is: self-consistent, but hybrid's settings do not belong in strided/.
    runs.write_json(smoke.path("strided"), hybrid)
    err, _ = bad(smoke.store, "strided", field="settings")
    assert "belong in <results>/smoke/synthetic/hybrid/seed0.json, not here" in err.reason


def rehashed(record: dict, **settings) -> dict:
    """``record`` with other settings and the hash that goes with them (a careful forger)."""
    changed = {**record["settings"], **settings}
    return {**record, "settings": changed, "config_hash": runs.config_hash(changed)}


def test_a_record_naming_another_data_set_never_reaches_the_data_loader(smoke, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("a record made a reader load data")

    monkeypatch.setattr(runs.datasets, "load_dataset", no_data)
    runs.write_json(smoke.path("hybrid"), rehashed(smoke.records["hybrid"], dataset="cifar10"))
    err, _ = bad(smoke.store, "hybrid", field="settings")
    assert "belong in <results>/smoke/cifar10/hybrid/seed0.json" in err.reason


def test_a_record_s_profile_must_be_a_profile(smoke):
    runs.write_json(smoke.path("hybrid"), rehashed(smoke.records["hybrid"], profile="../../etc"))
    err, _ = bad(smoke.store, "hybrid", field="settings.profile")
    assert "must be one of the names" in err.reason and "'../../etc'" in err.reason


def edit(record: dict, where: str, value) -> dict:
    """A deep copy of ``record`` with the field at dotted ``where`` set (or deleted if
    ``value`` is DELETE)."""
    record = json.loads(json.dumps(record))
    *path, last = where.split(".")
    target = record
    for key in path:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is DELETE:
        del target[last]
    else:
        target[int(last) if isinstance(target, list) else last] = value
    return record


DELETE = object()


@pytest.mark.parametrize(
    ("where", "value", "field", "words"),
    [
        ("final_test_acc", "0.5", "final_test_acc", "must be a finite number in 0..1"),
        ("test_correct", "%%% not base64 %%%", "test_correct", "must be base64 of 16 bytes"),
        ("test_correct", "!" * 24, "test_correct", "is not base64"),
        ("epochs", "1", "epochs", "must be a list, got '1' (a string)"),
        ("settings.seed", "abc", "settings.seed", "must be an integer in 0..4294967295"),
        ("learned_strides.stage2", ["2", "2"], "learned_strides.stage2[0]",
         "must be a finite number > 0"),
        ("test_size", 10**12, "test_size", "must be an integer in 1..100000000"),
        ("test_size", 1e12, "test_size", "must be an integer"),
        ("test_size", 32, "test_size", "the settings ask for 128 images"),
        ("epochs.0.epoch", 2, "epochs[0].epoch", "must be 1"),
        ("epochs.0.train_acc", True, "epochs[0].train_acc", "must be a finite number in 0..1"),
        ("settings.overrides", ["nonsense"], "settings.overrides[0]", "must be one of the names"),
        ("final_test_acc", 0.25, "final_test_acc", "test_correct holds 64 right of 128"),
        ("complete", False, "complete", "must be true"),
        ("settings.momentum", DELETE, "settings.momentum", "is missing"),
        ("provenance.git_commit", 7, "provenance.git_commit", "must be a string or null"),
        ("surprise", 1, "surprise", "is not a field of a run record"),
    ],
)
def test_a_wrong_field_is_named_with_the_reason(smoke, where, value, field, words):
    record = smoke.records["hybrid"]
    runs.write_json(smoke.path("hybrid"), edit(record, where, value))
    err, _ = bad(smoke.store, "hybrid", field=field)
    assert words in err.reason, err.reason


def test_a_record_of_earlier_code_is_read_and_its_errors_name_its_own_key(smoke):
    record = smoke.records["hybrid"]
    legacy = {"config": record["settings"], **{k: v for k, v in record.items() if k != "settings"}}
    runs.write_json(smoke.path("hybrid"), legacy)
    assert runs.read_record(smoke.path("hybrid")) == record
    runs.write_json(smoke.path("hybrid"), edit(legacy, "config.seed", "abc"))
    err, _ = bad(smoke.store, "hybrid", field="config.seed")
    assert "must be an integer" in err.reason
    both = {**legacy, "settings": record["settings"]}  # two keys: the old one is unknown
    runs.write_json(smoke.path("hybrid"), both)
    bad(smoke.store, "hybrid", field="config")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[1, 2]", "the file must be a JSON object, got [1, 2] (a list)"),
        (b'{"complete": true}', "field settings: is missing"),
        (b'{"x": "\xff\xfe"}', "it is not UTF-8 text"),
        (b'{"final_test_acc": NaN}', "it does not parse as strict JSON"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b"", "it does not parse as strict JSON"),
    ],
    ids=["a list", "complete alone", "not UTF-8", "NaN", "deep", "empty"],
)
def test_a_file_that_is_no_record_is_named(smoke, content, words):
    smoke.path("hybrid").write_bytes(content)
    _, message = bad(smoke.store, "hybrid")
    assert f"{smoke.path('hybrid').name} is not a valid run record: " in message
    assert words in message


@pytest.mark.usefixtures("no_hang")
def test_a_huge_record_or_a_pipe_is_refused_without_reading_it(smoke):
    path = smoke.path("hybrid")
    with open(path, "r+b") as f:
        f.truncate(300 << 20)  # 300 MB, sparse: refused by its size, never read
    err, _ = bad(smoke.store, "hybrid", field=None)
    assert f"{300 << 20} bytes, more than the {runs.RECORD_BYTES} it may hold" in err.reason
    path.unlink()
    os.mkfifo(path)
    err, _ = bad(smoke.store, "hybrid", field=None)
    assert err.reason == "a named pipe (FIFO), not a regular file"


def test_the_loader_lists_every_bad_record_and_how_to_replace_them(smoke):
    for config in ("strided", "hybrid"):
        smoke.path(config).write_text("[]")
    with pytest.raises(runs.InvalidRecords) as err:
        smoke.store.load("smoke")
    message = str(err.value)
    assert message.startswith("2 run record(s) of profile smoke are not valid:")
    assert "strided/seed0.json" in message and "hybrid/seed0.json" in message
    assert "python -m hybridlib.train --profile smoke trains their runs again" in message
    assert [e.path for e in smoke.store.invalid("smoke")] == sorted(
        smoke.path(c) for c in ("hybrid", "strided"))
