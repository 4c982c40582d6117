import json
import os
import socket
import subprocess
import sys
import time

import pytest

from hybridlib import claims
from hybridlib.claims import ClaimError, claim, holder


def test_a_claim_is_held_for_the_block_and_removed_after(tmp_path):
    path = tmp_path / "run.claim"
    with claim(path) as other:
        assert other is None
        held = json.loads(path.read_text())
        assert (held["host"], held["pid"]) == (socket.gethostname(), os.getpid())
        assert held["process_start"] == claims._process_start(os.getpid()) is not None
        assert abs(held["started"] - time.time()) < 60
    assert not path.exists()


def test_a_run_held_by_another_live_process_is_left_alone(tmp_path):
    path = tmp_path / "run.claim"
    code = (
        "import sys, time; from hybridlib.claims import claim\n"
        "with claim(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"held"
        with claim(path) as other:
            assert (other["host"], other["pid"]) == (socket.gethostname(), child.pid)
        with claim(path, force=True) as other:  # a live process on this host: even so
            assert other["pid"] == child.pid
        assert path.exists()  # the other process's claim is untouched
    finally:
        child.kill()
        child.wait()
    # Killed without cleaning up: the claim is dead and is taken over.
    assert holder(path) is None
    with claim(path) as other:
        assert other is None


def test_a_claim_being_written_counts_as_held_but_old_garbage_does_not(tmp_path):
    path = tmp_path / "run.claim"
    path.write_text("")
    with claim(path) as other:
        assert other is not None
    old = time.time() - 3600
    os.utime(path, (old, old))
    with claim(path) as other:
        assert other is None


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_reused_pid_does_not_keep_a_dead_process_s_claim(tmp_path):
    # The pid is alive (it is this test's parent), but the process that has it now started
    # at another time than the one that wrote the claim: the writer is gone.
    path = tmp_path / "run.claim"
    pid = os.getppid()
    started = claims._process_start(pid)
    assert started is not None
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid,
                                "process_start": started + 1, "started": time.time()}))
    assert holder(path) is None
    with claim(path) as other:
        assert other is None
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid,
                                "process_start": started, "started": time.time()}))
    assert holder(path)["pid"] == pid  # the same process: still held


def test_another_host_s_claim_holds_until_it_expires(tmp_path, capsys):
    path = tmp_path / "run.claim"
    path.write_text(json.dumps({"host": "another-container", "pid": 1, "started": 0}))
    with claim(path) as other:
        assert other["host"] == "another-container"
    assert path.exists()
    description = claims.describe_holder(holder(path), path)
    assert str(path) in description and "another-container" in description
    age(path, claims.EXPIRES_SECONDS + 5)  # not renewed for that long: its holder is gone
    assert holder(path) is None
    with claim(path) as other:
        assert other is None
    assert not path.exists()


def test_force_takes_over_another_host_s_fresh_claim_and_says_so(tmp_path, capsys):
    path = tmp_path / "run.claim"
    path.write_text(json.dumps({"host": "another-container", "pid": 1, "started": 0}))
    with claim(path, force=True) as other:
        assert other is None
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert "taking over the claim of process 1 on another-container" in capsys.readouterr().err


def test_a_claim_is_renewed_while_held_and_left_alone_once_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "RENEW_SECONDS", 0.05)
    path = tmp_path / "run.claim"
    with claim(path) as other:
        assert other is None
        age(path, 1000)
        deadline = time.time() + 10
        while time.time() - path.stat().st_mtime > 500 and time.time() < deadline:
            time.sleep(0.05)
        assert time.time() - path.stat().st_mtime < 500  # renewed
        # Taken over meanwhile (a --force elsewhere): its new holder's file stays.
        path.write_text(json.dumps({"host": "elsewhere", "pid": 7, "started": 1}))
    assert json.loads(path.read_text())["host"] == "elsewhere"


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_something_else_at_the_claim_path_is_named_and_never_waited_on(kind, tmp_path):
    path = tmp_path / "run.claim"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    with pytest.raises(ClaimError, match=f"{path} is a .*, not a claim file: remove it"):
        holder(path)
    with pytest.raises(ClaimError, match="not a claim file"):
        with claim(path):
            pass
