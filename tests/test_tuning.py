import math
from pathlib import Path

import pandas as pd
import pytest

from hybridlib import runs, train, tuning
from hybridlib.configs import PROFILES
from hybridlib.runs import RunStore
from tests.records import valid_record


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
    table = tuning.grid_table(tuned, RunStore(tmp_path / "r"))
    assert len(table) == 2 and table.val_acc.notna().all()
    best = float(table.lr[table.val_acc.idxmax()])
    assert tuning.chosen_rates(table) == {"strided": best}
    out = capsys.readouterr().out
    assert "chosen: strided" in out
    expected = {} if best == 0.01 else {"strided": (0.01, best)}
    assert tuning.disagreements(tuned, RunStore(tmp_path / "r")) == expected


def test_ties_go_to_the_smaller_rate_and_incomplete_grids_choose_nothing():
    table = pd.DataFrame({"config": ["a", "a", "a", "b", "b"],
                          "lr": [0.4, 0.1, 0.2, 0.1, 0.2],
                          "val_acc": [90.0, 90.0, 89.0, 80.0, math.nan]})
    assert tuning.chosen_rates(table) == {"a": 0.1}


def test_the_cpu_profile_uses_the_rates_its_recorded_grid_chooses():
    table = tuning.grid_table("cpu")
    # Complete for every configuration, or there would be nothing to check.
    assert set(tuning.chosen_rates(table)) == set(PROFILES["cpu"]["configs"])
    assert tuning.disagreements("cpu", table=table) == {}


def record_grid_run(profile, config, lr, val_acc, results_dir):
    run = tuning._grid_run(profile, config, lr)
    path = runs.record_path(run, results_dir / tuning.GRID_DIR)
    runs.write_json(path, valid_record(run, val_acc=val_acc, wall_seconds=1.0))


@pytest.fixture
def extending(tuned, monkeypatch):
    grid = {"values": (0.1, 0.2), "epochs": 1, "train_subset": 128, "extend": 2}
    monkeypatch.setitem(PROFILES[tuned], "lr_grid", grid)
    return tuned


def test_a_grid_whose_best_rate_is_at_an_end_goes_one_step_further(extending, tmp_path):
    nothing = RunStore(tmp_path)
    assert tuning.grid_values(extending, "strided", nothing) == [0.1, 0.2]  # nothing recorded
    record_grid_run(extending, "strided", 0.1, 0.50, tmp_path)
    record_grid_run(extending, "strided", 0.2, 0.60, tmp_path)
    assert tuning.grid_values(extending, "strided", RunStore(tmp_path)) == [0.1, 0.2, 0.4]
    table = tuning.grid_table(extending, RunStore(tmp_path))
    assert tuning.chosen_rates(table) == {}  # 0.4 is not recorded yet
    record_grid_run(extending, "strided", 0.4, 0.55, tmp_path)
    assert tuning.grid_values(extending, "strided", RunStore(tmp_path)) == [0.1, 0.2, 0.4]
    assert tuning.chosen_rates(tuning.grid_table(extending, RunStore(tmp_path))) == {"strided": 0.2}


def test_the_sweep_cost_adds_the_grid_and_the_runs_recorded(tuned, tmp_path):
    record_grid_run(tuned, "strided", 0.01, 0.50, tmp_path)  # 1 s each
    runs = [{"wall_seconds": 1800.0}, {"wall_seconds": 5398.0}]
    cost = tuning.sweep_cost(tuned, runs, RunStore(tmp_path))
    assert cost.loc["learning-rate grid"].tolist() == [1, 2, pytest.approx(1 / 3600)]
    declared = len(PROFILES[tuned]["seeds"])  # one configuration, one data set
    assert cost.loc["profile runs"].tolist() == [2, declared, pytest.approx(7198 / 3600)]
    assert cost.loc["total"].tolist() == [3, 2 + declared, pytest.approx(7199 / 3600)]


def test_a_grid_goes_down_too_and_at_most_extend_steps(extending, tmp_path):
    for lr, acc in [(0.1, 0.7), (0.2, 0.6), (0.05, 0.8), (0.025, 0.9)]:
        record_grid_run(extending, "strided", lr, acc, tmp_path)
    # The best is still the smallest after two steps down: the grid stops there.
    assert tuning.grid_values(extending, "strided", RunStore(tmp_path)) == [0.025, 0.05, 0.1, 0.2]
    table = tuning.grid_table(extending, RunStore(tmp_path))
    assert tuning.chosen_rates(table) == {"strided": 0.025}


def test_train_grid_trains_the_extensions_its_results_call_for(extending, tmp_path,
                                                               monkeypatch):
    trained = []

    def fake_fit(run, store, progress):
        trained.append(run["lr"])  # accuracy rises with the rate up to 0.4
        record_grid_run(extending, run["config"], run["lr"], min(run["lr"], 0.4), tmp_path)

    monkeypatch.setattr(tuning, "fit_shared", fake_fit)
    tuning.train_grid(extending, "strided", RunStore(tmp_path, tmp_path / "runs"))
    assert trained == [0.1, 0.2, 0.4, 0.8]
    assert tuning.chosen_rates(tuning.grid_table(extending, RunStore(tmp_path))) == {"strided": 0.4}


def test_train_grid_leaves_runs_held_elsewhere_and_goes_on_after_a_divergence(
    extending, tmp_path, monkeypatch, capsys
):
    attempts = []

    def fit_held_or_diverging(run, store, progress):
        attempts.append(run["lr"])
        if run["lr"] == 0.2:
            raise train.TrainingDiverged("loss is nan")
        return None  # another process holds the run

    monkeypatch.setattr(tuning, "fit_shared", fit_held_or_diverging)
    tuning.train_grid(extending, "strided", RunStore(tmp_path, tmp_path / "runs"))
    assert attempts == [0.1, 0.2]  # once each, then it returns
    assert "strided at lr 0.2 diverged" in capsys.readouterr().err
    assert tuning.chosen_rates(tuning.grid_table(extending, RunStore(tmp_path))) == {}


def test_the_stated_cpu_sweep_time_is_the_recorded_one():
    # The profile description, the README and the instructors page state the sweep's time;
    # it must be what the committed records add up to, on one process and on two.
    root = Path(__file__).resolve().parents[1]
    store = RunStore(root / "results")
    cost = tuning.sweep_cost("cpu", store.load("cpu", accept_code=True), store)
    hours = cost.loc["total", "hours"]
    stated = f"{hours:.1f} hours of one single-threaded process, about {hours / 2:.1f} hours"
    texts = {"profile": PROFILES["cpu"]["description"],
             "README": (root / "README.md").read_text(),
             "instructors page": (root / "book" / "for_instructors.md").read_text()}
    for name, text in texts.items():
        assert stated in " ".join(text.split()), f"the {name} does not state: {stated}"


def test_status_lists_a_bad_grid_record_as_bad(tuned, tmp_path, capsys):
    record_grid_run(tuned, "strided", 0.01, 0.50, tmp_path)
    run = tuning._grid_run(tuned, "strided", 0.5)
    path = runs.record_path(run, tmp_path / tuning.GRID_DIR)
    runs.write_json(path, {**valid_record(run), "final_val_acc": "0.9"})
    assert tuning.main(["--profile", tuned, "--status", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "1 record(s) of tuned's learning-rate grid are not valid" in err
    assert f"bad: {path} is not a valid run record: field final_val_acc: must be a finite " in err
