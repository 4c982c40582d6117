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
# # The architectures
#
# Every model this book trains is the same ResNet-18; only the way it shrinks its
# feature maps changes. The Hybrid paper {cite}`hybrid2024` takes the DiffStride
# network of {cite}`riad2022diffstride` and adds one spectral pooling layer
# {cite}`rippel2015spectral` just before global average pooling. To compare the two
# fairly, and to ask whether the *position* of each kind of downsampling matters, the
# companion declares the downsampling of a network as data: a *spec* that names a kind
# and an initial stride for each of five positions. This chapter looks at those specs
# as networks:
#
# 1. the pre-activation ResNet-18 of the official DiffStride code, and the one detail
#    that matters for a learned stride: the projection shortcut shares the pooling
#    module of its block;
# 2. every configuration of `hybridlib.configs` with its feature-map sizes, parameter
#    count and compute at the paper's width and at the width of this book's runs;
# 3. two consequences of the official layers' size rules: the hybrid's last map is
#    $8 \times 9$, and DiffStride cannot sit at the very end of a strided network;
# 4. the initial-stride rows of the DiffStride paper's table and what they do to the
#    sizes of strided, spectral and DiffStride networks.
#
# Nothing here is trained: sizes, parameters and floating-point operations (FLOPs) are
# properties of the untrained network, measured with `hybridlib.resnet.describe`.

# %% [markdown]
# ```{admonition} Learning objectives
# :class: objectives
# After this chapter you can
#
# * read a downsampling *spec* and draw the network it describes;
# * explain why the projection shortcut shares its block's pooling module;
# * compare configurations by feature-map sizes, parameters and FLOPs;
# * predict the map sizes that the official layers' size rules give.
#
# **Prerequisites:** the chapters on spectral pooling and DiffStride, and residual
# networks (He et al.'s pre-activation ResNet).
# ```

# %% tags=["parameters"]
profile = "cpu"

# %%
quick = profile == "smoke"

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from matplotlib.patches import Patch

from hybridlib.configs import ABLATION, CONFIGS, PROFILES, STRIDE_ROWS, config_spec
from hybridlib.diffstride import DiffStride2d
from hybridlib.formatting import table
from hybridlib.resnet import describe, resnet18
from hybridlib.results import paper_table
from hybridlib.selfcheck import check_block_parameters, check_feature_sizes
from hybridlib.spectral import spectral_output_size

settings = PROFILES[profile]
width = settings["width"]  # the width of this profile's runs
PAPER_WIDTH = 64  # the papers' ResNet-18
POSITIONS = ("stem", "stage1", "stage2", "stage3", "stage4", "head")
torch.manual_seed(0)


def hw(pair):
    """'HxW' for a size pair."""
    return f"{pair[0]}x{pair[1]}"


def measure(spec, width, in_channels=3, num_classes=10):
    """describe() of a freshly built network: sizes, parameters, FLOPs at 32x32."""
    model = resnet18(spec, num_classes=num_classes, in_channels=in_channels, width=width)
    return describe(model, (in_channels, 32, 32))


display(Markdown(
    f"Profile **{profile}**: its runs use width {width} (the papers use "
    f"{PAPER_WIDTH}), {len(settings['configs'])} configurations, on "
    f"{', '.join(settings['datasets'])}."))

# %% [markdown]
# ## The pre-activation ResNet-18
#
# The official DiffStride code builds the pre-activation ResNet of
# {cite}`he2016identity`, and `hybridlib.resnet` follows it. Counting the layers that
# can change the spatial size, the network has five *positions*:
#
# | position | what it is | channels |
# |---|---|---|
# | `stem` | a $3\times3$ convolution followed by the stem's downsampling (stride 1 in the papers) | $w$ |
# | `stage1` | two identity blocks, never downsamples | $w$ |
# | `stage2`, `stage3`, `stage4` | a *projection* block that downsamples, then an identity block | $2w$, $4w$, $8w$ |
# | `head` | an optional extra downsampling layer (the hybrid's spectral pooling), then BN, ReLU, global average pooling and a linear layer | $8w$ |
#
# with $w = 64$ in the papers. A *pre-activation* block applies batch normalisation and
# the ReLU *before* each convolution, and adds the block's input back without any
# non-linearity after the sum:
#
# $$
# x_{l+1} = x_l + F(x_l), \qquad
# F(x) = \mathrm{conv}_2\big(\mathrm{ReLU}(\mathrm{BN}_2(
#        \mathrm{conv}_1(\mathrm{ReLU}(\mathrm{BN}_1(x)))))\big).
# $$
#
# Unrolled, $x_L = x_l + \sum_{k=l}^{L-1} F(x_k)$: the gradient of the loss reaches every
# block through a pure sum, which is He et al.'s argument for this ordering. A
# projection block cannot add $x_l$ unchanged, because its output has more channels and
# a smaller map; its shortcut is a $1\times1$ convolution followed by the same
# downsampling. Here is the projection block of stage 2 of the hybrid network:

