"""The chapter 1-2 self-checks accept the reference answers and reject wrong ones by name."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from hybridlib.book.selfcheck import (
    CheckResult,
    check_commuting_input,
    check_equivalent_filter,
    check_fourier_resample,
    check_spectral_activation,
    check_spectral_crop,
    run_cases,
)
from hybridlib.book.selfcheck.spectral import equivalent_filter_reference
from hybridlib.spectral import spectral_pool2d

# --------------------------------------------------------------------------- helpers


def test_run_cases_reports_the_failing_case_and_lets_stubs_through():
    def bad():
        raise AssertionError("boom")

    with pytest.raises(AssertionError, match="demo: case 'second' fails: boom"):
        run_cases("demo", [("first", lambda: None), ("second", bad)])

    def stub():
        raise NotImplementedError("Exercise 1.1: hint")

    with pytest.raises(NotImplementedError, match="Exercise 1.1: hint"):
        run_cases("demo", [("first", stub)])

    def crash():
        raise IndexError("out of range")

    with pytest.raises(AssertionError, match="case 'c' fails: the function raised IndexError"):
        run_cases("demo", [("c", crash)])


def test_check_result_text():
    result = run_cases("demo", [("a", lambda: None), ("b", lambda: None)])
    assert isinstance(result, CheckResult)
    assert str(result).startswith("demo: all 2 cases pass")


# --------------------------------------------------------------------------- spectral crop


def crop_reference(x, size):
    h, w = size
    spectrum = torch.fft.rfft2(x)[..., : w // 2 + 1]
    rows = torch.cat((spectrum[..., : (h + 1) // 2, :],
                      spectrum[..., spectrum.shape[-2] - h // 2:, :]), dim=-2)
    return torch.fft.irfft2(rows, s=(h, w))


def crop_official_lopsided(x, size):
    """Odd sizes as the official rule: output height forced even (31 -> 14)."""
    h, w = size
    h -= h % 2
    return spectral_pool2d(x, output_size=(h, w))


def crop_rescaled(x, size):
    return spectral_pool2d(x, output_size=size, rescale=True)


def crop_fftshift_real(x, size):
    """Centred crop of the full fft2, then the real part: wrong Nyquist column for even w."""
    h, w = size
    spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    ch, cw = x.shape[-2] // 2, x.shape[-1] // 2
    window = spectrum[..., ch - h // 2: ch - h // 2 + h, cw - w // 2: cw - w // 2 + w]
    return torch.fft.ifft2(torch.fft.ifftshift(window, dim=(-2, -1))).real


def test_check_spectral_crop_accepts_the_reference():
    result = check_spectral_crop(crop_reference)
    assert len(result.cases) == 8


@pytest.mark.parametrize(
    ("wrong", "case"),
    [
        (crop_official_lopsided, "even 16x16 -> odd 7x7"),
        (crop_rescaled, "even 16x16 -> 8x8"),
        (crop_fftshift_real, "even 16x16 -> 8x8"),
    ],
)
def test_check_spectral_crop_names_the_failing_case(wrong, case):
    with pytest.raises(AssertionError, match=f"case '{re.escape(case)}"):
        check_spectral_crop(wrong)


# --------------------------------------------------------------------------- Fourier resample


def resample_reference(x, size):
    """Torch version of scipy.signal.resample, height then width."""

    def along(z, n_new, dim):
        n = z.shape[dim]
        spectrum = torch.fft.rfft(z, dim=dim)
        keep = min(n, n_new) // 2 + 1
        out_shape = list(spectrum.shape)
        out_shape[dim] = n_new // 2 + 1
        out = torch.zeros(out_shape, dtype=spectrum.dtype)
        index = [slice(None)] * z.dim()
        index[dim] = slice(0, keep)
        out[tuple(index)] = spectrum[tuple(index)]
        m = min(n, n_new)
        if m % 2 == 0 and n != n_new:
            index[dim] = m // 2
            out[tuple(index)] *= 2.0 if n_new < n else 0.5
        return torch.fft.irfft(out, n=n_new, dim=dim) * (n_new / n)

    return along(along(x, size[0], -2), size[1], -1)


def resample_no_fold(x, size):
    """Spectral pooling with rescale: right except at the Nyquist bins."""
    return spectral_pool2d(x, output_size=size, rescale=True)


def resample_unscaled(x, size):
    return resample_reference(x, size) * (x.shape[-2] * x.shape[-1] / (size[0] * size[1]))


def test_check_fourier_resample_accepts_the_reference():
    check_fourier_resample(resample_reference)


def test_check_fourier_resample_accepts_scipy_itself():
    from scipy.signal import resample

    check_fourier_resample(lambda x, s: torch.as_tensor(
        resample(resample(x.numpy(), s[0], axis=-2), s[1], axis=-1)))


@pytest.mark.parametrize(
    ("wrong", "case"),
    [
        (resample_no_fold, "1-D row, down 32 -> 16 (even: Nyquist folded)"),
        (resample_unscaled, "1-D row, down 32 -> 16"),
    ],
)
def test_check_fourier_resample_names_the_failing_case(wrong, case):
    with pytest.raises(AssertionError, match=f"case '{re.escape(case)}"):
        check_fourier_resample(wrong)


# --------------------------------------------------------------------------- activation


def activation_reference(v, slope=1.0):
    return torch.sigmoid(slope * (v - v.mean(-1, keepdim=True)) / v.std(-1, keepdim=True))


def activation_biased_std(v, slope=1.0):
    return torch.sigmoid(slope * (v - v.mean(-1, keepdim=True)) / v.std(-1, keepdim=True,
                                                                         correction=0))


def activation_global(v, slope=1.0):
    """Standardises over the whole tensor instead of the last axis."""
    return torch.sigmoid(slope * (v - v.mean()) / v.std())


def test_check_spectral_activation_accepts_the_reference():
    check_spectral_activation(activation_reference)


@pytest.mark.parametrize(
    ("wrong", "case"),
    [
        (activation_biased_std, "toy signal #1 [9]"),
        (activation_global, "both toy signals as a batch [2, 9]"),
        (lambda v, slope=1.0: activation_reference(v), "slope 2.5, [3, 4, 7]"),
    ],
)
def test_check_spectral_activation_names_the_failing_case(wrong, case):
    with pytest.raises(AssertionError, match=f"case '{re.escape(case)}"):
        check_spectral_activation(wrong)


# --------------------------------------------------------------------------- commuting input


def commuting_reference(n):
    k = torch.arange(n, dtype=torch.float64)
    wave = torch.cos(2 * torch.pi * k / n)
    return (2.0 + wave[:, None] * wave[None, :])[None, None]


def test_check_commuting_input_accepts_a_positive_band_limited_image():
    check_commuting_input(commuting_reference)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda n: torch.full((1, 1, n, n), 3.0), "nearly\\) constant"),
        (lambda n: -commuting_reference(n), "relu\\(x\\) is \\(nearly\\) zero"),
        # positive, but sharp edges make the pooled image ring below zero
        (lambda n: (torch.rand(1, 1, n, n, generator=torch.Generator().manual_seed(0)) > 0.5)
         .double(), "differ by"),
        (lambda n: commuting_reference(n)[0], "expected \\(1, 1, 16, 16\\)"),
    ],
)
def test_check_commuting_input_names_the_failing_case(wrong, message):
    with pytest.raises(AssertionError, match=f"case 'n = 16' fails: .*{message}"):
        check_commuting_input(wrong)


# --------------------------------------------------------------------------- equivalent filter


def test_check_equivalent_filter_accepts_the_reference():
    check_equivalent_filter(equivalent_filter_reference)


def equivalent_filter_zeroing(spectrum, filters, keeps, activation, order):
    """Pooling that zeroes the bins outside the window but keeps them (the seed's listing)."""
    n = len(spectrum)
    centre = n // 2
    v = np.asarray(spectrum, dtype=float).copy()
    inside = np.ones(n, dtype=bool)
    for filt, keep in zip(filters, keeps):
        v = v * filt
        if order == "act-pool":
            v = activation(v)
        inside = np.abs(np.arange(n) - centre) <= (keep - 1) // 2
        v = np.where(inside, v, 0.0)
        if order == "pool-act":
            v = activation(v)
    return np.where(inside, v / spectrum, 0.0)


def equivalent_filter_swapped(spectrum, filters, keeps, activation, order):
    other = {"act-pool": "pool-act", "pool-act": "act-pool"}[order]
    return equivalent_filter_reference(spectrum, filters, keeps, activation, other)


@pytest.mark.parametrize(
    ("wrong", "case"),
    [
        (equivalent_filter_zeroing, "toy signal #1, standardise+sigmoid, act-pool"),
        (equivalent_filter_swapped, "toy signal #1, standardise+sigmoid, act-pool"),
    ],
)
def test_check_equivalent_filter_names_the_failing_case(wrong, case):
    with pytest.raises(AssertionError, match=f"case '{re.escape(case)}"):
        check_equivalent_filter(wrong)
