"""hybridlib.speed (the grid benchmark) and hybridlib.gpucheck (the check for a lent GPU),
exercised on the CPU with small sizes: the commands must not rot before a GPU comes."""

from __future__ import annotations

import json

import pytest
import torch

from hybridlib import bench, gpucheck, speed


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_a_grid_step_trains_in_every_combination(precision, layout):
    step, flops = speed.training_step("diffstride", 4, precision, layout, 8)
    step()
    assert flops > 0


def test_the_grid_record_holds_every_combination_and_two_processes():
    record = speed.bench_grid(("strided",), (8,), threads=(1,), repeats=2, warmup=0,
                              progress=lambda _: None)
    rows = record["rows"]
    assert len(rows) == 4 + 1
    assert {(r["precision"], r["layout"]) for r in rows if r["processes"] == 1} == set(
        speed.COMBINATIONS)
    two = rows[-1]
    assert two["processes"] == 2 and two["threads"] == 1
    assert all(r["images_per_s_q1"] <= r["images_per_s"] <= r["images_per_s_q3"] for r in rows)
    assert all(r["gflop_per_s"] > 0 for r in rows)
    best = speed.fastest(record)
    one_thread_bf16 = [b for b in best if b["precision"] == "bf16" and b["processes"] == 1]
    fastest_row = max((r for r in rows if r["precision"] == "bf16" and r["processes"] == 1),
                      key=lambda r: r["images_per_s"])
    assert one_thread_bf16[0]["layout"] == fastest_row["layout"]


def test_the_gpu_check_runs_on_the_cpu_and_prices_the_paper_profile():
    record = gpucheck.gpu_check("cpu", width=4, batch_size=4, configs=("strided", "hybrid"),
                                compile_model=(False,), repeats=2)
    assert record["layers_ok"]
    assert {(r["layer"], r["method"], r["size"]) for r in record["layers"]} == {
        (layer, method, size) for layer in ("SpectralPool2d", "DiffStride2d")
        for method in ("fft", "matrix") for size in (32, 31)}
    assert all("stride_grad" in r for r in record["layers"] if r["layer"] == "DiffStride2d")
    price = record["paper_price"]
    assert price["runs"] == 264 and price["gpu_hours"] > 0
    # At the assumed 20 TFLOP/s for every configuration, the price is the assumed one.
    assumed = gpucheck.paper_price([{"config": "strided", "tflop_per_s": 20.0}])
    assert assumed["gpu_hours"] == pytest.approx(assumed["assumed_gpu_hours"])


def test_a_difference_beyond_the_tolerance_fails_the_check():
    a = torch.ones(3)
    assert gpucheck._relative(a, a) == 0.0
    assert gpucheck._relative(a + 1e-3, a) > gpucheck.TOLERANCE


def test_the_gpu_command_without_cuda_says_so(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert bench.main(["gpu", "--out", str(tmp_path)]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_the_gpu_command_writes_its_record(tmp_path, capsys):
    assert bench.main(["gpu", "--device", "cpu", "--widths", "4", "--batch-size", "2",
                       "--configs", "strided", "--no-compile", "--repeats", "1",
                       "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "gpu.json").read_text())
    assert record["layers_ok"] and record["environment"]["device"] == "cpu"
    assert "GPU-hours at these rates" in capsys.readouterr().out
