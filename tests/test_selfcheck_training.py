"""The chapter-5 and chapter-6 self-checks pass on correct solutions, written apart from
the library, and name the case a wrong answer fails."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from hybridlib.book.selfcheck import CheckFailed
from hybridlib.book.selfcheck.evidence import check_holm, check_seed_paired_interval
from hybridlib.book.selfcheck.training import check_chosen_rates, check_step_schedule

# --- chapter 5 --------------------------------------------------------------------------


def chosen(grid):
    out = {}
    for config, part in grid.groupby("config", sort=False):
        if part.val_acc.isna().any():
            continue
        part = part.sort_values("lr")
        out[config] = float(part.lr.iloc[int(np.argmax(part.val_acc.to_numpy()))])
    return out


def step_rate(step, total_steps, lr):
    warmup = max(1, int(0.1 * total_steps))
    if step < warmup:
        return lr * (step + 1) / warmup
    drops = (step >= total_steps / 2) + (step >= 2 * total_steps / 3)
    return lr * 0.1 ** drops


def test_chapter_5_checks_pass_on_correct_solutions():
    assert str(check_chosen_rates(chosen)).startswith("check_chosen_rates: all 6 cases pass")
    assert str(check_step_schedule(step_rate)).startswith(
        "check_step_schedule: all 11 cases pass")


def test_a_tie_to_the_larger_rate_fails_the_tie_case():
    def larger_on_ties(grid):
        out = {}
        for config, part in grid.groupby("config"):
            if part.val_acc.isna().any():
                continue
            best = part[part.val_acc == part.val_acc.max()]
            out[config] = float(best.lr.max())
        return out

    with pytest.raises(CheckFailed, match="case 'a tie goes to the smaller rate' fails"):
        check_chosen_rates(larger_on_ties)


def test_choosing_for_an_incomplete_grid_fails():
    def ignores_missing(grid):
        return chosen(grid.fillna(-1.0))  # a missing run as a bad score: still a choice

    with pytest.raises(CheckFailed, match="incomplete grid"):
        check_chosen_rates(ignores_missing)


def test_a_schedule_without_warm_up_or_with_one_drop_fails():
    def no_warmup(step, total_steps, lr):
        return lr * 0.1 ** ((step >= total_steps / 2) + (step >= 2 * total_steps / 3))

    def one_drop(step, total_steps, lr):
        return step_rate(step, total_steps, lr) if step < total_steps / 2 else lr / 10

    with pytest.raises(CheckFailed, match="first step of the warm-up"):
        check_step_schedule(no_warmup)
    result = pytest.raises(CheckFailed, check_step_schedule, one_drop, every_case=True)
    names = [name for name, _ in result.value.result.failures]
    assert "the first step after the second drop (two thirds)" in names
    assert "the first step after the first drop (half of the steps)" not in names


# --- chapter 6 --------------------------------------------------------------------------


def paired_interval(records_a, records_b):
    a = {r["settings"]["seed"]: 100 * r["final_test_acc"] for r in records_a}
    b = {r["settings"]["seed"]: 100 * r["final_test_acc"] for r in records_b}
    diffs = np.array([a[s] - b[s] for s in sorted(set(a) & set(b))])
    n = len(diffs)
    half = scipy.stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / math.sqrt(n)
    return diffs.mean(), diffs.mean() - half, diffs.mean() + half


def holm(p_values):
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted, running = np.empty(len(p)), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return list(adjusted)


def test_chapter_6_checks_pass_on_correct_solutions():
    assert str(check_seed_paired_interval(paired_interval)).startswith(
        "check_seed_paired_interval: all 6 cases pass")
    assert str(check_holm(holm)).startswith("check_holm: all 7 cases pass")


def test_an_unpaired_interval_fails_where_pairing_matters():
    def unpaired(records_a, records_b):
        a = np.array([100 * r["final_test_acc"] for r in records_a])
        b = np.array([100 * r["final_test_acc"] for r in records_b])
        test = scipy.stats.ttest_ind(a, b)
        low, high = test.confidence_interval(0.95)
        return a.mean() - b.mean(), low, high

    with pytest.raises(CheckFailed, match="case 'five seeds, in order' fails: low is"):
        check_seed_paired_interval(unpaired)


def test_pairing_by_position_instead_of_seed_fails():
    def by_position(records_a, records_b):
        n = min(len(records_a), len(records_b))
        diffs = np.array([100 * (a["final_test_acc"] - b["final_test_acc"])
                          for a, b in zip(records_a[:n], records_b[:n])])
        half = scipy.stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / math.sqrt(n)
        return diffs.mean(), diffs.mean() - half, diffs.mean() + half

    with pytest.raises(CheckFailed, match="records in different orders"):
        check_seed_paired_interval(by_position)


def test_a_normal_interval_instead_of_t_fails():
    def normal(records_a, records_b):
        mean, low, high = paired_interval(records_a, records_b)
        n = len({r["settings"]["seed"] for r in records_a} & {r["settings"]["seed"]
                                                            for r in records_b})
        half = (high - low) / 2 / scipy.stats.t.ppf(0.975, n - 1) * 1.96
        return mean, mean - half, mean + half

    with pytest.raises(CheckFailed, match="low is"):
        check_seed_paired_interval(normal)


def test_bonferroni_or_a_holm_without_its_running_maximum_fails():
    def bonferroni(p_values):
        return [min(1.0, len(p_values) * p) for p in p_values]

    def no_running_max(p_values):
        order = sorted(range(len(p_values)), key=lambda i: p_values[i])
        adjusted = [0.0] * len(p_values)
        for rank, i in enumerate(order):
            adjusted[i] = min(1.0, (len(p_values) - rank) * p_values[i])
        return adjusted

    def sorted_output(p_values):
        return sorted(holm(p_values))

    with pytest.raises(CheckFailed, match="three p-values, sorted"):
        check_holm(bonferroni)
    with pytest.raises(CheckFailed, match="never fall below an earlier step"):
        check_holm(no_running_max)
    with pytest.raises(CheckFailed, match="the order given is kept"):
        check_holm(sorted_output)
