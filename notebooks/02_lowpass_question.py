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
# # Is spectral pooling just a low-pass filter?
#
# A question asked on the Signal Processing Stack Exchange,
# ["Explain the process of spectral pooling and spectral activation in the context of CNN
# in frequency domain"](https://dsp.stackexchange.com/questions/76875)
# {cite}`dsp2021spectralpooling`, about spectral pooling {cite}`rippel2015spectral`, goes
# like this. Every spectral pooling layer throws away the
# frequencies outside a centred window, and whatever is thrown away can no longer reach
# the output. So after the last pooling layer, the network has only used the input's
# frequencies inside the *final*, smallest window. In the asker's words
# {cite}`dsp2021spectralpooling`:
#
# > Wouldn't this be equivalent to discarding all those frequencies in the input layer?
#
# Is the whole network, then, equivalent to low-pass filtering the input once, at the
# start, and is the celebrated information preservation of spectral pooling just a
# network looking at a blurred image?
#
# Two answers came back:
#
# * **Answer A**: no, because non-linear activations sit between the poolings and the
#   filters are learned; a 1-D toy shows that the "equivalent filter" (output spectrum
#   over input spectrum) differs from one input to another, which no fixed low-pass
#   filter can do.
# * **Answer B**, after a closer reading of Rippel et al. {cite}`rippel2015spectral`,
#   where the activation comes *after* the pooling. Its author's update puts the ordering
#   in one line {cite}`dsp2021spectralpooling`: "after a closer look, activation follows
#   pooling, not precedes; this is much more explicit in the original paper". Hence:
#   yes for the first layer, whose pooling really does discard the high frequencies of
#   the (filtered) input; no for the rest, because the non-linearity re-maps frequencies
#   before the next pooling, as the modulus does in wavelet scattering
#   {cite}`bruna2013scattering`.
#
# The two answers disagree mainly about the *order* of activation and pooling. This
# chapter runs both orders, first on the toy of Answer A, then inside a small
# convolutional network with random filters on real photographs, and finally in small
# networks trained to classify images, and measures each claim. It builds on the
# [spectral pooling chapter](01_spectral_pooling.ipynb).

# %% [markdown]
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * state precisely when stacked spectral pooling is, and is not, a low-pass filter of
#   the input;
# * explain why the order of activation and pooling decides what the first crop discards;
# * measure how a pointwise non-linearity moves energy between frequencies (the
#   demodulation that wavelet scattering relies on);
# * test the verdict on trained filters, by low-passing the inputs of a trained
#   classifier and watching its output and its accuracy;
# * place the book's own ResNet ordering (convolution, pooling, batch normalisation,
#   ReLU) in that picture.
#
# **Prerequisites:** the chapter on spectral pooling (the DFT, the centred crop),
# 2-D convolution as a product of DFTs, and training a small classifier with SGD in
# PyTorch.
# ```

# %% tags=["parameters"]
profile = "cpu"

# %%
quick = profile == "smoke"

import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from skimage import color, data, transform

from hybridlib.book.formatting import md, num, table
from hybridlib.book.lowpass import (
    CHANGED,
    COLUMNS,
    EXACT,
    describe_trained,
    lowpass,
    trained_caption,
    trained_lowpass_table,
    trained_percent,
    window_mask,
)
from hybridlib.book.plots import MAX_WIDTH, plot_log_spectrum
from hybridlib.book.selfcheck import (
    check_commuting_input,
    check_equivalent_filter,
    check_spectral_activation,
)
from hybridlib.configs import PROFILES
from hybridlib.data import load_dataset
from hybridlib.resnet import PreActBlock
from hybridlib.spectral import spectral_pool2d

# %% [markdown]
# ## The 1-D toy, in both orders
#
# The toy works directly on spectra, as a frequency-domain network would. Each input is
# a vector of 9 real numbers, the spectrum of a signal with the zero frequency (DC) in
# the middle, at index 4. One stage of the network:
#
# 1. multiplies the spectrum by a filter (a convolution, in the frequency domain);
# 2. applies the *spectral activation* of the accelerator design the answer borrows:
#    standardise the vector (subtract its mean, divide by its sample standard deviation),
#    then a sigmoid, $a(v) = \sigma\big((v - \bar v)/s_v\big)$;
# 3. pools: keeps the centred window (7 bins at the first stage, 5 at the second) and
#    drops the other bins.
#
# Steps 2 and 3 come in either order: **act-pool** (activation, then pooling, the order
# of the answer's listing) or **pool-act** (pooling, then activation, Rippel's order).
# Two details differ from the listing in the answer. Its pooling writes zeros outside
# the window but keeps all 9 bins, so in the pool-act order the activation would turn
# those zeros into non-zero values; we drop the bins instead, as a real spectral pooling
# does. And its second stage multiplies the second signal by the *first* filter, a slip:
# we use the second filter for both signals, so that any difference between the two
# signals' equivalent filters cannot come from the filters.

# %%
SIGNALS = {"signal 1": np.array([3, 1, 2, 1, 4, 1, 2, 1, 3], dtype=float),
           "signal 2": np.array([1, 3, 1, 2, 1, 2, 1, 3, 1], dtype=float)}
F1 = np.array([0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0])  # stage 1: a triangle peaked at DC
F2 = np.array([1, 0.75, 0.5, 0.25, 0, 0.25, 0.5, 0.75, 1])  # stage 2: its complement
CENTRE = 4


def spectral_activation(v, slope=1.0):
    """Standardise a 1-D vector (sample std, as MATLAB's std), then a sigmoid."""
    z = (v - v.mean()) / v.std(ddof=1)
    return 1.0 / (1.0 + np.exp(-slope * z))


