"""The two computation paths of the spectral layers agree, and the layers survive bad input."""

import math

import pytest
import torch
import torch._dynamo
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from hybridlib import dft
from hybridlib.configs import config_spec
from hybridlib.diffstride import DiffStride2d
from hybridlib.resnet import resnet18
from hybridlib.spectral import SpectralPool2d, spectral_pool2d

SHAPES = [(32, 32), (31, 31), (31, 30), (16, 24), (24, 20), (9, 7), (12, 10), (6, 5)]
STRIDES = [1.0, 1.5, 2.0, 3.0, (1.7, 2.3), (3.1, 2.6)]


def paths(make_layer, x: torch.Tensor, parameters=()):
    """Output and gradients (w.r.t. x and ``parameters``) of the FFT and the matrix path."""
    results = []
    for method in ("fft", "matrix"):
        layer = make_layer(method)
        y = layer(x)
        grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
        inputs = (x, *[getattr(layer, name) for name in parameters])
        results.append((y, *torch.autograd.grad(y, inputs, grad)))
    return results


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("stride", STRIDES)
def test_spectral_pooling_paths_agree_in_float64(shape, stride):
    x = torch.randn(2, 3, *shape, dtype=torch.float64, requires_grad=True)
    fft, matrix = paths(lambda m: SpectralPool2d(stride, method=m), x)
    for a, b in zip(fft, matrix):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("cropping", [True, False])
def test_diffstride_paths_agree_in_values_and_both_gradients(shape, stride, cropping):
    x = torch.randn(2, 3, *shape, dtype=torch.float64, requires_grad=True)
    fft, matrix = paths(
        lambda m: DiffStride2d(stride, cropping=cropping, method=m).double(), x, ["stride"]
    )
    for a, b in zip(fft, matrix):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "make_layer",
    [lambda m: SpectralPool2d((2, 1.5), method=m), lambda m: DiffStride2d((2, 1.5), method=m)],
)
def test_paths_agree_in_float32(make_layer):
    x = torch.randn(4, 8, 32, 30, requires_grad=True)
    fft, matrix = paths(make_layer, x)
    for a, b in zip(fft, matrix):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("shape", "stride", "cropping"),
    [((12, 10), (1.7, 2.3), True), ((12, 10), (1.7, 2.3), False), ((11, 9), (2.2, 2.1), True)],
)
def test_gradcheck_on_the_matrix_path(shape, stride, cropping):
    layer = DiffStride2d(stride=stride, cropping=cropping, method="matrix").double()
    x = torch.randn(1, 2, *shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6)
    s = torch.tensor(stride, dtype=torch.float64, requires_grad=True)
    as_stride = lambda v: functional_call(layer, {"stride": v}, (x.detach(),))  # noqa: E731
    assert torch.autograd.gradcheck(as_stride, (s,), eps=1e-6, atol=1e-6)
    pool = SpectralPool2d(stride, method="matrix")
    assert torch.autograd.gradcheck(pool, (x,), eps=1e-6, atol=1e-6)


def test_the_shared_product_sums_its_gradient_in_chunks_exactly(monkeypatch):
    monkeypatch.setattr(dft, "_CHUNK", 50)  # many chunks, one of them partial
    a = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(33, 7, 4, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(33, 5, 4, dtype=torch.float64)
    got = torch.autograd.grad(dft._SharedLeftProduct.apply(a, b), (a, b), grad)
    expected = torch.autograd.grad(a @ b, (a, b), grad)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("layer", ["SpectralPool2d", "DiffStride2d"])
def test_auto_takes_the_matrix_path_on_small_cpu_maps_only(layer):
    cpu, largest = torch.device("cpu"), dft.MATRIX_MAX_SIZE[layer]
    assert dft.use_matrix("auto", 32, 32, cpu, layer)
    assert dft.use_matrix("auto", largest, 8, cpu, layer)
    assert not dft.use_matrix("auto", largest + 1, 8, cpu, layer)
    assert not dft.use_matrix("auto", 32, 32, torch.device("cuda"), layer)
    assert dft.use_matrix("matrix", 512, 512, torch.device("cuda"), layer)
    assert not dft.use_matrix("fft", 8, 8, cpu, layer)


def test_the_factors_are_cached_per_size_crop_dtype_and_device():
    first = dft.row_factors(32, 12, 12, torch.float32, torch.device("cpu"))
    again = dft.row_factors(32, 12, 12, torch.float32, torch.device("cpu"))
    other = dft.row_factors(32, 12, 12, torch.float64, torch.device("cpu"))
    assert first[0] is again[0] and first[0] is not other[0]
    assert not any(t.requires_grad for t in first)


@pytest.mark.parametrize("shape", [(0, 3, 16, 16), (2, 0, 16, 16)])
@pytest.mark.parametrize("method", ["fft", "matrix"])
def test_empty_batches_and_channels_give_empty_outputs_of_the_right_shape(shape, method):
    x = torch.randn(*shape, requires_grad=True)
    diffstride = DiffStride2d(2, method=method)
    y = diffstride(x)
    assert y.shape == (*shape[:2], *diffstride.output_size(16, 16))
    y.sum().backward()
    assert torch.equal(diffstride.stride.grad, torch.zeros(2))
    assert spectral_pool2d(x, 2, method=method).shape == (*shape[:2], 8, 8)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_stride_made_non_finite_by_an_optimiser_raises_naming_the_layer(value):
    layer = DiffStride2d(2)
    with torch.no_grad():
        layer.stride[0] = value
    with pytest.raises(ValueError, match="DiffStride2d: the learned stride is not finite"):
        layer(torch.randn(1, 1, 16, 16))


def test_functional_call_leaves_the_callers_stride_untouched():
    layer = DiffStride2d(2)
    below_the_clamp = torch.tensor([0.5, 1.0], requires_grad=True)
    x = torch.randn(1, 1, 16, 16)
    y = functional_call(layer, {"stride": below_the_clamp}, (x,))
    assert below_the_clamp.tolist() == [0.5, 1.0]
    # The value used is the clamped one, so the output is the module's at the clamp.
    with torch.no_grad():
        layer.stride.fill_(1.0)
    torch.testing.assert_close(y, layer(x))
    y.pow(2).sum().backward()
    assert below_the_clamp.grad is not None and torch.isfinite(below_the_clamp.grad).all()
    # Its own parameter is clamped in place, to n / (n - R).
    torch.testing.assert_close(layer.stride, torch.full((2,), 16 / 12))


def test_layers_ignore_bf16_autocast_and_compute_in_float32():
    x = torch.randn(2, 4, 16, 16)
    for layer in (SpectralPool2d(2, method="matrix"), DiffStride2d(2, method="matrix")):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(x)
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, layer(x))


