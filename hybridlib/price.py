"""What a profile costs on this machine, before it runs: ``python -m hybridlib.train
--profile P --dry-run [--processes N]``.

The price reads the committed grid benchmark (``results/bench/grid.json``,
``hybridlib.speed``): the FLOP/s a training step achieves at the run's width, precision
and layout, for the benchmarked configuration whose forward FLOPs per image are nearest
to the run's; with two processes or more, the rate each of two processes side by side
achieved. An epoch trains on the training images and evaluates the validation split (or
the test set) in a third of a training step's FLOPs per image. A ``wsd`` run of a profile
with budgets trains only what its longer run has not: its decay. Wall hours assume the
runs spread evenly over the processes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from hybridlib import layout
from hybridlib.paths import results_root
from hybridlib.resnet import describe, resnet18
from hybridlib.runs import build_run, declared_runs

__all__ = ["NoBenchmark", "price_profile", "run_hours"]

TRAIN_FACTOR = 3.0  # a training step's FLOPs per image: forward, and backward at twice that
# Images of each data set (training, test), for pricing without loading it.
SIZES = {"cifar10": (50000, 10000), "cifar100": (50000, 10000),
         "fashion_mnist": (60000, 10000), "synthetic": (512, 256)}
IN_CHANNELS = {"cifar10": 3, "cifar100": 3, "fashion_mnist": 1, "synthetic": 3}


class NoBenchmark(FileNotFoundError):
    """The grid benchmark this price needs is not recorded."""


@functools.lru_cache(maxsize=1)
def _grid() -> dict:
    path = results_root() / layout.GRID_RECORD
    try:
        return json.loads(path.read_text("utf8"))
    except (OSError, ValueError) as err:
        raise NoBenchmark(f"{path}: no grid benchmark to price from ({err}); record one with "
                          "`python -m hybridlib.bench grid --record` on a quiet machine") from err


@functools.lru_cache(maxsize=256)
def _flops(spec_json: str, width: int, in_channels: int) -> float:
    return describe(resnet18(json.loads(spec_json), in_channels=in_channels, width=width),
                    (in_channels, 32, 32))["flops"]


def _rate(run: dict, processes: int) -> float:
    """Training FLOP/s one process achieves for ``run`` (see the module's docstring)."""
    rows = _grid()["rows"]
    precision = "fp32" if run["precision"] == "auto" else run["precision"]
    chosen = layout.resolve(run.get("layout"), "cpu", run["width"], precision, 1)
    widths = sorted({r["width"] for r in rows})
    width = min(widths, key=lambda w: abs(w - run["width"]))
    flops = _flops(json.dumps(run["spec"], sort_keys=True), run["width"],
                   IN_CHANNELS[run["dataset"]])
    candidates = [r for r in rows if r["width"] == width and r["processes"] == 1
                  and r["threads"] == 1 and r["precision"] == precision
                  and r["layout"] == chosen]
    if not candidates:
        raise NoBenchmark(f"the grid benchmark has no {precision}/{chosen} row at width {width}")
    by_config = {r["config"]: r for r in candidates}
    nearest = min(by_config.values(), key=lambda r: abs(
        r["gflop_per_s"] / r["images_per_s"] / TRAIN_FACTOR * 1e9 - flops))
    rate = nearest["gflop_per_s"] * 1e9
    if processes >= 2:
        pair = [r for r in rows if r["config"] == nearest["config"] and r["width"] == width
                and r["processes"] == 2]
        if pair:
            # What one process of two achieves, relative to one alone (same config, width).
            alone = max(r["images_per_s"] for r in rows if r["config"] == nearest["config"]
                        and r["width"] == width and r["processes"] == 1 and r["threads"] == 1)
            rate *= pair[0]["images_per_s"] / 2 / alone
    return rate


def _epochs_trained(run: dict, budgets: Sequence[int]) -> int:
    """Epochs ``run`` trains itself: all, or, for a shorter ``wsd`` budget, its decay."""
    from hybridlib.train import wsd_trunk_epochs

    if run["schedule"] == "wsd" and budgets and run["epochs"] < max(budgets):
        return run["epochs"] - wsd_trunk_epochs(run["epochs"])
    return run["epochs"]


def run_hours(run: dict, processes: int = 1, budgets: Sequence[int] = ()) -> float:
    """Hours of one process for ``run`` on this machine."""
    train, test = SIZES[run["dataset"]]
    validation = run.get("validation") or 0
    train = min(train - validation, run["train_subset"] or train)
    test = min(test, run["test_subset"] or test)
    evaluated = validation or test  # every epoch: the validation split, else the test set
    flops = _flops(json.dumps(run["spec"], sort_keys=True), run["width"],
                   IN_CHANNELS[run["dataset"]])
    per_epoch = flops * (TRAIN_FACTOR * train + evaluated)
    epochs = _epochs_trained(run, budgets)
    total = per_epoch * epochs + (flops * test if validation else 0.0)
    return total / _rate(run, processes) / 3600.0


def price_profile(profile: str, processes: int = 2):
    """One row per configuration: runs, epochs trained, process-hours and wall hours with
    ``processes`` processes, for every run ``profile`` declares."""
    import pandas as pd

    from hybridlib.configs import profile_settings

    budgets = tuple(profile_settings(profile).get("budgets", ()))
    runs = declared_runs(profile)
    if budgets:  # every run at every training budget the profile declares
        runs = [build_run(profile, r["config"], r["seed"], r["dataset"],
                          {"epochs": b, "strides": r["strides"]}) for r in runs for b in budgets]
    rows = [{"configuration": run["config"], "runs": 1, "epochs": _epochs_trained(run, budgets),
             "hours": run_hours(run, processes, budgets)} for run in runs]
    table = pd.DataFrame(rows).groupby("configuration", sort=False).sum()
    table["wall hours"] = table.hours / processes
    table.loc["total"] = table.sum()
    return table
