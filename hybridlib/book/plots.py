"""Small figure helpers shared by the book's chapters.

Every function takes plain NumPy arrays or PyTorch tensors (any leading singleton
dimensions are squeezed away) and draws with Matplotlib, which the book extras install
(``pip install -e ".[book]"``); the library's layers never import this module.

* :func:`to_image` turns a tensor or array into a 2-D float NumPy image.
* :func:`show_images` draws a grid of images with titles.
* :func:`log_magnitude` and :func:`plot_log_spectrum` compute and draw the centred
  log-magnitude DFT of an image, with the frequency index ``k`` on the axes.
* :func:`plot_mean_std` draws a curve with a shaded ``mean +- std`` band.
* :func:`label_points` names the points of a scatter plot without overlapping labels.
* :func:`plot_paired_differences` draws paired comparisons as intervals around zero;
  :func:`paired_differences_figure`, one panel of them per data set.

One figure style serves the whole book (:data:`BOOK_STYLE`, applied on import and by
:func:`use_book_style`): figures at most :data:`MAX_WIDTH` inches wide, laid out at
:data:`DPI` pixels per inch, no text below :data:`MIN_FONT_PT` points. A notebook shows
each figure as a PNG of :data:`PNG_DPI` dots per inch (IPython's "retina" format) that the
page draws at :data:`DPI` pixels per inch, so it is sharp on a high-density screen, and a
figure no wider than :data:`MAX_WIDTH` fits the book's text column (672 pixels at a
1280-pixel window) unscaled: its smallest text reads at 9 pt or more. The chapters give
figures their captions and numbers in the book (myst-nb's ``figure`` cell metadata).

Example::

    from hybridlib.book.plots import show_images, plot_log_spectrum
    fig = show_images([img, small], titles=["input", "pooled"])
    plot_log_spectrum(img, title="log |DFT|")
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "config_colours",
    "cost_figure",
    "headline_figure",
    "curve_score",
    "curves_figure",
    "stride_positions",
    "strides_figures",
    "BOOK_STYLE",
    "BUDGET_STYLE",
    "CONFIG_COLOURS",
    "DPI",
    "MAX_WIDTH",
    "MIN_FONT_PT",
    "PNG_DPI",
    "budget_figure",
    "grid_figure",
    "label_points",
    "log_magnitude",
    "plot_log_spectrum",
    "plot_mean_std",
    "paired_differences_figure",
    "plot_paired_differences",
    "show_images",
    "to_image",
    "use_book_style",
]

# The browser check (tests/test_browser.py) reads these three: a figure's smallest text,
# MIN_FONT_PT / 72 * PNG_DPI pixels of its PNG, must show at 9 pt (12 CSS pixels) or more.
MAX_WIDTH = 6.4  # inches: at DPI, 640 pixels; the labels IPython's tight box adds fit in 672
DPI = 100  # pixels per inch of a figure on the page (the PNG's declared width)
PNG_DPI = 2 * DPI  # dots per inch of the PNG itself: IPython's "retina" doubles DPI
MIN_FONT_PT = 9  # no text smaller than this in any figure
# The figures a reader may open on a phone (one row per configuration or comparison) are
# drawn narrower: at a phone's 360-pixel column their text shrinks less.
NARROW_WIDTH = 5.6
BOOK_STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (6.4, 3.6),
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.interpolation": "nearest",
    "lines.markersize": 5,
}


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` to Matplotlib and the book's number format to pandas tables.

    Done once when this module is imported. In a notebook, figures are then shown as
    :data:`PNG_DPI` PNGs declared at :data:`DPI` ("retina"). A DataFrame or a Styler
    without a format of its own prints its numbers as
    :func:`hybridlib.book.formatting.num` writes them (``0.25``, ``0.0022``, never
    ``0.250000``); book/_static/hybrid.css styles the cells.
    """
    plt.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:  # IPython comes with the book extras; scripts do not need it
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    try:
        import pandas as pd
    except ImportError:  # pandas comes with the book extras; the figures do not need it
        return
    from hybridlib.book.formatting import num

    pd.set_option("display.float_format", num)
    pd.set_option("styler.format.formatter", lambda v: num(v) if isinstance(v, float) else v)


