"""Named model configurations and run profiles, as plain data.

``CONFIGS[name]`` is the spec ``hybridlib.resnet.resnet18`` takes: a ``description`` and
``(kind, initial_stride)`` for each downsampling position. ``config_spec(name, strides)``
re-targets a configuration to one of the DiffStride paper's initial-stride rows.
``RECIPES`` holds the official repository's training recipes. ``PROFILES[name]`` holds a
profile's settings, every run record stores both, and ``profile_runs(name)`` lists the
runs a profile declares.
"""

from __future__ import annotations

import copy

__all__ = [
    "ABLATION",
    "CONFIGS",
    "HYBRID_READINGS",
    "MAIN_CONFIGS",
    "PROFILES",
    "RECIPES",
    "ROW_CONFIGS",
    "STRIDE_ROWS",
    "config_spec",
    "profile_runs",
    "profile_settings",
    "stride_row",
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
    # The budget study's control: DiffStride whose crops keep the amplitude of their input.
    "diffstride_rescaled": _spec(
        "DiffStride with amplitude-preserving crops in the stem and stages 2-4 (the control "
        "of the budget study)",
        "diffstride_rescaled",
        ("diffstride_rescaled",) * 3,
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
# The configurations the paper profile trains at every initial-stride row of STRIDE_ROWS:
# the DiffStride paper's three kinds and the Hybrid paper's model in each of its readings.
ROW_CONFIGS = ("strided", "spectral", "diffstride") + HYBRID_READINGS

# The official DiffStride repository's training recipes, named for where they come from.
# Keras adds lambda * ||w||^2 to the loss, whose gradient is 2 * lambda * w: its L2 of
# lambda on the kernels is torch's SGD weight_decay of 2 * lambda.
RECIPES: dict[str, dict] = {
    "official": {
        "description": (
            "the repository's current configuration: batch 128, 400 epochs, step schedule by "
            "steps (0.01 warm-up, 0.1, then / 10 at steps 18000 and 32000), label smoothing "
            "0.2, mixup 0.2, Keras L2 5e-4 (weight decay 1e-3)"
        ),
        "schedule": "official",
        "epochs": 400,
        "batch_size": 128,
        "lr": 0.1,  # the peak value; the schedule's values are fixed
        "weight_decay": 1e-3,
        "label_smoothing": 0.2,
        "mixup": 0.2,
    },
    "first_commit": {
        "description": (
            "the repository's first commit: batch 256, 400 epochs, learning rate 0.1 divided "
            "by 10 at epochs 200 and 300, no label smoothing, no mixup, Keras L2 5e-3 "
            "(weight decay 1e-2)"
        ),
        "schedule": "first_commit",
        "epochs": 400,
        "batch_size": 256,
        "lr": 0.1,
        "weight_decay": 1e-2,
        "label_smoothing": 0.0,
        "mixup": 0.0,
    },
}


def stride_row(value) -> tuple[int, int, int]:
    """An initial-stride row of stages 2-4, parsed and checked once, where it enters.

    Takes ``(3, 1, 3)``, ``[3, 1, 3]`` (a record's JSON) or ``"3,1,3"`` / ``"(3,1,3)"`` (the
    command line); every reader of a row (the run's settings, its spec, its record's path)
    then works with the tuple this returns.

    Raises:
        ValueError: naming the value, unless it is three integers >= 1.
    """
    parts = value.strip("() ").split(",") if isinstance(value, str) else value
    try:
        row = tuple(parts)
        exact = all(isinstance(s, str) and s.strip().isdigit()
                    or isinstance(s, int) and not isinstance(s, bool) for s in row)
    except TypeError:
        exact = False
    if not exact or len(row) != 3 or min(int(s) for s in row) < 1:
        raise ValueError(f"strides must be three integers >= 1, like 3,1,3; got {value!r}")
    return tuple(int(s) for s in row)


def config_spec(name: str, strides=None) -> dict:
    """The spec of configuration ``name``, optionally with another initial-stride row.

    ``strides`` (anything :func:`stride_row` takes) replaces the initial strides of stages
    2-4 for every kind, e.g. (3, 1, 3).
    """
    if name not in CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; valid: {', '.join(CONFIGS)}")
    spec = copy.deepcopy(CONFIGS[name])
    if strides is not None:
        strides = stride_row(strides)
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
        # The training chapter trains this profile's missing runs (seconds); the book of
        # any other profile reads the records that python -m hybridlib.train wrote.
        "book_trains": True,
        "threads": None,  # torch's intra-op thread count; None leaves torch's default
        "cell_timeout": 900,  # seconds a chapter's cell may run before the pipeline fails
    },
    "cpu": {
        "description": (
            "the published book's runs: Fashion-MNIST (50000 training images, 5000 held out "
            "for validation, the 10000 test images scored once at the end), width-8 "
            "ResNet-18, 6 epochs with a step schedule and bf16 convolutions, the learning "
            "rate tuned per configuration on the validation split, 5 seeds (3 for the "
            "position ablation); the whole sweep, learning-rate grid included, took 19.6 "
            "hours of one single-threaded process, about 9.8 hours with two processes on 2 "
            "cores"
        ),
        "datasets": ("fashion_mnist",),
        "configs": MAIN_CONFIGS + HYBRID_READINGS[1:] + ABLATION,
        "seeds": (0, 1, 2, 3, 4),
        "config_seeds": {c: (0, 1, 2) for c in ABLATION},
        "width": 8,
        "epochs": 6,
        "batch_size": 128,
        # Of the 55000 training images the validation split leaves, what the time budget
        # of the sweep allows (see chapter 5).
        "train_subset": 50000,
        "test_subset": None,
        "validation": 5000,
        "precision": "bf16",
        "schedule": "step",
        # Chosen by hybridlib.tuning from the grid below (python -m hybridlib.tuning);
        # tests/test_tuning.py checks them against the recorded grid.
        "lr": {
            "strided": 0.8,
            "spectral": 0.1,
            "diffstride": 0.1,
            "hybrid": 0.1,
            "hybrid_at_gap": 0.1,
            "hybrid_stem": 0.1,
            "spectral_stage2": 0.1,
            "spectral_stage3": 0.1,
            "spectral_stage4": 0.2,
            "diffstride_early": 0.4,
            "diffstride_late": 0.2,
            "reversed_hybrid": 0.4,
        },
        "lr_grid": {"values": (0.05, 0.1, 0.2, 0.4), "epochs": 3, "train_subset": 20000,
                    "extend": 2},
        "device": "cpu",
        # One thread per process: two processes share the 2 cores better than one with two
        # threads (python -m hybridlib.train --profile cpu, started twice).
        "threads": 1,
        "cell_timeout": 6 * 3600,
    },
    "cpu-budget": {
        "description": (
            "the training-budget study: strided, DiffStride, the hybrid and DiffStride with "
            "amplitude-preserving crops on Fashion-MNIST as in the cpu profile, trained "
            "with a warmup-stable-decay schedule to budgets of 6, 12 and 18 epochs, the "
            "shorter budgets branching off the longest run's trunk; 6 seeds for the hybrid "
            "and DiffStride, 3 for the others (hybridlib.budget)"
        ),
        "datasets": ("fashion_mnist",),
        "configs": ("strided", "diffstride", "hybrid", "diffstride_rescaled"),
        "seeds": (0, 1, 2, 3, 4, 5),
        "config_seeds": {"strided": (0, 1, 2), "diffstride_rescaled": (0, 1, 2)},
        "width": 8,
        "epochs": 18,  # the largest budget; profile_runs lists these runs
        "budgets": (6, 12, 18),  # epochs; each a multiple of the schedule's decay share
        "batch_size": 128,
        "train_subset": 50000,
        "test_subset": None,
        "validation": 5000,
        "precision": "bf16",
        "schedule": "wsd",
        # The cpu profile's rates (the control takes DiffStride's); hybridlib.budget checks
        # each against its grid neighbours at the largest budget before the seeds run.
        # strided: 0.4, not the cpu profile's 0.8 (validation 93.54 % against 93.02 % at
        # 18 epochs, more than the rule's 0.3 points); the check goes on around 0.4.
        "lr": {"strided": 0.4, "diffstride": 0.1, "hybrid": 0.1, "diffstride_rescaled": 0.1},
        "lr_grid": {"values": (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)},
        "device": "cpu",
        "threads": 1,
        "cell_timeout": 6 * 3600,
    },
    "paper": {
        "description": (
            "the paper-scale reproduction: CIFAR-10 and CIFAR-100, width-64 ResNet-18, the "
            "official repository's current recipe, the DiffStride paper's six initial-stride "
            "rows for strided, spectral, DiffStride and the three hybrid readings, the other "
            "baselines and the position ablation at (2, 2, 2), 3 seeds, CUDA GPUs"
        ),
        "datasets": ("cifar10", "cifar100"),
        "configs": MAIN_CONFIGS + HYBRID_READINGS[1:] + ("max", "avg") + ABLATION,
        "stride_rows": STRIDE_ROWS,  # trained for the configurations of "row_configs"
        "row_configs": ROW_CONFIGS,
        "seeds": (0, 1, 2),
        "width": 64,
        # The recipe whose numbers have been published with the code that runs here (the
        # official README's, for the same pre-activation network with mixup); the first
        # commit's recipe, perhaps the paper's own, is `--recipe first_commit` of the sweep.
        "recipe": "official",
        **{k: RECIPES["official"][k] for k in ("epochs", "batch_size", "lr", "schedule")},
        "train_subset": None,
        "test_subset": None,
        "device": "auto",
        "threads": None,
        "cell_timeout": None,  # the training cell runs for days: no limit
    },
}


