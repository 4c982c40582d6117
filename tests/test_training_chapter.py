"""hybridlib.book.training_chapter: the training chapter's tables and sentences."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hybridlib import runs as run_files
from hybridlib.book import training_chapter as chapter
from hybridlib.configs import PROFILES
from hybridlib.runs import RunStore
from hybridlib.tuning import chosen_rates, grid_table, sweep_cost


@pytest.fixture(scope="module")
def cpu():
    return RunStore().load("cpu", accept_code=True), grid_table("cpu")


def test_the_grid_table_and_sentence_match_the_recorded_grid(cpu):
    _, grid = cpu
    settings = PROFILES["cpu"]
    wide, formats = chapter.grid_wide(grid, settings)
    assert list(wide.index) == [c for c in settings["configs"] if c in set(grid.config)]
    assert wide["profile's rate"].to_dict() == {c: settings["lr"][c] for c in wide.index}
    assert set(formats) == set(wide.columns)
    text = chapter.grid_sentence(grid, "cpu", settings)
    assert f"complete for {len(chosen_rates(grid))} of {grid.config.nunique()}" in text


def test_a_profile_rate_the_grid_does_not_choose_is_an_error(cpu, monkeypatch):
    _, grid = cpu
    settings = {**PROFILES["cpu"], "lr": {**PROFILES["cpu"]["lr"], "strided": 123.0}}
    monkeypatch.setitem(PROFILES, "cpu", settings)
    with pytest.raises(ValueError, match="disagree with the recorded grid"):
        chapter.grid_sentence(grid, "cpu", settings)


def test_an_incomplete_grid_makes_the_rates_provisional(cpu):
    _, grid = cpu
    half = grid.assign(val_acc=float("nan"))
    assert "are provisional" in chapter.grid_sentence(half, "cpu", PROFILES["cpu"])


def test_the_runs_tables_and_the_code_sentence(cpu, monkeypatch):
    records, _ = cpu
    made = chapter.runs_made_table(records)
    assert len(made) == len(records)
    assert made[(chapter.ACCURACY, "test")].max() == pytest.approx(
        100 * max(r["final_test_acc"] for r in records))
    assert chapter.made_by_table(records).runs.sum() == len(records)
    monkeypatch.setattr(chapter, "ACCEPTED_CODE", frozenset())
    assert f"{len(records)} of them were made by library code other than this book's" in (
        chapter.code_sentence(records, len(records)))
    monkeypatch.setattr(chapter, "ACCEPTED_CODE", frozenset({chapter.CODE_HASH}))
    mine = [{**r, "code_hash": chapter.CODE_HASH} for r in records[:2]]
    assert chapter.code_sentence(mine, 5).endswith(f"library code (`{chapter.CODE_HASH}`).")
    # Each proved record is named once, by its proof against this code.
    monkeypatch.setattr(chapter, "ACCEPTED_CODE", run_files.ACCEPTED_CODE)
    text = chapter.code_sentence(records, len(records))
    proved = {e["record"] for e in json.loads(chapter.EQUIVALENCES.read_text())["equivalences"]
              if e["old"] in {r["code_hash"] for r in records} and e["old"] != chapter.CODE_HASH}
    assert proved and all(text.count(f"`{record}`") == 1 for record in proved)
    assert chapter.runs_made_table([]).empty
    assert run_files.CODE_HASH == chapter.CODE_HASH


def test_the_cost_sentence_halves_the_hours_for_two_cores(cpu):
    records, _ = cpu
    cost = sweep_cost("cpu", records)
    text = chapter.cost_sentence(cost)
    assert f"all {cost.loc['total', 'declared']:.0f} runs" in text
    partial = cost.copy()
    partial.loc["total", "recorded"] = 3
    assert "the 3 runs recorded so far" in chapter.cost_sentence(partial)
    assert isinstance(cost, pd.DataFrame)
