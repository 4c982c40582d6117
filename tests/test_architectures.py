"""The configurations side by side (hybridlib.book.architectures)."""

from __future__ import annotations

import pytest
import torch

from hybridlib.book import architectures
from hybridlib.book.architectures import (
    COST_COLUMNS,
    SIZE_POSITIONS,
    configuration_table,
    configuration_tables,
    copy_shared_weights,
    cost_model,
    gap_scale_check,
    readings_table,
    stride_rows_styler,
    stride_rows_table,
)
from hybridlib.configs import ABLATION, CONFIGS, HYBRID_READINGS, STRIDE_ROWS, config_spec
from hybridlib.resnet import describe, resnet18
from hybridlib.results import paper_table


@pytest.fixture(scope="module")
def costs():
    return {name: cost_model(spec) for name, spec in CONFIGS.items()}


@pytest.fixture(scope="module")
def frame(costs):
    return configuration_table(costs, CONFIGS, width=8, in_channels=1)


@pytest.fixture(scope="module")
def rows():
    reported = paper_table(["diffstride_paper"])
    reported = reported[reported.dataset == "cifar10"].set_index(["init_strides", "model"])
    return stride_rows_table(STRIDE_ROWS, reported.test_acc)


# --- the gap identity -----------------------------------------------------------------


def test_spectral_pooling_before_the_average_only_rescales_the_pooled_vector():
    result = gap_scale_check("hybrid_at_gap", "diffstride", width=4, in_channels=1)
    assert (result.map_in, result.map_out) == ((18, 18), (8, 9))
    assert result.factor == 18 * 18 / (8 * 9)
    assert result.fitted_factor == pytest.approx(4.5, abs=1e-12)
    assert result.max_pooled_difference < 1e-9
    assert result.holds(1e-12)
    assert result.logit_magnitude > 1  # the agreement is not that of two zero vectors


@pytest.mark.parametrize("input_size, in_channels", [((27, 27), 1), ((40, 24), 3)])
def test_the_gap_identity_holds_at_other_sizes_with_their_own_factor(input_size, in_channels):
    result = gap_scale_check(width=3, in_channels=in_channels, input_size=input_size, seed=1)
    (big_h, big_w), (h, w) = result.map_in, result.map_out
    assert result.factor == big_h * big_w / (h * w) != 4.5
    assert result.holds(1e-12)


def test_in_float32_the_identity_holds_to_float32_rounding():
    result = gap_scale_check(width=4, dtype=torch.float32)
    assert result.holds(1e-5) and not result.holds(1e-12)


def test_the_head_reading_is_not_a_rescaled_diffstride():
    # The control: between pooling and average sit BN and ReLU, so no constant absorbs it.
    result = gap_scale_check("hybrid", "diffstride", width=4)
    assert result.factor == 4.5  # same crop as the gap reading
    assert not result.holds(1e-3)
    assert abs(result.fitted_factor - 4.5) > 1e-3


def test_copy_shared_weights_names_what_it_could_not_copy():
    torch.manual_seed(0)
    source = resnet18(config_spec("hybrid_at_gap"), 10, 1, 2)
    target = resnet18(config_spec("diffstride"), 10, 1, 2)
    assert copy_shared_weights(source, target) == []
    for name, tensor in target.state_dict().items():
        torch.testing.assert_close(tensor, source.state_dict()[name], rtol=0, atol=0)
    stem_only = resnet18(config_spec("hybrid_stem"), 10, 1, 2)
    left = copy_shared_weights(stem_only, resnet18(config_spec("diffstride"), 10, 1, 2))
    assert left == ["stage2.0.pool.stride", "stage3.0.pool.stride", "stage4.0.pool.stride"]
    with pytest.raises(ValueError, match="do not share"):
        gap_scale_check("hybrid_stem", "diffstride", width=2)


