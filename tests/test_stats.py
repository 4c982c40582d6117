"""hybridlib.stats against scipy.stats on known cases."""

import numpy as np
import pytest
from scipy import stats as sp

from hybridlib import stats


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 30, 200])
@pytest.mark.parametrize("t", [-8.0, -1.3, 0.0, 0.4, 2.1, 12.7])
def test_t_distribution_matches_scipy(df, t):
    assert stats.t_cdf(t, df) == pytest.approx(sp.t.cdf(t, df), abs=1e-10)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
@pytest.mark.parametrize("q", [0.025, 0.5, 0.9, 0.975, 0.999])
def test_t_quantile_matches_scipy(df, q):
    assert stats.t_quantile(q, df) == pytest.approx(sp.t.ppf(q, df), abs=1e-8)


def test_two_seeds_give_the_twelve_point_seven_standard_error_half_width():
    interval = stats.mean_interval([83.08, 84.60])
    se = np.std([83.08, 84.60], ddof=1) / np.sqrt(2)
    assert interval.half_width / se == pytest.approx(12.706, abs=1e-3)


def test_mean_interval_and_paired_difference_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(80, 1, 5), rng.normal(79, 1, 5)
    interval = stats.mean_interval(a)
    low, high = sp.t.interval(0.95, 4, loc=a.mean(), scale=sp.sem(a))
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-9)
    paired = stats.paired_difference(a, b)
    assert paired.p == pytest.approx(sp.ttest_rel(a, b).pvalue, abs=1e-9)
    assert paired.mean == pytest.approx(np.mean(a - b))


def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_images():
    labels = np.zeros(100, dtype=int)
    a = np.zeros(100, dtype=int)
    b = np.zeros(100, dtype=int)
    a[:12] = 1  # a wrong on 12 images
    b[50:55] = 1  # b wrong on 5 others
    result = stats.mcnemar(a, b, labels)
    assert (result["a_only"], result["b_only"]) == (5, 12)
    assert result["p"] == pytest.approx(sp.binomtest(5, 17, 0.5).pvalue, abs=1e-12)
    assert stats.mcnemar(a, a, labels)["p"] == 1.0


def test_paired_bootstrap_finds_a_real_gap_and_not_a_null_one():
    rng = np.random.default_rng(1)
    truth = rng.random(5000) < 0.8
    better = truth | (rng.random(5000) < 0.1)
    gap = stats.paired_bootstrap(better, truth, resamples=2000)
    # No resample reaches zero: the add-one rule gives the smallest p 2000 resamples allow.
    assert gap.low > 0 and gap.p == pytest.approx(2 / 2001)
    assert gap.mean == pytest.approx(100 * (better.mean() - truth.mean()))
    null = stats.paired_bootstrap(truth, truth.copy(), resamples=2000)
    assert null.low <= 0 <= null.high


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> max-accumulated 0.06
    assert stats.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: stats.mean_interval([1.0]), "at least two"),
        (lambda: stats.mean_interval([1.0, float("nan")]), "finite"),
        (lambda: stats.paired_difference([1, 2, 3], [1, 2]), "equal lengths"),
        (lambda: stats.holm([0.5, 1.5]), "[0, 1]"),
        (lambda: stats.t_quantile(1.0, 3), "strictly between"),
    ],
)
def test_bad_input_names_the_problem(call, words):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert words in str(info.value)
