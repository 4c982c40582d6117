import math

import pandas as pd
import pytest

from hybridlib import tuning
from hybridlib.configs import PROFILES


@pytest.fixture
def tuned(monkeypatch):
    """A smoke-sized profile with a two-value grid for one configuration."""
    profile = {**PROFILES["smoke"], "configs": ("strided",), "validation": 32,
               "lr": {"strided": 0.01},
               "lr_grid": {"values": (0.01, 0.5), "epochs": 1, "train_subset": 128}}
    monkeypatch.setitem(PROFILES, "tuned", profile)
    return "tuned"


def test_grid_runs_override_the_rate_epochs_and_subset_only(tuned):
    runs = tuning.grid_runs(tuned)
    assert [r["lr"] for r in runs] == [0.01, 0.5]
    assert all(r["epochs"] == 1 and r["train_subset"] == 128 for r in runs)
    assert all(r["validation"] == 32 and r["seed"] == tuning.GRID_SEED for r in runs)
    assert tuning.grid_runs("smoke") == []  # no grid declared


def test_the_grid_is_trained_scored_on_validation_and_compared_with_the_profile(
    tuned, tmp_path, capsys
):
    args = ["--profile", tuned, "--results-dir", str(tmp_path / "r"), "--runs-dir",
            str(tmp_path / "c"), "--no-progress"]
    assert tuning.main(args) == 0
    table = tuning.grid_table(tuned, tmp_path / "r")
    assert len(table) == 2 and table.val_acc.notna().all()
    best = float(table.lr[table.val_acc.idxmax()])
    assert tuning.chosen_rates(table) == {"strided": best}
    out = capsys.readouterr().out
    assert "chosen: strided" in out
    expected = {} if best == 0.01 else {"strided": (0.01, best)}
    assert tuning.disagreements(tuned, tmp_path / "r") == expected


def test_ties_go_to_the_smaller_rate_and_incomplete_grids_choose_nothing():
    table = pd.DataFrame({"config": ["a", "a", "a", "b", "b"],
                          "lr": [0.4, 0.1, 0.2, 0.1, 0.2],
                          "val_acc": [90.0, 90.0, 89.0, 80.0, math.nan]})
    assert tuning.chosen_rates(table) == {"a": 0.1}


def test_the_cpu_profile_uses_the_rates_its_recorded_grid_chooses():
    assert tuning.disagreements("cpu") == {}
