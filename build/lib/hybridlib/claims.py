"""One process per run: a claim file beside the run's checkpoint.

Several ``python -m hybridlib.train`` processes can share one sweep: each claims a run by
creating ``<checkpoint>.claim`` exclusively (holding its host and process id), trains it,
and removes the file; a process skips a run that another live process holds. A claim
left by a process that has died (kill -9, a crash, a reboot) is taken over, so a sweep
is resumed by starting the same commands again.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["claim", "holder"]

FRESH_SECONDS = 10  # an unreadable claim younger than this is being written


def _alive(owner: dict) -> bool:
    """Whether the process that wrote ``owner`` still runs (always True on another host,
    where it cannot be asked)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except (KeyError, TypeError, ValueError):
        return False
    return True


def holder(path: Path) -> dict | None:
    """The live process holding claim file ``path`` (``{"host", "pid"}``), or None."""
    path = Path(path)
    try:
        text, age = path.read_text(encoding="utf8"), time.time() - path.stat().st_mtime
    except OSError:
        return None
    try:
        owner = json.loads(text)
    except ValueError:
        # Created but not yet written by its process (a moment's window), or garbage.
        return {"host": "unknown", "pid": None} if age < FRESH_SECONDS else None
    return owner if isinstance(owner, dict) and _alive(owner) else None


@contextmanager
def claim(path: str | Path) -> Iterator[dict | None]:
    """Hold claim file ``path`` for the duration of the block.

    Yields None when this process holds the claim (the file is removed at the end), or
    the holder (``{"host", "pid"}``) when another live process does; then nothing is
    written and the caller should leave the run alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(2):  # a second try after taking over a dead process's claim
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(path)
            if owner is not None:
                yield owner
                return
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf8") as f:
            json.dump(me, f)
        try:
            yield None
        finally:
            path.unlink(missing_ok=True)
        return
    # Another process took the dead claim over between our two tries.
    yield holder(path) or {"host": "unknown", "pid": None}
