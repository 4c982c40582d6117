"""hybridlib.price: a profile priced on this machine from the grid benchmark."""

from __future__ import annotations

import json

import pytest

from hybridlib import layout, price
from hybridlib.local_sweep import main
from hybridlib.paths import RESULTS_ENV
from hybridlib.runs import build_run


@pytest.fixture
def grid(tmp_path, monkeypatch):
    """Every configuration at 1 GFLOP/s alone, 0.75 GFLOP/s each as one of two processes."""
    rows = []
    for config, flops in (("strided", 1e7), ("diffstride", 6e7)):
        for lay in ("contiguous", "channels_last"):
            for precision in ("fp32", "bf16"):
                rate = 1e9 / (3 * flops)
                rows.append({"config": config, "width": 8, "precision": precision,
                             "layout": lay, "threads": 1, "processes": 1,
                             "images_per_s": rate, "gflop_per_s": 1.0})
        rows.append({"config": config, "width": 8, "precision": "bf16", "layout": "contiguous",
                     "threads": 1, "processes": 2, "images_per_s": 1.5 * 1e9 / (3 * flops),
                     "gflop_per_s": 1.5})
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "grid.json").write_text(json.dumps(
        {"environment": {"device": "cpu"}, "rows": rows}))
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    for cached in (price._grid, layout._measured):
        cached.cache_clear()
    yield
    for cached in (price._grid, layout._measured):
        cached.cache_clear()


def test_a_run_costs_its_flops_at_the_rate_measured(grid):
    run = build_run("cpu", "strided", 0)
    flops = price._flops(json.dumps(run["spec"], sort_keys=True), run["width"], 1)
    train = min(60000 - run["validation"], run["train_subset"] or 60000)
    expected = flops * (3 * train + run["validation"]) * run["epochs"] + flops * 10000
    assert price.run_hours(run, 1) == pytest.approx(expected / 1e9 / 3600)
    assert price.run_hours(run, 2) == pytest.approx(price.run_hours(run, 1) / 0.75)


def test_a_budget_profile_pays_each_trunk_once(grid):
    table = price.price_profile("cpu-budget", processes=2)
    # 18 epochs, then the decays of the 12- and 6-epoch budgets: 2 and 1 epochs.
    strided = table.loc["strided"]
    assert strided.epochs == strided.runs / 3 * (18 + 2 + 1)
    assert table.loc["total", "wall hours"] == pytest.approx(table.loc["total", "hours"] / 2)


def test_the_dry_run_prints_the_price_and_trains_nothing(grid, capsys, tmp_path):
    assert main(["--profile", "cpu", "--dry-run", "--processes", "2"]) == 0
    out = capsys.readouterr().out
    assert "profile cpu:" in out and "wall hours with 2 processes" in out


def test_without_a_benchmark_the_dry_run_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    price._grid.cache_clear()
    assert main(["--profile", "cpu", "--dry-run"]) == 1
    assert "python -m hybridlib.bench grid --record" in capsys.readouterr().err
    price._grid.cache_clear()
