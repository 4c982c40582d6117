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
# {cite}`rippel2015spectral` "one level above global average pooling" (GAP). To compare the two
# fairly, and to ask whether the *position* of each kind of downsampling matters, the
# companion declares the downsampling of a network as data: a *spec* that names a kind
# and an initial stride for each position that can downsample. This chapter looks at
# those specs as networks:
#
# 1. the pre-activation ResNet-18 of the official DiffStride code, and the one detail
#    that matters for a learned stride: the projection shortcut shares the pooling
#    module of its block;
# 2. every configuration of `hybridlib.configs` with its feature-map sizes, parameter
#    count and compute at the paper's width and at the width of this book's runs;
# 3. the three readings of the Hybrid paper's placement of spectral pooling, and a
#    derivation, checked on built networks, that one of them is DiffStride in disguise;
# 4. two consequences of the official layers' size rules: the hybrid's last map is
#    $8 \times 9$, and DiffStride cannot sit at the very end of a strided network;
# 5. the initial-stride rows of the DiffStride paper's table and what they do to the
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
# * tell apart the three readings of "spectral pooling one level above global average
#   pooling", and show why spectral pooling directly before the average only rescales;
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
import pandas as pd
import torch
from IPython.display import display

from hybridlib.book import architectures
from hybridlib.book.architectures import (
    configuration_table,
    configuration_tables,
    cost_model,
    gap_scale_check,
    readings_table,
    stride_rows_styler,
    stride_rows_table,
)
from hybridlib.book.diagram import configuration_diagram
from hybridlib.book.formatting import md, size, table
from hybridlib.book.selfcheck import check_block_parameters, check_feature_sizes
from hybridlib.configs import ABLATION, CONFIGS, PROFILES, STRIDE_ROWS
from hybridlib.diffstride import DiffStride2d
from hybridlib.resnet import describe, resnet18
from hybridlib.results import paper_table
from hybridlib.spectral import spectral_output_size

settings = PROFILES[profile]
width = settings["width"]  # the width of this profile's runs
in_channels_profile = 1 if "fashion_mnist" in settings["datasets"] else 3
PAPER_WIDTH = 64  # the papers' ResNet-18
torch.manual_seed(0)


def measure(spec, width, in_channels=3, num_classes=10):
    """describe() of a freshly built network: sizes, parameters, FLOPs at 32x32."""
    model = resnet18(spec, num_classes=num_classes, in_channels=in_channels, width=width)
    return describe(model, (in_channels, 32, 32))


# %% tags=["remove-input"]
md(architectures.profile_sentence(profile, settings, PAPER_WIDTH))

# %% [markdown]
# ## The pre-activation ResNet-18
#
# The official DiffStride code builds the pre-activation ResNet of
# {cite}`he2016identity`, and `hybridlib.resnet` follows it. Counting the places that
# can change the spatial size, the network has six *positions*: the stem, stages 2 to 4
# and two optional places at the end (stage 1 never downsamples; it is listed to
# complete the picture). The head of the network is batch norm and ReLU (BN-ReLU),
# global average pooling (GAP) and a linear layer; {numref}`tbl-positions` is the one
# definition of the positions that the whole book uses.
#
# :::{table} The positions of the ResNet-18 that can downsample, with their channels ($w = 64$ in the papers).
# :name: tbl-positions
# | position | what it is | channels |
# |---|---|---|
# | `stem` | a $3\times3$ convolution followed by the stem's downsampling (stride 1 in the papers) | $w$ |
# | `stage1` | two identity blocks, never downsamples | $w$ |
# | `stage2`, `stage3`, `stage4` | a *projection* block that downsamples, then an identity block | $2w$, $4w$, $8w$ |
# | `head` | one level above GAP: an optional downsampling layer on the last stage's output, before the head's BN-ReLU | $8w$ |
# | `gap` | directly before GAP: an optional downsampling layer after the head's BN-ReLU | $8w$ |
# :::
#
# The papers use $w = 64$. A *pre-activation* block applies batch normalisation and
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

shared = pd.DataFrame({
    "module": {k: type(m).__name__ for k, m in hybrid_small.downsamplers().items()},
    "calls per forward pass": calls,
    "learned stride values": {k: m.stride.numel() if isinstance(m, DiffStride2d) else 0
                              for k, m in hybrid_small.downsamplers().items()},
})
parameters = {name: sum(p.numel() for p in resnet18(CONFIGS[name], width=PAPER_WIDTH).parameters())
              for name in ("strided", "diffstride")}
table(shared, caption="The hybrid network's downsampling modules: how often each runs in one "
      "forward pass, and its learned stride values")

