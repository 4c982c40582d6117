"""How fast a training step runs, over the grid the trainer chooses its layout from.

``python -m hybridlib.bench grid`` times one training step (forward, loss, backward, SGD
step) of strided, spectral, DiffStride and the hybrid at widths 8, 16, 32 and 64, in every
combination of precision (float32, bfloat16 autocast), memory layout (contiguous,
channels_last) and thread count (1, 2), the four combinations of one configuration,
width and thread count interleaved round after round; then two processes of one thread
each, side by side, in the fastest one-thread combination (their images/s added). Each
row gives the median images/s with its quartiles, and the GFLOP/s it achieves (three
times the forward FLOPs ``hybridlib.resnet.describe`` counts, per image).

``hybridlib.layout`` reads the record to choose each width's layout; ``hybridlib.price``
reads it to price a profile on this machine before it runs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from hybridlib.configs import config_spec
from hybridlib.resnet import describe, resnet18
from hybridlib.stats import quartiles

__all__ = ["GRID_CONFIGS", "GRID_WIDTHS", "bench_grid", "fastest", "sgd_step", "training_step"]

GRID_CONFIGS = ("strided", "spectral", "diffstride", "hybrid")
GRID_WIDTHS = (8, 16, 32, 64)
COMBINATIONS = tuple((p, lay) for p in ("fp32", "bf16") for lay in ("contiguous", "channels_last"))
# Images per step: the cpu profile's 128 where a step takes well under a second, fewer
# for the wide networks, whose steps take seconds (images/s hardly depends on it there).
BATCH = {8: 128, 16: 128, 32: 64, 64: 32}
INPUT = (1, 32, 32)  # Fashion-MNIST, padded to 32x32, as the cpu profiles train it


def training_step(config: str, width: int, precision: str, layout: str, batch_size: int,
                  device: str = "cpu", input_size: Sequence[int] = INPUT,
                  compiled: bool = False) -> tuple[Callable[[], None], float]:
    """A closure running one SGD step of ``config`` at ``width`` on a fixed random batch
    ``[batch_size, *input_size]``, and the network's forward FLOPs per image.

    ``compiled`` runs the forward pass through ``torch.compile`` (compiled at the first call).
    """
    torch.manual_seed(0)
    model = resnet18(config_spec(config), num_classes=10, in_channels=input_size[0],
                     width=width)
    flops = describe(model, tuple(input_size))["flops"]
    model = model.to(device)
    x = torch.randn(batch_size, *input_size, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return sgd_step(torch.compile(model) if compiled else model, x, y, precision), flops


def sgd_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             precision: str) -> Callable[[], None]:
    """A closure running one SGD step of ``model`` on the batch ``x`` ``[B, C, H, W]``,
    labels ``y`` ``[B]``, under bf16 autocast when ``precision`` is ``"bf16"``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    cast = (torch.autocast(x.device.type, dtype=torch.bfloat16)
            if precision == "bf16" else contextlib.nullcontext())

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with cast:
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def _row(config, width, precision, layout, threads, processes, batch, seconds, flops) -> dict:
    """One row of the record from the step times (seconds) of one combination."""
    rates = quartiles([batch / s for s in seconds])
    return {"config": config, "width": width, "precision": precision, "layout": layout,
            "threads": threads, "processes": processes, "batch_size": batch,
            "images_per_s": rates["median"], "images_per_s_q1": rates["q1"],
            "images_per_s_q3": rates["q3"], "gflop_per_s": 3 * flops * rates["median"] / 1e9}


def _interleaved(config: str, width: int, threads: int, repeats: int, warmup: int) -> list:
    """The four precision x layout combinations of one configuration and width, timed in
    turn, round after round, with ``threads`` intra-op threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        batch = BATCH[width]
        steps = {c: training_step(config, width, *c, batch) for c in COMBINATIONS}
        for step, _ in steps.values():
            for _ in range(warmup):
                step()
        times = {c: [] for c in COMBINATIONS}
        for _ in range(repeats):
            for c, (step, _) in steps.items():
                start = time.perf_counter()
                step()
                times[c].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return [_row(config, width, *c, threads, 1, batch, times[c], steps[c][1])
            for c in COMBINATIONS]


def _worker(args, barrier, results) -> None:
    config, width, precision, layout, repeats, warmup = args
    torch.set_num_threads(1)
    step, _ = training_step(config, width, precision, layout, BATCH[width])
    for _ in range(warmup):
        step()
    barrier.wait()  # both processes time the same stretch of the machine's life
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    results.put(times)


def _two_processes(config: str, width: int, precision: str, layout: str, repeats: int,
                   warmup: int) -> dict:
    """Two one-thread processes stepping side by side: their images/s added, per round."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    args = (config, width, precision, layout, repeats, warmup)
    workers = [context.Process(target=_worker, args=(args, barrier, results)) for _ in range(2)]
    for w in workers:
        w.start()
    a, b = results.get(), results.get()
    for w in workers:
        w.join()
    # Per round, two steps finish in the slower process's time.
    _, flops = training_step(config, width, precision, layout, 1)
    return _row(config, width, precision, layout, 1, 2, 2 * BATCH[width],
                [max(x, y) for x, y in zip(a, b)], flops)


def bench_grid(configs: Sequence[str] = GRID_CONFIGS, widths: Sequence[int] = GRID_WIDTHS,
               threads: Sequence[int] = (1, 2), repeats: int = 3, warmup: int = 1,
               progress: Callable[[str], None] = print) -> dict:
    """Images/s of a training step over the grid (see the module's docstring)."""
    rows = []
    for width in widths:
        for config in configs:
            for n in threads:
                rows += _interleaved(config, width, n, repeats, warmup)
            one = [r for r in rows if r["config"] == config and r["width"] == width
                   and r["threads"] == 1 and r["processes"] == 1]
            best = max(one, key=lambda r: r["images_per_s"])
            rows.append(_two_processes(config, width, best["precision"], best["layout"],
                                       repeats, warmup))
            progress(f"width {width} {config}: " + ", ".join(
                f"{r['precision']}/{r['layout']}/{r['threads']}t x{r['processes']} "
                f"{r['images_per_s']:.0f}" for r in rows[-(4 * len(threads) + 1):]))
    return {"input_size": list(INPUT), "batch_sizes": BATCH, "repeats": repeats, "rows": rows}


def fastest(record: dict) -> list[dict]:
    """Per width and precision, the fastest layout and thread split over the configurations
    (geometric mean of images/s), as the trainer and the price read them."""
    import math

    groups = {}
    for r in record["rows"]:
        key = (r["width"], r["precision"], r["layout"], r["threads"], r["processes"])
        groups.setdefault(key, []).append(r["images_per_s"])
    best = {}
    for (width, precision, layout, threads, processes), speeds in groups.items():
        mean = math.exp(sum(map(math.log, speeds)) / len(speeds))
        slot = best.setdefault((width, precision, threads, processes), (layout, mean))
        if mean > slot[1]:
            best[(width, precision, threads, processes)] = (layout, mean)
    return [{"width": w, "precision": p, "threads": t, "processes": n, "layout": lay,
             "images_per_s_geomean": mean}
            for (w, p, t, n), (lay, mean) in sorted(best.items())]
