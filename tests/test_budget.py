"""The budget study: its runs, its learning-rate rule, its price and its fixed analysis."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridlib import budget, runs, stats
from hybridlib.configs import profile_settings

REPO = Path(__file__).resolve().parent.parent


def test_each_unit_trains_the_longest_budget_first_and_branches_the_others():
    units = budget.study_runs()
    settings = profile_settings("cpu-budget")
    assert len(units) == 6 + 6 + 3 + 3
    for config, _seed, unit in units:
        assert [r["epochs"] for r in unit] == [18, 6, 12]
        assert unit[0]["branches"] == [6, 12]
        assert {runs.trunk_hash(r) for r in unit} == {runs.trunk_hash(unit[0])}
        assert all(r["overrides"] == [] for r in unit)  # budgets belong to the profile
        assert runs.record_path(unit[1]).parts[-2] == f"{config}_e6"
        assert unit[0]["lr"] == settings["lr"][config]
    # The control trains at DiffStride's rate: it differs from it in amplitude only.
    assert settings["lr"]["diffstride_rescaled"] == settings["lr"]["diffstride"]


def test_the_learning_rate_check_tries_the_neighbours_of_each_rate_but_the_controls():
    checks = {(r["config"], r["lr"]) for r in budget.lr_check_runs()}
    rates = profile_settings("cpu-budget")["lr"]
    # The grid doubles from value to value: the neighbours are half and twice the rate.
    assert checks == {(c, f(rates[c])) for c in ("strided", "diffstride", "hybrid")
                      for f in (lambda r: r / 2, lambda r: r * 2)}
    assert all(r["epochs"] == 18 and r["seed"] == 0 for r in budget.lr_check_runs())


def check_record(config, lr, val_acc, epochs=18, seed=0):
    return {"settings": {"config": config, "lr": lr, "seed": seed, "epochs": epochs},
            "final_val_acc": val_acc}


def test_a_neighbouring_rate_replaces_the_profiles_only_by_a_clear_margin():
    records = [check_record("hybrid", 0.05, 0.900), check_record("hybrid", 0.1, 0.901),
               check_record("hybrid", 0.2, 0.9035),  # +0.25 points: kept
               check_record("diffstride", 0.05, 0.895), check_record("diffstride", 0.1, 0.90),
               check_record("diffstride", 0.2, 0.9045)]  # +0.45 points: changed
    decision = budget.lr_decision(records).drop_duplicates("config").set_index("config")
    assert decision.chosen["hybrid"] == 0.1
    assert decision.chosen["diffstride"] == 0.2
    assert math.isnan(decision.chosen["strided"])  # nothing recorded yet


def test_the_price_counts_a_units_epochs_once():
    cpu = [{"settings": {"config": c}, "wall_seconds": s * 6, "epochs": [{}] * 6}
           for c, s in (("strided", 60.0), ("diffstride", 200.0), ("hybrid", 210.0))]
    table = budget.price(cpu, processes=2)
    seeds = table.loc["seeds"]
    assert seeds.loc["hybrid", "epochs"] == 6 * (18 + 1 + 2)
    assert seeds.loc["diffstride_rescaled", "hours"] == pytest.approx(3 * 21 * 200 / 3600)
    assert table["wall hours"].sum() == pytest.approx(table.hours.sum() / 2)


def study_record(config, seed, epochs, acc, val, correct):
    return {
        "settings": {"config": config, "seed": seed, "epochs": epochs, "overrides": [],
                   "lr": 0.1},
        "final_test_acc": acc, "final_val_acc": val, "test_size": len(correct),
        "test_correct": runs.encode_correct(torch.tensor(correct)),
    }


def fake_study(gain=0.05, seeds=6):
    rng = np.random.default_rng(5)
    records = []
    for seed in range(seeds):
        for budget_, level in ((6, 0.89), (12, 0.905), (18, 0.91)):
            for config, shift in (("diffstride", 0.0), ("hybrid", gain / 100),
                                  ("strided", 0.01), ("diffstride_rescaled", 0.005)):
                correct = rng.random(2000) < level + shift + 0.001 * rng.standard_normal()
                val = level + shift + (0.0 if config != "strided" else -0.004 * (budget_ == 18))
                records.append(study_record(config, seed, budget_, correct.mean(), val, correct))
    return records


def test_the_primary_analysis_is_a_seed_paired_interval_and_tost_at_the_margin():
    records = fake_study()
    tables = budget.analyse(records)
    row = tables["primary"].iloc[0]
    at18 = {(r["settings"]["config"], r["settings"]["seed"]): 100 * r["final_test_acc"]
            for r in records if r["settings"]["epochs"] == 18}
    a = [at18[("hybrid", s)] for s in range(6)]
    b = [at18[("diffstride", s)] for s in range(6)]
    assert row.seeds == 6 and row.budget == 18
    assert row["diff"] == pytest.approx(np.mean(np.subtract(a, b)))
    tost = stats.tost(a, b, budget.MARGIN)
    assert (row.tost_p_lower, row.tost_p_upper) == pytest.approx((tost.p_lower, tost.p_upper))
    assert (row.tost_low, row.tost_high) == pytest.approx((tost.low, tost.high))
    assert row.equivalent == tost.equivalent and row.margin == 0.3


def test_the_secondary_family_is_holm_corrected_together():
    tables = budget.analyse(fake_study())
    secondary = tables["secondary"]
    assert [(r.a, r.b, r.budget) for r in secondary.itertuples()] == budget.secondary_pairs()
    assert list(secondary.p_holm) == pytest.approx(stats.holm(list(secondary.p)))


def test_convergence_compares_the_last_two_budgets_validation_accuracy():
    convergence = budget.analyse(fake_study())["convergence"].set_index("config")
    assert convergence.loc["hybrid", "change"] == pytest.approx(0.5)
    assert not convergence.loc["hybrid", "converged"]
    assert convergence.loc["strided", "change"] == pytest.approx(0.1)
    assert convergence.loc["strided", "converged"]
    assert math.isclose(budget.CONVERGED, 0.2)


def test_the_budget_table_gives_each_configuration_and_budget_its_interval():
    table = budget.budget_table(fake_study(seeds=3)).set_index(["config", "budget"])
    row = table.loc[("hybrid", 18)]
    assert row.n == 3 and row.low < row["mean"] < row.high


def test_the_sentences_follow_the_tables():
    tables = budget.analyse(fake_study())
    primary = tables["primary"]
    text = budget.primary_sentence(primary)
    r = primary.iloc[0]
    assert f"{r['diff']:+.2f} points over 6 paired seeds" in text
    assert ("is ruled out" in text) == bool(r.equivalent)
    # The two tests at 5 % each read the 90 % interval, narrower than the 95 % one.
    assert r.low < r.tost_low < r.tost_high < r.high
    assert f"the 90 % interval, {r.tost_low:+.2f} to {r.tost_high:+.2f}" in text
    assert "is not ruled out" in budget.primary_sentence(primary.assign(equivalent=False))
    assert "neither supported nor contradicted" in budget.claim_sentence(
        primary.assign(equivalent=False, low=-0.1, high=1.4))
    assert "behind DiffStride" in budget.claim_sentence(primary.assign(low=-0.9, high=-0.2))
    undecided = primary.assign(equivalent=False, low=-0.1, high=0.5)
    assert "a gain that large is not seen" in budget.claim_sentence(undecided)
    assert "neither supported" not in budget.claim_sentence(undecided)
    assert "lies inside" in budget.claim_sentence(primary.assign(low=0.5, high=1.5))
    assert "larger than 0.3 points is ruled out" in budget.claim_sentence(
        primary.assign(equivalent=True, low=-0.2, high=0.2))
    assert budget.claim_sentence(primary.iloc[:0]) == ""
    convergence = budget.convergence_sentence(tables["convergence"])
    assert "`hybrid` +0.50 points (still moving)" in convergence
    assert "`strided` +0.10 points (converged)" in convergence
    assert "Not recorded at both budgets" not in convergence
    one = budget.convergence_sentence(tables["convergence"].query("config == 'strided'"))
    assert "It meets the criterion" in one
    assert "1 of 4 does not: 18 epochs is not yet the converged answer for it." in (
        budget.convergence_sentence(tables["convergence"].assign(converged=[False] + [True] * 3)))
    assert "Not recorded at both budgets yet: `diffstride`, `hybrid`" in one
    control = budget.control_sentence(tables["secondary"], tables["budgets"])
    assert control.startswith("At 18 epochs, `diffstride_rescaled` − `diffstride`")
    assert "DiffStride trails by 1.16 points" in control
    assert "These runs do not decide whether the amplitude explains it" in control
    assert "outside the tested family" in control


def test_the_control_sentence_follows_both_tests_of_the_family():
    tables = budget.analyse(fake_study())
    secondary, table = tables["secondary"], tables["budgets"]
    control = secondary.index[secondary.a == "diffstride_rescaled"][0]
    gap = secondary.index[(secondary.a == "diffstride") & (secondary.budget == 18)][0]

    def sentence(row, **values):
        changed = secondary.copy()
        for column, value in values.items():
            changed.loc[row, column] = value
        return budget.control_sentence(changed, table)

    closes = sentence(control, diff=1.0, low=0.5, high=1.5, p_holm=0.01)
    assert "a difference shown" in closes and "recovers part of that" in closes
    assert "widens it" in sentence(control, diff=-0.8, low=-1.2, high=-0.4, p_holm=0.01)
    # The gap's interval reaches up to -0.38: a control that may recover 0.7 points
    # cannot be said to fall short of it, one that recovers at most 0.3 can.
    short = sentence(control, diff=0.0, low=-0.3, high=0.3, p_holm=0.4)
    assert "ends at +0.30, short of even the smallest gap its interval allows (0.38)" in short
    assert "do not decide" in sentence(control, diff=0.2, low=-0.3, high=0.7, p_holm=0.4)
    ahead = sentence(gap, diff=0.9, low=0.4, high=1.4, p_holm=0.01)
    assert "DiffStride is ahead by 0.90 points" in ahead and "no gap is shown" not in ahead
    no_gap = sentence(gap, diff=0.2, low=-0.3, high=0.7, p_holm=0.5)
    assert "no gap is shown at this budget" in no_gap and "trails" not in no_gap
    # A gap whose test fails after Holm's correction is not a shown gap either.
    assert "Holm-adjusted p = 0.06): no gap is shown" in sentence(gap, p_holm=0.06)
    empty = budget.analyse([])
    assert "not recorded yet" in budget.primary_sentence(empty["primary"])
    assert "not recorded yet" in budget.control_sentence(empty["secondary"], empty["budgets"])
    assert "not recorded yet" in budget.convergence_sentence(empty["convergence"])
    assert "0 of its" in budget.progress_sentence([])


def git(*args):
    import subprocess

    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


def test_the_analysis_was_committed_before_every_record_of_the_study():
    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout: no history to check")
    assert git("merge-base", "--is-ancestor", budget.ANALYSIS_COMMIT, "HEAD").returncode == 0
    fixed = git("show", f"{budget.ANALYSIS_COMMIT}:hybridlib/budget.py").stdout
    assert f"MARGIN = {budget.MARGIN}" in fixed and 'PRIMARY = ("hybrid", "diffstride")' in fixed
    added = git("log", "--diff-filter=A", "--format=%H", "--", "results/cpu-budget*",
                "results/superseded").stdout
    for commit in added.split():
        assert git("merge-base", "--is-ancestor", budget.ANALYSIS_COMMIT, commit).returncode == 0
        assert commit != budget.ANALYSIS_COMMIT


def epochs(n, seconds=100.0):
    return [{"train_seconds": seconds}] * n


# The cpu profile's records as the price reads them: 100 s an epoch for every network.
CPU = [{"settings": {"config": c}, "wall_seconds": 600.0, "epochs": [{}] * 6}
       for c in ("strided", "diffstride", "hybrid")]


def test_the_cost_counts_only_the_epochs_a_run_trained_itself():
    long = {"settings": {"config": "hybrid", "overrides": []}, "wall_seconds": 1800.0,
            "epochs": epochs(18)}
    branch = {"settings": {"config": "hybrid", "overrides": []}, "wall_seconds": 1100.0,
              "epochs": epochs(6), "from_trunk": {"epochs": 5, "seconds": 1000.0}}
    text = budget.cost_sentence(CPU, [long, branch])
    # 1800 + 100 seconds trained, against 19 epochs at 100 s priced: 0.53 h and 0.53 h.
    assert "Its 2 recorded runs took 0.5 process-hours, against 0.5 priced" in text
    assert "(1.00 of the price)" in text
    check = {**long, "settings": {"config": "hybrid", "overrides": ["lr"]}}
    assert "Its 3 recorded runs (1 of them the learning-rate check's) took" in (
        budget.cost_sentence(CPU, [long, branch, check]))
    assert "paused" not in text


def test_a_paused_epoch_is_left_out_of_the_time_taken_and_named():
    # A trunk of 18 epochs of 100 s, one of them stopped for 2000 s, and a branch of it.
    trunk = {"settings": {"config": "strided", "overrides": []}, "wall_seconds": 3800.0,
             "epochs": epochs(4) + epochs(1, 2100.0) + epochs(13)}
    branch = {"settings": {"config": "strided", "overrides": []}, "wall_seconds": 2600.0,
              "epochs": trunk["epochs"][:5] + epochs(1),
              "from_trunk": {"epochs": 5, "seconds": 2500.0}}
    assert budget.paused_seconds(trunk) == 2000.0
    assert budget.paused_seconds(branch) == 0.0  # the trunk's pause is the trunk's
    # Just under three medians is a slow epoch, not a pause.
    assert budget.paused_seconds({"epochs": epochs(5) + epochs(1, 299.0)}) == 0.0
    text = budget.cost_sentence(CPU, [trunk, branch])
    assert "took 0.5 process-hours, against 0.5 priced for them (1.00 of the price)" in text
    assert "That leaves out 0.6 hours in which 1 of them stood paused" in text


def test_the_secondary_table_for_readers_is_one_row_per_comparison_and_budget():
    shown = budget.format_secondary(budget.analyse(fake_study())["secondary"])
    assert list(shown.index) == [("diffstride − strided", 6), ("diffstride − strided", 12),
                                 ("diffstride − strided", 18),
                                 ("diffstride_rescaled − diffstride", 18)]
    assert len(shown.columns) == 4


def test_the_reader_tables_of_the_rates_and_the_seeds():
    records = [check_record("hybrid", 0.05, 0.900), check_record("hybrid", 0.1, 0.901),
               check_record("hybrid", 0.2, 0.9035)]
    shown = budget.format_lr_decision(budget.lr_decision(records))
    assert shown.loc[("hybrid", "0.1"), "kept by the rule"] == "yes"
    assert shown.loc[("hybrid", "0.1"), "the profile's"] == "yes"
    assert shown.loc[("hybrid", "0.2"), "validation acc. (%)"] == "90.35"
    assert shown.loc[("strided", "0.8"), "kept by the rule"] == "pending"
    seeds = budget.seeds_table(fake_study(seeds=2))
    assert len(seeds) == 2 * 3 * 4 and set(seeds.budget) == {6, 12, 18}


def test_status_lists_a_bad_study_record_as_bad(tmp_path, capsys):
    from hybridlib.runs import RunStore

    _, _, (run, *_) = budget.study_runs()[0]
    path = RunStore(tmp_path).record_path(run)
    path.parent.mkdir(parents=True)
    path.write_text('{"complete": true}')
    assert budget.main(["status", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"bad: {path} is not a valid run record: field settings: is missing" in err


def test_the_progress_counts_the_study_s_runs_and_the_rate_check_s_apart():
    study = [{"settings": {"overrides": []}}] * 3
    check = [{"settings": {"overrides": ["lr"]}}] * 2
    assert "3 of its 54 runs are recorded (and 2 of the 6 runs of its learning-rate check)" in (
        budget.progress_sentence(study + check))
    assert "(and all 6 runs of its" in budget.progress_sentence(study + check * 3)
    assert budget.progress_sentence(study * 18 + check * 3) == (
        "All 54 runs of the study, and the 6 of its learning-rate check, are recorded.")


def test_the_grid_price_covers_the_seeds_and_the_check_and_meets_the_time_taken():
    from hybridlib.price import run_hours

    seeds = [run for _, _, runs in budget.study_runs() for run in runs]
    checks = budget.lr_check_runs()
    hours = sum(run_hours(r, 2, budget.budgets()) for r in seeds + checks)
    text = budget.grid_cost_sentence([])
    assert f"prices it at {hours:.1f} process-hours, about {hours / 2:.1f} hours" in text
    # A 6-epoch branch trains its decay only: it costs a sixth of a whole 6-epoch run.
    branch = next(r for r in seeds if r["epochs"] == 6)
    assert run_hours(branch, 2, budget.budgets()) == pytest.approx(
        run_hours(branch, 2) / 6, rel=0.2)
    # A branch trained its last epoch; one that found no trunk trained all six.
    last = {"settings": branch, "epochs": epochs(6), "from_trunk": {"epochs": 5, "seconds": 0},
            "wall_seconds": 3600 * run_hours(branch, 2) / 6}
    whole = {"settings": branch, "epochs": epochs(6), "wall_seconds": 3600 * run_hours(branch, 2)}
    assert "they took 1.00 of that" in budget.grid_cost_sentence([last, whole])


def test_the_first_check_of_strided_s_rate_is_read_from_its_records_and_its_commit():
    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout: no history to check")
    first = budget.first_check_records()
    assert sorted(first) == [0.4, 0.8, 1.6]
    assert all(r["settings"]["config"] == "strided" and r["settings"]["seed"] == 0
               for r in first.values())
    # The superseded run was the profile's own at its former rate, before the commit
    # that moved the rate.
    assert first[0.8]["settings"]["overrides"] == []
    moved = git("show", budget.FIRST_CHECK["commit"], "--", "hybridlib/configs.py").stdout
    assert '-        "lr": {"strided": 0.8,' in moved and '+        "lr": {"strided": 0.4,' in moved


def test_a_superseded_record_of_another_run_is_refused(tmp_path):
    from hybridlib.runs import RunStore

    path = RunStore(tmp_path).sub(budget.SUPERSEDED).record_path(
        budget.build_run(budget.PROFILE, "strided", 0))
    path.parent.mkdir(parents=True)
    # A record of the current profile's rate (0.4) in the superseded run's place.
    path.write_bytes(RunStore().record_path(budget.build_run(budget.PROFILE, "strided", 0))
                     .read_bytes())
    with pytest.raises(runs.InvalidRecord, match="not the first check's run"):
        budget.first_check_records(RunStore(tmp_path))


def layout_record(lr, val_acc, layout=None):
    record = check_record("strided", lr, val_acc)
    if layout:
        record["settings"]["layout"] = layout
    return record


def test_the_first_check_sentence_follows_the_rule_and_the_repeats():
    first = {0.4: layout_record(0.4, 0.9354), 0.8: layout_record(0.8, 0.9302),
             1.6: layout_record(1.6, 0.9158)}
    again = [layout_record(0.4, 0.9368, "channels_last"),
             layout_record(0.8, 0.9256, "channels_last"), layout_record(0.2, 0.9328)]
    text = budget.first_check_sentence(first, again)
    assert "gave 93.54 % at 0.4, 93.02 % at 0.8 and 91.58 % at 1.6" in text
    assert "The rate 0.4 was ahead by 0.52 points, more than the rule's 0.3" in text
    assert "at 0.8, 93.02 % (contiguous) and 92.56 % (channels-last)" in text
    assert "in different memory layouts" in text and "up to 0.46 points" in text
    # A first check the rule would have kept: no switch is told.
    close = {**first, 0.4: layout_record(0.4, 0.9330)}
    text = budget.first_check_sentence(close, [])
    assert "No rate was ahead of 0.8 by more than the rule's 0.3 points." in text
    assert "Both checks" not in text
    # Repeats in one layout are not said to differ in it.
    same = [layout_record(0.4, 0.9368)]
    assert "memory layouts" not in budget.first_check_sentence(first, same)
    assert budget.first_check_sentence({0.4: first[0.4]}, again) == ""


def test_the_intro_s_paragraph_on_the_study_follows_its_records():
    assert budget.glance([]) == ""
    text = budget.glance(fake_study())
    assert text.startswith("**Longer training** ([the budget study](chapters/07_budget.ipynb)).")
    primary = budget.analyse(fake_study())["primary"]
    assert budget.primary_sentence(primary) in text and budget.claim_sentence(primary) in text


def test_without_the_grid_benchmark_the_chapter_gives_no_grid_price(monkeypatch):
    from hybridlib import price

    def missing():
        raise price.NoBenchmark("no grid benchmark recorded")

    monkeypatch.setattr(price, "_grid", missing)
    assert budget.grid_cost_sentence([]) == ""


def test_the_smallest_budget_s_gaps_wait_for_all_three_networks():
    table = budget.analyse(fake_study())["budgets"]
    assert "outside the tested family" in budget._first_budget_gaps(table)
    assert budget._first_budget_gaps(table[table.config != "strided"]) == ""
