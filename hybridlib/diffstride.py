"""DiffStride (Riad et al., ICLR 2022): spectral pooling with learnable strides.

The layer crops the 2-D spectrum of its input with a soft box whose size follows a
learnable stride ``S = (S_h, S_w)``. Along each axis, a frequency at *position* ``p``
gets the ramp mask of adaptive attention span (Sukhbaatar et al., 2019)::

    m(p) = clip((R + T - p) / R, 0, 1)

with threshold ``T`` derived from the continuous target size ``H / S`` and a fixed
smoothness ``R`` (not learned). Frequencies on the ramp ``T < p < T + R`` carry the
gradient that reaches the stride; those with ``m = 0`` are cropped away before the
inverse transform, so the output is smaller than the input.

Even sizes follow the official TensorFlow implementation exactly:

* height: rows in FFT order have positions ``0, 1, ..., H/2-1, H/2-1, ..., 1, 0`` (the
  negative frequency ``-j`` sits at ``j - 1``), threshold ``T_h = max(H/S_h, 2) / 2``;
* width (the rfft axis): column ``p`` has position ``p``, threshold
  ``T_w = max(W/S_w, 2) / 2 + 1`` (the ``+1`` accounts for the Nyquist column);
* output ``2 * min(ceil(n / (2 S) + R), n / 2)`` per axis, e.g. 32 -> 24 at S=2, R=4.

Odd sizes, which the official code gets wrong (31x31 -> 23x24), follow one rule on both
axes: the frequency ``+-k`` has position ``k`` (so DC is always kept and the kept set is
symmetric), the threshold is ``max(n/S, 2) / 2`` with no Nyquist term, and the output
length is odd, ``2 * #{k <= n//2 : k < T + R} - 1``. An odd square input with equal
strides therefore gives a square output, and transposing the input transposes the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from hybridlib import dft
from hybridlib.spectral import check_input, check_method, is_real, kept_rows, stride_pair

__all__ = ["DiffStride2d", "ramp_mask"]


def ramp_mask(positions: torch.Tensor, threshold: torch.Tensor, smoothness: float) -> torch.Tensor:
    """Soft box ``clip((R + T - p) / R, 0, 1)``; a hard box ``p <= T`` when ``R = 0``."""
    if smoothness == 0:
        return (positions <= threshold).to(threshold.dtype)
    return torch.clamp((smoothness + threshold - positions) / smoothness, 0.0, 1.0)


class _Axis:
    """Positions and kept-frequency counts along one spatial axis of length ``n``.

    ``rfft_axis`` selects the width conventions (columns of a real FFT, the official ``+1``
    in the threshold for even lengths).
    """

    def __init__(self, n: int, rfft_axis: bool) -> None:
        self.n = n
        self.rfft_axis = rfft_axis
        self.even = n % 2 == 0
        # The official "+1" shifts the even width's positions by one relative to the height.
        self.offset = 1.0 if (rfft_axis and self.even) else 0.0

    def threshold(self, target: torch.Tensor) -> torch.Tensor:
        return target / 2 + self.offset

    def kept(self, threshold: torch.Tensor, stride: torch.Tensor, smoothness: float) -> int:
        """Number of non-negative frequencies whose mask is > 0 (DC included).

        The one value read back from the stride: under ``torch.compile`` with
        ``capture_scalar_outputs`` it becomes a symbolic size instead of a graph break.
        A stride that is not finite (an optimiser diverged) raises a ValueError.
        """
        last = self.n // 2 if (self.rfft_axis or not self.even) else self.n // 2 - 1
        # An even width keeps DC and at least one more column: its threshold is >= 2.
        least = 2 if (self.rfft_axis and self.even) else 1
        t = threshold.detach().double()
        count = torch.floor(t) + 1 if smoothness == 0 else torch.ceil(t + smoothness)
        count = torch.where(torch.isfinite(stride.detach()), count.clamp(least, last + 1), 0)
        kept = int(count.to(torch.int64).item())
        torch._check_value(
            kept >= least,
            lambda: "DiffStride2d: the learned stride is not finite (NaN or inf), so the layer "
            "has no output size; the training that updated it diverged (lower the learning "
            "rate or restart from a checkpoint)",
        )
        torch._check(kept <= last + 1)
        return kept

    def layout(self, kept: int) -> tuple[int, int, int]:
        """``(n_pos, n_neg, out)``: rows or columns kept and the output length."""
        if self.rfft_axis:
            return kept, 0, 2 * (kept - 1) if self.even else 2 * kept - 1
        # Height, even: the k-th negative frequency has position k-1, so as many
        # negative rows as positive ones survive; odd: symmetric around DC.
        return (kept, kept, 2 * kept) if self.even else (kept, kept - 1, 2 * kept - 1)

    def positions(self, n_pos: int, n_neg: int, like: torch.Tensor) -> torch.Tensor:
        """Positions of the kept frequencies, in the cropped FFT order, as ``like``'s dtype."""
        # The dtype must be the stride's: a 0-dim float64 threshold would not promote a
        # float32 tensor, and the mask would silently lose precision.
        pos = torch.arange(n_pos, device=like.device, dtype=like.dtype)
        if self.rfft_axis:
            return pos
        neg = torch.arange(n_neg, 0, -1, device=like.device, dtype=like.dtype)
        if self.even:
            neg = neg - 1
        return torch.cat((pos, neg))


