"""hybridlib.configs: a stride row is parsed once, where it enters."""

from __future__ import annotations

import pytest

from hybridlib.configs import config_spec, stride_row
from hybridlib.runs import build_run


@pytest.mark.parametrize("value", [(3, 1, 3), [3, 1, 3], "3,1,3", "(3, 1, 3)", " 3,1,3 "])
def test_every_form_a_row_arrives_in_becomes_one_tuple(value):
    assert stride_row(value) == (3, 1, 3)


@pytest.mark.parametrize("value", [(3, 1), (3, 1, 3, 1), (0, 1, 3), (3.5, 1, 3), (True, 1, 1),
                                   "3,1", "a,b,c", "3.0,1,3", 3, None, "-1,1,3"])
def test_anything_else_is_refused_naming_the_value(value):
    with pytest.raises(ValueError, match="strides must be three integers >= 1"):
        stride_row(value)


def test_the_run_its_spec_and_its_path_read_the_same_row():
    run = build_run("paper", "diffstride", 0, "cifar10", {"strides": "3,1,3"})
    assert run["strides"] == [3, 1, 3]
    assert [run["spec"][p][1] for p in ("stage2", "stage3", "stage4")] == [3, 1, 3]
    assert run == build_run("paper", "diffstride", 0, "cifar10", {"strides": (3, 1, 3)})
    assert config_spec("diffstride", "3,1,3") == config_spec("diffstride", [3, 1, 3])
