"""Temporary files named after the process that writes them, and the clean-up of dead ones.

A file is written under a temporary name and renamed into place once complete, so a
reader never sees half of it. A writer killed between the two steps leaves its temporary
file behind; the name carries the writer's process id, so the next writer in the same
folder can tell a dead writer's leftovers from a live writer's work in progress and
remove only the former.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

__all__ = ["pid_alive", "remove_dead_writers", "temporary_path"]

# ``.<name>.<pid>.tmp``: a file or a folder being written by process <pid>.
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp$")


def temporary_path(path: str | os.PathLike) -> Path:
    """The temporary name this process writes ``path`` under: ``.<name>.<pid>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (a process of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # not a pid this system can have
        return False
    return True


def remove_dead_writers(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` whose writer is no longer alive.

    Only names of the form ``.<name>.<pid>.tmp`` are considered; a recycled pid keeps its
    leftovers until that process is gone too, which is harmless. Returns what was removed.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:  # no folder yet, nothing to clean
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # another process cleaned it first
            continue
        removed.append(entry)
    return removed
