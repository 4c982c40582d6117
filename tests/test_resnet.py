import math

import pytest
import torch
from torch import nn

from hybridlib.configs import CONFIGS, PROFILES, STRIDE_ROWS, config_spec
from hybridlib.diffstride import DiffStride2d
from hybridlib.downsample import DOWNSAMPLERS, make_downsampler, register
from hybridlib.resnet import describe, normalise_spec, resnet18


def diffstride_size(n: int, stride: float, r: float = 4.0) -> int:
    """The DiffStride paper's output size for an even input, with the lower clamp."""
    s = max(stride, n / (n - r))
    return 2 * min(math.ceil(max(n / s, 2) / 2 + r), n // 2)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("size", [28, 32])
def test_every_configuration_runs_forward_and_backward(name, size):
    model = resnet18(CONFIGS[name], num_classes=7, in_channels=1, width=4)
    x = torch.randn(3, 1, size, size)
    logits = model(x)
    assert logits.shape == (3, 7)
    logits.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(
        s.grad is not None and torch.isfinite(s.grad).all() for s in model.stride_parameters()
    )


@pytest.mark.parametrize("size", [28, 32])
def test_diffstride_feature_sizes_follow_the_formula(size):
    sizes = describe(resnet18(CONFIGS["diffstride"], width=4), (3, size, size))["sizes"]
    expected = diffstride_size(size, 1)
    assert sizes["stem"] == [expected, expected]
    for position in ("stage2", "stage3", "stage4"):
        expected = diffstride_size(expected, 2)
        assert sizes[position] == [expected, expected]
    if size == 32:  # the sizes REFERENCE quotes for the official ResNet-18
        assert [sizes[p][0] for p in ("stem", "stage2", "stage3", "stage4")] == [32, 24, 20, 18]


def test_fixed_kinds_halve_the_maps_and_the_hybrid_adds_a_head_pooling():
    sizes = describe(resnet18(CONFIGS["spectral"], width=4), (3, 32, 32))["sizes"]
    assert [sizes[p][0] for p in ("stem", "stage2", "stage3", "stage4", "head")] == [
        32,
        16,
        8,
        4,
        4,
    ]
    hybrid = describe(resnet18(CONFIGS["hybrid"], width=4), (3, 32, 32))["sizes"]
    # The official spectral rule forces only the height even: 18x18 -> 8x9.
    assert hybrid["stage4"] == [18, 18] and hybrid["head"] == [8, 9]


def test_parameter_count_of_the_width_64_resnet18():
    # stem 1728 + stage1 147968 + stage2 525184 + stage3 2098944 + stage4 8392192
    # + final batch norm 1024 + linear 5130 (pre-activation, convolutions without bias).
    assert describe(resnet18(CONFIGS["strided"]))["parameters"] == 11_172_170
    # DiffStride adds its two strides at each of its four positions, nothing else.
    assert describe(resnet18(CONFIGS["diffstride"]))["parameters"] == 11_172_170 + 8


def test_flops_of_strided_resnet18_are_the_known_half_gigamac():
    flops = describe(resnet18(CONFIGS["strided"]), (3, 32, 32))["flops"]
    assert 1.1e9 < flops < 1.12e9  # about 0.56 GMACs on 32x32 inputs
    heavier = describe(resnet18(CONFIGS["diffstride"]), (3, 32, 32))["flops"]
    assert heavier > 5 * flops  # DiffStride keeps the maps large at initialisation


def test_projection_shortcut_shares_the_pooling_module():
    model = resnet18(CONFIGS["diffstride"], width=4)
    block = model.stage2[0]
    assert isinstance(block.pool, DiffStride2d)
    assert len(model.stride_parameters()) == 4  # stem + stages 2-4, one per position
    assert set(model.learned_strides()) == {"stem", "stage2", "stage3", "stage4"}


def test_strided_kind_puts_the_stride_into_the_convolutions():
    block = resnet18(CONFIGS["strided"], width=4).stage3[0]
    assert block.conv1.stride == (2, 2) and block.shortcut.stride == (2, 2)
    assert isinstance(block.pool, nn.Identity)


def test_complexity_term_has_gradient_for_diffstride_only():
    model = resnet18(CONFIGS["diffstride"], width=4)
    term = model.complexity()
    # Before any forward the strides are their initial values (1, 2, 2, 2).
    expected = 1 + 1 / 4 + 1 / 16 + 1 / 64
    torch.testing.assert_close(term, torch.tensor(expected))
    term.backward()
    assert all((s.grad < 0).all() for s in model.stride_parameters())
    fixed = resnet18(CONFIGS["spectral"], width=4).complexity()
    assert not fixed.requires_grad


@pytest.mark.parametrize("row", STRIDE_ROWS)
def test_every_initial_stride_row_is_selectable_for_every_kind(row):
    for name in ("strided", "spectral", "diffstride", "max"):
        spec = config_spec(name, row)
        assert [spec[p][1] for p in ("stage2", "stage3", "stage4")] == list(row)
        resnet18(spec, width=2)(torch.randn(1, 3, 32, 32))


def test_registering_a_new_kind_is_one_decorator():
    @register("test_nearest")
    def make(stride: float, channels: int) -> nn.Module:
        return nn.Upsample(scale_factor=1 / stride, mode="nearest")

    try:
        spec = {**CONFIGS["strided"], "stage2": ("test_nearest", 2)}
        assert resnet18(spec, width=2)(torch.randn(1, 3, 32, 32)).shape == (1, 10)
        with pytest.raises(ValueError, match="already registered"):
            register("test_nearest")(make)
    finally:
        DOWNSAMPLERS.pop("test_nearest")


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: make_downsampler("blur", 2, 8), "unknown downsampling kind 'blur'"),
        (lambda: make_downsampler("max", 1.5, 8), "integer stride, got 1.5"),
        (lambda: normalise_spec({"stem": ("strided", 1)}), "missing position 'stage2'"),
        (lambda: normalise_spec({**CONFIGS["strided"], "stage5": ("max", 2)}), "stage5"),
        (lambda: normalise_spec({**CONFIGS["strided"], "head": ("strided", 2)}), "head"),
        (lambda: normalise_spec({**CONFIGS["strided"], "stage2": ("max", 0.5)}), "0.5"),
        (lambda: config_spec("nope"), "unknown configuration 'nope'"),
        (lambda: config_spec("strided", (2, 2)), "three integers"),
        (lambda: resnet18(CONFIGS["strided"], width=0), "width"),
    ],
)
def test_bad_specs_name_the_problem(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)


