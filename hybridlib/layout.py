"""Which memory layout a training step runs fastest in, from the committed benchmark.

The layout of the activations (``contiguous``, NCHW, or ``channels_last``, NHWC) changes
how fast a step runs, not what it computes beyond rounding: it is an execution setting
like the thread count, recorded in every run record (``settings.layout``) but outside the
settings hash. ``python -m hybridlib.bench grid --record`` measures every configuration
at every width in both layouts and writes ``results/bench/grid.json``; :func:`preferred`
reads it: per device type, width, precision and thread count, the layout with the higher
images/s over the configurations (geometric mean). Without a measurement for the device, the rule
the first measurements gave: channels_last on CUDA, and on a CPU from width 16 up.
"""

from __future__ import annotations

import functools
import json
import math

from hybridlib.paths import results_root

__all__ = ["LAYOUTS", "preferred", "resolve"]

LAYOUTS = ("auto", "contiguous", "channels_last")
GRID_RECORD = "bench/grid.json"  # under results/
CPU_CHANNELS_LAST_FROM = 16  # width: the rule without a measurement


@functools.lru_cache(maxsize=1)
def _measured() -> dict:
    """``{(device type, width, precision, threads): {layout: [images/s per configuration]}}``
    of one process alone."""
    try:
        record = json.loads((results_root() / GRID_RECORD).read_text("utf8"))
    except (OSError, ValueError):
        return {}
    table = {}
    device = record.get("environment", {}).get("device", "cpu")
    for row in record.get("rows", []):
        if row.get("processes", 1) != 1:
            continue
        key = (device, row["width"], row["precision"], row["threads"])
        table.setdefault(key, {}).setdefault(row["layout"], []).append(row["images_per_s"])
    return table


def preferred(device_type: str, width: int, precision: str, threads: int = 1) -> str:
    """The faster layout for a network of ``width`` in ``precision`` on ``device_type``
    with ``threads`` intra-op threads (the nearest width and thread count measured)."""
    measured = _measured()
    keys = [(w, t) for d, w, p, t in measured if d == device_type and p == precision]
    if keys:
        w, t = min(keys, key=lambda k: (abs(math.log(k[0] / width)), abs(k[1] - threads), k))
        speeds = measured[(device_type, w, precision, t)]
        return max(speeds, key=lambda layout: sum(map(math.log, speeds[layout]))
                   / len(speeds[layout]))
    if device_type == "cuda" or width >= CPU_CHANNELS_LAST_FROM:
        return "channels_last"
    return "contiguous"


def resolve(layout: str | None, device_type: str, width: int, precision: str,
            threads: int = 1) -> str:
    """``layout`` as a run asks for it (``auto`` or None: :func:`preferred`)."""
    if layout not in (*LAYOUTS, None):
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout in ("auto", None):
        # autocast's "auto" is bf16 on CUDA and float32 elsewhere (train._autocast)
        if precision == "auto":
            precision = "bf16" if device_type == "cuda" else "fp32"
        return preferred(device_type, width, precision, threads)
    return layout
