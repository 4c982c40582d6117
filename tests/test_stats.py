"""hybridlib.stats against scipy.stats and statsmodels on known cases."""

import numpy as np
import pandas as pd
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


def test_the_per_image_test_is_scipys_paired_t_over_images():
    rng = np.random.default_rng(1)
    truth = rng.random((3, 4000)) < 0.8
    better = truth | (rng.random((3, 4000)) < 0.02)
    result = stats.paired_image_test(better, truth)
    diff = 100 * (better.mean(0) - truth.mean(0))
    reference = sp.ttest_1samp(diff, 0.0)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == 3999 and result.mean == pytest.approx(diff.mean())
    low, high = reference.confidence_interval(0.95)
    assert (result.low, result.high) == pytest.approx((low, high))


def crossed_data(seeds=4, images=30, seed_sd=0.5, image_sd=0.8, noise_sd=0.6, rng_seed=3):
    """Continuous d[s, i] = 0.3 + seed + image + noise, returned as two arrays whose
    difference (in points) is d: correct_a = d / 100, correct_b = 0."""
    rng = np.random.default_rng(rng_seed)
    d = (0.3 + rng.normal(0, seed_sd, (seeds, 1)) + rng.normal(0, image_sd, (1, images))
         + rng.normal(0, noise_sd, (seeds, images)))
    return d, d / 100, np.zeros_like(d)


def test_the_crossed_mean_squares_are_statsmodels_two_way_anova():
    anova = pytest.importorskip("statsmodels.stats.anova")
    smf = pytest.importorskip("statsmodels.formula.api")
    d, a, b = crossed_data()
    s, n = d.shape
    frame = pd.DataFrame({"d": d.ravel(), "seed": np.repeat(np.arange(s), n),
                          "image": np.tile(np.arange(n), s)})
    table = anova.anova_lm(smf.ols("d ~ C(seed) + C(image)", frame).fit())
    ms = table["sum_sq"] / table["df"]
    variance = (ms["C(seed)"] + ms["C(image)"] - ms["Residual"]) / (s * n)
    result = stats.crossed_difference(a, b)
    assert result.se == pytest.approx(np.sqrt(variance), rel=1e-9)
    assert result.mean == pytest.approx(d.mean())
    # Satterthwaite's degrees of freedom for MS_seed + MS_image - MS_residual, capped at S - 1.
    parts = [(ms["C(seed)"], s - 1), (ms["C(image)"], n - 1), (ms["Residual"], (s - 1) * (n - 1))]
    satterthwaite = (s * n * variance) ** 2 / sum(m**2 / df for m, df in parts)
    assert result.df == pytest.approx(min(satterthwaite, s - 1))


def test_the_crossed_standard_error_is_the_mixed_models_in_a_balanced_design():
    sm = pytest.importorskip("statsmodels.api")
    d, a, b = crossed_data(seeds=5, images=40, seed_sd=1.0, image_sd=1.0, noise_sd=0.5)
    s, n = d.shape
    frame = pd.DataFrame({"d": d.ravel(), "seed": np.repeat(np.arange(s), n),
                          "image": np.tile(np.arange(n), s), "group": 0})
    model = sm.MixedLM.from_formula(
        "d ~ 1", frame, groups="group", re_formula="0",
        vc_formula={"seed": "0 + C(seed)", "image": "0 + C(image)"})
    fit = model.fit(reml=True)
    # Balanced, with both components above zero: REML equals the ANOVA estimates.
    assert stats.crossed_difference(a, b).se == pytest.approx(fit.bse["Intercept"], rel=1e-3)


def test_the_crossed_test_is_never_narrower_than_the_seeds_allow():
    # Image noise only, seeds almost alike: the image component dominates, yet the
    # degrees of freedom stay at S - 1 and the interval at least the seed-paired one's.
    d, a, b = crossed_data(seeds=3, images=2000, seed_sd=0.01, image_sd=1.0, noise_sd=0.1)
    crossed = stats.crossed_difference(a, b)
    paired = stats.paired_difference(d.mean(1), np.zeros(3))
    assert crossed.df == 2
    assert crossed.half_width >= paired.half_width
    with pytest.raises(ValueError, match="at least two seeds"):
        stats.crossed_difference(a[:1], b[:1])


def test_tost_matches_statsmodels():
    weightstats = pytest.importorskip("statsmodels.stats.weightstats")
    rng = np.random.default_rng(4)
    a, b = rng.normal(90.2, 0.3, 6), rng.normal(90.0, 0.3, 6)
    result = stats.tost(a, b, margin=0.3)
    p, lower, upper = weightstats.ttost_paired(a, b, -0.3, 0.3)
    assert result.p == pytest.approx(p, rel=1e-9)
    assert result.p_lower == pytest.approx(lower[1], rel=1e-9)
    assert result.p_upper == pytest.approx(upper[1], rel=1e-9)
    low, high = sp.t.interval(0.90, 5, loc=np.mean(a - b), scale=sp.sem(a - b))
    assert (result.low, result.high) == pytest.approx((low, high))
    assert result.equivalent == (p < 0.05)


def test_the_minimal_detectable_difference_has_the_power_it_promises():
    # 0.30 points at a paired SD of 0.18 with 5 seeds; checked against the noncentral t.
    mdd = stats.minimal_detectable_difference(0.18, 5)
    assert mdd == pytest.approx((sp.t.ppf(0.975, 4) + sp.t.ppf(0.8, 4)) * 0.18 / np.sqrt(5))
    assert mdd == pytest.approx(0.30, abs=0.005)
    critical = sp.t.ppf(0.975, 4)
    power = 1 - sp.nct.cdf(critical, 4, mdd / (0.18 / np.sqrt(5)))
    assert 0.75 < power < 0.85
    # A 12-comparison Holm family with 3 seeds needs a far larger difference.
    assert stats.minimal_detectable_difference(0.18, 3, family=12) > 5 * mdd / 3


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
        (lambda: stats.tost([1, 2], [1, 3], margin=0), "margin must be positive"),
        (lambda: stats.minimal_detectable_difference(0.2, 1), "at least two seeds"),
        (lambda: stats.paired_image_test([True], [False]), "at least two images"),
    ],
)
def test_bad_input_names_the_problem(call, words):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert words in str(info.value)
