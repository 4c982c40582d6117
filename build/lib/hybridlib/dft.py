"""Partial DFTs: a spectral crop computed as two small real matrix products.

Both spectral layers keep a low-frequency window of ``rfft2(x)``, optionally scale it by a
separable real mask ``m_h[:, None] * m_w[None, :]`` (DiffStride), and transform back onto a
smaller grid. Every step is linear and acts on one axis at a time, so the whole layer is

    y = Re(P x E),    P = G diag(m_h) F  (complex, [h, H]),  E = A diag(m_w) B  (complex, [W, w])

where ``F`` holds the rows of the height DFT for the kept frequencies, ``G`` the inverse DFT
onto the ``h`` output rows, ``A`` the columns of the width rfft for the kept columns and ``B``
the inverse real FFT onto the ``w`` output columns (its Hermitian weights folded in). For a
real ``x`` that is ``y = P_re x E_re - P_im x E_im``: two real matrix products, with the
real and imaginary halves interleaved so that no copy is needed between them
(:func:`apply`). On small maps these products on the kept frequencies cost less than a
full FFT followed by a crop; :data:`MATRIX_MAX_SIZE` holds the measured crossovers.

The constant factors depend only on the sizes, the kept frequencies, the dtype and the
device, and are cached (:func:`row_factors`, :func:`col_factors`); the masks enter as
diagonal scalings between them, so the gradient with respect to a mask (and to the
DiffStride stride behind it) flows through two small products.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = [
    "MATRIX_MAX_SIZE",
    "apply",
    "col_factors",
    "col_operator",
    "row_factors",
    "row_operator",
    "use_matrix",
]

# Largest input side for which each layer takes the matrix path by default on the CPU.
# Measured with `python -m hybridlib.bench crossover` (forward+backward at stride 2, 16
# channels, results/bench/crossover.json): spectral pooling's products beat the FFT up to
# 96x96 and lose at 128x128; DiffStride's, which keep more frequencies and pass a gradient
# to the mask, win up to 48x48 and lose from 64x64 on.
MATRIX_MAX_SIZE = {"SpectralPool2d": 96, "DiffStride2d": 48}


def use_matrix(
    method: str,
    height: int,
    width: int,
    device: torch.device,
    layer: str,
    empty: bool = False,
) -> bool:
    """Whether ``layer`` with ``method`` (``auto``, ``fft`` or ``matrix``) takes the matrix path.

    ``auto`` takes it on the CPU for maps up to ``MATRIX_MAX_SIZE[layer]``; on other devices
    the FFT path stays the default, its speed there not having been measured. An ``empty``
    batch always takes it (the FFT libraries reject zero-sized transforms), and so does
    code traced by torch.compile, whose code generator has no complex numbers.
    """
    if empty or torch.compiler.is_compiling():
        return True
    if method == "auto":
        return device.type == "cpu" and max(height, width) <= MATRIX_MAX_SIZE[layer]
    return method == "matrix"


def _signed_frequencies(n_pos: int, n_neg: int) -> torch.Tensor:
    """``0 .. n_pos-1`` then ``-n_neg .. -1`` (FFT order of the kept rows), float64."""
    return torch.cat(
        (torch.arange(n_pos, dtype=torch.float64), -torch.arange(n_neg, 0, -1, dtype=torch.float64))
    )


@functools.lru_cache(maxsize=128)
def row_factors(
    n: int, n_pos: int, n_neg: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real factors of the height operator ``P = G diag(m) F`` for ``K = n_pos + n_neg`` rows.

    The output has ``K`` rows (the kept frequencies are those of the smaller grid).

    Returns:
        ``left`` ``[K, 2K]`` = ``[G_re | G_im]`` and ``right`` ``[2K, 2n]`` such that
        ``(left * [m, m]) @ right`` is ``P`` with its real and negated imaginary parts
        interleaved column by column: ``[..., 2j] = P_re[:, j]``, ``[..., 2j+1] = -P_im[:, j]``.
    """
    freqs = _signed_frequencies(n_pos, n_neg)
    out = len(freqs)
    rows = torch.arange(out, dtype=torch.float64)
    inverse = torch.outer(rows, freqs) * (2 * math.pi / out)  # G = exp(+i .) / out
    left = torch.cat((torch.cos(inverse), torch.sin(inverse)), dim=1) / out
    forward = torch.outer(freqs, torch.arange(n, dtype=torch.float64)) * (2 * math.pi / n)
    f_re, f_im = torch.cos(forward), -torch.sin(forward)  # F = exp(-i .)
    # P_re = G_re F_re - G_im F_im and -P_im = -(G_re F_im + G_im F_re), stacked on G's halves.
    re = torch.cat((f_re, -f_im), dim=0)
    neg_im = torch.cat((-f_im, -f_re), dim=0)
    right = torch.stack((re, neg_im), dim=-1).reshape(2 * out, 2 * n)
    return left.to(dtype=dtype, device=device), right.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=128)
