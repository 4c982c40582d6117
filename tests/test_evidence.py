"""Evidence tables from run records: intervals, paired comparisons, plateaus."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sp

from hybridlib import evidence
from hybridlib.book import evidence_text
from hybridlib.runs import encode_correct
from tests.test_results import make_record


def record(config, seed, acc, correct=None, val=None, dataset="fashion_mnist"):
    epochs = [{"epoch": i + 1} for i in range(len(val) if val else 3)]
    for e, v in zip(epochs, val or []):
        e["val_acc"] = v
    r = {
        "settings": {"config": config, "seed": seed, "dataset": dataset},
        "final_test_acc": acc,
        "epochs": epochs,
        "test_size": 0 if correct is None else len(correct),
    }
    if correct is not None:
        r["test_correct"] = encode_correct(torch.tensor(correct))
    return r


def test_interval_table_gives_t_intervals_and_nothing_for_one_seed():
    records = [record("hybrid", s, a) for s, a in enumerate([0.80, 0.82, 0.81])]
    records.append(record("spectral", 0, 0.79))
    table = evidence.interval_table(records).set_index("config")
    low, high = sp.t.interval(0.95, 2, loc=81.0, scale=sp.sem([80.0, 82.0, 81.0]))
    assert table.loc["hybrid", ["low", "high"]].tolist() == pytest.approx([low, high])
    assert table.loc["spectral", "seeds"] == 1 and math.isnan(table.loc["spectral", "low"])


def test_comparison_pairs_by_seed_by_image_and_crossed_and_corrects_with_holm():
    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.8
    records = []
    for seed in range(4):
        better = truth | (rng.random(2000) < 0.15)
        records.append(record("hybrid", seed, better.mean(), better))
        records.append(record("diffstride", seed, truth.mean() - 0.001 * seed, truth))
        records.append(record("strided", seed, 0.7, truth))
    table = evidence.comparison_table(records).set_index(["a", "b"])
    row = table.loc[("hybrid", "diffstride")]
    assert row.paired_seeds == 4
    assert row.image_low > 0 and row.image_p < 0.01
    assert row.crossed_low > 0 and row.crossed_diff == pytest.approx(row.image_diff)
    hybrid = [r["final_test_acc"] * 100 for r in records if r["settings"]["config"] == "hybrid"]
    diff = [r["final_test_acc"] * 100 for r in records if r["settings"]["config"] == "diffstride"]
    assert row.seed_p == pytest.approx(sp.ttest_rel(hybrid, diff).pvalue)
    assert row.seed_sd == pytest.approx(np.std(np.subtract(hybrid, diff), ddof=1))
    assert row.seed_r == pytest.approx(np.corrcoef(hybrid, diff)[0, 1])
    assert list(table.index) == [("hybrid", "diffstride"), ("diffstride", "strided")]
    for kind in evidence.KINDS:
        assert (table[f"{kind}_p_holm"] >= table[f"{kind}_p"]).all()


def close_call_records(n_images=10_000, seeds=5):
    """Records whose per-image difference sits near the 5 % edge, as hybrid − diffstride
    does in the cpu runs (where a bootstrap's verdict flipped with its random seed)."""
    rng = np.random.default_rng(11)
    truth = rng.random(n_images) < 0.91
    records = []
    for seed in range(seeds):
        flips_a = rng.random(n_images) < 0.04
        flips_b = rng.random(n_images) < 0.04
        a = truth ^ flips_a
        b = truth ^ flips_b
        b[: 18 + seed] = ~b[: 18 + seed]  # a small edge for one side
        records.append(record("hybrid", seed, a.mean(), a))
        records.append(record("diffstride", seed, b.mean(), b))
    return records


def test_no_verdict_depends_on_a_random_seed(monkeypatch):
    records = close_call_records()
    first = evidence.comparison_table(records)
    # The same verdicts under 20 different states of every global generator ...
    for seed in range(20):
        np.random.seed(seed)
        torch.manual_seed(seed)
        again = evidence.comparison_table(records)
        pd.testing.assert_frame_equal(again, first)
        assert [evidence.direction(r) for _, r in again.iterrows()] == [
            evidence.direction(r) for _, r in first.iterrows()]
    # ... because no test draws random numbers at all.
    def refuse(*args, **kwargs):
        raise AssertionError("a comparison drew random numbers")

    monkeypatch.setattr(np.random, "default_rng", refuse)
    monkeypatch.setattr(np.random, "Generator", refuse)
    pd.testing.assert_frame_equal(evidence.comparison_table(records), first)
    assert len(evidence.equivalence_table(records)) == 1


def test_both_paired_tests_use_the_seeds_both_configurations_have():
    rng = np.random.default_rng(3)
    records = []
    for seed in range(5):  # five seeds of one, three of the other, as in the ablation
        correct = rng.random(500) < 0.8 + 0.02 * seed
        records.append(record("hybrid", seed, correct.mean(), correct))
        if seed < 3:
            other = rng.random(500) < 0.8
            records.append(record("diffstride_late", seed, other.mean(), other))
    row = evidence.comparison_table(records, [("diffstride_late", "hybrid")]).iloc[0]
    assert row.paired_seeds == 3
    assert row.image_diff == pytest.approx(row.seed_diff)
    assert row.crossed_diff == pytest.approx(row.seed_diff)


def test_records_without_per_image_results_leave_those_columns_empty():
    records = [record(c, s, 0.8 + 0.01 * s) for c in ("hybrid", "diffstride") for s in (0, 1)]
    row = evidence.comparison_table(records).iloc[0]
    assert row.paired_seeds == 2 and math.isnan(row.image_p) and math.isnan(row.crossed_p)
    assert evidence.direction(row) is not None  # the verdict falls back on the seed test


@pytest.mark.parametrize(
    ("val", "change", "settled"),
    [
        # Ten epochs: the last two and the one before them, 0.9000 .. 0.9031.
        ([0.5, 0.8, 0.85, 0.88, 0.89, 0.895, 0.9, 0.9, 0.902, 0.9031], 0.31, False),
        ([0.5, 0.8, 0.85, 0.88, 0.89, 0.895, 0.9, 0.902, 0.903, 0.9031], 0.11, True),
        # Six epochs: a fifth is 1.2 epochs, so the last one and the one before it.
        ([0.5, 0.8, 0.85, 0.88, 0.9, 0.902], 0.2, True),
        ([0.5, 0.8, 0.85, 0.88, 0.896, 0.902], 0.6, False),
    ],
)
def test_the_plateau_criterion_looks_at_the_last_fifth_and_the_epoch_before(val, change, settled):
    row = evidence.plateau_table([record("strided", 0, 0.9, val=val)]).iloc[0]
    assert row.change == pytest.approx(change) and bool(row.settled) == settled


@pytest.mark.parametrize(("epochs", "span"), [(2, 2), (6, 2), (10, 3), (30, 7)])
def test_the_plateau_span_is_the_last_fifth_and_the_epoch_before(epochs, span):
    assert evidence.plateau_span(epochs) == span


def test_runs_without_a_validation_split_have_no_plateau_verdict():
    row = evidence.plateau_table([record("strided", 0, 0.9)]).iloc[0]
    assert math.isnan(row.change) and row.settled is None


def test_the_sentences_follow_the_intervals():
    rng = np.random.default_rng(2)
    records = []
    for seed in range(5):
        records.append(record("hybrid", seed, 0.80 + 0.02 + 0.001 * rng.random()))
        records.append(record("diffstride", seed, 0.80 + 0.001 * rng.random()))
        records.append(record("spectral", seed, 0.80 + 0.01 * rng.standard_normal()))
    table = evidence.comparison_table(records, [("hybrid", "diffstride"), ("hybrid", "spectral")])
    text = evidence_text.describe_comparisons(table)
    first, second = text.split("\n")
    assert first.startswith("* `hybrid` − `diffstride`") and second.startswith("* `hybrid`")
    assert "a difference these runs show" in first
    gap = table.iloc[1]
    assert ("includes zero" in second or "can show" in second) == (
        gap.seed_low <= 0 <= gap.seed_high)
    shown = evidence_text.format_comparisons(table)
    assert shown.iloc[0]["seed × image: mean [95 % CI]"] == ""  # no per-image records
    assert shown.iloc[0]["by seed: mean [95 % CI]"].startswith(f"{table.iloc[0].seed_diff:+.2f} [")


def comparison_row(diff, low, high, p, crossed=None, a="hybrid", b="diffstride"):
    """A comparison_table row; ``crossed`` is (diff, low, high, p_holm) or None (not
    recorded)."""
    crossed_diff, crossed_low, crossed_high, crossed_p = crossed or (math.nan,) * 4
    return pd.Series({"dataset": "fashion_mnist", "a": a, "b": b, "paired_seeds": 5,
                      "seed_sd": 0.2, "seed_r": 0.1,
                      "seed_diff": diff, "seed_low": low, "seed_high": high, "seed_p": p,
                      "seed_p_holm": p, "crossed_diff": crossed_diff,
                      "crossed_low": crossed_low, "crossed_high": crossed_high,
                      "crossed_p": crossed_p, "crossed_p_holm": crossed_p})


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (comparison_row(0.5, 0.2, 0.8, 0.01), 1),  # no per-image records: the seed test
        (comparison_row(-0.5, -0.8, -0.2, 0.01, (-0.5, -0.9, -0.1, 0.01)), -1),
        # The crossed test decides, whatever the seed test says.
        (comparison_row(0.5, 0.2, 0.8, 0.01, (0.5, -0.1, 1.1, 0.2)), 0),
        (comparison_row(0.5, -0.1, 1.1, 0.2, (0.5, 0.1, 0.9, 0.01)), 1),
        (comparison_row(0.5, 0.1, 0.9, 0.01, (0.5, 0.1, 0.9, 0.07)), 0),  # not after Holm
        (comparison_row(math.nan, math.nan, math.nan, math.nan), None),
    ],
)
def test_the_verdict_reads_the_crossed_test(row, expected):
    assert evidence.direction(row) == expected


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (0.002, 0.36005, "[+0.002, +0.36]"),  # the end is above zero, and says so
        (-0.0004, 0.51, "[\u22120.0004, +0.51]"),
        (0.0, 0.51, "[0.00, +0.51]"),
        (-0.00001, -1.4, "[0.0000, \u22121.40]"),  # at most 4 decimals
    ],
)
def test_an_interval_end_near_zero_shows_its_side_of_zero(low, high, text):
    row = comparison_row(0.2, -0.1, 0.5, 0.2, (0.18, low, high, 0.05))
    table = pd.DataFrame([row])
    assert evidence_text.format_comparisons(table).iloc[0]["seed × image: mean [95 % CI]"] == (
        f"+0.18 {text}"
    )
    assert f"+0.18 points, 95 % interval {text}" in evidence_text.describe_comparisons(table)