# %%
hybrid_small = resnet18(CONFIGS["hybrid"], num_classes=10, in_channels=1, width=8)
print(hybrid_small.stage2[0])

# %% [markdown]
# The module order printed by PyTorch is the order of creation, not of use. In
# `forward`, the main path is `bn1 → ReLU → conv1 → pool → bn2 → ReLU → conv2`, and the
# shortcut is `shortcut → pool` applied to the block's *raw* input: the official code
# starts the shortcut before the pre-activation, and so does this one. When the kind
# is `strided`, `pool` is an identity and the stride moves into `conv1` and the
# $1\times1$ shortcut instead.
#
# ### One pooling module, two paths
#
# The same `pool` object serves the main path and the shortcut. With a fixed stride
# that is only economy, but with DiffStride it is essential: the two paths must come
# out at the same size to be added, and with one module there is one learned stride
# that moves both. Let us count, on one forward pass, how often each DiffStride layer
# of the hybrid network is called, and how many stride parameters the network has.

# %%
calls = {}
hooks = [module.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(
            name, calls.get(name, 0) + 1))
         for name, module in hybrid_small.downsamplers().items()]
with torch.no_grad():
    hybrid_small(torch.zeros(2, 1, 32, 32))
for h in hooks:
    h.remove()

n_strides = sum(p.numel() for p in hybrid_small.stride_parameters())
shared = pd.DataFrame({
    "module": {k: type(m).__name__ for k, m in hybrid_small.downsamplers().items()},
    "calls per forward pass": calls,
    "learned stride values": {k: m.stride.numel() if isinstance(m, DiffStride2d) else 0
                              for k, m in hybrid_small.downsamplers().items()},
})
p_strided, p_diff = (sum(p.numel() for p in resnet18(CONFIGS[name], width=PAPER_WIDTH).parameters())
                     for name in ("strided", "diffstride"))
display(Markdown(
    f"Each projection block calls its pooling module twice, the stem and the head once. "
    f"The hybrid network has {len(hybrid_small.stride_parameters())} DiffStride layers "
    f"and {n_strides} learned stride values (one per axis and layer). That is the whole "
    f"parameter cost of learning the strides: at width {PAPER_WIDTH} the DiffStride "
    f"network has {p_diff:,} parameters against {p_strided:,} for the strided one, "
    f"a difference of {p_diff - p_strided}."))
display(shared)

# %% [markdown]
# ## Every configuration at 32×32
#
# CIFAR images are $32\times32$; the Fashion-MNIST images of this book's runs are
# $28\times28$ and are zero-padded by two pixels on each side when they are loaded
# (`hybridlib.data`), so the same networks and the same sizes apply. The table below
# builds every configuration of `hybridlib.configs.CONFIGS` and reports the size of the
# feature map after each position at initialisation, the parameter count, and the
# FLOPs for one image (two per multiply-add of the convolutions and the linear layer,
# plus an estimate of $2.5\,N\log_2 N$ per FFT of the spectral layers).
#
# Building a width-64 network twelve times is slow on a small CPU, and it is not
# needed: the sizes do not depend on the width, the convolutions inside the stages cost
# $\propto w^2$ (input and output channels both scale with $w$), and the stem
# convolution, the linear layer and the FFTs cost $\propto w$; the number $c$ of input
# channels only enters the stem convolution, $\propto c\,w$. The FLOPs are therefore
# exactly $a w^2 + b w + k\,c\,w$, and the parameters a polynomial of the same form plus
# a constant (the linear layer's biases and the learned strides). Three cheap
# measurements at widths 1 and 2 give the FLOP coefficients, counting the parameters of
# four tiny networks gives the others, and a direct measurement at width 64 checks the
# extrapolation.