def col_factors(
    n: int, cols: int, out: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real factors of the width operator ``E = A diag(m) B`` for the first ``cols`` rfft columns.

    ``B`` is the inverse real FFT of length ``out``: column ``j`` enters with weight
    ``1/out`` for DC and an even length's Nyquist column, ``2/out`` otherwise, and not at
    all beyond ``out // 2`` (as ``irfft`` with ``n=out`` ignores them).

    Returns:
        ``left`` ``[n, 2 cols]`` = ``[A_re | A_im]`` and ``right`` ``[2 cols, 2 out]`` such
        that ``(left * [m, m]) @ right`` is ``[E_re | E_im]``.
    """
    j = torch.arange(cols, dtype=torch.float64)
    # Written without branches on `out`, which torch.compile may only know symbolically.
    weight = torch.where((j == 0) | (2 * j == out), 1.0, 2.0).to(torch.float64) / out
    weight = torch.where(2 * j > out, 0.0, weight)
    forward = torch.outer(torch.arange(n, dtype=torch.float64), j) * (2 * math.pi / n)
    left = torch.cat((torch.cos(forward), -torch.sin(forward)), dim=1)  # A = exp(-i .)
    inverse = torch.outer(j, torch.arange(out, dtype=torch.float64)) * (2 * math.pi / out)
    b_re, b_im = weight[:, None] * torch.cos(inverse), weight[:, None] * torch.sin(inverse)
    # [E_re | E_im] = A_re [B_re | B_im] + A_im [-B_im | B_re]
    right = torch.cat(
        (torch.cat((b_re, b_im), dim=1), torch.cat((-b_im, b_re), dim=1)), dim=0
    )
    return left.to(dtype=dtype, device=device), right.to(dtype=dtype, device=device)


def _scaled(left: torch.Tensor, right: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return left @ right
    return (left * torch.cat((mask, mask))) @ right


def row_operator(
    n: int, n_pos: int, n_neg: int, like: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The interleaved height operator ``[K, 2n]`` (see :func:`row_factors`) in ``like``'s dtype.

    Args:
        mask: ``[K]`` real weights of the kept rows in FFT order, or None for ones.
    """
    build = row_factors.__wrapped__ if torch.compiler.is_compiling() else row_factors
    left, right = build(n, n_pos, n_neg, like.dtype, like.device)
    return _scaled(left, right, mask)


def col_operator(
    n: int, cols: int, out: int, like: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The width operator ``[n, 2 out]`` = ``[E_re | E_im]`` (see :func:`col_factors`).

    Args:
        mask: ``[cols]`` real weights of the kept columns, or None for ones.
    """
    build = col_factors.__wrapped__ if torch.compiler.is_compiling() else col_factors
    left, right = build(n, cols, out, like.dtype, like.device)
    return _scaled(left, right, mask)


_CHUNK = 1 << 20  # elements of b per chunk of a summed product


def _summed_products(grad: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_i grad[i] @ b[i].T``, chunk by chunk so each chunk's products stay in cache."""
    if torch.compiler.is_compiling():  # sizes may be symbolic: one product, one sum
        return torch.bmm(grad, b.mT).sum(0)
    step = max(1, _CHUNK // max(1, b.shape[1] * b.shape[2]))
    total = torch.bmm(grad[:step], b[:step].mT).sum(0)
    for start in range(step, b.shape[0], step):
        total += torch.bmm(grad[start : start + step], b[start : start + step].mT).sum(0)
    return total


class _SharedLeftProduct(torch.autograd.Function):
    """``a @ b[i]`` for every ``i``: one matrix applied to a batch of matrices.

    ``torch.matmul`` with a 2-D left operand folds the batch by transposing the right one,
    a copy of the whole batch each way, and its weight gradient materialises one product
    per map before summing them. Here the forward is one batched product with the matrix
    broadcast, and the weight gradient sums products chunk by chunk, in cache.

    Args (forward):
        a: ``[m, k]``.
        b: ``[N, k, n]``.
    Returns:
        ``[N, m, n]``.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return torch.bmm(a.expand(b.shape[0], -1, -1), b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_b = torch.bmm(a.t().expand(grad.shape[0], -1, -1), grad)
        if ctx.needs_input_grad[0]:
            grad_a = _summed_products(grad, b)
        return grad_a, grad_b


def apply(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``y = P_re x E_re - P_im x E_im`` for a batch of maps.

    Args:
        x: ``[B, C, H, W]`` real.
        rows: ``[h, 2H]`` from :func:`row_operator`.
        cols: ``[W, 2w]`` from :func:`col_operator`.

    Returns:
        ``[B, C, h, w]``.
    """
    batch, channels, height, width = x.shape
    out_h, out_w = rows.shape[0], cols.shape[1] // 2
    # [B*C*H, W] @ [W, 2w]: each input row becomes (row E_re, row E_im) side by side, which
    # read as [2H, w] are the rows of x E_re and x E_im interleaved, matching `rows`.
    halves = (x.reshape(-1, width) @ cols).view(batch * channels, 2 * height, out_w)
    y = _SharedLeftProduct.apply(rows, halves)
    return y.view(batch, channels, out_h, out_w)