def test_p_values_are_never_printed_below_what_they_can_resolve():
    assert evidence_text.p_text(3e-7) == "< 0.0001" and evidence_text.p_text(0.0312) == "0.031"


def test_the_conclusion_states_the_claim_the_status_and_the_scope():
    comparisons = pd.DataFrame([comparison_row(0.3, -0.2, 0.8, 0.2),
                                comparison_row(-1.0, -1.5, -0.5, 0.001, a="spectral",
                                               b="strided")])
    plateau = pd.DataFrame({"settled": [True, True, False]})
    text = evidence_text.conclusion(comparisons, plateau, recorded=40, declared=48)
    assert text.startswith("```{admonition} What this experiment supports")
    assert "40 of 48 runs are recorded" in text and "provisional" in text
    assert "does not support the Hybrid paper's claim" in text
    assert "`spectral` is lower" in text and "2 of 3 runs changed by less than" in text
    assert "not that longer training would not change" in text
    assert "CIFAR" in text
    done = evidence_text.conclusion(comparisons.iloc[:1].assign(seed_low=0.1, seed_p_holm=0.01),
                               plateau, recorded=48, declared=48)
    assert "All 48 runs" in done and "supports the Hybrid paper's claim" in done
    assert "does not support" not in done


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (comparison_row(0.3, -0.2, 0.8, 0.2), "the interval holds the differences"),
        (comparison_row(-1.9, -3.8, -0.1, 0.19), "not after Holm's correction (adjusted p = 0.19)"),
        (comparison_row(0.5, 0.2, 0.8, 0.01, (0.5, -0.1, 1.1, 0.2)),
         "the interval holds the differences"),
    ],
)
def test_the_conclusion_says_why_a_difference_is_not_shown(row, reason):
    text = evidence_text.conclusion(pd.DataFrame([row]), pd.DataFrame({"settled": []}), 1, 1)
    assert reason in text and "is higher" not in text and "is lower" not in text


