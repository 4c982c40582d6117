import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hybridlib import train
from hybridlib.configs import CONFIGS
from hybridlib.resnet import resnet18

REPO = Path(__file__).resolve().parent.parent


def quick_run(config="strided", seed=0, **overrides):
    settings = {"epochs": 2, "width": 4, "batch_size": 64, **overrides}
    return train.build_run("smoke", config, seed, "synthetic", settings)


def test_overrides_are_recorded_and_change_the_hash_and_the_folder(tmp_path):
    base = train.build_run("smoke", "hybrid", 0)
    changed = train.build_run("smoke", "hybrid", 0, overrides={"epochs": 5})
    assert changed["epochs"] == 5 and changed["overrides"] == ["epochs"]
    assert train.config_hash(base) != train.config_hash(changed)
    assert train.record_path(base, tmp_path) == tmp_path / "smoke/synthetic/hybrid/seed0.json"
    assert train.record_path(changed, tmp_path).parts[-4].startswith("smoke-")
    # The device does not change the recipe, so not the hash either.
    assert train.config_hash(base) == train.config_hash({**base, "device": "cuda"})


def test_paper_profile_uses_the_official_recipe():
    run = train.build_run("paper", "diffstride", 2, "cifar100", {"strides": (3, 1, 3)})
    assert (run["weight_decay"], run["label_smoothing"], run["mixup"]) == (1e-3, 0.2, 0.2)
    assert run["spec"]["stage2"] == ["diffstride", 3] and run["spec"]["stage3"] == ["diffstride", 1]
    assert train.record_path(run, "r").parent.name == "diffstride_s313"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("nope", "strided", 0), "unknown profile 'nope'"),
        (("cpu", "nope", 0), "unknown configuration 'nope'"),
        (("cpu", "strided", 0, "mnist"), "unknown dataset 'mnist'"),
        (("cpu", "strided", 0, None, {"epoch": 3}), "unknown run settings ['epoch']"),
    ],
)
def test_bad_run_settings_name_the_value(args, words):
    with pytest.raises(ValueError) as info:
        train.build_run(*args)
    assert words in str(info.value)


def test_schedules():
    onecycle = {"schedule": "onecycle", "lr": 0.1}
    rates = [train.learning_rate(s, 100, onecycle) for s in range(100)]
    assert max(rates) == pytest.approx(0.1) and rates[0] < 0.01 and rates[-1] < 0.002
    official = {"schedule": "official", "lr": 0.1}
    assert [train.learning_rate(s, 10**5, official) for s in (0, 400, 18000, 32000)] == [
        0.01,
        0.1,
        0.01,
        0.001,
    ]


def test_weight_decay_skips_batch_norm_biases_and_strides():
    model = resnet18(CONFIGS["diffstride"], width=4)
    decay, no_decay = train.make_optimizer(model, quick_run()).param_groups
    strides = {id(p) for p in model.stride_parameters()}
    assert strides <= {id(p) for p in no_decay["params"]}
    assert all(p.ndim > 1 for p in decay["params"]) and no_decay["weight_decay"] == 0


def test_short_training_on_separable_data_learns(tmp_path):
    run = quick_run("spectral", epochs=4, width=8, lr=0.05, train_subset=None, test_subset=None)
    record = train.fit(run, tmp_path / "results", tmp_path / "runs", progress=False)
    assert record["final_test_acc"] > 0.9
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3, 4]
    for key in ("config", "config_hash", "final_test_acc", "epochs", "provenance"):
        assert key in record
    assert record["provenance"]["torch"] == torch.__version__


def test_record_is_reused_and_force_retrains(tmp_path, monkeypatch):
    run = quick_run(epochs=1)
    first = train.fit(run, tmp_path / "r", tmp_path / "c", progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("a complete matching record must be loaded, not retrained")

    monkeypatch.setattr(train, "_train_epoch", no_training)
    assert train.fit(run, tmp_path / "r", tmp_path / "c", progress=False) == first
    with pytest.raises(AssertionError, match="must be loaded"):
        train.fit(run, tmp_path / "r", tmp_path / "c", force=True, progress=False)


def test_complexity_regulariser_pushes_the_learned_strides_up(tmp_path):
    def strides(weight):
        run = quick_run("diffstride", epochs=1, train_subset=128, complexity_weight=weight)
        record = train.fit(run, tmp_path / f"r{weight}", tmp_path / f"c{weight}", progress=False)
        return [s for pair in record["learned_strides"].values() for s in pair]

    free, penalised = strides(0.0), strides(50.0)
    assert all(p > f for p, f in zip(penalised, free, strict=True))


def test_mixup_recipe_trains_and_is_recorded(tmp_path):
    run = quick_run(epochs=1, mixup=0.2)
    record = train.fit(run, tmp_path / "r", tmp_path / "c", progress=False)
    assert record["config"]["mixup"] == 0.2 and record["config"]["overrides"] == [
        "batch_size", "epochs", "mixup", "width"
    ]
    assert all(torch.isfinite(torch.tensor(e["train_loss"])) for e in record["epochs"])


def cli(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "hybridlib.train", "--profile", "smoke", "--dataset", "synthetic",
        "--config", "diffstride", "--seed", "3", "--epochs", "3", "--width", "4",
        "--batch-size", "16", "--train-subset", "256", "--no-progress",
        "--results-dir", str(tmp_path / name / "results"),
        "--runs-dir", str(tmp_path / name / "runs"),
        *extra,
    ]  # fmt: skip


def metrics(record: dict) -> list:
    keep = ("train_loss", "train_acc", "test_loss", "test_acc", "learned_strides", "feature_sizes")
    return [{k: e[k] for k in keep} for e in record["epochs"]]


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_metrics(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cli(tmp_path, "whole"), check=True, env=env, cwd=REPO)
    (whole,) = (tmp_path / "whole/results").rglob("seed3.json")

    proc = subprocess.Popen(cli(tmp_path, "killed"), env=env, cwd=REPO)
    checkpoints = tmp_path / "killed/runs"
    deadline = time.time() + 300
    while not list(checkpoints.rglob("seed3.pt")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not list((tmp_path / "killed/results").rglob("seed3.json"))
    (checkpoint,) = checkpoints.rglob("seed3.pt")
    assert len(torch.load(checkpoint, weights_only=False)["history"]) >= 1

    subprocess.run(cli(tmp_path, "killed"), check=True, env=env, cwd=REPO)
    (resumed,) = (tmp_path / "killed/results").rglob("seed3.json")
    assert metrics(json.loads(resumed.read_text())) == metrics(json.loads(whole.read_text()))


def test_cli_help_and_bad_values():
    out = subprocess.run(
        [sys.executable, "-m", "hybridlib.train", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "--force" in out.stdout and "examples" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "hybridlib.train", "--epochs", "0"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "--epochs must be >= 1, got 0" in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "hybridlib.train", "--strides", "2,2"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "3,1,3" in bad.stderr
