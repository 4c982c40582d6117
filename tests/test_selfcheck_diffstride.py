"""The chapter-3 self-checks pass on correct solutions and name the case a wrong one fails."""

from __future__ import annotations

import math

import pytest
import torch

from hybridlib.book.selfcheck.diffstride import (
    CheckResult,
    check_critical_stride,
    check_output_size,
    check_ramp_mask,
    critical_stride_reference,
)
from hybridlib.diffstride import DiffStride2d, ramp_mask
from hybridlib.spectral import spectral_output_size

# ------------------------------------------------------------------ correct answers


def ramp_mask_by_hand(positions, threshold, smoothness):
    if smoothness == 0:
        return (positions <= threshold).to(threshold.dtype)
    return ((smoothness + threshold - positions) / smoothness).clamp(0, 1)


def output_length_by_counting(n, stride, smoothness=4.0):
    """Count the positions with a non-zero mask (the chapter's solution, written apart)."""
    t = max(n / stride, 2) / 2
    if smoothness == 0:
        count = math.floor(t) + 1
    else:
        count = math.ceil(t + smoothness)
    if n % 2 == 0:
        return 2 * min(count, n // 2)
    return 2 * min(count, n // 2 + 1) - 1


def critical_stride_by_hand(n, factor):
    h, _ = spectral_output_size(n, n, factor)
    return n / (h - 2)


def test_checks_pass_on_correct_solutions():
    assert str(check_ramp_mask(ramp_mask)) == "check_ramp_mask: all 9 cases pass"
    assert isinstance(check_ramp_mask(ramp_mask_by_hand), CheckResult)
    assert "all" in str(check_output_size(output_length_by_counting))
    assert "all" in str(check_output_size(lambda n, s, r: DiffStride2d(s, smoothness=r)
                                          .output_size(n, n)[1]))
    assert "all" in str(check_critical_stride(critical_stride_by_hand))


def test_output_formula_of_the_reference_for_even_sizes():
    for n in range(6, 130, 2):
        for s in (1.0, 1.3, 2.0, 2.7, 3.0, 4.0, 8.0):
            expected = 2 * min(math.ceil(n / (2 * s) + 4.0), n // 2)
            assert DiffStride2d(s).output_size(n, n) == (expected, expected)


# ------------------------------------------------------------------ wrong answers


def _fails(check, fn, case_fragment):
    with pytest.raises(AssertionError) as info:
        check(fn)
    message = str(info.value)
    assert case_fragment in message, message
    return message


def test_ramp_check_names_the_failing_case():
    # No upper clip: values above 1 on the flat part.
    _fails(check_ramp_mask, lambda p, t, r: torch.clamp((r + t - p) / max(r, 1e-9), min=0),
           "threshold between positions")
    # Strict inequality for the hard box.
    _fails(check_ramp_mask,
           lambda p, t, r: (p < t).to(t.dtype) if r == 0 else ramp_mask(p, t, r),
           "threshold on a position")
    # Ramp of the wrong width (slope 1/(2R)).
    msg = _fails(check_ramp_mask,
                 lambda p, t, r: ramp_mask(p, t, 2 * r), "ramp middle")
    assert "expected 0.5" in msg
    # A flattened output.
    _fails(check_ramp_mask, lambda p, t, r: ramp_mask(p, t, r).flatten(), "2-D positions")


def test_ramp_check_requires_a_gradient_to_the_threshold():
    msg = _fails(check_ramp_mask, lambda p, t, r: ramp_mask(p, t.detach(), r), "flat part")
    assert "gradient" in msg


def test_output_size_check_names_the_failing_case():
    # The even rule applied to odd n.
    def even_rule(n, s, r):
        t = max(n / s, 2) / 2
        return 2 * min(math.floor(t) + 1 if r == 0 else math.ceil(t + r), n // 2)

    _fails(check_output_size, even_rule, "odd n=31, S=2")
    # No floor at h' = 2.
    _fails(check_output_size,
           lambda n, s, r: (2 * min(math.ceil(n / (2 * s) + r), n // 2) if r
                            else output_length_by_counting(n, s, r)) if n % 2 == 0
           else output_length_by_counting(n, s, r),
           "target size floored at 2")
    # ceil(T) for the hard box instead of floor(T) + 1.
    _fails(check_output_size,
           lambda n, s, r: 2 * min(math.ceil(max(n / s, 2) / 2 + r), n // 2) if n % 2 == 0
           else output_length_by_counting(n, s, r),
           "hard box R=0")
    # Fixed stride instead of DiffStride.
    msg = _fails(check_output_size, lambda n, s, r: int(n // s), "n=32, S=2")
    assert "expected 24, got 16" in msg


def test_critical_stride_check_names_the_failing_case():
    # Spectral height not forced even.
    msg = _fails(check_critical_stride, lambda n, f: n / (int(n // f) - 2), "n=64, factor 3")
    assert "20x21" in msg
    # The factor itself.
    _fails(check_critical_stride, lambda n, f: f, "factor 3 (the chapter's")


def test_not_implemented_propagates_unchanged():
    def stub(*args):
        raise NotImplementedError("Exercise 3.1: write it")

    for check in (check_ramp_mask, check_output_size, check_critical_stride):
        with pytest.raises(NotImplementedError, match="Exercise 3.1"):
            check(stub)


def test_error_in_student_code_names_the_case():
    def broken(n, s, r):
        raise ZeroDivisionError("oops")

    msg = _fails(check_output_size, broken, "even n=32, S=2")
    assert "ZeroDivisionError" in msg


# ------------------------------------------- the critical stride, against the layer


def _applied_mask(stride: float, n: int) -> torch.Tensor:
    """The mask the layer applies on the rfft half-plane, measured on a unit impulse.

    Row 0 and the interior columns are free of the Hermitian symmetrisation that irfft2
    imposes on columns 0 and n/2, so they read the separable mask exactly.
    """
    layer = DiffStride2d(stride, cropping=False).double()
    impulse = torch.zeros(1, 1, n, n, dtype=torch.float64)
    impulse[..., 0, 0] = 1.0
    spectrum = torch.fft.rfft2(layer(impulse))[0, 0].real
    return spectrum[:, 1] / spectrum[0, 1], spectrum[0, :]


@pytest.mark.parametrize("n, factor", [(96, 3.0), (96, 4.0), (64, 3.0), (32, 2.5), (96, 5.0)])
def test_critical_stride_matches_the_layer(n, factor):
    h, w = spectral_output_size(n, n, factor)
    rows = list(range(h // 2)) + list(range(n - h // 2, n))  # the rows spectral pooling keeps
    cols = list(range(w // 2 + 1))
    s_star = critical_stride_reference(n, factor)
    for s, flat in ((s_star * (1 - 1e-4), True), (s_star * (1 + 1e-3), False)):
        mask_h, mask_w = _applied_mask(s, n)
        on_band = torch.cat((mask_h[rows], mask_w[cols]))
        assert bool(torch.all(on_band > 1 - 1e-9)) is flat, (n, factor, s, on_band)