# %% tags=["remove-input"]
md(architectures.shared_pooling_sentence(calls, shared["learned stride values"].to_dict(),
                                     parameters, PAPER_WIDTH))

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
# a constant (the linear layer's biases and the learned strides).
# `hybridlib.book.architectures.cost_model` fits them: three cheap measurements at widths 1
# and 2 give the FLOP coefficients, counting the parameters of four tiny networks gives
# the others. A direct measurement at width 64, and one at this profile's width, check
# the extrapolation.

# %%
costs = {name: cost_model(spec) for name, spec in CONFIGS.items()}

check_name = "strided" if quick else "hybrid"
direct = measure(CONFIGS[check_name], PAPER_WIDTH)
here = measure(CONFIGS[check_name], width, in_channels_profile)

# %% tags=["remove-cell"]
model = costs[check_name]
assert abs(model.flops(PAPER_WIDTH) - direct["flops"]) < 1e-9 * direct["flops"]
assert model.parameters(PAPER_WIDTH) == direct["parameters"]
assert abs(model.flops(width, in_channels_profile) - here["flops"]) < 1e-9 * here["flops"]
assert model.parameters(width, in_channels_profile) == here["parameters"]

# %% tags=["remove-input"]
md(architectures.cost_check_sentence(check_name, PAPER_WIDTH, direct, costs[check_name]))

# %% [markdown]
# Three tables describe every configuration: the map sizes, the costs, and what each
# configuration is.

# %%
configurations = configuration_table(costs, CONFIGS, width, in_channels_profile, PAPER_WIDTH)
for part in configuration_tables(configurations, width, PAPER_WIDTH):
    display(part)

# %% [markdown]
# The columns at width $w$ of this profile use its input channels (one for
# Fashion-MNIST, three for CIFAR and the synthetic data); the width-64 columns use
# three, as in the papers.

# %% tags=["remove-input"]
md(architectures.cost_sentence(configurations))

# %% [markdown]
# ### Where each kind of downsampling sits
#
# The figure draws the specs: one row per configuration, one column per position that
# can downsample. A cell's colour is the kind, its text the initial stride and the
# size of the map going in and coming out at a $32\times32$ input.

# %% mystnb={"figure": {"caption": "Every configuration's downsampling at each position that can downsample, with the feature-map sizes of a 32×32 input.", "name": "fig-configurations"}}
configuration_diagram(CONFIGS, {name: costs[name].sizes for name in CONFIGS},
                      split_before=ABLATION[0])  # the line: papers' baselines | ablation
plt.show()

# %% [markdown]
# Above the line sit the baselines of the DiffStride paper and the three readings of the
# hybrid (a section of their own below); below it, the position ablation that
# `hybridlib.configs` declares to test the Hybrid paper's claim that DiffStride works
# best early and spectral pooling late. Stage 1 never downsamples and is left out of
# the figure.
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
head_in = costs["hybrid"].sizes["stage4"]
head_out = spectral_output_size(*head_in, 2)
head_check = measure(CONFIGS["hybrid"], 2)["sizes"]["head"]

# %% tags=["remove-input"]
md(architectures.head_size_sentence(head_in, head_out, head_check))

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
        "input": f"{n}×{n}",
        "DiffStride, S=2": size(DiffStride2d(2.0).output_size(n, n)),
        "DiffStride, S=1000": size(DiffStride2d(1000.0).output_size(n, n)),
        "spectral, S=2": size(spectral_output_size(n, n, 2)),
    })
smallest = min(DiffStride2d(1000.0).output_size(n, n)[0] for n in range(10, 66, 2))
first_shrink = min(n for n in range(6, 66, 2) if DiffStride2d(2.0).output_size(n, n)[0] < n)
table(pd.DataFrame(small_rows).set_index("input"),
      caption="Output size of one DiffStride layer at stride 2 and at stride 1000, and of "
      "fixed spectral pooling by 2, on small maps")

# %% tags=["remove-input"]
md(architectures.small_maps_sentence(smallest, first_shrink, configurations))