class _CropAndMask(torch.autograd.Function):
    """Crop a spectrum to the kept rows and columns and multiply by a real mask.

    Autograd of the composed ops (slice, index_select, real-view product) zero-fills and
    copies the full-size gradient twice; this backward does it once: one zero-fill plus
    one scatter for the spectrum, and one multiply-and-sum for the mask.

    Args (forward):
        spectrum: ``[..., H, K]`` complex, rfft2 layout.
        rows: int64 ``[h]`` kept rows in cropped FFT order, or None to keep all of them.
        cols: number of leading columns kept.
        mask: ``[h, cols]`` real.
    Returns:
        ``[..., h, cols]`` complex.
    """

    @staticmethod
    def forward(ctx, spectrum, rows, cols, mask):
        cropped = spectrum[..., :cols]
        if rows is not None:
            cropped = cropped.index_select(-2, rows)
        elif cols < spectrum.shape[-1]:
            cropped = cropped.contiguous()
        ctx.save_for_backward(cropped, mask, rows)
        ctx.full_shape, ctx.cols = spectrum.shape, cols
        return torch.view_as_complex(torch.view_as_real(cropped) * mask[..., None])

    @staticmethod
    def backward(ctx, grad):
        cropped, mask, rows = ctx.saved_tensors
        grad_real = torch.view_as_real(grad.contiguous())
        grad_spectrum = grad_mask = None
        if ctx.needs_input_grad[0]:
            inner = torch.view_as_complex(grad_real * mask[..., None])
            if inner.shape == ctx.full_shape:  # nothing was cropped
                grad_spectrum = inner
            else:
                grad_spectrum = grad.new_zeros(ctx.full_shape)
                window = grad_spectrum[..., : ctx.cols]
                if rows is None:
                    window.copy_(inner)
                else:
                    window.index_copy_(-2, rows, inner)
        if ctx.needs_input_grad[3]:
            # d(out)/d(mask) is the cropped spectrum: sum Re(grad * conj(cropped)).
            batch_dims = tuple(range(grad_real.dim() - 3))
            grad_mask = (grad_real * torch.view_as_real(cropped)).sum(dim=(*batch_dims, -1))
        return grad_spectrum, None, None, grad_mask


def _crop_fft(
    z: torch.Tensor,
    n_pos: int,
    n_neg: int,
    cols: int,
    out_w: int,
    mask_h: torch.Tensor,
    mask_w: torch.Tensor,
) -> torch.Tensor:
    """The masked crop by FFT: rfft2, keep and mask the window, irfft2.

    Args:
        z: ``[B, C, H, W]`` real.
        n_pos, n_neg: non-negative and negative frequencies kept along the height.
        cols: leading rfft columns kept; ``out_w`` the output width.
        mask_h, mask_w: ``[n_pos + n_neg]`` and ``[cols]`` ramp values.

    Returns:
        ``[B, C, n_pos + n_neg, out_w]``.
    """
    # Crop first, then mask (the mask is zero outside the kept window anyway); the real
    # mask multiplies the real view: half the work of a complex product.
    rows = kept_rows(z.shape[-2], n_pos, n_neg, z.device)
    mask = mask_h[:, None] * mask_w[None, :]
    masked = _CropAndMask.apply(torch.fft.rfft2(z), rows, cols, mask)
    return torch.fft.irfft2(masked, s=(n_pos + n_neg, out_w))


