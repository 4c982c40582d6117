"""Self-checks for the exercises of chapter 4 (the architectures).

* :func:`check_feature_sizes`: ``fn(spec, input_size) -> {position: (h, w)}``, the
  feature-map size after every position of a ResNet-18 spec, against
  :func:`hybridlib.resnet.describe` on real networks.
* :func:`check_block_parameters`: ``fn(c_in, c_out, kind) -> int``, the parameter count
  of one pre-activation block, against ``hybridlib.resnet.PreActBlock``.

Both use :class:`~hybridlib.book.selfcheck.core.CheckResult` and
:func:`~hybridlib.book.selfcheck.core.run_cases`: a wrong answer raises an
``AssertionError`` naming the case (every failing case with ``every_case=True``), a
passing check reads "all N cases pass".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from hybridlib.book.selfcheck.core import CheckResult, run_cases
from hybridlib.configs import CONFIGS, config_spec
from hybridlib.resnet import PreActBlock, describe, resnet18

__all__ = ["check_block_parameters", "check_feature_sizes"]

SIZE_POSITIONS = ("stem", "stage1", "stage2", "stage3", "stage4", "head")

# (case name, spec, input (H, W)); the reference sizes come from describe() on a
# width-2 network (sizes do not depend on the width).
_SIZE_CASES: list[tuple[str, dict, tuple[int, int]]] = [
    ("strided at 32x32", CONFIGS["strided"], (32, 32)),
    ("spectral at 32x32", CONFIGS["spectral"], (32, 32)),
    ("max pooling at 31x31 (ceil mode)", CONFIGS["max"], (31, 31)),
    ("diffstride at 32x32", CONFIGS["diffstride"], (32, 32)),
    ("hybrid at 32x32 (spectral head on 18x18)", CONFIGS["hybrid"], (32, 32)),
    ("hybrid at 28x28 (unpadded Fashion-MNIST)", CONFIGS["hybrid"], (28, 28)),
    ("reversed_hybrid at 32x32", CONFIGS["reversed_hybrid"], (32, 32)),
    ("diffstride_early at 32x32", CONFIGS["diffstride_early"], (32, 32)),
    ("strided, strides (3,1,3), at 32x32", config_spec("strided", (3, 1, 3)), (32, 32)),
    ("spectral, strides (3,1,3), at 32x32 (odd maps)", config_spec("spectral", (3, 1, 3)),
     (32, 32)),
    ("diffstride, strides (1,3,1), at 32x32", config_spec("diffstride", (1, 3, 1)), (32, 32)),
    ("spectral_stage3 at 40x24 (not square)", CONFIGS["spectral_stage3"], (40, 24)),
]


_REFERENCE_CACHE: dict[str, dict[str, tuple[int, int]]] = {}


def _reference_sizes(spec: Mapping, input_size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    key = repr((sorted((k, v) for k, v in spec.items() if k != "description"), input_size))
    if key in _REFERENCE_CACHE:
        return _REFERENCE_CACHE[key]
    torch.manual_seed(0)
    model = resnet18(spec, num_classes=2, in_channels=1, width=2)
    sizes = describe(model, (1, *input_size))["sizes"]
    _REFERENCE_CACHE[key] = {k: (int(v[0]), int(v[1])) for k, v in sizes.items()}
    return _REFERENCE_CACHE[key]


def check_feature_sizes(fn: Callable[[Mapping, tuple[int, int]], Mapping], *,
                        every_case: bool = False) -> CheckResult:
    """Check ``fn(spec, input_size) -> {position: (h, w)}`` against ``describe``.

    ``spec`` is a configuration as in ``hybridlib.configs.CONFIGS`` (``description``,
    ``stem``, ``stage2``..``stage4`` as ``(kind, stride)``, ``head`` possibly ``None``) and
    ``input_size`` the image's ``(H, W)``. The answer must give the size after each of
    ``stem``, ``stage1``, ``stage2``, ``stage3``, ``stage4`` and ``head`` (equal to
    ``stage4`` when there is no head layer) at initialisation.
    """

    def case(spec, input_size):
        def run():
            want = _reference_sizes(spec, input_size)
            got = fn(spec, input_size)
            if not isinstance(got, Mapping):
                raise AssertionError(f"expected a dict of sizes, got {type(got).__name__}")
            for position in SIZE_POSITIONS:
                if position not in got:
                    raise AssertionError(f"no size for position {position!r}")
                try:
                    value = tuple(int(v) for v in got[position])
                except (TypeError, ValueError):
                    raise AssertionError(
                        f"size of {position!r} should be a pair (h, w), got {got[position]!r}"
                    ) from None
                if value != want[position]:
                    raise AssertionError(
                        f"after {position!r} got {value[0]}x{value[1]}, expected "
                        f"{want[position][0]}x{want[position][1]} (all sizes: "
                        + ", ".join(f"{k} {h}x{w}" for k, (h, w) in want.items())
                        + ")"
                    )

        return run

    cases = [(name, case(spec, size)) for name, spec, size in _SIZE_CASES]
    return run_cases("check_feature_sizes", cases, every_case)


# (case name, c_in, c_out, kind); kind None is an identity block (c_in == c_out).
_BLOCK_CASES: list[tuple[str, int, int, str | None]] = [
    ("identity block, 64 channels", 64, 64, None),
    ("identity block, 8 channels", 8, 8, None),
    ("strided projection block 64 -> 128", 64, 128, "strided"),
    ("spectral projection block 64 -> 128", 64, 128, "spectral"),
    ("max pooling projection block 16 -> 32", 16, 32, "max"),
    ("DiffStride projection block 64 -> 128 (a learned stride per axis)", 64, 128, "diffstride"),
    ("DiffStride projection block 256 -> 512", 256, 512, "diffstride"),
    ("projection block at unequal odd widths 3 -> 5", 3, 5, "strided"),
]


def check_block_parameters(fn: Callable[[int, int, str | None], int], *,
                           every_case: bool = False) -> CheckResult:
    """Check ``fn(c_in, c_out, kind) -> int``, the parameters of one pre-activation block.

    ``kind`` is ``None`` for an identity block (``c_in == c_out``, no shortcut
    convolution) or a downsampling kind for a projection block with initial stride 2.
    The reference is ``sum(p.numel() for p in PreActBlock(c_in, c_out, kind, 2).parameters())``
    (batch-norm running statistics are buffers, not parameters).
    """

    def case(c_in, c_out, kind):
        def run():
            block = PreActBlock(c_in, c_out, kind, 2) if kind else PreActBlock(c_in, c_out)
            want = sum(p.numel() for p in block.parameters())
            got = fn(c_in, c_out, kind)
            if isinstance(got, torch.Tensor):
                got = got.item()
            if got != want:
                raise AssertionError(
                    f"fn({c_in}, {c_out}, {kind!r}) returned {got!r}, expected {want} "
                    f"(difference {want - got if isinstance(got, (int, float)) else '?'})"
                )

        return run

    cases = [(name, case(c_in, c_out, kind)) for name, c_in, c_out, kind in _BLOCK_CASES]
    return run_cases("check_block_parameters", cases, every_case)
