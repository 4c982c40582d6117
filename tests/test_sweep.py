"""Tests of hybridlib.sweep and the paper profile: the run list, the recipes, the price, the
CLI, the status table; on the CPU, a submitit sweep killed and resubmitted, two steps of
every paper network, and the results chapter built from paper-profile records."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from hybridlib import claims, data, sweep, train
from hybridlib.configs import ABLATION, HYBRID_READINGS, PROFILES, RECIPES, STRIDE_ROWS
from hybridlib.runs import (
    CODE_HASH,
    RunStore,
    build_run,
    config_hash,
    read_record,
    record_path,
    write_json,
)
from tests.guards import no_hang  # noqa: F401
from tests.records import valid_record

TINY = {"cifar10": (20, 4), "cifar100": (16, 4)}  # training and test images per tiny folder


# ----------------------------------------------------------------------------- helpers
def shrink_cifar() -> None:
    """Expect the tiny folders' image counts in place of 50000/10000 (in this process)."""
    for variant, (train_size, test_size) in TINY.items():
        spec = data.CIFAR_SPECS[variant]
        data.CIFAR_SPECS[variant] = dataclasses.replace(
            spec, train_size=train_size, test_size=test_size
        )


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    """Tiny CIFAR-10 and CIFAR-100 folders in the official format under $HYBRIDLIB_DATA."""
    for variant in TINY:
        monkeypatch.setitem(data.CIFAR_SPECS, variant, data.CIFAR_SPECS[variant])
    shrink_cifar()
    root = tmp_path / "data"
    for variant, (n_train, n_test) in TINY.items():
        write_cifar(root, variant, n_train, n_test)
    monkeypatch.setenv(data.DATA_ENV, str(root))
    train._load.cache_clear()
    yield root
    train._load.cache_clear()


def write_cifar(root: Path, variant: str, n_train: int, n_test: int) -> None:
    spec = data.CIFAR_SPECS[variant]
    folder = root / spec.folder
    folder.mkdir(parents=True)
    rng = torch.Generator().manual_seed(0)

    def batch(n: int) -> dict:
        rows = torch.randint(0, 256, (n, 3072), generator=rng, dtype=torch.uint8).numpy()
        labels = [i % spec.num_classes for i in range(n)]
        return {"data": rows, spec.label_key: labels}

    per_file = n_train // len(spec.train_files)
    for name in spec.train_files:
        (folder / name).write_bytes(pickle.dumps(batch(per_file), protocol=2))
    (folder / spec.test_files[0]).write_bytes(pickle.dumps(batch(n_test), protocol=2))
    names = [f"class-{i}" for i in range(spec.num_classes)]
    (folder / spec.meta_file).write_bytes(pickle.dumps({spec.names_key: names}, protocol=2))


# ----------------------------------------------------------------------------- run list
def test_the_paper_run_list_holds_every_row_reading_baseline_and_seed():
    runs = sweep.run_list("paper")
    assert len(runs) == 264 and len({str(record_path(r)) for r in runs}) == 264
    table = sweep.counts_table(runs)
    assert table.loc["total", "runs"] == 264
    for config in ("strided", "spectral", "diffstride", *HYBRID_READINGS):
        assert table.loc[config, "stride rows"] == len(STRIDE_ROWS)
        assert table.loc[config, "cifar10"] == table.loc[config, "cifar100"] == 18
    for config in ("max", "avg", *ABLATION):
        assert table.loc[config, "stride rows"] == 1 and table.loc[config, "runs"] == 6
    # Every run is the profile's own: no override, so its record is under results/paper/.
    assert {record_path(r, "r").parts[1] for r in runs} == {"paper"}
    assert all(r["overrides"] == [] for r in runs)
    rows = {tuple(r["strides"] or (2, 2, 2)) for r in runs if r["config"] == "hybrid_stem"}
    assert rows == set(STRIDE_ROWS)


