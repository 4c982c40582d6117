"""Spectral pooling (Rippel et al., 2015) and the frequency helpers it shares with DiffStride.

Spectral pooling downsamples a feature map by keeping a low-frequency window of its
discrete Fourier transform and transforming back at the smaller size. This module
follows the official DiffStride repository's ``FixedSpectralPooling`` (the spectral
baseline of the DiffStride and Hybrid papers) exactly for even input sizes, and fixes its
lopsided rule for odd sizes.

Output-size rule, per axis of input length ``n`` and stride ``s`` (``s`` may be
fractional):

* even ``n``, height axis: ``floor(n / s)`` rounded down to an even number, at least 2;
* even ``n``, width axis: ``floor(n / s)``, at least 2 (the official code does not force
  the width even);
* odd ``n``, either axis: the largest odd number <= ``floor(n / s)``, at least 1. An odd
  input has no Nyquist bin, and an odd output keeps the symmetric set of frequencies
  ``-(m-1)/2 .. (m-1)/2``, so both axes are treated alike: a 31x31 input with stride 2
  gives 15x15 (the official rule gives 14x15).

Kept frequencies for an output length ``m``: ``0 .. ceil(m/2)-1`` and ``-floor(m/2) .. -1``.
For an even ``m`` the output's Nyquist bin ``-m/2`` is therefore taken from the negative
side only, as the official code does.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from hybridlib import dft

__all__ = [
    "METHODS",
    "SpectralPool2d",
    "check_input",
    "is_real",
    "check_method",
    "crop_spectrum_rows",
    "kept_rows",
    "size_pair",
    "spectral_output_size",
    "spectral_pool2d",
    "stride_pair",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
# How a spectral layer computes its crop: by the maps' size and device (``auto``), by FFT,
# or by products with partial DFT matrices (see ``hybridlib.dft``).
METHODS = ("auto", "fft", "matrix")


def check_method(method: str) -> str:
    """Validate a layer's ``method`` argument."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def is_real(value) -> bool:
    """Whether ``value`` is a real number (a bool is not, though Python counts it as one)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """Return ``(value, value)`` for a real number and the pair itself for a 2-sequence.

    Raises TypeError naming ``name`` for anything else, a string included: it is a
    sequence of characters, so ``"22"`` would otherwise read as ``(2, 2)``.
    """
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if is_real(value):
        return float(value), float(value)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and len(value) == 2
        and all(is_real(v) for v in value)
    ):
        return float(value[0]), float(value[1])
    raise TypeError(f"{name} must be a number or a pair of numbers, got {value!r}")


def stride_pair(value: float | Sequence[float], name: str = "stride") -> tuple[float, float]:
    """A stride argument as ``(s_h, s_w)``: finite numbers >= 1 (ValueError naming ``name``)."""
    pair = _pair(value, name)
    if not all(math.isfinite(v) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be finite and >= 1, got {value!r}")
    return pair


def size_pair(value: int | Sequence[int], name: str = "output_size") -> tuple[int, int]:
    """A size argument as ``(h, w)``: whole numbers >= 1, never silently truncated."""
    pair = _pair(value, name)
    if not all(math.isfinite(v) and v == int(v) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be whole numbers >= 1, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_input(x: torch.Tensor, layer: str) -> torch.Tensor:
    """Validate a ``[B, C, H, W]`` floating-point input; return it in a dtype the FFT accepts.

    Half and bfloat16 inputs are upcast to float32: cuFFT supports half only for
    power-of-two sizes and its precision is poor. The caller casts the result back.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{layer}: input must have 4 dimensions [B, C, H, W], got {x.dim()} "
            f"(shape {tuple(x.shape)})"
        )
    if not x.is_floating_point():
        raise TypeError(f"{layer}: input dtype must be floating point, got {x.dtype}")
    return x.float() if x.dtype in _LOW_PRECISION else x


def spectral_output_size(
    height: int, width: int, stride: float | Sequence[float] = 2.0
) -> tuple[int, int]:
    """Output size ``(h, w)`` of spectral pooling with ``stride`` (see the module docstring)."""
    s_h, s_w = stride_pair(stride)

    def axis(n: int, s: float, force_even: bool) -> int:
        m = int(math.floor(n / s + 1e-9))
        if n % 2 == 1:
            return max(m - (1 - m % 2), 1)
        if force_even:
            m -= m % 2
        return max(m, 2)

    return axis(height, s_h, force_even=True), axis(width, s_w, force_even=False)


def kept_rows(height: int, n_pos: int, n_neg: int, device=None) -> torch.Tensor | None:
    """Indices of FFT rows ``0 .. n_pos-1`` and ``-n_neg .. -1``; None when all are kept."""
    if n_pos + n_neg >= height:
        return None
    return torch.cat(
        (
            torch.arange(n_pos, device=device),
            torch.arange(height - n_neg, height, device=device),
        )
    )


def crop_spectrum_rows(spectrum: torch.Tensor, n_pos: int, n_neg: int) -> torch.Tensor:
    """Keep FFT rows ``0 .. n_pos-1`` and ``-n_neg .. -1`` of ``spectrum`` (along dim -2).

    Args:
        spectrum: ``[..., H, K]`` complex spectrum in FFT row order.
        n_pos: number of non-negative frequencies to keep (DC included).
        n_neg: number of negative frequencies to keep.

    Returns:
        ``[..., n_pos + n_neg, K]`` in FFT row order for the smaller size.
    """
    rows = kept_rows(spectrum.shape[-2], n_pos, n_neg, spectrum.device)
    # One gather (index_select, whose backward is a single index_add) is cheaper than
    # concatenating two slices, forward and backward.
    return spectrum if rows is None else spectrum.index_select(-2, rows)