# %%
def cost_polynomials(spec, num_classes=10):
    """Exact FLOPs(w, c) = a w^2 + b w + k c w and params(w, c) = a' w^2 + b' w + k' c w + d.

    Returns (flops(w, c), params(w, c), sizes at 32x32).
    """
    points = [(1, 3), (2, 3), (1, 1)]
    m = [measure(spec, w, c, num_classes) for w, c in points]
    f = np.linalg.solve([[w * w, w, c * w] for w, c in points], [r["flops"] for r in m])
    points_p = [(1, 3), (2, 3), (3, 3), (1, 1)]
    counts = [sum(p.numel() for p in resnet18(spec, num_classes, c, w).parameters())
              for w, c in points_p]
    q = np.linalg.solve([[w * w, w, c * w, 1] for w, c in points_p], counts)
    return (lambda w, c=3: f[0] * w * w + f[1] * w + f[2] * c * w,
            lambda w, c=3: int(round(q[0] * w * w + q[1] * w + q[2] * c * w + q[3])),
            m[0]["sizes"])


costs = {name: cost_polynomials(spec) for name, spec in CONFIGS.items()}

check_name = "strided" if quick else "hybrid"
direct = measure(CONFIGS[check_name], PAPER_WIDTH)
flops_fn, params_fn, _ = costs[check_name]
flop_error = abs(flops_fn(PAPER_WIDTH) - direct["flops"]) / direct["flops"]
display(Markdown(
    f"Check on `{check_name}` at width {PAPER_WIDTH}: measured {direct['flops'] / 1e9:.4f} "
    f"GFLOPs and {direct['parameters']:,} parameters; the polynomials give "
    f"{flops_fn(PAPER_WIDTH) / 1e9:.4f} GFLOPs (relative error {flop_error:.1e}) and "
    f"{params_fn(PAPER_WIDTH):,} parameters."))
assert flop_error < 1e-9 and params_fn(PAPER_WIDTH) == direct["parameters"]

# %%
in_channels_profile = 1 if "fashion_mnist" in settings["datasets"] else 3
strided_gflops = costs["strided"][0](PAPER_WIDTH) / 1e9
here = measure(CONFIGS[check_name], width, in_channels_profile)  # a second check
assert abs(costs[check_name][0](width, in_channels_profile) - here["flops"]) < 1e-6 * here["flops"]
assert costs[check_name][1](width, in_channels_profile) == here["parameters"]
rows = []
for name, spec in CONFIGS.items():
    flops_fn, params_fn, sizes = costs[name]
    row = {"configuration": name}
    row.update({position: hw(sizes[position]) for position in POSITIONS})
    row.update({
        f"params (w={PAPER_WIDTH})": params_fn(PAPER_WIDTH),
        f"GFLOPs (w={PAPER_WIDTH})": flops_fn(PAPER_WIDTH) / 1e9,
        "FLOPs / strided": flops_fn(PAPER_WIDTH) / 1e9 / strided_gflops,
        f"params (w={width})": params_fn(width, in_channels_profile),
        f"MFLOPs (w={width})": flops_fn(width, in_channels_profile) / 1e6,
        "description": spec["description"],
    })
    rows.append(row)
arch = pd.DataFrame(rows).set_index("configuration")
# Too wide for the text column as one table: the map sizes, the costs, the descriptions.
display(table(arch[list(POSITIONS)], caption="map size (h×w) after each position"))
display(table(arch.drop(columns=["description", *POSITIONS]),
              formats={f"params (w={PAPER_WIDTH})": "{:,}", f"params (w={width})": "{:,}"}))
table(arch[["description"]])

# %% [markdown]
# The columns at width $w$ of this profile use its input channels (one for
# Fashion-MNIST, three for CIFAR and the synthetic data); the width-64 columns use
# three, as in the papers.

# %%
ratio = arch["FLOPs / strided"]
display(Markdown(
    f"All configurations have the same parameters up to the handful of learned strides, "
    f"but not the same cost. Fixed spectral pooling costs "
    f"{ratio['spectral']:.2f} times the strided network (its convolutions run at stride "
    f"1 before the pooling, and the FFTs add a little), about as much as max or average "
    f"pooling ({ratio['max']:.2f}). DiffStride costs **{ratio['diffstride']:.1f} times** "
    f"as much at initialisation, {arch.loc['diffstride', f'GFLOPs (w={PAPER_WIDTH})']:.1f} "
    f"GFLOPs per image against {strided_gflops:.2f}: its maps after stages 2, 3 and 4 are "
    f"{arch.loc['diffstride', 'stage2']}, {arch.loc['diffstride', 'stage3']} and "
    f"{arch.loc['diffstride', 'stage4']} instead of {arch.loc['strided', 'stage2']}, "
    f"{arch.loc['strided', 'stage3']} and {arch.loc['strided', 'stage4']} (the "
    f"DiffStride chapter derives the size rule). The hybrid's extra "
    f"spectral pooling in the head adds only "
    f"{1000 * (arch.loc['hybrid', f'GFLOPs (w={PAPER_WIDTH})'] - arch.loc['diffstride', f'GFLOPs (w={PAPER_WIDTH})']):.1f} "
    f"MFLOPs: it sits after the last convolution, so the only operation it makes cheaper "
    f"is the global average. Of the ablation configurations, `diffstride_early` is the "
    f"cheapest DiffStride network ({ratio['diffstride_early']:.2f} times strided) and "
    f"`spectral_stage2` the most expensive ({ratio['spectral_stage2']:.2f}): after its "
    f"spectral pooling to {arch.loc['spectral_stage2', 'stage2']} the DiffStride layers of "
    f"stages 3 and 4 do not shrink the map at all at their initial stride (the section on "
    f"`reversed_hybrid` below shows why), so stages 3 and 4 run at "
    f"{arch.loc['spectral_stage2', 'stage4']}."))

