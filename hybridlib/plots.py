"""Small figure helpers shared by the book's chapters.

Every function takes plain NumPy arrays or PyTorch tensors (any leading singleton
dimensions are squeezed away) and draws with Matplotlib, which the book extras install
(``pip install -e ".[book]"``); the library's layers never import this module.

* :func:`to_image` turns a tensor or array into a 2-D float NumPy image.
* :func:`show_images` draws a grid of images with titles.
* :func:`log_magnitude` and :func:`plot_log_spectrum` compute and draw the centred
  log-magnitude DFT of an image, with the frequency index ``k`` on the axes.
* :func:`plot_mean_std` draws a curve with a shaded ``mean +- std`` band.

Example::

    from hybridlib.plots import show_images, plot_log_spectrum
    fig = show_images([img, small], titles=["input", "pooled"])
    plot_log_spectrum(img, title="log |DFT|")
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["log_magnitude", "plot_log_spectrum", "plot_mean_std", "show_images", "to_image"]


def to_image(x) -> np.ndarray:
    """Return ``x`` as a 2-D float NumPy array.

    Accepts a NumPy array or a torch tensor of shape ``[H, W]`` or ``[1, ..., 1, H, W]``
    (for example one map of a ``[B, C, H, W]`` batch with ``B = C = 1``).
    """
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=float)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(
            f"expected a 2-D image (leading dimensions of size 1 allowed), got {a.shape}"
        )
    return a


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    size: float = 2.4,
    suptitle: str | None = None,
    same_range: bool = False,
):
    """Draw images in a grid, each with its own title; return the figure.

    Args:
        images: 2-D images (arrays or tensors, see :func:`to_image`), drawn row by row.
        titles: one title per image (optional).
        ncols: number of columns; default all images on one row.
        cmap: Matplotlib colour map.
        size: width and height of one panel in inches.
        suptitle: title of the whole figure (optional).
        same_range: use the first image's value range for every panel instead of
            stretching each panel to its own minimum and maximum.

    Images of different sizes are drawn in panels of the same size, so a pooled
    ``8 x 8`` map shows its blocks next to the ``64 x 64`` input it came from.
    """
    images = [to_image(im) for im in images]
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    ncols = len(images) if ncols is None else max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
        squeeze=False, constrained_layout=True,
    )
    vmin, vmax = (images[0].min(), images[0].max()) if same_range else (None, None)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(images):
            continue
        ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def log_magnitude(image, shift: bool = True) -> np.ndarray:
    """``log10(1 + |DFT(image)|)`` of a 2-D image, centred with ``fftshift`` by default."""
    spectrum = np.abs(np.fft.fft2(to_image(image)))
    if shift:
        spectrum = np.fft.fftshift(spectrum)
    return np.log10(1.0 + spectrum)


def plot_log_spectrum(
    image,
    ax=None,
    title: str | None = None,
    colorbar: bool = True,
    cmap: str = "magma",
):
    """Draw the centred log-magnitude spectrum of a 2-D image; return the ``AxesImage``.

    The axes show the integer frequency index ``k`` (DC at 0, negative frequencies to
    the left and at the top, as ``fftshift`` arranges them) for an ``H x W`` image:
    rows ``-(H//2) .. (H-1)//2`` and columns ``-(W//2) .. (W-1)//2``.
    """
    mag = log_magnitude(image)
    height, width = mag.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6), constrained_layout=True)
    extent = (-(width // 2) - 0.5, (width - 1) // 2 + 0.5, (height - 1) // 2 + 0.5,
              -(height // 2) - 0.5)
    art = ax.imshow(mag, cmap=cmap, extent=extent, interpolation="nearest")
    ax.set_xlabel("column frequency $k_w$")
    ax.set_ylabel("row frequency $k_h$")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(art, ax=ax, label=r"$\log_{10}(1 + |X|)$", shrink=0.85)
    return art


def plot_mean_std(ax, x, mean, std, label: str | None = None, band_alpha: float = 0.15,
                  **kwargs):
    """Plot ``mean`` against ``x`` with a shaded ``mean +- std`` band; return the line.

    ``band_alpha`` sets the band's opacity (0 hides it). Extra keyword arguments
    (``marker``, ``linestyle``, ``color`` ...) go to ``ax.plot``; the band takes the
    line's colour.
    """
    x, mean, std = (np.asarray(v, dtype=float) for v in (x, mean, std))
    (line,) = ax.plot(x, mean, label=label, **kwargs)
    if band_alpha > 0:
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=band_alpha,
                        linewidth=0)
    return line