def test_the_configurations_own_row_is_the_configurations_run():
    plain = build_run("paper", "diffstride", 0, "cifar10")
    row = build_run("paper", "diffstride", 0, "cifar10", {"strides": (2, 2, 2)})
    assert row["strides"] is None and config_hash(row) == config_hash(plain)
    other = build_run("paper", "diffstride", 0, "cifar10", {"strides": (3, 1, 3)})
    assert record_path(other, "r") == Path("r/paper/cifar10/diffstride_s313/seed0.json")
    # A row the profile does not declare stays an override.
    odd = build_run("paper", "diffstride", 0, "cifar10", {"strides": (1, 1, 1)})
    assert odd["overrides"] == ["strides"]


def test_recipes_official_and_first_commit():
    official = build_run("paper", "hybrid", 0, "cifar10")
    assert official["schedule"] == "official" and official["batch_size"] == 128
    # Keras L2 lambda is torch weight decay 2 * lambda: 5e-4 -> 1e-3, 5e-3 -> 1e-2.
    assert (official["weight_decay"], official["label_smoothing"], official["mixup"]) == (
        1e-3, 0.2, 0.2)
    (first,) = sweep.run_list("paper", "first_commit", ["cifar10"], ["hybrid"], [0], rows=False)
    assert (first["schedule"], first["batch_size"], first["epochs"]) == ("first_commit", 256, 400)
    assert (first["weight_decay"], first["label_smoothing"], first["mixup"]) == (1e-2, 0.0, 0.0)
    assert RECIPES["first_commit"]["weight_decay"] == 2 * 5e-3
    # Another recipe is an experiment of its own, never the profile's records.
    assert record_path(first, "r").parts[1].startswith("paper-")
    steps = 10  # per epoch
    rates = [train.learning_rate(e * steps, 400 * steps, first) for e in (0, 199, 200, 299, 300)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


def test_recipes_leave_the_cpu_records_valid():
    paths = sorted(Path("results/cpu").glob("*/*/seed*.json"))
    for path in paths:
        record = read_record(path)
        c = record["settings"]
        overrides = {k: c[k] for k in c.get("overrides", [])}
        run = build_run("cpu", c["config"], c["seed"], c["dataset"], overrides or None)
        assert config_hash(run) == record["config_hash"], path


# ----------------------------------------------------------------------------- price
def test_the_price_counts_describe_flops_at_any_width():
    (run,) = sweep.run_list("paper", None, ["cifar100"], ["hybrid"], [0], rows=False)
    model = train.resnet18(run["spec"], num_classes=100, in_channels=3, width=64)
    exact = train.describe(model, (3, 32, 32))["flops"]
    assert sweep.flops_per_image(run) == pytest.approx(exact, rel=1e-9)
    table = sweep.price([run], 20e12)
    hours = exact * 400 * (3 * 50000 + 10000) / 20e12 / 3600
    assert table.gpu_hours[0] == pytest.approx(hours)
    with pytest.raises(ValueError, match="positive"):
        sweep.price([run], 0.0)


def test_dry_run_prints_the_run_list_and_the_bill(capsys):
    argv = ["--dry-run", "--gpu-tflops", "40", "--dataset", "cifar10", "--config", "strided"]
    assert sweep.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("cifar10/strided") == 18  # six rows, three seeds
    assert "cifar10: 18 runs" in out and "assumed 40 TFLOP/s (--gpu-tflops)" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--gpus", "-1"], "--gpus: must be an integer in 0..4096, got '-1'"),
        (["--max-parallel", "0"], "--max-parallel: must be an integer in 1..4096, got '0'"),
        (["--max-parallel", "-1"], "--max-parallel: must be an integer in 1..4096, got '-1'"),
        (["--max-parallel", "10000000000"], "--max-parallel: must be an integer in 1..4096"),
        (["--gpu-tflops", "0"], "--gpu-tflops: must be a finite number > 0 and <= 1e+06, got "
                                "'0'"),
        (["--gpu-tflops", "1e308"], "--gpu-tflops: must be a finite number > 0 and <= 1e+06"),
        (["--calibrate-on", "bogus"], "--calibrate-on: must be auto, cpu, cuda, cuda:<index> "
                                      "or mps, got 'bogus'"),
        (["--calibrate-on", "meta"], "--calibrate-on: must be auto, cpu, cuda"),
        (["--config", "../../x"], "--config: invalid choice: '../../x'"),
        (["--seed", "99999999999"], "--seed: must be an integer in 0..4294967295"),
        (["--executor", "pbs"], "--executor: invalid choice: 'pbs'"),
    ],
)
def test_bad_flags_name_the_flag_and_the_value(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        sweep.main(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        sweep.main(["--help"])
    out = capsys.readouterr().out
    assert "--executor slurm --partition gpu" in out and "status --profile paper" in out


# ----------------------------------------------------------------------------- status
def test_status_tells_done_missing_and_failed(tmp_path):
    runs = sweep.run_list("paper", None, ["cifar10"], ["strided"], [0, 1], rows=False)
    results, ckpts, jobs = tmp_path / "results", tmp_path / "runs", tmp_path / "jobs"
    done = record_path(runs[0], results)
    write_json(done, this_codes_record(runs[0]))
    # The second run's job ended (its process is gone) after its run failed.
    key = str(record_path(runs[1], results).relative_to(results))
    jobs.mkdir()
    host = sweep.socket.gethostname()
    entry = {"run": key, "job_id": "999999999", "executor": "local", "host": host}
    (jobs / sweep.LEDGER).write_text(json.dumps(entry) + "\n{cut short")
    base = sweep._checkpoint_base(runs[1], RunStore(results, ckpts))
    write_json(base.with_suffix(".failed"), {"job_id": "999999999", "error": "OOM: boom"})
    table = sweep.status(runs, RunStore(results, ckpts), jobs)
    assert table.state.tolist() == ["done", "failed"]
    assert table["last log line"][1] == "OOM: boom"
    nothing = sweep.status(runs, RunStore(tmp_path / "none", ckpts), tmp_path / "none")
    assert nothing.state.tolist() == ["missing", "missing"]


def this_codes_record(run: dict, wall_seconds: float = 60.0) -> dict:
    return valid_record(run, wall_seconds=wall_seconds)


def save_checkpoint(run: dict, results: Path, ckpts: Path, epochs_done: int) -> None:
    path = RunStore(results, ckpts).checkpoint_path(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "optimizer": {}, "history": [{}] * epochs_done, "elapsed": 1.0,
                "config_hash": config_hash(run), "code_hash": CODE_HASH}, path)


def test_status_sees_other_code_claims_and_checkpoints(tmp_path):
    """A record of other library code is not done (load-or-train would retrain it); a run
    claimed by a live ``hybridlib.train`` process is running; a checkpoint's epochs show."""
    runs = sweep.run_list("cpu", None, None, ["strided"], [0, 1, 2])
    results, ckpts = tmp_path / "results", tmp_path / "runs"
    write_json(record_path(runs[0], results),
                     {**this_codes_record(runs[0]), "code_hash": "0" * 16})
    save_checkpoint(runs[1], results, ckpts, epochs_done=2)
    base = sweep._checkpoint_base(runs[1], RunStore(results, ckpts))
    with claims.claim(base.with_suffix(".claim")) as other:
        assert other is None
        table = sweep.status(runs, RunStore(results, ckpts), tmp_path / "jobs")
    assert table.state.tolist() == ["missing", "running", "missing"]
    assert table.job[1] == f"pid {sweep.os.getpid()}"
    assert table.epochs.tolist() == ["", f"2/{runs[1]['epochs']}", ""]


def test_hours_left_are_estimated_per_configuration_from_its_records(tmp_path):
    runs = sweep.run_list("cpu", None, None, ["strided", "spectral"], [0, 1, 2])
    strided = [r for r in runs if r["config"] == "strided"]
    results, ckpts = tmp_path / "results", tmp_path / "runs"
    write_json(record_path(strided[0], results), this_codes_record(strided[0], 3600))
    write_json(record_path(strided[1], results), this_codes_record(strided[1], 7200))
    # The third strided run is half-way: half of the mean of 1.5 hours is left.
    save_checkpoint(strided[2], results, ckpts, epochs_done=strided[2]["epochs"] // 2)
    table = sweep.status(runs, RunStore(results, ckpts), tmp_path / "jobs")
    spent = sweep.hours_recorded_and_left(runs, table, RunStore(results))
    assert spent == pytest.approx({"recorded": 3.0, "left": 0.75, "unestimated": 3})


# ----------------------------------------------------------------------------- on the CPU
EPOCH_SECONDS = 0.1  # the least an epoch of the tiny runs takes, whatever the machine's load


class TinyCifarJob(sweep.RunJob):
    """The sweep's job, in a process that expects the tiny CIFAR folders, with epochs long
    enough that a run can be stopped half-way (a tiny epoch alone takes milliseconds)."""

    def __call__(self, runs, store):
        shrink_cifar()
        epoch = train._train_epoch

        def slow_epoch(*args, **kwargs):
            time.sleep(EPOCH_SECONDS)
            return epoch(*args, **kwargs)

        train._train_epoch = slow_epoch
        return super().__call__(runs, store)


def wait_for(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_local_sweep_killed_mid_run_resumes_when_resubmitted(tiny_cifar, tmp_path):
    """Two runs of a reduced paper profile as two local submitit jobs on the CPU; one is
    killed after an epoch; the resubmitted sweep runs only that one, from its checkpoint."""
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    overrides = {"width": 4, "epochs": 40, "batch_size": 4, "threads": 1}
    runs = sweep.run_list("paper", None, ["cifar10"], ["strided", "diffstride"], [0],
                          rows=False, overrides=overrides)
    results, ckpts, folder = tmp_path / "results", tmp_path / "runs", tmp_path / "jobs"
    where = {"store": RunStore(results, ckpts), "folder": folder}
    # A local job is cancelled with SIGINT, which its processes ignore when this one does
    # (a shell makes the jobs it starts in the background ignore it): give them the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        jobs = sweep.submit(runs, "local", gpus=0, max_parallel=2, timeout_min=10,
                            job=TinyCifarJob(), **where)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(jobs) == 2
    victim = runs[1]
    ckpt = RunStore(results, ckpts).checkpoint_path(victim)
    (victim_job,) = [j for j in jobs if sweep.status([victim], **where).job[0] == j.job_id]
    wait_for(ckpt.exists, 120, "the first checkpoint")
    assert sweep.status([victim], **where).state[0] == "running"
    victim_job.cancel()
    wait_for(victim_job.done, 60, "the killed job to end")
    state = torch.load(ckpt, weights_only=True)
    kept = json.loads(json.dumps(state["history"]))
    assert 1 <= len(kept) < overrides["epochs"]
    assert not record_path(victim, results).exists()
    for job in jobs:
        if job is not victim_job:
            job.result()
    assert sweep.status(runs, **where).state.tolist() == ["done", "failed"]

    again = sweep.submit(runs, "local", gpus=0, max_parallel=2, timeout_min=10,
                         job=TinyCifarJob(), **where)
    assert len(again) == 1
    assert again[0].result() == [sweep.run_label(victim)]
    assert sweep.status(runs, **where).state.tolist() == ["done", "done"]
    for run in runs:
        record = json.loads(record_path(run, results).read_text())
        assert record["complete"] and len(record["epochs"]) == overrides["epochs"]
    resumed = json.loads(record_path(victim, results).read_text())["epochs"]
    # The epochs made before the kill come from the checkpoint, timings and all.
    assert resumed[: len(kept)] == kept


def sampled_paper_runs() -> list[dict]:
    """Each configuration of the paper profile once, the six stride rows spread over the
    configurations trained at every row, the data sets in turn (they differ only in the
    classifier's width), plus the first commit's recipe on both data sets."""
    settings = PROFILES["paper"]
    picked = []
    for i, config in enumerate(settings["configs"]):
        row = STRIDE_ROWS[i % len(STRIDE_ROWS)] if config in settings["row_configs"] else None
        dataset = settings["datasets"][i % 2]
        (run,) = [r for r in sweep.run_list("paper", None, [dataset], [config], [0])
                  if tuple(r["strides"] or (2, 2, 2)) == (row or (2, 2, 2))]
        picked.append(run)
    for dataset in settings["datasets"]:
        picked += sweep.run_list("paper", "first_commit", [dataset], ["hybrid"], [0], rows=False)
    return picked


@pytest.mark.slow
def test_every_paper_network_takes_two_steps_with_the_paper_recipe(tiny_cifar, tmp_path):
    """Width 64 and the paper's recipe (schedule, mixup, label smoothing), plus the
    complexity term, bf16 autocast and channels_last, on tiny CIFAR-format data: batch 2,
    one epoch of two steps. Every network of the profile is built and run forward; the
    training steps run on a sample (:func:`sampled_paper_runs`): two bf16 steps of all
    44 networks at width 64 take minutes on a CPU without native bf16."""
    # Every network of every run builds and runs forward (the price describes each one).
    assert len(sweep.price(sweep.run_list("paper"), 20e12)) == 264
    runs = sampled_paper_runs()
    assert len(runs) == 16 and {tuple(r["strides"] or (2, 2, 2)) for r in runs} == set(
        STRIDE_ROWS)
    settings = {"batch_size": 2, "train_subset": 4, "test_subset": 2, "epochs": 1,
                "precision": "bf16", "complexity_weight": 1e-3, "device": "cpu",
                "layout": "channels_last"}  # the layout of the GPUs' runs
    for run in runs:
        run = {**run, **settings}
        record = train.fit(run, RunStore(tmp_path / "results", tmp_path / "runs"), progress=False)
        (epoch,) = record["epochs"]
        assert math.isfinite(epoch["train_loss"])
        assert record["train_size"] == 4 and record["settings"]["layout"] == "channels_last"
        assert epoch["lr_last"] == train.learning_rate(1, 2, run)
        for path in (tmp_path / "runs").rglob("*.pt"):
            path.unlink()  # 90 MB each at width 64


# ----------------------------------------------------------------------------- chapter 6
PAPER_MEANS = {  # the DiffStride paper's (2,2,2) row, for plausible synthetic accuracies
    "cifar10": {"strided": 91.4, "spectral": 92.4, "diffstride": 92.5},
    "cifar100": {"strided": 66.8, "spectral": 73.7, "diffstride": 73.4},
}


def synthetic_record(run: dict, index: int) -> dict:
    """A complete, valid paper-profile record with made-up numbers, marked synthetic."""
    base = PAPER_MEANS[run["dataset"]]
    acc = (base.get(run["config"], base["diffstride"]) + 0.1 * (index % 7 - 3)) / 100
    flops = sweep.flops_per_image(run)
    record = valid_record(run, right=round(acc * 10000), test_size=10000,
                          description=run["spec"]["description"], parameters=11_000_000,
                          flops=flops, wall_seconds=90.0, images_per_s=1700.0,
                          train_size=50000)
    for e, epoch in enumerate(record["epochs"], 1):
        epoch.update(flops=flops, train_seconds=30.0, images_per_s=1700.0,
                     train_acc=min(1.0, record["final_test_acc"] * e / 3 + 0.05))
    record["provenance"].update(synthetic=True, device="cuda", device_name="synthetic")
    return record


@pytest.mark.slow
def test_the_results_chapter_builds_from_paper_records(tmp_path):
    """Chapter 6 executed with profile="paper" on synthetic records of every paper run."""
    papermill = pytest.importorskip("papermill")
    from hybridlib.book import pipeline, probes

    results = tmp_path / "results"
    for i, run in enumerate(sweep.run_list("paper")):
        write_json(record_path(run, results), synthetic_record(run, i))
    # The shortcut amplitudes are measured on CIFAR images; their record is synthetic too.
    for dataset in ("cifar10", "cifar100"):
        configs = ["strided", "spectral", "diffstride", "hybrid"]
        settings = probes.amplitude_settings(dataset, configs, 64)
        ratios = {c: {s: 1.0 for s in probes.PROBE_STAGES} for c in configs}
        path = probes.amplitude_path("paper", dataset, results)
        path.write_text(json.dumps({"settings": settings, "ratios": ratios,
                                    "settings_hash": probes._settings_hash(settings)}))
    (chapter,) = pipeline.select(pipeline.discover(), ["06_results"])
    nb = pipeline.read_notebook(chapter.source, setup=False)
    source, out = tmp_path / "06.ipynb", tmp_path / "06.out.ipynb"
    source.write_text(json.dumps(nb))
    papermill.execute_notebook(str(source), str(out), kernel_name=pipeline.KERNEL,
                               parameters={"profile": "paper", "results_dir": str(results)},
                               cwd=str(Path.cwd()), progress_bar=False)
    text = out.read_text()
    assert "DiffStride paper" in text and "CIFAR-100" in text


# ----------------------------------------------------------------------------- hostile input
def test_the_smoke_profile_is_priced_in_a_dry_run(capsys):
    assert sweep.main(["--profile", "smoke", "--dry-run", "--gpu-tflops", "10"]) == 0
    assert "synthetic: 4 runs" in capsys.readouterr().out


@pytest.mark.usefixtures("no_hang")
def test_status_lists_a_bad_record_or_claim_as_bad_and_never_waits_on_a_pipe(tmp_path):
    import os

    runs = sweep.run_list("smoke")
    store = RunStore(tmp_path / "results", tmp_path / "runs")
    paths = [store.record_path(run) for run in runs]
    for path in paths[:2]:
        path.parent.mkdir(parents=True)
    os.mkfifo(paths[0])
    paths[1].write_text('{"complete": true}')
    store.claim_path(runs[2]).mkdir(parents=True)
    store.checkpoint_path(runs[3]).mkdir(parents=True)
    table = sweep.status(runs, store, tmp_path / "jobs")
    assert table.state.tolist() == ["bad", "bad", "bad", "bad"]
    notes = table["last log line"].tolist()
    assert "a named pipe (FIFO), not a regular file" in notes[0]
    assert "field settings: is missing" in notes[1]
    assert "is a folder, not a claim file" in notes[2]
    assert notes[3] == f"{store.checkpoint_path(runs[3])}: a folder stands where a file should be"
    for run in runs:
        write_json(store.record_path(run), valid_record(run))
    assert sweep.status(runs, store, tmp_path / "jobs").state.tolist() == ["done"] * 4


def test_ledger_lines_that_are_no_entries_are_skipped(tmp_path, capsys):
    runs = sweep.run_list("smoke")
    key = str(record_path(runs[0], ""))
    folder = tmp_path / "jobs"
    folder.mkdir()
    lines = [{"run": key, "executor": "local"}, {"run": key, "job_id": 12, "executor": "local"},
             {"run": key, "job_id": "", "executor": "local"}, [1], "text"]
    (folder / sweep.LEDGER).write_text("".join(json.dumps(line) + "\n" for line in lines))
    table = sweep.status(runs, RunStore(tmp_path / "r", tmp_path / "c"), folder)
    assert table.state.tolist() == ["missing"] * len(runs)
    assert "5 lines of" in capsys.readouterr().err


def test_slurm_without_slurm_and_gpus_this_machine_lacks_are_named(tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.setattr(sweep.shutil, "which", lambda name: None)
    argv = ["--profile", "smoke", "--results-dir", str(tmp_path / "r"), "--runs-dir",
            str(tmp_path / "c")]
    assert sweep.main([*argv, "--executor", "slurm"]) == 2
    assert "--executor slurm needs SLURM" in capsys.readouterr().err
    many = str(torch.cuda.device_count() + 1)
    assert sweep.main([*argv, "--gpus", many]) == 2
    assert f"--gpus {many}: this machine has" in capsys.readouterr().err


def test_calibrating_on_a_missing_device_is_one_line(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert sweep.main(["--profile", "smoke", "--dry-run", "--calibrate-on", "cuda"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: device 'cuda' requested but CUDA is not available")


def test_a_file_as_the_results_folder_stops_a_submission(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert sweep.main(["--profile", "smoke", "--gpus", "0", "--results-dir", str(a_file)]) == 1
    assert capsys.readouterr().err.strip() == f"error: --results-dir {a_file}: a file, not a folder"


def test_train_and_sweep_accept_the_same_seeds(capsys):
    from hybridlib import local_sweep

    for seed in (0, local_sweep.SEED_MAX):
        argv = ["--seed", str(seed)]
        assert sweep._parser().parse_args(argv).seed == [seed]
        assert local_sweep._parser().parse_args(argv).seed == [seed]
    for parser in (sweep._parser(), local_sweep._parser()):
        with pytest.raises(SystemExit):
            parser.parse_args(["--seed", str(local_sweep.SEED_MAX + 1)])