def test_configurations_and_profiles_are_plain_described_data():
    for name, spec in CONFIGS.items():
        assert isinstance(spec["description"], str) and spec["description"], name
        normalise_spec(spec)
    for name, profile in PROFILES.items():
        assert profile["description"], name
        assert set(profile["configs"]) <= set(CONFIGS), name
    assert set(PROFILES["cpu"]["configs"]) >= {"strided", "spectral", "diffstride", "hybrid"}
    assert len(PROFILES["cpu"]["seeds"]) >= 2 and len(PROFILES["paper"]["seeds"]) == 3


def test_spectral_pooling_before_global_average_pooling_is_a_constant_scale():
    # The DC coefficient survives the crop: GAP(pool(z)) = GAP(z) * HW / (hw), which the
    # linear layer absorbs. hybrid_at_gap is the DiffStride network with a rescaled head.
    torch.manual_seed(0)
    at_gap = resnet18(config_spec("hybrid_at_gap"), num_classes=10, in_channels=1, width=4)
    torch.manual_seed(0)
    plain = resnet18(config_spec("diffstride"), num_classes=10, in_channels=1, width=4)
    x = torch.randn(3, 1, 32, 32)
    at_gap.eval(), plain.eval()
    maps = at_gap.features(x)
    (h, w), (hh, ww) = maps["head"].shape[-2:], maps["gap"].shape[-2:]
    assert (hh, ww) == (h // 2 - (h // 2) % 2, w // 2)
    with torch.no_grad():
        plain.fc.weight.mul_(h * w / (hh * ww))
    torch.testing.assert_close(at_gap(x), plain(x), atol=1e-5, rtol=1e-4)


def test_hybrid_stem_learns_the_stem_stride_only():
    model = resnet18(config_spec("hybrid_stem"), num_classes=10, in_channels=1, width=4)
    assert set(model.learned_strides()) == {"stem"}
    assert describe(model, (1, 32, 32))["sizes"]["stage4"] == [4, 4]