def profile_runs(
    name: str,
    datasets=None,
    configs=None,
    seeds=None,
    rows: bool = True,
) -> list[tuple[str, str, tuple[int, int, int] | None, int]]:
    """Every run profile ``name`` declares, as ``(dataset, config, strides, seed)``, seed-major.

    ``strides`` is None for a configuration's own initial strides, else a row of the
    profile's ``stride_rows`` (for its ``row_configs`` only). ``datasets``, ``configs`` and
    ``seeds`` narrow the list; ``rows=False`` leaves the other stride rows out. A profile's
    ``config_seeds`` ({config: seeds}) gives some configurations fewer seeds than ``seeds``.
    """
    settings = profile_settings(name)
    own_seeds = settings.get("config_seeds", {})
    runs = []
    for seed in settings["seeds"] if seeds is None else seeds:
        for dataset in datasets or settings["datasets"]:
            for config in configs or settings["configs"]:
                if seeds is None and seed not in own_seeds.get(config, (seed,)):
                    continue
                extra = settings.get("stride_rows", ()) if rows else ()
                if config not in settings.get("row_configs", ()):
                    extra = ()
                own = tuple(CONFIGS[config][p][1] for p in ("stage2", "stage3", "stage4"))
                runs.append((dataset, config, None, seed))
                runs += [(dataset, config, tuple(r), seed) for r in extra if tuple(r) != own]
    return runs


def profile_settings(name: str) -> dict:
    """A copy of profile ``name``'s settings (a ValueError lists the valid names)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return copy.deepcopy(PROFILES[name])
