"""The configurations as a grid: one row per configuration, one column per position.

Chapter 4's figure of where each kind of downsampling sits. A cell's colour is the
kind of layer at that position, its text the initial stride and the map size going in
and coming out (``S=2`` and ``32×32 → 24×24``)::

    from hybridlib.book.architectures import cost_model
    sizes = {name: cost_model(spec).sizes for name, spec in CONFIGS.items()}
    fig = configuration_diagram(CONFIGS, sizes, split_before="spectral_stage2")
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from hybridlib.book.formatting import size
from hybridlib.book.plots import MAX_WIDTH, MIN_FONT_PT

__all__ = ["KIND_COLOURS", "KIND_LABELS", "POSITIONS", "configuration_diagram"]

KIND_COLOURS = {
    "strided": "#b0b0b0",
    "max": "#8fbf7f",
    "avg": "#cfe3a0",
    "spectral": "#6f9fd8",
    "diffstride": "#f0a04b",
    "diffstride_rescaled": "#c97c2a",
    None: "#ffffff",
}
KIND_LABELS = {
    "strided": "strided convolution",
    "max": "max pooling",
    "avg": "average pooling",
    "spectral": "fixed spectral pooling",
    "diffstride": "DiffStride (learned stride)",
    "diffstride_rescaled": "DiffStride, amplitude kept",
    None: "nothing (no layer)",
}
PLAIN_STEM = "#eeeeee"  # a stride-1 strided convolution: the stem of the fixed networks
# The positions that can downsample, and the map each one receives.
POSITIONS = ("stem", "stage2", "stage3", "stage4", "head", "gap")
_INPUT_OF = {"stage2": "stage1", "stage3": "stage2", "stage4": "stage3", "head": "stage4",
             "gap": "head"}


def _cell(entry, sizes: Mapping, position: str, input_size) -> tuple[str, str]:
    """(colour, text) of one configuration at one position."""
    size_in = input_size if position == "stem" else sizes[_INPUT_OF[position]]
    if entry is None:
        return KIND_COLOURS[None], "—"
    kind, stride = entry
    if kind == "strided" and stride == 1:
        return PLAIN_STEM, f"plain conv\n{size(size_in)}"
    # Three short lines: at the text column's width a cell holds about eight characters.
    return KIND_COLOURS[kind], f"S={stride:g}\n{size(size_in)}\n→ {size(sizes[position])}"


def configuration_diagram(
    configs: Mapping[str, Mapping],
    sizes: Mapping[str, Mapping],
    split_before: str | None = None,
    input_size: tuple[int, int] = (32, 32),
):
    """Draw ``configs`` (name -> spec) as a grid of cells; return the figure.

    Args:
        configs: specs as in :data:`hybridlib.configs.CONFIGS`, drawn top to bottom.
        sizes: per configuration, the map size ``(h, w)`` after each position
            (``stem``, ``stage1`` ... ``gap``), as ``cost_model(spec).sizes`` gives them.
        split_before: a configuration above which a line separates two groups.
        input_size: the input image's ``(h, w)``, for the stem's cell.
    """
    names = list(configs)
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 0.62 * len(names) + 1.8), constrained_layout=True)
    for i, name in enumerate(names):
        for j, position in enumerate(POSITIONS):
            colour, text = _cell(configs[name].get(position), sizes[name], position, input_size)
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white",
                                       linewidth=2))
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=MIN_FONT_PT)
    ax.set_xlim(0, len(POSITIONS))
    ax.set_ylim(len(names), 0)
    ax.set_xticks(np.arange(len(POSITIONS)) + 0.5, POSITIONS)
    ax.set_yticks(np.arange(len(names)) + 0.5, names)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if split_before is not None:
        ax.axhline(names.index(split_before), color="black", linewidth=1)
    handles = [Patch(facecolor=KIND_COLOURS[k], edgecolor="grey", label=KIND_LABELS[k])
               for k in ("strided", "max", "avg", "spectral", "diffstride")]
    handles += [Patch(facecolor=PLAIN_STEM, edgecolor="grey", label="stride-1 stem convolution"),
                Patch(facecolor="white", edgecolor="grey", label=KIND_LABELS[None])]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3,
              fontsize=MIN_FONT_PT, frameon=False)
    ax.set_title(f"Downsampling per position (initial stride, map size in → out at "
                 f"{size(input_size)})", fontsize=10)
    return fig