# %% [markdown]
# ### Where each kind of downsampling sits
#
# The figure draws the specs: one row per configuration, one column per position that
# can downsample. A cell's colour is the kind, its text the initial stride and the
# size of the map going in and coming out at a $32\times32$ input.

# %% mystnb={"figure": {"caption": "Every configuration's downsampling at the five positions, with the feature-map sizes of a 32×32 input.", "name": "fig-configurations"}}
KIND_COLOURS = {
    "strided": "#b0b0b0",
    "max": "#8fbf7f",
    "avg": "#cfe3a0",
    "spectral": "#6f9fd8",
    "diffstride": "#f0a04b",
    None: "#ffffff",
}
KIND_LABELS = {
    "strided": "strided convolution",
    "max": "max pooling",
    "avg": "average pooling",
    "spectral": "fixed spectral pooling",
    "diffstride": "DiffStride (learned stride)",
    None: "nothing (no layer)",
}
DIAGRAM_POSITIONS = ("stem", "stage2", "stage3", "stage4", "head")
INPUT_OF = {"stem": None, "stage2": "stage1", "stage3": "stage2", "stage4": "stage3",
            "head": "stage4"}

names = list(CONFIGS)
fig, ax = plt.subplots(figsize=(9, 0.52 * len(names) + 1.6), constrained_layout=True)
for i, name in enumerate(names):
    spec, sizes = CONFIGS[name], costs[name][2]
    for j, position in enumerate(DIAGRAM_POSITIONS):
        entry = spec.get(position)
        kind = entry[0] if entry else None
        size_in = (32, 32) if position == "stem" else sizes[INPUT_OF[position]]
        colour = KIND_COLOURS[kind]
        if kind == "strided" and entry[1] == 1:
            colour, text = "#eeeeee", f"plain conv\n{hw(size_in)}"
        elif kind is None:
            text = "—"
        else:
            text = f"S={entry[1]:g}\n{hw(size_in)} → {hw(sizes[position])}"
        ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white",
                                   linewidth=2))
        ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=8.5)
ax.set_xlim(0, len(DIAGRAM_POSITIONS))
ax.set_ylim(len(names), 0)
ax.set_xticks(np.arange(len(DIAGRAM_POSITIONS)) + 0.5, DIAGRAM_POSITIONS)
ax.set_yticks(np.arange(len(names)) + 0.5, names)
ax.xaxis.tick_top()
ax.tick_params(length=0)
for spine in ax.spines.values():
    spine.set_visible(False)
ax.axhline(names.index(ABLATION[0]), color="black", linewidth=1)  # baselines | ablation
handles = [Patch(facecolor=KIND_COLOURS[k], edgecolor="grey", label=KIND_LABELS[k])
           for k in ("strided", "max", "avg", "spectral", "diffstride")]
handles += [Patch(facecolor="#eeeeee", edgecolor="grey", label="stride-1 stem convolution"),
            Patch(facecolor="white", edgecolor="grey", label=KIND_LABELS[None])]
ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=4,
          fontsize=8, frameon=False)
ax.set_title("Downsampling per position (initial stride, map size in → out at 32×32)",
             fontsize=10)
plt.show()

# %% [markdown]
# Above the line sit the baselines of the DiffStride paper and the hybrid; below it,
# the position ablation that `hybridlib.configs` declares to test the Hybrid paper's
# claim that DiffStride works best early and spectral pooling late. Stage 1 never
# downsamples and is left out of the figure.
#
# ### The hybrid's head: 18×18 becomes 8×9
#
# The spectral pooling layer of the official DiffStride repository, which both papers
# use as their spectral baseline, computes its output size as $h = \lfloor H/S_h
# \rfloor$ rounded *down to an even number* and $w = \lfloor W/S_w \rfloor$, without the
# rounding (the rule is described in the [spectral pooling chapter](01_spectral_pooling.ipynb)).
# Only the height is forced even. For the maps of strided networks the difference never
# shows, because $H/2$ is even, but the hybrid's spectral pooling sits on DiffStride's
# $18\times18$ map, and $18/2 = 9$ is odd:

