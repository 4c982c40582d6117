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
# # Spectral pooling, derived
#
# Spectral pooling {cite}`rippel2015spectral` shrinks a feature map by going to the
# frequency domain, keeping a centred window of low frequencies and coming back at the
# smaller size. The Hybrid paper {cite}`hybrid2024` places one such layer one level above
# global average pooling (GAP), at the end of the network (the position `head` of the
# [architectures chapter](04_architectures.ipynb)), and DiffStride
# {cite}`riad2022diffstride` is the same operation
# with a learnable window. This chapter builds the layer from the discrete Fourier
# transform (DFT) up, on real photographs:
#
# 1. the DFT of a real image and the symmetry that lets us store half of it;
# 2. why cropping the centred window is *resampling* with an ideal low-pass filter, and
#    the exact identity that tests an implementation;
# 3. the corner cases: the Nyquist bins of even sizes, what the official DiffStride code
#    does with them, the amplitude factor, and odd sizes;
# 4. spectral pooling next to max pooling, average pooling and plain subsampling;
# 5. Rippel's information-preservation experiment, measured on faces and photographs.
#
# Every number quoted in the text is computed by the cells above it.

# %% [markdown]
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * write the 2-D DFT of a real image and say which of its bins must be real;
# * explain why cropping the centred spectrum is low-pass resampling, and test a spectral
#   pooling layer with the decimation identity {eq}`eq-decimation`;
# * name the corner cases (the Nyquist bins of even sizes, the amplitude factor, odd
#   sizes) and how the official DiffStride code treats them;
# * compare spectral, max, average and strided pooling by eye and by reconstruction error.
#
# **Prerequisites:** the discrete Fourier transform in one dimension, complex numbers,
# NumPy and a first look at PyTorch tensors `[B, C, H, W]`.
# ```

# %% tags=["parameters"]
profile = "cpu"

# %%
quick = profile == "smoke"

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.fft
import scipy.signal
import torch
import torch.nn.functional as F
from IPython.display import display
from skimage import color, data, transform

from hybridlib.book.formatting import md, num, pct, pm, table
from hybridlib.book.plots import MAX_WIDTH, plot_log_spectrum, plot_mean_std, show_images
from hybridlib.book.selfcheck import check_fourier_resample, check_spectral_crop
from hybridlib.spectral import spectral_pool2d


# %%
def grey(name):
    """A scikit-image photograph as a float64 greyscale image with values in [0, 1]."""
    img = getattr(data, name)()
    return color.rgb2gray(img) if img.ndim == 3 else img / 255.0


def pool(img, **kwargs):
    """spectral_pool2d on one 2-D NumPy image (a [1, 1, H, W] batch underneath)."""
    return spectral_pool2d(torch.from_numpy(img)[None, None], **kwargs)[0, 0].numpy()


def fourier_resample(img, size):
    """Fourier (periodic sinc) resampling with SciPy, along the height then the width."""
    return scipy.signal.resample(scipy.signal.resample(img, size[0], axis=-2), size[1], axis=-1)


