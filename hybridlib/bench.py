"""Benchmarks, reported as ratios measured in one run (the machine is noisy; ratios are not).

Every benchmark times its candidates interleaved, round after round, and reports the
median and the spread (the 25th and 75th percentiles) of each candidate's time, and of
each ratio taken within a round.

``python -m hybridlib.bench layers``: forward+backward of SpectralPool2d and DiffStride2d,
each by its FFT path (the previous implementation, kept in the library behind
``method="fft"``) and its matrix path, against the floor of an FFT crop of the same
shapes, ``rfft2 -> slice -> irfft2``.

``python -m hybridlib.bench crossover``: matrix path against FFT path from 8x8 to
128x128 maps, the measurement behind ``hybridlib.dft.MATRIX_MAX_SIZE``.

``python -m hybridlib.bench network``: images/s of a full training step (forward,
backward, optimiser step) of the cpu profile's networks, the previous implementation
(FFT layers, the shortcut's 1x1 convolution before its pooling) against the current one
in float32 and under bfloat16 autocast; and the share of a width-64 DiffStride step that
its spectral layers take (the same network with a plain resize in their place).

``python -m hybridlib.bench command --against COMMIT``: images/s of one epoch of the
training command, this code against the library of another commit
(:mod:`hybridlib.command_speed`).

Records go to the git-ignored ``results/bench/local/``; ``--record`` writes the committed
``results/bench/`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hybridlib import command_speed, gpucheck, speed
from hybridlib.argtypes import integer
from hybridlib.configs import config_spec, profile_settings
from hybridlib.diffstride import DiffStride2d
from hybridlib.files import UnusableFolder, describe_os_error, probe_folder
from hybridlib.paths import relative, results_root
from hybridlib.resnet import PreActBlock, resnet18
from hybridlib.spectral import SpectralPool2d
from hybridlib.stats import quartiles

__all__ = [
    "bench_crossover",
    "bench_layers",
    "bench_network",
    "bench_spectral_share",
    "main",
    "time_interleaved",
]

NETWORK_CONFIGS = ("strided", "spectral", "diffstride", "hybrid")


def time_interleaved(
    candidates: dict[str, Callable[[], None]], repeats: int = 15, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each candidate in every round, the candidates timed in turn.

    Alternating the candidates exposes them to the same background load, so ratios
    taken within a round hold even when the absolute times drift.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(times: dict[str, list[float]], ratios: dict[str, tuple[str, str]]) -> dict:
    """Median and quartiles of each candidate (ms) and of each ratio ``a / b`` per round."""
    return {
        "ms": {name: quartiles([1e3 * t for t in ts]) for name, ts in times.items()},
        "ratios": {
            label: quartiles([x / y for x, y in zip(times[a], times[b])])
            for label, (a, b) in ratios.items()
        },
    }


def _forward_backward(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """A closure running ``forward`` then backward with a fixed upstream gradient."""
    grad = torch.ones_like(forward(x))

    def step() -> None:
        x.grad = None
        forward(x).backward(grad)

    return step


def _floor(out_h: int, out_w: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The least an FFT crop must do: rfft2, one contiguous slice, irfft2."""
    return lambda x: torch.fft.irfft2(
        torch.fft.rfft2(x)[..., :out_h, : out_w // 2 + 1], s=(out_h, out_w)
    )


def bench_layers(shape: Sequence[int] = (128, 64, 32, 32), repeats: int = 15) -> dict:
    """Both paths of both layers against the FFT floor of their output shapes."""
    x = torch.randn(*shape, requires_grad=True)
    height, width = shape[-2:]
    layers = {"SpectralPool2d": SpectralPool2d, "DiffStride2d": DiffStride2d}
    result = {}
    for name, layer in layers.items():
        out_h, out_w = layer(stride=2).output_size(height, width)
        times = time_interleaved(
            {
                "fft": _forward_backward(layer(stride=2, method="fft"), x),
                "matrix": _forward_backward(layer(stride=2, method="matrix"), x),
                "floor": _forward_backward(_floor(out_h, out_w), x),
            },
            repeats=repeats,
        )
        result[name] = {
            "output_size": [out_h, out_w],
            **summarise(
                times,
                {
                    "matrix / floor": ("matrix", "floor"),
                    "fft / floor": ("fft", "floor"),
                    "matrix / fft": ("matrix", "fft"),
                },
            ),
        }
    return {"input_shape": list(shape), "stride": 2, "layers": result}


def bench_crossover(
    sizes: Sequence[int] = (8, 16, 24, 32, 48, 64, 96, 128),
    elements: int = 1 << 22,
    repeats: int = 7,
) -> dict:
    """Matrix path / FFT path, forward+backward at stride 2, per map size.

    The batch is sized so every size moves about ``elements`` numbers.
    """
    rows = []
    for n in sizes:
        x = torch.randn(max(1, elements // (16 * n * n)), 16, n, n, requires_grad=True)
        row = {"size": n, "batch": x.shape[0]}
        for name, layer in (("SpectralPool2d", SpectralPool2d), ("DiffStride2d", DiffStride2d)):
            if name == "DiffStride2d" and n <= 4:
                continue
            times = time_interleaved(
                {m: _forward_backward(layer(stride=2, method=m), x) for m in ("fft", "matrix")},
                repeats=repeats,
            )
            row[name] = summarise(times, {"matrix / fft": ("matrix", "fft")})["ratios"]
        rows.append(row)
    return {"stride": 2, "channels": 16, "elements": elements, "sizes": rows}


def _previous(model: nn.Module) -> nn.Module:
    """The previous implementation of ``model``: FFT layers, shortcut pooled after its conv."""
    for module in model.modules():
        if isinstance(module, (SpectralPool2d, DiffStride2d)):
            module.method = "fft"
        if isinstance(module, PreActBlock):
            module.pool_first = False
    return model


def bench_network(
    configs: Sequence[str] = NETWORK_CONFIGS,
    width: int | None = None,
    batch_size: int | None = None,
    repeats: int = 7,
    compile_model: bool = False,
) -> dict:
    """Images/s of a training step, previous against current implementation, per config.

    Width and batch default to the cpu profile's; the input is Fashion-MNIST's shape.
    ``compile_model`` adds the current implementation under ``torch.compile``.
    """
    settings = profile_settings("cpu")
    width = width or settings["width"]
    batch_size = batch_size or settings["batch_size"]
    x = torch.randn(batch_size, 1, 32, 32)
    y = torch.randint(0, 10, (batch_size,))
    result = {}
    for config in configs:

        def build(config: str = config) -> nn.Module:
            torch.manual_seed(0)
            return resnet18(config_spec(config), num_classes=10, in_channels=1, width=width)

        candidates = {
            "previous": speed.sgd_step(_previous(build()), x, y, "fp32"),
            "current": speed.sgd_step(build(), x, y, "fp32"),
            "current_bf16": speed.sgd_step(build(), x, y, "bf16"),
        }
        ratios = {
            "current / previous": ("current", "previous"),
            "current_bf16 / previous": ("current_bf16", "previous"),
        }
        if compile_model:
            candidates["current_compiled"] = speed.sgd_step(torch.compile(build()), x, y, "fp32")
            ratios["current_compiled / current"] = ("current_compiled", "current")
        times = time_interleaved(candidates, repeats=repeats, warmup=2)
        summary = summarise(times, ratios)
        summary["images_per_s"] = {
            name: batch_size / (stats["median"] / 1e3) for name, stats in summary["ms"].items()
        }
        result[config] = summary
    return {"width": width, "batch_size": batch_size, "input_size": [1, 32, 32], "configs": result}


class Resize(nn.Module):
    """Bilinear resize to the size a spectral layer would produce (no FFT)."""

    def __init__(self, like: nn.Module) -> None:
        super().__init__()
        self.like = like

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.like.output_size(*x.shape[-2:])
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _replace_spectral(model: nn.Module) -> nn.Module:
    """Swap every spectral layer of ``model`` for a :class:`Resize` to the same size."""
    for name, child in model.named_children():
        if isinstance(child, (DiffStride2d, SpectralPool2d)):
            setattr(model, name, Resize(child))
        else:
            _replace_spectral(child)
    return model


def bench_spectral_share(
    config: str = "diffstride", width: int = 64, batch_size: int = 32, repeats: int = 7
) -> dict:
    """Share of a training step (forward+backward) spent in the spectral layers of ``config``."""
    torch.manual_seed(0)
    spec = config_spec(config)
    spectral = resnet18(spec, num_classes=10, in_channels=1, width=width)
    resized = _replace_spectral(resnet18(spec, num_classes=10, in_channels=1, width=width))
    x = torch.randn(batch_size, 1, 32, 32)
    y = torch.randint(0, 10, (batch_size,))

    def step(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

        return run

    times = time_interleaved({"spectral": step(spectral), "resize": step(resized)}, repeats)
    shares = [1 - r / s for r, s in zip(times["resize"], times["spectral"])]
    return {
        "config": config,
        "width": width,
        "batch_size": batch_size,
        **summarise(times, {"spectral / resize": ("spectral", "resize")}),
        "spectral_share_of_step": quartiles(shares),
    }


def _environment() -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _report(what: str, record: dict) -> None:
    """Print the ratios of a record, one line each."""

    def fmt(stats: dict) -> str:
        return f"{stats['median']:.2f} (IQR {stats['q1']:.2f}-{stats['q3']:.2f})"

    if what == "layers":
        for name, r in record["layers"].items():
            for label, stats in r["ratios"].items():
                print(f"{name:>15} {label:>15}: {fmt(stats)}")
    elif what == "crossover":
        for row in record["sizes"]:
            cells = [f"{k} {fmt(v['matrix / fft'])}" for k, v in row.items() if isinstance(v, dict)]
            print(f"{row['size']:>4}x{row['size']:<4} matrix / fft: " + "; ".join(cells))
    elif what == "grid":
        print(f"{'config':>10} {'width':>5} {'precision':>9} {'layout':>13} {'threads':>7} "
              f"{'procs':>5} {'images/s (IQR)':>22} {'GFLOP/s':>8}")
        for r in record["rows"]:
            print(f"{r['config']:>10} {r['width']:>5} {r['precision']:>9} {r['layout']:>13} "
                  f"{r['threads']:>7} {r['processes']:>5} {r['images_per_s']:>8.0f} "
                  f"({r['images_per_s_q1']:.0f}-{r['images_per_s_q3']:.0f}) "
                  f"{r['gflop_per_s']:>8.1f}")
    elif what == "gpu":
        for r in record["layers"]:
            print(f"{r['layer']:>15} {r['method']:>6} {r['size']:>3}x{r['size']:<3} "
                  + " ".join(f"{k} {r[k]:.1e}" for k in ("output", "input_grad", "stride_grad")
                             if k in r) + ("" if r["ok"] else "  FAILS"))
        for r in record["steps"]:
            print(f"{r['config']:>12} compile={r['compile']!s:<5} {r['images_per_s']:>8.0f} "
                  f"images/s {r['tflop_per_s']:.2f} TFLOP/s")
        p = record["paper_price"]
        print(f"paper profile: {p['gpu_hours']:.0f} GPU-hours at these rates "
              f"({p['assumed_gpu_hours']:.0f} at the assumed throughput)")
    elif what == "command":
        rates = record["images_per_s"]
        print(f"{record['config']} ({record['profile']} profile) images/s: "
              f"{record['against'][:10]} {fmt(rates['against'])}, this {fmt(rates['this'])}; "
              f"this / {record['against'][:10]} {fmt(record['ratio'])}")
    else:
        for config, r in record["configs"].items():
            rates = ", ".join(f"{k} {v:.0f}" for k, v in r["images_per_s"].items())
            ratios = "; ".join(f"{k} {fmt(v)}" for k, v in r["ratios"].items())
            print(f"{config:>12} images/s: {rates}\n{'':>12} step time {ratios}")
        share = record["spectral_share"]
        print(
            f"spectral layers' share of a width-{share['width']} {share['config']} step: "
            f"{fmt(share['spectral_share_of_step'])}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.bench",
        description="Speed of the spectral layers and networks, as ratios measured in one run.",
        epilog="Run on a quiet machine: another process on the same cores skews even ratios.",
    )
    parser.add_argument(
        "what", choices=["layers", "crossover", "network", "grid", "gpu", "command"],
        help="what to benchmark: the layers, the matrix/FFT crossover, the cpu profile's "
        "networks, the grid of widths x precisions x layouts x threads the trainer chooses "
        "its layout from (hybridlib.speed), the check for a lent GPU (hybridlib.gpucheck), "
        "or the training command against another commit's (hybridlib.command_speed)")
    parser.add_argument("--repeats", type=integer(1), default=None, help="timed rounds")
    parser.add_argument(
        "--compile", action="store_true", help="network: also time torch.compile (slow to build)"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the committed record in results/bench/ (default: results/bench/local/)",
    )
    parser.add_argument("--out", help="write the record into this folder instead")
    parser.add_argument("--widths", type=integer(1), nargs="+", default=None,
                        help="grid: the widths (default: 8 16 32 64); gpu: the first one")
    parser.add_argument("--configs", nargs="+", default=None, choices=NETWORK_CONFIGS,
                        help="grid and gpu: the configurations (default: all four); command: "
                        "the one timed (default diffstride)")
    parser.add_argument("--device", default="cuda", help="gpu: the device (cpu to try it)")
    parser.add_argument("--batch-size", type=integer(1), default=128,
                        help="gpu: images per step (default 128)")
    parser.add_argument("--no-compile", action="store_true",
                        help="gpu: skip the torch.compile timings")
    parser.add_argument("--against", metavar="COMMIT",
                        help="command: the commit whose training command this one is timed "
                        "against (required)")
    args = parser.parse_args(argv)
    if args.what == "command" and not args.against:
        parser.error("command needs --against COMMIT")
    if args.what == "command" and len(args.configs or ()) > 1:
        parser.error(f"command times one configuration, got --configs {' '.join(args.configs)}")
    folder = Path(args.out) if args.out else results_root() / "bench"
    out = (folder if args.record or args.out else folder / "local") / f"{args.what}.json"
    try:  # before the benchmark, not after it: a bad folder must not cost its result
        probe_folder(out.parent, "--out" if args.out else "the benchmark folder")
    except UnusableFolder as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    kwargs = {} if args.repeats is None else {"repeats": args.repeats}
    if args.what == "layers":
        record = bench_layers(**kwargs)
    elif args.what == "crossover":
        record = bench_crossover(**kwargs)
    elif args.what == "grid":
        record = speed.bench_grid(args.configs or speed.GRID_CONFIGS,
                                  args.widths or speed.GRID_WIDTHS, **kwargs)
        record["fastest"] = speed.fastest(record)
    elif args.what == "gpu":
        try:
            record = gpucheck.gpu_check(
                args.device, (args.widths or [64])[0], args.batch_size,
                args.configs or gpucheck.STEP_CONFIGS,
                (False,) if args.no_compile else (False, True), **kwargs)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    elif args.what == "command":
        try:
            record = command_speed.bench_command(args.against, (args.configs or ["diffstride"])[0],
                                                 **kwargs)
        except (ValueError, RuntimeError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    else:
        record = bench_network(compile_model=args.compile, **kwargs)
        record["spectral_share"] = bench_spectral_share(**kwargs)
    record["environment"] = {**_environment(), "device": "cpu" if args.what != "gpu"
                             else record["device"]}
    _report(args.what, record)
    return _write_record(out, json.dumps(record, indent=1) + "\n")


def _write_record(out: Path, text: str) -> int:
    """Write a finished benchmark's record to ``out``; if that fails, keep it elsewhere (a
    temporary file, else stdout) and say where: a measurement is never lost to a bad path."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as err:
        kept = Path(tempfile.gettempdir()) / f"hybridlib-bench-{out.stem}-{os.getpid()}.json"
        try:
            kept.write_text(text)
            where = f"kept in {kept}"
        except OSError:
            print(text)
            where = "printed above"
        print(f"error: {describe_os_error(err)}; the benchmark's record is {where}",
              file=sys.stderr)
        return 1
    print(f"wrote {relative(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