def _pool_fft(z: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """rfft2, keep the low-frequency window, irfft2 at ``(out_h, out_w)``."""
    spectrum = torch.fft.rfft2(z)[..., : out_w // 2 + 1]
    spectrum = crop_spectrum_rows(spectrum, (out_h + 1) // 2, out_h // 2)
    return torch.fft.irfft2(spectrum, s=(out_h, out_w))


def _pool_matrix(z: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """The same crop as :func:`_pool_fft`, as two products with partial DFT matrices."""
    height, width = z.shape[-2:]
    rows = dft.row_operator(height, (out_h + 1) // 2, out_h // 2, z)
    cols = dft.col_operator(width, out_w // 2 + 1, out_w, z)
    return dft.apply(z, rows, cols)


def spectral_pool2d(
    x: torch.Tensor,
    stride: float | Sequence[float] | None = None,
    output_size: int | Sequence[int] | None = None,
    rescale: bool = False,
    method: str = "auto",
) -> torch.Tensor:
    """Spectral pooling of a batch of feature maps.

    Args:
        x: ``[B, C, H, W]`` real input (float16/bfloat16 are computed in float32).
        stride: downsampling factor per axis (>= 1, fractional allowed); default 2 when
            ``output_size`` is not given either.
        output_size: explicit ``(h, w)`` (or one int for both) instead of ``stride``;
            each at most the input's size.
        rescale: multiply by ``h * w / (H * W)`` so that the layer is an
            amplitude-preserving resampler: for an input with no energy at or above the
            output's Nyquist frequency and an integer stride ``s`` the result equals
            ``x[..., ::s, ::s]``. The official layer does not rescale.
        method: ``fft``, ``matrix`` (partial DFT products, see ``hybridlib.dft``) or
            ``auto``: the matrix path on the CPU for maps up to the measured crossover in
            ``dft.MATRIX_MAX_SIZE``, the FFT path otherwise. Both give the same result to
            float rounding.

    Returns:
        ``[B, C, h, w]`` real tensor in the input's dtype.
    """
    if stride is not None and output_size is not None:
        raise ValueError("give either stride or output_size, not both")
    z = check_input(x, "spectral_pool2d")
    height, width = z.shape[-2:]
    if output_size is None:
        out_h, out_w = spectral_output_size(height, width, 2.0 if stride is None else stride)
    else:
        out_h, out_w = size_pair(output_size)
        if not (1 <= out_h <= height and 1 <= out_w <= width):
            raise ValueError(
                f"output_size must lie between 1 and the input size {(height, width)}, "
                f"got {output_size!r}"
            )
    matrix = dft.use_matrix(
        check_method(method), height, width, z.device, "SpectralPool2d", empty=z.numel() == 0
    )
    # The products stay in z's precision under autocast, like the FFTs.
    with torch.autocast(z.device.type, enabled=False):
        y = (_pool_matrix if matrix else _pool_fft)(z, out_h, out_w)
    if rescale:
        y = y * (out_h * out_w / (height * width))
    return y.to(x.dtype)


class SpectralPool2d(nn.Module):
    """Spectral pooling layer: keep a centred low-frequency window of the 2-D DFT.

    Args:
        stride: downsampling factor, one number or ``(s_h, s_w)``, each >= 1, fractional
            allowed. Ignored when ``output_size`` is given.
        output_size: fixed output ``(h, w)`` (or one int) instead of a stride.
        rescale: preserve amplitudes (see :func:`spectral_pool2d`); off by default, as in
            the official layer, whose output batch norm absorbs the scale.
        method: ``auto``, ``fft`` or ``matrix``: how the crop is computed (see
            :func:`spectral_pool2d`); the result is the same.

    Shape:
        input ``[B, C, H, W]`` -> output ``[B, C, h, w]`` with ``(h, w)`` from
        :meth:`output_size`.
    """

    def __init__(
        self,
        stride: float | Sequence[float] = 2.0,
        output_size: int | Sequence[int] | None = None,
        rescale: bool = False,
        method: str = "auto",
    ) -> None:
        super().__init__()
        self.method = check_method(method)
        if not isinstance(rescale, bool):
            raise TypeError(f"rescale must be True or False, got {rescale!r}")
        self.stride = stride_pair(stride)
        self.fixed_size = None if output_size is None else size_pair(output_size)
        self.rescale = rescale

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size ``(h, w)`` produced for an ``height x width`` input."""
        if self.fixed_size is not None:
            return self.fixed_size
        return spectral_output_size(height, width, self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_size is not None:
            return spectral_pool2d(
                x, output_size=self.fixed_size, rescale=self.rescale, method=self.method
            )
        return spectral_pool2d(x, stride=self.stride, rescale=self.rescale, method=self.method)

    def extra_repr(self) -> str:
        size = f"output_size={self.fixed_size}" if self.fixed_size else f"stride={self.stride}"
        return f"{size}, rescale={self.rescale}, method={self.method!r}"