def toy_network(spectrum, order):
    """The two stages of the toy; returns the output values and their bin indices."""
    where, v = np.arange(9), spectrum.copy()
    # stage 1: filter F1, keep 7 bins
    v = v * F1[where]
    if order == "act-pool":
        v = spectral_activation(v)
    inside = np.abs(where - CENTRE) <= 3
    v, where = v[inside], where[inside]
    if order == "pool-act":
        v = spectral_activation(v)
    # stage 2: filter F2, keep 5 bins
    v = v * F2[where]
    if order == "act-pool":
        v = spectral_activation(v)
    inside = np.abs(where - CENTRE) <= 2
    v, where = v[inside], where[inside]
    if order == "pool-act":
        v = spectral_activation(v)
    return v, where


ORDERS = ("act-pool", "pool-act")
toy = {(name, order): toy_network(s, order) for name, s in SIGNALS.items() for order in ORDERS}
ratios = {key: out / SIGNALS[key[0]][where] for key, (out, where) in toy.items()}
ratio_table = pd.DataFrame({f"{order}, {name}": ratios[(name, order)]
                            for order in ORDERS for name in SIGNALS},
                           index=pd.Index(toy[("signal 1", "act-pool")][1] - CENTRE,
                                          name="frequency bin (0 = DC)"))
table(ratio_table, caption="The toy's equivalent filter, output over input, per bin, for "
      "each signal and order")

# %% [markdown]
# {numref}`fig-toy` shows the inputs, the filters and the equivalent filters of both
# orders.

# %% mystnb={"figure": {"caption": "The 1-D toy: the two input spectra, the two filters, and the equivalent filter (output over input, per bin) of each signal in the act-pool and pool-act orders. A fixed filter would give one curve per panel.", "name": "fig-toy"}}
fig, axes = plt.subplots(2, 2, figsize=(MAX_WIDTH, 5.0), constrained_layout=True)
axes = list(axes.flat)
bins = np.arange(9) - CENTRE
for i, (name, s) in enumerate(SIGNALS.items()):
    axes[0].stem(bins + (i - 0.5) * 0.15, s, linefmt=f"C{i}-", markerfmt=f"C{i}{'oD'[i]}",
                 basefmt=" ", label=name)
axes[0].set_title("input spectra")
axes[1].plot(bins, F1, "o-", label="filter stage 1")
axes[1].plot(bins, F2, "D-", label="filter stage 2")
axes[1].set_title("filters")
for ax, order in zip(axes[2:], ORDERS):
    for i, name in enumerate(SIGNALS):
        where = toy[(name, order)][1] - CENTRE
        ax.plot(where + (i - 0.5) * 0.15, ratios[(name, order)], "oD"[i], color=f"C{i}",
                label=name, linestyle="-")
    ax.set_title(f"equivalent filter, {order}")
    ax.set_xlim(-4.5, 4.5)
axes = list(axes)
for ax in axes:
    ax.set_xlabel("frequency bin")
    ax.legend()
axes[2].set_ylabel("output / input")
plt.show()

# %% [markdown]
# If the pipeline were a fixed filter $G$, the two equivalent filters in each panel
# would coincide: output over input would be $G$ whatever the input. They do not, in
# either order. Two more probes make the point sharper. Doubling the input leaves the
# output unchanged (the standardisation removes any scale), so the equivalent filter of
# $2x$ is half that of $x$, which no linear system does. And zeroing the input bins
# outside the *final* window (the low-pass filter the question proposes) changes the
# output, because those bins enter the first stage's mean and standard deviation.

# %%
def lowpass_final(spectrum):
    return np.where(np.abs(np.arange(9) - CENTRE) <= 2, spectrum, 0.0)


probe_rows = []
for order in ORDERS:
    r1, r2 = ratios[("signal 1", order)], ratios[("signal 2", order)]
    out, _ = toy[("signal 1", order)]
    out_double, _ = toy_network(2 * SIGNALS["signal 1"], order)
    out_lowpassed, _ = toy_network(lowpass_final(SIGNALS["signal 1"]), order)
    probe_rows.append({
        "order": order,
        "max |ratio 1 - ratio 2| / max |ratio 1|": np.abs(r1 - r2).max() / np.abs(r1).max(),
        "output(2x) vs output(x), max |diff|": np.abs(out_double - out).max(),
        "output(low-passed x) vs output(x), relative": np.linalg.norm(out_lowpassed - out)
        / np.linalg.norm(out)})
table(pd.DataFrame(probe_rows).set_index("order").T,
      caption="Three probes of the toy: the two signals' equivalent filters, a doubled "
      "input, and an input low-passed to the final window")

# %% [markdown]
# Answer A's claim holds in both orders. But the toy cannot test Answer B's claim about
# the first layer: the first filter is exactly zero on the two bins the first pooling
# drops, so in this toy the first pooling loses nothing, whatever the order. And its
# activation acts bin by bin on a spectrum, so apart from the standardisation it never
# moves energy from one frequency to another. A convolutional network applies its
# activation in space, which mixes frequencies; that is where the order should matter.
#
# ## Inside a small network, on real photographs
#
# The network has two layers. Each is a 5×5 convolution with 8 output channels and
# random Gaussian weights (variance 1/fan-in), a spectral pooling layer and an
# activation, in one of the two orders:
#
# $$ \text{act-pool: } x \mapsto P(\sigma(w * x)), \qquad
#    \text{pool-act: } x \mapsto \sigma(P(w * x)) . $$ (eq-orders)
#
# Two choices make the comparisons exact rather than approximate. The convolutions use
# circular padding, so that a convolution is exactly a multiplication of DFTs (Rippel's
# filters are parameterised in the frequency domain, which amounts to the same). And the
# poolings go to odd sizes, 64 → 31 → 15, so that every kept frequency has its
# conjugate partner and there is no Nyquist bin (the chapter on spectral pooling shows
# what that bin does). The pooling rescales (`rescale=True`) so that both orders feed
# the activation values of the same size.
#
# For an input $x$ we compare the network's output $N(x)$ with its output for two
# low-passed inputs: $\mathrm{LP}_{31}x$, the input restricted to the first window
# ($|k|, |l| \le 15$), and $\mathrm{LP}_{15}x$, restricted to the final window
# ($|k|, |l| \le 7$), the filter the question proposes. The difference is measured as
# $\|N(x) - N(\mathrm{LP}\,x)\| / \|N(x) - \overline{N(x)}\|$, where the bar is each
# channel's mean (a sigmoid's outputs sit around 0.5, and we do not want that offset to
# make differences look small). The inputs are 64×64 tiles of photographs, each
# standardised to zero mean and unit variance; each number is the mean ± std over the
# tiles and over several draws of the random filters.