def test_the_conclusion_says_what_a_gap_reading_difference_measures():
    row = comparison_row(0.55, 0.17, 0.94, 0.03, a="hybrid_at_gap")
    shown = evidence_text.conclusion(pd.DataFrame([row]), pd.DataFrame({"settled": []}), 1, 1)
    assert "is higher" in shown and "rescaled last layer" in shown
    row = comparison_row(0.1, -0.2, 0.4, 0.5, a="hybrid_at_gap")
    unshown = evidence_text.conclusion(pd.DataFrame([row]), pd.DataFrame({"settled": []}), 1, 1)
    assert "rescaled last layer" not in unshown


def paired_records(gains, config_a="hybrid", config_b="diffstride", base=0.90):
    """Per-seed records whose accuracies differ by ``gains`` (points)."""
    records = []
    for seed, gain in enumerate(gains):
        level = base + 0.003 * ((seed * 7) % 5)
        records.append(record(config_b, seed, level))
        records.append(record(config_a, seed, level + gain / 100))
    return records


def test_the_equivalence_table_states_what_is_ruled_out():
    weightstats = pytest.importorskip("statsmodels.stats.weightstats")
    gains = [0.05, 0.12, -0.03, 0.08, 0.02]
    row = evidence.equivalence_table(paired_records(gains)).iloc[0]
    a = [90 + 0.3 * ((s * 7) % 5) + g for s, g in enumerate(gains)]
    b = [90 + 0.3 * ((s * 7) % 5) for s in range(5)]
    p, _, upper = weightstats.ttost_paired(np.array(a), np.array(b), -0.3, 0.3)
    assert max(row.p_lower, row.p_upper) == pytest.approx(p, rel=1e-6)
    assert row.equivalent and row.high < 0.3
    _, _, paper = weightstats.ttost_paired(np.array(a), np.array(b), -0.94, 0.94)
    assert row.p_paper_gain == pytest.approx(paper[1], rel=1e-6)
    text = evidence_text.claim_equivalence(row)
    assert f"larger than {row.high:.2f} points is ruled out" in text
    assert "within ±0.3 points of each other (two one-sided tests" in text
    wide = evidence.equivalence_table(paired_records([0.9, -0.5, 0.4, 0.1, -0.2])).iloc[0]
    assert not wide.equivalent
    assert "cannot tell a small gain from none" in evidence_text.claim_equivalence(wide)


