"""The ResNet-18 configurations side by side: costs, sizes, and the readings of the hybrid.

Measurements, for any configuration of :mod:`hybridlib.configs`:

* :func:`cost_model`: the FLOPs and parameters of a configuration as exact polynomials in
  the width ``w`` and the input channels ``c``, fitted on a few tiny networks, so that a
  width-64 network never has to be built to be priced;
* :func:`configuration_table`: every configuration's map sizes and costs in one frame, and
  :func:`configuration_tables`, the same cut into tables that fit the book's text column;
* :func:`readings_table`: the three readings of the Hybrid paper's placement next to
  their DiffStride baseline;
* :func:`stride_rows_table`: the final map of each initial-stride row of the DiffStride
  paper next to the accuracy it reports;
* :func:`gap_scale_check`: spectral pooling directly before global average pooling (the
  ``gap`` position) only multiplies the pooled vector by ``HW / (hw)``, checked on two
  built networks that share their weights (:func:`copy_shared_weights`).

The ``*_sentence`` functions write the chapter's comparisons from these numbers. Where the
wording makes a claim (one number larger than another, a map that does not shrink), the
function checks it against the numbers and raises ``AssertionError`` if they disagree, so a
sentence can never outlive the facts it states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from hybridlib.book.formatting import dataset_name, listing, num, size, table
from hybridlib.configs import ABLATION, HYBRID_READINGS, config_spec
from hybridlib.resnet import describe, resnet18

__all__ = [
    "SIZE_POSITIONS",
    "CostModel",
    "GapScale",
    "configuration_table",
    "configuration_tables",
    "copy_shared_weights",
    "cost_check_sentence",
    "cost_model",
    "cost_sentence",
    "gap_scale_check",
    "gap_scale_sentence",
    "head_size_sentence",
    "profile_sentence",
    "readings_sentence",
    "readings_table",
    "shared_pooling_sentence",
    "small_maps_sentence",
    "stride_rows_sentence",
    "stride_rows_styler",
    "stride_rows_table",
]

# Every place whose map size a table reports, in network order (stage 1 never downsamples
# but shows the stem's size carried on).
SIZE_POSITIONS = ("stem", "stage1", "stage2", "stage3", "stage4", "head", "gap")
# The configuration table's columns (costs at the papers' width and at a profile's width).
COST_COLUMNS = ("params_paper", "mflops_paper", "flops_ratio", "params_run", "mflops_run")
READING_PLACES = {
    "hybrid": "`head`: on the stage-4 map, before the final BN-ReLU",
    "hybrid_at_gap": "`gap`: after the final BN-ReLU, directly before global average pooling",
    "hybrid_stem": "`stage2`–`stage4`: the downsampling stages; DiffStride only in the stem",
}


# --- costs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostModel:
    """Exact costs of one configuration at any width.

    ``FLOPs(w, c) = a w² + b w + k c w`` and ``params(w, c) = a' w² + b' w + k' c w + d``
    for width ``w`` and ``c`` input channels (see :func:`cost_model` for why).

    Attributes:
        flop_coefficients: ``(a, b, k)``.
        parameter_coefficients: ``(a', b', k', d)``.
        sizes: ``{position: (h, w)}``, the map after each of :data:`SIZE_POSITIONS`.
    """

    flop_coefficients: tuple[float, float, float]
    parameter_coefficients: tuple[float, float, float, float]
    sizes: dict[str, tuple[int, int]]

    def flops(self, width: int, in_channels: int = 3) -> float:
        """FLOPs for one image at ``width`` with ``in_channels`` input channels."""
        a, b, k = self.flop_coefficients
        return a * width * width + b * width + k * in_channels * width

    def parameters(self, width: int, in_channels: int = 3) -> int:
        """Parameter count at ``width`` with ``in_channels`` input channels."""
        a, b, k, d = self.parameter_coefficients
        return int(round(a * width * width + b * width + k * in_channels * width + d))


def _parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cost_model(
    spec: Mapping, num_classes: int = 10, input_size: tuple[int, int] = (32, 32)
) -> CostModel:
    """Fit the exact cost polynomials of ``spec`` on networks of width 1 to 3.

    The sizes do not depend on the width. The convolutions inside the stages cost
    ``∝ w²`` (input and output channels both scale with ``w``); the stem convolution costs
    ``∝ c w``; the linear layer and the FFT estimate of :func:`hybridlib.resnet.describe`
    cost ``∝ w``. Three FLOP measurements therefore fix the three FLOP coefficients, and
    four parameter counts the parameter ones (whose constant holds the linear layer's
    biases and the learned strides).

    Args:
        spec: a configuration, as in ``hybridlib.configs.CONFIGS``.
        num_classes: outputs of the linear layer.
        input_size: ``(H, W)`` of the input images.
    """
    flop_points = ((1, 3), (2, 3), (1, 1))
    measured = [
        describe(resnet18(spec, num_classes, c, w), (c, *input_size)) for w, c in flop_points
    ]
    flop_coefficients = np.linalg.solve(
        [[w * w, w, c * w] for w, c in flop_points], [m["flops"] for m in measured]
    )
    parameter_points = ((1, 3), (2, 3), (3, 3), (1, 1))
    counts = [_parameter_count(resnet18(spec, num_classes, c, w)) for w, c in parameter_points]
    parameter_coefficients = np.linalg.solve(
        [[w * w, w, c * w, 1] for w, c in parameter_points], counts
    )
    sizes = {k: (int(v[0]), int(v[1])) for k, v in measured[0]["sizes"].items()}
    return CostModel(
        tuple(float(v) for v in flop_coefficients),
        tuple(float(v) for v in parameter_coefficients),
        sizes,
    )


def configuration_table(
    models: Mapping[str, CostModel],
    specs: Mapping[str, Mapping],
    width: int,
    in_channels: int,
    paper_width: int = 64,
) -> pd.DataFrame:
    """One row per configuration: map sizes, costs and the description.

    Args:
        models: ``{name: CostModel}``; must hold ``strided``, the reference of the ratio.
        specs: ``{name: spec}`` for the descriptions.
        width, in_channels: the network of a profile's runs.
        paper_width: the papers' width (three input channels, as on CIFAR).

    Returns:
        Indexed by configuration; columns :data:`SIZE_POSITIONS` (``"24×24"`` strings),
        :data:`COST_COLUMNS` (parameters and MFLOPs at ``paper_width``, FLOPs relative to
        ``strided``, parameters and MFLOPs at ``width``) and ``description``.
    """
    strided_flops = models["strided"].flops(paper_width)
    rows = {}
    for name, model in models.items():
        row = {position: size(model.sizes[position]) for position in SIZE_POSITIONS}
        row.update(
            params_paper=model.parameters(paper_width),
            mflops_paper=model.flops(paper_width) / 1e6,
            flops_ratio=model.flops(paper_width) / strided_flops,
            params_run=model.parameters(width, in_channels),
            mflops_run=model.flops(width, in_channels) / 1e6,
            description=specs[name]["description"],
        )
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "configuration"
    return frame


def _cost_headers(width: int, paper_width: int) -> dict[str, str]:
    return {
        "params_paper": f"params (w={paper_width})",
        "mflops_paper": f"MFLOPs (w={paper_width})",
        "flops_ratio": "FLOPs / strided",
        "params_run": f"params (w={width})",
        "mflops_run": f"MFLOPs (w={width})",
    }


def _with_thousands(headers: Mapping[str, str]) -> dict[str, str]:
    """Parameter counts as ``11,172,170``: :func:`num` would round them to 3 digits."""
    return {v: "{:,}" for k, v in headers.items() if k.startswith("params")}


def configuration_tables(frame: pd.DataFrame, width: int, paper_width: int = 64) -> list:
    """:func:`configuration_table`'s frame as three tables that fit the text column.

    One table of map sizes, one of costs, one of descriptions (pandas ``Styler`` objects
    in the book's style).
    """
    headers = _cost_headers(width, paper_width)
    costs = frame[list(COST_COLUMNS)].rename(columns=headers)
    return [
        table(frame[list(SIZE_POSITIONS)], caption="Map size (h×w) after each position, at a "
              "32×32 input and initialisation"),
        table(
            costs,
            caption=f"Parameters and FLOPs per image at the papers' width {paper_width} and at "
            f"this profile's width {width}",
            formats=_with_thousands(headers),
        ),
        table(frame[["description"]], caption="What each configuration is"),
    ]


def _places(spec: Mapping, kind: str) -> str:
    """The positions of ``spec`` that hold ``kind``, e.g. ``stem, stage2``; ``—`` if none."""
    found = [p for p, entry in spec.items() if isinstance(entry, tuple) and entry[0] == kind]
    return ", ".join(found) if found else "—"


def readings_table(
    frame: pd.DataFrame, specs: Mapping[str, Mapping], baseline: str = "diffstride"
) -> pd.DataFrame:
    """The readings of the hybrid (``HYBRID_READINGS``) and their baseline, for display.

    Columns: where DiffStride and spectral pooling sit, the map global average pooling
    receives, and the costs at the papers' width.
    """
    names = [baseline, *HYBRID_READINGS]
    return pd.DataFrame(
        {
            "DiffStride at": [_places(specs[n], "diffstride") for n in names],
            "spectral pooling at": [_places(specs[n], "spectral") for n in names],
            "map into GAP": [frame.loc[n, "gap"] for n in names],
            "params": [frame.loc[n, "params_paper"] for n in names],
            "MFLOPs": [frame.loc[n, "mflops_paper"] for n in names],
            "FLOPs / strided": [frame.loc[n, "flops_ratio"] for n in names],
        },
        index=pd.Index(names, name="configuration"),
    )


def _area(text: str) -> int:
    """The area of a ``"8×9"`` size string."""
    h, w = text.split("×")
    return int(h) * int(w)


def stride_rows_table(
    rows: Sequence[tuple[int, int, int]],
    reported: pd.Series,
    kinds: Sequence[str] = ("strided", "spectral", "diffstride"),
    dataset_label: str = "CIFAR-10 % (paper)",
) -> pd.DataFrame:
    """Final map (after stage 4, at 32×32 and initialisation) and reported accuracy per row.

    Args:
        rows: initial strides of stages 2-4, e.g. ``hybridlib.configs.STRIDE_ROWS``.
        reported: accuracy indexed by ``("(2,2,2)", kind)``.
        kinds: the configurations re-targeted to each row with ``config_spec(kind, row)``.

    Returns:
        Indexed by the row label ``"(2,2,2)"``; columns ``(kind, "final map")`` and
        ``(kind, dataset_label)``.
    """
    data = {}
    for row in rows:
        label = "(" + ",".join(map(str, row)) + ")"
        entry = {}
        for kind in kinds:
            sizes = describe(resnet18(config_spec(kind, row), width=2))["sizes"]
            entry[(kind, "final map")] = size(sizes["stage4"])
            entry[(kind, dataset_label)] = float(reported[(label, kind)])
        data[label] = entry
    frame = pd.DataFrame.from_dict(data, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "initial strides"
    return frame


def stride_rows_styler(frame: pd.DataFrame):
    """:func:`stride_rows_table`'s frame in the book's style, accuracies to one decimal."""
    accuracy = {c: "{:.1f}" for c in frame.columns if c[1] != "final map"}
    return table(frame, formats=accuracy, caption="The map after stage 4 at initialisation "
                 "(32×32 input) and the DiffStride paper's CIFAR-10 accuracy, per row of "
                 "initial strides")


# --- the gap reading ------------------------------------------------------------------


def copy_shared_weights(source: nn.Module, target: nn.Module) -> list[str]:
    """Load into ``target`` every entry of ``source``'s state dict with its name and shape.

    Returns:
        The names of ``target``'s entries that were left as they were (none for two
        networks that differ only by layers without weights).
    """
    own = target.state_dict()
    shared = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    target.load_state_dict(shared, strict=False)
    return sorted(set(own) - set(shared))


@torch.no_grad()
def _randomise_batch_norms(model: nn.Module, generator: torch.Generator) -> None:
    """Give every batch norm the scale, shift and running statistics of a trained network.

    Freshly built, the final BN-ReLU is a plain ReLU in eval mode; with random statistics
    the check cannot pass merely because the untrained normalisation does nothing.
    """
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=generator))
            m.bias.copy_(0.2 * torch.randn(n, generator=generator))
            m.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(n, generator=generator))


@dataclass(frozen=True)
class GapScale:
    """What :func:`gap_scale_check` measured.

    Attributes:
        reading, baseline: the two configurations compared.
        map_in: ``(H, W)``, the stage-4 map, which the spectral pooling shrinks.
        map_out: ``(h, w)``, the map global average pooling receives.
        factor: ``HW / (hw)``.
        fitted_factor: the least-squares ratio of the reading's pooled vectors to the
            baseline's (all images and channels).
        max_pooled_difference: ``max |pooled(reading) - factor * pooled(baseline)|``.
        max_logit_difference: ``max |logits(reading, fc weight / factor) - logits(baseline)|``.
        logit_magnitude: ``max |logits(baseline)|``, what the difference is small against.
        shared_tensors: how many state-dict entries the two networks share.
        precision: the floating-point type of the comparison, e.g. ``float64``.
    """

    reading: str
    baseline: str
    map_in: tuple[int, int]
    map_out: tuple[int, int]
    factor: float
    fitted_factor: float
    max_pooled_difference: float
    max_logit_difference: float
    logit_magnitude: float
    shared_tensors: int
    precision: str

    def holds(self, tolerance: float = 1e-9) -> bool:
        """Whether the logits agree to ``tolerance`` relative to their magnitude."""
        return self.max_logit_difference <= tolerance * max(self.logit_magnitude, 1.0)


def gap_scale_check(
    reading: str = "hybrid_at_gap",
    baseline: str = "diffstride",
    width: int = 4,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: tuple[int, int] = (32, 32),
    batch: int = 4,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> GapScale:
    """Compare ``reading`` with ``baseline`` on the same weights and the same images.

    Both networks are built, ``reading``'s batch norms given trained-looking statistics,
    its weights copied into ``baseline`` (they must share all of them), and both run in
    eval mode on ``[batch, in_channels, *input_size]`` random images. With spectral
    pooling at ``gap`` the pooled vector ``[batch, 8 * width]`` is the baseline's times
    ``HW / (hw)``, and dividing the reading's fc weight by that factor gives the
    baseline's logits ``[batch, num_classes]``; with it at ``head`` neither holds.

    float64 by default, so that agreement means agreement up to rounding.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = resnet18(config_spec(reading), num_classes, in_channels, width)
    _randomise_batch_norms(model, generator)
    other = resnet18(config_spec(baseline), num_classes, in_channels, width)
    left_out = copy_shared_weights(model, other)
    if left_out:
        raise ValueError(
            f"{reading} and {baseline} do not share the weights {left_out}: they differ by "
            f"more than a layer without weights"
        )
    model, other = model.to(dtype).eval(), other.to(dtype).eval()
    x = torch.randn(batch, in_channels, *input_size, generator=generator, dtype=dtype)
    with torch.no_grad():
        maps, baseline_maps = model.features(x), other.features(x)
        (big_h, big_w), (h, w) = maps["stage4"].shape[-2:], maps["gap"].shape[-2:]
        factor = big_h * big_w / (h * w)
        pooled = maps["gap"].mean(dim=(-2, -1))
        baseline_pooled = baseline_maps["gap"].mean(dim=(-2, -1))
        fitted = (pooled * baseline_pooled).sum() / baseline_pooled.square().sum()
        model.fc.weight.div_(factor)  # the linear layer absorbing the constant
        logits, baseline_logits = model(x), other(x)
    return GapScale(
        reading=reading,
        baseline=baseline,
        map_in=(int(big_h), int(big_w)),
        map_out=(int(h), int(w)),
        factor=float(factor),
        fitted_factor=float(fitted),
        max_pooled_difference=float((pooled - factor * baseline_pooled).abs().max()),
        max_logit_difference=float((logits - baseline_logits).abs().max()),
        logit_magnitude=float(baseline_logits.abs().max()),
        shared_tensors=len(other.state_dict()),
        precision=str(dtype).removeprefix("torch."),
    )


# --- sentences ------------------------------------------------------------------------


def _math(x: float, digits: int = 2) -> str:
    """A small number as MathJax: ``$8.9 \\times 10^{-16}$`` (plain :func:`num` otherwise)."""
    text = num(x, digits)
    if "e" not in text:
        return text
    mantissa, exponent = text.replace("\u2212", "-").split("e")
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"


def profile_sentence(profile: str, settings: Mapping, paper_width: int = 64) -> str:
    """The profile line of the chapter: width, number of configurations, data sets."""
    datasets = listing([dataset_name(d) for d in settings["datasets"]])
    return (
        f"Profile **{profile}**: its runs use width {settings['width']} (the papers use "
        f"{paper_width}), {len(settings['configs'])} configurations, on {datasets}."
    )


def shared_pooling_sentence(
    calls: Mapping[str, int],
    stride_values: Mapping[str, int],
    parameters: Mapping[str, int],
    paper_width: int = 64,
    name: str = "hybrid",
) -> str:
    """What the forward-pass count of network ``name`` shows.

    Args:
        calls: ``{position: calls of its pooling module in one forward pass}``.
        stride_values: ``{position: learned stride values}`` (0 for a fixed kind).
        parameters: parameter counts of ``strided`` and ``diffstride`` at ``paper_width``.
    """
    twice = [f"`{p}`" for p, n in calls.items() if n == 2]
    once = [f"`{p}`" for p, n in calls.items() if n == 1]
    assert len(twice) + len(once) == len(calls), f"unexpected call counts {dict(calls)}"
    layers = sum(1 for v in stride_values.values() if v)
    values = sum(stride_values.values())
    difference = parameters["diffstride"] - parameters["strided"]
    return (
        f"The pooling modules of {listing(twice)} (the projection blocks) run twice per "
        f"forward pass, once on each path; "
        f"{'that' if len(once) == 1 else 'those'} of {listing(once)} once. "
        f"The {name} network has {layers} DiffStride layers and {values} learned stride values "
        f"(one per axis and layer). That is the whole parameter cost of learning the "
        f"strides: at width {paper_width} the DiffStride network has "
        f"{parameters['diffstride']:,} parameters against {parameters['strided']:,} for the "
        f"strided one, a difference of {difference}."
    )


def cost_check_sentence(name: str, width: int, measured: Mapping, model: CostModel) -> str:
    """The extrapolation check: ``measured`` is ``describe()`` of the built network."""
    predicted = model.flops(width)
    error = abs(predicted - measured["flops"]) / measured["flops"]
    return (
        f"Check on `{name}` at width {width}: measured {measured['flops'] / 1e6:.1f} "
        f"MFLOPs and {measured['parameters']:,} parameters; the polynomials give "
        f"{predicted / 1e6:.1f} MFLOPs (relative error {_math(error)}) and "
        f"{model.parameters(width):,} parameters."
    )


def cost_sentence(frame: pd.DataFrame, ablation: Sequence[str] = ABLATION) -> str:
    """What the configuration table says about cost (``frame`` of :func:`configuration_table`)."""
    ratio, mflops = frame["flops_ratio"], frame["mflops_paper"]
    pooling = ratio[["max", "avg"]]
    assert abs(ratio["spectral"] - pooling.mean()) < 0.1 * pooling.mean(), (
        "spectral pooling no longer costs about as much as max and average pooling"
    )
    assert ratio["diffstride"] > ratio[["spectral", "max", "avg"]].max()
    ablation = [a for a in ablation if a in frame.index]
    # Configurations that differ only by a stride-1 stem layer tie to two decimals: name
    # them together rather than pick one by the third decimal.
    shown = ratio[ablation].round(2)
    cheapest = [a for a in ablation if shown[a] == shown.min()]
    dearest = [a for a in ablation if shown[a] == shown.max()]
    d, s = frame.loc["diffstride"], frame.loc["strided"]
    head_extra = mflops["hybrid"] - mflops["diffstride"]
    text = (
        f"All configurations have the same parameters up to the handful of learned strides, "
        f"but not the same cost. Fixed spectral pooling costs {ratio['spectral']:.2f} times "
        f"the strided network (its convolutions run at stride 1 before the pooling, and the "
        f"FFTs add a little), about as much as max or average pooling "
        f"({ratio['max']:.2f} and {ratio['avg']:.2f}). DiffStride costs "
        f"**{ratio['diffstride']:.1f} times** as much at initialisation, "
        f"{mflops['diffstride']:,.0f} MFLOPs per image against {mflops['strided']:,.0f}: its "
        f"maps after stages 2, 3 and 4 are {d['stage2']}, {d['stage3']} and {d['stage4']} "
        f"instead of {s['stage2']}, {s['stage3']} and {s['stage4']} (the DiffStride chapter "
        f"derives the size rule). The hybrid's extra spectral pooling in the head adds only "
        f"{head_extra:.1f} MFLOPs: it sits after the last convolution, so the only "
        f"operation it makes cheaper is the global average. Of the ablation configurations, "
        f"{listing([f'`{a}`' for a in cheapest])} "
        f"{'is the cheapest' if len(cheapest) == 1 else 'are the cheapest'} "
        f"({shown[cheapest[0]]:.2f} times strided) and "
        f"{listing([f'`{a}`' for a in dearest])} the most expensive "
        f"({shown[dearest[0]]:.2f})"
    )
    dear = frame.loc[dearest]
    if (dear["stage2"] == dear["stage3"]).all() and (dear["stage3"] == dear["stage4"]).all():
        one = len(dearest) == 1
        text += (
            f": after stage 2 {'its map is' if one else 'their maps are'} "
            f"{listing(list(dict.fromkeys(dear['stage2'])))}, and the DiffStride layers of "
            f"stages 3 and 4 do not shrink a map that small at their initial stride (the "
            f"section on `reversed_hybrid` below shows why), so stages 3 and 4 run at that "
            f"size too"
        )
    return text + "."


def head_size_sentence(
    head_in: tuple[int, int], head_out: tuple[int, int], network_head: Sequence[int]
) -> str:
    """The hybrid's head: the size rule's answer, checked against the built network."""
    assert tuple(network_head) == tuple(head_out), (network_head, head_out)
    return (
        f"`spectral_output_size({head_in[0]}, {head_in[1]}, 2)` = {tuple(head_out)}; the "
        f"network agrees: stage 4 gives {size(head_in)}, the head {size(network_head)}. A "
        f"symmetric rule would give {head_in[0] // 2}×{head_in[1] // 2}. Global average "
        f"pooling follows, so the shape itself does no harm, but it shows that the head "
        f"layer removes the top row of frequencies along one axis and not the other."
    )


def readings_sentence(frame: pd.DataFrame, baseline: str = "diffstride") -> str:
    """The cost of the three readings next to their baseline."""
    ratio, gap = frame["flops_ratio"], frame["gap"]
    hybrid, at_gap, stem = HYBRID_READINGS
    close = abs(ratio[hybrid] - ratio[at_gap]) < 0.01 * ratio[hybrid]
    assert close, "the head and gap readings no longer cost the same"
    assert ratio[stem] < ratio[baseline]
    first, second = f"{ratio[hybrid]:.2f}", f"{ratio[at_gap]:.2f}"
    cost = first if first == second else f"{first} and {second}"
    return (
        f"The first two readings are the `{baseline}` network plus one spectral pooling after "
        f"its last convolution, so they cost the same: {cost} times the strided network, "
        f"against {ratio[baseline]:.2f} for `{baseline}`. Both hand global average pooling "
        f"a map of {gap[hybrid]} instead of {gap[baseline]}. The third is a "
        f"different network: with spectral pooling doing the downsampling of the stages, its "
        f"maps shrink to {gap[stem]}, and it costs {ratio[stem]:.2f} times the strided "
        f"network, close to fixed spectral pooling ({ratio['spectral']:.2f})."
    )


def gap_scale_sentence(result: GapScale, control: GapScale, tolerance: float = 1e-9) -> str:
    """The numerical check of the ``gap`` identity, and the same check on ``head``.

    ``result`` must hold the identity and ``control`` must not (AssertionError otherwise).
    """
    assert result.holds(tolerance), result
    assert not control.holds(1e3 * tolerance), control
    (big_h, big_w), (h, w) = result.map_in, result.map_out
    c = num(result.factor)
    reading, baseline = f"`{result.reading}`", f"`{result.baseline}`"
    return (
        f"With all {result.shared_tensors} tensors of {reading}'s state (weights and "
        f"batch-norm statistics) copied into {baseline}, spectral pooling takes "
        f"{size(result.map_in)} to {size(result.map_out)}, so "
        f"$HW/(hw) = {big_h}\\cdot{big_w}/({h}\\cdot{w}) = {c}$. The pooled vectors of "
        f"{reading} are those of {baseline} times {num(result.fitted_factor, 12)} to twelve "
        f"significant digits (a least-squares fit; the largest deviation from {c} times is "
        f"{_math(result.max_pooled_difference)}), and once its fc weight is divided by {c} "
        f"the two networks' logits differ by at most {_math(result.max_logit_difference)}, "
        f"for logits of size up to {num(result.logit_magnitude)}: the same function, up to "
        f"{result.precision} rounding. The same comparison for `{control.reading}`, whose "
        f"spectral pooling sits before the final BN-ReLU, gives a least-squares ratio of "
        f"{num(control.fitted_factor)} and logits that differ by up to "
        f"{num(control.max_logit_difference)}: there the pooling changes what the network "
        f"computes."
    )


def small_maps_sentence(
    smallest: int, first_shrink: int, frame: pd.DataFrame, name: str = "reversed_hybrid"
) -> str:
    """Why ``reversed_hybrid`` is what it is (``frame`` of :func:`configuration_table`)."""
    row, ratio = frame.loc[name], frame["flops_ratio"]
    assert row["stage3"] == row["stage4"] == row["head"], "its late layers now downsample"
    assert _area(row["stage4"]) < first_shrink**2
    return (
        f"No DiffStride layer with $R = 4$ can produce an even map smaller than "
        f"{smallest}×{smallest}, and at its initial stride 2 the smallest map it shrinks is "
        f"{first_shrink}×{first_shrink}. So `{name}` puts fixed spectral pooling in stages 2 "
        f"and 3 ({row['stage1']} → {row['stage2']} → {row['stage3']}) and DiffStride in "
        f"stage 4 *and* in the head, both on {row['stage3']} maps: the two layers are "
        f"valid, but they cannot reduce the size, only learn how strongly to attenuate the "
        f"higher frequencies. The configuration tests the order of the two kinds in depth, "
        f"not a mirror image in cost: it is {ratio[name]:.2f} times the strided network "
        f"against {ratio['hybrid']:.2f} for the hybrid."
    )


def stride_rows_sentence(
    rows: pd.DataFrame,
    first: str = "(2,2,2)",
    last: str = "(3,2,3)",
    accuracy: str = "CIFAR-10 % (paper)",
) -> str:
    """What the initial-stride rows show (``rows`` of :func:`stride_rows_table`)."""
    acc = {k: rows[(k, accuracy)] for k in ("strided", "spectral", "diffstride")}
    final = {k: rows[(k, "final map")] for k in ("strided", "spectral", "diffstride")}
    for kind in ("strided", "spectral"):
        assert _area(final[kind][last]) < _area(final[kind][first]), kind
        assert acc[kind][last] < acc[kind][first], kind
    spans = {k: acc[k].max() - acc[k].min() for k in acc}
    assert spans["diffstride"] < spans["strided"]
    areas = final["diffstride"].map(_area)
    text = (
        f"The fixed networks lose accuracy as their final map shrinks: from the {first} row "
        f"to the {last} row the strided network goes from {final['strided'][first]} to "
        f"{final['strided'][last]} and from {acc['strided'][first]:.1f} % to "
        f"{acc['strided'][last]:.1f} %, spectral pooling from {final['spectral'][first]} to "
        f"{final['spectral'][last]} and from {acc['spectral'][first]:.1f} % to "
        f"{acc['spectral'][last]:.1f} %. DiffStride's accuracy spans only "
        f"{spans['diffstride']:.1f} points over the {len(rows)} rows (against "
        f"{spans['strided']:.1f} for strided convolutions), and its final map stays between "
        f"{final['diffstride'][areas.idxmin()]} and {final['diffstride'][areas.idxmax()]} at "
        f"initialisation: a good part of its robustness to the initial strides is that it "
        f"starts with large maps whatever the row, and that the training can move the "
        f"strides from there."
    )
    lopsided = [r for r, t in final["spectral"].items() if t.split("×")[0] != t.split("×")[1]]
    if lopsided:
        text += (
            f" Odd inputs also show the lopsided spectral rule again: with strides "
            f"{lopsided[0]} the spectral network ends at {final['spectral'][lopsided[0]]}."
        )
    return text
