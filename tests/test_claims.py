import json
import os
import socket
import subprocess
import sys
import time

from hybridlib.claims import claim, holder


def test_a_claim_is_held_for_the_block_and_removed_after(tmp_path):
    path = tmp_path / "run.claim"
    with claim(path) as other:
        assert other is None
        assert json.loads(path.read_text()) == {"host": socket.gethostname(), "pid": os.getpid()}
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
            assert other == {"host": socket.gethostname(), "pid": child.pid}
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
