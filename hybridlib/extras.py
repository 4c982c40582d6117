"""Imports of the packages that only the optional extras install.

The core of the library (layers, networks, data, training) needs torch, numpy and tqdm.
The statistics over run records need pandas, which comes with the ``book`` extra; a
module that needs it says so on import, instead of failing with a bare
``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_extra"]


def import_extra(package: str, extra: str, user: str) -> ModuleType:
    """``package`` imported, or an ImportError telling how to install ``extra``.

    Args:
        package: the module to import (``"pandas"``).
        extra: the extra of ``pyproject.toml`` that installs it (``"book"``).
        user: the module that needs it, for the message (pass ``__name__``).
    """
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(
            f"{user} needs {package}, which the '{extra}' extra installs: "
            f"pip install 'hybridlib[{extra}]'"
        ) from error
