"""The chapter-4 self-checks pass on correct solutions and name the case a wrong one fails."""

from __future__ import annotations

import math

import pytest

from hybridlib.book.selfcheck.architectures import check_block_parameters, check_feature_sizes
from hybridlib.diffstride import DiffStride2d
from hybridlib.spectral import spectral_output_size


def downsample(kind, stride, h, w):
    """Size after one position, by formula (the chapter's solution, written apart)."""
    if kind == "strided":
        s = int(stride)
        return (h - 1) // s + 1, (w - 1) // s + 1
    if stride == 1 and kind != "diffstride":
        return h, w
    if kind in ("max", "avg"):
        return math.ceil(h / stride), math.ceil(w / stride)
    if kind == "spectral":
        return spectral_output_size(h, w, stride)
    if kind == "diffstride":
        return DiffStride2d(stride).output_size(h, w)
    raise ValueError(kind)


def sizes(spec, input_size):
    h, w = input_size
    out = {}
    for position in ("stem", "stage1", "stage2", "stage3", "stage4", "head"):
        entry = spec.get(position)
        if entry is not None:
            h, w = downsample(entry[0], entry[1], h, w)
        out[position] = (h, w)
    return out


def block_parameters(c_in, c_out, kind):
    bn = 2 * c_in + 2 * c_out
    convs = 9 * c_in * c_out + 9 * c_out * c_out
    shortcut = c_in * c_out if kind is not None else 0
    strides = 2 if kind == "diffstride" else 0
    return bn + convs + shortcut + strides


def test_checks_pass_on_correct_solutions():
    assert str(check_feature_sizes(sizes)).startswith("check_feature_sizes: all 12 cases pass")
    assert str(check_block_parameters(block_parameters)).startswith(
        "check_block_parameters: all 8 cases pass"
    )


def test_feature_sizes_names_the_failing_case():
    def spectral_as_strided(spec, input_size):
        fixed = {k: (("strided", v[1]) if v and v[0] == "spectral" and k != "head" else v)
                 for k, v in spec.items() if k != "description"}
        return sizes(fixed, input_size)

    with pytest.raises(AssertionError, match=r"case 'spectral, strides \(3,1,3\).*fails"):
        check_feature_sizes(spectral_as_strided)

    def diffstride_as_fixed(spec, input_size):
        fixed = {k: (("max", v[1]) if v and v[0] == "diffstride" else v)
                 for k, v in spec.items() if k != "description"}
        return sizes(fixed, input_size)

    with pytest.raises(AssertionError, match="case 'diffstride at 32x32' fails.*expected 24x24"):
        check_feature_sizes(diffstride_as_fixed)

    def no_head(spec, input_size):
        out = sizes(spec, input_size)
        del out["head"]
        return out

    with pytest.raises(AssertionError, match="no size for position 'head'"):
        check_feature_sizes(no_head)


def test_block_parameters_names_the_failing_case():
    with pytest.raises(AssertionError, match="case 'identity block, 64 channels' fails"):
        check_block_parameters(lambda c_in, c_out, kind: block_parameters(c_in, c_out, kind)
                               + 2 * (c_in + c_out))  # running statistics counted
    with pytest.raises(AssertionError, match="case 'DiffStride projection block 64 -> 128"):
        check_block_parameters(
            lambda c_in, c_out, kind: block_parameters(c_in, c_out, kind)
            - (2 if kind == "diffstride" else 0)
        )
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        check_block_parameters(lambda c_in, c_out, kind: 1 // 0)


def test_unfinished_stub_propagates():
    def stub(*args):
        raise NotImplementedError("Exercise 4.1: hint")

    with pytest.raises(NotImplementedError, match="Exercise 4.1"):
        check_feature_sizes(stub)
