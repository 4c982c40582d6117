import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridlib.spectral import SpectralPool2d, spectral_output_size, spectral_pool2d
from tests import official


def band_limited(batch, channels, height, width, cutoff, generator):
    """Random real maps whose spectrum is zero at and above ``cutoff`` (as a fraction of N/2)."""
    x = torch.randn(batch, channels, height, width, dtype=torch.float64, generator=generator)
    spectrum = torch.fft.fft2(x)
    fy = torch.fft.fftfreq(height).abs()[:, None] * 2
    fx = torch.fft.fftfreq(width).abs()[None, :] * 2
    keep = (fy < cutoff) & (fx < cutoff)
    return torch.fft.ifft2(spectrum * keep).real


def test_stride_one_is_identity():
    x = torch.randn(3, 2, 12, 9)
    torch.testing.assert_close(spectral_pool2d(x, stride=1), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(16, 16), (12, 20), (15, 15), (9, 14)])
def test_output_is_real_and_its_spectrum_is_the_kept_window(shape):
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    y = spectral_pool2d(x, stride=2)
    h, w = y.shape[-2:]
    assert not y.is_complex()
    full = torch.fft.fft2(x)
    kept_rows = [*range((h + 1) // 2), *range(shape[0] - h // 2, shape[0])]
    kept_cols = [*range((w + 1) // 2), *range(shape[1] - w // 2, shape[1])]
    expected = full[..., kept_rows, :][..., kept_cols]
    got = torch.fft.fft2(y)
    # Nyquist bins of an even output are folded onto themselves by realness: skip them.
    rows = [i for i in range(h) if not (h % 2 == 0 and i == h // 2)]
    cols = [j for j in range(w) if not (w % 2 == 0 and j == w // 2)]
    torch.testing.assert_close(got[..., rows, :][..., cols], expected[..., rows, :][..., cols])


@pytest.mark.parametrize("stride", [2, 3, 4])
@pytest.mark.parametrize("multiple", [(12, 12), (9, 6), (7, 9)])
def test_rescaled_pooling_decimates_a_band_limited_input_exactly(multiple, stride):
    shape = (stride * multiple[0], stride * multiple[1])  # decimation needs n = stride * m
    g = torch.Generator().manual_seed(stride)
    # Strictly below the output's Nyquist frequency 1/stride (in units of N/2).
    x = band_limited(2, 3, *shape, cutoff=0.99 / stride, generator=g)
    h, w = shape[0] // stride, shape[1] // stride
    y = spectral_pool2d(x, output_size=(h, w), rescale=True)
    torch.testing.assert_close(y, x[..., ::stride, ::stride], atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("stride", [(2, 2), (2, 3), (1.5, 2.5), (4, 1), (3.2, 3.2)])
@pytest.mark.parametrize("shape", [(32, 32), (16, 24), (18, 18), (8, 30)])
def test_matches_the_official_algorithm_on_even_sizes(shape, stride):
    x = np.random.default_rng(0).standard_normal((2, 3, *shape)).astype(np.float32)
    expected = official.fixed_spectral_pooling(x.astype(np.float64), *stride)
    got = SpectralPool2d(stride=stride)(torch.from_numpy(x))
    assert tuple(got.shape[-2:]) == expected.shape[-2:]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n", [5, 9, 15, 31, 33])
@pytest.mark.parametrize("stride", [1.5, 2, 3])
def test_odd_square_inputs_give_square_outputs_with_symmetric_frequencies(n, stride):
    x = torch.randn(1, 1, n, n, dtype=torch.float64)
    y = spectral_pool2d(x, stride=stride)
    assert y.shape[-1] == y.shape[-2]
    assert y.shape[-1] % 2 == 1
    # A symmetric set of frequencies makes pooling commute with transposition.
    torch.testing.assert_close(
        spectral_pool2d(x.transpose(-1, -2), stride=stride), y.transpose(-1, -2)
    )


def test_thirty_one_gives_fifteen_not_the_official_fourteen_by_fifteen():
    assert spectral_output_size(31, 31, 2) == (15, 15)
    assert official.fixed_spectral_pooling(np.zeros((31, 31)), 2, 2).shape == (14, 15)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_is_computed_in_float32_and_returned_in_its_dtype(dtype):
    x = torch.randn(2, 3, 16, 16)
    y = spectral_pool2d(x.to(dtype), stride=2)
    assert y.dtype == dtype
    torch.testing.assert_close(y.float(), spectral_pool2d(x, stride=2), atol=0.05, rtol=0.05)


def test_channels_last_input_gives_the_same_result():
    x = torch.randn(4, 8, 16, 12)
    y = spectral_pool2d(x.contiguous(memory_format=torch.channels_last), stride=2)
    torch.testing.assert_close(y, spectral_pool2d(x, stride=2))


def test_module_reports_its_output_size_and_state():
    layer = SpectralPool2d(stride=(2, 3))
    assert layer.output_size(32, 30) == (16, 10)
    assert layer(torch.zeros(1, 1, 32, 30)).shape[-2:] == (16, 10)
    assert "stride=(2.0, 3.0)" in repr(layer)
    assert SpectralPool2d(output_size=(5, 7)).output_size(32, 32) == (5, 7)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: spectral_pool2d(torch.zeros(3, 8, 8)), ValueError, "4 dimensions"),
        (lambda: spectral_pool2d(torch.zeros(1, 1, 8, 8, dtype=torch.int64)), TypeError, "int64"),
        (lambda: spectral_pool2d(torch.zeros(1, 1, 8, 8), stride=0.5), ValueError, "stride"),
        (
            lambda: spectral_pool2d(torch.zeros(1, 1, 8, 8), output_size=(9, 4)),
            ValueError,
            "(9, 4)",
        ),
        (
            lambda: spectral_pool2d(torch.zeros(1, 1, 8, 8), output_size=0),
            ValueError,
            "output_size",
        ),
        (lambda: SpectralPool2d(stride=0), ValueError, "stride"),
        (lambda: SpectralPool2d(stride="22"), TypeError, "stride must be a number or a pair"),
        (lambda: SpectralPool2d(stride=float("nan")), ValueError, "stride must be finite"),
        (lambda: SpectralPool2d(output_size=2.7), ValueError, "output_size must be whole"),
        (
            lambda: spectral_pool2d(torch.zeros(1, 1, 8, 8), output_size=(2.7, 3)),
            ValueError,
            "got (2.7, 3)",
        ),
        (lambda: SpectralPool2d(rescale="yes"), TypeError, "rescale must be True or False"),
        (lambda: SpectralPool2d(method="dense"), ValueError, "method must be one of"),
        (lambda: SpectralPool2d(stride=(1, 2, 3)), TypeError, "stride"),
        (
            lambda: spectral_pool2d(torch.zeros(1, 1, 8, 8), stride=2, output_size=4),
            ValueError,
            "not both",
        ),
    ],
)
def test_bad_input_names_the_argument_and_value(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    s_h=st.floats(1, 5),
    s_w=st.floats(1, 5),
    batch=st.integers(1, 3),
)
def test_property_shapes_match_output_size_and_values_are_finite(height, width, s_h, s_w, batch):
    layer = SpectralPool2d(stride=(s_h, s_w))
    y = layer(torch.randn(batch, 2, height, width))
    assert tuple(y.shape) == (batch, 2, *layer.output_size(height, width))
    assert torch.isfinite(y).all()
