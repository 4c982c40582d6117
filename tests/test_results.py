"""hybridlib.results: records -> tables, and the papers' numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from hybridlib import results
from hybridlib.configs import config_spec


def make_record(
    config: str = "hybrid",
    seed: int = 0,
    acc: float = 0.9,
    profile: str = "smoke",
    dataset: str = "synthetic",
    epochs: int = 2,
    complete: bool = True,
    strides: list[int] | None = None,
) -> dict:
    """A minimal record in the format hybridlib.train.fit writes."""
    spec = config_spec(config, strides)
    has_diffstride = any(spec[p][0] == "diffstride" for p in ("stage2", "stage3"))
    # two DiffStride positions whose strides drift by 0.1 per epoch, from 2.0
    diff = {p: [2.0, 2.0] for p in ("stage2", "stage3")} if has_diffstride else {}
    history = []
    for e in range(1, epochs + 1):
        learned = {p: [v[0] + 0.1 * e, v[1] - 0.1 * e] for p, v in diff.items()}
        history.append({
            "epoch": e, "train_loss": 1.0 / e, "train_acc": acc - 0.05 * (epochs - e) + 0.01,
            "lr_last": 0.01, "train_seconds": 2.0, "images_per_s": 100.0 + seed,
            "test_loss": 0.5 / e, "test_acc": acc - 0.05 * (epochs - e),
            "learned_strides": learned,
            "feature_sizes": {"stem": [32, 32], "stage1": [32, 32], "stage2": [24, 24],
                              "stage3": [20, 20], "stage4": [18, 18], "head": [8, 9]},
            "flops": 2.0e9,
        })
    run = {"profile": profile, "dataset": dataset, "config": config, "seed": seed,
           "epochs": epochs, "width": 4, "strides": strides, "spec": spec, "overrides": []}
    return {
        "settings": run, "config_hash": "0" * 16, "complete": complete,
        "description": spec["description"], "final_test_acc": history[-1]["test_acc"],
        "final_test_loss": history[-1]["test_loss"],
        "learned_strides": history[-1]["learned_strides"],
        "feature_sizes": history[-1]["feature_sizes"],
        "initial_feature_sizes": history[0]["feature_sizes"], "parameters": 1234,
        "flops": 2.0e9, "wall_seconds": 4.0, "images_per_s": 100.0 + seed,
        "train_size": 256, "test_size": 128, "epochs": history,
        "provenance": {"git_commit": "abc123", "library_modified": False, "torch": "2.x",
                       "python": "3.x", "device": "cpu", "device_name": "x86_64",
                       "threads": 2, "date": f"2025-01-0{seed + 1}T00:00:00+00:00"},
    }


def write(root: Path, record: dict, folder: str | None = None) -> Path:
    run = record["settings"]
    label = results.config_label(record)
    path = root / (folder or run["profile"]) / run["dataset"] / label / f"seed{run['seed']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def records_in(profile: str, root: Path) -> list[dict]:
    """The complete records of ``profile``'s own folder under ``root``, as the tables get
    them (these records are made up, so ``RunStore.load`` would not take them)."""
    found = (json.loads(p.read_text()) for p in sorted((root / profile).glob("*/*/seed*.json")))
    return [record for record in found if record.get("complete")]


@pytest.fixture
def results_dir(tmp_path):
    for seed, acc in ((0, 0.90), (1, 0.92), (2, 0.94)):
        write(tmp_path, make_record("hybrid", seed, acc))
    for seed, acc in ((0, 0.80), (1, 0.82)):
        write(tmp_path, make_record("strided", seed, acc))
    write(tmp_path, make_record("diffstride", 0, 0.85, strides=[3, 1, 3]))
    # left out: an incomplete run, an override folder, another profile
    write(tmp_path, make_record("strided", 2, 0.10, complete=False))
    write(tmp_path, make_record("strided", 3, 0.11), folder="smoke-1a2b3c4d")
    write(tmp_path, make_record("strided", 0, 0.12, profile="cpu", dataset="fashion_mnist"))
    return tmp_path


def test_runs_table_has_one_row_per_run_in_percent(results_dir):
    df = results.runs_table(records_in("smoke", results_dir))
    assert len(df) == 6
    row = df[(df.config == "hybrid") & (df.seed == 1)].iloc[0]
    assert row.test_acc == pytest.approx(92.0)
    assert row.train_acc == pytest.approx(93.0)
    assert row.gflops == pytest.approx(2.0)
    assert row.size_head == "8x9" and row.size_stage4 == "18x18"
    assert row.stride_stage2 == "2.20x1.80" and row.stride_stem is None
    assert row.git_commit == "abc123" and row.epochs == 2
    assert df[df.config == "strided"].stride_stage2.isna().all()


def test_summary_table_mean_and_std_over_seeds(results_dir):
    summary = results.summary_table(results.runs_table(records_in("smoke", results_dir)))
    assert list(summary.config) == ["strided", "diffstride_s313", "hybrid"]
    hybrid = summary.set_index("config").loc["hybrid"]
    assert hybrid.n_seeds == 3
    assert hybrid.test_acc_mean == pytest.approx(92.0)
    assert hybrid.test_acc_std == pytest.approx(2.0)  # sample std of 90, 92, 94
    assert hybrid.test_acc == "92.00 ± 2.00"
    one = summary.set_index("config").loc["diffstride_s313"]
    assert one.n_seeds == 1 and math.isnan(one.test_acc_std) and one.test_acc == "85.00"


def test_long_tables(results_dir):
    records = records_in("smoke", results_dir)
    curves = results.curves_table(records)
    assert len(curves) == 6 * 2
    assert set(curves.columns) >= {"config", "seed", "epoch", "test_acc", "train_loss"}
    first = curves[(curves.config == "hybrid") & (curves.seed == 0)].sort_values("epoch")
    assert list(first.test_acc.round(6)) == [85.0, 90.0]

    strides = results.strides_table(records)
    # DiffStride runs only: 3 hybrid + 1 diffstride, 2 epochs, 2 positions, 2 axes
    assert len(strides) == 4 * 2 * 2 * 2
    assert set(strides.config) == {"hybrid", "diffstride_s313"}
    assert set(strides.axis) == {"h", "w"}
    row = strides[(strides.config == "diffstride_s313") & (strides.epoch == 2)
                  & (strides.position == "stage2") & (strides.axis == "h")].iloc[0]
    assert row.stride == pytest.approx(2.2) and row.initial == 3.0
    assert results.strides_table([make_record("strided")]).empty


def test_diffstride_table_means_match_its_mean_row():
    table = results.paper_table(["diffstride_paper"])
    for (dataset, model), group in table.groupby(["dataset", "model"]):
        rows = group[group.init_strides != "mean"]
        assert len(rows) == 6
        reported = group[group.init_strides == "mean"].test_acc.item()
        assert rows.test_acc.mean() == pytest.approx(reported, abs=0.1), (dataset, model)


def test_paper_table_is_tidy_and_sourced():
    table = results.paper_table()
    assert set(table.key) == set(results.PAPER_RESULTS)
    assert table.source.str.len().min() > 10
    assert table.test_acc.between(0, 100).all()
    readme = table[(table.key == "official_readme") & (table.dataset == "cifar100")]
    assert readme.set_index(["init_strides", "model"]).test_acc[("(1,1,2,2,2)", "diffstride")] \
        == 76.08
    spectral = table[table.key == "spectral_paper"].set_index("dataset").test_acc
    assert spectral["cifar10"] == pytest.approx(91.4)
    assert spectral["cifar100"] == pytest.approx(68.4)
    with pytest.raises(ValueError, match="unknown sources"):
        results.paper_table(["nope"])


def test_hybrid_baseline_check():
    check = results.hybrid_baseline_check()
    c100, c10 = check.loc["cifar100"], check.loc["cifar10"]
    assert c100["baseline (Hybrid paper)"] == 70.6
    assert c100["baseline equals"] == "spectral-pooling mean"
    assert c100["gain claimed"] == pytest.approx(3.22)
    assert c100["gain over DiffStride mean"] == pytest.approx(0.32)
    assert c10["baseline equals"] == "DiffStride mean"
    assert c10["gain claimed"] == pytest.approx(0.94)
    assert c10["gain over DiffStride mean"] == pytest.approx(0.94)
    assert isinstance(check, pd.DataFrame)


def test_runs_table_columns_are_the_declared_ones_with_or_without_records():
    from hybridlib.results import RUN_COLUMNS, runs_table

    assert list(runs_table([]).columns) == RUN_COLUMNS
    record = {"settings": {"profile": "cpu", "dataset": "fashion_mnist", "config": "strided",
                         "seed": 0, "lr": 0.1}, "final_test_acc": 0.9, "final_val_acc": 0.91,
              "epochs": [{"train_acc": 0.95}], "code_hash": "abc"}
    row = runs_table([record]).iloc[0]
    assert list(runs_table([record]).columns) == RUN_COLUMNS
    assert (row.test_acc, row.val_acc, row.train_acc, row.lr, row.code_hash) == (
        90.0, 91.0, 95.0, 0.1, "abc")


def test_the_settings_table_reads_this_books_column_from_the_records():
    records = []
    for seed in range(3):
        for config in ("strided", "hybrid"):
            r = make_record(config, seed)
            r["settings"].update(schedule="step", augment=False, mixup=0.0,
                               complexity_weight=0.0, validation=64)
            records.append(r)
    records[0]["parameters"] = 1000
    table = results.settings_comparison(records, width64_parameters=11_172_810)
    assert list(table.index) == [
        "data", "input channels", "width (stem filters)", "parameters", "epochs", "schedule",
        "augmentation", "mixup", "complexity weight", "learning-rate selection", "seeds"]
    ours = table["this book"]
    assert ours["data"] == "synthetic images (256 training, 128 test images)"
    assert ours["width (stem filters)"] == "4" and ours["epochs"] == "2"
    assert ours["parameters"] == "1,000 to 1,234"
    assert ours["seeds"] == "3 per configuration"
    assert ours["learning-rate selection"] == "per configuration, on the validation split"
    assert table.loc["parameters", "DiffStride (official code)"].startswith("11,172,810")
    assert table.loc["parameters", "Hybrid paper"] == "not stated"
    with pytest.raises(ValueError, match="at least one run record"):
        results.settings_comparison([])