use_book_style()


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
    size = min(size, MAX_WIDTH / ncols)  # the whole grid fits the text column
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0) + 0.25),
        squeeze=False, constrained_layout=True,
    )
    vmin, vmax = (images[0].min(), images[0].max()) if same_range else (None, None)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(images):
            continue
        ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=MIN_FONT_PT)
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
        ax.set_title(title)
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


def plot_paired_differences(ax, comparisons, labels: Sequence[str] | None = None):
    """Draw each comparison ``a - b`` as two 95 % intervals on one row, first row on top.

    Args:
        comparisons: rows with ``seed_diff``, ``seed_low``, ``seed_high`` (the seed-paired
            interval, black) and ``crossed_diff``, ``crossed_low``, ``crossed_high`` (the
            crossed seed x image interval, the one the verdicts read, in colour, just
            below); NaN leaves an interval out. A DataFrame such as
            :func:`hybridlib.evidence.comparison_table` returns.
        labels: one per row (default ``"a − b"``).

    A dotted line marks zero. The intervals drawn are unadjusted 95 % intervals; a
    caption must say so where the verdicts apply a correction for many comparisons.
    """
    rows = list(comparisons.itertuples())
    labels = list(labels) if labels is not None else [f"{r.a} \u2212 {r.b}" for r in rows]
    if len(labels) != len(rows):
        raise ValueError(f"labels needs one entry per comparison ({len(rows)}), got {len(labels)}")
    kinds = (("seed", "by seed", "black", "D", 0.0),
             ("crossed", "seed × image", "tab:blue", "o", 0.25))
    for kind, name, colour, marker, offset in kinds:
        drawn = [(i, r) for i, r in enumerate(rows) if not np.isnan(getattr(r, f"{kind}_diff"))]
        if not drawn:
            continue
        mean = np.array([getattr(r, f"{kind}_diff") for _, r in drawn])
        low = np.array([getattr(r, f"{kind}_low") for _, r in drawn])
        high = np.array([getattr(r, f"{kind}_high") for _, r in drawn])
        ax.errorbar(mean, [-i - offset for i, _ in drawn], xerr=[mean - low, high - mean],
                    fmt=marker, color=colour, markersize=4, capsize=3, label=name)
    ax.axvline(0, color="0.3", linestyle=":", linewidth=1)
    ax.set_yticks([-i - kinds[1][4] / 2 for i in range(len(rows))], labels)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.set_xlabel("difference in test accuracy (points), 95 % interval")
    ax.grid(axis="y", visible=False)
    return ax


