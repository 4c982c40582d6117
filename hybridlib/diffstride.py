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

from hybridlib.spectral import _pair, check_input, kept_rows

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

    def kept(self, threshold: float, smoothness: float) -> int:
        """Number of non-negative frequencies whose mask is > 0 (DC included)."""
        last = self.n // 2 if (self.rfft_axis or not self.even) else self.n // 2 - 1
        if smoothness == 0:
            count = math.floor(threshold) + 1
        else:
            count = math.ceil(threshold + smoothness)
        return max(1, min(count, last + 1))

    def layout(self, kept: int) -> tuple[int, int, int]:
        """``(n_pos, n_neg, out)``: rows or columns kept and the output length."""
        if self.rfft_axis:
            out = 2 * (kept - 1) if self.even else 2 * kept - 1
            return kept, 0, max(out, 1)
        # Height, even: the k-th negative frequency has position k-1, so as many
        # negative rows as positive ones survive; odd: symmetric around DC.
        return (kept, kept, 2 * kept) if self.even else (kept, kept - 1, 2 * kept - 1)

    def positions(self, n_pos: int, n_neg: int, like: torch.Tensor) -> torch.Tensor:
        """Positions of the kept frequencies, in the cropped FFT order, as ``like``'s dtype."""
        # The dtype must be the stride's: a 0-dim float64 threshold would not promote a
        # float32 tensor, and the mask would silently lose precision.
        pos = torch.arange(n_pos, device=like.device, dtype=like.dtype)
        if n_neg == 0:
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
    ) -> None:
        super().__init__()
        s_h, s_w = _pair(stride, "stride")
        if not (math.isfinite(s_h) and math.isfinite(s_w)) or min(s_h, s_w) < 1:
            raise ValueError(f"stride must be >= 1, got {stride!r}")
        if not math.isfinite(smoothness) or smoothness < 0:
            raise ValueError(f"smoothness must be >= 0, got {smoothness!r}")
        if shared_stride and s_h != s_w:
            raise ValueError(f"shared_stride=True needs equal strides, got {stride!r}")
        self.smoothness = float(smoothness)
        self.cropping = cropping
        self.shared_stride = shared_stride
        self.lower_limit = None if lower_limit is None else _pair(lower_limit, "lower_limit")
        self.upper_limit = None if upper_limit is None else _pair(upper_limit, "upper_limit")
        if self.lower_limit and min(self.lower_limit) < 1:
            raise ValueError(f"lower_limit must be >= 1, got {lower_limit!r}")
        if self.upper_limit and self.lower_limit and any(
            u < lo for u, lo in zip(self.upper_limit, self.lower_limit)
        ):
            raise ValueError(
                f"upper_limit {upper_limit!r} is below lower_limit {lower_limit!r}"
            )
        initial = [s_h] if shared_stride else [s_h, s_w]
        self.stride = nn.Parameter(torch.tensor(initial, dtype=torch.float32))

    # ------------------------------------------------------------------ strides
    def _limits(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Lower (and upper) bounds on the stride for an ``height x width`` input."""
        r = self.smoothness
        for name, n in (("height", height), ("width", width)):
            if n <= r or n < 2:
                raise ValueError(
                    f"DiffStride2d: input {name} {n} is too small for smoothness {r}: "
                    f"need {name} > smoothness and >= 2"
                )
        lower = [height / (height - r), width / (width - r)]
        if self.lower_limit is not None:
            lower = [max(a, b) for a, b in zip(lower, self.lower_limit)]
        upper = self.upper_limit
        if self.shared_stride:
            lower = [max(lower)]
            upper = None if upper is None else [min(upper)]
        as_tensor = lambda v: torch.tensor(v, dtype=self.stride.dtype, device=self.stride.device)
        return as_tensor(lower), (None if upper is None else as_tensor(upper))

    def _clamped_stride(self, height: int, width: int) -> torch.Tensor:
        """Clamp the parameter in place, then return a copy to compute with.

        Computing from a copy keeps the autograd graph independent of the parameter's
        version counter, so the in-place clamp of a later call (the projection shortcut
        reuses the same module) never invalidates a graph built earlier.
        """
        with torch.no_grad():
            self.stride.copy_(self._bounded(self.stride, height, width))
        return self.stride.clone().expand(2)

    def _bounded(self, stride: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``stride`` raised to the lower limits and capped by the upper ones."""
        lower, upper = self._limits(height, width)
        stride = torch.maximum(stride, lower)
        return stride if upper is None else torch.minimum(stride, upper)

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
            kept = axis.kept(float(threshold.detach()), self.smoothness)
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
        (ax_h, t_h, pos_h, neg_h, out_h), (ax_w, t_w, cols, _, out_w) = self._plan(
            height, width, stride
        )
        if not self.cropping:
            pos_h, neg_h, out_h = (height + 1) // 2, height // 2, height
            cols, out_w = width // 2 + 1, width
        mask_h = ramp_mask(ax_h.positions(pos_h, neg_h, t_h), t_h, self.smoothness)
        mask_w = ramp_mask(ax_w.positions(cols, 0, t_w), t_w, self.smoothness)
        mask = (mask_h[:, None] * mask_w[None, :]).to(z.dtype)
        # Crop first, then mask (the mask is zero outside the kept window anyway); the
        # real mask multiplies the real view: half the work of a complex product.
        rows = kept_rows(height, pos_h, neg_h, z.device)
        masked = _CropAndMask.apply(torch.fft.rfft2(z), rows, cols, mask)
        return torch.fft.irfft2(masked, s=(out_h, out_w)).to(x.dtype)

    def extra_repr(self) -> str:
        s_h, s_w = self.current_stride()
        shared = ", shared_stride=True" if self.shared_stride else ""
        return (
            f"stride=({s_h:.3f}, {s_w:.3f}), smoothness={self.smoothness}, "
            f"cropping={self.cropping}{shared}"
        )
