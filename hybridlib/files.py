"""Files as the companion reads them, folders as it writes to them, OS errors in words.

Only regular files are read, and only up to a size limit (:func:`read_regular`): a named
pipe where a record should be would block its reader forever, and a device or a huge file
would fill the memory. A folder is probed with a small write before any work starts
(:func:`probe_folder`), so that a file standing where the folder should be, a read-only
file system or a full disk is found in the first second, not after hours of training. An
OS error is told in one line naming the path and the cause (:func:`describe_os_error`).
Light on purpose: no torch.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from hybridlib.tempfiles import remove_dead_writers, temporary_path

__all__ = [
    "PROBE_BYTES",
    "FileRefused",
    "UnusableFolder",
    "describe_os_error",
    "file_kind",
    "probe_folder",
    "read_regular",
]

PROBE_BYTES = 1 << 20  # written (and removed) by a folder's probe: a nearly full disk fails it

# What a cause sounds like to the user, by errno.
CAUSES = {
    errno.ENOSPC: "the disk is full (no space left on the device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a file stands where a folder should be",
    errno.EISDIR: "a folder stands where a file should be",
    errno.EEXIST: "it exists, and is not a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links",
}


class FileRefused(ValueError):
    """A file that is not read: not a regular file, or larger than its limit."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


class UnusableFolder(ValueError):
    """A folder that cannot be written to; the message names it and the cause."""


def file_kind(path: str | os.PathLike) -> str | None:
    """What stands at ``path`` when it is not a regular file (``"a folder"``, ``"a named
    pipe (FIFO)"``, ...); None for a regular file or nothing. Symbolic links are followed."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"unreadable ({describe_os_error(err, with_path=False)})"
    return _kind(mode)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Opened without blocking, so a named pipe is refused instead of waited on.

    Raises:
        FileNotFoundError: if nothing is there.
        FileRefused: naming the path, if it is not a regular file or holds more than
            ``limit`` bytes.
        OSError: for what the system refuses (permissions, ...).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if kind is not None:
            raise FileRefused(path, f"{kind}, not a regular file")
        if info.st_size > limit:
            raise FileRefused(path, f"{info.st_size} bytes, more than the {limit} it may hold")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # a file that grew since fstat
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileRefused(path, f"more than the {limit} bytes it may hold")
    return data


def describe_os_error(err: OSError, with_path: bool = True) -> str:
    """One line: the path (if the error names one) and the cause, in words.

    ``ENOSPC`` says that the disk is full; an error without an errno (a library's) keeps
    its own first line.
    """
    cause = CAUSES.get(err.errno) or err.strerror or (str(err).splitlines() or [""])[0]
    cause = cause or type(err).__name__
    path = err.filename if with_path else None
    if path is not None and err.filename2 is not None:
        path = f"{path} -> {err.filename2}"
    return f"{path}: {cause}" if path is not None else cause


def probe_folder(path: str | os.PathLike, what: str) -> Path:
    """Write (then remove) a probe file in folder ``path``; leave nothing behind.

    The folders the probe had to create are removed again once it succeeded (and so
    created when something is written there for real).

    Args:
        path: the folder.
        what: how the user named it, for the message (``"--results-dir"``, ``"the runs
            folder"``).

    Raises:
        UnusableFolder: ``"<what> <path>: <cause>"``: a file where the folder (or one
            above it) should be, a read-only file system, no permission, a full disk.
    """
    path = Path(path)
    probe = temporary_path(path / ".write-probe")
    created, above = [], path
    while not os.path.lexists(above) and above != above.parent:
        created.append(above)
        above = above.parent
    try:
        kind = file_kind(path)
        if kind is not None and kind != "a folder":
            raise UnusableFolder(f"{what} {path}: {kind}, not a folder")
        path.mkdir(parents=True, exist_ok=True)
        remove_dead_writers(path)
        with open(probe, "wb") as f:
            f.write(bytes(PROBE_BYTES))
            f.flush()
    except FileExistsError:  # mkdir of a name a file holds
        raise UnusableFolder(f"{what} {path}: a file, not a folder") from None
    except OSError as err:
        cause = describe_os_error(err, with_path=False)
        where = "" if err.filename in (None, str(path), str(probe)) else f" ({err.filename})"
        raise UnusableFolder(f"{what} {path}: cannot write there{where}: {cause}") from err
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
        for folder in created:  # deepest first; one that holds something now stays
            try:
                folder.rmdir()
            except OSError:
                break
    return path
