# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # DiffStride, implemented
#
# Spectral pooling ({cite}`rippel2015spectral`, see the
# [spectral pooling chapter](01_spectral_pooling.ipynb)) shrinks a feature map by
# keeping a low-frequency window of its Fourier transform. The size of that window is
# fixed by a stride chosen in advance. DiffStride {cite}`riad2022diffstride` makes the
# window *soft* at its border, so that its size, and hence the stride, receives a
# gradient and can be learned with the rest of the network. The hybrid network of
# {cite}`hybrid2024` uses DiffStride in the residual blocks of a ResNet-18.
#
# This chapter takes the layer apart with `hybridlib.diffstride.DiffStride2d`, and
# transcribes the rules of the official TensorFlow implementation
# {cite}`diffstride2022readme` into a few lines of
# NumPy where they matter, to check the layer against them:
#
# 1. the ramp mask and the *positions* at which each frequency reads it;
# 2. the size of the output, which is much larger than a fixed stride would give;
# 3. the lower clamp on the stride and why the layer cannot start at exactly $S = 1$;
# 4. the gradient that reaches the stride, checked numerically;
# 5. a stride that learns its value in a small experiment;
# 6. DiffStride next to fixed spectral pooling on a photograph, and the amplitude of
#    the output.

# %% [markdown]
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * write DiffStride's ramp mask and say at which position each frequency reads it;
# * compute the output size of a DiffStride layer and compare it with fixed spectral
#   pooling;
# * explain the lower clamp on the stride $S$ and the dead zone it avoids;
# * check the gradient that reaches $S$ and watch a stride learn its value.
#
# **Prerequisites:** the chapter on spectral pooling, and automatic differentiation in
# PyTorch (`backward`, `torch.autograd.gradcheck`).
# ```

# %% tags=["parameters"]
profile = "cpu"  # "smoke": shorter experiments, same cells
seed = 0  # seeds the random inputs of the checks

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from skimage import color, data, transform
from torch.func import functional_call

from hybridlib.book.formatting import md, table
from hybridlib.book.plots import MAX_WIDTH
from hybridlib.book.selfcheck.diffstride import (
    check_critical_stride,
    check_output_size,
    check_ramp_mask,
)
from hybridlib.diffstride import DiffStride2d, ramp_mask
from hybridlib.spectral import SpectralPool2d, spectral_output_size, spectral_pool2d

quick = profile == "smoke"
torch.manual_seed(seed)
R = 4.0  # the default smoothness of the paper and of DiffStride2d

# %% [markdown]
# ## The ramp mask
#
# DiffStride borrows its soft border from the adaptive attention span of
# {cite}`sukhbaatar2019span`. A frequency at *position* $p$ (a non-negative number that
# says how far from DC it lies) is multiplied by
#
# $$
# m(T, R, p) = \operatorname{clip}\!\left(\frac{R + T - p}{R},\, 0,\, 1\right),
# $$ (eq-ramp-mask)
#
# which is 1 up to the threshold $T$, falls linearly to 0 over a ramp of width $R$,
# and is 0 beyond $T + R$. The threshold comes from the stride $S$ of the axis: for an
# axis of length $n$ the layer aims at a continuous output length $n' = \max(n/S, 2)$
# and puts $T$ at half of it. The smoothness $R$ is fixed (4 by default), not learned.
# Frequencies on the ramp, $T < p < T + R$, are the only ones whose mask depends on $S$.
# {numref}`fig-ramp` shows the ramp for several $R$ at the same threshold; $R = 0$ is the hard
# box of spectral pooling and has no ramp at all.

# %% mystnb={"figure": {"caption": "The ramp mask m(T, R, p) at threshold T = 6 for several smoothness values R; the dots are the integer positions at which frequencies read it.", "name": "fig-ramp"}}
T_demo = 6.0
p_fine = torch.linspace(0, 14, 701)
p_int = torch.arange(0, 15.0)
fig, ax = plt.subplots(figsize=(6.4, 3.2), constrained_layout=True)
for r in (0.0, 1.0, 2.0, 4.0, 8.0):
    (line,) = ax.plot(p_fine, ramp_mask(p_fine, torch.tensor(T_demo), r), label=f"R = {r:g}")
    ax.plot(p_int, ramp_mask(p_int, torch.tensor(T_demo), r), "o", ms=3, color=line.get_color())
ax.axvline(T_demo, color="0.5", ls=":", lw=1)
ax.text(T_demo + 0.1, 0.05, "T", color="0.4")
ax.set(xlabel="position p", ylabel="mask m(T, R, p)",
       title=f"Ramp mask at threshold T = {T_demo:g} (dots: integer positions)")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# ### Where each frequency sits
#
# The layer works on `rfft2` of its input: rows hold every frequency of the height axis
# in FFT order $0, 1, \dots, -2, -1$, columns hold the non-negative frequencies
# $0 \dots \lfloor W/2 \rfloor$ of the width axis. Each axis gets its own positions and
# threshold in the official code:
#
# * **width** (the rfft axis): column $k$ sits at position $p = k$, and the threshold
#   is $T_w = n'/2 + 1$;
# * **height**: the code builds $v = 0, \dots, \lceil H/2\rceil - 1$, concatenates its
#   reverse with itself and applies `fftshift`; the threshold is $T_h = n'/2$.
#
# Below is that recipe transcribed into NumPy, then the positions it gives an 8-row input.

# %%
def official_positions_h(n):
    """Official height positions, in FFT row order."""
    v = np.arange(math.ceil(n / 2))
    return np.fft.fftshift(np.concatenate((v[n % 2:][::-1], v)))


