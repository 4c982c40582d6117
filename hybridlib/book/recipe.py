"""A run's settings as a reader's table: every field of the run record, with its meaning.

``hybridlib.runs.build_run`` returns the settings a run record stores; this module says
what each one means, so that the training chapter can show the whole recipe without
leaving a field out or truncating one. A setting added to the runs without a meaning
here makes :func:`recipe_table` raise, so the table cannot silently fall behind.
"""

from __future__ import annotations

import json

import pandas as pd

__all__ = ["MEANINGS", "recipe_table"]

# The meaning of every field of a run's settings, in the order a reader meets them.
MEANINGS = {
    "profile": "the run profile the settings come from",
    "dataset": "the data set",
    "train_subset": "training images used (class-balanced, seed 0; empty: all of them)",
    "validation": "training images held out as a class-balanced validation split (seed 0)",
    "test_subset": "test images scored (empty: the whole test set)",
    "width": "channels of the stem and stage 1 (the papers use 64); stages double it",
    "epochs": "passes over the training images",
    "batch_size": "images per optimiser step",
    "schedule": "learning-rate schedule (see hybridlib.train.learning_rate)",
    "lr": "peak learning rate",
    "momentum": "SGD momentum",
    "weight_decay": "weight decay on convolution and linear weights (not BN, not strides)",
    "label_smoothing": "label smoothing of the cross-entropy",
    "mixup": "alpha of mixup's Beta(alpha, alpha) (0: no mixup)",
    "augment": "random crop (4-pixel zero padding) and horizontal flip",
    "complexity_weight": "lambda of DiffStride's complexity regulariser (0: off)",
    "strides": "initial strides of stages 2-4, when not the configuration's own",
    "precision": "autocast of convolutions and linear layers (spectral layers stay float32)",
    "compile": "torch.compile the model (CUDA only)",
    "device": "where it trains (not part of the settings hash)",
    "threads": "torch's intra-op threads (not part of the settings hash)",
    "layout": ("memory layout of the activations, contiguous or channels_last; auto: the "
               "faster one measured for the width (changes results by rounding only, so not "
               "part of the settings hash)"),
    "branches": (
        "shorter budgets whose trunk state this run keeps for them (not part of the "
        "settings hash)"
    ),
    "config": "the configuration",
    "seed": "seed of initialisation, data order and augmentation",
    "spec": "downsampling (kind, initial stride) at each position",
    "overrides": "settings changed from the profile's (empty for the profile's own runs)",
}


def _shown(value) -> str:
    """A setting as a person writes it: 0.0005, not 5e-04; lists and dicts as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10f}".rstrip("0").rstrip(".")
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "description" and v is not None}
        return ", ".join(f"{k} {v[0]} {v[1]:g}" for k, v in value.items())
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def recipe_table(run: dict) -> pd.DataFrame:
    """Every setting of ``run`` (a ``build_run`` dict): columns value and meaning.

    Raises:
        KeyError: naming the settings that have no entry in :data:`MEANINGS`.
    """
    unknown = sorted(set(run) - set(MEANINGS))
    if unknown:
        raise KeyError(f"settings without a meaning in hybridlib.book.recipe.MEANINGS: {unknown}")
    rows = [(k, _shown(run[k]), meaning) for k, meaning in MEANINGS.items() if k in run]
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"]).set_index("setting")