# %% [markdown]
# ## Three readings of "one level above global average pooling"
#
# The Hybrid paper {cite}`hybrid2024` describes its network in words, and no code was
# released: DiffStride "after the first layer of the convolution", spectral pooling "one
# level above global average pooling", DiffStride best early and spectral pooling best
# late. Three networks fit the words, and `hybridlib.configs.HYBRID_READINGS` declares
# all three:
#
# 1. **`hybrid`**, spectral pooling at position `head`: the DiffStride network with one
#    spectral pooling on the output of stage 4, *before* the head's BN-ReLU. The level
#    "above" global average pooling is the last residual stage's output, the input of the
#    head. This is the book's main reading (the one in `MAIN_CONFIGS`).
# 2. **`hybrid_at_gap`**, position `gap`: the same layer one step later, inside the head,
#    *after* its BN-ReLU and directly before the average. It is the most literal reading:
#    nothing sits between the pooling and the average.
# 3. **`hybrid_stem`**: "after the first layer of the convolution" read as after the
#    network's first convolution, so DiffStride sits only in the stem, and spectral
#    pooling does the downsampling of stages 2 to 4, the levels above global average
#    pooling. Of the three it is the one that follows "DiffStride early, spectral pooling
#    late" most closely, and it is a different network, not DiffStride plus one layer.
#
# The table places them next to the DiffStride network they extend (sizes at a
# $32\times32$ input, costs at width 64):

# %%
table(readings_table(configurations, CONFIGS), formats={"params": "{:,}"},
      caption="The three readings of the hybrid next to the DiffStride network they extend "
      "(sizes at a 32×32 input, costs at width 64)")

# %% tags=["remove-input"]
md(architectures.readings_sentence(configurations))

# %% [markdown]
# ### The `gap` reading is DiffStride in disguise
#
# Take one channel $z \in \mathbb{R}^{H\times W}$ of the map after the head's BN-ReLU.
# Global average pooling returns its mean $\bar z = \frac{1}{HW}\sum_{m,n} z_{mn}$. The
# DFT that `torch.fft.rfft2` computes, with its default ("backward") normalisation, is the
# plain sum
#
# $$
# \hat z_{kl} = \sum_{m=0}^{H-1}\sum_{n=0}^{W-1} z_{mn}\,
#   e^{-2\pi i\,(km/H + ln/W)},
# \qquad\text{so}\qquad
# \hat z_{00} = \sum_{m,n} z_{mn} = HW\,\bar z .
# $$
#
# Spectral pooling keeps a window $K$ of low frequencies, which always holds the DC
# coefficient $\hat z_{00}$ unchanged, and transforms back onto an $h\times w$ grid with
# `irfft2`, which divides by the number of output pixels (the layers of this book do not
# rescale, as the official one does not):
#
# $$
# y_{pq} = \frac{1}{hw}\sum_{(k,l)\in K} \hat z_{kl}\, e^{2\pi i\,(kp/h + lq/w)} .
# $$
#
# Summed over the output grid, every kept frequency but $(0, 0)$ cancels, because
# $\sum_{p=0}^{h-1} e^{2\pi i\,kp/h} = 0$ for $k \not\equiv 0 \pmod h$ (and the kept $k$ are
# distinct modulo $h$, the $l$ modulo $w$). What remains is
#
# $$
# \sum_{p,q} y_{pq} = \hat z_{00}
# \qquad\Longrightarrow\qquad
# \bar y = \frac{\hat z_{00}}{hw} = \frac{HW}{hw}\,\bar z .
# $$
#
# Every channel of every image is multiplied by the same $c = HW/(hw)$, which depends on
# the sizes only: $18\cdot18/(8\cdot9) = 4.5$ at a $32\times32$ input. The linear layer
# that follows sees $c\,\bar{\mathbf z}$, and
#
# $$
# W\,(c\,\bar{\mathbf z}) + \mathbf b = (cW)\,\bar{\mathbf z} + \mathbf b :
# $$
#
# `hybrid_at_gap` with weight $W$ computes exactly the function that `diffstride` computes
# with weight $cW$. The two networks can represent the same functions, and the spectral
# pooling adds nothing a network could learn from. Training is not quite identical: in
# terms of the effective weight $cW$, SGD's steps on the loss are $c^2$ times larger (the
# gradient with respect to $W$ is $c$ times the one with respect to $cW$, and the step is
# multiplied by $c$ again), as if the last layer's weight had a learning rate
# $c^2 \approx 20$ times the rest of the network's; weight decay shrinks $W$ and $cW$ by
# the same fraction per step. And $c$ is constant only while the stage-4 map keeps its
# size: the learned strides can move it ($16\times16 \to 8\times8$ gives $c = 4$). A
# difference between `hybrid_at_gap` and `diffstride` after training therefore measures a
# rescaled last layer, not spectral pooling. A batch norm in evaluation mode between the
# pooling and the average would not change that: it is a per-channel affine map, which
# commutes with the average. Only a ReLU between them (as in the `head` reading), or batch
# norm's batch statistics during training, lets the layer change what the network
# computes.
#
# The check on built networks: `hybridlib.book.architectures.gap_scale_check` builds the
# `hybrid_at_gap` network at this profile's width, gives its batch norms the scales and
# running statistics of a trained network, copies all its weights into a `diffstride`
# network (they have the same tensors: spectral pooling has no weights), and compares the
# two in float64 on random images: the pooled vectors, and the logits once the fc weight
# of `hybrid_at_gap` is divided by $c$. The same check on `hybrid` is the control: there
# the pooling sits before the BN-ReLU, and the identity must fail.