# %%
head_in = tuple(costs["hybrid"][2]["stage4"])
head_out = spectral_output_size(*head_in, 2)
head_check = measure(CONFIGS["hybrid"], 2)["sizes"]["head"]
display(Markdown(
    f"`spectral_output_size{head_in + (2,)}` = {head_out}; the network agrees: "
    f"stage 4 gives {hw(head_in)}, the head {hw(head_check)}. A symmetric rule would give "
    f"{head_in[0] // 2}x{head_in[1] // 2}. Global average pooling follows, so the shape "
    f"itself does no harm, but it shows that the head layer removes the top row of "
    f"frequencies along one axis and not the other."))

# %% [markdown]
# ### Why `reversed_hybrid` is defined as it is
#
# The natural "reverse" of the hybrid would put spectral pooling early and DiffStride
# in the head, on a network whose stages downsample with fixed strides. That network
# cannot be built with the official DiffStride layer: after three fixed stride-2 stages
# the map is $4\times4$, and DiffStride's mask ramp is $R = 4$ positions wide. The layer
# refuses a map that is not larger than $R$:

# %%
try:
    DiffStride2d(2.0).output_size(4, 4)
except ValueError as err:
    print(f"ValueError: {err}")

# %% [markdown]
# Even on maps it accepts, DiffStride shrinks small inputs little or not at all. Its
# mask is non-zero up to the threshold $T$ plus the ramp width $R$, and $T$ never drops
# below 1 (the target size is at least 2), so it always keeps the frequencies up to
# $1 + R$ on each side. The table gives the output size of one DiffStride layer at its
# initial stride 2 and at an absurdly large stride, next to fixed spectral pooling by 2:

# %%
small_rows = []
for n in (6, 8, 10, 12, 16, 18, 20, 24, 32):
    small_rows.append({
        "input": f"{n}x{n}",
        "DiffStride, S=2": hw(DiffStride2d(2.0).output_size(n, n)),
        "DiffStride, S=1000": hw(DiffStride2d(1000.0).output_size(n, n)),
        "spectral, S=2": hw(spectral_output_size(n, n, 2)),
    })
smallest = min(DiffStride2d(1000.0).output_size(n, n)[0] for n in range(10, 66, 2))
first_shrink = min(n for n in range(6, 66, 2) if DiffStride2d(2.0).output_size(n, n)[0] < n)
display(pd.DataFrame(small_rows).set_index("input"))
display(Markdown(
    f"No DiffStride layer with R = 4 can produce an even map smaller than "
    f"{smallest}x{smallest}, and at its initial stride 2 the smallest map it shrinks is "
    f"{first_shrink}x{first_shrink}. So `reversed_hybrid` puts fixed spectral pooling in stages 2 "
    f"and 3 (32 → 16 → 8) and DiffStride in stage 4 *and* in the head, both on 8x8 maps: "
    f"the two layers are valid, but they cannot reduce the size, only learn how strongly "
    f"to attenuate the higher frequencies. The configuration tests the order of the two "
    f"kinds in depth, not a mirror image in cost: it is "
    f"{ratio['reversed_hybrid']:.2f} times the strided network against "
    f"{ratio['hybrid']:.2f} for the hybrid."))

# %% [markdown]
# ## The initial strides of the DiffStride paper
#
# The DiffStride paper trains each network with six different initial strides for
# stages 2 to 4, the rows of its main table (`hybridlib.configs.STRIDE_ROWS`). For a
# strided or a spectral network these are the strides, for good; for DiffStride they
# are only the starting point. The table below gives the map size after stage 4 (the
# last map before global average pooling) for each row, with the accuracy the paper
# reports on CIFAR-10 for the same row ({cite}`krizhevsky2009cifar`).

# %%
reported = paper_table(["diffstride_paper"])
reported = reported[reported.dataset == "cifar10"].set_index(["init_strides", "model"]).test_acc
row_data = []
for row in STRIDE_ROWS:
    label = "(" + ",".join(map(str, row)) + ")"
    entry = {("", "initial strides"): label}
    for kind in ("strided", "spectral", "diffstride"):
        sizes = measure(config_spec(kind, row), 2)["sizes"]
        entry[(kind, "final map")] = hw(sizes["stage4"])
        entry[(kind, "CIFAR-10 acc. (paper)")] = reported[(label, kind)]
    row_data.append(entry)
