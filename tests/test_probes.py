"""The recorded probe of the results chapter: read back without the data set, and equal to
what measuring gives."""

from __future__ import annotations

import json

import pytest
import torch

from hybridlib.book import probes
from hybridlib.configs import MAIN_CONFIGS, PROFILES
from hybridlib.data import load_dataset
from hybridlib.paths import results_root

CONFIGS = ["strided", "spectral"]


def test_a_record_with_the_same_settings_is_read_without_the_data(tmp_path, monkeypatch):
    first = probes.load_or_measure_amplitudes("smoke", "synthetic", CONFIGS, 4, tmp_path)
    assert set(first) == set(CONFIGS)
    assert all(set(r) == set(probes.PROBE_STAGES) for r in first.values())

    def no_data(dataset):
        raise AssertionError("the data set was loaded")

    monkeypatch.setattr(probes, "probe_batch", no_data)
    assert probes.load_or_measure_amplitudes("smoke", "synthetic", CONFIGS, 4, tmp_path) == first


def test_other_settings_are_measured_again(tmp_path):
    probes.load_or_measure_amplitudes("smoke", "synthetic", CONFIGS, 4, tmp_path)
    path = probes.amplitude_path("smoke", "synthetic", tmp_path)
    wider = probes.load_or_measure_amplitudes("smoke", "synthetic", CONFIGS, 8, tmp_path)
    assert json.loads(path.read_text())["settings"]["width"] == 8
    assert json.loads(path.read_text())["ratios"] == wider


def fashion_mnist_available() -> bool:
    try:
        load_dataset("fashion_mnist", download=False)
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST is not installed")
def test_the_committed_record_of_the_cpu_profile_is_what_measuring_gives():
    settings = PROFILES["cpu"]
    (dataset,) = settings["datasets"]
    path = probes.amplitude_path("cpu", dataset, results_root())
    record = json.loads(path.read_text())
    configs = [c for c in MAIN_CONFIGS if c in settings["configs"]]
    measured = probes.measure_amplitudes(dataset, configs, settings["width"])
    assert record["settings"] == measured["settings"], "the profile changed: rerun chapter 6"
    for config, ratios in measured["ratios"].items():
        assert record["ratios"][config] == pytest.approx(ratios, rel=1e-4), config


def test_the_crop_gain_on_the_shortcut_shows_with_batch_statistics():
    # Un-rescaled spectral pooling multiplies a map by HW/(hw) = 4 at stride 2; batch norm
    # removes it from the residual branch only. With eval-mode statistics of a fresh network
    # batch norm is the identity and both ratios would be alike.
    torch.manual_seed(1)
    batch = torch.randn(32, 1, 32, 32)
    strided = probes.shortcut_to_residual("strided", batch, num_classes=10, width=8)
    spectral = probes.shortcut_to_residual("spectral", batch, num_classes=10, width=8)
    for stage in probes.PROBE_STAGES:
        assert spectral[stage] > 1.5 * strided[stage], stage
