"""Measurements of a network at initialisation, recorded next to the run records.

The results chapter asks how large each projection block's shortcut is against its
residual branch at initialisation, on a batch of the profile's images. Measuring needs
the data set; the answer is a few numbers per configuration. So the measurement is
load-or-measure, like the training chapter's load-or-train: it is recorded once in
``results/<profile>/<dataset>/shortcut_amplitude.json`` (committed with the run records
of a published profile) and read back while its settings are unchanged, so that the
book builds from the committed records without the data set.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from hybridlib.configs import config_spec
from hybridlib.data import iterate_batches, load_dataset
from hybridlib.paths import results_root
from hybridlib.resnet import resnet18

__all__ = [
    "AMPLITUDE_FILE",
    "PROBE_IMAGES",
    "PROBE_STAGES",
    "amplitude_path",
    "amplitude_settings",
    "load_or_measure_amplitudes",
    "measure_amplitudes",
    "probe_batch",
    "shortcut_to_residual",
]

AMPLITUDE_FILE = "shortcut_amplitude.json"
PROBE_IMAGES = 128  # the first batch of a stratified subset of the training images
PROBE_SUBSET = 256  # training images drawn (seed 0) before taking the batch
PROBE_STAGES = ("stage2", "stage3", "stage4")  # the projection blocks


def amplitude_settings(dataset: str, configs: list[str], width: int) -> dict:
    """Everything the measurement depends on, as stored in (and compared with) its record."""
    return json.loads(
        json.dumps(
            {
                "dataset": dataset,
                "width": int(width),
                "images": PROBE_IMAGES,
                "subset": PROBE_SUBSET,
                "subset_seed": 0,
                "init_seed": 0,
                "batch_norm": "batch statistics",
                "stages": list(PROBE_STAGES),
                "configs": {
                    name: {k: v for k, v in config_spec(name).items() if k != "description"}
                    for name in configs
                },
            }
        )
    )


def _settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def amplitude_path(profile: str, dataset: str, results_dir: str | os.PathLike | None = None):
    """``<results>/<profile>/<dataset>/shortcut_amplitude.json``."""
    return results_root(results_dir) / profile / dataset / AMPLITUDE_FILE


def probe_batch(dataset: str) -> tuple[torch.Tensor, int, int]:
    """The normalised probe batch ``[PROBE_IMAGES, C, 32, 32]``, its classes and channels."""
    data = load_dataset(dataset).subset(train=PROBE_SUBSET, test=None, seed=0)
    x, _ = next(
        iterate_batches(
            data.train_images, data.train_labels, PROBE_IMAGES, mean=data.mean, std=data.std
        )
    )
    return x, data.num_classes, data.in_channels


def shortcut_to_residual(
    config: str, batch: torch.Tensor, num_classes: int, width: int
) -> dict[str, float]:
    """std(shortcut) / std(residual branch) of each projection block, at initialisation,
    with batch norm normalising by the batch (training mode).

    Args:
        config: a configuration's name (``hybridlib.configs.CONFIGS``).
        batch: normalised images ``[B, C, H, W]``.
        num_classes: outputs of the classifier (does not change the ratios).
        width: channels of the first stage.
    Returns:
        ``{"stage2": r2, "stage3": r3, "stage4": r4}``.
    """
    torch.manual_seed(0)
    model = resnet18(
        config_spec(config), num_classes=num_classes, in_channels=batch.shape[1], width=width
    )
    ratios, handles = {}, []
    for stage in PROBE_STAGES:
        block = getattr(model, stage)[0]

        def hook(module, inputs, output, stage=stage, block=block):
            x = inputs[0]
            residual = block.conv2(
                torch.relu(block.bn2(block.pool(block.conv1(torch.relu(block.bn1(x))))))
            )
            ratios[stage] = float((output - residual).std() / residual.std())

        handles.append(block.register_forward_hook(hook))
    try:
        # Batch norm with the batch's statistics, as in the first training step. In eval
        # mode a fresh network's running statistics (mean 0, variance 1) make batch norm
        # the identity, so the crop's gain would pass through the residual branch as
        # well and the ratio could not show it.
        with torch.no_grad():
            model.train()(batch)
    finally:
        for handle in handles:
            handle.remove()
    return ratios


def measure_amplitudes(dataset: str, configs: list[str], width: int) -> dict:
    """Measure every configuration on the probe batch of ``dataset`` (needs the data set).

    Returns:
        ``{"settings": ..., "settings_hash": ..., "ratios": {config: {stage: ratio}},
        "torch": version}``: the record that :func:`load_or_measure_amplitudes` stores.
    """
    settings = amplitude_settings(dataset, configs, width)
    batch, num_classes, _ = probe_batch(dataset)
    ratios = {c: shortcut_to_residual(c, batch, num_classes, int(width)) for c in configs}
    return {
        "settings": settings,
        "settings_hash": _settings_hash(settings),
        "ratios": ratios,
        "torch": torch.__version__,
    }


def load_or_measure_amplitudes(
    profile: str,
    dataset: str,
    configs: list[str],
    width: int,
    results_dir: str | os.PathLike | None = None,
) -> dict[str, dict[str, float]]:
    """The ratios of :func:`shortcut_to_residual` per configuration, from the record.

    The record is read when its settings equal this call's; otherwise the ratios are
    measured (which loads the data set) and the record is rewritten.
    """
    path = Path(amplitude_path(profile, dataset, results_dir))
    settings = amplitude_settings(dataset, configs, width)
    if path.exists():
        record = json.loads(path.read_text())
        if record.get("settings_hash") == _settings_hash(settings):
            return record["ratios"]
    record = measure_amplitudes(dataset, configs, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    partial.replace(path)
    return record["ratios"]