@pytest.mark.slow
@torch._dynamo.config.patch(capture_scalar_outputs=True)
def test_diffstride_compiles_without_a_graph_break_and_follows_its_stride():
    torch._dynamo.reset()
    layer = DiffStride2d(2)
    x = torch.randn(2, 3, 32, 32)
    explanation = torch._dynamo.explain(layer)(x)
    assert explanation.graph_break_count == 0
    compiled = torch.compile(layer, fullgraph=True)
    for stride in (2.0, 3.0, 1.2):  # new crop sizes, one graph
        with torch.no_grad():
            layer.stride.fill_(stride)
        torch.testing.assert_close(compiled(x), layer(x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@torch._dynamo.config.patch(capture_scalar_outputs=True)
def test_a_diffstride_network_is_captured_whole_by_torch_compile():
    torch._dynamo.reset()
    model = resnet18(config_spec("hybrid"), num_classes=10, in_channels=1, width=4)
    x = torch.randn(4, 1, 32, 32)
    assert torch._dynamo.explain(model)(x).graph_break_count == 0
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    y = compiled(x)
    torch.testing.assert_close(y, model(x), atol=1e-5, rtol=1e-5)
    y.sum().backward()
    assert all(p.grad is not None for p in model.stride_parameters())


# -------------------------------------------------------------------- fuzzing the arguments
ODD_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
    st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)),
    st.lists(st.integers(-3, 5), max_size=3),
)


def named_error_or_valid(build, name):
    """Build; a ValueError/TypeError must name the argument. Returns the object or None."""
    try:
        return build()
    except (ValueError, TypeError) as error:
        assert name in str(error), (name, str(error))
        return None


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(["stride", "smoothness", "lower_limit", "upper_limit"]),
    value=ODD_VALUES,
)
def test_fuzz_diffstride_arguments(name, value):
    if value is None and name in ("lower_limit", "upper_limit"):
        return  # None is the documented "no limit"
    layer = named_error_or_valid(lambda: DiffStride2d(**{name: value}), name)
    if layer is not None:  # a valid layer may still be too smooth for a 20x20 input
        size = named_error_or_valid(lambda: layer.output_size(20, 20), "DiffStride2d: input")
        y = named_error_or_valid(lambda: layer(torch.randn(1, 2, 20, 20)), "DiffStride2d: input")
        assert (size is None) == (y is None)
        assert y is None or (tuple(y.shape[-2:]) == size and torch.isfinite(y).all())


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["stride", "output_size"]), value=ODD_VALUES)
def test_fuzz_spectral_pooling_arguments(name, value):
    layer = named_error_or_valid(lambda: SpectralPool2d(**{name: value}), name)
    if layer is not None:
        x = torch.randn(1, 2, 20, 20)
        size = named_error_or_valid(lambda: layer.output_size(20, 20), name)
        y = named_error_or_valid(lambda: layer(x), name)
        if y is not None:
            assert tuple(y.shape[-2:]) == size and torch.isfinite(y).all()


@settings(max_examples=100, deadline=None)
@given(
    height=st.integers(-3, 40),
    width=st.integers(-3, 40),
    stride=st.floats(0.5, 8, allow_nan=False),
)
def test_fuzz_output_size_names_the_problem_or_matches_forward(height, width, stride):
    layer = DiffStride2d(max(stride, 1.0))
    size = named_error_or_valid(lambda: layer.output_size(height, width), "DiffStride2d: input")
    if size is not None and min(height, width) > 0:
        assert layer(torch.randn(1, 1, height, width)).shape[-2:] == size