def paired_differences_figure(comparisons, name=str, title: str = ""):
    """:func:`plot_paired_differences` in one panel per ``dataset`` of ``comparisons``
    (titled ``name(dataset)``, after ``title``); return the figure.

    The legend sits below the panels, where no interval can be: inside the axes, some
    comparison's interval always runs under it.
    """
    datasets = list(dict.fromkeys(comparisons.dataset))
    fig, axes = plt.subplots(
        len(datasets), 1, squeeze=False,
        figsize=(NARROW_WIDTH,
                 sum(0.32 * (comparisons.dataset == d).sum() + 1.2 for d in datasets) + 0.3),
    )
    for ax, dataset in zip(axes[:, 0], datasets):
        plot_paired_differences(ax, comparisons[comparisons.dataset == dataset])
        ax.set_title(f"{title}{name(dataset)}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if labels:  # none where no comparison has an interval yet
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


def label_points(ax, xs, ys, labels, colours) -> list:
    """Name each point ``(xs[i], ys[i])`` with ``labels[i]`` in ``colours[i]``; return the texts.

    A label goes just right of its point, or left where it would leave the axes; where it
    would overlap a label already written, it moves up or down, a line's height at a time,
    to the nearest free place, with a thin line back to its point. Points are labelled
    from the lowest up. Call it once the axes' limits are final.
    """
    fig = ax.figure
    fig.canvas.draw()  # fixes the limits and gives the renderer that measures the texts
    renderer = fig.canvas.get_renderer()
    to_axes = ax.transData + ax.transAxes.inverted()
    line = 1.25 * MIN_FONT_PT / 72 * fig.dpi / ax.bbox.height  # a line, in axes fraction
    inside = ax.bbox.padded(-2)
    boxes, texts = [], []
    for x, y, label, colour in sorted(zip(xs, ys, labels, colours), key=lambda t: t[1]):
        px, py = to_axes.transform((x, y))
        offsets = [0] + [k for n in range(1, 40) for k in (n, -n)]
        for n in offsets:
            ly = py + n * line
            if not 0.02 <= ly <= 0.98:
                continue
            for side in (1, -1):
                text = ax.annotate(
                    label, (x, y), xytext=(px + side * 0.015, ly), textcoords="axes fraction",
                    fontsize=MIN_FONT_PT, color=colour, va="center",
                    ha="left" if side > 0 else "right",
                    arrowprops=None if n == 0 else
                    {"arrowstyle": "-", "color": colour, "linewidth": 0.5, "alpha": 0.6},
                )
                box = text.get_window_extent(renderer)
                fits = inside.x0 <= box.x0 and box.x1 <= inside.x1
                if fits and not any(box.overlaps(other) for other in boxes):
                    break
                text.remove()
            else:
                continue
            break
        else:  # nowhere free: at the point, overlapping
            text = ax.annotate(label, (x, y), xytext=(px + 0.015, py), fontsize=MIN_FONT_PT,
                               textcoords="axes fraction", color=colour, va="center")
            box = text.get_window_extent(renderer)
        boxes.append(box)
        texts.append(text)
    return texts


# One colour per configuration, the same in every figure of the book: the papers' four
# configurations (and the rescaled DiffStride of the budget study) in strong, distinct
# colours, so that the key pair, hybrid and DiffStride, is green against orange
# everywhere; any other configuration takes one of OTHER_COLOURS, muted, in turn.
CONFIG_COLOURS = {
    "strided": "#4d4d4d",
    "spectral": "#1f78b4",
    "diffstride": "#d95f02",
    "hybrid": "#1b9e77",
    "diffstride_rescaled": "#7570b3",
}
OTHER_COLOURS = ("#a6761d", "#e7298a", "#66a61e", "#17becf", "#bc80bd", "#b15928",
                 "#e6ab02", "#fb9a99", "#999999", "#80b1d3")

# The configurations of the budget study, each in its colour and a marker of its own.
BUDGET_STYLE = {
    "strided": {"color": CONFIG_COLOURS["strided"], "marker": "s"},
    "diffstride": {"color": CONFIG_COLOURS["diffstride"], "marker": "o"},
    "hybrid": {"color": CONFIG_COLOURS["hybrid"], "marker": "D"},
    "diffstride_rescaled": {"color": CONFIG_COLOURS["diffstride_rescaled"], "marker": "^"},
}


def budget_figure(table, seeds, budgets: Sequence[int] | None = None,
                  configs: Sequence[str] = tuple(BUDGET_STYLE)):
    """Test accuracy against the training budget: every seed a dot, the mean with its
    95 % interval; the configurations side by side at each budget.

    Args:
        table: rows ``config, budget, n, mean, low, high`` (``hybridlib.budget.budget_table``).
        seeds: rows ``config, budget, test_acc`` (%), one per run.
        budgets: the budgets on the axis (default: those in ``table``); without a row the
            axes say that nothing is recorded yet.
        configs: which configurations to draw, in this order.
    Returns the figure.
    """
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 4.2), constrained_layout=True)
    budgets = sorted(budgets or set(table.budget))
    if table.empty:
        ax.text(0.5, 0.5, "no run of the study recorded yet", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    shown = [c for c in configs if c in set(table.config)]
    width = 0.6 / max(1, len(shown))
    for i, config in enumerate(shown):
        style = BUDGET_STYLE.get(config, {"color": "black", "marker": "o"})
        offset = (i - (len(shown) - 1) / 2) * width
        rows = table[table.config == config].sort_values("budget")
        xs = [budgets.index(b) + offset for b in rows.budget]
        dots = seeds[seeds.config == config]
        ax.scatter([budgets.index(b) + offset for b in dots.budget], dots.test_acc, s=14,
                   color=style["color"], alpha=0.45, linewidths=0)
        low = (rows["mean"] - rows.low).fillna(0).to_numpy()
        high = (rows.high - rows["mean"]).fillna(0).to_numpy()
        ax.errorbar(xs, rows["mean"], yerr=[low, high], color=style["color"],
                    marker=style["marker"], markersize=6, capsize=3, linewidth=1.2,
                    label=config)
    ax.set_xticks(range(len(budgets)), [f"{b} epochs" for b in budgets])
    ax.set_xlabel("training budget")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    if shown:
        ax.legend(loc="lower right", ncol=2)
    return fig


def grid_figure(grid, colours: dict, chosen: dict):
    """The learning-rate grid: validation accuracy against the rate (log scale), one line
    per configuration, the chosen rate ringed; the papers' four configurations on the
    left, the others on the right, on one scale.

    Args:
        grid: rows ``config, lr, val_acc`` (%), :func:`hybridlib.tuning.grid_table`; a NaN
            score (a run not recorded yet) leaves its point out, and an empty grid (a
            profile without one) gives axes that say so.
        colours: a colour per configuration, in the order of the legend.
        chosen: ``{config: rate}``, :func:`hybridlib.tuning.chosen_rates`.
    Returns the figure.
    """
    from hybridlib.configs import MAIN_CONFIGS

    groups = ([c for c in colours if c in MAIN_CONFIGS],
              [c for c in colours if c not in MAIN_CONFIGS])
    groups = [g for g in groups if any(c in set(grid.config) for c in g)] or [[]]
    fig, axes = plt.subplots(1, len(groups), figsize=(MAX_WIDTH, 3.9), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, group, title in zip(axes[0], groups, ("the papers' configurations", "the others")):
        for config in group:
            rows = grid[(grid.config == config) & grid.val_acc.notna()].sort_values("lr")
            if rows.empty:
                continue
            ax.plot(rows.lr, rows.val_acc, marker="o", color=colours[config], label=config,
                    linewidth=2.0 if config in MAIN_CONFIGS else 1.3)
            if config in chosen:
                best = rows[rows.lr == chosen[config]]
                ax.scatter(best.lr, best.val_acc, s=110, facecolors="none",
                           edgecolors=colours[config], linewidths=1.8, zorder=3)
        if grid.empty:
            ax.text(0.5, 0.5, "this profile has no learning-rate grid", ha="center",
                    va="center", transform=ax.transAxes, color="0.4")
            ax.set_xlabel("peak learning rate")
            continue
        ax.set_xscale("log")
        rates = sorted(set(grid.lr))
        ax.set_xticks(rates, [f"{r:g}" for r in rates])
        ax.minorticks_off()
        ax.set_xlabel("peak learning rate")
        ax.set_title(title, fontsize=10)
        # Below the axes: inside, some configuration's line always runs under it.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    axes[0, 0].set_ylabel("validation accuracy (%)")
    return fig


def curve_score(curves) -> tuple[str, str]:
    """The column learning curves show, and its name: the validation split's accuracy where
    it was measured every epoch, else the test set's."""
    if curves.val_acc.notna().all():
        return "val_acc", "validation accuracy"
    return "test_acc", "test accuracy"


def stride_positions(strides) -> list[str]:
    """The positions of a :func:`hybridlib.results.strides_table` in network order."""
    return [p for p in ("stem", "stage2", "stage3", "stage4", "head")
            if p in set(strides.position)]


def curves_figure(curves, colours: dict, profile: str, name=str):
    """The learning curves of :func:`hybridlib.results.curves_table`, per data set: the
    validation accuracy (the test accuracy where no validation split was measured), the
    mean over seeds marked and, for the papers' four configurations, every seed thin; the
    training loss; and the last half of the epochs on a scale of its own, the epochs the
    plateau criterion reads shaded.

    ``colours`` maps each configuration to its colour, in the order to draw them; the
    papers' four configurations are drawn solid, the position ablation dashed.
    """
    from hybridlib.configs import MAIN_CONFIGS
    from hybridlib.evidence import plateau_span

    def style(config):
        main = config in MAIN_CONFIGS
        return {"color": colours[config], "linestyle": "-" if main else "--",
                "linewidth": 2.0 if main else 1.3, "marker": "o", "markersize": 4}

    score, score_name = curve_score(curves)
    mean_curves = (curves.groupby(["dataset", "config", "epoch"])
                   [[score, "train_loss"]].mean().reset_index())
    datasets = list(dict.fromkeys(curves.dataset))
    # Per data set, the whole run on top and, below on the full width, the final epochs on a
    # scale of their own: at the top's scale the early epochs squeeze the plateau to a line.
    mosaic = [row for d in datasets for row in ([f"{d} acc", f"{d} loss"], [f"{d} end"] * 2)]
    fig, axes = plt.subplot_mosaic(mosaic, figsize=(MAX_WIDTH, 6.2 * len(datasets) + 0.9),
                                   height_ratios=[1.1, 1] * len(datasets),
                                   constrained_layout=True)
    for dataset in datasets:
        acc, loss, end = (axes[f"{dataset} {part}"] for part in ("acc", "loss", "end"))
        n_ep = int(curves[curves.dataset == dataset].epoch.max())
        first_shown = n_ep // 2 + 1
        for config in colours:
            c = mean_curves[(mean_curves.dataset == dataset) & (mean_curves.config == config)]
            if c.empty:
                continue
            seeds = curves[(curves.dataset == dataset) & (curves.config == config)]
            for ax, since in ((acc, 1), (end, first_shown)):
                # Every seed of the papers' configurations; the ablation's means alone,
                # or forty-odd thin lines would hide the curves the chapter compares.
                for _, one in seeds[seeds.epoch >= since].groupby("seed"):
                    if config in MAIN_CONFIGS:
                        ax.plot(one.epoch, one[score], color=colours[config], linewidth=0.7,
                                alpha=0.45)
                tail = c[c.epoch >= since]
                ax.plot(tail.epoch, tail[score], label=config, **style(config))
            loss.plot(c.epoch, c.train_loss, label=config, **style(config))
        if n_ep > 1:
            end.axvspan(n_ep - plateau_span(n_ep) + 0.5, n_ep + 0.3, color="0.9", zorder=0)
        acc.set_ylabel(f"{score_name} (%)")
        end.set_ylabel(f"{score_name} (%)")
        loss.set_ylabel("training loss (with label smoothing)")
        for ax, what, since in ((acc, score_name, 1), (loss, "training loss", 1),
                                (end, f"{score_name}, the last epochs", first_shown)):
            ax.set_xlabel("epoch")
            ax.set_title(f"{name(dataset)}, profile {profile}: {what}", fontsize=10)
            ax.set_xticks(range(since, n_ep + 1))
            ax.set_xlim(since - 0.3, n_ep + 0.3)
            ax.grid(alpha=0.3)
    handles, labels = axes[f"{datasets[0]} acc"].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=9)
    return fig


def strides_figures(strides, order: Sequence[str], profile: str, name=str) -> list:
    """One figure per data set of :func:`hybridlib.results.strides_table`: the learned
    strides after every epoch (mean over seeds; S_h and S_w in two colours), one row per
    configuration of ``order`` that has DiffStride layers and one column per position, on
    one common scale; dotted: the initial stride."""
    s_mean = strides.groupby(["dataset", "config", "position", "axis", "epoch"]).agg(
        stride=("stride", "mean"), initial=("initial", "first")).reset_index()
    pos_order = stride_positions(s_mean)
    figures = []
    for dataset in dict.fromkeys(s_mean.dataset):
        d = s_mean[s_mean.dataset == dataset]
        cfgs = [c for c in order if c in set(d.config)]
        # One y-range for every panel: a stride that moved 0.05 looks as small as it is.
        fig, axes = plt.subplots(len(cfgs), len(pos_order),
                                 figsize=(MAX_WIDTH, 1.3 * len(cfgs) + 0.8), squeeze=False,
                                 sharex=True, sharey=True, constrained_layout=True)
        for i, config in enumerate(cfgs):
            for j, position in enumerate(pos_order):
                ax = axes[i, j]
                cell = d[(d.config == config) & (d.position == position)]
                if cell.empty:
                    ax.set_axis_off()
                    continue
                for axis, colour in (("h", "tab:blue"), ("w", "tab:orange")):
                    a = cell[cell.axis == axis]
                    ax.plot(a.epoch, a.stride, marker="o", markersize=3, color=colour,
                            label=f"$S_{axis}$")
                ax.axhline(cell.initial.iloc[0], color="grey", linestyle=":", linewidth=1)
                ax.ticklabel_format(axis="y", useOffset=False)
                n_ep = int(cell.epoch.max())
                ax.set_xticks(range(1, n_ep + 1))
                ax.set_xlim(0.7, n_ep + 0.3)
                ax.set_title(position, fontsize=9, pad=3)
                if not any(axes[i, k].axison for k in range(j)):  # first panel of the row
                    ax.set_ylabel(config, fontsize=9, fontweight="bold")
                    # sharey keeps the tick labels of column 0 only, empty in some rows
                    ax.yaxis.set_tick_params(labelleft=True)
        for j in range(len(pos_order)):
            shown = [axes[i, j] for i in range(len(cfgs)) if axes[i, j].axison]
            if shown:
                shown[-1].set_xlabel("epoch", fontsize=9)
                shown[-1].xaxis.set_tick_params(labelbottom=True)
        handles, labels = next(ax for ax in axes.flat if ax.axison).get_legend_handles_labels()
        fig.legend(handles + [plt.Line2D([], [], color="grey", linestyle=":")],
                   labels + ["initial stride"], loc="outside lower center", ncol=3, fontsize=9)
        fig.suptitle(f"Learned strides per epoch, {name(dataset)}, profile {profile}",
                     fontsize=10)
        figures.append(fig)
    return figures


def config_colours(configs: Sequence[str]) -> dict:
    """A colour per configuration, in the order given: :data:`CONFIG_COLOURS` for the
    configurations it names, :data:`OTHER_COLOURS` in turn for the others."""
    others = iter(OTHER_COLOURS * (1 + len(configs) // len(OTHER_COLOURS)))
    return {c: CONFIG_COLOURS[c] if c in CONFIG_COLOURS else next(others) for c in configs}


def headline_figure(intervals, runs, colours: dict, dataset: str, title: str):
    """One data set's test accuracy per configuration: each seed a dot, the mean with its
    95 % t-interval in black (``intervals``: ``hybridlib.evidence.interval_table``; ``runs``:
    ``hybridlib.results.runs_table``), configurations in the order of ``colours``."""
    ci = (intervals[intervals.dataset == dataset].set_index("config")
          .reindex(list(colours)[::-1]).dropna(subset=["mean"]))
    fig, ax = plt.subplots(figsize=(NARROW_WIDTH, 0.42 * len(ci) + 1.4), constrained_layout=True)
    for y, (config, r) in enumerate(ci.iterrows()):
        seeds = runs[(runs.dataset == dataset) & (runs.config == config)].test_acc
        ax.scatter(seeds, [y] * len(seeds), s=16, color=colours[config], alpha=0.7, zorder=3)
        err = None if np.isnan(r.low) else [[r["mean"] - r.low], [r.high - r["mean"]]]
        ax.errorbar(r["mean"], y, xerr=err, fmt="D", color="black", markersize=4, capsize=3,
                    zorder=4)
    ax.set_yticks(range(len(ci)), ci.index)
    ax.set_xlabel("test accuracy (%): seeds (dots),\nmean and 95 % interval (black)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def cost_figure(summary, intervals, colours: dict, dataset: str, titles: Sequence[str]):
    """One data set's mean test accuracy (with its 95 % interval) against the counted FLOPs
    per image (top) and against the measured training speed (bottom), both on logarithmic
    axes."""
    import matplotlib.ticker as ticker

    from hybridlib.configs import MAIN_CONFIGS

    s = summary[summary.dataset == dataset].set_index("config")
    half_width = intervals[intervals.dataset == dataset].set_index("config").half_width
    # One panel above the other: side by side, a dozen labelled points per panel leave the
    # labels no room at the text column's width.
    fig, axes = plt.subplots(2, 1, figsize=(MAX_WIDTH, 8.0), constrained_layout=True)
    for ax, (col, label) in zip(axes, (("gflops", "MFLOPs per image (end of training)"),
                                       ("images_per_s", "training images per second"))):
        xs = s[col] * (1e3 if col == "gflops" else 1.0)  # MFLOPs throughout the book
        for config, r in s.iterrows():
            ax.errorbar(xs[config], r.test_acc_mean, yerr=np.nan_to_num(half_width[config]),
                        fmt="o", color=colours[config], capsize=3,
                        markersize=6 if config in MAIN_CONFIGS else 4.5)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.margins(x=0.15, y=0.1)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3, which="both")
        label_points(ax, xs, s.test_acc_mean, s.index, [colours[c] for c in s.index])
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
    return fig