def rel_err(a, b):
    """||a - b|| / ||b||."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# %% [markdown]
# ## The DFT of a real image
#
# For an image $x$ of $H \times W$ pixels the 2-D DFT is
#
# $$
# X[k, l] = \sum_{n=0}^{H-1} \sum_{m=0}^{W-1} x[n, m]\,
#           e^{-2\pi i \left(\frac{k n}{H} + \frac{l m}{W}\right)},
# \qquad
# x[n, m] = \frac{1}{HW} \sum_{k, l} X[k, l]\, e^{2\pi i \left(\frac{k n}{H} + \frac{l m}{W}\right)} .
# $$
#
# The indices are periodic: $k$ and $k + H$ are the same frequency, so we may write the
# rows as $k = -\lfloor H/2 \rfloor, \dots, \lceil H/2 \rceil - 1$ with the low
# frequencies in the middle, which is what `fftshift` arranges for a picture. When $x$
# is real, conjugating the sum flips the sign of the exponent:
#
# $$ X[-k, -l] = \overline{X[k, l]} . $$ (eq-conjugate-symmetry)
#
# Half of the spectrum therefore determines the other half, which is why `rfft2` stores
# only the columns $l = 0, \dots, \lfloor W/2 \rfloor$. A bin that is its own mirror,
# $(k, l) \equiv (-k, -l)$, must hold a real number. Besides DC, that happens only where
# both $k \in \{0, H/2\}$ and $l \in \{0, W/2\}$: for an even-by-even image the three
# corner bins $(H/2, 0)$, $(0, W/2)$ and $(H/2, W/2)$. The rest of the Nyquist row
# $k = H/2$ is *not* real: $X[H/2, l]$ and $X[H/2, -l]$ are conjugate partners of each
# other. Let us check both facts on the classic camera-man photograph
# ({numref}`fig-camera-spectrum`).

# %%
cam = grey("camera")
H, W = cam.shape
X = np.fft.fft2(cam)
mirror = np.conj(X[(-np.arange(H)) % H][:, (-np.arange(W)) % W])  # conj X[-k, -l]
symmetry_error = np.abs(X - mirror).max() / np.abs(X).max()
self_conjugate = [(0, 0), (0, W // 2), (H // 2, 0), (H // 2, W // 2)]
imag_error = max(abs(X[k].imag) for k in self_conjugate) / np.abs(X).max()
print(f"image {H}x{W}; max |X[k,l] - conj X[-k,-l]| / max |X| = {symmetry_error:.1e}")
print(f"largest imaginary part on the 4 self-conjugate bins / max |X| = {imag_error:.1e}")
print(f"fft2 stores {X.size} complex numbers, rfft2 {np.fft.rfft2(cam).size}")

# %% mystnb={"figure": {"caption": "The camera-man photograph and its centred log-magnitude spectrum: most of the energy sits at low frequencies, around DC in the middle.", "name": "fig-camera-spectrum"}}
fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH, 3.1), constrained_layout=True)
axes[0].imshow(cam, cmap="gray")
axes[0].set_title(f"camera, {H}x{W}")
axes[0].set_axis_off()
plot_log_spectrum(cam, ax=axes[1], title="centred log-magnitude spectrum")
plt.show()


# %% [markdown]
# The bright centre is the point of the whole method: photographs put most of their
# energy in low frequencies. The cross along the two axes comes from the DFT's view of
# the image as one tile of a periodic pattern: the jump between the bottom and the top
# rows (and between the left and the right columns) is a sharp edge, and sharp edges
# spread over all frequencies. Keep that cross in mind; it comes back in the
# information-preservation experiment.
#
# How much energy does a centred window hold? By Parseval's identity the energy of the
# image is $\frac{1}{HW}\sum |X|^2$, so we can simply add up $|X|^2$ inside windows that
# keep one coefficient in $S^2$ for a stride $S$.


# %%
def centred_window(n, m):
    """Boolean mask of the m frequencies -(m//2) .. (m-1)//2 in FFT order of length n."""
    k = np.fft.fftfreq(n) * n
    return (k >= -(m // 2)) & (k <= (m - 1) // 2)


power = np.abs(X) ** 2
energy_rows = []
for s in (2, 4, 8, 16):
    inside = centred_window(H, H // s)[:, None] & centred_window(W, W // s)[None, :]
    energy_rows.append({"stride S": s, "coefficients kept": f"1/{s * s}",
                        "energy kept": power[inside].sum() / power.sum(),
                        "energy kept without DC": (power[inside].sum() - power[0, 0])
                        / (power.sum() - power[0, 0])})
energy_table = pd.DataFrame(energy_rows).set_index("stride S")
table(energy_table, formats={"energy kept": pct, "energy kept without DC": pct},
      caption="The camera image's energy inside a centred window that keeps one coefficient "
      "in S², with and without the mean (the DC bin)")

# %% tags=["remove-input"]
md(f"A centred window with 1/16 of the coefficients holds "
   f"{100 * energy_table.loc[4, 'energy kept']:.2f} % of the camera image's energy "
   f"({100 * energy_table.loc[4, 'energy kept without DC']:.1f} % once the mean, the DC "
   f"bin, is left out); with 1/256 of them it still holds "
   f"{100 * energy_table.loc[16, 'energy kept without DC']:.1f} % of the non-DC energy.")

# %% [markdown]
# ## Cropping the centred window is low-pass resampling
#
# Spectral pooling to $h \times w$ keeps the frequencies
# $k = -\lfloor h/2 \rfloor .. \lceil h/2 \rceil - 1$ and
# $l = -\lfloor w/2 \rfloor .. \lceil w/2 \rceil - 1$ and applies the inverse DFT of size
# $h \times w$. Why is that a sensible way to shrink an image?
#
# Take an integer stride $S$ with $H = S h$ and decimate, $y[n] = x[S n]$. Inserting the
# inverse DFT of $x$ and summing the geometric series over $n$ (one axis; the second is
# identical) gives
#
# $$ Y[k] = \frac{1}{S} \sum_{j \equiv k \ (\mathrm{mod}\ h)} X[j] $$ (eq-aliasing)
#
# Each output bin is the sum of all input bins that *alias* onto it. If $x$ has no energy
# at $|j| \ge h/2$, only $j = k$ survives and $Y[k] = X[k] / S$: decimating a
# band-limited image is exactly cropping its spectrum, up to the factor $1/S$ per axis.
# With the inverse DFT normalised by $1/(hw)$, cropping alone returns
# $(HW)/(hw) \cdot y$, so
#
# $$ \frac{hw}{HW}\,\mathrm{SpectralPool}(x) = x[::S_h, ::S_w]
#    \quad \text{for band-limited } x . $$ (eq-decimation)
#
# That is the `rescale=True` option of `hybridlib.spectral.spectral_pool2d`, and the
# cleanest correctness test of a spectral pooling layer. For an image that is *not*
# band-limited, decimation folds the high frequencies onto the low ones (aliasing),
# while the crop simply drops them: spectral pooling is an ideal low-pass filter
# followed by decimation. The same pair "zero the high frequencies, sample" is also
# sinc interpolation on a periodic grid, which is what `scipy.signal.resample`
# implements, so we can compare all three on the camera image, shrunk to 128×128.

# %%
small = transform.downscale_local_mean(cam, (4, 4))  # 128 x 128, averaged 4x4 blocks
N = small.shape[0]


def band_limit(img, cutoff, keep_cutoff=False):
    """Zero every DFT bin with |k| >= cutoff on either axis (|k| > cutoff if keep_cutoff)."""
    k = np.abs(np.fft.fftfreq(img.shape[0]) * img.shape[0])
    inside = k <= cutoff if keep_cutoff else k < cutoff
    return np.fft.ifft2(np.fft.fft2(img) * (inside[:, None] & inside[None, :])).real


resample_rows = []
for s in (2, 4, 8):
    m = N // s
    inputs = {"photo": small,
              "band-limited below the new Nyquist m/2": band_limit(small, m / 2),
              "band-limited, new Nyquist m/2 included": band_limit(small, m / 2,
                                                                   keep_cutoff=True)}
    for label, img in inputs.items():
        target = img[::s, ::s]
        resample_rows.append({"input": label, "stride": s, "output": f"{m}×{m}",
                              "spectral pooling, rescaled":
                                  rel_err(pool(img, stride=s, rescale=True), target),
                              "SciPy's resample": rel_err(fourier_resample(img, (m, m)),
                                                          target)})
resample_table = pd.DataFrame(resample_rows).set_index(["input", "stride", "output"])
table(resample_table, digits=2,
      caption="Relative difference ‖y − x[::S, ::S]‖ / ‖x[::S, ::S]‖ between each resampler's "
      "output y and plain decimation")

# %% [markdown]
# Three things to read in the table:
#
# * on the images band-limited below the new Nyquist frequency both resamplers reproduce
#   plain decimation to rounding error: the identity holds;
# * on the photograph itself they differ from decimation by the aliased energy, which
#   grows with the stride; spectral pooling and SciPy agree with each other there;
# * with energy exactly *at* the new Nyquist frequency $|k| = m/2$ the library and SciPy
#   part ways. That bin needs its own section.

# %% tags=["remove-input"]
limited = resample_table.xs("band-limited below the new Nyquist m/2", level="input")
photo = resample_table.xs("photo", level="input")
md(f"Band-limited below the new Nyquist frequency, both reproduce decimation to rounding "
   f"error (within {num(limited.to_numpy().max(), 1)}); on the photograph both are off by up "
   f"to {num(photo.to_numpy().max(), 2)}, and by nearly the "
   f"same amount (at most {num((photo.iloc[:, 0] - photo.iloc[:, 1]).abs().max(), 1)} apart), "
   f"which is the aliased energy that decimation keeps and the two resamplers drop.")

# %% [markdown]
# ## Corner cases: Nyquist bins, the official rule, odd sizes
#
# ### Even sizes and the official layer
#
# When the output length $h$ is even, the crop meets the *Nyquist* bin $k = h/2$ of the
# small grid, where $+h/2$ and $-h/2$ are the same frequency. In the large grid they are
# two different bins, $X[h/2]$ and $X[-h/2] = \overline{X[h/2]}$, and the aliasing sum
# {eq}`eq-aliasing` says decimation adds both:
# $Y[h/2] = (X[h/2] + X[-h/2])/S = 2\,\mathrm{Re}\,X[h/2]/S$.
#
# The official DiffStride repository's `FixedSpectralPooling`
# {cite}`diffstride2022readme` (the spectral baseline of the DiffStride and Hybrid
# papers) does something simpler. With $h = H // S_h$ rounded
# down to an even number and $w = W // S_w$ (both at least 2), it takes `rfft2`, keeps
# rows $[0, h/2)$ and $[H - h/2, H)$ (so the Nyquist row comes from the negative side
# only) and columns $[0, w/2 + 1)$, then calls `irfft2` at size $(h, w)$, with no
# rescaling. Written out in a few lines of PyTorch, it agrees with the library on even
# inputs:


# %%
def official_fixed_spectral_pool(x, stride):
    """The official FixedSpectralPooling rule, re-expressed in PyTorch ([B, C, H, W])."""
    height, width = x.shape[-2:]
    h = max(height // stride[0], 2)
    h -= h % 2
    w = max(width // stride[1], 2)
    spectrum = torch.fft.rfft2(x)[..., : w // 2 + 1]
    rows = torch.cat((spectrum[..., : h // 2, :], spectrum[..., height - h // 2 :, :]), dim=-2)
    return torch.fft.irfft2(rows, s=(h, w))


x_cam = torch.from_numpy(small)[None, None]
official_rows = []
for size, stride in [((128, 128), (2, 2)), ((128, 96), (2, 3)), ((64, 128), (4, 2)),
                     ((96, 96), (3, 3))]:
    x = x_cam[..., : size[0], : size[1]]
    a, b = official_fixed_spectral_pool(x, stride), spectral_pool2d(x, stride=stride)
    official_rows.append({"input": f"{size[0]}×{size[1]}", "stride": str(stride),
                          "official": "×".join(map(str, a.shape[-2:])),
                          "hybridlib": "×".join(map(str, b.shape[-2:])),
                          "max |difference|": (a - b).abs().max().item()})
table(pd.DataFrame(official_rows).set_index("input"),
      caption="Output size of the official rule and of hybridlib on even inputs, and the "
      "largest difference between their outputs")

# %% [markdown]
# ### The amplitude factor
#
# Without rescaling, the output is the decimated image multiplied by $(HW)/(hw)$: the
# DC bin $X[0,0] = \sum x$ is kept as is but the inverse DFT divides by the smaller
# $hw$. A constant image shows it best; the official layers leave this factor to the
# batch normalisation that follows them.

# %%
amplitude_rows = []
for size_in, size_out in [(32, 24), (32, 16), (128, 64), (128, 32)]:
    ones = torch.ones(1, 1, size_in, size_in, dtype=torch.float64)
    out = spectral_pool2d(ones, output_size=size_out)
    amplitude_rows.append({"input": f"{size_in}×{size_in}", "output": f"{size_out}×{size_out}",
                           "output value of a constant 1": out.mean().item(),
                           "(H W) / (h w)": size_in**2 / size_out**2})
table(pd.DataFrame(amplitude_rows).set_index(["input", "output"]),
      caption="Spectral pooling without rescaling multiplies a constant image by (HW)/(hw)")

# %% [markdown]
# ### The Nyquist bin: one side instead of the fold
#
# Decimation, and SciPy's resampler, which *folds* the two bins together, put
# $X[h/2, l] + X[-h/2, l]$ into the output's Nyquist row; the official layer puts
# $X[-h/2, l]$ alone. In the column $l = 0$ (and for any 1-D signal) the two bins are
# complex conjugates, and since `irfft2` must return a real signal it keeps the real
# part of what it is handed, $\mathrm{Re}\,X[-h/2, 0]$: exactly half of the folded value
# $2\,\mathrm{Re}\,X[h/2, 0]$. A cosine sitting on the new Nyquist frequency makes the
# difference visible.

# %%
n = np.arange(32)
nyquist_wave = np.cos(2 * np.pi * 8 * n / 32 + 0.3)[:, None] * np.ones((1, 8))  # 32 x 8
target = nyquist_wave[::2, :]  # stride 2 along the height only: 16 x 8
lib = pool(nyquist_wave, output_size=(16, 8), rescale=True)
sci = fourier_resample(nyquist_wave, (16, 8))
nyquist_ratio_lib = np.abs(lib).max() / np.abs(target).max()
nyquist_ratio_sci = np.abs(sci).max() / np.abs(target).max()

# %% tags=["remove-input"]
md(f"A cosine of 8 cycles over 32 rows, pooled to 16 rows: spectral pooling returns "
   f"**{nyquist_ratio_lib:.3f}** times the decimated amplitude, SciPy's folded resampler "
   f"**{nyquist_ratio_sci:.3f}** times. Exercise 1.3 implements the fold.")

# %% [markdown]
# Which one is right depends on the job. Decimation-consistency (the fold) is what makes
# the identity of the previous section hold with energy at the new Nyquist frequency.
# For pooling inside a network the difference is one row and one column of the output's
# spectrum, and a batch normalisation follows; `hybridlib` keeps the official
# behaviour for even sizes so that its spectral baseline is the one the papers ran.
#
# ### Odd sizes: a symmetric window
#
# An odd length has no Nyquist bin: every frequency $k \neq 0$ has a distinct partner
# $-k$, and an odd window $-(m-1)/2 .. (m-1)/2$ is perfectly symmetric. The official rule
# forces only the *height* to be even, so a 31×31 input with stride 2 becomes 14×15: a
# square image turns into a non-square one, and its 14 rows keep the frequency $-7$ but
# not $+7$. `hybridlib` makes both axes odd for odd inputs (31×31 → 15×15). To see what
# each rule actually passes, we feed both layers every real cosine
# $\cos\big(2\pi(k n/31 + l m/31)\big)$ and measure the gain, the RMS of the output over
# the RMS of the input, after undoing the amplitude factor ({numref}`fig-odd-gain`).

# %%
size_rows = []
for size, s in [((31, 31), 2), ((33, 33), 2), ((31, 32), 2), ((45, 45), 3)]:
    zeros = torch.zeros(1, 1, *size)
    size_rows.append({"input": f"{size[0]}×{size[1]}", "stride": s,
                      "official": "×".join(map(str, official_fixed_spectral_pool(
                          zeros, (s, s)).shape[-2:])),
                      "hybridlib": "×".join(map(str, spectral_pool2d(zeros, stride=s).shape[-2:]))})
table(pd.DataFrame(size_rows).set_index("input"),
      caption="Output size of the official rule and of hybridlib on odd inputs")

# %%
M = 31
freqs = np.arange(-(M // 2), M // 2 + 1)
grid = np.arange(M)
waves = np.stack([np.cos(2 * np.pi * (k * grid[:, None] + j * grid[None, :]) / M + 0.4)
                  for k in freqs for j in freqs])
waves_t = torch.from_numpy(waves)[:, None]


def gain(out):
    """RMS of each output map after undoing the amplitude factor, over the input RMS."""
    h, w = out.shape[-2:]
    rms_out = (out * h * w / M**2).pow(2).mean(dim=(-2, -1)).sqrt()[:, 0]
    return (rms_out / waves_t.pow(2).mean(dim=(-2, -1)).sqrt()[:, 0]).reshape(M, M).numpy()


# %% mystnb={"figure": {"caption": "Gain of every real cosine wave (k, l) of a 31×31 input pooled with stride 2: the official rule (left) keeps a lopsided window, hybridlib's odd window (right) passes |k|, |l| ≤ 7 in full.", "name": "fig-odd-gain"}}
out_official = official_fixed_spectral_pool(waves_t, (2, 2))
out_hybrid = spectral_pool2d(waves_t, stride=2)
fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH, 3.3), constrained_layout=True)
for ax, out, name in [(axes[0], out_official, "official rule"), (axes[1], out_hybrid, "hybridlib")]:
    art = ax.imshow(gain(out), cmap="viridis", vmin=0, vmax=1,
                    extent=(freqs[0] - 0.5, freqs[-1] + 0.5, freqs[-1] + 0.5, freqs[0] - 0.5))
    ax.set_title(f"{name}: 31×31 → {out.shape[-2]}×{out.shape[-1]}")
    ax.set_xlabel("column frequency $l$")
    ax.set_ylabel("row frequency $k$")
fig.colorbar(art, ax=axes, label="gain (output RMS / input RMS)", shrink=0.85)
plt.show()

# %% tags=["remove-input"]
official_gain, hybrid_gain = gain(out_official), gain(out_hybrid)
band = np.abs(freqs) <= 7
edge = official_gain[freqs == 7][0, band]  # the waves (7, l); (-7, -l) is the same wave
md(
    f"Inside the square |k|, |l| ≤ 7, `hybridlib` passes every wave with gain 1 (to "
    f"{np.abs(hybrid_gain[np.ix_(band, band)] - 1).max():.0e}). The official rule passes the "
    f"waves with |k| ≤ 6 in full, but of the {edge.size} distinct waves with |k| = 7 "
    f"it passes {(edge > 0.99).sum()}, drops {(edge < 0.01).sum()}, and the wave (7, 0) "
    f"comes out with gain {official_gain[freqs == 7, freqs == 0][0]:.2f}.")

# %% [markdown]
# The official window is lopsided. A real wave $(k, l)$ is the same as $(-k, -l)$, and
# the 14 rows keep the frequency $-7$ only, on the `rfft2` columns $l \ge 0$: so the
# waves $(-7, l)$ with $l > 0$ (equivalently $(7, -l)$) pass, the waves $(7, l)$ with
# $l > 0$ are lost. The wave $(7, 0)$ lands on the output's Nyquist row with only the
# real part of $X[-7, 0]$, half of what decimation would give; its gain then depends on
# its phase, as for any Nyquist component. The output grid is also non-square: its rows are spaced by
# $31/14$ input pixels, its columns by $31/15$.

# %% [markdown]
# ## Spectral pooling next to max, average and strided pooling
#
# Time to look at pictures. We shrink four photographs, cropped to a centred square and
# resized to 256×256, with four operators at strides 2, 4 and 8: spectral pooling
# (`rescale=True`, so brightness is preserved), max pooling, average pooling and plain
# subsampling `x[::S, ::S]` ({numref}`fig-camera-poolings` and
# {numref}`fig-three-photos`). Each panel is drawn at the same size, so a coarser map
# shows larger pixels.

# %%
photo_names = ["camera", "astronaut", "coffee", "brick"]


def square(img, size=256):
    """Centred square crop, resized with anti-aliasing to size x size."""
    h, w = img.shape
    c = min(h, w)
    top, left = (h - c) // 2, (w - c) // 2
    return transform.resize(img[top : top + c, left : left + c], (size, size), anti_aliasing=True)


photos = {name: square(grey(name)) for name in photo_names}


def four_poolings(img, s):
    """Spectral, max, average and strided pooling of one image at stride s."""
    x = torch.from_numpy(img)[None, None]
    return {"spectral": spectral_pool2d(x, stride=s, rescale=True)[0, 0],
            "max": F.max_pool2d(x, s)[0, 0],
            "average": F.avg_pool2d(x, s)[0, 0],
            "strided": x[0, 0, ::s, ::s]}


# %% mystnb={"figure": {"caption": "The camera-man at strides 2, 4 and 8 (rows: 128×128, 64×64 and 32×32 pixels), shrunk by spectral, max, average and strided pooling, x[::S, ::S] (columns).", "name": "fig-camera-poolings"}}
panels, titles = [], []
for s in (2, 4, 8):
    for name, out in four_poolings(photos["camera"], s).items():
        panels.append(out.clamp(0, 1))
        titles.append(f"{name}, S = {s}")
show_images(panels, titles, ncols=4, size=2.25)
plt.show()

# %% mystnb={"figure": {"caption": "Three more photographs at stride 8, with the same four operators.", "name": "fig-three-photos"}}
panels, titles = [], []
for name in photo_names[1:]:
    for method, out in four_poolings(photos[name], 8).items():
        panels.append(out.clamp(0, 1))
        titles.append(f"{name}: {method}")
show_images(panels, titles, ncols=4, size=2.25)
plt.show()

# %% [markdown]
# What the eye picks up:
#
# * **spectral pooling** keeps the large shapes in the right place and removes the fine
#   detail cleanly; its price is ringing (the Gibbs oscillation of a sharp frequency
#   cut-off) next to strong edges, and along the image border wherever the periodic
#   extension joins a bright side to a dark one (the sky above the camera-man's coat
#   at strides 4 and 8);
# * **max pooling** brightens the image and fattens every bright detail (the tripod
#   legs, the rim of the cup, the bricks' pale joints);
# * **average pooling** looks much like spectral pooling, a little blockier and without
#   the ringing: it is a low-pass filter too, a box filter with a soft, leaky frequency
#   response;
# * **strided subsampling** aliases: detail finer than the new grid does not vanish,
#   it comes back as coarse, wrong structure (the broken tripod, the dark speckled
#   brick wall).
#
# ## How much information survives? Rippel's experiment, re-created
#
# Rippel et al. compared pooling operators by how well the input can be recovered from
# the pooled map, as a function of the fraction of parameters kept (output pixels over
# input pixels). Their figure, on ImageNet validation images, compares spectral pooling
# with max pooling only, and finds spectral pooling below it at every fraction. What
# follows is a re-creation of that experiment, not a copy of the figure: on two sets of
# scikit-image photographs instead of ImageNet, and with average pooling and a DCT crop
# added to the comparison:
#
# * **faces**: the 100 faces of `skimage.data.lfw_subset()`, 25×25 pixels, cropped to
#   24×24;
# * **photo tiles**: the 48×48 tiles of eight photographs from `skimage.data`, in grey and
#   at half resolution (2×2 block means).
#
# For a stride $S$ dividing the size $N$ every operator produces an $N/S \times N/S$
# map, a fraction $1/S^2$ of the parameters. Our reconstruction choices:
#
# * spectral pooling (`rescale=True`) is undone by Fourier upsampling, i.e. zero-padding
#   the spectrum (`scipy.signal.resample`), its natural inverse;
# * max and average pooling are undone by nearest-neighbour upsampling (repeating each
#   value over its block) and, as a second variant, by bilinear interpolation;
# * as a reference outside Rippel's comparison, a *DCT crop*: keep the lowest
#   $N/S \times N/S$ coefficients of the orthonormal 2-D discrete cosine transform and
#   invert. It is the same idea as spectral pooling with a mirrored instead of a
#   periodic extension of the image; it tells us what the periodic boundary costs.
#
# The error of one image is $\|x - \hat x\|_2 / \|x\|_2$; the tables report the mean
# and the standard deviation over the images of a set.

# %%
faces = data.lfw_subset()[:100, :24, :24].astype(np.float64)  # the first 100 are faces
tile_names = ["camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "clock", "brick"]
if quick:
    faces, tile_names = faces[:20], tile_names[:3]


def tiles_of(img, t=48):
    """All non-overlapping t x t tiles of an image, from a centred grid."""
    h, w = img.shape
    top, left = (h % t) // 2, (w % t) // 2
    return [img[top + i * t : top + (i + 1) * t, left + j * t : left + (j + 1) * t]
            for i in range(h // t) for j in range(w // t)]


tiles = np.stack([tile for name in tile_names
                  for tile in tiles_of(transform.downscale_local_mean(grey(name), (2, 2)))])
image_sets = {"faces 24×24": faces, "photo tiles 48×48": tiles}


# %%
def dct_crop(images, m):
    """Keep the m x m lowest orthonormal DCT-II coefficients and invert."""
    coeffs = scipy.fft.dctn(images, axes=(-2, -1), norm="ortho")
    coeffs[..., m:, :] = 0
    coeffs[..., :, m:] = 0
    return scipy.fft.idctn(coeffs, axes=(-2, -1), norm="ortho")


def reconstructions(images, s):
    """Down by stride s and back up to the input size, for every operator."""
    size = images.shape[-1]
    x = torch.from_numpy(images)[:, None]
    small_maps = {"spectral": spectral_pool2d(x, output_size=size // s, rescale=True),
                  "max": F.max_pool2d(x, s), "average": F.avg_pool2d(x, s)}
    out = {"spectral": fourier_resample(small_maps["spectral"][:, 0].numpy(), (size, size)),
           "DCT crop": dct_crop(images, size // s)}
    for pooling in ("average", "max"):
        for mode in ("bilinear", "nearest"):
            up = F.interpolate(small_maps[pooling], size=(size, size), mode=mode)
            out[f"{pooling} + {mode}"] = up[:, 0].numpy()
    return out


def errors(images, recon):
    diff = (images - recon).reshape(len(images), -1)
    return np.linalg.norm(diff, axis=1) / np.linalg.norm(images.reshape(len(images), -1), axis=1)


records = []
for set_name, images in image_sets.items():
    size = images.shape[-1]
    strides = [s for s in range(1, 17) if size % s == 0 and size // s >= 2]
    for s in [s for s in strides if s in (1, 2, 4, 8)] if quick else strides:
        for method, recon in reconstructions(images, s).items():
            err = errors(images, recon)
            records.append({"images": set_name, "stride": s, "fraction kept": 1 / s**2,
                            "method": method, "mean": err.mean(), "std": err.std()})
info = pd.DataFrame(records)
methods = list(info["method"].unique())
cells = info.assign(cell=[pm(m, d, decimals=3) for m, d in zip(info["mean"], info["std"])])
wide = cells.pivot_table(index=["images", "stride"], columns="method",
                         values="cell", aggfunc="first")[methods]

# %% tags=["remove-input"]
# Six methods do not fit the text column side by side: two tables of three.
for part, which in ((wide[methods[:3]], "spectral, DCT and average pooling"),
                    (wide[methods[3:]], "the other reconstructions")):
    display(table(part, caption=f"Normalised reconstruction error, mean ± std over the "
                  f"images: {which}"))

# %% [markdown]
# {numref}`fig-information` draws the errors of the table. On the left the mean
# error on the photo tiles; on the right every method's error divided by that of spectral
# pooling on the same tiles, where lines that sit on top of each other on the left come
# apart.

# %% mystnb={"figure": {"caption": "Reconstruction error against the fraction of parameters kept, on the photo tiles (left; the band is ± one standard deviation over the images for spectral and max pooling), and every method's error relative to spectral pooling's (right; below 1 is better than spectral pooling). The faces are in the table above.", "name": "fig-information"}}
fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH, 3.9), constrained_layout=True)
styles = {"spectral": dict(color="C0", marker="o", linewidth=2.2),
          "DCT crop": dict(color="C0", marker="", linestyle=":"),
          "average + bilinear": dict(color="C2", marker="s"),
          "average + nearest": dict(color="C2", marker="s", linestyle="--"),
          "max + bilinear": dict(color="C3", marker="^"),
          "max + nearest": dict(color="C3", marker="^", linestyle="--")}
tiles_info = info[info["images"] == "photo tiles 48×48"]
for method in methods:
    rows = tiles_info[tiles_info["method"] == method]
    plot_mean_std(axes[0], rows["fraction kept"], rows["mean"], rows["std"], label=method,
                  band_alpha=0.12 if method in ("spectral", "max + nearest") else 0,
                  **styles[method])
axes[0].set_title(f"photo tiles 48×48 ({len(image_sets['photo tiles 48×48'])} images)")
axes[0].set_ylabel(r"error $\|x - \hat{x}\| / \|x\|$")
relative = info[info["stride"] > 1].set_index(["images", "stride", "method"])["mean"]
relative = relative / relative.xs("spectral", level="method")
for method in methods:
    rows = relative.loc["photo tiles 48×48"].xs(method, level="method")
    axes[1].plot(1 / rows.index.to_numpy() ** 2, rows.to_numpy(), **styles[method])
axes[1].set_yscale("log")
axes[1].set_ylabel("error / error of spectral pooling")
axes[1].set_title("photo tiles, relative to spectral pooling")
for ax in axes:
    ax.set_xscale("log")
    ax.set_xlabel("fraction of parameters kept (1/S²)")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
plt.show()

# %%
mean = info.set_index(["images", "stride", "method"])["mean"]
tiles_name, faces_name = "photo tiles 48×48", "faces 24×24"
pairs = [(name, s) for name, s, method in mean.index if s > 1 and method == "spectral"]
beats_max = sum(mean[(name, s, "spectral")] < min(mean[(name, s, "max + nearest")],
                                                  mean[(name, s, "max + bilinear")])
                for name, s in pairs)
tile_strides = [s for name, s in pairs if name == tiles_name]
dct_best = sum(mean[(tiles_name, s, "DCT crop")] == min(mean[(tiles_name, s, m)] for m in methods)
               for s in tile_strides)
ratio_max = mean[(tiles_name, 4, "max + nearest")] / mean[(tiles_name, 4, "spectral")]
avg_wins = [s for s in tile_strides
            if mean[(tiles_name, s, "average + bilinear")] < mean[(tiles_name, s, "spectral")]]

# %% tags=["remove-input"]
md(
    f"Spectral pooling has a lower error than both max-pooling reconstructions in "
    f"{beats_max} of the {len(pairs)} (image set, stride > 1) pairs. At stride 4 (1/16 of "
    f"the parameters) on the photo tiles, max pooling's error is {ratio_max:.1f} times "
    f"larger ({mean[(tiles_name, 4, 'max + nearest')]:.3f} against "
    f"{mean[(tiles_name, 4, 'spectral')]:.3f}). Average pooling with bilinear upsampling is "
    f"not behind spectral pooling on the photo tiles: it has the *lower* error at "
    f"{len(avg_wins)} of the {len(tile_strides)} strides "
    f"({mean[(tiles_name, 4, 'average + bilinear')]:.3f} against "
    f"{mean[(tiles_name, 4, 'spectral')]:.3f} at stride 4, "
    f"{mean[(tiles_name, 8, 'average + bilinear')]:.3f} against "
    f"{mean[(tiles_name, 8, 'spectral')]:.3f} at stride 8); on the faces "
    f"the two are within {max(abs(mean[(faces_name, s, 'spectral')] - mean[(faces_name, s, 'average + bilinear')]) for n, s in pairs if n == faces_name):.3f} "
    f"of each other at every stride. The DCT crop has the lowest error on the tiles at "
    f"{dct_best} of {len(tile_strides)} strides ({mean[(tiles_name, 4, 'DCT crop')]:.3f} at "
    f"stride 4).")

# %% tags=["remove-cell"]
# The prose below and the takeaways state this ranking: keep them true.
assert {s for s in tile_strides if s > 2} <= set(avg_wins), avg_wins

# %% [markdown]
# Rippel's qualitative claim holds on these photographs: spectral pooling keeps far more
# of the image than max pooling for the same number of parameters. Rippel's figure has
# no average pooling in it, and on whole photo tiles average pooling with bilinear
# upsampling beats spectral pooling at the larger strides (the sentence above gives
# stride 2 as well); the DCT line says why. Spectral pooling
# plus Fourier upsampling is an *orthogonal projection* onto the kept frequencies (exactly
# so for odd output sizes; for even ones the Nyquist row of the previous section adds a
# small correction), so its error is the square root of the share of energy outside the
# window. That is the smallest error possible among reconstructions made of those
# frequencies, and for a periodic stationary random field whose power falls with
# frequency it would be the best linear code of that size, since the DFT diagonalises
# circulant covariances. But a tile is not periodic: its wrap-around edges feed the cross
# we saw in the spectrum, that energy lies outside the window, and the reconstruction
# rings along the tile borders. The DCT, which mirrors the tile instead of repeating it,
# has no such jump. Two measurements make this concrete: the projection identity, and
# the error away from the borders.

# %%
m = 15  # odd, so no Nyquist bin: the crop is an exact orthogonal projection
spec = np.fft.fft2(tiles)
inside = centred_window(48, m)[:, None] & centred_window(48, m)[None, :]
outside_energy = np.sqrt((np.abs(spec) ** 2 * ~inside).sum((1, 2)) / (np.abs(spec) ** 2).sum((1, 2)))
down = spectral_pool2d(torch.from_numpy(tiles)[:, None], output_size=m, rescale=True)
proj_err = errors(tiles, fourier_resample(down[:, 0].numpy(), (48, 48)))
border = 6
inner = slice(border, -border)
inner_rows = []
for s in (2, 4, 8):
    recon = reconstructions(tiles, s)
    inner_rows.append({"stride": s, **{method: errors(tiles[:, inner, inner],
                                                      recon[method][:, inner, inner]).mean()
                                       for method in ("spectral", "average + bilinear",
                                                      "DCT crop")}})
table(pd.DataFrame(inner_rows).set_index("stride"),
      caption=f"Reconstruction error on the central {48 - 2 * border}×{48 - 2 * border} "
      "pixels of the photo tiles only")

# %% tags=["remove-input"]
md(f"Projection identity on the tiles (output 15×15): the largest gap between the "
   f"spectral reconstruction error and √(energy outside the window) is "
   f"{num(np.abs(proj_err - outside_energy).max(), 2)}. The table above measures the "
   f"errors on the central {48 - 2 * border}×{48 - 2 * border} pixels only (a "
   f"{border}-pixel border left out).")

# %% [markdown]
# Away from the borders spectral pooling is ahead of average pooling again: the ranking
# in the full-image table is largely a boundary effect of the periodic DFT. Inside a
# network this matters less than in a reconstruction test (feature maps are padded,
# filtered and normalised, and the classifier never reconstructs anything), but it is
# worth knowing when you read information-preservation plots.
#
# The next chapter, [the low-pass question](02_lowpass_question.ipynb), asks what
# happens when spectral pooling is stacked between non-linearities: is a network of them
# just a low-pass filter of its input?
#
# ## Exercises

# %% [markdown] exercise={"id": "1.1", "points": 2, "function": "spectral_crop", "check": "hybridlib.book.selfcheck.check_spectral_crop", "reference": ["hybridlib.spectral.spectral_pool2d", "hybridlib.spectral.SpectralPool2d", "hybridlib.spectral.crop_spectrum_rows"]}
# **Exercise 1.1** (Spectral pooling with a symmetric window). Write `spectral_crop(x,
# output_size)` for a real batch `[B, C, H, W]`: keep the frequencies
# $-\lfloor h/2 \rfloor .. \lceil h/2 \rceil - 1$ of the height and the same rule for the
# width, and transform back at size $h \times w$, without rescaling. For odd sizes the
# window is symmetric; for even sizes follow the library's convention (the one `rfft2` /
# `irfft2` give naturally: the Nyquist row from the negative side, the Nyquist column from
# `rfft2`'s last kept column). The self-check compares with `spectral_pool2d` on even,
# odd, non-square and batched inputs.

# %% tags=["exercise-stub"]
def spectral_crop(x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """Spectral pooling of x to output_size, no rescaling.

    Args:
        x: [B, C, H, W] real tensor.
        output_size: (h, w) with 1 <= h <= H and 1 <= w <= W.

    Returns:
        [B, C, h, w] real tensor whose DFT holds the frequencies
        -(h//2) .. (h-1)//2 (rows) and -(w//2) .. (w-1)//2 (columns) of x's DFT.
    """
    raise NotImplementedError(
        "Exercise 1.1: work in the layout of torch.fft.rfft2: which of its rows hold the "
        "frequencies you keep, and how many of its columns does torch.fft.irfft2 need to "
        "return a width of w?")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 1.1", "code_prompt_hide": "Hide the solution to Exercise 1.1"}
def spectral_crop(x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """Spectral pooling of x ([B, C, H, W]) to output_size (h, w), no rescaling."""
    h, w = output_size
    height = x.shape[-2]
    spectrum = torch.fft.rfft2(x)[..., : w // 2 + 1]  # columns 0 .. w//2
    rows = torch.cat((spectrum[..., : (h + 1) // 2, :],  # rows 0 .. (h-1)//2
                      spectrum[..., height - h // 2 :, :]), dim=-2)  # rows -(h//2) .. -1
    return torch.fft.irfft2(rows, s=(h, w))


# %% tags=["exercise-check"]
print(check_spectral_crop(spectral_crop))

# %% [markdown] exercise={"id": "1.2", "points": 3}
# **Exercise 1.2** (The amplitude factor and the self-conjugate bins). (a) Prove that for
# an $H \times W$ image with no energy at $|k| \ge h/2$ or $|l| \ge w/2$ and integer strides
# $S_h = H/h$, $S_w = W/w$, cropping the spectrum and inverting at size $h \times w$ gives
# $\frac{HW}{hw}\, x[::S_h, ::S_w]$, the identity {eq}`eq-decimation`. (b) Which bins
# $(k, l)$ of the DFT of a real
# $H \times W$ image are their own conjugate partners, how many are there for each
# combination of even and odd sizes, and why must they be real? (c) When the output
# height $h$ is even, which two bins of the input spectrum does decimation add into the
# new Nyquist row, what does the official layer keep instead, and why is that exactly
# half of the decimated value for a 1-D signal?

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 1.2
# :class: dropdown
# (a) One axis is enough, the 2-D DFT being a product of two 1-D ones. Let $y[n] = x[Sn]$,
# $n = 0, \dots, h-1$, $H = Sh$. Insert $x[Sn] = \frac{1}{H}\sum_j X[j] e^{2\pi i j S n/H}$
# into $Y[k] = \sum_n y[n] e^{-2\pi i k n/h}$ and use $S/H = 1/h$:
# $Y[k] = \frac{1}{H}\sum_j X[j] \sum_{n=0}^{h-1} e^{2\pi i (j-k) n/h}$. The inner sum is
# $h$ when $j \equiv k \pmod h$ and 0 otherwise, so $Y[k] = \frac{h}{H}\sum_{j \equiv k} X[j]
# = \frac{1}{S}\sum_{j \equiv k} X[j]$, the aliasing sum {eq}`eq-aliasing`. Without
# energy at $|j| \ge h/2$ only the
# representative $j = k$ is non-zero: $Y[k] = X[k]/S$. Cropping hands $X[k] = S\,Y[k]$ to an
# inverse DFT of size $h$, which returns $S\,y$. Both axes: $S_h S_w = HW/(hw)$.
#
# (b) $(k, l)$ is self-conjugate when $(k, l) \equiv (-k, -l)$, i.e. $2k \equiv 0 \pmod H$
# and $2l \equiv 0 \pmod W$: $k \in \{0, H/2\}$ (the second only for even $H$), likewise
# for $l$. That gives 4 bins for even × even, 2 for even × odd, and only DC for odd × odd.
# Conjugate symmetry {eq}`eq-conjugate-symmetry` then reads $X[k,l] = \overline{X[k,l]}$:
# the value is real.
#
# (c) The congruence class of $h/2$ modulo $h$ meets the band $|j| \le h/2$ twice, at
# $j = h/2$ and $j = -h/2$, so decimation gives $Y[h/2] = (X[h/2] + X[-h/2])/S$ (in 2-D,
# for each column $l$: $X[h/2, l] + X[-h/2, l]$). The official layer keeps the negative
# side $X[-h/2]$ only. For a 1-D real signal $X[h/2] = \overline{X[-h/2]}$, so the
# decimated value is $2\,\mathrm{Re}\,X[h/2]/S$, while `irfft` (whose output must be
# real) keeps the real part of the single bin it is given, $\mathrm{Re}\,X[h/2]$: half,
# as the cosine experiment above measured.
# ```

# %% [markdown] exercise={"id": "1.3", "points": 3, "function": "fourier_resample_torch", "check": "hybridlib.book.selfcheck.check_fourier_resample", "reference": ["scipy.signal.resample"]}
# **Exercise 1.3** (Fourier resampling with the folded Nyquist bin). Write
# `fourier_resample_torch(x, size)` in PyTorch (the chapter's `fourier_resample` is
# SciPy's, the answer the self-check compares with) for a real batch `[B, C, H, W]` and
# any target `(h, w)`, smaller or larger, axis by axis as `scipy.signal.resample` does:
# keep the frequencies of the smaller grid; when the smaller length is even, *fold* the
# two Nyquist bins into one when downsampling (double the `rfft` Nyquist coefficient)
# and *split* it in halves when upsampling; scale by the length ratio so a band-limited
# signal keeps its values. The self-check compares with SciPy on 1-D and 2-D cases and
# tests the decimation identity with energy at the new Nyquist frequency. Then run the
# measurement below: how much does the fold change the reconstruction error of the
# previous section?

# %% tags=["exercise-stub"]
def fourier_resample_torch(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Fourier resampling of x to size, as scipy.signal.resample along height then width.

    Args:
        x: [B, C, H, W] real tensor.
        size: (h, w), each >= 1, smaller or larger than (H, W).

    Returns:
        [B, C, h, w] real tensor.
    """
    raise NotImplementedError(
        "Exercise 1.3: write a helper for one axis: torch.fft.rfft along it, copy the first "
        "min(n, n_new)//2 + 1 coefficients into a zero array of length n_new//2 + 1, fix the "
        "Nyquist coefficient when min(n, n_new) is even, torch.fft.irfft(n=n_new), scale")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 1.3", "code_prompt_hide": "Hide the solution to Exercise 1.3"}
def fourier_resample_torch(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Fourier resampling of x ([B, C, H, W]) to size (h, w), SciPy's conventions."""

    def along(z, n_new, dim):
        n = z.shape[dim]
        spectrum = torch.fft.rfft(z, dim=dim).movedim(dim, -1)
        out = spectrum.new_zeros(*spectrum.shape[:-1], n_new // 2 + 1)
        m = min(n, n_new)
        out[..., : m // 2 + 1] = spectrum[..., : m // 2 + 1]
        if m % 2 == 0 and n != n_new:
            # the two bins +-m/2 of the larger grid are one bin of the smaller grid
            out[..., m // 2] *= 2.0 if n_new < n else 0.5
        return torch.fft.irfft(out, n=n_new, dim=-1).movedim(-1, dim) * (n_new / n)

    return along(along(x, size[0], -2), size[1], -1)


# %% tags=["exercise-check"]
print(check_fourier_resample(fourier_resample_torch))

# %%
fold_rows, fold_wins = [], []
x_tiles = torch.from_numpy(tiles)[:, None]
for s in (2, 4, 8):
    m = 48 // s
    up = lambda small_map: fourier_resample_torch(small_map, (48, 48))[:, 0].numpy()
    # The official rule, rescaled: the library's one-sided Nyquist row at these even sizes.
    one_sided = errors(tiles, up(official_fixed_spectral_pool(x_tiles, (s, s)) * (m / 48) ** 2))
    folded = errors(tiles, up(fourier_resample_torch(x_tiles, (m, m))))
    fold_wins.append((folded <= one_sided + 1e-12).mean())
    fold_rows.append({"stride": s, "output": f"{m}×{m}",
                      "spectral pooling (one-sided Nyquist)": one_sided.mean(),
                      "your resampler (folded Nyquist)": folded.mean(),
                      "relative change": folded.mean() / one_sided.mean() - 1})
md(f"The folded version has the smaller (or equal) error on "
   f"{100 * min(fold_wins):.0f} % of the tiles at every stride.")
table(pd.DataFrame(fold_rows).set_index("stride"), digits=4,
      formats={"relative change": "{:+.1%}"},
      caption="Reconstruction error of the photo tiles, down and up again, with the Nyquist "
      "row taken from one side and folded")

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 1.3
# :class: dropdown
# The fold only touches the Nyquist row and column of the small spectrum, a small share
# of the coefficients and, for photographs, of the energy, so the change in the table is
# small; but it goes one way. With the fold, down then up replaces the pair
# $(X[h/2], X[-h/2])$ (for each column) by its average $\big(X[h/2] + X[-h/2]\big)/2$ in
# both places: the orthogonal projection of the pair onto the vectors with equal entries,
# which is all that an upsampled Nyquist row can hold. So fold-then-split is an orthogonal
# projection, and no reconstruction built from the same frequencies can do better. The
# one-sided convention puts $X[-h/2]/2$ in both places, another point of the same
# subspace, hence an error that can only be larger (the printed share of tiles). The fold is also what makes resampling agree
# with `x[::S, ::S]` for a signal band-limited to $|k| \le m/2$ (the last case of the
# self-check). Inside a classifier the difference is absorbed by the next convolution and
# batch normalisation; for image resampling the folded version is the one to use.
# ```

# %% [markdown]
# ```{admonition} Key takeaways
# :class: takeaways
# * The DFT of a real image is conjugate-symmetric; only DC and, for even sizes, the three
#   corner Nyquist bins must be real.
# * Cropping the centred spectrum is an ideal low-pass filter followed by decimation; the
#   identity {eq}`eq-decimation` tests a spectral pooling layer exactly.
# * The official layer takes the Nyquist row from one side (half of the folded value) and
#   makes odd inputs lopsided; `hybridlib` follows it for even sizes and keeps odd windows
#   symmetric.
# * Spectral pooling preserves far more of a photograph than max pooling, as Rippel et al.
#   found. On whole tiles, average pooling with bilinear upsampling is ahead of it at the
#   larger strides, because the periodic DFT pays for the tile borders.
# ```
