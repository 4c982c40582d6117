"""The downsampling registry: a kind's name -> a factory building its module.

A factory takes the initial stride and the channel count and returns an ``nn.Module``
mapping ``[B, C, H, W]`` to ``[B, C, h, w]``. ``strided`` is special: it has no module of
its own, the stride goes into the preceding convolution (see ``hybridlib.resnet``).
Adding a kind is one registration::

    @register("blur", linear=True)
    def make_blur(stride: float, channels: int) -> nn.Module:
        return BlurPool2d(channels, stride=int(stride))

``linear=True`` declares that the module is a linear map acting on each channel alike, so
that it commutes with a 1x1 convolution; the ResNet then pools its projection shortcut on
the narrower side of that convolution (same result, less work).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hybridlib.diffstride import DiffStride2d
from hybridlib.spectral import SpectralPool2d

__all__ = ["DOWNSAMPLERS", "LINEAR_KINDS", "STRIDED", "make_downsampler", "register"]

Factory = Callable[[float, int], nn.Module]
DOWNSAMPLERS: dict[str, Factory] = {}
# Kinds whose module is linear and channel-wise: it commutes with a 1x1 convolution.
LINEAR_KINDS: set[str] = set()
STRIDED = "strided"


def register(name: str, linear: bool = False) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory(stride, channels) -> nn.Module`` under ``name``.

    ``linear``: the module is a linear map applied to each channel alike (see above).
    """

    def add(factory: Factory) -> Factory:
        if name in DOWNSAMPLERS:
            raise ValueError(f"downsampling kind {name!r} is already registered")
        DOWNSAMPLERS[name] = factory
        if linear:
            LINEAR_KINDS.add(name)
        return factory

    return add


def make_downsampler(kind: str, stride: float, channels: int) -> nn.Module:
    """Build the module of ``kind`` with initial ``stride`` for ``channels`` channels."""
    if kind not in DOWNSAMPLERS:
        valid = ", ".join(sorted(DOWNSAMPLERS))
        raise ValueError(f"unknown downsampling kind {kind!r}; valid kinds: {valid}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride!r}")
    return DOWNSAMPLERS[kind](stride, channels)


def _fixed(build: Callable[[int], nn.Module]) -> Factory:
    """A fixed-stride kind: identity at stride 1, integer strides only otherwise."""

    def factory(stride: float, channels: int) -> nn.Module:
        if stride == 1:
            return nn.Identity()
        if stride != int(stride):
            raise ValueError(f"this pooling needs an integer stride, got {stride!r}")
        return build(int(stride))

    return factory


@register(STRIDED)
def _strided(stride: float, channels: int) -> nn.Module:
    # The convolution before it carries the stride; nothing is left to do here.
    return nn.Identity()


register("max")(_fixed(lambda s: nn.MaxPool2d(kernel_size=s, stride=s, ceil_mode=True)))
register("avg", linear=True)(
    _fixed(lambda s: nn.AvgPool2d(kernel_size=s, stride=s, ceil_mode=True))
)


@register("spectral", linear=True)
def _spectral(stride: float, channels: int) -> nn.Module:
    return nn.Identity() if stride == 1 else SpectralPool2d(stride=stride)


@register("diffstride", linear=True)
def _diffstride(stride: float, channels: int) -> nn.Module:
    # Always a DiffStride layer, even at stride 1: it can learn to downsample.
    return DiffStride2d(stride=stride)


@register("diffstride_rescaled", linear=True)
def _diffstride_rescaled(stride: float, channels: int) -> nn.Module:
    # The control of the budget study: DiffStride whose crops keep the input's amplitude,
    # so that a projection block's shortcut is no larger, relative to its residual
    # branch, than in the strided network.
    return DiffStride2d(stride=stride, rescale=True)
