"""Where the companion's folders are, whatever the working directory.

A kernel started in ``book/chapters/`` (as Binder and Jupyter do for a chapter opened
there) must find the same run records as the pipeline, which runs from the repository's
root. Every folder is therefore resolved from the repository that holds this package,
unless an environment variable names another one.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "RESULTS_ENV", "RUNS_ENV", "relative", "results_root", "runs_root"]

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_ENV = "HYBRIDLIB_RESULTS"
RUNS_ENV = "HYBRIDLIB_RUNS"


def _resolve(path: str | os.PathLike | None, env: str, default: str) -> Path:
    if path is None:
        path = os.environ.get(env) or REPO_ROOT / default
    path = Path(path).expanduser()
    # A relative path means relative to the repository, not to wherever the kernel started.
    return path if path.is_absolute() else REPO_ROOT / path


def results_root(path: str | os.PathLike | None = None) -> Path:
    """The root folder of the run records, as an absolute path.

    ``path`` if given, else ``$HYBRIDLIB_RESULTS``, else ``results/`` of the repository;
    a relative path is taken relative to the repository's root.
    """
    return _resolve(path, RESULTS_ENV, "results")


def runs_root(path: str | os.PathLike | None = None) -> Path:
    """The folder of the training checkpoints (``runs/``), resolved as :func:`results_root`."""
    return _resolve(path, RUNS_ENV, "runs")


def relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository's root when it lies inside it, for display."""
    path = Path(path)
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)
