"""Pre-activation ResNet-18 whose downsampling is declared per position.

The network follows the official DiffStride code (He et al., 2016, pre-activation):

* stem: conv3x3 -> downsampling (``stem`` position, stride 1 in the papers);
* stage 1: two identity blocks at ``width`` channels, no downsampling;
* stages 2-4: a projection block (BN-ReLU-conv3x3 -> POOL -> BN-ReLU-conv3x3, shortcut
  conv1x1 on the block's raw input -> the *same* POOL module) then an identity block,
  at 2, 4 and 8 times ``width`` channels;
* optional extra downsampling one level above global average pooling (``head``, the
  Hybrid paper's place for spectral pooling);
* head: BN-ReLU -> optional downsampling (``gap``, directly before global average
  pooling) -> global average pooling -> linear. It accepts any final map size.

A spectral pooling at ``gap`` keeps the DC coefficient exactly, so it only scales the
pooled vector by ``HW / (hw)``, a constant the linear layer absorbs; at ``head`` the
final BN-ReLU sits between it and the average, and it can matter.

A *spec* maps each position to ``(kind, initial_stride)``, kinds from
``hybridlib.downsample``. With kind ``strided`` the stride goes into the block's first
3x3 convolution and its 1x1 shortcut instead of a pooling module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from hybridlib.diffstride import DiffStride2d
from hybridlib.downsample import LINEAR_KINDS, STRIDED, make_downsampler

__all__ = ["POSITIONS", "PreActResNet", "describe", "normalise_spec", "resnet18"]

STAGE_POSITIONS = ("stem", "stage2", "stage3", "stage4")
OPTIONAL_POSITIONS = ("head", "gap")
POSITIONS = (*STAGE_POSITIONS, *OPTIONAL_POSITIONS)


def normalise_spec(spec: Mapping) -> dict[str, tuple[str, float] | None]:
    """Validate a spec; return ``{position: (kind, stride) or None}`` for every position.

    ``description`` (as stored in ``hybridlib.configs``) is allowed and ignored.
    """
    unknown = set(spec) - set(POSITIONS) - {"description"}
    if unknown:
        raise ValueError(f"unknown spec positions {sorted(unknown)}; valid: {POSITIONS}")
    out: dict[str, tuple[str, float] | None] = {}
    for position in POSITIONS:
        entry = spec.get(position)
        if entry is None:
            if position not in OPTIONAL_POSITIONS:
                raise ValueError(f"spec is missing position {position!r}")
            out[position] = None
            continue
        if len(entry) != 2:
            raise ValueError(f"spec[{position!r}] must be (kind, stride), got {entry!r}")
        kind, stride = str(entry[0]), float(entry[1])
        if stride < 1:
            raise ValueError(f"spec[{position!r}] stride must be >= 1, got {stride!r}")
        if position in OPTIONAL_POSITIONS and kind == STRIDED:
            raise ValueError(
                f"spec[{position!r}] cannot be 'strided': there is no convolution there"
            )
        out[position] = (kind, stride)
    return out


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def _split(kind: str, stride: float, channels: int) -> tuple[int, nn.Module]:
    """(conv stride, pooling module) for a position: the stride lives in one of the two."""
    if kind == STRIDED:
        if stride != int(stride):
            raise ValueError(f"a strided convolution needs an integer stride, got {stride!r}")
        return int(stride), nn.Identity()
    return 1, make_downsampler(kind, stride, channels)


class PreActBlock(nn.Module):
    """Pre-activation basic block; a projection block when it changes size or width."""

    def __init__(self, c_in: int, c_out: int, kind: str | None = None, stride: float = 1) -> None:
        super().__init__()
        self.projection = kind is not None
        conv_stride, self.pool = _split(kind, stride, c_out) if kind else (1, nn.Identity())
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = _conv3x3(c_in, c_out, conv_stride)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride=conv_stride, bias=False) if self.projection else None
        )
        # A linear, channel-wise pooling commutes with the 1x1 convolution: pooling the
        # c_in channels before it gives the official pool(conv(x)) with less work.
        self.pool_first = self.projection and kind in LINEAR_KINDS and c_in < c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.conv1(F.relu(self.bn1(x))))
        out = self.conv2(F.relu(self.bn2(out)))
        # The official projection shortcut starts from the raw input and shares the pooling
        # module (and so the learned stride) with the main path.
        if not self.projection:
            skip = x
        elif self.pool_first:
            skip = self.shortcut(self.pool(x))
        else:
            skip = self.pool(self.shortcut(x))
        return out + skip


class PreActResNet(nn.Module):
    """Pre-activation ResNet-18 (see the module docstring).

    Args:
        spec: ``{position: (kind, stride)}`` for ``stem``, ``stage2``..``stage4`` and an
            optional ``head`` and ``gap``.
        num_classes: outputs of the final linear layer.
        in_channels: input channels (3 for CIFAR, 1 for Fashion-MNIST).
        width: channels of the stem and stage 1 (64 in the papers); stages double it.

    Shape:
        ``[B, in_channels, H, W]`` -> logits ``[B, num_classes]``.
    """

    def __init__(
        self, spec: Mapping, num_classes: int = 10, in_channels: int = 3, width: int = 64
    ) -> None:
        super().__init__()
        if width < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(
                f"width, num_classes and in_channels must be >= 1, got {width}, "
                f"{num_classes}, {in_channels}"
            )
        self.spec = normalise_spec(spec)
        kind, stride = self.spec["stem"]
        conv_stride, stem_pool = _split(kind, stride, width)
        self.stem = nn.Sequential(_conv3x3(in_channels, width, conv_stride), stem_pool)
        self.stage1 = nn.Sequential(PreActBlock(width, width), PreActBlock(width, width))
        stages, c_in = [], width
        for position, factor in zip(STAGE_POSITIONS[1:], (2, 4, 8)):
            kind, stride = self.spec[position]
            c_out = width * factor
            stages.append(
                nn.Sequential(PreActBlock(c_in, c_out, kind, stride), PreActBlock(c_out, c_out))
            )
            c_in = c_out
        self.stage2, self.stage3, self.stage4 = stages
        head = self.spec["head"]
        self.head_pool = make_downsampler(*head, c_in) if head else nn.Identity()
        gap = self.spec["gap"]
        self.gap_pool = make_downsampler(*gap, c_in) if gap else nn.Identity()
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature maps after each position: ``{"stem": ..., "stage1": ..., ..., "gap": ...}``.

        ``gap`` is the map global average pooling receives (after the final BN-ReLU).
        """
        maps = {"stem": self.stem(x)}
        maps["stage1"] = self.stage1(maps["stem"])
        maps["stage2"] = self.stage2(maps["stage1"])
        maps["stage3"] = self.stage3(maps["stage2"])
        maps["stage4"] = self.stage4(maps["stage3"])
        maps["head"] = self.head_pool(maps["stage4"])
        maps["gap"] = self.gap_pool(F.relu(self.bn(maps["head"])))
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        x = self.gap_pool(F.relu(self.bn(self.head_pool(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def downsamplers(self) -> dict[str, nn.Module]:
        """The pooling module at each position that has one (in network order)."""
        found = {
            "stem": self.stem[1],
            "stage2": self.stage2[0].pool,
            "stage3": self.stage3[0].pool,
            "stage4": self.stage4[0].pool,
            "head": self.head_pool,
            "gap": self.gap_pool,
        }
        return {k: m for k, m in found.items() if not isinstance(m, nn.Identity)}

    def learned_strides(self) -> dict[str, tuple[float, float]]:
        """Current strides of the DiffStride layers, by position."""
        return {
            k: m.current_stride()
            for k, m in self.downsamplers().items()
            if isinstance(m, DiffStride2d)
        }

    def stride_parameters(self) -> list[nn.Parameter]:
        """The learnable strides (kept out of weight decay by the trainer)."""
        return [m.stride for m in self.downsamplers().values() if isinstance(m, DiffStride2d)]

    def complexity(self) -> torch.Tensor:
        """DiffStride's complexity term: sum over positions of the running product of 1/(S_h S_w).

        Fixed kinds contribute their constant factor; only DiffStride strides get gradient.
        """
        total, running = 0.0, 1.0
        modules = self.downsamplers()
        for position in POSITIONS:
            entry = self.spec[position]
            if entry is None:
                continue
            module = modules.get(position)
            if isinstance(module, DiffStride2d):
                running = running * module.complexity_factor()
            else:
                running = running / entry[1] ** 2
            total = total + running
        return torch.as_tensor(total, dtype=torch.float32)


def resnet18(spec: Mapping, num_classes: int = 10, in_channels: int = 3, width: int = 64):
    """Pre-activation ResNet-18 with the downsampling of ``spec`` (see :class:`PreActResNet`)."""
    return PreActResNet(spec, num_classes=num_classes, in_channels=in_channels, width=width)


def _fft_flops(shape_in: torch.Size, shape_out: torch.Size) -> float:
    """Rough cost of rfft2 on the input and irfft2 on the output: 2.5 N log2 N each."""
    n_in = math.prod(shape_in[-2:])
    n_out = math.prod(shape_out[-2:])
    channels = shape_in[-3]
    return 2.5 * channels * (n_in * math.log2(max(n_in, 2)) + n_out * math.log2(max(n_out, 2)))


@torch.no_grad()
def describe(model: PreActResNet, input_size: tuple[int, int, int] = (3, 32, 32)) -> dict:
    """Feature-map size after each position, parameter count and FLOPs for one image.

    FLOPs count 2 per multiply-add of every convolution and linear layer plus a rough
    estimate of the FFTs of the spectral layers; batch norm and ReLU are left out.
    Returns ``{"sizes": {position: [h, w]}, "parameters": int, "flops": float}``.
    """
    flops = 0.0

    def count(module, inputs, output):
        nonlocal flops
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels
            flops += 2.0 * k / module.groups * output.numel() / output.shape[0]
        elif isinstance(module, nn.Linear):
            flops += 2.0 * module.in_features * module.out_features
        else:  # a spectral layer
            flops += _fft_flops(inputs[0].shape, output.shape)

    spectral = tuple(type(m) for m in model.downsamplers().values() if hasattr(m, "output_size"))
    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear, *spectral))
    ]
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, *input_size, device=next(model.parameters()).device)
        maps = model.features(x)
        model.fc(torch.zeros(1, model.fc.in_features, device=x.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {
        "sizes": {k: list(v.shape[-2:]) for k, v in maps.items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops": flops,
    }