rows_table = pd.DataFrame(row_data).set_index(("", "initial strides"))
rows_table.columns = pd.MultiIndex.from_tuples(rows_table.columns)
rows_table.index.name = "initial strides"
display(rows_table)

# %%
spread = {kind: rows_table[(kind, "CIFAR-10 acc. (paper)")] for kind in
          ("strided", "spectral", "diffstride")}
final = {kind: rows_table[(kind, "final map")] for kind in ("strided", "spectral", "diffstride")}
display(Markdown(
    f"The fixed networks lose accuracy as their final map shrinks: from the (2,2,2) row to "
    f"the (3,2,3) row the strided network goes from "
    f"{final['strided']['(2,2,2)']} to "
    f"{final['strided']['(3,2,3)']} and from "
    f"{spread['strided']['(2,2,2)']:.1f} % to {spread['strided']['(3,2,3)']:.1f} %, spectral "
    f"pooling from {final['spectral']['(2,2,2)']} to "
    f"{final['spectral']['(3,2,3)']} and from "
    f"{spread['spectral']['(2,2,2)']:.1f} % to {spread['spectral']['(3,2,3)']:.1f} %. "
    f"DiffStride's accuracy spans only "
    f"{spread['diffstride'].max() - spread['diffstride'].min():.1f} points over the six "
    f"rows (against {spread['strided'].max() - spread['strided'].min():.1f} for strided "
    f"convolutions), and its final map stays between "
    f"{min(final['diffstride'], key=lambda t: int(t.split('x')[0]))} and "
    f"{max(final['diffstride'], key=lambda t: int(t.split('x')[0]))} at initialisation: a good part of its "
    f"robustness to the initial strides is that it starts with large maps whatever the "
    f"row, and that the training can move the strides from there. Odd inputs also show "
    f"the lopsided spectral rule again: with strides (3,1,3) the spectral network ends at "
    f"{final['spectral']['(3,1,3)']}."))

# %% [markdown]
# The [training chapter](05_training.ipynb) trains these configurations, and the
# [results chapter](06_results.ipynb) compares their accuracy with their cost.
#
# ## Exercises
#
# **Exercise 4.1** (Feature-map sizes by formula). Write `sizes(spec, input_size)` that
# returns the size of the feature map after each position (`stem`, `stage1` ...
# `stage4`, `head`) of a ResNet-18 built from `spec`, at initialisation, for an input
# of `input_size = (H, W)` pixels, without building the network. You need one rule
# per kind: a $3\times3$ convolution with padding 1 and stride $s$; max and average
# pooling with kernel = stride and `ceil_mode=True`; fixed spectral pooling
# (`hybridlib.spectral.spectral_output_size` may be used); DiffStride
# (`DiffStride2d(stride).output_size(h, w)` may be used). A stride of 1 leaves a fixed
# kind's map unchanged, and a `head` of `None` leaves the stage-4 map. The self-check
# compares with `describe` on twelve networks, including odd, non-square and
# re-strided ones.

# %% tags=["exercise-stub"]
def sizes(spec, input_size):
    """Feature-map size after every position of resnet18(spec) for one input.

    Args:
        spec: a configuration as in hybridlib.configs.CONFIGS: "stem", "stage2",
            "stage3", "stage4" map to (kind, stride); "head" to (kind, stride) or None.
        input_size: (H, W) of the input image.

    Returns:
        {"stem": (h, w), "stage1": (h, w), ..., "stage4": (h, w), "head": (h, w)}.
    """
    raise NotImplementedError(
        "Exercise 4.1: walk through the positions in order, keeping (h, w); a strided 3x3 "
        "convolution gives (n - 1) // s + 1, pooling with ceil_mode gives ceil(n / s), "
        "stage1 keeps the size, and the head is stage4's size when spec['head'] is None")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 4.1", "code_prompt_hide": "Hide the solution to Exercise 4.1"}
def sizes(spec, input_size):
    """Feature-map size after every position of resnet18(spec) for an input (H, W)."""

    def down(kind, stride, h, w):
        if kind == "strided":  # 3x3 convolution, padding 1: floor((n + 2 - 3) / s) + 1
            s = int(stride)
            return (h - 1) // s + 1, (w - 1) // s + 1
        if kind == "diffstride":  # a layer even at stride 1: its stride gets clamped
            return DiffStride2d(stride).output_size(h, w)
        if stride == 1:
            return h, w
        if kind in ("max", "avg"):
            return math.ceil(h / stride), math.ceil(w / stride)
        if kind == "spectral":
            return spectral_output_size(h, w, stride)
        raise ValueError(f"unknown kind {kind!r}")

    h, w = input_size
    out = {}
    for position in ("stem", "stage1", "stage2", "stage3", "stage4", "head"):
        entry = spec.get(position)
        if entry is not None:
            h, w = down(entry[0], entry[1], h, w)
        out[position] = (h, w)
    return out