def _float32_stride(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """A stride argument (see ``stride_pair``) that stays finite as a float32 parameter."""
    pair = stride_pair(value, name)
    if not torch.isfinite(torch.tensor(pair, dtype=torch.float32)).all():
        raise ValueError(f"{name} must be finite as a float32 (< 3.4e38), got {value!r}")
    return pair


class DiffStride2d(nn.Module):
    """Learnable-stride spectral downsampling.

    Args:
        stride: initial stride, one number or ``(S_h, S_w)``, each >= 1.
        smoothness: ramp width ``R`` of the mask (>= 0, fixed, default 4 as in the paper).
            Larger values pass more gradient to the stride and keep larger outputs.
        cropping: crop the zeroed frequencies (output smaller than the input); with
            ``False`` only the mask is applied and the output keeps ``H x W``.
        shared_stride: learn one stride for both axes (parameter shape ``(1,)``).
        lower_limit: optional lower bound(s) on the stride, clipped like the automatic one.
        upper_limit: optional upper bound(s) on the stride.
        rescale: multiply the output by ``h w / (H W)``, so that a crop keeps the input's
            amplitude (its mean, the DC coefficient) as ``SpectralPool2d(rescale=True)``
            does; off by default, as in the official layer, whose inverse FFT at the
            smaller size scales the signal by ``H W / (h w)``. The factor follows the
            integer output size, so no gradient reaches the stride through it.
        method: ``auto``, ``fft`` or ``matrix``: how the masked crop is computed. ``matrix``
            uses products with partial DFT matrices (``hybridlib.dft``), ``auto`` takes it on
            the CPU for maps up to the measured crossover in ``dft.MATRIX_MAX_SIZE``. Values
            and gradients agree to
            float rounding.

    The learnable parameter is :attr:`stride` (float32, shape ``(2,)`` or ``(1,)``). Before
    each use its value is raised in place to ``n / (n - R)`` per axis (and to the user
    limits): at ``S = 1`` every frequency sits on the flat part of the mask and the stride
    would get no gradient. The clamp edits the value only, so the gradient is never cut.

    Shape:
        input ``[B, C, H, W]`` -> output ``[B, C, h, w]`` with ``(h, w)`` from
        :meth:`output_size`; ``H`` and ``W`` must exceed ``R``.
    """

    def __init__(
        self,
        stride: float | Sequence[float] = 2.0,
        smoothness: float = 4.0,
        cropping: bool = True,
        shared_stride: bool = False,
        lower_limit: float | Sequence[float] | None = None,
        upper_limit: float | Sequence[float] | None = None,
        method: str = "auto",
        rescale: bool = False,
    ) -> None:
        super().__init__()
        self.method = check_method(method)
        s_h, s_w = _float32_stride(stride, "stride")
        if not is_real(smoothness) or not (math.isfinite(smoothness) and smoothness >= 0):
            raise ValueError(f"smoothness must be a finite number >= 0, got {smoothness!r}")
        for name, flag in (
            ("cropping", cropping), ("shared_stride", shared_stride), ("rescale", rescale)
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if shared_stride and s_h != s_w:
            raise ValueError(f"shared_stride=True needs equal strides, got {stride!r}")
        self.smoothness = float(smoothness)
        self.cropping = cropping
        self.rescale = rescale
        self.shared_stride = shared_stride
        limit = lambda v, name: None if v is None else _float32_stride(v, name)  # noqa: E731
        self.lower_limit = limit(lower_limit, "lower_limit")
        self.upper_limit = limit(upper_limit, "upper_limit")
        if self.upper_limit and self.lower_limit and any(
            u < lo for u, lo in zip(self.upper_limit, self.lower_limit)
        ):
            raise ValueError(
                f"upper_limit {upper_limit!r} is below lower_limit {lower_limit!r}"
            )
        initial = [s_h] if shared_stride else [s_h, s_w]
        self.stride = nn.Parameter(torch.tensor(initial, dtype=torch.float32))
        # The module's own parameter, to tell it from a stride passed in by
        # torch.func.functional_call, which must not be clamped in place.
        self._own_stride = (self.stride,)

    # ------------------------------------------------------------------ strides
    def _limits(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Lower (and upper) bounds on the stride for an ``height x width`` input.

        Written with tensor operations and ``torch._check_value``: after an earlier
        DiffStride layer, torch.compile knows the sizes only symbolically.
        """
        r = self.smoothness
        for name, n in (("height", height), ("width", width)):
            if torch.compiler.is_compiling():  # n may be symbolic: no message can show it
                torch._check_value((n > r) & (n >= 2), lambda: "DiffStride2d: input too small")
            elif n <= r or n < 2:
                raise ValueError(
                    f"DiffStride2d: input {name} {n} is too small for smoothness {r}: "
                    f"need {name} > smoothness and >= 2"
                )
        like = dict(dtype=self.stride.dtype, device=self.stride.device)
        sizes = torch.stack([torch.scalar_tensor(n, **like) for n in (height, width)])
        lower = sizes / (sizes - r)
        if self.lower_limit is not None:
            lower = torch.maximum(lower, torch.tensor(self.lower_limit, **like))
        upper = None if self.upper_limit is None else torch.tensor(self.upper_limit, **like)
        if self.shared_stride:
            lower = lower.max().reshape(1)
            upper = None if upper is None else upper.min().reshape(1)
        return lower, upper

    def _clamped_stride(self, height: int, width: int) -> torch.Tensor:
        """Clamp the parameter in place, then return a copy to compute with.

        Computing from a copy keeps the autograd graph independent of the parameter's
        version counter, so the in-place clamp of a later call (the projection shortcut
        reuses the same module) never invalidates a graph built earlier. A stride that is
        not the module's own (``functional_call``) is left as the caller gave it: the
        clamped value is used with the gradient passed straight through, as in place.
        """
        with torch.no_grad():
            bounded = self._bounded(self.stride, height, width)
        if self.stride is not self._own_stride[0]:
            return (self.stride + (bounded - self.stride).detach()).expand(2)
        with torch.no_grad():
            self.stride.copy_(bounded)
        return self.stride.clone().expand(2)

    def _bounded(self, stride: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``stride`` raised to the lower limits and capped by the upper ones.

        A non-finite value stays NaN rather than being clamped back into range: a
        diverged stride must raise (see ``_Axis.kept``), not pass for a small one.
        """
        lower, upper = self._limits(height, width)
        bounded = torch.maximum(stride, lower)
        if upper is not None:
            bounded = torch.minimum(bounded, upper)
        return torch.where(torch.isfinite(stride), bounded, math.nan)

    def current_stride(self) -> tuple[float, float]:
        """The stride value the layer uses now, ``(S_h, S_w)``."""
        values = self.stride.detach().expand(2).tolist()
        return float(values[0]), float(values[1])

    def complexity_factor(self) -> torch.Tensor:
        """``1 / (S_h * S_w)``: the factor by which this layer shrinks the feature-map area.

        The complexity term of the DiffStride paper sums, over the downsampling layers,
        the product of these factors up to each layer; the gradient reaches the stride.
        """
        s = self.stride.expand(2)
        return 1.0 / (s[0] * s[1])

    # ------------------------------------------------------------------ sizes
    def _plan(self, height: int, width: int, stride: torch.Tensor):
        """Thresholds and crop layout for the current stride (indices without gradient)."""
        axes = (_Axis(height, rfft_axis=False), _Axis(width, rfft_axis=True))
        plan = []
        for axis, n, s in zip(axes, (height, width), stride.unbind()):
            threshold = axis.threshold(torch.clamp(n / s, min=2.0))
            kept = axis.kept(threshold, s, self.smoothness)
            plan.append((axis, threshold, *axis.layout(kept)))
        return plan

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size ``(h, w)`` the layer produces now for an ``height x width`` input."""
        if not self.cropping:
            return height, width
        stride = self._bounded(self.stride.detach(), height, width)
        plan = self._plan(height, width, stride.expand(2))
        return plan[0][4], plan[1][4]

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = check_input(x, "DiffStride2d")
        height, width = z.shape[-2:]
        stride = self._clamped_stride(height, width)
        (ax_h, t_h, pos_h, neg_h, _), (ax_w, t_w, cols, _, out_w) = self._plan(
            height, width, stride
        )
        if not self.cropping:
            pos_h, neg_h = (height + 1) // 2, height // 2
            cols, out_w = width // 2 + 1, width
        mask_h = ramp_mask(ax_h.positions(pos_h, neg_h, t_h), t_h, self.smoothness).to(z.dtype)
        mask_w = ramp_mask(ax_w.positions(cols, 0, t_w), t_w, self.smoothness).to(z.dtype)
        matrix = dft.use_matrix(
            self.method, height, width, z.device, "DiffStride2d", empty=z.numel() == 0
        )
        # The products stay in z's precision under autocast, like the FFTs.
        with torch.autocast(z.device.type, enabled=False):
            if matrix:
                rows = dft.row_operator(height, pos_h, neg_h, z, mask_h)
                y = dft.apply(z, rows, dft.col_operator(width, cols, out_w, z, mask_w))
            else:
                y = _crop_fft(z, pos_h, neg_h, cols, out_w, mask_h, mask_w)
        if self.rescale:
            y = y * (y.shape[-2] * y.shape[-1] / (height * width))
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        s_h, s_w = self.current_stride()
        shared = ", shared_stride=True" if self.shared_stride else ""
        rescale = ", rescale=True" if self.rescale else ""
        return (
            f"stride=({s_h:.3f}, {s_w:.3f}), smoothness={self.smoothness}, "
            f"cropping={self.cropping}{shared}{rescale}, method={self.method!r}"
        )