def test_gap_scale_sentence_states_the_measured_numbers_and_refuses_a_failed_check():
    at_gap = gap_scale_check(width=2)
    at_head = gap_scale_check("hybrid", width=2)
    text = architectures.gap_scale_sentence(at_gap, at_head)
    assert "18\\cdot18/(8\\cdot9) = 4.5" in text
    assert architectures._math(at_gap.max_logit_difference) in text
    assert "\\times 10^{" in text  # a power of ten as typeset math, not 2.1e-14
    with pytest.raises(AssertionError):
        architectures.gap_scale_sentence(at_head, at_head)
    with pytest.raises(AssertionError):
        architectures.gap_scale_sentence(at_gap, at_gap)


# --- costs and tables -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["strided", "hybrid_at_gap", "spectral_stage3"])
def test_cost_model_extrapolates_exactly_to_an_unseen_width(costs, name):
    measured = describe(resnet18(CONFIGS[name], 10, 2, 6), (2, 32, 32))
    model = costs[name]
    assert model.flops(6, 2) == pytest.approx(measured["flops"], rel=1e-9)
    assert model.parameters(6, 2) == measured["parameters"]
    assert model.sizes == {k: tuple(v) for k, v in measured["sizes"].items()}


def test_configuration_table_has_every_configuration_and_the_strided_reference(frame):
    assert list(frame.index) == list(CONFIGS)
    assert list(frame.columns) == [*SIZE_POSITIONS, *COST_COLUMNS, "description"]
    assert frame.loc["strided", "flops_ratio"] == 1
    assert frame.loc["hybrid", "head"] == "8×9" and frame.loc["hybrid", "gap"] == "8×9"
    assert frame.loc["hybrid_at_gap", "head"] == "18×18"
    assert frame.loc["hybrid_at_gap", "gap"] == "8×9"
    assert frame.loc["diffstride", "params_paper"] - frame.loc["strided", "params_paper"] == 8


def test_configuration_tables_fit_the_column_and_write_numbers_as_a_person_would(frame):
    sizes, costs, descriptions = configuration_tables(frame, width=8)
    assert len(sizes.data.columns) == len(SIZE_POSITIONS)
    assert len(costs.data.columns) == len(COST_COLUMNS)
    assert list(descriptions.data.columns) == ["description"]
    html = costs.to_html()
    assert "params (w=64)" in html and "MFLOPs (w=8)" in html and "MFLOPs (w=64)" in html
    assert "GFLOPs" not in html  # one unit throughout the book
    assert f"{frame.loc['strided', 'params_paper']:,}" in html  # not rounded to 1.12e7
    assert "1.31" in html and "1.310000" not in html


def test_readings_table_places_each_reading(frame):
    readings = readings_table(frame, CONFIGS)
    assert list(readings.index) == ["diffstride", *HYBRID_READINGS]
    assert readings.loc["hybrid", "spectral pooling at"] == "head"
    assert readings.loc["hybrid_at_gap", "spectral pooling at"] == "gap"
    assert readings.loc["hybrid_stem", "DiffStride at"] == "stem"
    assert readings.loc["diffstride", "spectral pooling at"] == "—"
    assert readings.loc["hybrid_stem", "map into GAP"] == "4×4"


def test_stride_rows_table_gives_final_maps_and_reported_accuracies(rows):
    assert list(rows.index) == ["(" + ",".join(map(str, r)) + ")" for r in STRIDE_ROWS]
    assert rows.loc["(2,2,2)", ("strided", "final map")] == "4×4"
    assert rows.loc["(2,2,2)", ("diffstride", "final map")] == "18×18"
    assert rows.loc["(2,2,2)", ("strided", "CIFAR-10 % (paper)")] == 91.4
    assert "82.0" in stride_rows_styler(rows).to_html()  # one decimal, not "82"


# --- sentences ------------------------------------------------------------------------


