"""Named model configurations and run profiles, as plain data.

``CONFIGS[name]`` is the spec ``hybridlib.resnet.resnet18`` takes: a ``description`` and
``(kind, initial_stride)`` for each downsampling position. ``config_spec(name, strides)``
re-targets a configuration to one of the DiffStride paper's initial-stride rows.
``PROFILES[name]`` holds a profile's settings; every run record stores both.
"""

from __future__ import annotations

import copy

__all__ = [
    "ABLATION",
    "CONFIGS",
    "HYBRID_READINGS",
    "MAIN_CONFIGS",
    "PROFILES",
    "STRIDE_ROWS",
    "config_spec",
    "profile_settings",
]

# Initial strides of the three downsampling stages in the DiffStride paper's table.
STRIDE_ROWS = ((2, 2, 2), (2, 2, 3), (1, 3, 1), (3, 1, 3), (3, 1, 2), (3, 2, 3))


def _spec(
    description: str,
    stem: str,
    stages: tuple[str, str, str],
    head: str | None = None,
    gap: str | None = None,
):
    """A spec with strides (2, 2, 2) in the stages, 1 in the stem, 2 in ``head`` and ``gap``."""
    spec = {"description": description, "stem": (stem, 1)}
    for position, kind in zip(("stage2", "stage3", "stage4"), stages):
        spec[position] = (kind, 2)
    spec["head"] = None if head is None else (head, 2)
    if gap is not None:  # absent rather than None, so that older specs hash as before
        spec["gap"] = (gap, 2)
    return spec


D, S, T = "diffstride", "spectral", "strided"

CONFIGS: dict[str, dict] = {
    # The baselines of the DiffStride paper.
    "strided": _spec("strided 3x3 convolutions, the standard ResNet-18", T, (T, T, T)),
    "max": _spec("max pooling after stride-1 convolutions", T, ("max",) * 3),
    "avg": _spec("average pooling after stride-1 convolutions", T, ("avg",) * 3),
    "spectral": _spec("fixed spectral pooling in stages 2-4", T, (S, S, S)),
    "diffstride": _spec(
        "DiffStride in the stem and stages 2-4 (the Hybrid paper's baseline)", D, (D, D, D)
    ),
    # The Hybrid paper's model.
    "hybrid": _spec(
        "DiffStride in the stem and stages 2-4, spectral pooling above global average pooling",
        D,
        (D, D, D),
        head=S,
    ),
    # Two more readings of the Hybrid paper's placement (see chapter 4).
    "hybrid_at_gap": _spec(
        "DiffStride in the stem and stages 2-4, spectral pooling directly before global "
        "average pooling (after the final BN-ReLU)",
        D,
        (D, D, D),
        gap=S,
    ),
    "hybrid_stem": _spec(
        "DiffStride only in the stem, spectral pooling in stages 2-4", D, (S, S, S)
    ),
    # Position ablation: where should each kind sit?
    "spectral_stage2": _spec("DiffStride everywhere but spectral pooling in stage 2", D, (S, D, D)),
    "spectral_stage3": _spec("DiffStride everywhere but spectral pooling in stage 3", D, (D, S, D)),
    "spectral_stage4": _spec("DiffStride everywhere but spectral pooling in stage 4", D, (D, D, S)),
    "diffstride_early": _spec(
        "DiffStride only early (stem, stage 2), spectral pooling in stages 3-4", D, (D, S, S)
    ),
    "diffstride_late": _spec(
        "DiffStride only late (stages 3-4), spectral pooling in stage 2", T, (S, D, D)
    ),
    # The hybrid's kinds swapped in depth. DiffStride cannot sit above global average
    # pooling after three fixed stride-2 stages: a 4x4 map is not larger than R = 4.
    "reversed_hybrid": _spec(
        "spectral pooling early (stages 2-3), DiffStride late (stage 4 and above global "
        "average pooling)",
        T,
        (S, S, D),
        head=D,
    ),
}

MAIN_CONFIGS = ("strided", "spectral", "diffstride", "hybrid")
# The three readings of "spectral pooling one level above global average pooling".
HYBRID_READINGS = ("hybrid", "hybrid_at_gap", "hybrid_stem")
ABLATION = (
    "spectral_stage2",
    "spectral_stage3",
    "spectral_stage4",
    "diffstride_early",
    "diffstride_late",
    "reversed_hybrid",
)


def config_spec(name: str, strides: tuple[int, int, int] | None = None) -> dict:
    """The spec of configuration ``name``, optionally with another initial-stride row.

    ``strides`` replaces the initial strides of stages 2-4 for every kind, e.g. (3, 1, 3).
    """
    if name not in CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; valid: {', '.join(CONFIGS)}")
    spec = copy.deepcopy(CONFIGS[name])
    if strides is not None:
        strides = tuple(int(s) for s in strides)
        if len(strides) != 3 or min(strides) < 1:
            raise ValueError(f"strides must be three integers >= 1, got {strides!r}")
        for position, stride in zip(("stage2", "stage3", "stage4"), strides):
            spec[position] = (spec[position][0], stride)
        if strides != (2, 2, 2):
            spec["description"] += f", initial strides {strides}"
    return spec


PROFILES: dict[str, dict] = {
    "smoke": {
        "description": "seconds on any machine: tiny synthetic data, one epoch, every chapter runs",
        "datasets": ("synthetic",),
        "configs": MAIN_CONFIGS,
        "seeds": (0,),
        "width": 4,
        "epochs": 1,
        "batch_size": 64,
        "train_subset": 256,
        "test_subset": 128,
        "schedule": "onecycle",
        "lr": 0.05,
        "device": "cpu",
        "threads": None,  # torch's intra-op thread count; None leaves torch's default
        "cell_timeout": 900,  # seconds a chapter's cell may run before the pipeline fails
    },
    "cpu": {
        "description": (
            "the published book's runs: Fashion-MNIST (10000 training images), width-8 "
            "ResNet-18, every configuration, 2 seeds, about an hour on 2 CPU cores"
        ),
        "datasets": ("fashion_mnist",),
        "configs": MAIN_CONFIGS + ABLATION,
        "seeds": (0, 1),
        "width": 8,
        "epochs": 3,
        "batch_size": 128,
        "train_subset": 10000,
        "test_subset": 5000,
        "schedule": "onecycle",
        "lr": 0.1,
        "device": "cpu",
        "threads": 2,  # recorded, so that the published runs can be repeated exactly
        "cell_timeout": 6 * 3600,  # the training cell runs the whole sweep (about an hour)
    },
    "paper": {
        "description": (
            "the paper-scale reproduction: CIFAR-10 and CIFAR-100, width-64 ResNet-18, "
            "the official recipe, 3 seeds, a CUDA GPU"
        ),
        "datasets": ("cifar10", "cifar100"),
        "configs": MAIN_CONFIGS + ("max", "avg") + ABLATION,
        "seeds": (0, 1, 2),
        "width": 64,
        "epochs": 400,
        "batch_size": 128,
        "train_subset": None,
        "test_subset": None,
        "schedule": "official",
        "lr": 0.1,
        "device": "auto",
        "threads": None,
        "cell_timeout": None,  # the training cell runs for days: no limit
    },
}


def profile_settings(name: str) -> dict:
    """A copy of profile ``name``'s settings (a ValueError lists the valid names)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return copy.deepcopy(PROFILES[name])