def test_the_detectable_difference_grows_with_the_family_and_shrinks_with_seeds():
    five = evidence.comparison_table(paired_records([0.1, 0.3, -0.1, 0.2, 0.0]))
    d5 = evidence.detectable_difference(five).iloc[0]
    three = evidence.comparison_table(paired_records([0.1, 0.3, -0.1]))
    d3 = evidence.detectable_difference(three).iloc[0]
    assert d5.seeds == 5 and d3.seeds == 3 and d5.comparisons == 1
    assert d5.detectable == pytest.approx(
        evidence.stats.minimal_detectable_difference(d5.sd, 5))
    assert d3.detectable > d5.detectable * (d3.sd / d5.sd)


def test_the_pairing_sentence_reports_the_correlation_over_seeds():
    table = pd.DataFrame([comparison_row(0.2, -0.1, 0.5, 0.1)])
    assert "r = 0.10" in evidence_text.pairing_sentence(table)
    assert "almost nothing" in evidence_text.pairing_sentence(table)
    assert evidence_text.pairing_sentence(table.assign(a="spectral")) == ""


def test_the_ablation_sentence_names_the_lowest_configuration_and_the_direction():
    records = []
    for seed in range(3):
        for config, acc in (("hybrid", 0.910), ("diffstride", 0.908),
                            ("diffstride_early", 0.899), ("diffstride_late", 0.912)):
            records.append(record(config, seed, acc + 0.001 * seed))
    configs = ["diffstride_early", "diffstride_late"]
    ablation = evidence.comparison_table(
        records, [(c, ref) for ref in ("hybrid", "diffstride") for c in configs])
    text = evidence_text.ablation_sentence(records, ablation, configs)
    assert "`diffstride_early` is the lowest" in text
    assert "runs against the Hybrid paper's" in text and "`diffstride_late`'s" in text
    assert text.startswith("On fashion_mnist, 4 of the 4 ablation comparisons are shown")
    assert "with 3 seeds this family" in text
    # Two data sets: one sentence each, each from its own records.
    other = [{**r, "settings": {**r["settings"], "dataset": "cifar10"}} for r in records]
    both = evidence.comparison_table(
        records + other, [(c, ref) for ref in ("hybrid", "diffstride") for c in configs])
    two = evidence_text.ablation_sentence(records + other, both, configs)
    assert "On fashion_mnist" in two and "On cifar10" in two


