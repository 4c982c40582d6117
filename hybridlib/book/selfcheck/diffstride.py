"""Self-checks for the exercises of chapter 3 (DiffStride).

Each ``check_*`` function runs a student's function on a list of named cases, compares
it with the library (:mod:`hybridlib.diffstride`, :mod:`hybridlib.spectral`) and either
raises :class:`AssertionError` naming the first failing case (every failing case with
``every_case=True``), with the inputs, the expected and the obtained values, or returns
a :class:`CheckResult` whose text reads ``"<check>: all N cases pass"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from hybridlib.book.selfcheck.core import CheckResult, run_cases
from hybridlib.diffstride import DiffStride2d, ramp_mask
from hybridlib.spectral import spectral_output_size

__all__ = [
    "CheckResult",
    "check_critical_stride",
    "check_output_size",
    "check_ramp_mask",
    "critical_stride_reference",
]


# --------------------------------------------------------------------- ramp mask

# (name, positions, threshold, smoothness); no position sits on a kink (p = T or
# p = T + R) when R > 0, where the one-sided derivatives differ.
_RAMP_CASES: list[tuple[str, torch.Tensor, float, float]] = [
    ("hard box R=0, threshold between positions", torch.arange(10.0), 3.5, 0.0),
    ("hard box R=0, threshold on a position (p <= T is kept)", torch.arange(10.0), 4.0, 0.0),
    ("flat part, every p <= T", torch.arange(6.0), 7.0, 4.0),
    ("ramp middle, p = T + R/2 gives 0.5", torch.tensor([8.0]), 6.0, 4.0),
    ("beyond the ramp, p > T + R gives 0", torch.tensor([10.5, 11.0, 30.0]), 6.0, 4.0),
    ("fractional threshold across the ramp, R=4", torch.arange(16.0), 6.4, 4.0),
    ("smoothness R=1.5", torch.arange(12.0), 3.25, 1.5),
    ("2-D positions keep their shape", torch.arange(12.0).reshape(3, 4), 5.5, 2.0),
    ("official height positions of an 8-row input", torch.tensor([0.0, 1, 2, 3, 3, 2, 1, 0]),
     1.5, 2.0),
]


def check_ramp_mask(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor], *,
                    every_case: bool = False) -> CheckResult:
    """Check ``fn(positions, threshold, smoothness)`` against :func:`ramp_mask`.

    ``fn`` receives ``positions`` (float tensor of any shape), ``threshold`` (0-d float
    tensor that requires grad) and ``smoothness`` (a float ``R >= 0``), and must return
    the mask, a tensor of the shape of ``positions``, differentiable w.r.t. the
    threshold. Besides the values, the gradient w.r.t. the threshold is compared: it is
    ``1/R`` on the ramp ``T < p < T + R`` and 0 elsewhere.
    """
    def case(positions, t, r):
        def thunk():
            threshold = torch.tensor(t, dtype=torch.float64, requires_grad=True)
            expected = ramp_mask(positions.double(), threshold, r)
            got = fn(positions.double(), threshold, r)
            if not isinstance(got, torch.Tensor):
                raise AssertionError(f"expected a torch.Tensor, got {type(got).__name__}")
            if got.shape != expected.shape:
                raise AssertionError(
                    f"positions of shape {tuple(positions.shape)} gave a mask of shape "
                    f"{tuple(got.shape)}, expected {tuple(expected.shape)}")
            want_v, have_v = expected.detach().flatten(), got.detach().double().flatten()
            if not torch.allclose(have_v, want_v, atol=1e-6):
                bad = int((have_v - want_v).abs().argmax())
                raise AssertionError(
                    f"T={t}, R={r}: at position {positions.flatten()[bad].item():g} expected "
                    f"{want_v[bad].item():.6g}, got {have_v[bad].item():.6g}"
                    f"\n  positions {positions.flatten().tolist()}"
                    f"\n  expected  {want_v.tolist()}\n  got       {have_v.tolist()}")
            if r > 0:
                (want,) = torch.autograd.grad(expected.sum(), threshold)
                if not got.requires_grad:
                    raise AssertionError("the mask does not depend differentiably on the "
                                         "threshold (no gradient would reach the stride)")
                (have,) = torch.autograd.grad(got.sum(), threshold, allow_unused=True)
                have = torch.zeros(()) if have is None else have
                if not math.isclose(float(have), float(want), abs_tol=1e-6):
                    raise AssertionError(
                        f"d(sum of mask)/dT expected {float(want):.6g} (1/R per position on "
                        f"the ramp), got {float(have):.6g}")

        return thunk

    return run_cases("check_ramp_mask",
                     [(name, case(p, t, r)) for name, p, t, r in _RAMP_CASES], every_case)


# ------------------------------------------------------------------- output size

# (name, n, stride, smoothness)
_SIZE_CASES: list[tuple[str, int, float, float]] = [
    ("even n=32, S=2 (32 -> 24)", 32, 2.0, 4.0),
    ("even n=16, S=2 (no reduction)", 16, 2.0, 4.0),
    ("even n=64, S=4", 64, 4.0, 4.0),
    ("even n=32, S=3 (fractional n/2S)", 32, 3.0, 4.0),
    ("even n=48, S=1.5", 48, 1.5, 4.0),
    ("even n=32, S=1 (the lower clamp keeps full size)", 32, 1.0, 4.0),
    ("even n=24, S=2.5, R=2.5", 24, 2.5, 2.5),
    ("even n=32, S=32, R=2.5 (target size floored at 2)", 32, 32.0, 2.5),
    ("even n=32, S=2, hard box R=0 (p <= T kept)", 32, 2.0, 0.0),
    ("odd n=31, S=2 (square output)", 31, 2.0, 4.0),
    ("odd n=7, S=2", 7, 2.0, 4.0),
    ("odd n=33, S=3", 33, 3.0, 4.0),
    ("odd n=45, S=4, R=2", 45, 4.0, 2.0),
    ("odd n=31, S=2, hard box R=0", 31, 2.0, 0.0),
]


def check_output_size(fn: Callable[[int, float, float], int], *,
                      every_case: bool = False) -> CheckResult:
    """Check ``fn(n, stride, smoothness) -> int``, DiffStride's output length along an axis.

    The reference is :meth:`DiffStride2d.output_size` for an ``n x n`` input (both axes
    give the same length), for even and odd ``n``, several strides and smoothness values.
    """
    def case(n, s, r):
        def thunk():
            expected_h, expected_w = DiffStride2d(s, smoothness=r).output_size(n, n)
            assert expected_h == expected_w, "library invariant: equal lengths on both axes"
            got = fn(n, s, r)
            if isinstance(got, torch.Tensor):
                got = got.item()
            if isinstance(got, bool) or not isinstance(got, (int, float)) or got != int(got):
                raise AssertionError(f"expected an integer length, got {got!r}")
            if int(got) != expected_h:
                raise AssertionError(f"n={n}, S={s}, R={r}: expected {expected_h}, got {got}")

        return thunk

    return run_cases("check_output_size",
                     [(name, case(n, s, r)) for name, n, s, r in _SIZE_CASES], every_case)


# --------------------------------------------------------------- critical stride


def critical_stride_reference(n: int, factor: float) -> float:
    """Largest DiffStride stride whose mask is 1 on all that spectral pooling by ``factor`` keeps.

    For an even ``n x n`` input, spectral pooling to ``h x w`` keeps rows
    ``-h/2 .. h/2-1`` (positions up to ``h/2 - 1`` on DiffStride's height axis) and
    columns ``0 .. w//2`` (position ``w//2`` with threshold ``n/(2S) + 1`` on the width
    axis). The mask is 1 up to its threshold, so both axes give ``S <= n / (h - 2)``.
    """
    if n % 2:
        raise ValueError(f"critical stride is defined here for even n, got {n}")
    h, w = spectral_output_size(n, n, factor)
    limit_h = n / (2 * (h // 2 - 1))
    limit_w = n / (2 * (w // 2 - 1))
    return min(limit_h, limit_w)


# (name, n, factor); every case keeps at least 4 rows so the stride is finite.
_CRITICAL_CASES: list[tuple[str, int, float]] = [
    ("n=96, factor 3 (the chapter's experiment)", 96, 3.0),
    ("n=96, factor 4", 96, 4.0),
    ("n=64, factor 2", 64, 2.0),
    ("n=64, factor 3 (spectral height 21 -> 20, width 21)", 64, 3.0),
    ("n=96, factor 5 (height 19 -> 18, width 19)", 96, 5.0),
    ("n=32, factor 2.5 (fractional factor)", 32, 2.5),
    ("n=128, factor 8", 128, 8.0),
]


def check_critical_stride(fn: Callable[[int, float], float], *,
                          every_case: bool = False) -> CheckResult:
    """Check ``fn(n, factor) -> float``: the stride the toy experiment learns as lambda -> 0.

    For an even ``n``, it is the largest stride at which DiffStride's mask (either
    axis, the official position rules) equals 1 on every frequency that
    ``spectral_pool2d(x, stride=factor)`` keeps. Compared with a relative tolerance of
    1e-6.
    """
    def case(n, factor):
        def thunk():
            expected = critical_stride_reference(n, factor)
            got = fn(n, factor)
            try:
                value = float(got)
            except (TypeError, ValueError):
                raise AssertionError(f"expected a number, got {got!r}") from None
            if not math.isclose(value, expected, rel_tol=1e-6):
                size = spectral_output_size(n, n, factor)
                raise AssertionError(f"n={n}, factor={factor} (spectral output {size[0]}x"
                                     f"{size[1]}): expected {expected:.6g}, got {value:.6g}")

        return thunk

    return run_cases("check_critical_stride",
                     [(name, case(n, factor)) for name, n, factor in _CRITICAL_CASES],
                     every_case)