def official_masks(height, width, s_h, s_w, r=R):
    """Official (unclamped) height and width masks, as NumPy arrays in rfft2 order."""
    t_h = max(height / s_h, 2) / 2
    t_w = max(width / s_w, 2) / 2 + 1
    m_h = ramp_mask(torch.tensor(official_positions_h(height), dtype=torch.float64),
                    torch.tensor(t_h, dtype=torch.float64), r)
    m_w = ramp_mask(torch.arange(width // 2 + 1, dtype=torch.float64),
                    torch.tensor(t_w, dtype=torch.float64), r)
    return m_h.numpy(), m_w.numpy()


table(pd.DataFrame(
    {"frequency": np.fft.fftfreq(8, 1 / 8).astype(int), "official position": official_positions_h(8)},
    index=pd.Index(range(8), name="FFT row"),
).transpose(), caption="The official recipe's height positions for H = 8: each FFT row's "
    "frequency and the position its mask reads")

# %% [markdown]
# For an even height the positive frequency $k$ sits at position $k$, but the negative
# frequency $-j$ sits at position $j - 1$: $-1$ shares position 0 with DC, and the
# Nyquist row $-H/2$ gets $H/2 - 1$. The mask is therefore not symmetric in the height
# frequency; it is shifted by one row on the negative side. This quirk is what makes
# every even input keep as many negative rows as positive ones, so the output height is
# even. The width axis compensates in a different way, with its threshold one higher.
#
# `DiffStride2d` reproduces these rules. To check it without looking at its internals,
# feed it a unit impulse with `cropping=False` (mask only, no crop): the `rfft2` of its
# output is the mask itself. Row 0 and the interior columns read it without the
# symmetrisation that the inverse real FFT imposes on the first and last columns.

# %%
def applied_masks(layer, n):
    """Height and width masks a DiffStride2d(cropping=False) applies, read off an impulse."""
    impulse = torch.zeros(1, 1, n, n, dtype=torch.float64)
    impulse[..., 0, 0] = 1.0
    with torch.no_grad():
        spectrum = torch.fft.rfft2(layer.double()(impulse))[0, 0].real
    return (spectrum[:, 1] / spectrum[0, 1]).numpy(), spectrum[0, :].numpy()


n_axis, strides_demo = 32, (1.5, 2.0, 3.0, 4.0)
gaps = []
for s in strides_demo:
    measured = applied_masks(DiffStride2d(s, cropping=False), n_axis)
    gaps += [np.abs(a - b).max() for a, b in zip(measured, official_masks(n_axis, n_axis, s, s))]
print(f"largest difference between the layer's masks and the official recipe "
      f"(n = {n_axis}, S in {strides_demo}): {max(gaps):.1e}")

# %% mystnb={"figure": {"caption": "The masks DiffStride applies along the height (left, frequencies centred) and the width (right, the rfft columns) for several strides S.", "name": "fig-masks"}}
freq_h = np.fft.fftshift(np.fft.fftfreq(n_axis, 1 / n_axis))
fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH, 3.0), constrained_layout=True, sharey=True)
for s in strides_demo:
    m_h, m_w = official_masks(n_axis, n_axis, s, s)
    axes[0].plot(freq_h, np.fft.fftshift(m_h), "o-", ms=3, label=f"S = {s:g}")
    axes[1].plot(np.arange(n_axis // 2 + 1), m_w, "o-", ms=3, label=f"S = {s:g}")
axes[0].set(xlabel="row frequency $k_h$", ylabel="mask", title=f"Height axis (H = {n_axis})")
axes[1].set(xlabel="column frequency $k_w$ (rfft columns)", title=f"Width axis (W = {n_axis})")
for ax in axes:
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
axes[1].legend(frameon=False, title=f"R = {R:g}")
plt.show()

# %% [markdown]
# Two things are visible. Along the height, each curve starts to fall one frequency
# earlier on the negative side than on the positive side (the $j - 1$ rule). And the
# masks are generous: at $S = 1.5$ the ramp ends at the edge of the spectrum, so almost
# nothing is removed and the highest frequencies are only attenuated. At $S = 2$ the
# flat part reaches $n/4 = 8$, exactly the band a map of half the size can hold, and
# the ramp then keeps $R = 4$ more frequencies on each side.
#
# ## How big is the output?
#
# The layer crops every row and column whose mask is exactly 0, then applies `irfft2`
# with its default output length. Counting the positions with a non-zero mask gives,
# for an even length $n$ and $n/S \ge 2$ (derivation in Exercise 3.2),
#
# $$
# n_\text{out} = 2 \min\!\left(\left\lceil \frac{n}{2S} + R \right\rceil,\ \frac{n}{2}\right).
# $$ (eq-output-size)
#
# The table checks formula {eq}`eq-output-size` against three other sources over a
# grid of sizes and strides: the official recipe (counting non-zero mask entries in the
# transcription above), `DiffStride2d.output_size`, and the shape of an actual forward
# pass.

# %%
def formula(n, s, r=R):
    return 2 * min(math.ceil(n / (2 * s) + r), n // 2)


def official_size(height, width, s_h, s_w, r=R):
    """Output size of the official layer: kept rows, and 2 * (kept columns - 1)."""
    m_h, m_w = official_masks(height, width, s_h, s_w, r)
    return int((m_h > 0).sum()), 2 * (int((m_w > 0).sum()) - 1)


sizes = (8, 12, 16, 24, 32, 48, 64, 96, 128)
grid_strides = (1.5, 2.0, 3.0, 4.0)
rows = []
for n in sizes:
    for s in grid_strides:
        layer = DiffStride2d(s)
        forward = tuple(layer(torch.zeros(1, 1, n, n)).shape[-2:])
        rows.append({"n": n, "S": s, "formula": formula(n, s), "official": official_size(n, n, s, s),
                     "output_size": layer.output_size(n, n), "forward": forward})
grid = pd.DataFrame(rows)
agree = grid.apply(lambda r: {r.official, r.output_size, r.forward} == {(r.formula, r.formula)}, axis=1)
table(grid.pivot(index="n", columns="S", values="formula").rename(columns=lambda s: f"S = {s:g}"),
      caption=f"Output length of an n-long axis at stride S: the formula, the official recipe, "
      f"output_size() and the forward pass agree in {agree.sum()} of {len(grid)} cases")

# %% tags=["remove-cell"]
assert agree.all(), grid[~agree]

# %%
layer_ut = DiffStride2d((2.0, 4.0))
print("official unit test, 64 x 64 input with S = (2, 4):",
      tuple(layer_ut(torch.zeros(1, 1, 64, 64)).shape[-2:]))

# %% [markdown]
# ### At initialisation the maps barely shrink
#
# By {eq}`eq-output-size`, since $2\lceil n/(2S) + R\rceil \ge n/S + 2R$, the ramp
# makes every output at least $2R$ (8 with the default $R = 4$) longer than $n/S$, until
# the length reaches the input's: small maps hardly shrink at all. {numref}`fig-output-length` sets the
# output length against the stride for a 32-long axis, next to fixed spectral pooling
# (which keeps $\lfloor n/S \rfloor$, made even).

# %% mystnb={"figure": {"caption": "Output length of a 32-long axis against the stride S: DiffStride for three smoothness values R, and fixed spectral pooling.", "name": "fig-output-length"}}
s_fine = np.linspace(1.0, 7.5, 261)
fig, ax = plt.subplots(figsize=(6.4, 3.4), constrained_layout=True)
for r in (0.0, 2.0, 4.0):
    ax.step(s_fine, [DiffStride2d(s, smoothness=r).output_size(32, 32)[0] for s in s_fine],
            where="post", label=f"DiffStride, R = {r:g}")
ax.step(s_fine, [spectral_output_size(32, 32, s)[0] for s in s_fine], where="post",
        color="k", ls="--", label="fixed spectral pooling")
ax.set(xlabel="stride S", ylabel="output length", title="Output length of a 32-long axis", ylim=(0, 33))
ax.legend(frameon=False)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# The official ResNet-18 of the DiffStride repository (see the
# [architectures chapter](04_architectures.ipynb)) puts a pooling layer in the stem,
# initialised at stride 1, and one in the projection block of stages 2, 3 and 4,
# initialised at stride 2 (initial strides $(1, 1, 2, 2, 2)$; stage 1 has no pooling).
# Chaining the layers on a 32×32 input gives the feature-map sizes the network starts
# training with.
# As a rough cost proxy, a 3×3 convolution with $C$ input and $C$ output channels on an
# $h \times w$ map costs $\propto C^2 h w$.

# %%
stages = ["stem", "stage 1", "stage 2", "stage 3", "stage 4"]
channels = [64, 64, 128, 256, 512]
init_strides = [1.0, None, 2.0, 2.0, 2.0]
z_ds, z_sp, rows = torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32), []
for stage, c, s in zip(stages, channels, init_strides):
    if s is not None:
        z_ds, z_sp = DiffStride2d(s)(z_ds), SpectralPool2d(s)(z_sp)
    rows.append({"stage": stage, "channels": c, "DiffStride": z_ds.shape[-1], "spectral": z_sp.shape[-1]})
chain = pd.DataFrame(rows).set_index("stage")
chain["area ratio"] = (chain["DiffStride"] / chain["spectral"]) ** 2
cost = {k: float((chain["channels"] ** 2 * chain[k] ** 2).sum()) for k in ("DiffStride", "spectral")}
table(chain, caption="Map side after each stage of the official ResNet-18 at initialisation, "
      "32×32 input: DiffStride against fixed spectral pooling, and the ratio of the areas")

# %% tags=["remove-input"]
ds_chain = " → ".join(str(v) for v in chain["DiffStride"])
sp_chain = " → ".join(str(v) for v in chain["spectral"])
md(
    f"DiffStride at initialisation: {ds_chain}; fixed spectral pooling: {sp_chain}. "
    f"The last stage works on a map {chain['area ratio'].iloc[-1]:.2f} times as large, "
    f"and summed over the five rows the proxy $\\sum C^2 h w$ is "
    f"{cost['DiffStride'] / cost['spectral']:.2f} times that of the fixed strides. "
    "This is how the method works, not a bug: the network starts with generous maps "
    "and may learn larger strides, and the complexity term of the paper (the second term "
    "of {eq}`eq-stride-loss`, below) is the handle that pushes it to do so."
)

# %% [markdown]
# ### Odd sizes
#
# The official recipe was written for even sizes. For an odd height, `fftshift` is the
# wrong roll: DC lands on position 1 instead of 0. For an odd width, the "+1" of the
# width threshold and the default even length of `irfft2` assume a Nyquist column that
# an odd length does not have. The transcription shows the result: a square odd input
# with equal strides gives a non-square output. `DiffStride2d` uses one symmetric rule
# for odd lengths on both axes (the frequency $\pm k$ at position $k$, threshold $n'/2$,
# odd output length), so it stays square.

# %%
print("official height positions for H = 7:", official_positions_h(7))
rows = []
for h, w in ((31, 31), (33, 33), (15, 15), (31, 32), (32, 32)):
    rows.append({"input": f"{h}×{w}", "official": "×".join(map(str, official_size(h, w, 2, 2))),
                 "hybridlib": "×".join(map(str, DiffStride2d(2.0).output_size(h, w)))})
table(pd.DataFrame(rows).set_index("input"), caption="Output size at stride 2 on odd and "
      "even inputs: the official recipe against DiffStride2d")

# %% [markdown]
# A consequence of using one rule on both axes: for odd sizes, transposing the input
# transposes the output. For even sizes the two axes follow different official
# conventions (the $j - 1$ rule on the height, the "+1" on the width), so the output
# *sizes* commute with transposition but the values do not.

# %%
x_odd, x_even = torch.randn(2, 3, 31, 31, dtype=torch.float64), torch.randn(2, 3, 32, 32, dtype=torch.float64)
layer2 = DiffStride2d(2.0)
gap_odd = (layer2(x_odd.mT) - layer2(x_odd).mT).abs().max().item()
gap_even = (layer2(x_even.mT) - layer2(x_even).mT).abs().max().item()
print(f"max |f(x^T) - f(x)^T|: 31x31 input {gap_odd:.1e}, 32x32 input {gap_even:.2f} "
      f"(inputs of unit variance)")

# %% [markdown]
# ## The lower clamp
#
# At $S = 1$ the threshold is $T_h = n/2$, above the highest height position $n/2 - 1$,
# and $T_w = n/2 + 1$, above the highest width position $n/2$. Every frequency sits on
# the flat part of the mask, so the output does not depend on $S$ at all and the stride
# receives a zero gradient: a layer initialised at stride 1 would stay there forever.
# The official code therefore raises the stride of an axis of length $n$ to at least
#
# $$
# S_\text{min} = \frac{n}{n - R},
# $$ (eq-stride-clamp)
#
# which puts the threshold $R/2$ below $n/2$. The clamp is applied to the value of the
# parameter (in place, without gradient), not inside the computation, so it does not
# cut the gradient either.
#
# To see the dead zone, the next cell evaluates the masked layer *without* the clamp
# (the official recipe again, with `cropping=False` semantics, which changes nothing
# here since no frequency is cropped for $S$ near 1), and differentiates a fixed random
# linear read-out $L = \langle g, y \rangle$ of its output with respect to one shared
# stride.

# %%
def unclamped(x, s, r=R):
    """Official mask without the lower clamp, one shared stride, output kept at H x W."""
    height, width = x.shape[-2:]
    pos_h = torch.tensor(official_positions_h(height), dtype=x.dtype)
    pos_w = torch.arange(width // 2 + 1, dtype=x.dtype)
    m_h = ramp_mask(pos_h, torch.clamp(height / s, min=2) / 2, r)
    m_w = ramp_mask(pos_w, torch.clamp(width / s, min=2) / 2 + 1, r)
    return torch.fft.irfft2(torch.fft.rfft2(x) * m_h[:, None] * m_w[None, :], s=(height, width))


n_c = 32
x_c, g_c = torch.randn(1, 1, n_c, n_c, dtype=torch.float64), torch.randn(1, 1, n_c, n_c, dtype=torch.float64)
check_gap = max((unclamped(x_c, torch.tensor(s, dtype=torch.float64))
                 - DiffStride2d(s, cropping=False, shared_stride=True).double()(x_c)).abs().max().item()
                for s in (1.5, 2.0, 3.0))
print(f"unclamped recipe vs DiffStride2d(cropping=False) where the clamp is inactive: {check_gap:.1e}")


def grad_unclamped(s):
    s = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad((g_c * unclamped(x_c, s)).sum(), s)
    return grad.item()


s_scan = np.linspace(1.0, 2.0, 51 if quick else 201)
grads = np.array([grad_unclamped(s) for s in s_scan])

# %% mystnb={"figure": {"caption": "The gradient reaching the stride S without the clamp: zero in the dead zone where every mask value is 1, alive beyond it; the clamp n/(n − R) and the gradient DiffStride2d(1.0) receives there.", "name": "fig-dead-zone"}}
s_dead, s_min = n_c / (n_c - 2), n_c / (n_c - R)
layer_at_1 = DiffStride2d(1.0, cropping=False, shared_stride=True).double()
loss_at_1 = (g_c * layer_at_1(x_c)).sum()
loss_at_1.backward()
fig, ax = plt.subplots(figsize=(6.4, 3.4), constrained_layout=True)
ax.plot(s_scan, grads, color="C0", label="dL/dS without the clamp")
ax.axvspan(1.0, s_dead, color="0.85", label="dead zone: every mask value is 1")
ax.axvline(s_min, color="C3", ls="--", label=f"clamp $n/(n-R)$ = {s_min:.3f}")
ax.plot([s_min], [layer_at_1.stride.grad.item()], "o", color="C3", label="DiffStride2d(1.0): clamped")
ax.set(xlabel="stride S (shared by both axes)", ylabel="dL/dS", title=f"Gradient reaching the stride, n = {n_c}")
ax.legend(frameon=False)
plt.show()

# %% tags=["remove-input"]
top_mask = float(official_masks(n_c, n_c, s_min, s_min)[0].min())
md(
    f"Without the clamp the gradient is exactly {np.abs(grads[s_scan <= s_dead - 1e-9]).max():.1f} on "
    f"$1 \\le S \\le n/(n-2) = {s_dead:.4f}$ and comes alive only beyond. A `DiffStride2d` built "
    f"with stride 1 moves its parameter to $n/(n-R) = {layer_at_1.current_stride()[0]:.4f}$ at its "
    f"first call and gets $dL/dS = {layer_at_1.stride.grad.item():.3f}$ there. At the clamp the "
    f"highest frequencies have mask {top_mask:.2f}: on the ramp, so they feel the stride, "
    f"while the output keeps its full size ({DiffStride2d(1.0).output_size(n_c, n_c)[0]}).")

# %% [markdown]
# The jumps in the curve are no noise: each one is a stride at which some frequency
# enters or leaves the ramp, where the mask has a kink and its derivative changes
# abruptly. Between the jumps the gradient varies smoothly with $S$.

# %% [markdown]
# ## The gradient that reaches the stride
#
# The stride influences the output only through the mask values on the ramp. Along the
# height, with $T = n/(2S)$ (as long as $n/S \ge 2$),
#
# $$
# \frac{\partial m}{\partial T} = \frac{1}{R} \ \text{ for } T < p < T + R,\qquad
# \frac{dT}{dS} = -\frac{n}{2S^2},\qquad
# \frac{\partial m}{\partial S} = -\frac{n}{2RS^2} \ \text{ on the ramp, 0 elsewhere.}
# $$ (eq-stride-gradient)
#
# The width has the same derivative (its "+1" is a constant). Autograd through
# `ramp_mask` agrees with {eq}`eq-stride-gradient`, position by position:

# %%
n_g, s_g = 32, 2.5
pos = torch.tensor(official_positions_h(n_g)[: n_g // 2], dtype=torch.float64)  # positive rows
s_var = torch.tensor(s_g, dtype=torch.float64, requires_grad=True)
mask_g = ramp_mask(pos, n_g / s_var / 2, R)
dm_ds = torch.autograd.functional.jacobian(lambda s: ramp_mask(pos, n_g / s / 2, R), s_var)
t_g = n_g / (2 * s_g)
on_ramp = (pos > t_g) & (pos < t_g + R)
table(pd.DataFrame({"position p": pos.int(), "mask": mask_g.detach(), "autograd dm/dS": dm_ds,
                    "formula": torch.where(on_ramp, -n_g / (2 * R * s_g**2), 0.0)})
      .iloc[4:13].set_index("position p").round(4),
      caption=f"The mask and its derivative with respect to the stride at S = {s_g:g}, n = {n_g}: "
      "autograd against the formula, position by position")

# %% [markdown]
# The full layer is checked with `torch.autograd.gradcheck`, which compares the
# analytical Jacobian with finite differences in float64. To differentiate with respect
# to the stride as an *input*, `torch.func.functional_call` runs the layer with a stride
# tensor substituted for its parameter. The strides below crop both axes (14 -> 12),
# keep the clamp inactive and put no position exactly on a kink of the ramp, where the
# mask has no derivative. The whole Jacobian has one column per input entry, so the
# input is small; the `smoke` profile uses gradcheck's fast mode, which compares random
# projections of the Jacobian instead.

# %%
stride_gc = (3.7, 3.9)
layer_gc = DiffStride2d(stride_gc).double()
x_gc = torch.randn(1, 1, 14, 14, dtype=torch.float64, requires_grad=True)
s_gc = torch.tensor(stride_gc, dtype=torch.float64, requires_grad=True)


def layer_as_function(x, stride):
    return functional_call(layer_gc, {"stride": stride}, (x,))


ok = torch.autograd.gradcheck(layer_as_function, (x_gc, s_gc), fast_mode=quick)
print(f"output shape {tuple(layer_as_function(x_gc, s_gc).shape)}; gradcheck w.r.t. input and stride: {ok}")

# %% [markdown]
# ## Learning a stride
#
# Now a stride that learns. The target is a set of photographs downsampled by a factor
# 3 with amplitude-preserving spectral pooling, `spectral_pool2d(x, stride=3,
# rescale=True)`. A `DiffStride2d` layer, whose two strides start far from 3, sees the
# full-resolution photographs; its output is brought to the target's grid by the same
# spectral pooling and compared with the target. That comparison alone cannot tell a
# small stride from the right one (extra frequencies are cropped away before the
# comparison), so, as in the DiffStride paper, a complexity term is added:
#
# $$
# \mathcal{L}(S) = \frac{\lVert \hat y(S) - y^\star \rVert^2}{\lVert y^\star \rVert^2}
#   + \lambda\, \frac{1}{S_h S_w},
# $$ (eq-stride-loss)
#
# where $1/(S_h S_w)$ is `DiffStride2d.complexity_factor()`, the factor by which the
# layer shrinks the map's area. The reconstruction term is zero as long as the mask is 1
# on every frequency the target keeps; the complexity term pushes the stride up until
# the ramp starts eating into the target's band. The optimum is thus just above the
# *critical stride*, the largest stride whose mask is still 1 on the target's band.
# For an $n \times n$ input and an even target size $h$ this is $n/(h - 2)$ on both axes
# (Exercise 3.4 derives it).

# %%
def photographs(n):
    """Four grayscale photographs from scikit-image, n x n, each standardised: [4, 1, n, n]."""
    images = [data.camera(), color.rgb2gray(data.astronaut()), color.rgb2gray(data.coffee()),
              color.rgb2gray(data.chelsea())]
    images = [transform.resize(im / im.max(), (n, n), anti_aliasing=True) for im in images]
    x = torch.tensor(np.stack(images)[:, None], dtype=torch.float32)
    return (x - x.mean(dim=(-2, -1), keepdim=True)) / x.std(dim=(-2, -1), keepdim=True)


n_learn, factor, lam = 96, 3.0, 3e-3
steps, lr = (20 if quick else 100), 0.05
x_learn = photographs(n_learn)

# %%
def reconstruction(layer, x, target):
    """Relative squared error of the layer's output, resampled to the target grid."""
    y = layer(x)
    y = y * (y.shape[-2] * y.shape[-1]) / (x.shape[-2] * x.shape[-1])  # undo the irfft2 gain
    y = spectral_pool2d(y, output_size=tuple(target.shape[-2:]), rescale=True)
    return ((y - target) ** 2).sum() / (target**2).sum()


def learn_stride(x, factor, start, lam, steps, lr):
    """Adam on the two strides of one DiffStride2d; returns the [steps + 1, 2] trajectory."""
    target = spectral_pool2d(x, stride=factor, rescale=True)
    layer = DiffStride2d(start)
    # Short moment memories: the gradient changes scale by orders of magnitude at the
    # critical stride, and Adam's defaults would overshoot it for many steps.
    opt = torch.optim.Adam(layer.parameters(), lr=lr, betas=(0.8, 0.9))
    path = [layer.current_stride()]
    for _ in range(steps):
        loss = reconstruction(layer, x, target) + lam * layer.complexity_factor()
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(layer.current_stride())
    return np.array(path)


starts = (1.5, 4.0)
paths = {s0: learn_stride(x_learn, factor, s0, lam, steps, lr) for s0 in starts}
h_target = spectral_output_size(n_learn, n_learn, factor)[0]
s_crit = n_learn / (h_target - 2)

# %% [markdown]
# The loss along one shared stride shows the landscape the optimiser walks on: flat
# reconstruction (zero) up to the critical stride, then a rise, with the complexity term
# tilting the flat part towards larger strides.

# %% mystnb={"figure": {"caption": "Left: the strides learned by Adam from two starting values, with the critical stride. Right: the loss against a shared stride, its reconstruction and complexity parts.", "name": "fig-learned-stride"}}
s_land = np.linspace(1.5, 4.0, 26 if quick else 51)  # beyond 4 the output is smaller than the target
target_learn = spectral_pool2d(x_learn, stride=factor, rescale=True)
with torch.no_grad():
    rec_land = np.array([reconstruction(DiffStride2d(s), x_learn, target_learn).item() for s in s_land])
fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH, 3.8), constrained_layout=True)
for s0, c in zip(starts, ("C0", "C1")):
    axes[0].plot(paths[s0][:, 0], color=c, label=f"start {s0:g}: $S_h$")
    axes[0].plot(paths[s0][:, 1], color=c, ls="--", label=f"start {s0:g}: $S_w$")
axes[0].axhline(s_crit, color="k", lw=1, label=f"critical stride {s_crit:.2f}")
axes[0].axhline(factor, color="0.5", lw=1, ls=":", label=f"target factor {factor:g}")
axes[0].set(xlabel="Adam step", ylabel="learned stride", title=f"Strides learned on {n_learn}×{n_learn} photographs")
axes[0].legend(frameon=False, ncol=2, loc="lower right")
axes[1].plot(s_land, rec_land, label="reconstruction")
axes[1].plot(s_land, lam / s_land**2, label=r"$\lambda / S^2$")
axes[1].plot(s_land, rec_land + lam / s_land**2, "k", lw=1.5, label="total")
axes[1].axvline(s_crit, color="k", lw=1, ls=":")
axes[1].set(xlabel="shared stride S", ylabel="loss", ylim=(0, 4 * lam / 1.5**2),
            title=f"Loss landscape, λ = {lam:g}")
axes[1].legend(frameon=False)
for ax in axes:
    ax.grid(alpha=0.3)
plt.show()

# %%
final = pd.DataFrame({f"start {s0:g}": {"stride, height": p[-1, 0], "stride, width": p[-1, 1]}
                      for s0, p in paths.items()}).T
final["critical stride"] = s_crit
table(final, caption="The strides Adam learned from each start, next to the critical stride")

# %% tags=["remove-input"]
spread = max(abs(p[-1] - s_crit).max() for p in paths.values())
if spread < 0.1:
    outcome = (f"After {steps} Adam steps both starts end within {spread:.2f} of the critical "
               f"stride {s_crit:.3f}, slightly above it because the complexity term trades a "
               "little reconstruction error for a smaller map.")
else:
    outcome = (f"After only {steps} Adam steps (profile `{profile}`) the strides are still "
               f"up to {spread:.2f} away from the critical stride {s_crit:.3f}; the `cpu` "
               "profile runs long enough to see them settle just above it.")
md(
    f"{outcome} Here the target is {h_target}×{h_target} from {n_learn}×{n_learn}, so "
    f"$n/(h-2) = {n_learn}/{h_target - 2}$. The learned stride is not the factor {factor:g} "
    "itself: the mask must stay at 1 on the target's whole band, whose highest position "
    f"is $h/2 - 1 = {h_target // 2 - 1}$, not $h/2$ (the target's Nyquist row $-h/2$ sits "
    "at position $h/2 - 1$ on the height, and the width's \"+1\" does the same for the "
    "columns). So the flat part must reach $T = h/2 - 1$, which gives $S = n/(h-2)$ rather "
    f"than $n/h = {n_learn / h_target:g}$."
)

# %% [markdown]
# ## DiffStride next to fixed spectral pooling
#
# Same photograph, same nominal stride 2: `DiffStride2d(2.0)` against `SpectralPool2d(2)`
# ({numref}`fig-diffstride-vs-spectral`).
# The bottom row shows what each layer keeps of the `rfft2` half-plane (rows: all
# height frequencies, centred; columns: the non-negative width frequencies). Spectral
# pooling keeps a hard box, the band that a map of half the size can hold. DiffStride
# keeps essentially the same box at full weight (one row more on the negative side, by
# the $j - 1$ rule) and adds a ramp of $R$ frequencies around it, for which its larger
# output has room.

# %%
n_cmp = 64
x_cmp = photographs(n_cmp)[:1].double()
ds, sp = DiffStride2d(2.0).double(), SpectralPool2d(2.0)
y_ds, y_sp = ds(x_cmp), sp(x_cmp)
m_h, m_w = applied_masks(DiffStride2d(2.0, cropping=False), n_cmp)
mask_ds = np.fft.fftshift(m_h)[:, None] * m_w[None, :]  # rows centred, rfft columns
h_sp, w_sp = y_sp.shape[-2:]
k_h = np.fft.fftshift(np.fft.fftfreq(n_cmp, 1 / n_cmp))[:, None]
mask_sp = ((k_h >= -(h_sp // 2)) & (k_h < (h_sp + 1) // 2)) * (np.arange(n_cmp // 2 + 1) <= w_sp // 2)[None, :]
spectrum = np.abs(np.fft.fftshift(torch.fft.rfft2(x_cmp)[0, 0].numpy(), axes=0))

# %% mystnb={"figure": {"caption": "A photograph through DiffStride2d(2.0) and SpectralPool2d(2) (top) and the part of the rfft2 half-plane each keeps (bottom).", "name": "fig-diffstride-vs-spectral"}}
fig, axes = plt.subplots(2, 3, figsize=(MAX_WIDTH, 5.2), constrained_layout=True)
images = (x_cmp, y_ds, y_sp)
titles = (f"input {n_cmp}×{n_cmp}", f"DiffStride S=2: {y_ds.shape[-2]}×{y_ds.shape[-1]}",
          f"SpectralPool2d(2): {h_sp}×{w_sp}")
extent = (-0.5, n_cmp // 2 + 0.5, n_cmp // 2 - 0.5, -n_cmp // 2 - 0.5)
for col, (img, title, mask) in enumerate(zip(images, titles, (1.0, mask_ds, mask_sp))):
    axes[0, col].imshow(img[0, 0].detach(), cmap="gray", interpolation="nearest")
    axes[0, col].set_title(title)
    axes[0, col].set_axis_off()
    art = axes[1, col].imshow(np.log10(1 + spectrum * mask), cmap="magma", extent=extent,
                              vmin=0, vmax=np.log10(1 + spectrum.max()), interpolation="nearest")
    axes[1, col].set(xlabel="column frequency $k_w$", ylabel="row frequency $k_h$",
                     title=("spectrum of the input" if col == 0 else "retained spectrum"))
fig.colorbar(art, ax=axes[1, :], label=r"$\log_{10}(1 + |m X|)$", shrink=0.8)
plt.show()

# %% [markdown]
# The faint stripes along the top edge of both outputs come from the periodicity of
# the DFT: the photograph's top and bottom rows differ, and cropping the spectrum turns
# that jump into ringing. (The dark dot at DC in the spectra is the mean, which is zero
# for these standardised photographs.)
#
# The table quantifies the comparison. "Energy kept" is the share of the photograph's
# energy (its mean removed, as DC would dominate otherwise) that survives in the
# output, measured on the output after undoing the size-dependent gain of `irfft2`
# (next section).

# %%
def energy_kept(y, x):
    """Share of the (zero-mean) input's energy in an output, amplitude-corrected."""
    gain = (y.shape[-2] * y.shape[-1]) / (x.shape[-2] * x.shape[-1])
    return ((y * gain) ** 2).mean().item() / (x**2).mean().item()


x0 = x_cmp - x_cmp.mean()
comparison = pd.DataFrame({
    "output": [f"{y.shape[-2]}×{y.shape[-1]}" for y in (y_ds, y_sp)],
    "area / input area": [y.shape[-2] * y.shape[-1] / n_cmp**2 for y in (y_ds, y_sp)],
    "energy kept": [energy_kept(layer(x0), x0) for layer in (ds, sp)],
}, index=["DiffStride S=2", "SpectralPool2d(2)"])
comparison["energy lost"] = 1 - comparison["energy kept"]
table(comparison, formats={"area / input area": "{:.0%}", "energy kept": "{:.2%}",
                          "energy lost": "{:.2%}"},
      caption="What each layer keeps of a 64×64 photograph at stride 2: pixels and energy")

# %% tags=["remove-input"]
c_ds, c_sp = comparison.iloc[0], comparison.iloc[1]
md(
    f"DiffStride keeps {c_ds['area / input area']:.0%} of the input's pixels and loses "
    f"{c_ds['energy lost']:.2%} of its energy; spectral pooling keeps {c_sp['area / input area']:.0%} "
    f"and loses {c_sp['energy lost']:.2%}. Most of a photograph's energy lies at low "
    "frequencies, so both lose little; the extra pixels of DiffStride buy its ramp, which "
    "attenuates the band edge instead of cutting it."
)

# %% [markdown]
# ### Amplitude
#
# Neither layer rescales its output. `rfft2` with the default ("backward") normalisation
# sums over $H W$ pixels and `irfft2` divides by the number $h w$ of output pixels, so a
# constant image comes out multiplied by $(H W)/(h w)$. In a network the batch
# normalisation that follows absorbs this factor; when comparing images, as above,
# divide it out (or use `spectral_pool2d(..., rescale=True)`).

# %%
rows = []
for n, s in ((32, 2.0), (32, 3.0), (64, 2.0), (16, 2.0)):
    ones = torch.ones(1, 1, n, n)
    for name, layer in (("DiffStride2d", DiffStride2d(s)), ("SpectralPool2d", SpectralPool2d(s))):
        y = layer(ones)
        rows.append({"layer": name, "input": n, "S": s, "output": y.shape[-1],
                     "measured gain": y.mean().item(), "(HW)/(hw)": n * n / (y.shape[-2] * y.shape[-1])})
amp = pd.DataFrame(rows)
table(amp, hide_index=True, caption="Neither layer rescales: the gain on a constant image is "
      "(HW)/(hw)")

# %% tags=["remove-input"]
g32 = amp.query("layer == 'DiffStride2d' and input == 32 and S == 2.0").iloc[0]
md(f"A constant 32×32 image through `DiffStride2d(2.0)` becomes {g32.output}×{g32.output} "
                 f"with every pixel multiplied by {g32['measured gain']:.3f} $= 32^2/{g32.output}^2$.")

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"id": "3.1", "points": 2, "function": "my_ramp_mask", "check": "hybridlib.book.selfcheck.check_ramp_mask", "reference": ["hybridlib.diffstride.ramp_mask"]}
# **Exercise 3.1** (the ramp mask). Write `my_ramp_mask(positions, threshold, smoothness)`
# returning the ramp mask {eq}`eq-ramp-mask`,
# $m(T, R, p) = \operatorname{clip}((R + T - p)/R, 0, 1)$, for every position,
# and the hard box $p \le T$ (as 0/1 floats) when $R = 0$. It must be differentiable with
# respect to the threshold: that is the only way a gradient reaches the stride.

# %% tags=["exercise-stub"]
def my_ramp_mask(positions, threshold, smoothness):
    """Ramp mask of DiffStride.

    Args:
        positions: float tensor of any shape (the positions p of the frequencies).
        threshold: 0-d float tensor T (may require grad).
        smoothness: float R >= 0.

    Returns:
        Tensor of the shape of ``positions``, values in [0, 1], differentiable in T.
    """
    raise NotImplementedError("Exercise 3.1: torch.clamp keeps the graph; treat R = 0 apart")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 3.1", "code_prompt_hide": "Hide the solution to Exercise 3.1"}
def my_ramp_mask(positions, threshold, smoothness):
    """Ramp mask of DiffStride: [...] positions -> [...] mask values."""
    if smoothness == 0:
        return (positions <= threshold).to(threshold.dtype)
    return torch.clamp((smoothness + threshold - positions) / smoothness, 0.0, 1.0)


# %% tags=["exercise-check"]
print(check_ramp_mask(my_ramp_mask))

# %% [markdown] exercise={"id": "3.2", "points": 3}
# **Exercise 3.2** (the output-size formula). Starting from the official rules (height:
# positions $k$ and $j - 1$ for the frequencies $+k$ and $-j$, threshold $T_h = n/(2S)$,
# output height = number of kept rows; width: position $k$ for column $k$, threshold
# $T_w = n/(2S) + 1$, output width $= 2(\text{kept columns} - 1)$), derive
# the output size {eq}`eq-output-size`,
# $n_\text{out} = 2\min(\lceil n/(2S) + R\rceil, n/2)$, for an even $n$ with
# $n/S \ge 2$ and $R > 0$, on both axes. What is the output at $S = 1$? What changes when
# $n/S < 2$, and when $R = 0$?

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 3.2
# :class: dropdown
# A frequency is kept when its mask is non-zero, i.e. when its position satisfies
# $p < T + R$ (for $R > 0$). The positions are integers from 0, so the number of kept
# positions is the number of integers in $[0, T + R)$, which is $\lceil T + R \rceil$
# (when $T + R$ is itself an integer, that position has mask exactly 0 and is dropped),
# capped by the number of positions the axis has.
#
# *Height.* The positions $0, \dots, n/2 - 1$ each occur twice (once for $+k$, once for
# $-(k+1)$), so $K_h = \min(\lceil n/(2S) + R \rceil, n/2)$ distinct positions survive
# and the output has $2K_h$ rows.
#
# *Width.* The columns $0, \dots, n/2$ occur once, with $T_w = n/(2S) + 1$, so
# $K_w = \min(\lceil n/(2S) + R \rceil + 1, n/2 + 1)$ columns survive and the output
# width is $2(K_w - 1) = 2\min(\lceil n/(2S) + R\rceil, n/2)$: the "+1" in the
# threshold exactly pays for the Nyquist column that `irfft2` adds, and both axes agree.
#
# At $S = 1$, $n/(2S) + R = n/2 + R > n/2$, so nothing is cropped and the output has
# the input's size (the lower clamp does not change this).
#
# When $n/S < 2$ the target length is floored at 2, so $T = 1$ and the output is
# $2\min(\lceil 1 + R\rceil, n/2)$, no longer a function of $S$; with an integer $R$ the
# formula happens to give the same number, with e.g. $R = 2.5$ it can differ
# ($n = 32$, $S = 32$: 8 from the layer, 6 from the formula).
#
# With $R = 0$ the mask is the hard box $p \le T$ and the count of integers in $[0, T]$
# is $\lfloor T \rfloor + 1$, not $\lceil T \rceil$: for $n = 32$, $S = 2$ the output is
# 18, not 16.
# ```

# %% [markdown] exercise={"id": "3.3", "points": 2, "function": "my_output_length", "check": "hybridlib.book.selfcheck.check_output_size", "reference": ["hybridlib.diffstride.DiffStride2d"]}
# **Exercise 3.3** (output length for every size). Write `my_output_length(n, stride,
# smoothness)` returning the output length of `DiffStride2d` along an axis of length $n$
# (an $n \times n$ input gives an $n_\text{out} \times n_\text{out}$ output), for even
# *and odd* $n$ and for $R \ge 0$, including the floor $n' = \max(n/S, 2)$. For odd $n$,
# `hybridlib` keeps the frequencies $\pm k$ with $k < T + R$ (or $k \le T$ when $R = 0$),
# $k \le (n-1)/2$, with $T = n'/2$.

# %% tags=["exercise-stub"]
def my_output_length(n, stride, smoothness=4.0):
    """Output length of DiffStride2d along one axis.

    Args:
        n: input length (int, > smoothness), even or odd.
        stride: float >= 1.
        smoothness: float R >= 0.

    Returns:
        int, the output length (an [B, C, n, n] input gives [B, C, out, out]).
    """
    raise NotImplementedError("Exercise 3.3: count the positions with a non-zero mask, then lay them out")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 3.3", "code_prompt_hide": "Hide the solution to Exercise 3.3"}
def my_output_length(n, stride, smoothness=4.0):
    """Output length of DiffStride2d along one axis of length n."""
    t = max(n / stride, 2) / 2
    kept = math.floor(t) + 1 if smoothness == 0 else math.ceil(t + smoothness)
    if n % 2 == 0:
        return 2 * min(kept, n // 2)  # positions 0 .. n/2 - 1, each used twice
    return 2 * min(kept, n // 2 + 1) - 1  # DC once, +-k for k = 1 .. (n-1)/2


# %% tags=["exercise-check"]
print(check_output_size(my_output_length))

# %% [markdown] exercise={"id": "3.4", "points": 3, "function": "critical_stride", "check": "hybridlib.book.selfcheck.check_critical_stride", "reference": ["hybridlib.book.selfcheck.diffstride.critical_stride_reference"]}
# **Exercise 3.4** (predict the learned stride). In the experiment above the strides
# settle just above the critical stride.
#
# 1. Write `critical_stride(n, factor)`: for an even $n$, the largest stride at which
#    DiffStride's mask is 1 on every frequency that `spectral_pool2d(x, stride=factor)`
#    keeps, on both axes. Use `spectral_output_size` for the target size and the
#    official position rules.
# 2. Predict the learned strides for a target factor of 4 on the same 96×96
#    photographs, then run `learn_stride` and compare.
# 3. Without running it: would a ten times larger $\lambda$ in {eq}`eq-stride-loss` move
#    the learned stride above or below the prediction, and why?

# %% tags=["exercise-stub"]
def critical_stride(n, factor):
    """Largest DiffStride stride whose mask is 1 on the band kept by spectral pooling.

    Args:
        n: even input length (an n x n input).
        factor: the spectral pooling stride of the target (>= 1).

    Returns:
        float, the same for the height and the width axis.
    """
    raise NotImplementedError("Exercise 3.4: find the highest position in the target's band on each axis")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 3.4", "code_prompt_hide": "Hide the solution to Exercise 3.4"}
def critical_stride(n, factor):
    """Largest stride whose mask is 1 on the band spectral pooling keeps (even n)."""
    h, w = spectral_output_size(n, n, factor)
    # Height: rows -h/2 .. h/2 - 1, highest position h/2 - 1, needs n/(2S) >= h/2 - 1.
    # Width: columns 0 .. w//2, needs n/(2S) + 1 >= w//2.
    return min(n / (h - 2), n / (2 * (w // 2 - 1)))


# %% tags=["exercise-check"]
print(check_critical_stride(critical_stride))

# %%
factor_4 = 4.0
path_4 = learn_stride(x_learn, factor_4, 3.0, lam, steps, lr)
print(f"factor {factor_4:g}: predicted {critical_stride(n_learn, factor_4):.3f}, "
      f"learned S_h = {path_4[-1, 0]:.3f}, S_w = {path_4[-1, 1]:.3f} after {steps} steps")

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 3.4
# :class: dropdown
# 1. Spectral pooling by 4 turns 96×96 into 24×24: rows $-12 \dots 11$ and columns
#    $0 \dots 12$. On the height the highest position in that band is 11 (row $-12$ sits
#    at position 11, row $+11$ too), so the mask is 1 on it while $n/(2S) \ge 11$; on the
#    width column 12 needs $n/(2S) + 1 \ge 12$, the same condition. Hence
#    $S^\ast = 96/22$, and in general $n/(h - 2)$ for an even target height
#    $h$ (the width gives the same number since $w$ is $h$ or $h + 1$).
# 2. With the `cpu` profile's steps the printed strides land slightly above the
#    prediction on both axes, like the factor-3 run; the `smoke` profile's few steps
#    may stop before they arrive.
# 3. Above: a larger $\lambda$ makes the complexity term's pull on the stride,
#    $\lambda/(S_h^2 S_w)$ for $S_h$, stronger, so the optimum moves further onto the ramp, where the reconstruction
#    error grows until its slope balances that pull. The stride then exceeds the
#    critical stride by more, and the learned stride reflects the images' spectra at the
#    band edge, not only the geometry of the mask.
# ```

# %% [markdown]
# ```{admonition} Key takeaways
# :class: takeaways
# * DiffStride multiplies the spectrum by a ramp mask whose threshold follows the stride
#   $S$; the ramp is what lets a gradient reach $S$.
# * Its output keeps room for the ramp, so at the same initial stride its maps are
#   larger, and its cost higher, than those of fixed spectral pooling.
# * Below $S = n/(n-2)$ every mask value is 1 and the gradient vanishes; the layer clamps
#   $S$ at $n/(n-R)$ {eq}`eq-stride-clamp` so that a stride initialised at 1 can still
#   learn.
# * A learned stride settles where the mask just covers the band the task needs, pushed
#   larger by the complexity term.
# ```
