import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hybridlib import local_sweep, runs, train
from hybridlib.configs import CONFIGS
from hybridlib.resnet import resnet18
from hybridlib.runs import RunStore

REPO = Path(__file__).resolve().parent.parent
TRAIN_EPOCH = train._train_epoch  # the real one, for tests that wrap it


def quick_run(config="strided", seed=0, **overrides):
    settings = {"epochs": 2, "width": 4, "batch_size": 64, **overrides}
    return runs.build_run("smoke", config, seed, "synthetic", settings)


def test_overrides_are_recorded_and_change_the_hash_and_the_folder(tmp_path):
    base = runs.build_run("smoke", "hybrid", 0)
    changed = runs.build_run("smoke", "hybrid", 0, overrides={"epochs": 5})
    assert changed["epochs"] == 5 and changed["overrides"] == ["epochs"]
    assert runs.config_hash(base) != runs.config_hash(changed)
    assert runs.record_path(base, tmp_path) == tmp_path / "smoke/synthetic/hybrid/seed0.json"
    assert runs.record_path(changed, tmp_path).parts[-4].startswith("smoke-")
    # The device does not change the recipe, so not the hash either.
    assert runs.config_hash(base) == runs.config_hash({**base, "device": "cuda"})


def test_paper_profile_uses_the_official_recipe():
    run = runs.build_run("paper", "diffstride", 2, "cifar100", {"strides": (3, 1, 3)})
    assert (run["weight_decay"], run["label_smoothing"], run["mixup"]) == (1e-3, 0.2, 0.2)
    assert run["spec"]["stage2"] == ["diffstride", 3] and run["spec"]["stage3"] == ["diffstride", 1]
    assert runs.record_path(run, "r").parent.name == "diffstride_s313"


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
        runs.build_run(*args)
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
    record = train.fit(run, RunStore(tmp_path / "results", tmp_path / "runs"), progress=False)
    assert record["final_test_acc"] > 0.9
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3, 4]
    for key in ("settings", "config_hash", "final_test_acc", "epochs", "provenance"):
        assert key in record
    assert record["provenance"]["torch"] == torch.__version__


