import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from hybridlib.diffstride import DiffStride2d
from tests import official


def energy_loss(y: torch.Tensor) -> torch.Tensor:
    # The output's energy depends on every kept frequency, not only on DC.
    return y.pow(2).sum()


@pytest.mark.parametrize(
    ("shape", "stride", "expected"),
    [
        ((32, 32), 2, (24, 24)),
        ((16, 16), 2, (16, 16)),
        ((8, 8), 2, (8, 8)),
        ((64, 64), (2, 4), (40, 24)),
    ],
)
def test_output_sizes_of_the_reference(shape, stride, expected):
    layer = DiffStride2d(stride=stride)
    assert layer.output_size(*shape) == expected
    assert layer(torch.randn(2, 3, *shape)).shape[-2:] == expected


@pytest.mark.parametrize("n", [12, 18, 20, 24, 32, 48, 64])
@pytest.mark.parametrize("stride", [1.0, 1.5, 2.0, 3.0, 5.0])
def test_even_sizes_follow_the_closed_form(n, stride):
    layer = DiffStride2d(stride=stride)
    s = max(stride, n / (n - 4))
    expected = 2 * min(int(np.ceil(max(n / s, 2) / 2 + 4)), n // 2)
    assert layer.output_size(n, n) == (expected, expected)


@pytest.mark.parametrize("stride", [(2.0, 2.0), (1.3, 2.7), (3.0, 1.0), (2.5, 4.0), (1.0, 1.0)])
@pytest.mark.parametrize("shape", [(32, 32), (16, 24), (20, 12), (64, 64)])
def test_matches_the_official_forward_pass_on_even_sizes(shape, stride):
    x = np.random.default_rng(1).standard_normal((2, 3, *shape))
    # The parameter is float32: give the transcription the same stride values.
    expected = official.diffstride(x, *np.float32(stride).tolist())
    got = DiffStride2d(stride=stride).double()(torch.from_numpy(x))
    assert tuple(got.shape[-2:]) == expected.shape[-2:]
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-9, rtol=1e-9)


def test_cropping_off_masks_only_and_keeps_the_size():
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    masked = DiffStride2d(stride=2, cropping=False).double()(x)
    assert masked.shape == x.shape
    cropped = DiffStride2d(stride=2).double()(x)
    # The same kept spectrum, with or without the zeros around it.
    e_masked = torch.fft.rfft2(masked).abs().pow(2).sum()
    e_cropped = torch.fft.rfft2(cropped).abs().pow(2).sum()
    torch.testing.assert_close(e_masked, e_cropped, rtol=0.05, atol=0)


def stride_as_input(layer: DiffStride2d, x: torch.Tensor):
    return lambda s: functional_call(layer, {"stride": s}, (x,))


