"""The benchmarks run and report ratios with their spread (tiny sizes: no timing is asserted)."""

import json

import pytest

from hybridlib import bench, command_speed


def test_time_interleaved_times_every_candidate_every_round():
    calls = []
    times = bench.time_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1
    )
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_summary_reports_medians_quartiles_and_per_round_ratios():
    summary = bench.summarise({"a": [1.0, 2.0, 3.0], "b": [2.0, 2.0, 2.0]}, {"a / b": ("a", "b")})
    assert summary["ms"]["a"]["median"] == 2000.0
    assert summary["ratios"]["a / b"] == {"median": 1.0, "q1": 0.5, "q3": 1.5}


def test_layers_bench_compares_both_paths_with_the_floor():
    record = bench.bench_layers(shape=(2, 2, 16, 16), repeats=2)
    for layer in ("SpectralPool2d", "DiffStride2d"):
        assert set(record["layers"][layer]["ratios"]) == {
            "matrix / floor",
            "fft / floor",
            "matrix / fft",
        }


def test_network_bench_times_previous_and_current_implementations():
    record = bench.bench_network(configs=["diffstride"], width=2, batch_size=4, repeats=1)
    rates = record["configs"]["diffstride"]["images_per_s"]
    assert set(rates) == {"previous", "current", "current_bf16"}
    assert all(v > 0 for v in rates.values())


def test_the_previous_network_is_the_same_function_as_the_current_one():
    import torch

    from hybridlib.configs import config_spec
    from hybridlib.resnet import resnet18

    torch.manual_seed(0)
    current = resnet18(config_spec("hybrid"), num_classes=10, in_channels=1, width=4).double()
    previous = bench._previous(resnet18(config_spec("hybrid"), 10, 1, 4).double())
    previous.load_state_dict(current.state_dict())
    x = torch.randn(3, 1, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(previous(x), current(x))


def test_cli_writes_into_the_folder_it_is_given_and_prints_the_ratios(
    tmp_path, capsys, monkeypatch
):
    tiny = bench.bench_layers
    monkeypatch.setattr(bench, "bench_layers", lambda **kw: tiny((2, 2, 16, 16), **kw))
    assert bench.main(["layers", "--repeats", "1", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "layers.json").read_text())
    assert record["environment"]["threads"] >= 1
    assert "matrix / floor" in capsys.readouterr().out


def test_a_file_given_as_the_output_folder_is_named_before_the_benchmark(tmp_path, capsys,
                                                                         monkeypatch):
    def never(**kwargs):
        raise AssertionError("benchmarked")

    monkeypatch.setattr(bench, "bench_layers", never)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert bench.main(["layers", "--out", str(a_file)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {a_file}: a file, not a folder"


def test_a_finished_benchmark_is_kept_when_its_folder_fails_after_it(tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "out"

    def the_folder_breaks(**kw):
        out.write_text("x")  # a file took the folder's place while the benchmark ran
        return {"layers": {}}

    monkeypatch.setattr(bench, "bench_layers", the_folder_breaks)
    monkeypatch.setattr(bench.tempfile, "gettempdir", lambda: str(tmp_path))
    assert bench.main(["layers", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    kept = next(tmp_path.glob("hybridlib-bench-layers-*.json"))
    assert f"the benchmark's record is kept in {kept}" in err
    assert json.loads(kept.read_text())["layers"] == {}


def test_the_training_command_is_timed_against_another_commit_in_turn(tmp_path, capsys):
    import statistics
    import subprocess

    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    record = command_speed.bench_command("HEAD", "strided", "smoke", train_images=64, repeats=3)
    assert record["against"] == head and len(record["this"]["git_commit"]) == 40
    rounds = record["rounds"]
    assert [list(r)[:2] for r in rounds] == [["against", "this"], ["this", "against"],
                                            ["against", "this"]]  # who goes first alternates
    assert all(r["ratio"] == r["this"] / r["against"] > 0 for r in rounds)
    assert record["ratio"]["median"] == statistics.median(r["ratio"] for r in rounds)
    assert record["overrides"] == {"epochs": 1, "train_subset": 64, "test_subset": 6}


def test_the_command_benchmark_names_a_missing_or_unknown_commit(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["command", "--out", str(tmp_path)])
    assert "command needs --against COMMIT" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["command", "--against", "HEAD", "--configs", "strided", "hybrid"])
    assert "command times one configuration, got --configs strided hybrid" in (
        capsys.readouterr().err)
    assert bench.main(["command", "--against", "no-such-commit", "--out", str(tmp_path)]) == 2
    assert "cannot read commit no-such-commit" in capsys.readouterr().err
    assert not (tmp_path / "command.json").exists()
