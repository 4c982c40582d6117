"""Benchmarks, reported as ratios measured in one run (the machine is noisy; ratios are not).

``python -m hybridlib.bench layers``: forward+backward of SpectralPool2d and DiffStride2d
against the bare floor, rfft2 -> slice -> irfft2 of the same shapes.

``python -m hybridlib.bench network``: the training step of a DiffStride ResNet-18 against
the same network whose spectral layers are replaced by a plain resize to the same sizes,
i.e. the share of the step time the spectral layers take.

Each writes a JSON record under ``results/bench/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hybridlib.configs import config_spec
from hybridlib.diffstride import DiffStride2d
from hybridlib.resnet import resnet18
from hybridlib.spectral import SpectralPool2d

__all__ = ["bench_layers", "bench_network", "main", "time_interleaved"]


def time_interleaved(
    candidates: dict[str, Callable[[], None]], repeats: int = 15, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each candidate, timed in alternation.

    Alternating the candidates exposes them to the same background load, so their
    ratios hold even when the absolute times drift.
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
    return {name: statistics.median(t) for name, t in times.items()}


def _forward_backward(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
    """A closure running ``forward`` then backward with a fixed upstream gradient."""
    grad = torch.ones_like(forward(x))

    def step() -> None:
        x.grad = None
        forward(x).backward(grad)

    return step


def _floor(out_h: int, out_w: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The least any spectral crop must do: rfft2, one contiguous slice, irfft2."""
    return lambda x: torch.fft.irfft2(
        torch.fft.rfft2(x)[..., :out_h, : out_w // 2 + 1], s=(out_h, out_w)
    )


def bench_layers(shape: Sequence[int] = (128, 64, 32, 32), repeats: int = 15) -> dict:
    """Forward+backward time of each layer as a ratio to the floor of its output shape."""
    x = torch.randn(*shape, requires_grad=True)
    height, width = shape[-2:]
    layers = {"SpectralPool2d": SpectralPool2d(stride=2), "DiffStride2d": DiffStride2d(stride=2)}
    result = {}
    for name, layer in layers.items():
        out_h, out_w = layer.output_size(height, width)
        seconds = time_interleaved(
            {
                "layer": _forward_backward(layer, x),
                "floor": _forward_backward(_floor(out_h, out_w), x),
            },
            repeats=repeats,
        )
        result[name] = {
            "output_size": [out_h, out_w],
            "ratio_to_floor": seconds["layer"] / seconds["floor"],
            "layer_ms": 1e3 * seconds["layer"],
            "floor_ms": 1e3 * seconds["floor"],
        }
    return {"input_shape": list(shape), "layers": result}


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


def bench_network(
    config: str = "diffstride",
    width: int = 8,
    batch_size: int = 128,
    input_size: tuple[int, int, int] = (1, 32, 32),
    repeats: int = 7,
) -> dict:
    """Share of a training step spent in the spectral layers of ``config``'s network."""
    torch.manual_seed(0)
    spec = config_spec(config)
    spectral = resnet18(spec, num_classes=10, in_channels=input_size[0], width=width)
    resized = _replace_spectral(
        resnet18(spec, num_classes=10, in_channels=input_size[0], width=width)
    )
    x = torch.randn(batch_size, *input_size)
    y = torch.randint(0, 10, (batch_size,))

    def step(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

        return run

    seconds = time_interleaved({"spectral": step(spectral), "resize": step(resized)}, repeats)
    share = 1 - seconds["resize"] / seconds["spectral"]
    return {
        "config": config,
        "width": width,
        "batch_size": batch_size,
        "input_size": list(input_size),
        "step_ms": 1e3 * seconds["spectral"],
        "resize_step_ms": 1e3 * seconds["resize"],
        "ratio_to_resize": seconds["spectral"] / seconds["resize"],
        "spectral_share_of_step": share,
    }


def _environment() -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybridlib.bench",
        description="Speed of the spectral layers, as ratios measured in one run.",
    )
    parser.add_argument("what", choices=["layers", "network"], help="what to benchmark")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per candidate")
    parser.add_argument(
        "--width", type=int, nargs="+", default=[8, 64], help="network widths (network only)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (network only)")
    parser.add_argument("--out", default="results/bench", help="folder for the JSON record")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    kwargs = {} if args.repeats is None else {"repeats": args.repeats}
    if args.what == "layers":
        record = bench_layers(**kwargs)
        for name, r in record["layers"].items():
            print(
                f"{name:>15}: {r['ratio_to_floor']:.2f}x the rfft2-slice-irfft2 floor "
                f"({r['layer_ms']:.1f} ms vs {r['floor_ms']:.1f} ms, output {r['output_size']})"
            )
    else:
        record = {
            "networks": [
                bench_network(config, width=width, batch_size=args.batch_size, **kwargs)
                for width in args.width
                for config in ("diffstride", "hybrid")
            ]
        }
        for r in record["networks"]:
            print(
                f"{r['config']:>12}, width {r['width']:>2}: spectral layers take "
                f"{100 * r['spectral_share_of_step']:.1f} % of a training step "
                f"({r['ratio_to_resize']:.2f}x the resize network)"
            )
    record["environment"] = _environment()
    out = Path(args.out) / f"{args.what}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
