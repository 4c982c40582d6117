"""Self-checks for the exercises of chapters 1 and 2 (spectral pooling, the low-pass question).

Every check takes the student's function, runs it on named cases and compares the
result with a reference:

* :func:`check_spectral_crop`: spectral pooling to an explicit output size, against
  :func:`hybridlib.spectral.spectral_pool2d` (``rescale=False``).
* :func:`check_fourier_resample`: Fourier resampling with the folded / split Nyquist bin,
  against ``scipy.signal.resample`` applied along the height, then the width.
* :func:`check_spectral_activation`: the toy "spectral activation" (standardise, then a
  sigmoid), against a reference written here.
* :func:`check_commuting_input`: an input for which a ReLU and spectral pooling commute.
* :func:`check_equivalent_filter`: the per-signal equivalent filter of the 1-D toy
  pipeline, against a reference written here.

Each takes ``every_case=True`` to run every case and report all failures rather than
stop at the first. :class:`CheckResult` and :func:`run_cases` (from
:mod:`hybridlib.book.selfcheck.core`) are re-exported here for the checks written
before that module existed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hybridlib.book.selfcheck.core import CheckResult, run_cases
from hybridlib.spectral import spectral_pool2d

__all__ = [
    "CheckResult",
    "check_commuting_input",
    "check_equivalent_filter",
    "check_fourier_resample",
    "check_spectral_activation",
    "check_spectral_crop",
    "equivalent_filter_reference",
    "run_cases",
    "spectral_activation_reference",
]


def _as_array(value, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what} should be a tensor or an array, got {type(value).__name__}")
    if np.iscomplexobj(value):
        raise AssertionError(f"{what} should be real, got dtype {value.dtype}")
    return value.astype(np.float64)


def _assert_close(got, want, what: str, atol: float = 1e-8, rtol: float = 1e-6) -> None:
    """Compare shapes, then values; the message names the worst entry."""
    got = _as_array(got, what)
    want = _as_array(want, "the reference")
    if got.shape != want.shape:
        raise AssertionError(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not np.all(np.isfinite(got)):
        raise AssertionError(f"{what} contains NaN or infinite values")
    err = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    if np.any(err > bound):
        idx = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(
            f"{what} differs from the reference: at index {tuple(int(i) for i in idx)} got "
            f"{got[idx]:.6g}, expected {want[idx]:.6g} (max abs error {err.max():.3g})"
        )


def _random(shape, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


# --------------------------------------------------------------------------- chapter 1


def check_spectral_crop(fn: Callable, *, every_case: bool = False) -> CheckResult:
    """Check ``fn(x, output_size) -> y``, spectral pooling to an explicit size.

    ``x`` is a ``[B, C, H, W]`` float64 tensor and ``output_size`` a pair ``(h, w)``; the
    answer must equal ``spectral_pool2d(x, output_size=(h, w), rescale=False)``: odd
    sizes keep the symmetric frequencies ``-(m-1)/2 .. (m-1)/2``, even heights take the
    Nyquist row from the negative side, even widths follow ``rfft2``/``irfft2``.
    """
    specs = [
        ("even 16x16 -> 8x8", (1, 1, 16, 16), (8, 8)),
        ("even 16x16 -> odd 7x7", (1, 1, 16, 16), (7, 7)),
        ("odd 15x15 -> 7x7", (1, 1, 15, 15), (7, 7)),
        ("odd 31x31 -> 15x15 (symmetric, not the official 14x15)", (1, 1, 31, 31), (15, 15)),
        ("non-square 12x20 -> 6x9", (1, 1, 12, 20), (6, 9)),
        ("non-square odd/even 9x16 -> 5x8", (1, 1, 9, 16), (5, 8)),
        ("batched [3, 2, 10, 10] -> 5x5", (3, 2, 10, 10), (5, 5)),
        ("same size 8x8 -> 8x8", (2, 1, 8, 8), (8, 8)),
    ]

    def case(shape, size, seed):
        def thunk():
            x = _random(shape, seed)
            got = fn(x.clone(), size)
            want = spectral_pool2d(x, output_size=size, rescale=False)
            _assert_close(got, want, f"the output for input {tuple(shape)}", atol=1e-9)

        return thunk

    return run_cases(
        "check_spectral_crop",
        [(name, case(shape, size, seed)) for seed, (name, shape, size) in enumerate(specs)],
        every_case,
    )


def _scipy_resample_2d(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from scipy.signal import resample  # SciPy comes with the book extras

    return resample(resample(x, size[0], axis=-2), size[1], axis=-1)


def check_fourier_resample(fn: Callable, *, every_case: bool = False) -> CheckResult:
    """Check ``fn(x, size) -> y``, Fourier resampling of ``[B, C, H, W]`` to ``(h, w)``.

    The reference is ``scipy.signal.resample`` along the height, then along the width:
    keep the frequencies of the smaller grid, fold the two Nyquist bins into one when
    downsampling to an even length, split it in halves when upsampling from one, and
    scale by ``(h * w) / (H * W)``, so that a band-limited input is preserved.
    """
    specs = [
        ("1-D row, down 32 -> 16 (even: Nyquist folded)", (1, 1, 1, 32), (1, 16)),
        ("1-D row, down 32 -> 11 (odd)", (1, 1, 1, 32), (1, 11)),
        ("1-D row, up 16 -> 32 (Nyquist split)", (1, 1, 1, 16), (1, 32)),
        ("2-D down 24x24 -> 12x12", (1, 1, 24, 24), (12, 12)),
        ("2-D down 24x24 -> 9x9", (1, 1, 24, 24), (9, 9)),
        ("2-D odd input 15x15 -> 8x8", (1, 1, 15, 15), (8, 8)),
        ("2-D up and down at once 12x20 -> 18x10", (1, 1, 12, 20), (18, 10)),
        ("batched [2, 3, 16, 16] -> 8x6", (2, 3, 16, 16), (8, 6)),
    ]

    def case(shape, size, seed):
        def thunk():
            x = _random(shape, 100 + seed)
            got = fn(x.clone(), size)
            want = _scipy_resample_2d(x.numpy(), size)
            _assert_close(got, want, f"the output for input {tuple(shape)}", atol=1e-9)

        return thunk

    cases = [(name, case(shape, size, seed)) for seed, (name, shape, size) in enumerate(specs)]

    def band_limited():
        # cos(2 pi * 4 n / 16) sits exactly on the Nyquist frequency of the 8-sample output.
        n = torch.arange(16, dtype=torch.float64)
        row = torch.cos(2 * torch.pi * 4 * n / 16 + 0.3) + 0.5 * torch.sin(2 * torch.pi * n / 16)
        x = (row[:, None] * row[None, :])[None, None]
        _assert_close(fn(x.clone(), (8, 8)), x[..., ::2, ::2], "resampling 16x16 -> 8x8",
                      atol=1e-9)

    cases.append(("band-limited 16x16 with energy at the new Nyquist: equals x[::2, ::2]",
                  band_limited))
    return run_cases("check_fourier_resample", cases, every_case)


# --------------------------------------------------------------------------- chapter 2


def spectral_activation_reference(v: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """The answer to Exercise 2.1: ``sigmoid(slope * standardised v)`` along the last axis."""
    z = (v - v.mean(dim=-1, keepdim=True)) / v.std(dim=-1, keepdim=True)
    return torch.sigmoid(slope * z)


TOY_SIGNALS = (
    (3.0, 1.0, 2.0, 1.0, 4.0, 1.0, 2.0, 1.0, 3.0),
    (1.0, 3.0, 1.0, 2.0, 1.0, 2.0, 1.0, 3.0, 1.0),
)
TOY_FILTERS = (
    (0.0, 0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25, 0.0),
    (1.0, 0.75, 0.5, 0.25, 0.0, 0.25, 0.5, 0.75, 1.0),
)


def check_spectral_activation(fn: Callable, *, every_case: bool = False) -> CheckResult:
    """Check ``fn(v, slope=1.0)``: standardise along the last axis, then a sigmoid.

    ``v`` is a float64 tensor ``[..., N]``; the answer is
    ``sigmoid(slope * (v - mean) / std)`` with the mean and the sample standard deviation
    (divisor ``N - 1``, as MATLAB's ``std``) taken along the last axis, same shape as ``v``.
    """
    specs = [
        ("toy signal #1 [9]", torch.tensor(TOY_SIGNALS[0], dtype=torch.float64), 1.0),
        ("both toy signals as a batch [2, 9]", torch.tensor(TOY_SIGNALS, dtype=torch.float64),
         1.0),
        ("slope 2.5, [3, 4, 7]", _random((3, 4, 7), 7), 2.5),
        ("slope 0.5, offset and scale do not matter [5, 6]", 1e3 + 40 * _random((5, 6), 8), 0.5),
    ]

    def case(v, slope):
        def thunk():
            got = fn(v.clone(), slope) if slope != 1.0 else fn(v.clone())
            _assert_close(got, spectral_activation_reference(v, slope),
                          f"the output for input shape {tuple(v.shape)}", atol=1e-10)

        return thunk

    return run_cases("check_spectral_activation",
                     [(name, case(v, slope)) for name, v, slope in specs], every_case)


def check_commuting_input(fn: Callable, *, every_case: bool = False) -> CheckResult:
    """Check ``fn(n) -> x``: an ``[1, 1, n, n]`` image for which ReLU and pooling commute.

    Requirements for each ``n``: ``x`` is not (nearly) constant, its positive part is
    not negligible, and ``relu(spectral_pool2d(x)) == spectral_pool2d(relu(x))``
    (stride 2) to a relative error of ``1e-9``.
    """

    def case(n):
        def thunk():
            x = fn(n)
            if not isinstance(x, torch.Tensor):
                x = torch.as_tensor(np.asarray(x))
            if tuple(x.shape) != (1, 1, n, n):
                raise AssertionError(f"x has shape {tuple(x.shape)}, expected (1, 1, {n}, {n})")
            x = x.to(torch.float64)
            spread, scale = x.std().item(), x.abs().mean().item()
            if not spread >= 0.05 * scale or scale == 0:
                raise AssertionError(
                    f"x is (nearly) constant: std {spread:.3g} against mean |x| {scale:.3g}; "
                    "a constant commutes trivially, find a non-constant image")
            if torch.relu(x).norm() < 0.1 * x.norm():
                raise AssertionError("relu(x) is (nearly) zero: the ReLU would do nothing")
            a = torch.relu(spectral_pool2d(x, stride=2))
            b = spectral_pool2d(torch.relu(x), stride=2)
            diff = ((a - b).norm() / b.norm()).item()
            if not diff <= 1e-9:
                raise AssertionError(
                    f"relu(pool(x)) and pool(relu(x)) differ by {diff:.3g} (relative); "
                    f"min of pool(x) is {spectral_pool2d(x, stride=2).min().item():.3g}")

        return thunk

    return run_cases("check_commuting_input",
                     [(f"n = {n}", case(n)) for n in (16, 24, 32)], every_case)


def equivalent_filter_reference(spectrum, filters, keeps, activation, order):
    """The answer to Exercise 2.3 (see :func:`check_equivalent_filter` for the arguments)."""
    spectrum = np.asarray(spectrum, dtype=float)
    n = spectrum.shape[-1]
    centre = n // 2
    where = np.arange(n)
    v = spectrum.copy()
    for filt, keep in zip(filters, keeps):
        v = v * np.asarray(filt, dtype=float)[where]
        if order == "act-pool":
            v = activation(v)
        inside = np.abs(where - centre) <= (keep - 1) // 2
        v, where = v[inside], where[inside]
        if order == "pool-act":
            v = activation(v)
    ratio = np.zeros(n)
    ratio[where] = v / spectrum[where]
    return ratio


def _standardise(v):
    return (v - v.mean()) / v.std(ddof=1)


def check_equivalent_filter(fn: Callable, *, every_case: bool = False) -> CheckResult:
    """Check ``fn(spectrum, filters, keeps, activation, order) -> ratio`` for the 1-D toy.

    ``spectrum``: ``[N]`` array (N odd, centred: index ``N//2`` is DC); ``filters``: one
    ``[N]`` array per stage, indexed like ``spectrum``; ``keeps``: the odd window length
    kept by each stage's pooling (centred on ``N//2``; the bins outside are dropped);
    ``activation``: a function of a 1-D array; ``order``: ``"act-pool"`` or ``"pool-act"``.
    Each stage multiplies by its filter, then applies the activation and the pooling in
    the given order. The answer is the ``[N]`` array ``output / spectrum`` on the bins of
    the last window and 0 elsewhere.
    """
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    s1, s2 = (np.array(s) for s in TOY_SIGNALS)
    filters = [np.array(f) for f in TOY_FILTERS]
    rng = np.random.default_rng(3)
    specs = [
        ("toy signal #1, standardise+sigmoid, act-pool", s1, filters, (7, 5),
         lambda v: sigmoid(_standardise(v)), "act-pool"),
        ("toy signal #2, standardise+sigmoid, pool-act", s2, filters, (7, 5),
         lambda v: sigmoid(_standardise(v)), "pool-act"),
        ("identity activation (a linear pipeline)", s1, filters, (7, 5), lambda v: v,
         "pool-act"),
        ("standardise+ReLU, act-pool", s2, filters, (7, 5),
         lambda v: np.maximum(_standardise(v), 0.0), "act-pool"),
        ("three stages, N = 11, keeps (9, 5, 3)", rng.uniform(0.5, 2.0, 11),
         [rng.uniform(0.0, 1.0, 11) for _ in range(3)], (9, 5, 3), np.tanh, "pool-act"),
    ]

    def case(spectrum, filts, keeps, activation, order):
        def thunk():
            got = fn(spectrum.copy(), [f.copy() for f in filts], keeps, activation, order)
            want = equivalent_filter_reference(spectrum, filts, keeps, activation, order)
            _assert_close(got, want, "the ratio", atol=1e-10)

        return thunk

    return run_cases("check_equivalent_filter",
                     [(name, case(*rest)) for name, *rest in specs], every_case)