def test_cost_sentence_names_the_cheapest_and_dearest_ablation_from_the_numbers(frame):
    text = architectures.cost_sentence(frame)
    ratio = frame.loc[list(ABLATION), "flops_ratio"]
    assert f"`{ratio.idxmin()}` is the cheapest ({ratio.min():.2f}" in text
    # Equal to two decimals (they differ by the stem's stride-1 DiffStride): named together.
    assert f"`spectral_stage2` and `diffstride_late` the most expensive ({ratio.max():.2f})" in text
    assert "their maps are 16×16" in text
    changed = frame.copy()
    changed.loc["diffstride_early", "flops_ratio"] = 0.5
    changed.loc["diffstride_late", "flops_ratio"] = 5.0
    text = architectures.cost_sentence(changed)
    assert "`diffstride_early` is the cheapest (0.50" in text
    assert "`spectral_stage2` the most expensive" in text and "its map is 16×16" in text


def test_cost_sentence_refuses_claims_the_numbers_do_not_support(frame):
    changed = frame.copy()
    changed.loc["spectral", "flops_ratio"] = 3.0  # no longer "about as much as max pooling"
    with pytest.raises(AssertionError):
        architectures.cost_sentence(changed)


def test_readings_sentence_compares_the_readings_costs(frame):
    text = architectures.readings_sentence(frame)
    assert f"{frame.loc['hybrid_stem', 'flops_ratio']:.2f} times" in text
    assert "a map of 8×9 instead of 18×18" in text
    changed = frame.copy()
    changed.loc["hybrid_at_gap", "flops_ratio"] *= 1.5
    with pytest.raises(AssertionError):
        architectures.readings_sentence(changed)


def test_stride_rows_sentence_checks_its_comparisons(rows):
    text = architectures.stride_rows_sentence(rows)
    assert "from 91.4 % to 82.0 %" in text
    assert "between 14×14 and 20×20" in text
    assert "with strides (3,1,3) the spectral network ends at 2×3" in text
    flat = rows.copy()
    flat[("diffstride", "CIFAR-10 % (paper)")] = [95.0, 60.0, 90.0, 90.0, 90.0, 90.0]
    with pytest.raises(AssertionError):
        architectures.stride_rows_sentence(flat)


def test_small_maps_and_head_sentences_check_the_sizes_they_state(frame):
    text = architectures.small_maps_sentence(10, 20, frame)
    assert "32×32 → 16×16 → 8×8" in text and "both on 8×8 maps" in text
    with pytest.raises(AssertionError):
        architectures.small_maps_sentence(10, 8, frame)  # an 8x8 map would then shrink
    assert "the head 8×9" in architectures.head_size_sentence((18, 18), (8, 9), [8, 9])
    with pytest.raises(AssertionError):
        architectures.head_size_sentence((18, 18), (8, 9), [9, 9])


def test_shared_pooling_sentence_counts_from_the_calls():
    calls = {"stem": 1, "stage2": 2, "stage3": 2, "stage4": 2, "head": 1}
    strides = {"stem": 2, "stage2": 2, "stage3": 2, "stage4": 2, "head": 0}
    text = architectures.shared_pooling_sentence(
        calls, strides, {"strided": 100, "diffstride": 108}
    )
    assert "`stage2`, `stage3` and `stage4` (the projection blocks) run twice" in text
    assert "those of `stem` and `head` once" in text
    assert "4 DiffStride layers and 8 learned stride values" in text
    assert "a difference of 8" in text


def test_profile_sentence_names_the_data_sets():
    settings = {"width": 8, "configs": ("a", "b"), "datasets": ("fashion_mnist",)}
    text = architectures.profile_sentence("cpu", settings)
    assert "**cpu**" in text and "width 8" in text and "2 configurations" in text
    assert "Fashion-MNIST" in text
    both = architectures.profile_sentence("cpu", {**settings, "datasets": ("cifar10", "cifar100")})
    assert "CIFAR-10" in both and "CIFAR-100" in both


@pytest.mark.parametrize(
    "value, text", [(2.1e-14, "$2.1 \\times 10^{-14}$"), (0.25, "0.25"), (0.0022, "0.0022")]
)
def test_small_numbers_are_typeset(value, text):
    assert architectures._math(value) == text