def test_gradcheck_with_respect_to_input_and_stride():
    layer = DiffStride2d(stride=(1.7, 2.3)).double()
    x = torch.randn(1, 2, 12, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6)
    s = torch.tensor([1.7, 2.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(stride_as_input(layer, x.detach()), (s,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "stride", "cropping"),
    [
        ((12, 10), (1.7, 2.3), False),  # nothing cropped
        ((16, 24), (2.1, 2.1), True),  # every row kept, columns cropped
        ((24, 20), (3.1, 2.6), True),  # rows and columns cropped
    ],
)
def test_gradcheck_through_every_crop_path(shape, stride, cropping):
    layer = DiffStride2d(stride=stride, cropping=cropping).double()
    x = torch.randn(1, 1, *shape, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(stride, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, s: functional_call(layer, {"stride": s}, (x,)), (x, s)
    )


def test_gradcheck_on_odd_sizes_and_shared_stride():
    layer = DiffStride2d(stride=1.9, shared_stride=True).double()
    x = torch.randn(1, 1, 11, 13, dtype=torch.float64)
    s = torch.tensor([1.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(stride_as_input(layer, x), (s,), eps=1e-6, atol=1e-6)


def stride_grad(layer, x):
    layer.zero_grad()
    energy_loss(layer(x)).backward()
    return layer.stride.grad.clone()


def test_stride_gradient_is_nonzero_at_initialisation():
    grad = stride_grad(DiffStride2d(stride=2), torch.randn(4, 3, 32, 32))
    assert (grad.abs() > 0).all()


def test_clamp_raises_the_value_and_keeps_the_gradient():
    layer = DiffStride2d(stride=1)
    grad = stride_grad(layer, torch.randn(4, 3, 32, 32))
    torch.testing.assert_close(layer.stride.detach(), torch.full((2,), 32 / 28))
    assert (grad.abs() > 0).all()


def test_gradient_is_zero_once_the_target_size_hits_two():
    layer = DiffStride2d(stride=20.0)  # 32 / 20 < 2: the target size is clamped at 2
    assert (stride_grad(layer, torch.randn(2, 2, 32, 32)) == 0).all()


def test_user_limits_clip_the_stride():
    layer = DiffStride2d(stride=(1.0, 6.0), lower_limit=1.5, upper_limit=4.0)
    layer(torch.randn(1, 1, 32, 32))
    torch.testing.assert_close(layer.stride.detach(), torch.tensor([1.5, 4.0]))


@pytest.mark.parametrize("n", [9, 15, 31, 33])
@pytest.mark.parametrize("stride", [1.0, 1.6, 2.0, 3.0])
def test_odd_sizes_keep_dc_give_square_outputs_and_commute_with_transposition(n, stride):
    layer = DiffStride2d(stride=stride).double()
    x = torch.randn(2, 3, n, n, dtype=torch.float64)
    y = layer(x)
    assert y.shape[-1] == y.shape[-2] and y.shape[-1] % 2 == 1
    # DC is kept with mask 1: the sum of the map is unchanged (torch's backward norm).
    torch.testing.assert_close(y.sum((-1, -2)), x.sum((-1, -2)))
    torch.testing.assert_close(layer(x.transpose(-1, -2)), y.transpose(-1, -2))


def test_odd_rectangles_commute_with_transposition():
    layer = DiffStride2d(stride=(1.8, 2.6)).double()
    swapped = DiffStride2d(stride=(2.6, 1.8)).double()
    x = torch.randn(1, 2, 21, 15, dtype=torch.float64)
    torch.testing.assert_close(swapped(x.transpose(-1, -2)), layer(x).transpose(-1, -2))


def test_thirty_one_gives_a_square_output_where_the_official_code_does_not():
    assert DiffStride2d(stride=2).output_size(31, 31) == (23, 23)
    assert official.diffstride(np.zeros((31, 31)), 2, 2).shape == (23, 24)


def test_learning_drives_the_stride_up_when_the_loss_rewards_downsampling():
    torch.manual_seed(0)
    layer = DiffStride2d(stride=1.5, cropping=False)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.05)
    x = torch.randn(8, 3, 32, 32)
    start = layer.current_stride()
    for _ in range(60):
        optimizer.zero_grad()
        # Kept energy falls as more frequencies are cut: minimising it means a larger stride.
        (energy_loss(layer(x)) / energy_loss(x)).backward()
        optimizer.step()
    end = layer.current_stride()
    assert end[0] > start[0] + 0.5 and end[1] > start[1] + 0.5


def test_projection_shortcut_can_reuse_the_layer_before_backward():
    layer = DiffStride2d(stride=1)
    x = torch.randn(2, 3, 16, 16)
    loss = energy_loss(layer(x)) + energy_loss(layer(2 * x))
    loss.backward()
    assert layer.stride.grad is not None


def test_state_complexity_and_repr():
    layer = DiffStride2d(stride=(2.0, 4.0))
    assert layer.stride.dtype == torch.float32 and layer.stride.shape == (2,)
    assert DiffStride2d(stride=2, shared_stride=True).stride.shape == (1,)
    assert "stride=(2.000, 4.000)" in repr(layer) and "smoothness=4.0" in repr(layer)
    factor = layer.complexity_factor()
    torch.testing.assert_close(factor, torch.tensor(1 / 8))
    factor.backward()
    assert (layer.stride.grad != 0).all()
    assert [n for n, _ in layer.named_parameters()] == ["stride"]  # smoothness is not learned


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs(dtype):
    y = DiffStride2d()(torch.randn(2, 3, 16, 16).to(dtype))
    assert y.dtype == dtype and torch.isfinite(y.float()).all()


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: DiffStride2d(stride=0.5), ValueError, "stride must be finite and >= 1, got 0.5"),
        (
            lambda: DiffStride2d(smoothness=-1.0),
            ValueError,
            "smoothness must be a finite number >= 0, got -1.0",
        ),
        (lambda: DiffStride2d(stride="22"), TypeError, "stride must be a number or a pair"),
        (lambda: DiffStride2d(upper_limit=0), ValueError, "upper_limit must be finite and >= 1"),
        (lambda: DiffStride2d(upper_limit=0.5), ValueError, "upper_limit must be finite"),
        (lambda: DiffStride2d(lower_limit=float("nan")), ValueError, "lower_limit must be"),
        (lambda: DiffStride2d(cropping=1), TypeError, "cropping must be True or False"),
        (lambda: DiffStride2d(method="dense"), ValueError, "method must be one of"),
        (lambda: DiffStride2d(stride=(1, 2), shared_stride=True), ValueError, "shared_stride"),
        (lambda: DiffStride2d()(torch.zeros(8, 8)), ValueError, "4 dimensions"),
        (lambda: DiffStride2d()(torch.zeros(1, 1, 8, 8, dtype=torch.int32)), TypeError, "int32"),
        (lambda: DiffStride2d()(torch.zeros(1, 1, 4, 8)), ValueError, "height 4 is too small"),
        (lambda: DiffStride2d(lower_limit=3, upper_limit=2), ValueError, "upper_limit"),
    ],
)
def test_bad_input_names_the_argument_and_value(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(5, 40),
    width=st.integers(5, 40),
    s_h=st.floats(1, 6),
    s_w=st.floats(1, 6),
    smoothness=st.sampled_from([0.0, 1.0, 4.0]),
    cropping=st.booleans(),
)
def test_property_shapes_match_output_size_and_values_are_finite(
    height, width, s_h, s_w, smoothness, cropping
):
    layer = DiffStride2d(stride=(s_h, s_w), smoothness=smoothness, cropping=cropping)
    if min(height, width) <= smoothness:
        return
    y = layer(torch.randn(2, 2, height, width, requires_grad=True))
    assert tuple(y.shape[-2:]) == layer.output_size(height, width)
    energy_loss(y).backward()
    assert torch.isfinite(y).all()
    grad = layer.stride.grad  # None with a hard box (R = 0): no gradient path to the stride
    assert (grad is None) == (smoothness == 0)
    assert grad is None or torch.isfinite(grad).all()


def test_rescale_keeps_the_amplitude_of_the_input():
    x = torch.full((2, 3, 32, 32), 0.7)
    plain, kept = DiffStride2d(stride=2.0), DiffStride2d(stride=2.0, rescale=True)
    y_plain, y_kept = plain(x), kept(x)
    assert y_kept.shape == y_plain.shape == (2, 3, 24, 24)
    # A constant keeps its value (a crop's DC passes through), and only that changes.
    assert torch.allclose(y_kept, torch.full_like(y_kept, 0.7), atol=1e-5)
    assert torch.allclose(y_kept, y_plain * (24 * 24) / (32 * 32), atol=1e-6)
    z = torch.randn(2, 3, 32, 32, requires_grad=True)
    kept(z).sum().backward()
    assert kept.stride.grad is not None and torch.isfinite(kept.stride.grad).all()
    assert "rescale=True" in repr(kept) and "rescale" not in repr(plain)
    with pytest.raises(TypeError, match="rescale must be True or False"):
        DiffStride2d(rescale=1)
