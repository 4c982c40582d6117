"""One process per run: a claim file beside the run's checkpoint.

Several ``python -m hybridlib.train`` processes can share one sweep: each claims a run by
creating ``<checkpoint>.claim`` exclusively, trains it, and removes the file; a process
skips a run that another live process holds. A claim holds its process's host, process
id and start time, and the holder renews it (touches the file) every
:data:`RENEW_SECONDS` while it trains. A claim is taken over when its holder is gone:

* on the same host, when no process has its id, or the process that has it started at
  another time (the id was reused, say after a reboot);
* from another host (a cluster node, a container since replaced), where the process
  cannot be asked, when the claim was not renewed for :data:`EXPIRES_SECONDS`;
* with ``force`` (``--force``), any claim but that of a live process on this host.

So a sweep is resumed by starting the same commands again. A claim of another live
process is reported naming its file.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from hybridlib.files import FileRefused, file_kind, read_regular

__all__ = [
    "EXPIRES_SECONDS",
    "RENEW_SECONDS",
    "ClaimError",
    "claim",
    "describe_holder",
    "holder",
]

FRESH_SECONDS = 10  # an unreadable claim younger than this is being written
RENEW_SECONDS = 60  # a holder touches its claim this often
EXPIRES_SECONDS = 15 * 60  # another host's claim not renewed for this long is taken over
CLAIM_BYTES = 4096  # a claim is a line of JSON; anything longer is not one


class ClaimError(ValueError):
    """Something other than a claim file stands where a run's claim goes."""


def _process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(text.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _me() -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "process_start": _process_start(pid),
            "started": time.time()}


def _alive(owner: dict, age: float) -> bool:
    """Whether the process that wrote ``owner`` may still hold its claim.

    On this host: a process with its id exists and started when it did. On another host,
    where it cannot be asked: the claim was renewed less than :data:`EXPIRES_SECONDS` ago.
    """
    if owner.get("host") != socket.gethostname():
        return age < EXPIRES_SECONDS
    pid = owner.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    except (OverflowError, OSError):
        return False
    started, now = owner.get("process_start"), _process_start(pid)
    return not (isinstance(started, int) and now is not None and now != started)


def _check_kind(path: Path) -> None:
    kind = file_kind(path)
    if kind is not None:
        raise ClaimError(f"{path} is {kind}, not a claim file: remove it, then start again")


def holder(path: str | os.PathLike) -> dict | None:
    """The process holding claim file ``path`` (``{"host", "pid", ...}``, with ``age``: the
    seconds since it was last renewed), or None when nothing holds it.

    Raises:
        ClaimError: if something other than a file (a folder, a pipe) is at ``path``.
    """
    path = Path(path)
    _check_kind(path)
    try:
        text, age = read_regular(path, CLAIM_BYTES), time.time() - path.stat().st_mtime
    except FileRefused:  # far too long for a claim: garbage
        return None
    except OSError:
        return None
    try:
        owner = json.loads(text)
    except ValueError:
        owner = None
    if not isinstance(owner, dict):
        # Created but not yet written by its process (a moment's window), or garbage.
        return {"host": "unknown", "pid": None, "age": age} if age < FRESH_SECONDS else None
    return {**owner, "age": age} if _alive(owner, age) else None


def describe_holder(owner: dict, path: str | os.PathLike) -> str:
    """``"process 12 on host-a (claim <path>, since <time>, renewed 30 s ago)"``."""
    started = owner.get("started")
    since = ""
    if isinstance(started, (int, float)) and not isinstance(started, bool):
        try:
            when = datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds")
            since = f", since {when}"
        except (OverflowError, OSError, ValueError):
            pass
    age = owner.get("age")
    renewed = f", renewed {age:.0f} s ago" if isinstance(age, (int, float)) else ""
    return (f"process {owner.get('pid')} on {owner.get('host')} (claim {path}{since}"
            f"{renewed})")


def _mine(path: Path, me: dict) -> bool:
    try:
        owner = json.loads(read_regular(path, CLAIM_BYTES))
    except (OSError, ValueError):
        return False
    return isinstance(owner, dict) and all(owner.get(k) == me[k] for k in ("host", "pid",
                                                                            "started"))


def _renew(path: Path, me: dict, stop: threading.Event) -> None:
    """Touch the claim every :data:`RENEW_SECONDS` while it is still this process's."""
    while not stop.wait(RENEW_SECONDS):
        if not _mine(path, me):
            return
        try:
            os.utime(path)
        except OSError:
            return


@contextmanager
def claim(path: str | os.PathLike, force: bool = False) -> Iterator[dict | None]:
    """Hold claim file ``path`` for the duration of the block.

    Yields None when this process holds the claim (renewed while the block runs, removed
    at its end if it is still this process's), or the holder (``{"host", "pid", ...}``)
    when another live process does; then nothing is written and the caller should leave
    the run alone. ``force`` takes over any claim but that of a live process on this host.

    Raises:
        ClaimError: if something other than a file (a folder, a pipe) is at ``path``.
    """
    path = Path(path)
    _check_kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = _me()
    for _ in range(2):  # a second try after taking over a dead process's claim
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(path)
            if owner is not None:
                if not force or owner.get("host") == me["host"]:
                    yield owner
                    return
                print(f"warning: --force: taking over the claim of "
                      f"{describe_holder(owner, path)}", file=sys.stderr)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf8") as f:
            json.dump(me, f)
        stop = threading.Event()
        renewer = threading.Thread(target=_renew, args=(path, me, stop), daemon=True)
        renewer.start()
        try:
            yield None
        finally:
            stop.set()
            if _mine(path, me):  # a --force elsewhere may have taken it over
                path.unlink(missing_ok=True)
        return
    # Another process took the dead claim over between our two tries.
    yield holder(path) or {"host": "unknown", "pid": None}