# %%
print(check_feature_sizes(sizes))

# %% [markdown]
# **Exercise 4.2** (Parameters of a pre-activation block). Write
# `block_parameters(c_in, c_out, kind)`, the number of trainable parameters of one
# `PreActBlock`: an identity block when `kind` is `None` (then `c_in == c_out`), a
# projection block with that downsampling kind otherwise. Remember what a batch-norm
# layer learns (and what it only tracks), that the convolutions have no bias, which
# block has a $1\times1$ shortcut, and what a DiffStride layer adds. Then use it to
# rebuild the parameter count of the whole ResNet-18.

# %% tags=["exercise-stub"]
def block_parameters(c_in, c_out, kind):
    """Trainable parameters of PreActBlock(c_in, c_out, kind, stride=2).

    Args:
        c_in, c_out: input and output channels (equal when kind is None).
        kind: None for an identity block, else "strided", "max", "avg", "spectral" or
            "diffstride" for a projection block.

    Returns:
        int, the number of trainable parameters.
    """
    raise NotImplementedError(
        "Exercise 4.2: two batch norms (a weight and a bias per channel; the running "
        "statistics are buffers), two 3x3 convolutions without bias, a 1x1 shortcut in "
        "projection blocks, and DiffStride's stride (one value per axis)")


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 4.2", "code_prompt_hide": "Hide the solution to Exercise 4.2"}
def block_parameters(c_in, c_out, kind):
    """Trainable parameters of PreActBlock(c_in, c_out, kind, stride=2)."""
    batch_norms = 2 * c_in + 2 * c_out  # gamma and beta of BN1 (c_in) and BN2 (c_out)
    convolutions = 9 * c_in * c_out + 9 * c_out * c_out
    shortcut = c_in * c_out if kind is not None else 0
    learned_stride = 2 if kind == "diffstride" else 0
    return batch_norms + convolutions + shortcut + learned_stride


# %%
print(check_block_parameters(block_parameters))


# %%
def network_parameters(spec, width=64, in_channels=3, num_classes=10):
    """ResNet-18 parameters assembled from block_parameters."""
    total = 9 * in_channels * width  # the stem convolution
    total += 2 if spec["stem"][0] == "diffstride" else 0
    total += 2 * block_parameters(width, width, None)  # stage 1
    c_in = width
    for position, factor in (("stage2", 2), ("stage3", 4), ("stage4", 8)):
        c_out = width * factor
        total += block_parameters(c_in, c_out, spec[position][0])
        total += block_parameters(c_out, c_out, None)
        c_in = c_out
    head = spec.get("head")
    total += 2 if head is not None and head[0] == "diffstride" else 0
    return total + 2 * c_in + c_in * num_classes + num_classes  # final BN and linear


for name in ("strided", "hybrid", "reversed_hybrid"):
    counted = network_parameters(CONFIGS[name])
    print(f"{name}: assembled {counted:,}, measured {costs[name][1](PAPER_WIDTH):,}")

