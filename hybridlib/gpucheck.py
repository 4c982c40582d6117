"""The check to run on the first GPU lent: ``python -m hybridlib.bench gpu``.

Three things, in a few minutes of device time:

1. Both layers (``SpectralPool2d``, ``DiffStride2d``), by both computation paths (FFT and
   partial-DFT matrices), on even and odd map sizes, on the device against the CPU:
   outputs, input gradients and the learned stride's gradient within a stated tolerance.
2. A training step of every configuration the paper profile trains, at width 64 on
   CIFAR-shaped batches in bf16 autocast with channels_last, as the trainer runs it on
   CUDA, without and with ``torch.compile``: images/s and the FLOP/s achieved.
3. The paper profile's price recomputed from those measured rates (GPU-hours), in place
   of the estimate at an assumed throughput.

The tests run it on the CPU (``--device cpu``, small sizes), so that it cannot rot.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch

from hybridlib.diffstride import DiffStride2d
from hybridlib.spectral import SpectralPool2d

__all__ = ["TOLERANCE", "check_layers", "gpu_check", "paper_price", "time_steps"]

TOLERANCE = 1e-4  # largest |device - cpu| / (max |cpu| + 1e-12) a layer may show (float32)
STEP_CONFIGS = ("strided", "spectral", "diffstride", "hybrid")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.cpu().double() - b.cpu().double()).abs().max()
                 / (b.double().abs().max() + 1e-12))


def check_layers(device: str, sizes: Sequence[int] = (32, 31), batch: int = 4,
                 channels: int = 8) -> list[dict]:
    """Each layer and path on ``device`` against the CPU: the largest relative difference
    of the output, the input's gradient and (DiffStride) the stride's gradient."""
    rows = []
    for size in sizes:
        torch.manual_seed(size)
        x = torch.randn(batch, channels, size, size)
        upstream = None
        for name, make in (("SpectralPool2d", lambda m: SpectralPool2d(2.0, method=m)),
                           ("DiffStride2d", lambda m: DiffStride2d(2.0, method=m))):
            for method in ("fft", "matrix"):
                results = []
                for where in ("cpu", device):
                    layer = make(method).to(where)
                    xi = x.to(where).requires_grad_()
                    out = layer(xi)
                    if upstream is None or upstream.shape != out.shape:
                        upstream = torch.randn(out.shape)
                    out.backward(upstream.to(where))
                    stride = [p.grad for p in layer.parameters()]
                    results.append((out.detach(), xi.grad, stride))
                (out, gx, gs), (dout, dgx, dgs) = results
                row = {"layer": name, "method": method, "size": size,
                       "output": _relative(dout, out), "input_grad": _relative(dgx, gx)}
                if gs:
                    row["stride_grad"] = max(_relative(d, c) for d, c in zip(dgs, gs))
                row["ok"] = all(v <= TOLERANCE for k, v in row.items()
                                if k in ("output", "input_grad", "stride_grad"))
                rows.append(row)
    return rows


def time_steps(device: str, width: int = 64, batch_size: int = 128,
               configs: Sequence[str] = STEP_CONFIGS, compile_model: Sequence[bool] = (False, True),
               repeats: int = 5) -> list[dict]:
    """Images/s and FLOP/s of a bf16, channels_last training step per configuration, with
    and without ``torch.compile``, on CIFAR-shaped batches (3 x 32 x 32)."""
    from hybridlib.speed import training_step

    rows = []
    for config in configs:
        for compiled in compile_model:
            step, flops = training_step(config, width, "bf16", "channels_last", batch_size,
                                        device, (3, 32, 32), compiled)
            step()  # warm-up: compilation, allocations, kernel selection
            step()
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                step()
                seconds.append(time.perf_counter() - start)
            rate = batch_size / statistics.median(seconds)
            rows.append({"config": config, "compile": compiled, "width": width,
                         "batch_size": batch_size, "images_per_s": rate,
                         "tflop_per_s": 3 * flops * rate / 1e12})
    return rows


def paper_price(rows: Sequence[dict]) -> dict:
    """GPU-hours of the paper profile at the measured rates: each run priced at the best
    FLOP/s its configuration (or, for a configuration not timed, the slowest one timed)
    achieved."""
    from hybridlib.sweep import ASSUMED_GPU, price, run_list

    best = {}
    for r in rows:
        best[r["config"]] = max(best.get(r["config"], 0.0), r["tflop_per_s"])
    runs = run_list("paper")
    slowest = min(best.values())
    # GPU-hours are inversely proportional to the rate: priced once at 1 TFLOP/s.
    at_one = price(runs, 1e12)
    hours = sum(h / best.get(config, slowest)
                for h, config in zip(at_one.gpu_hours, at_one.configuration))
    assumed = at_one.gpu_hours.sum() / ASSUMED_GPU["tflops"]
    return {"runs": len(runs), "gpu_hours": float(hours), "assumed_gpu_hours": float(assumed),
            "tflop_per_s": best}


def gpu_check(device: str = "cuda", width: int = 64, batch_size: int = 128,
              configs: Sequence[str] = STEP_CONFIGS, compile_model: Sequence[bool] = (False, True),
              repeats: int = 5) -> dict:
    """The whole check as a record (see the module's docstring)."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError("the GPU check needs a CUDA device (--device cpu exercises it here)")
    layers = check_layers(device)
    steps = time_steps(device, width, batch_size, configs, compile_model, repeats)
    name = (torch.cuda.get_device_name(device) if torch.device(device).type == "cuda"
            else "cpu")
    return {"device": device, "device_name": name, "tolerance": TOLERANCE, "layers": layers,
            "layers_ok": all(r["ok"] for r in layers), "steps": steps,
            "paper_price": paper_price(steps)}