def test_record_is_reused_and_force_retrains(tmp_path, monkeypatch):
    run = quick_run(epochs=1)
    first = train.fit(run, RunStore(tmp_path / "r", tmp_path / "c"), progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("a complete matching record must be loaded, not retrained")

    monkeypatch.setattr(train, "_train_epoch", no_training)
    assert train.fit(run, RunStore(tmp_path / "r", tmp_path / "c"), progress=False) == first
    with pytest.raises(AssertionError, match="must be loaded"):
        train.fit(run, RunStore(tmp_path / "r", tmp_path / "c"), force=True, progress=False)


def test_complexity_regulariser_pushes_the_learned_strides_up(tmp_path):
    def strides(weight):
        run = quick_run("diffstride", epochs=1, train_subset=128, complexity_weight=weight)
        store = RunStore(tmp_path / f"r{weight}", tmp_path / f"c{weight}")
        record = train.fit(run, store, progress=False)
        return [s for pair in record["learned_strides"].values() for s in pair]

    free, penalised = strides(0.0), strides(50.0)
    assert all(p > f for p, f in zip(penalised, free, strict=True))


def test_mixup_recipe_trains_and_is_recorded(tmp_path):
    run = quick_run(epochs=1, mixup=0.2)
    record = train.fit(run, RunStore(tmp_path / "r", tmp_path / "c"), progress=False)
    assert record["settings"]["mixup"] == 0.2 and record["settings"]["overrides"] == [
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
    assert len(torch.load(checkpoint, weights_only=True)["history"]) >= 1

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
    assert bad.returncode == 2
    assert "argument --epochs: must be an integer >= 1, got '0'" in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "hybridlib.train", "--strides", "2,2"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "3,1,3" in bad.stderr


# --- checkpoints are data, never code ---------------------------------------------------


def paths(run: dict, tmp_path: Path) -> tuple[Path, Path]:
    """The record and the checkpoint of ``run`` under ``tmp_path/r`` and ``tmp_path/c``."""
    record = runs.record_path(run, tmp_path / "r")
    return record, RunStore(tmp_path / "r", tmp_path / "c").checkpoint_path(run)


def fit(run: dict, tmp_path: Path, **kwargs) -> dict:
    return train.fit(run, RunStore(tmp_path / "r", tmp_path / "c"), progress=False, **kwargs)


class Payload:
    """Pickles into a call of ``os.mkdir(path)``: code that runs when the file is loaded."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_planted_checkpoint_cannot_run_code(tmp_path, capsys):
    run = quick_run(epochs=1, train_subset=128)
    _, checkpoint = paths(run, tmp_path)
    checkpoint.parent.mkdir(parents=True)
    ran = tmp_path / "the-payload-ran"
    torch.save({"model": Payload(ran), "config_hash": runs.config_hash(run)}, checkpoint)
    record = fit(run, tmp_path)
    assert not ran.exists()
    assert record["complete"] and len(record["epochs"]) == 1  # trained from scratch instead
    err = capsys.readouterr().err
    assert f"{checkpoint} is not a usable checkpoint" in err and "could run code" in err


# --- divergence -----------------------------------------------------------------------


@pytest.mark.parametrize("config", ["strided", "diffstride"])
def test_a_diverging_run_stops_with_its_name_and_writes_nothing(config, tmp_path):
    run = quick_run(config, epochs=1, train_subset=128, lr=float("nan"))
    with pytest.raises(train.TrainingDiverged) as err:
        fit(run, tmp_path)
    message = str(err.value)
    assert message.startswith(f"training diverged: {config} seed 0 on synthetic (profile smoke)")
    assert "at epoch 1, step " in message and "nothing was written" in message
    assert "\n" not in message
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("config", "what"),
    [("strided", "the loss is nan at epoch 2, step 2 of 2"),
     ("diffstride", "a DiffStride stride became NaN or infinite at epoch 2, step 1 of 2")],
)  # fmt: skip
def test_divergence_keeps_the_last_good_checkpoint(config, what, tmp_path, monkeypatch):
    run = quick_run(config, epochs=2, train_subset=128)
    steps = 2  # 128 images in batches of 64
    schedule = train.learning_rate
    # From the first step of epoch 2 on, the learning rate is NaN: the weights follow.
    monkeypatch.setattr(
        train, "learning_rate", lambda s, n, r: float("nan") if s >= steps else schedule(s, n, r)
    )
    with pytest.raises(train.TrainingDiverged) as err:
        fit(run, tmp_path)
    assert what in str(err.value) and "the checkpoint of epoch 1 is kept" in str(err.value)
    record, checkpoint = paths(run, tmp_path)
    assert not record.exists()
    assert len(torch.load(checkpoint, weights_only=True)["history"]) == 1


def test_non_finite_parameters_at_the_end_of_an_epoch_are_caught():
    model = resnet18(CONFIGS["strided"], width=4)
    train._check_parameters(model, quick_run(), 0, 10)
    name, buffer = next((n, b) for n, b in model.named_buffers() if n.endswith("running_mean"))
    buffer[0] = float("nan")  # batch norm's statistics count too
    with pytest.raises(train.TrainingDiverged) as err:
        train._check_parameters(model, quick_run(), 0, 10)
    assert f"{name} became NaN or infinite at epoch 1, step 10 of 10" in str(err.value)


def test_the_cli_reports_divergence_in_one_line(tmp_path, capsys):
    argv = [
        "--profile", "smoke", "--config", "strided", "--epochs", "1", "--width", "4",
        "--train-subset", "128", "--lr", "1e6", "--no-progress",
        "--results-dir", str(tmp_path / "r"), "--runs-dir", str(tmp_path / "c"),
    ]  # fmt: skip
    assert local_sweep.main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: training diverged: strided seed 0 on synthetic")
    assert not (tmp_path / "r").exists()


def test_records_are_strict_json(tmp_path):
    path = tmp_path / "seed0.json"
    with pytest.raises(ValueError, match=f"{path} not written.*strict JSON"):
        runs.write_json(path, {"final_test_loss": float("nan")})
    assert not path.exists() and list(tmp_path.iterdir()) == []


# --- forced sweeps ----------------------------------------------------------------------


def count_epochs(monkeypatch, stop_at: tuple[str, int] | None = None) -> list:
    """Record (config, epoch) of every trained epoch; raise KeyboardInterrupt at ``stop_at``."""
    trained = []

    def counting(model, optimizer, data, run, epoch, *args):
        if (run["config"], epoch) == stop_at:
            raise KeyboardInterrupt
        trained.append((run["config"], epoch))
        return TRAIN_EPOCH(model, optimizer, data, run, epoch, *args)

    monkeypatch.setattr(train, "_train_epoch", counting)
    return trained


def age(folder: Path, seconds: float = 100) -> None:
    """Make every file under ``folder`` look ``seconds`` old."""
    then = time.time() - seconds
    for path in folder.rglob("*"):
        os.utime(path, (then, then))


def test_force_retrains_only_what_predates_it(tmp_path, monkeypatch):
    run = quick_run(epochs=1, train_subset=128)
    fit(run, tmp_path)
    age(tmp_path)
    since = time.time() - 50
    trained = count_epochs(monkeypatch)
    fit(run, tmp_path, since=since)
    assert trained == [("strided", 0)]  # older than the threshold: retrained
    fit(run, tmp_path, since=since)
    assert trained == [("strided", 0)]  # written since: reused


@pytest.mark.slow
def test_an_interrupted_forced_sweep_resumes_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.delenv(local_sweep.FORCED_SINCE_ENV, raising=False)
    settings = {"epochs": 2, "width": 4, "batch_size": 64, "train_subset": 128, "test_subset": 64}
    kwargs = dict(
        configs=["strided", "spectral"], datasets_=["synthetic"], overrides=settings,
        store=RunStore(tmp_path / "r", tmp_path / "c"), progress=False,
    )  # fmt: skip
    local_sweep.train_profile("smoke", **kwargs)
    age(tmp_path)  # records and checkpoints of an earlier sweep
    trained = count_epochs(monkeypatch, stop_at=("spectral", 1))
    with pytest.raises(KeyboardInterrupt):
        local_sweep.train_profile("smoke", force=True, **kwargs)
    assert trained == [("strided", 0), ("strided", 1), ("spectral", 0)]
    marker = tmp_path / "c" / "smoke" / ".forced-since"
    assert marker.exists()

    trained = count_epochs(monkeypatch)
    records = local_sweep.train_profile("smoke", force=True, **kwargs)
    assert trained == [("spectral", 1)]  # strided kept, spectral resumed at its epoch 2
    # The sweep is finished: the next forced command starts a new one.
    assert [len(r["epochs"]) for r in records] == [2, 2] and not marker.exists()


def test_a_forced_sweep_inherits_its_start_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(local_sweep.FORCED_SINCE_ENV, "1234.5")
    with local_sweep.forced_sweep(RunStore(runs=tmp_path), "smoke") as since:
        assert since == 1234.5
    assert not (tmp_path / "smoke").exists()  # the enclosing command owns the sweep
    monkeypatch.setenv(local_sweep.FORCED_SINCE_ENV, "soon")
    with pytest.raises(ValueError, match="HYBRIDLIB_FORCED_SINCE must be a UNIX time"):
        with local_sweep.forced_sweep(RunStore(runs=tmp_path), "smoke"):
            pass


# --- damaged checkpoints and records -----------------------------------------------------


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize(
    "damage",
    [
        truncated,
        lambda p: p.write_bytes(b"garbage"),
        lambda p: torch.save([1, 2, 3], p),
        lambda p: torch.save({"model": {}, "optimizer": {}, "history": "x"}, p),
    ],
    ids=["truncated", "garbage", "a list", "wrong entries"],
)
def test_a_damaged_checkpoint_is_named_and_the_run_starts_afresh(damage, tmp_path, capsys):
    run = quick_run(epochs=1, train_subset=128)
    good = fit(run, tmp_path)
    record, checkpoint = paths(run, tmp_path)
    damage(checkpoint)
    assert fit(run, tmp_path) == good  # the good record is not lost to a bad checkpoint
    record.unlink()
    again = fit(run, tmp_path)
    assert again["complete"] and len(again["epochs"]) == 1
    err = capsys.readouterr().err
    assert f"warning: {checkpoint} is not a usable checkpoint: " in err
    assert "Training the run from scratch" in err


@pytest.mark.parametrize(
    "damage",
    [
        truncated,
        lambda p: p.write_bytes(b"\xff\xfe not text"),
        lambda p: p.write_text("[]"),
        lambda p: p.write_text(p.read_text().replace('"final_test_acc": ', '"x": NaN, "y": ')),
    ],
    ids=["truncated", "not text", "a list", "NaN"],
)
def test_a_damaged_record_is_named_and_the_run_resumes_from_its_checkpoint(
    damage, tmp_path, monkeypatch, capsys
):
    run = quick_run(epochs=1, train_subset=128)
    good = fit(run, tmp_path)
    record, _ = paths(run, tmp_path)
    damage(record)
    trained = count_epochs(monkeypatch)
    again = fit(run, tmp_path)
    assert trained == []  # the checkpoint holds every epoch: nothing to train
    assert metrics(again) == metrics(good) and json.loads(record.read_text()) == again
    err = capsys.readouterr().err
    assert f"warning: {record} is not a valid run record: " in err


# --- threads ----------------------------------------------------------------------------


def test_threads_is_recorded_but_changes_neither_hash_nor_path(tmp_path):
    assert runs.build_run("cpu", "hybrid", 0)["threads"] == 1
    assert runs.build_run("smoke", "hybrid", 0)["threads"] is None
    run = quick_run()
    one = quick_run(threads=1)
    assert one["threads"] == 1 and "threads" not in one["overrides"]
    assert runs.config_hash(one) == runs.config_hash(run)
    assert runs.record_path(one, tmp_path) == runs.record_path(run, tmp_path)
    # Records made before the setting existed keep their hash.
    without = {k: v for k, v in run.items() if k != "threads"}
    assert runs.config_hash(without) == runs.config_hash(run)


def test_fit_uses_the_run_thread_count_and_a_resumed_run_the_recorded_one(
    tmp_path, monkeypatch, capsys
):
    before = torch.get_num_threads()
    seen = []

    def watching(model, optimizer, data, run, epoch, *args):
        seen.append(torch.get_num_threads())
        if len(seen) == 2 and epoch == 1:
            raise KeyboardInterrupt
        return TRAIN_EPOCH(model, optimizer, data, run, epoch, *args)

    monkeypatch.setattr(train, "_train_epoch", watching)
    run = quick_run(epochs=2, train_subset=128, threads=1)
    with pytest.raises(KeyboardInterrupt):
        fit(run, tmp_path)
    assert seen == [1, 1] and torch.get_num_threads() == before
    _, checkpoint = paths(run, tmp_path)
    assert torch.load(checkpoint, weights_only=True)["threads"] == 1
    record = fit(quick_run(epochs=2, train_subset=128, threads=2), tmp_path)
    assert seen == [1, 1, 1] and torch.get_num_threads() == before
    assert record["provenance"]["threads"] == 1
    assert "resuming with 1 threads" in capsys.readouterr().err


# --- litter -----------------------------------------------------------------------------


def test_temporary_files_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = tmp_path / f".seed0.json.{proc.pid}.tmp"
    alive = tmp_path / f".seed1.json.{os.getppid()}.tmp"  # a writer still at work
    unrelated = tmp_path / ".notes.tmp"
    for path in (dead, alive, unrelated):
        path.write_text("{")
    runs.write_json(tmp_path / "seed2.json", {"complete": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, unrelated.name, "seed2.json"]
    )


# --- command-line values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--mixup", "nan", "must be a finite number >= 0, got 'nan'"),
        ("--mixup", "-1", "must be a finite number >= 0, got '-1'"),
        ("--complexity-weight", "nan", "must be a finite number >= 0"),
        ("--complexity-weight", "-1", "must be a finite number >= 0"),
        ("--lr", "nan", "must be a finite number > 0, got 'nan'"),
        ("--lr", "inf", "must be a finite number > 0"),
        ("--lr", "0", "must be a finite number > 0"),
        ("--lr", "-0.1", "must be a finite number > 0"),
        ("--epochs", "0", "must be an integer >= 1, got '0'"),
        ("--batch-size", "1.5", "must be an integer >= 1"),
        ("--train-subset", "-3", "must be an integer >= 1"),
        ("--width", "nan", "must be an integer >= 1"),
        ("--threads", "0", "must be an integer >= 1"),
        ("--seed", "-1", "must be an integer in 0..4294967295"),
        ("--seed", str(2**64), "must be an integer in 0..4294967295"),
        ("--device", "gpu0", "must be auto, cpu, cuda, cuda:<index> or mps, got 'gpu0'"),
    ],
)
def test_bad_numbers_on_the_command_line_are_refused_naming_the_flag(flag, value, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        local_sweep._parser().parse_args([flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}: {words}" in capsys.readouterr().err


def test_good_numbers_on_the_command_line_are_kept():
    args = local_sweep._parser().parse_args(
        ["--mixup", "0", "--complexity-weight", "0.5", "--lr", "1e6", "--seed", "0",
         "--threads", "2", "--device", "cuda:1", "--epochs", "3"]
    )  # fmt: skip
    assert (args.mixup, args.complexity_weight, args.lr, args.seed) == (0.0, 0.5, 1e6, [0])
    assert (args.threads, args.device, args.epochs) == (2, "cuda:1", 3)


# -------------------------------------------------------------------- evidence in the records
def test_a_validation_split_is_held_out_and_measured_every_epoch(tmp_path):
    run = quick_run(validation=32, epochs=2)
    record = fit(run, tmp_path)
    assert [("val_acc" in e, "val_loss" in e) for e in record["epochs"]] == [(True, True)] * 2
    assert record["final_val_acc"] == record["epochs"][-1]["val_acc"]
    # The test set is scored once, after the last epoch.
    assert ["test_acc" in e for e in record["epochs"]] == [False, True]
    assert record["final_test_acc"] == record["epochs"][-1]["test_acc"]
    data, (images, labels) = train._load("synthetic", run["train_subset"], None, 32)
    assert len(labels) == 32 and len(data.train_labels) == record["train_size"] == 256
    # Class-balanced, and disjoint from the images trained on.
    assert torch.bincount(labels).tolist() == [8, 8, 8, 8]
    flat = data.train_images.flatten(1)
    assert not any((flat == image.flatten()).all(1).any() for image in images)


def test_the_record_stores_every_test_prediction(tmp_path):
    record = fit(quick_run(), tmp_path)
    predictions = runs.decode_predictions(record["test_predictions"])
    data, _ = train._load("synthetic", None, record["test_size"])
    assert len(predictions) == record["test_size"]
    right = torch.from_numpy(predictions) == data.test_labels
    assert right.double().mean().item() == pytest.approx(record["final_test_acc"])
    correct = runs.decode_correct(record["test_correct"], record["test_size"])
    assert correct.tolist() == right.tolist()


def test_predictions_round_trip_and_refuse_what_one_byte_cannot_hold():
    predictions = torch.tensor([0, 9, 99, 255, 3])
    assert runs.decode_predictions(runs.encode_predictions(predictions)).tolist() == [
        0, 9, 99, 255, 3
    ]
    with pytest.raises(ValueError, match="0..255"):
        runs.encode_predictions(torch.tensor([256]))


def test_a_record_made_by_other_code_is_retrained_unless_accepted(tmp_path, capsys):
    run = quick_run(epochs=1)
    record_path, _ = paths(run, tmp_path)
    first = fit(run, tmp_path)
    assert first["code_hash"] == runs.CODE_HASH
    stale = {**first, "code_hash": "0123456789abcdef"}
    record_path.write_text(json.dumps(stale))
    assert fit(run, tmp_path, accept_code=True)["code_hash"] == "0123456789abcdef"
    retrained = fit(run, tmp_path)
    assert retrained["code_hash"] == runs.CODE_HASH
    assert "made by other code (code hash 0123456789abcdef" in capsys.readouterr().err


def test_a_checkpoint_made_by_other_code_is_not_resumed(tmp_path, monkeypatch, capsys):
    run = quick_run(epochs=2)
    record_path, ckpt_path = paths(run, tmp_path)
    fit(run, tmp_path)
    record_path.unlink()
    state = torch.load(ckpt_path, weights_only=True)
    state["code_hash"], state["history"] = "feedfacefeedface", state["history"][:1]
    torch.save(state, ckpt_path)
    trained = count_epochs(monkeypatch)
    fit(run, tmp_path)
    assert trained == [("strided", 0), ("strided", 1)]  # from scratch, not from epoch 2
    assert "made by other code" in capsys.readouterr().err


def test_reading_a_profile_without_training_leaves_unrecorded_runs_out(tmp_path, capsys):
    settings = {"epochs": 1, "width": 4, "batch_size": 64}
    store = RunStore(tmp_path, tmp_path / "c")
    done = local_sweep.train_profile("smoke", store, configs=["strided"], overrides=settings,
                                     progress=False)
    read = store.load("smoke", configs=["strided", "spectral"], overrides=settings)
    assert [r["settings"]["config"] for r in read] == ["strided"] and read == done
    assert "1 runs of profile smoke have no complete record" in capsys.readouterr().err
    assert not list((tmp_path / "c").rglob("*spectral*"))  # nothing was trained
    path = runs.record_path(done[0]["settings"], tmp_path)
    path.write_text(json.dumps({**done[0], "code_hash": "0123456789abcdef"}))
    assert RunStore(tmp_path).recorded(done[0]["settings"]) is None
    assert RunStore(tmp_path).recorded(done[0]["settings"], accept_code=True) is not None


def test_a_shared_sweep_skips_the_runs_another_live_process_holds(tmp_path, capsys):
    import socket

    settings = {"epochs": 1, "width": 4, "batch_size": 64}
    run = runs.build_run("smoke", "strided", 0, overrides=settings)
    ckpt = RunStore(tmp_path, tmp_path / "c").checkpoint_path(run)
    claim = ckpt.with_suffix(".claim")
    claim.parent.mkdir(parents=True)
    claim.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))
    records = local_sweep.train_profile("smoke", RunStore(tmp_path, tmp_path / "c"),
                                        configs=["strided", "spectral"], overrides=settings,
                                        progress=False, share=True)
    assert [r["settings"]["config"] for r in records] == ["spectral"]
    assert f"process {os.getppid()}" in capsys.readouterr().err
    assert not runs.record_path(run, tmp_path).exists() and claim.exists()
    claim.write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 12345}))  # dead
    done = local_sweep.fit_shared(run, RunStore(tmp_path, tmp_path / "c"), progress=False)
    assert done["complete"]
    assert not claim.exists()


def wsd_run(epochs, **overrides):
    settings = {"epochs": epochs, "width": 4, "batch_size": 64, "schedule": "wsd", "lr": 0.05,
                "train_subset": 128, **overrides}
    return runs.build_run("smoke", "hybrid", 0, "synthetic", settings)


def test_the_wsd_schedule_warms_up_holds_and_decays_over_the_last_sixth():
    run = wsd_run(12)
    steps = 10 * 12
    rates = [train.learning_rate(s, steps, run) for s in range(steps)]
    warmup = int(train.WSD_WARMUP_EPOCHS * 10)
    assert rates[0] == pytest.approx(0.05 / warmup) and rates[warmup] == 0.05
    assert rates[99] == rates[100] == 0.05  # the decay: the last 2 of 12 epochs, to zero
    assert all(a > b for a, b in zip(rates[100:], rates[101:]))
    assert rates[-1] == pytest.approx(0.05 / 20)
    # The trunk does not depend on the budget: a shorter run has the same first steps.
    shorter = [train.learning_rate(s, 60, wsd_run(6)) for s in range(50)]
    assert shorter == rates[:50]
    with pytest.raises(ValueError, match="at least 6 epochs"):
        train.wsd_trunk_epochs(5)


def test_a_shorter_budget_branched_off_a_trunk_equals_one_trained_from_scratch(tmp_path):
    # The 12-epoch run keeps its state after epoch 5; the 6-epoch run starts there and
    # ends exactly where a 6-epoch run trained on its own ends.
    long = wsd_run(12, branches=[6])
    shared = RunStore(tmp_path / "shared" / "results", tmp_path / "shared" / "runs")
    train.fit(long, shared, progress=False)
    assert shared.trunk_path(long, 5).exists()
    branched = train.fit(wsd_run(6), shared, progress=False)
    assert branched["from_trunk"]["epochs"] == 5
    alone = train.fit(wsd_run(6), RunStore(tmp_path / "alone" / "results",
                                           tmp_path / "alone" / "runs"), progress=False)
    assert "from_trunk" not in alone
    assert branched["test_predictions"] == alone["test_predictions"]
    assert branched["epochs"][-1]["train_loss"] == alone["epochs"][-1]["train_loss"]
    assert branched["config_hash"] == alone["config_hash"]
