"""The trained-network check of chapter 2: windows, low-pass, the two orders, the verdict."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from hybridlib.book import lowpass as lp
from hybridlib.data import make_synthetic


def cosine(n: int, k_row: int, k_col: int) -> torch.Tensor:
    """A real wave of frequency (k_row, k_col) on an n x n grid, ``[1, 1, n, n]`` float64."""
    grid = torch.arange(n, dtype=torch.float64)
    phase = 2 * math.pi * (k_row * grid[:, None] + k_col * grid[None, :]) / n
    return torch.cos(phase + 0.3)[None, None]


@pytest.fixture(scope="module")
def small_data():
    return make_synthetic(n_train=128, n_test=64, num_classes=2, image_size=16, channels=1)


def test_odd_sizes_halve_the_map_and_stay_odd():
    assert lp.odd_sizes(32) == (15, 7)
    assert lp.odd_sizes(28) == (13, 5)
    assert lp.odd_sizes(64) == (31, 15)
    assert lp.odd_sizes(16, layers=3) == (7, 3, 1)
    with pytest.raises(ValueError, match="cannot be halved"):
        lp.odd_sizes(4, layers=3)


def test_window_mask_holds_m_by_m_frequencies_and_rejects_even_sizes():
    mask = lp.window_mask(32, 15)
    assert mask.shape == (32, 32) and int(mask.sum()) == 15 * 15
    assert mask[7, 7] and mask[-7, -7] and not mask[8, 0]
    with pytest.raises(ValueError, match="odd"):
        lp.window_mask(32, 16)


def test_lowpass_keeps_the_waves_inside_and_removes_those_outside():
    inside, outside = cosine(32, 7, -3), cosine(32, 8, 0)
    assert torch.allclose(lp.lowpass(inside, 15), inside, atol=1e-12)
    assert lp.lowpass(outside, 15).abs().max() < 1e-12
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    once = lp.lowpass(x, 7)
    assert once.dtype == x.dtype and once.shape == x.shape
    assert torch.allclose(lp.lowpass(once, 7), once, atol=1e-12)  # a projection
    assert not torch.allclose(once, x, atol=1e-3)


def test_relative_difference_is_zero_for_equal_maps_and_ignores_the_offset():
    a = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    assert lp.relative_difference(a, a).abs().max() == 0
    b = a + 0.1 * torch.randn_like(a)
    # A constant offset of a changes nothing: the norm is taken about each channel's mean.
    assert torch.allclose(lp.relative_difference(a + 5, b + 5), lp.relative_difference(a, b))
    assert lp.relative_difference(a, b).shape == (3,)


def test_share_outside_counts_the_energy_beyond_the_window():
    waves = torch.cat([cosine(32, 3, 2), cosine(32, 0, 9), 2 + cosine(32, 1, 1)])
    shares = lp.share_outside(waves, 15)
    assert torch.allclose(shares, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.isnan(lp.share_outside(torch.ones(1, 1, 32, 32), 15)).all()  # DC only


def test_the_two_orders_answer_the_first_window_question_differently():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 32, 32, dtype=torch.float64)
    for order, exact in (("pool-act", True), ("act-pool", False)):
        net = lp.TwoLayerSpectralNet(1, 3, order, sizes=(15, 7)).double().eval()
        assert net.features(x).shape == (4, 16, 7, 7) and net(x).shape == (4, 3)
        change = lp.relative_difference(net.features(x), net.features(lp.lowpass(x, 15)))
        if exact:
            assert change.max() < 1e-12
        else:
            assert change.min() > 1e-3


def test_the_network_rejects_an_unknown_order_and_even_sizes():
    with pytest.raises(ValueError, match="order"):
        lp.TwoLayerSpectralNet(1, 2, "pool-pool")
    with pytest.raises(ValueError, match="odd"):
        lp.TwoLayerSpectralNet(1, 2, sizes=(16, 8))


def test_training_is_deterministic_and_learns(small_data):
    a = lp.train_two_layer(small_data, "pool-act", steps=30, batch_size=32, seed=1)
    b = lp.train_two_layer(small_data, "pool-act", steps=30, batch_size=32, seed=1)
    assert not a.training
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    effects = lp.lowpass_effects(a, *_test_batch(small_data))
    assert effects[lp.COLUMNS["acc"]] > 0.75  # two classes: chance is 0.5


def _test_batch(data):
    x = (data.test_images.double() / 255 - data.mean[0]) / data.std[0]
    return x, data.test_labels


def test_lowpass_effects_measures_what_the_chapter_reports(small_data):
    x, y = _test_batch(small_data)
    torch.manual_seed(0)
    pool_act = lp.TwoLayerSpectralNet(1, 2, "pool-act", sizes=(7, 3)).eval()
    act_pool = lp.TwoLayerSpectralNet(1, 2, "act-pool", sizes=(7, 3)).eval()
    pa, ap = lp.lowpass_effects(pool_act, x, y), lp.lowpass_effects(act_pool, x, y)
    c = lp.COLUMNS
    assert set(pa) == set(ap) == set(c.values())
    assert pa[c["first"]] < lp.EXACT and pa[c["acc_first"]] == pa[c["acc"]]
    assert pa[c["before"]] < 1e-20  # low-passed by construction
    assert ap[c["first"]] > lp.CHANGED and ap[c["before"]] > 0.01
    assert pa[c["final"]] > lp.CHANGED and ap[c["final"]] > lp.CHANGED
    assert pool_act.convs[0].weight.dtype == torch.float32  # measured on a copy


def test_trained_table_has_one_row_per_order_and_rejects_unknown_settings(small_data):
    threads = torch.get_num_threads()
    table = lp.trained_lowpass_table(small_data, test_images=32, steps=5, batch_size=32)
    assert torch.get_num_threads() == threads  # restored
    assert list(table.index) == list(lp.ORDERS) and list(table.columns) == list(lp.COLUMNS.values())
    assert table.attrs["sizes"] == (7, 3) and table.attrs["test_images"] == 32
    assert table.attrs["steps"] == 5
    caption = lp.trained_caption(table)
    assert "5 SGD steps" in caption and "32 test images" in caption
    with pytest.raises(TypeError, match="unknown training settings"):
        lp.trained_lowpass_table(small_data, step=5)


def _table(values: dict | None = None) -> pd.DataFrame:
    c = lp.COLUMNS
    rows = {
        "act-pool": {c["first"]: 0.18, c["final"]: 0.7, c["acc"]: 0.876, c["acc_first"]: 0.866,
                     c["acc_final"]: 0.70, c["before"]: 0.1, c["after"]: 0.14},
        "pool-act": {c["first"]: 6e-16, c["final"]: 0.5, c["acc"]: 0.854, c["acc_first"]: 0.854,
                     c["acc_final"]: 0.741, c["before"]: 0.0, c["after"]: 0.05},
    }  # fmt: skip
    for (order, key), value in (values or {}).items():
        rows[order][c[key]] = value
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs = {"sizes": (15, 7)}
    return table


def test_the_verdict_quotes_the_measured_numbers():
    text = lp.describe_trained(_table())
    for piece in ("|k|, |l| ≤ 7", "|k|, |l| ≤ 3", "6e-16", "85.4\u00a0%", "0.18",
                  "from 87.6\u00a0% to 86.6\u00a0%", "74.1\u00a0%", "costs accuracy"):  # fmt: skip
        assert piece in text, piece
    assert "first crop is final" in text and "not" not in text.split("\n")[0]


def test_the_verdict_follows_the_numbers_when_they_disagree_with_the_theory():
    text = lp.describe_trained(_table({("pool-act", "first"): 0.2}))
    assert "*not* an exact low-pass" in text and "first crop is final" not in text
    small = _table({("pool-act", "final"): 1e-4, ("act-pool", "final"): 1e-4,
                      ("act-pool", "first"): 1e-5})  # fmt: skip
    text = lp.describe_trained(small)
    assert "below the measurement's resolution: on this data both" in text
    assert "Neither" not in text
    one = lp.describe_trained(_table({("pool-act", "final"): 1e-4}))
    assert "The act-pool network is not a function" in one and "pool-act network's change" in one
    assert "changes the output by only" in text
    no_cost = _table({("pool-act", "acc_final"): 0.9})
    assert "costs accuracy" not in lp.describe_trained(no_cost)
    same = lp.describe_trained(_table({("act-pool", "acc_first"): 0.876}))
    assert "test accuracy unchanged at 87.6\u00a0%" in same and "to 86.6" not in same


def test_the_trained_table_prints_accuracies_and_energy_shares_in_percent():
    c = lp.COLUMNS
    frame = pd.DataFrame({"pool-act": {c["first"]: 6e-16, c["final"]: 0.5, c["acc"]: 0.854,
                                       c["acc_first"]: 0.854, c["acc_final"]: 0.741,
                                       c["before"]: 0.0, c["after"]: 0.05}}).T
    shown = lp.trained_percent(frame)
    assert shown.loc[f"{c['acc']} (%)", "pool-act"] == pytest.approx(85.4)
    assert shown.loc[f"{c['after']} (%)", "pool-act"] == pytest.approx(5.0)
    assert shown.loc[c["final"], "pool-act"] == 0.5  # a relative change, not a share
    assert list(shown.columns) == ["pool-act"]
