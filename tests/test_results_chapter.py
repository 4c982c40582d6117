"""hybridlib.book.results_chapter: the results chapter's facts, tables and sentences."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from hybridlib import evidence, results
from hybridlib.book import results_chapter as chapter
from hybridlib.runs import RunStore

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cpu():
    records = RunStore().load("cpu", accept_code=True)
    return records, results.runs_table(records)


def test_run_facts_are_the_records_own(cpu):
    records, runs = cpu
    facts = chapter.run_facts(runs, "fashion_mnist")
    assert facts["runs"] == len(records)
    assert facts["configs"] == len({r["settings"]["config"] for r in records})
    assert facts["n_seeds"] == len({r["settings"]["seed"] for r in records})
    assert facts["train_size"] == f"{records[0]['train_size']:,}"
    assert facts["code_hashes"] == "`c640687672a7dbe3`"
    caption = chapter.headline_caption(facts, "cpu", "fashion_mnist")
    assert caption.startswith("Profile cpu, Fashion-MNIST: 6 epochs on 50,000 training images")
    assert "*" not in caption  # no literal Markdown in a table caption
    assert f"{len(records)} runs of {facts['configs']} configurations" in (
        chapter.provenance_sentence(facts))


def test_the_status_names_what_is_missing(cpu):
    _, runs = cpu
    declared = list(zip(runs.dataset, runs.config, runs.seed))
    assert "all of them are here" in chapter.records_status(runs, declared, "cpu", "results")
    more = declared + [("fashion_mnist", "hybrid", 9)]
    text = chapter.records_status(runs, more, "cpu", "results")
    assert "1 are not recorded yet (hybrid seed 9 (fashion_mnist))" in text
    empty = chapter.records_status(runs.iloc[:0], declared, "cpu", "results")
    assert "none of them is recorded yet" in empty


def test_the_plateau_summary_counts_settled_runs(cpu):
    records, _ = cpu
    plateau = evidence.plateau_table(records)
    table, sentence = chapter.plateau_summary(plateau)
    assert table.settled.sum() == plateau.settled.sum()
    assert list(table.columns) == ["runs", "settled", "largest change", "mean change"]
    assert sentence.startswith(f"{int(plateau.settled.sum())} of {len(plateau)} runs had settled")
    assert chapter.plateau_summary(plateau.assign(change=float("nan"))) is None


def test_our_means_stand_beside_the_reported_numbers(cpu):
    _, runs = cpu
    summary, reported = results.summary_table(runs), results.paper_table()
    side = chapter.reported_side_by_side(summary, reported)
    ours = summary.set_index("config").test_acc_mean
    assert side.loc["hybrid", "ours: Fashion-MNIST"] == ours["hybrid"]
    row = reported[(reported.key == "hybrid_paper") & (reported.dataset == "cifar100")
                   & (reported.model == "hybrid")]
    assert side.loc["hybrid", "Hybrid paper: CIFAR-100"] == row.test_acc.iloc[0]
    intervals = evidence.interval_table(RunStore().load("cpu", accept_code=True))
    facts = chapter.run_facts(runs, "fashion_mnist")
    text = chapter.ranking_sentence(side, reported, intervals, facts)
    order = " > ".join(f"`{c}`" for c in side["ours: Fashion-MNIST"].sort_values(
        ascending=False).index)
    assert order in text and "{cite}`xiao2017fashionreadme`" in text
    rows = chapter.reported_rows(side)  # turned to fit the column: a row per source
    assert list(rows.columns) == list(side.index)
    assert rows.loc[("Hybrid paper", "CIFAR-100"), "hybrid"] == row.test_acc.iloc[0]
    assert rows.loc[("ours", "Fashion-MNIST"), "hybrid"] == ours["hybrid"]


def amplitude_table(train, ratios):
    configs = ["strided", "spectral", "diffstride", "hybrid"]
    table = pd.DataFrame({(chapter.FIT, "train"): train,
                          (chapter.FIT, "test"): [90, 89, 88, 87]}, index=configs)
    for k in range(3):
        table[(chapter.RATIO, f"stage{k + 2}")] = ratios
    return table


def test_the_amplitude_sentence_reads_fit_and_dominance():
    text = chapter.amplitude_sentence(amplitude_table([95, 91, 92, 92], [4.0, 100, 10, 6.1]))
    assert text.startswith("Here `strided` has the best mean test accuracy")
    assert "also fit the training set less well" in text
    assert "`spectral`, `diffstride` and `hybrid` let the shortcut dominate" in text
    calm = chapter.amplitude_sentence(amplitude_table([90, 91, 92, 92], [4.0, 5, 5, 5]))
    assert "at least as well" in calm and "does not explain the gap" in calm
    assert "slower fit" not in calm  # no configuration fits worse: no slower fit to read
    assert "[budget chapter](07_budget.ipynb) tests it" in text
    slow = chapter.amplitude_sentence(amplitude_table([95, 91, 92, 92], [4.0, 5, 5, 5]))
    assert "the slower fit is the better-supported reading." in slow


def curves(last_steps):
    rows = []
    for k, step in enumerate(last_steps):
        for epoch, acc in ((1, 50.0), (2, 80.0), (3, 80.0 + step)):
            rows.append({"dataset": "d", "config": f"c{k}", "seed": 0, "epoch": epoch,
                         "val_acc": acc})
    return pd.DataFrame(rows)


def test_the_curves_sentence_counts_the_curves_still_climbing():
    text = chapter.curves_sentence(curves([0.5, 0.4, 0.1]), "val_acc", "validation accuracy")
    assert "rises by 30.1 to 30.5 points" in text
    assert "2 of the 3 mean curves rise by 0.3 points or more" in text
    assert "longer training may reorder it" in text
    assert "may reorder" not in chapter.curves_sentence(curves([0.1, 0.1]), "val_acc", "x")
    one = curves([0.0]).query("epoch == 1")
    assert "single epoch" in chapter.curves_sentence(one, "val_acc", "x")


def test_the_strides_tables_and_sentence_come_from_the_records(cpu):
    records, _ = cpu
    strides = results.strides_table(records)
    table = chapter.stride_table(strides)
    assert list(table.columns)[0] in ("stem", "stage2")
    assert set(table.index.get_level_values("configuration")) == set(strides.config)
    text = chapter.strides_sentence(strides, records)
    learned = [r for r in records if r["learned_strides"]]
    same = sum(r["feature_sizes"] == r["initial_feature_sizes"] for r in learned)
    assert f"{same} of the {len(learned)} runs with DiffStride layers" in text
    sizes = chapter.map_size_table(records)
    assert len(sizes) == len(learned)
    assert all(re.fullmatch(r"\d+×\d+( → \d+×\d+)?", v) for v in sizes.stack())


def test_the_compute_sentence_finds_the_accuracy_cost_front():
    summary = pd.DataFrame({
        "dataset": ["d"] * 4, "config": ["strided", "spectral", "diffstride", "hybrid"],
        "gflops": [0.01, 0.02, 0.06, 0.05], "images_per_s": [1000, 800, 200, 210],
        "test_acc_mean": [90.0, 91.0, 90.5, 92.0]})
    text = chapter.compute_sentence(summary)
    assert "DiffStride costs 6.0 times the FLOPs" in text and "5.0 times slower" in text
    assert "each of `strided`, `spectral` and `hybrid` has a higher mean accuracy" in text
    cheapest = chapter.compute_sentence(summary.assign(test_acc_mean=[95, 91, 90.5, 92]))
    assert "The cheapest configuration, `strided`, also has the highest mean accuracy." in (
        cheapest)
    faster = chapter.compute_sentence(summary.assign(images_per_s=[100, 800, 200, 210]))
    assert "trains 2.0 times faster (200 against 100 images/s)" in faster


def test_the_ablation_status_says_why_a_section_is_empty(cpu):
    _, runs = cpu
    present, why = chapter.ablation_status(runs, [], "cpu")
    assert present and why == ""
    main = runs[runs.config.isin(["strided", "hybrid"])]
    assert "none of their runs is recorded yet" in chapter.ablation_status(
        main, ["strided", "diffstride_early"], "cpu")[1]
    assert "no ablation configuration" in chapter.ablation_status(main, ["strided"], "x")[1]


def test_the_baseline_sentence_and_the_own_comparison(cpu):
    records, _ = cpu
    check, reported = results.hybrid_baseline_check(), results.paper_table()
    text = chapter.baseline_sentence(check, reported, ["fashion_mnist"], 8, 6)
    assert f"{check.loc['cifar100', 'baseline (Hybrid paper)']:.1f} %" in text
    assert text.endswith("not on CIFAR:")
    assert chapter.baseline_sentence(check, reported, ["cifar10"], 64, 300).endswith(
        "Our runs make that comparison:")
    comparisons = evidence.comparison_table(records, evidence.HYBRID_COMPARISONS)
    assert "`hybrid` − `diffstride`" in chapter.own_comparison(comparisons, "cpu")
    assert "once profile cpu has recorded" in chapter.own_comparison(comparisons.iloc[:0], "cpu")


def test_the_all_runs_tables_hold_every_run(cpu):
    records, runs = cpu
    tables = chapter.all_runs_tables(runs)
    assert [len(t) for t, _ in tables[:3]] == [len(records)] * 3
    assert tables[-1][0].runs.sum() == len(records)


def hidden_code_lines(chapter_file: Path) -> int:
    """Code lines (not comments or blanks) of the cells a reader does not see."""
    cells = re.split(r"\n(?=# %%)", chapter_file.read_text("utf8"))
    hidden = [c for c in cells if "[markdown]" not in c.splitlines()[0]
              and re.search(r"remove-input|hide-input|remove-cell", c.splitlines()[0])]
    return sum(1 for c in hidden for line in c.splitlines()[1:]
               if line.strip() and not line.strip().startswith("#"))


def test_the_results_chapter_is_narrative_plus_calls():
    assert hidden_code_lines(REPO / "notebooks" / "06_results.py") <= 150