def test_the_glance_gives_the_means_the_conclusion_and_the_papers_baselines():
    records = [record(c, s, a + 0.001 * s) for c, a in (("strided", 0.92), ("hybrid", 0.90))
               for s in range(3)]
    text = evidence_text.glance(records, declared=10)
    assert "`strided` 92.10 % (95 % interval" in text and "over 3 seeds" in text
    assert "`hybrid` 90.10 %" in text and "3 of" not in text.split("```")[0]
    assert "6 of 10 runs are recorded" in text
    assert "spectral-pooling mean" in text and "94.20 %" in text
    assert evidence_text.glance([], declared=10).startswith("No run is recorded yet.")


def test_the_headline_table_keeps_each_interval_on_its_configurations_row():
    records = [make_record(c, s, acc=a + 0.01 * s) for c, a in [("diffstride", 0.7),
                                                                ("strided", 0.9)]
               for s in range(3)]
    records.append(make_record("spectral", 0, acc=0.8))
    table = evidence.headline_table(records, "synthetic")
    assert list(table.index) == ["strided", "spectral", "diffstride"]  # the CONFIGS order
    intervals = evidence.interval_table(records).set_index("config")
    for config in ("strided", "diffstride"):
        low, high = intervals.loc[config, ["low", "high"]]
        assert table.loc[config, "95 % interval"] == f"{low:.2f} to {high:.2f}"
        assert low < table.loc[config, "test acc. (%)"] < high
    assert table.loc["spectral", "95 % interval"] == "" and table.loc["spectral", "seeds"] == 1
    with pytest.raises(ValueError, match="dataset='cifar10'"):
        evidence.headline_table(records, "cifar10")


def test_a_stride_row_is_its_own_configuration():
    own = [make_record("diffstride", s, acc=0.9) for s in range(2)]
    row = [make_record("diffstride", s, acc=0.5, strides=[3, 1, 3]) for s in range(2)]
    table = evidence.interval_table(own + row).set_index("config")
    assert table.loc["diffstride", "mean"] == pytest.approx(90.0)
    assert table.loc["diffstride_s313", "mean"] == pytest.approx(50.0)


def test_one_sentence_reads_a_family_of_comparisons():
    table = pd.DataFrame([
        comparison_row(0.5, 0.2, 0.8, 0.01, (0.5, 0.1, 0.9, 0.01)),  # shown, above zero
        comparison_row(-0.2, -0.6, 0.2, 0.3, (-0.2, -0.7, 0.3, 0.3), a="spectral"),
        comparison_row(0.5, 0.1, 0.9, 0.01, (0.5, 0.1, 0.9, 0.07), a="hybrid_stem"),
    ])
    text = evidence_text.comparisons_sentence(table)
    assert text.count(".") == 1 and "\n" not in text and "*" not in text  # one sentence
    assert "the runs show 1 after Holm's correction (`hybrid` above `diffstride`)" in text
    assert "`spectral` − `diffstride` includes zero" in text
    assert "`hybrid_stem` − `diffstride` excludes zero only before the correction" in text
    none = evidence_text.comparisons_sentence(table.iloc[1:])
    assert none.startswith("None of these 2 comparisons shows a difference")
    assert evidence_text.comparisons_sentence(
        pd.DataFrame([comparison_row(*(math.nan,) * 4)])).startswith("No comparison")


@pytest.mark.parametrize(("r", "effect"), [(0.1, "removes almost nothing"),
                                           (0.5, "removes some of the run-to-run noise"),
                                           (0.9, "removes much of the run-to-run noise"),
                                           (-0.6, "adds to the run-to-run noise")])
def test_the_pairing_sentence_follows_the_sign_and_size_of_the_correlation(r, effect):
    rows = pd.DataFrame([comparison_row(0.2, -0.1, 0.5, 0.2).to_dict() | {"seed_r": r}])
    assert f"so pairing {effect} there." in evidence_text.pairing_sentence(rows)
