"""hybridlib: spectral pooling, DiffStride and their hybrid in PyTorch.

The face of the library a researcher imports::

    from hybridlib import DiffStride2d, SpectralPool2d, resnet18, CONFIGS

    pool = DiffStride2d(stride=2.0)        # [B, C, 32, 32] -> [B, C, 24, 24]: 32/S + R, S learned
    spectral = SpectralPool2d(stride=2.0)  # [B, C, 32, 32] -> [B, C, 16, 16]
    net = resnet18(CONFIGS["hybrid"], num_classes=10)

The names load on first use, so that ``import hybridlib.book.pipeline`` (the book's
machinery, which needs the ``book`` extra) does not import torch. Everything here needs
torch and numpy only; the modules that need more say which extra to install.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"  # the one source: pyproject.toml reads it (tool.setuptools.dynamic)

# Public name -> the module that defines it.
_EXPORTS = {
    "DiffStride2d": "diffstride",
    "SpectralPool2d": "spectral",
    "spectral_pool2d": "spectral",
    "PreActResNet": "resnet",
    "resnet18": "resnet",
    "make_downsampler": "downsample",
    "CONFIGS": "configs",
    "PROFILES": "configs",
    "config_spec": "configs",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hybridlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hybridlib.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
