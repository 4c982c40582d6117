"""Valid run records with made-up numbers, for tests that need a record but no training.

:func:`valid_record` passes ``hybridlib.runs.validate_record``: every field, the history's
length, the per-image fields' lengths and the test accuracy they hold agree with the run's
settings (``build_run``).
"""

from __future__ import annotations

import base64
import math

import numpy as np

from hybridlib import runs

SIZES = {"stem": [32, 32], "stage1": [32, 32], "stage2": [16, 16], "stage3": [8, 8],
         "stage4": [4, 4], "head": [4, 4]}


def valid_record(run: dict, right: int | None = None, test_size: int | None = None,
                 val_acc: float = 0.5, wall_seconds: float = 60.0, **fields) -> dict:
    """A complete record of ``run``: ``right`` of its ``test_size`` test images right (half
    by default), ``val_acc`` its final validation accuracy (with a validation split);
    ``fields`` replace top-level fields afterwards (unchecked)."""
    n = test_size or run["test_subset"] or 64
    right = n // 2 if right is None else right
    correct = np.zeros(n, dtype=bool)
    correct[:right] = True
    acc = right / n
    validation = run["validation"] is not None
    strides = {p: [2.0, 2.0] for p in ("stage2", "stage3", "stage4")
               if run["spec"].get(p, ("",))[0] == "diffstride"}
    history = []
    for e in range(1, run["epochs"] + 1):
        entry = {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "lr_last": 0.01,
                 "train_seconds": 1.0, "images_per_s": 100.0, "learned_strides": strides,
                 "feature_sizes": SIZES, "flops": 1e6}
        if validation:
            entry.update(val_loss=0.5, val_acc=val_acc)
        if e == run["epochs"] or not validation:
            entry.update(test_loss=0.7, test_acc=acc)
        history.append(entry)
    record = {
        "settings": run, "config_hash": runs.config_hash(run), "code_hash": runs.CODE_HASH,
        "complete": True, "description": "made up for a test", "final_test_acc": acc,
        "final_test_loss": 0.7, "final_val_acc": val_acc if validation else None,
        "test_predictions": base64.b64encode(bytes(n)).decode(),
        "test_correct": base64.b64encode(np.packbits(correct).tobytes()).decode(),
        "learned_strides": strides, "feature_sizes": SIZES, "initial_feature_sizes": SIZES,
        "parameters": 1000, "flops": 1e6, "wall_seconds": wall_seconds,
        "images_per_s": 100.0, "train_size": run["train_subset"] or 512, "test_size": n,
        "epochs": history,
        "provenance": {"git_commit": None, "library_modified": None, "code_hash":
                       runs.CODE_HASH, "torch": "test", "python": "3", "device": "cpu",
                       "device_name": "test", "threads": 1,
                       "date": "2026-01-01T00:00:00+00:00"},
    }
    assert math.isfinite(acc)
    record.update(fields)
    return record


def write_valid(store: runs.RunStore, run: dict, **kwargs) -> dict:
    """Write :func:`valid_record` at the run's record path; return it."""
    record = valid_record(run, **kwargs)
    runs.write_json(store.record_path(run), record)
    return record
