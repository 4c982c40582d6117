"""``python -m hybridlib.train`` against hostile folders, claims, devices and signals: each
case ends with one line naming the bad thing, before any work where it can be found then,
with nothing lost and nothing hanging."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hybridlib import files, local_sweep, runs, train
from hybridlib.paths import RESULTS_ENV, RUNS_ENV
from hybridlib.runs import RunStore
from tests.guards import no_hang  # noqa: F401

QUICK = ["--profile", "smoke", "--config", "strided", "--epochs", "1", "--width", "4",
         "--train-subset", "128", "--no-progress"]
SETTINGS = {"epochs": 1, "width": 4, "train_subset": 128}


def folders(tmp_path: Path) -> list[str]:
    return ["--results-dir", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "c")]


def the_run() -> dict:
    return runs.build_run("smoke", "strided", 0, overrides=SETTINGS)


def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "r", tmp_path / "c")


# ----------------------------------------------------------------------------- files
@pytest.mark.usefixtures("no_hang")
def test_a_pipe_at_the_record_path_is_named_and_replaced_not_waited_on(tmp_path, capsys):
    path = store(tmp_path).record_path(the_run())
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert local_sweep.main([*QUICK, *folders(tmp_path)]) == 0
    assert "a named pipe (FIFO), not a regular file" in capsys.readouterr().err
    assert runs.read_record(path)["complete"]


@pytest.mark.parametrize("where", ["claim", "forced-since"])
def test_a_folder_where_a_claim_or_the_forced_marker_goes_is_named(where, tmp_path, capsys):
    run = the_run()
    path = (store(tmp_path).claim_path(run) if where == "claim"
            else tmp_path / "c" / "smoke" / local_sweep.FORCED_MARKER)
    path.mkdir(parents=True)
    assert local_sweep.main([*QUICK, *folders(tmp_path), "--force"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {path} is a folder") and "remove it" in err[-1]
    assert not store(tmp_path).record_path(run).exists()


@pytest.mark.parametrize("where", ["record", "checkpoint"])
def test_a_folder_where_the_record_or_checkpoint_goes_stops_the_run_before_training(
    where, tmp_path, capsys, monkeypatch
):
    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(train, "_train", no_training)
    path = getattr(store(tmp_path), f"{where}_path")(the_run())
    path.mkdir(parents=True)
    assert local_sweep.main([*QUICK, *folders(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {path}: a folder stands where a file should be"


# ----------------------------------------------------------------------------- claims
def foreign_claim(tmp_path: Path) -> Path:
    path = store(tmp_path).claim_path(the_run())
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"host": "a-container-long-gone", "pid": 1, "started": 0}))
    return path


def test_a_run_another_host_holds_is_skipped_by_name_and_fails_the_command(tmp_path, capsys):
    claim = foreign_claim(tmp_path)
    assert local_sweep.main([*QUICK, *folders(tmp_path)]) == local_sweep.HELD_EXIT
    err = capsys.readouterr().err
    assert f"claim {claim}" in err and "a-container-long-gone" in err and "skipped" in err
    assert "1 run(s) skipped because other processes hold them" in err
    assert local_sweep.main([*QUICK, *folders(tmp_path), "--skip-held"]) == 0
    assert not store(tmp_path).record_path(the_run()).exists()


def test_force_takes_over_another_host_s_claim(tmp_path, capsys):
    claim = foreign_claim(tmp_path)
    assert local_sweep.main([*QUICK, *folders(tmp_path), "--force"]) == 0
    assert "taking over the claim of process 1 on a-container-long-gone" in (
        capsys.readouterr().err)
    assert runs.read_record(store(tmp_path).record_path(the_run()))["complete"]
    assert not claim.exists()


def test_an_expired_claim_of_another_host_is_taken_over(tmp_path):
    claim = foreign_claim(tmp_path)
    then = time.time() - local_sweep.EXPIRES_SECONDS - 60
    os.utime(claim, (then, then))
    assert local_sweep.main([*QUICK, *folders(tmp_path)]) == 0
    assert not claim.exists()


# ----------------------------------------------------------------------------- paths
def test_the_folders_come_from_the_environment_not_the_working_folder(tmp_path, monkeypatch):
    from hybridlib import sweep

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "records"))
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.chdir(tmp_path)
    assert local_sweep.main(QUICK) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "records"]
    table = sweep.status([the_run()])  # RunStore() of the same environment
    assert table.state.tolist() == ["done"]


@pytest.mark.parametrize("flag", ["--results-dir", "--runs-dir"])
def test_a_file_given_as_a_folder_stops_the_command_before_training(flag, tmp_path, capsys,
                                                                    monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(local_sweep, "fit", no_training)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    argv = [*QUICK, *folders(tmp_path), flag, str(a_file)]
    assert local_sweep.main(argv) == 1
    assert capsys.readouterr().err.strip() == f"error: {flag} {a_file}: a file, not a folder"


def test_a_read_only_folder_is_found_before_training(tmp_path, capsys, monkeypatch):
    real_open = open

    def read_only(path, *args, **kwargs):
        if ".write-probe" in str(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", read_only, raising=False)
    assert local_sweep.main([*QUICK, *folders(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --results-dir {tmp_path / 'r'}: cannot write there: the file system "
                   "is read-only")
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()


def full_disk_for(suffix: str, monkeypatch) -> None:
    """Writes of files ending in ``suffix`` go to /dev/full, as on a full disk."""
    temporary = runs.temporary_path

    def to_dev_full(path):
        tmp = temporary(path)
        if str(path).endswith(suffix):
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.symlink_to("/dev/full")
        return tmp

    monkeypatch.setattr(runs, "temporary_path", to_dev_full)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_told_in_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    full_disk_for(".pt", monkeypatch)  # torch's writer: "unexpected pos"
    assert local_sweep.main([*QUICK, *folders(tmp_path)]) == 1
    checkpoint = store(tmp_path).checkpoint_path(the_run())
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {checkpoint}: the disk is full (no space left on the device)"
    assert not list((tmp_path / "c").rglob("*.claim")) and not checkpoint.exists()
    monkeypatch.undo()
    full_disk_for(".json", monkeypatch)  # Python's own write: ENOSPC
    with pytest.raises(OSError) as error:
        runs.write_json(tmp_path / "x.json", {"a": 1})
    assert files.describe_os_error(error.value) == (
        f"{tmp_path / 'x.json'}: the disk is full (no space left on the device)")


# ----------------------------------------------------------------------------- devices
@pytest.mark.parametrize("device", ["meta", "xpu", "gpu0"])
def test_a_device_runs_never_train_on_is_refused_by_the_command_line(device, capsys):
    with pytest.raises(SystemExit) as exit_:
        local_sweep._parser().parse_args(["--device", device])
    assert exit_.value.code == 2
    assert (f"argument --device: must be auto, cpu, cuda, cuda:<index> or mps, got '{device}'"
            in capsys.readouterr().err)


@pytest.mark.parametrize("device", ["mps", "cuda", "cuda:7"])
def test_a_device_this_machine_lacks_is_named_before_any_folder_is_made(device, tmp_path, capsys):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has the device")
    assert local_sweep.main([*QUICK, *folders(tmp_path), "--device", device]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: device '{device}' requested but ")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- signals
def test_sigterm_stops_training_like_ctrl_c_removes_the_claim_and_exits_143(tmp_path):
    code = (
        "import sys, time\n"
        "from hybridlib import local_sweep, train\n"
        "epoch = train._train_epoch\n"
        "def slow(*args, **kwargs):\n"
        "    print('training', flush=True)\n"
        "    time.sleep(60)\n"
        "    return epoch(*args, **kwargs)\n"
        "train._train_epoch = slow\n"
        "sys.exit(local_sweep.main(sys.argv[1:]))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, *QUICK, *folders(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        assert child.stdout.readline().strip() == b"training"
        claim = store(tmp_path).claim_path(the_run())
        assert claim.exists()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143
    assert "terminated (SIGTERM): the claim is removed" in err.decode()
    assert not claim.exists()


def test_the_help_documents_claims_signals_and_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        local_sweep.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("143 terminated (SIGTERM)", "130 interrupted", f"{local_sweep.HELD_EXIT} runs "
                  "were skipped", "--skip-held", "with --force, any claim but that of a live "
                  "process on this host"):
        assert words in out, words