# %%
tile_names = ["camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "clock", "brick"]
n_seeds, tiles_per_photo = 3, 2
if quick:
    tile_names, n_seeds = tile_names[:3], 1


def grey(name):
    img = getattr(data, name)()
    return color.rgb2gray(img) if img.ndim == 3 else img / 255.0


def central_tiles(img, t=64, per_side=2):
    """The per_side x per_side block of t x t tiles at the centre of an image."""
    top, left = img.shape[0] // 2 - t * per_side // 2, img.shape[1] // 2 - t * per_side // 2
    return [img[top + i * t : top + (i + 1) * t, left + j * t : left + (j + 1) * t]
            for i in range(per_side) for j in range(per_side)]


images = np.stack([tile for name in tile_names for tile in
                   central_tiles(transform.downscale_local_mean(grey(name), (2, 2)))[:tiles_per_photo]])
x_img = torch.from_numpy(images)[:, None]
x_img = (x_img - x_img.mean((2, 3), keepdim=True)) / x_img.std((2, 3), keepdim=True)
print(f"{len(x_img)} input tiles, 64×64, standardised")

# %%
SIZE = 64  # the tiles' size; hybridlib.book.lowpass.lowpass(x, m) keeps |k|, |l| <= (m - 1) / 2


def random_filters(seed, channels=8, k=5):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(channels, 1, k, k, generator=g, dtype=torch.float64) / k
    w2 = torch.randn(channels, channels, k, k, generator=g, dtype=torch.float64) / (k * channels**0.5)
    return w1, w2


def conv(x, w):
    """F.conv2d with circular padding, computed as the product of DFTs it amounts to."""
    k = w.shape[-1]
    kernel = torch.zeros(*w.shape[:2], *x.shape[-2:], dtype=w.dtype)
    kernel[..., :k, :k] = w.flip(-2, -1)  # cross-correlation = convolution with the flip
    kernel = kernel.roll((-(k // 2), -(k // 2)), dims=(-2, -1))  # centre it on pixel 0
    spectrum = torch.einsum("bchw,ochw->bohw", torch.fft.fft2(x), torch.fft.fft2(kernel))
    return torch.fft.ifft2(spectrum).real


def conv_direct(x, w):
    p = w.shape[-1] // 2
    return F.conv2d(F.pad(x, (p, p, p, p), mode="circular"), w)


def network(x, filters, act, order, sizes=(31, 15)):
    for w, m in zip(filters, sizes):
        x = conv(x, w)
        if order == "act-pool":
            x = spectral_pool2d(act(x), output_size=m, rescale=True)
        else:
            x = act(spectral_pool2d(x, output_size=m, rescale=True))
    return x


def rel_diff(a, b):
    """||a - b|| / ||a - channel mean of a||, one number per image."""
    centred = a - a.mean((2, 3), keepdim=True)
    return ((a - b).flatten(1).norm(dim=1) / centred.flatten(1).norm(dim=1)).numpy()


print("DFT convolution vs F.conv2d with circular padding, max |difference|:",
      num((conv(x_img, random_filters(0)[0]) - conv_direct(x_img, random_filters(0)[0]))
          .abs().max().item(), 2))

ACTIVATIONS = {"sigmoid": torch.sigmoid, "ReLU": torch.relu, "modulus |x|": torch.abs,
               "identity (linear control)": lambda z: z}

# %%
rows = []
for act_name, act in ACTIVATIONS.items():
    for order in ORDERS:
        first, final = [], []
        for seed in range(n_seeds):
            filters = random_filters(seed)
            y = network(x_img, filters, act, order)
            first.append(rel_diff(y, network(lowpass(x_img, 31), filters, act, order)))
            final.append(rel_diff(y, network(lowpass(x_img, 15), filters, act, order)))
        first, final = np.concatenate(first), np.concatenate(final)
        rows.append({"activation": act_name, "order": order,
                     "N(x) vs N(LP31 x) mean": first.mean(), "std ": first.std(),
                     "N(x) vs N(LP15 x) mean": final.mean(), "std": final.std()})
net_table = pd.DataFrame(rows).set_index(["activation", "order"])
table(net_table, digits=2,
      caption=f"Relative output difference when the input is low-passed to the first (LP31) "
      f"or the final (LP15) window, mean and std over {len(x_img)} tiles × {n_seeds} filter "
      f"draws")

# %% tags=["remove-input"]
t = net_table  # short name for the f-strings below
nonlinear = [a for a in ACTIVATIONS if a != "identity (linear control)"]
md(
    f"* **pool-act** (Rippel's order): the output for LP31(x) equals the "
    f"output for x to rounding error (at most "
    f"{num(t.xs('pool-act', level='order')['N(x) vs N(LP31 x) mean'].max(), 2)}), for every "
    f"activation.\n"
    f"* **act-pool**: the same comparison gives differences from "
    f"{t.xs('act-pool', level='order').loc[nonlinear, 'N(x) vs N(LP31 x) mean'].min():.3f} "
    f"(sigmoid) to "
    f"{t.xs('act-pool', level='order').loc[nonlinear, 'N(x) vs N(LP31 x) mean'].max():.3f}: "
    f"frequencies beyond the first window reach the output.\n"
    f"* **the final window**: low-passing the input to |k|, |l| ≤ 7 changes the output "
    f"of every non-linear network, by "
    f"{t.loc[nonlinear, 'N(x) vs N(LP15 x) mean'].min():.3f} to "
    f"{t.loc[nonlinear, 'N(x) vs N(LP15 x) mean'].max():.3f} on average, in both orders; "
    f"only the linear control is unchanged (at most "
    f"{num(t.loc['identity (linear control)', 'N(x) vs N(LP15 x) mean'].max(), 2)}).")

# %% [markdown]
# This is Answer B, made precise. With the activation after the pooling (pool-act in
# {eq}`eq-orders`), the first layer
# computes $\sigma(P(w_1 * x))$, and $P(w_1 * x)$ depends only on the input's DFT inside
# the first window, because $w_1 *$ multiplies each frequency separately and $P$ keeps
# the window. Everything the network does afterwards depends on those frequencies only.
# So the first pooling does discard the input's high frequencies, or more exactly those
# of the filtered input, and with a learned $w_1$ that is only the best case of a
# low-pass: the filter can attenuate frequencies inside the window too. With the
# activation before the pooling, $\sigma$ acts on the full-band $w_1 * x$ and mixes its
# frequencies, so high input frequencies leak into the window before the crop.
#
# The question's stronger claim, that the network only sees the final window, fails in
# both orders as soon as there is a non-linearity: after the first layer the activation
# creates new frequencies from the ones it is given, and the second pooling crops *those*,
# not the input's. The linear control confirms the logic of the question: without
# activations, stacked spectral pooling *is* a single low-pass at the input.
#
# The exactness above needs odd sizes. With the official even sizes, 64 → 32 → 16, the
# pooled Nyquist row takes only one of the two input rows that fold onto it (see the
# spectral pooling chapter), so the first window is not a set of whole frequency pairs,
# and the identity holds only up to that row:

# %%
def lowpass_even(x, m):
    """The input seen through an even-size pooling: pool to m x m, Fourier-upsample back."""
    small = spectral_pool2d(x, output_size=m, rescale=True)
    spectrum = torch.fft.rfft2(small)
    big = torch.zeros(*x.shape[:2], SIZE, SIZE // 2 + 1, dtype=spectrum.dtype)
    big[..., : m // 2, : m // 2 + 1] = spectrum[..., : m // 2, :]
    big[..., SIZE - m // 2 :, : m // 2 + 1] = spectrum[..., m // 2 :, :]
    return torch.fft.irfft2(big, s=(SIZE, SIZE)) * (SIZE * SIZE / (m * m))


filters = random_filters(0)
even_rows = []
for act_name in ("sigmoid", "ReLU"):
    act = ACTIVATIONS[act_name]
    y = network(x_img, filters, act, "pool-act", sizes=(32, 16))
    y_lp = network(lowpass_even(x_img, 32), filters, act, "pool-act", sizes=(32, 16))
    even_rows.append({"activation": act_name, "order": "pool-act, even sizes 64 → 32 → 16",
                      "N(x) vs N(LP32 x)": rel_diff(y, y_lp).mean()})
table(pd.DataFrame(even_rows).set_index("activation"), digits=2,
      caption="With even sizes the first crop is no longer final: relative output "
      "difference for an input low-passed to the first window")

# %% [markdown]
# ### Where the energy goes
#
# A pointwise non-linearity in space is a convolution in frequency: $\sigma(u)$ contains
# products of $u$'s frequencies, so it moves energy both up (harmonics, sharper edges)
# and down (sums and differences of nearby frequencies, rectification). We measure both
# directions on the first layer, seen on the full 64×64 grid, as the share of the non-DC
# energy that lies outside the first window ($|k|$ or $|l| > 15$):
#
# * **act-pool**: in $u = w_1 * x$ and in $\sigma(u)$; the pooling then drops that share;
# * **pool-act**: in the band-limited $u = \mathrm{LP}_{31}(w_1 * x)$, which has none by
#   construction, and in $\sigma(u)$. On the 31×31 grid where the network actually
#   computes $\sigma$, there is no room for it: that energy aliases back into the window.

# %%
def share_outside(v, m=31):
    """Share of the non-DC energy of each map outside the centred window of size m."""
    power = torch.fft.fft2(v).abs() ** 2
    power[..., 0, 0] = 0
    outside = power * ~window_mask(SIZE, m)
    return (outside.sum((-2, -1)) / power.sum((-2, -1))).flatten().numpy()


energy_rows = []
for act_name, act in list(ACTIVATIONS.items())[:3]:
    for seed in range(n_seeds):
        u = conv(x_img, random_filters(seed)[0])
        u_lp = lowpass(u, 31)
        energy_rows.append({"activation": act_name, "seed": seed,
                            "act-pool: before σ": share_outside(u).mean(),
                            "act-pool: after σ": share_outside(act(u)).mean(),
                            "pool-act: before σ": share_outside(u_lp).mean(),
                            "pool-act: after σ": share_outside(act(u_lp)).mean()})
energy_table = pd.DataFrame(energy_rows).groupby("activation", sort=False).mean().drop(columns="seed")
table(100 * energy_table, digits=2,
      caption="Share (%) of the first layer's non-DC energy outside the first window, "
      "before and after the activation")

# %% [markdown]
# The numbers are modest for random filters, and the sigmoid, nearly linear around zero,
# moves the least. A band-pass filter shows the other direction, the one wavelet
# scattering is built on {cite}`bruna2013scattering`: convolve with an oscillating filter,
# take the modulus, then low-pass. Below, a complex Gabor filter tuned to a frequency
# beyond the first window's edge responds to the photographs. Its real part lives almost entirely outside the window, so a spectral
# pooling right after it would erase it; its modulus, the local amplitude of the
# oscillation, is a slowly varying envelope that lives almost entirely inside the window
# ({numref}`fig-gabor`).

# %%
XI = 0.35  # the Gabor filter's centre frequency, cycles per pixel


def gabor(xi=XI, sigma=3.0):
    """Complex Gabor filter on the circular 64 x 64 grid, oscillating along the width."""
    d = torch.arange(SIZE, dtype=torch.float64)
    d = torch.where(d < SIZE / 2, d, d - SIZE)  # signed circular distance to pixel 0
    envelope = torch.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma**2))
    psi = envelope * torch.exp(2j * torch.pi * xi * d[None, :])
    return psi / psi.abs().sum()


response = torch.fft.ifft2(torch.fft.fft2(x_img) * torch.fft.fft2(gabor()))
real = response.real / response.real.std()
after = {"real part (no activation)": real, "modulus |·|": response.abs(),
         "ReLU of the real part": torch.relu(real), "sigmoid of the real part": torch.sigmoid(real)}
print(f"Gabor centre frequency {XI} cycles/pixel = column frequency {XI * SIZE:.1f} of the "
      f"{SIZE}-pixel grid; the first window ends at 15 ({15 / SIZE:.2f} cycles/pixel)")
scatter_table = pd.DataFrame({name: {"non-DC energy inside the first window (%)":
                                     100 * (1 - share_outside(v).mean())}
                               for name, v in after.items()}).T
table(scatter_table, digits=2, caption="How much of the Gabor response's non-DC energy each "
      "activation puts inside the first window")

# %% mystnb={"figure": {"caption": "A photograph tile, the real part and the modulus of its response to a complex Gabor filter (top), and their spectra with the first pooling window, 31×31, dashed (bottom). The modulus moves the oscillation's energy into the window.", "name": "fig-gabor"}}
fig, axes = plt.subplots(2, 3, figsize=(MAX_WIDTH, 5.0), constrained_layout=True)
sample = 0
for ax, img, title in zip(axes[0], [x_img[sample, 0], real[sample, 0], response.abs()[sample, 0]],
                          ["input tile", "Gabor response, real part", "Gabor response, modulus"]):
    ax.imshow(img, cmap="gray")
    ax.set_title(title)
    ax.set_axis_off()
for ax, img, title in zip(axes[1], [x_img[sample, 0], real[sample, 0], response.abs()[sample, 0]],
                          ["input", "real part", "modulus"]):
    plot_log_spectrum(img, ax=ax, title=f"spectrum of the {title}", colorbar=False)
    window = ax.add_patch(Rectangle((-15.5, -15.5), 31, 31, fill=False, edgecolor="cyan",
                                    linestyle="--", linewidth=1.5,
                                    label="first pooling window (31×31)"))
# Below the panels, on white: a legend on the dark spectrum could not be read.
fig.legend(handles=[window], loc="outside lower center")
plt.show()

# %% [markdown]
# That is the mechanism of Answer B's last sentence: with a learned filter bank in front
# and a non-linearity between filter and pooling, information carried by high input
# frequencies can be demodulated into low ones and survive the crop. In the act-pool
# order this happens within a layer; in the pool-act order it happens from one layer to
# the next (the first crop is final for the input, but what the second layer crops is
# the activation's output, not the input).
#
# ## Trained filters
#
# Everything so far used random filters. Training could change the picture: a network
# could learn first-layer filters that pass little beyond the first window, so that the
# act-pool order would lose nothing there either, or a classifier could end up relying
# on nothing but what the final window keeps. So we train two small classifiers, one per
# order, and measure the same things on their learned filters. Each has two layers of a
# 5×5 circular convolution (8, then 16 channels), spectral pooling to odd sizes
# (`hybridlib.book.lowpass.odd_sizes`: 32 → 15 → 7), batch normalisation and a ReLU, then a
# linear classifier of the last map:
#
# * **pool-act**: convolution → pooling → batch norm → ReLU, the order of the book's
#   ResNet (see below);
# * **act-pool**: convolution → batch norm → ReLU → pooling.
#
# Both networks start from the same weights and see the same batches of the profile's
# data set (Fashion-MNIST {cite}`xiao2017fashion`, padded to 32×32, in the published
# book; the small synthetic stripes set in the `smoke` profile). On held-out test images, in
# float64, we measure the relative change of the last map $N(x)$ when the input is
# low-passed to the first and to the final window (as in the table of random filters),
# the test accuracy on the original and on the low-passed inputs, and the energy shares
# of the previous section for the trained first layer (outside the first window, before
# and after the ReLU).

# %%
image_set = load_dataset(PROFILES[profile]["datasets"][0])  # `data` is scikit-image's module
if not quick:
    image_set = image_set.subset(train=20_000, test=1_000)  # under a minute on one core
smoke_training = {"steps": 30, "batch_size": 64}  # seconds, on the smoke profile's gratings
trained = trained_lowpass_table(image_set, test_images=None, **(smoke_training if quick else {}))
table(trained_percent(trained), caption=trained_caption(trained))

# %% tags=["remove-cell"]
# What the prose around the generated sentences says without numbers:
assert trained.loc["pool-act", COLUMNS["first"]] < EXACT  # the first crop is final
assert trained.loc["act-pool", COLUMNS["first"]] > CHANGED  # the ReLU leaks into it
assert (trained[COLUMNS["final"]] > CHANGED).all()  # neither is a final-window blur

# %% tags=["remove-input"]
md(describe_trained(trained))

# %% [markdown]
# Training does not change the structure of the argument, and the exact identity of the
# pool-act order holds for the learned filters as it must: it follows from the order of
# the operations, whatever the filters. What the trained networks add is the size of
# the effects that matter to a classifier. In the act-pool order the learned filters
# and the ReLU carry input frequencies beyond the first window into the output; and in
# both orders the network's output changes when its input is reduced to the final
# window, so a trained spectral-pooling network is not a classifier of the blurred
# image either. The accuracy columns say how much of what the networks use lies beyond
# each window.
#
# ## Verdict

# %% tags=["remove-input"]
pa, ap = t.xs("pool-act", level="order"), t.xs("act-pool", level="order")
toy_spread = pd.DataFrame(probe_rows).set_index("order")["max |ratio 1 - ratio 2| / max |ratio 1|"]
trained_first, trained_final = trained[COLUMNS["first"]], trained[COLUMNS["final"]]
verdict = pd.DataFrame([
    {"claim": "The network equals the final-window low-pass of its input (the question)",
     "act-pool": f"false: N(LP15 x) differs by {ap.loc[nonlinear, 'N(x) vs N(LP15 x) mean'].min():.2f}–"
                 f"{ap.loc[nonlinear, 'N(x) vs N(LP15 x) mean'].max():.2f}; "
                 f"trained (final window): {trained_final['act-pool']:.2f}",
     "pool-act (Rippel)": f"false: N(LP15 x) differs by "
                          f"{pa.loc[nonlinear, 'N(x) vs N(LP15 x) mean'].min():.2f}–"
                          f"{pa.loc[nonlinear, 'N(x) vs N(LP15 x) mean'].max():.2f}; "
                          f"trained (final window): {trained_final['pool-act']:.2f}",
     "without activation": "true (linear control)"},
    {"claim": "No fixed low-pass filter reproduces the pipeline (Answer A)",
     "act-pool": f"true: toy ratios differ by {toy_spread['act-pool']:.0%}",
     "pool-act (Rippel)": f"true: toy ratios differ by {toy_spread['pool-act']:.0%}",
     "without activation": "false: the pipeline is a filter"},
    {"claim": "The first pooling discards the filtered input's high frequencies (Answer B)",
     "act-pool": f"false: N(LP31 x) differs by {ap.loc[nonlinear, 'N(x) vs N(LP31 x) mean'].min():.2f}–"
                 f"{ap.loc[nonlinear, 'N(x) vs N(LP31 x) mean'].max():.2f}; "
                 f"trained (first window): {trained_first['act-pool']:.2f}",
     "pool-act (Rippel)": f"true: N(LP31 x) = N(x) to "
                          f"{pa['N(x) vs N(LP31 x) mean'].max():.0e}; "
                          f"trained (first window): to {trained_first['pool-act']:.0e}",
     "without activation": "true"},
]).set_index("claim")
table(verdict, caption="Which claim holds, in which order: random filters on photographs, "
      "and the trained networks (whose windows are the first and the final one of a 32×32 "
      "grid); numbers from the cells above")

# %% [markdown]
# In words: the question's intuition is right for a linear network and wrong for any
# network with activations. Answer A is right in both orders, since the non-linearities
# make the input-output relation signal-dependent. Answer B is right about Rippel's
# order: there, the first spectral pooling is a genuine, exact low-pass of the filtered
# input, and no later layer can recover what it removed; what the later poolings remove
# is the activations' re-mapped content, not the input's. With the opposite order even
# the first layer lets high input frequencies through the window, via the
# non-linearity. Neither order turns the network into a blurred-input classifier, but
# in Rippel's order the first layer's window does set a hard limit on the input
# resolution the network can use, which is worth remembering when choosing where to put
# spectral pooling (the Hybrid paper places it late, one level above global average
# pooling {cite}`hybrid2024`).
#
# **The book's own networks.** The ResNet of the [architectures chapter](04_architectures.ipynb)
# downsamples inside a residual block as convolution → pooling → batch normalisation →
# ReLU → convolution. Here are the lines of `hybridlib.resnet.PreActBlock.forward` that
# build the pooled paths:

# %%
forward_lines = [line.strip() for line in inspect.getsource(PreActBlock.forward).splitlines()]
shown = [line for line in forward_lines if line.startswith(("out =", "skip = self"))]
print("\n".join(shown))

# %% tags=["remove-cell"]
# The prose below reads the order off these lines: pool right after the 3x3 convolution,
# then bn2 and the ReLU; the shortcut pools a 1x1 convolution of the block's input.
assert shown[0] == "out = self.pool(self.conv1(F.relu(self.bn1(x))))", shown
assert shown[1] == "out = self.conv2(F.relu(self.bn2(out)))", shown
assert all("self.pool(" in line and "self.shortcut(" in line for line in shown[2:]), shown

# %% [markdown]
# At inference batch normalisation is a per-channel affine map, which acts on every
# frequency alike, so each pooling of that network is in the pool-act position of
# {eq}`eq-orders`, the order of the trained pool-act network above: the crop is final
# for the frequencies of the convolution's output that it drops, and what the next crop
# drops is the ReLU's re-mapped content. The ReLU *before* the convolution
# (`F.relu(self.bn1(x))`) belongs to the previous layer in this reading: it acts on the
# full-size map, so input frequencies beyond the window can still reach the crop through
# it, as they do from one layer to the next above. The shortcut of a projection block
# goes through the same pooling module, with its 1×1 convolution before or after it (a
# spectral pooling commutes with it); with spectral pooling that path is linear, so its
# crop is an exact low-pass of the block's input. Only identity blocks carry an unpooled
# map around their branch, and they do not pool. This is an argument from the structure
# of the block, checked above on random and on trained filters.
#
# ## Exercises

# %% [markdown] exercise={"id": "2.1", "points": 2, "function": "spectral_activation_torch", "check": "hybridlib.book.selfcheck.check_spectral_activation", "reference": ["hybridlib.book.selfcheck.spectral.spectral_activation_reference"]}
# **Exercise 2.1** (A batched spectral activation). Write the toy's spectral activation
# in PyTorch for a batch of vectors: `spectral_activation_torch(v, slope=1.0)` standardises
# every vector along the last axis (mean and *sample* standard deviation, divisor
# $N - 1$) and applies $\sigma(\text{slope} \cdot z)$. It must work for any number of
# leading dimensions.

# %% tags=["exercise-stub"]
def spectral_activation_torch(v: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """Standardise along the last axis, then a sigmoid.

    Args:
        v: [..., N] real tensor (N >= 2).
        slope: the sigmoid's slope.

    Returns:
        [..., N] tensor: sigmoid(slope * (v - mean) / std), mean and sample std (N - 1)
        taken along the last axis.
    """
    raise NotImplementedError(
        "Exercise 2.1: v.mean(dim=-1, keepdim=True) and v.std(dim=-1, keepdim=True) keep the "
        "last axis for broadcasting; torch.sigmoid does the rest")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 2.1", "code_prompt_hide": "Hide the solution to Exercise 2.1"}
def spectral_activation_torch(v: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """Standardise along the last axis ([..., N]), then a sigmoid."""
    z = (v - v.mean(dim=-1, keepdim=True)) / v.std(dim=-1, keepdim=True)
    return torch.sigmoid(slope * z)


# %% tags=["exercise-check"]
print(check_spectral_activation(spectral_activation_torch))

# %% [markdown] exercise={"id": "2.2", "points": 2, "function": "commuting_input", "check": "hybridlib.book.selfcheck.check_commuting_input"}
# **Exercise 2.2** (An input for which the orders agree). With a ReLU, find a
# non-constant image for which pooling and activation commute:
# $\mathrm{ReLU}(P(x)) = P(\mathrm{ReLU}(x))$ for spectral pooling with stride 2. Write
# `commuting_input(n)` returning such an image as a `[1, 1, n, n]` tensor, for any even
# `n`. The self-check rejects constant images and images that the ReLU zeroes. Then
# explain: is every positive image a solution? Can you find a similar input for the
# sigmoid?

# %% tags=["exercise-stub"]
def commuting_input(n: int) -> torch.Tensor:
    """A non-constant [1, 1, n, n] image x with relu(pool(x)) == pool(relu(x)), stride 2."""
    raise NotImplementedError(
        "Exercise 2.2: where is a ReLU linear? Make sure both x and its pooled version "
        "stay in that region")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 2.2", "code_prompt_hide": "Hide the solution to Exercise 2.2"}
def commuting_input(n: int) -> torch.Tensor:
    """A positive image whose spectral pooling is positive too: 2 + a smooth wave."""
    k = torch.arange(n, dtype=torch.float64)
    wave = torch.cos(2 * torch.pi * k / n)
    return (2.0 + wave[:, None] * wave[None, :])[None, None]


# %% tags=["exercise-check"]
print(check_commuting_input(commuting_input))

# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 2.2", "code_prompt_hide": "Hide the solution to Exercise 2.2"}
text = torch.from_numpy(data.text() / 255.0)[None, None]  # a positive image with sharp edges
pooled = spectral_pool2d(text, stride=2)
gap = (torch.relu(pooled) - spectral_pool2d(torch.relu(text), stride=2)).norm() / pooled.norm()
print(f"text image: min {text.min().item():.2f}, min of its pooled version "
      f"{pooled.min().item():.2f}, relative gap between the orders {gap.item():.1e}")
grid = torch.arange(32, dtype=torch.float64)


def product_wave(cycles, amplitude):
    wave = torch.cos(2 * torch.pi * cycles * grid / 32)
    return (amplitude * wave[:, None] * wave[None, :])[None, None]


def sigmoid_gap(x):
    a = torch.sigmoid(spectral_pool2d(x, stride=2, rescale=True))
    b = spectral_pool2d(torch.sigmoid(x), stride=2, rescale=True)
    return ((a - b).norm() / (b - b.mean()).norm()).item()


for cycles, amplitude in [(5, 0.01), (5, 0.1), (5, 1.0), (1, 1.0)]:
    print(f"sigmoid, a wave of {cycles} cycle(s), amplitude {amplitude}: relative gap between the orders "
          f"{sigmoid_gap(product_wave(cycles, amplitude)):.1e}")


# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 2.2
# :class: dropdown
# A ReLU is the identity on non-negative numbers, so the orders agree whenever both $x$
# and $P(x)$ are non-negative: then $\mathrm{ReLU}(P(x)) = P(x) = P(\mathrm{ReLU}(x))$.
# A positive constant plus a smooth wave of smaller amplitude works; the same image
# shifted down into the negatives works too for the trivial reason that both sides
# vanish, which is why the self-check demands a non-negligible positive part.
#
# Not every positive image is a solution. Spectral pooling is an ideal low-pass filter,
# and an ideal low-pass filter rings: near a sharp edge, its output undershoots below
# the darkest input value. The `text` photograph above is non-negative, yet its pooled
# version goes negative, and the two orders differ. Adding a constant larger than the
# undershoot repairs it.
#
# There is a second, less obvious reason why the solution works: with `rescale=True`,
# spectral pooling of an image band-limited to the output window *is* decimation,
# `x[::2, ::2]` (chapter 1), and decimation commutes with every pointwise function. So
# the orders agree exactly whenever both $x$ and $\sigma(x)$ are band-limited to the
# window. For a ReLU on $2 + $ a wave, $\mathrm{ReLU}(x) = x$ is. A sigmoid is not a
# polynomial, and its output always has some energy at every frequency, so no
# non-constant input makes the orders agree exactly; two kinds of input come close, as
# the printed gaps show. Smooth inputs: a wave of 1 cycle gives harmonics that decay so
# fast that those beyond the window are negligible. Small inputs: around 0,
# $\sigma(u) \approx \tfrac12 + \tfrac u4 - \tfrac{u^3}{48}$, so for a wave of 5 cycles
# the cubic term's harmonics (15 cycles, beyond the window) give a gap of order $u^3$
# against a signal of order $u$: the relative gap grows like $u^2$, a factor 100 per
# factor 10 of amplitude. This is also why the sigmoid rows of the network table are the
# smallest: unit-variance inputs and random filters keep the sigmoid near its linear
# region.
# ```

# %% [markdown] exercise={"id": "2.3", "points": 3, "function": "equivalent_filter", "check": "hybridlib.book.selfcheck.check_equivalent_filter", "reference": ["hybridlib.book.selfcheck.spectral.equivalent_filter_reference"]}
# **Exercise 2.3** (Equivalent filters, and a ReLU instead of a sigmoid). Generalise the
# toy: write `equivalent_filter(spectrum, filters, keeps, activation, order)` for any
# number of stages, any odd window lengths, any activation (a function of a 1-D array)
# and either order; it returns the 9-bin (in general $N$-bin) array output / input on the
# bins of the last window and 0 elsewhere. The measurement after the self-check then
# runs random positive spectra through three activations, standardise + sigmoid,
# standardise + ReLU and a plain ReLU, and reports how much the equivalent filter varies
# from one input to the next (0 means a fixed filter exists). Explain the three results.

# %% tags=["exercise-stub"]
def equivalent_filter(spectrum, filters, keeps, activation, order):
    """Equivalent filter of the toy pipeline for one input.

    Args:
        spectrum: [N] array, N odd, DC at index N // 2, no zero entries.
        filters: one [N] array per stage, indexed like spectrum.
        keeps: one odd window length per stage (centred on N // 2; other bins dropped).
        activation: function of a 1-D array, returning an array of the same length.
        order: "act-pool" or "pool-act".

    Returns:
        [N] array: output / spectrum on the bins of the last window, 0 elsewhere.
    """
    raise NotImplementedError(
        "Exercise 2.3: carry the values and their bin indices (np.arange(N)) through the "
        "stages, as toy_network does, then divide by spectrum at the surviving indices")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 2.3", "code_prompt_hide": "Hide the solution to Exercise 2.3"}
def equivalent_filter(spectrum, filters, keeps, activation, order):
    """Equivalent filter (output / input per bin) of the toy pipeline; 0 off the last window."""
    n = len(spectrum)
    where, v = np.arange(n), np.asarray(spectrum, dtype=float)
    for filt, keep in zip(filters, keeps):
        v = v * np.asarray(filt)[where]
        if order == "act-pool":
            v = activation(v)
        inside = np.abs(where - n // 2) <= keep // 2
        v, where = v[inside], where[inside]
        if order == "pool-act":
            v = activation(v)
    ratio = np.zeros(n)
    ratio[where] = v / np.asarray(spectrum, dtype=float)[where]
    return ratio


# %% tags=["exercise-check"]
print(check_equivalent_filter(equivalent_filter))

# %%
rng = np.random.default_rng(0)
inputs = rng.uniform(0.5, 4.0, size=(50 if quick else 200, 9))
toy_activations = {
    "standardise + sigmoid": spectral_activation,
    "standardise + ReLU": lambda v: np.maximum((v - v.mean()) / max(v.std(ddof=1), 1e-12), 0.0),
    "plain ReLU": lambda v: np.maximum(v, 0.0)}
spread_rows = []
for act_name, act in toy_activations.items():
    for order in ORDERS:
        r = np.stack([equivalent_filter(s, [F1, F2], (7, 5), act, order) for s in inputs])
        r = r[:, np.abs(np.arange(9) - CENTRE) <= 2]
        spread_rows.append({"activation": act_name, "order": order,
                            "spread: max over bins of std/|mean| across inputs":
                                (r.std(0) / np.maximum(np.abs(r.mean(0)), 1e-12)).max(),
                            "bins with ratio 0 (%)": 100 * (r == 0).mean()})
table(pd.DataFrame(spread_rows).set_index(["activation", "order"]), formats={
      "spread: max over bins of std/|mean| across inputs": "{:.3f}",
      "bins with ratio 0 (%)": "{:.0f}"},
      caption="How much the equivalent filter of your function varies across inputs, per "
      "activation and order")

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 2.3
# :class: dropdown
# *Plain ReLU.* The toy's spectra and filters are non-negative, so a ReLU never
# clips anything: it is the identity on every vector it sees. The pipeline is then
# linear and diagonal, and its equivalent filter is $F_1 F_2$ restricted to the last
# window for every input, in both orders: a fixed filter exists (spread 0; the one bin in
# five with a zero ratio is DC, where $F_2$ vanishes). Here the question's intuition is
# exactly right.
#
# *Standardise + ReLU.* The standardisation is affine with coefficients that depend on
# the input (its mean and standard deviation), and it makes the output independent of
# the input's scale, so the ratio cannot be fixed. The ReLU adds a second
# input-dependent effect: the bins below the mean are set to 0 (the second column), and
# which bins those are changes from input to input. Between those zeros, the ReLU is
# linear, so the remaining variation is that of the standardisation alone.
#
# *Standardise + sigmoid.* The same standardisation, followed by a non-linearity that is
# curved everywhere: every bin's gain depends on its own value, so the equivalent filter
# varies smoothly with the input and is never zero.
#
# The lesson is that the "equivalent filter" test of Answer A detects any input
# dependence, including the standardisation's, which is not what a network's ReLU does
# in space. In a real network the ReLU acts on spatial values of both signs, and the
# 2-D experiment above shows that it then moves energy between frequencies.
# ```

# %% [markdown]
# ```{admonition} Key takeaways
# :class: takeaways
# * Without activations, stacked spectral pooling is one low-pass filter of the input;
#   with any non-linearity it is not, in either order.
# * With the activation after the pooling (Rippel's order, and the book's ResNet), the
#   first crop is an exact low-pass of the filtered input: later layers cannot recover
#   what it removed.
# * With the activation before the pooling, high input frequencies reach the window
#   through the non-linearity, within the same layer.
# * A modulus or a ReLU after an oscillating filter demodulates high frequencies into low
#   ones, which is how information carried by them can survive later crops.
# * Trained filters confirm it: the pool-act identity holds exactly for the learned
#   filters, and in both orders a trained classifier's output changes when its input is
#   reduced to the final window.
# ```