# %%
at_gap = gap_scale_check("hybrid_at_gap", "diffstride", width=width, in_channels=in_channels_profile)
at_head = gap_scale_check("hybrid", "diffstride", width=width, in_channels=in_channels_profile)

# %% tags=["remove-cell"]
assert at_gap.factor == 18 * 18 / (8 * 9)
assert at_gap.holds(tolerance=1e-9)  # logits equal up to float64 rounding
assert not at_head.holds(tolerance=1e-3)  # the head reading is a different function

# %% tags=["remove-input"]
md(architectures.gap_scale_sentence(at_gap, at_head))

# %% [markdown]
# ## The initial strides of the DiffStride paper
#
# The DiffStride paper trains each network with six different initial strides for
# stages 2 to 4, the rows of its main table (`hybridlib.configs.STRIDE_ROWS`). For a
# strided or a spectral network these are the strides, for good; for DiffStride they
# are only the starting point. `config_spec(kind, row)` re-targets a configuration to a
# row; the table below gives the map size after stage 4 (the last map before global
# average pooling) for each row, with the accuracy the paper reports on CIFAR-10 for the
# same row ({cite}`krizhevsky2009cifar`).

# %%
reported = paper_table(["diffstride_paper"])
reported = reported[reported.dataset == "cifar10"].set_index(["init_strides", "model"]).test_acc
rows_table = stride_rows_table(STRIDE_ROWS, reported)
stride_rows_styler(rows_table)

# %% tags=["remove-input"]
md(architectures.stride_rows_sentence(rows_table))

# %% [markdown]
# The [training chapter](05_training.ipynb) trains these configurations, and the
# [results chapter](06_results.ipynb) compares their accuracy with their cost.
#
# ## Exercises

# %% [markdown] exercise={"id": "4.1", "points": 3, "function": "sizes", "check": "hybridlib.book.selfcheck.check_feature_sizes", "reference": ["hybridlib.resnet.describe", "hybridlib.resnet.resnet18", "hybridlib.resnet.PreActResNet"]}
# **Exercise 4.1** (Feature-map sizes by formula). Write `sizes(spec, input_size)` that
# returns the size of the feature map after each position (`stem`, `stage1` ...
# `stage4`, `head`) of a ResNet-18 built from `spec`, at initialisation, for an input
# of `input_size = (H, W)` pixels, without building the network. You need one rule
# per kind: a $3\times3$ convolution with padding 1 and stride $S$; max and average
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


# %% tags=["exercise-check"]
print(check_feature_sizes(sizes))

# %% [markdown] exercise={"id": "4.2", "points": 2, "function": "block_parameters", "check": "hybridlib.book.selfcheck.check_block_parameters", "reference": ["hybridlib.resnet.PreActBlock"]}
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


# %% tags=["exercise-check"]
print(check_block_parameters(block_parameters))


# %% tags=["solution", "hide-cell"] mystnb={"code_prompt_show": "Solution to Exercise 4.2, the whole network", "code_prompt_hide": "Hide the solution to Exercise 4.2, the whole network"}
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
    print(f"{name}: assembled {counted:,}, measured {costs[name].parameters(PAPER_WIDTH):,}")

# %% [markdown] exercise={"id": "4.3", "points": 3}
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

# %% [markdown] exercise={"id": "4.4", "points": 3}
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
# * The Hybrid paper's placement has three readings: spectral pooling on the stage-4 map
#   before the head's BN-ReLU (`hybrid`), directly before global average pooling
#   (`hybrid_at_gap`), or doing the stages' downsampling with DiffStride only in the stem
#   (`hybrid_stem`).
# * Directly before global average pooling, spectral pooling keeps the DC coefficient and
#   only multiplies the pooled vector by $HW/(hw)$; the linear layer absorbs it, so
#   `hybrid_at_gap` is DiffStride with a rescaled last layer, as the check on built
#   networks confirms to float64 rounding.
# * The official size rules make the hybrid's last map non-square and keep DiffStride
#   from the very end of a strided network.
# ```