# %% [markdown]
# **Exercise 4.3** (How small can DiffStride go?). (a) From the rules of the
# [DiffStride chapter](03_diffstride.ipynb) (target size $h' = \max(H/S, 2)$, threshold
# $T_h = h'/2$, a row is kept while its mask is positive, i.e. its position
# $p < T_h + R$), show that along an even axis of length $H \ge 2R + 2$ a DiffStride
# layer keeps at least $2(R + 1)$ rows whatever its stride, and none of the rows of an
# axis with $H \le 2R + 2$ can be removed. (b) Which positions of a strided ResNet-18 on
# $32\times32$ inputs could hold a DiffStride layer that is able to downsample, and what
# does this say about the Hybrid paper's choice of a *fixed* spectral pooling for the
# head? (c) Why does the official code refuse a map with $H \le R$ at all?

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 4.3
# :class: dropdown
# (a) The height positions of an even axis are $0, 1, \dots, H/2 - 1$ twice (the
# positive and the negative frequencies). Since $h' \ge 2$, $T_h \ge 1$, and the mask
# $\min(1, \max(0, (R + T_h - p)/R))$ is positive exactly for $p < T_h + R$, in
# particular for every $p \le R$ (as $p \le R < 1 + R \le T_h + R$). Each side keeps
# at least the $R + 1$ positions $0 .. R$, so at least $2(R + 1)$ rows survive; with
# $R = 4$ that is 10, the smallest size in the table above. If $H \le 2R + 2$, every
# position is $\le H/2 - 1 \le R$, so every row is kept and the layer cannot downsample
# at all (it still multiplies the higher frequencies by a mask below 1).
#
# (b) In the strided network the stem, stage 2, stage 3, stage 4 and the head receive
# maps of $32, 32, 16, 8$ and $4$ pixels a side. A DiffStride layer can shrink the first
# three (all larger than 10, though at its initial stride 2 the $16\times16$ map of
# stage 3 stays $16\times16$ until the stride grows); stage 4 receives $8\times8$,
# which it accepts but cannot shrink, and the head $4\times4$, which it refuses. With DiffStride everywhere the maps stay
# large ($18\times18$ before the head), and a head DiffStride layer could shrink them,
# but only down to $10\times10$ however it learns; fixed spectral pooling takes them to
# $8\times9$ at once. So the head is one place where only a fixed pooling can give a
# real reduction.
#
# (c) The stride needs a gradient, so some frequencies must sit on the ramp of the mask
# rather than on its flat top. The official layer guarantees it with the lower clamp
# $S \ge H/(H - R)$, which keeps the threshold at most $(H - R)/2$, so the ramp starts
# inside the spectrum. For $H \le R$ that bound is infinite or negative: there is no
# stride at which the layer both keeps the DC term and has a ramp to learn on, and
# the code refuses the input instead of silently learning nothing.
# ```

# %% [markdown]
# **Exercise 4.4** (Design a configuration with BlurPool). Anti-aliased downsampling
# {cite}`zhang2019blurpool` blurs with a small binomial filter before keeping every
# second pixel, which makes a strided network more consistent under shifts of the
# input. (a) Where in the ResNet-18 would you put BlurPool layers to make a fair fourth
# baseline next to strided, spectral and DiffStride, and where would you put a single
# BlurPool in a hybrid-like model whose head currently uses spectral pooling? Argue from
# the sizes and the costs measured in this chapter. (b) Following the page
# [Adding a downsampling layer](../extending.md), write down the registration and the
# configuration entry you would add, and predict the sizes and the FLOPs relative to
# the strided network before running anything. (c) Which measurement would tell you
# whether the blur or the position is responsible for a difference in accuracy?

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 4.4
# :class: dropdown
# (a) As a baseline, BlurPool replaces the stride of the projection blocks of stages
# 2-4, exactly where `max`, `avg` and `spectral` sit, with a stride-1 stem: the
# convolutions then run at stride 1 before the pooling, as for the other fixed kinds,
# so the cost is close to the `max` row (about 1.3 times the strided network) and the
# comparison isolates the low-pass filter. In a hybrid-like model the natural place for
# one BlurPool is the head, on DiffStride's $18\times18$ map: it costs almost nothing
# (no convolution follows it) and it is where the Hybrid paper puts spectral pooling,
# so it answers whether the head gains come from the *spectral* low-pass or from any
# low-pass before global average pooling.
#
# (b) Register `blur` with the factory of the extending page (identity at stride 1,
# integer strides only) in `hybridlib/downsample.py`, then add to `CONFIGS`
# `{"description": ..., "stem": ("strided", 1), "stage2": ("blur", 2), "stage3":
# ("blur", 2), "stage4": ("blur", 2), "head": None}` and a second entry equal to
# `hybrid` with `"head": ("blur", 2)`. With reflect padding and stride 2 the sizes are
# $\lceil n/2 \rceil$: 32 → 16 → 8 → 4 for the baseline, the same as `max`, and
# $18 \to 9$ in the head, a square map unlike spectral pooling's $8\times9$. The FLOPs
# are the `max` row's plus a $3\times3$ depthwise filter per channel at each layer,
# negligible next to the convolutions.
#
# (c) Train, with the same seeds, a head with plain subsampling (`x[..., ::2, ::2]`, no
# blur) next to the blurred and the spectral heads: equal accuracies would say the
# position matters, not the filter. The seed standard deviation of the results chapter
# tells how large a difference has to be before it means anything.
# ```

# %% [markdown]
# ```{admonition} Key takeaways
# :class: takeaways
# * Every configuration is the same pre-activation ResNet-18; a spec of five positions
#   says how it downsamples.
# * The projection shortcut shares its block's pooling module, so a learned stride acts
#   on both paths.
# * Parameters hardly differ between configurations, cost does: DiffStride's larger maps
#   make its convolutions dearer than those of fixed strides.
# * The official size rules make the hybrid's last map non-square and keep DiffStride
#   from the very end of a strided network.
# ```
