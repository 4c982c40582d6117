"""hybridlib.layout: the trainer runs each width in the layout measured fastest for it."""

from __future__ import annotations

import json

import pytest
import torch

from hybridlib import layout, runs, train
from hybridlib.paths import RESULTS_ENV
from hybridlib.runs import RunStore


@pytest.fixture
def measured(tmp_path, monkeypatch):
    """A grid record in which channels_last wins at width 8 on one thread, and loses on two
    threads and at width 32."""
    rows = [{"config": c, "width": w, "precision": "bf16", "layout": lay, "threads": t,
             "processes": 1, "images_per_s": speed}
            for c in ("strided", "diffstride")
            for w, lay, t, speed in ((8, "contiguous", 1, 100), (8, "channels_last", 1, 150),
                                     (8, "contiguous", 2, 200), (8, "channels_last", 2, 150),
                                     (32, "contiguous", 1, 80), (32, "channels_last", 1, 40))]
    path = tmp_path / "bench" / "grid.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"environment": {"device": "cpu"},
                                "rows": rows}))
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    layout._measured.cache_clear()
    yield
    layout._measured.cache_clear()


def test_the_measured_faster_layout_is_chosen_per_width(measured):
    assert layout.preferred("cpu", 8, "bf16") == "channels_last"
    assert layout.preferred("cpu", 8, "bf16", threads=2) == "contiguous"  # per thread count
    assert layout.preferred("cpu", 32, "bf16") == "contiguous"
    assert layout.preferred("cpu", 64, "bf16") == "contiguous"  # the nearest width measured
    # Nothing measured for the device or the precision: the rule.
    assert layout.preferred("cuda", 8, "bf16") == "channels_last"
    assert layout.preferred("cpu", 8, "fp32") == "contiguous"
    assert layout.resolve("contiguous", "cpu", 8, "bf16") == "contiguous"
    with pytest.raises(ValueError, match="layout must be one of"):
        layout.resolve("nhwc", "cpu", 8, "bf16")


def quick_run(**settings):
    return runs.build_run("smoke", "diffstride", 0, "synthetic",
                          {"epochs": 1, "width": 4, "batch_size": 64, **settings})


def test_the_layout_is_recorded_outside_the_hash_and_changes_only_rounding(tmp_path):
    run = quick_run()
    assert run["layout"] == "auto"
    wide = runs.build_run("smoke", "diffstride", 0, "synthetic", {"epochs": 1, "width": 4,
                          "batch_size": 64, "layout": "channels_last"})
    assert runs.config_hash(wide) == runs.config_hash(run)
    a = train.fit(quick_run(layout="contiguous"), RunStore(tmp_path / "a", tmp_path / "ca"),
                  progress=False)
    b = train.fit(quick_run(layout="channels_last"), RunStore(tmp_path / "b", tmp_path / "cb"),
                  progress=False)
    assert (a["settings"]["layout"], b["settings"]["layout"]) == ("contiguous", "channels_last")
    assert b["final_test_loss"] == pytest.approx(a["final_test_loss"], rel=1e-3)
    auto = train.fit(run, RunStore(tmp_path / "c", tmp_path / "cc"), progress=False)
    # auto: fp32 on a CPU; the run takes torch's thread count, as the layout does
    assert auto["settings"]["layout"] == layout.preferred("cpu", 4, "fp32", torch.get_num_threads())


def test_a_resumed_run_keeps_the_layout_of_its_checkpoint(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    run = quick_run(epochs=2, layout="channels_last")
    train.fit(run, store, progress=False)
    state = torch.load(store.checkpoint_path(run), weights_only=True)
    assert state["layout"] == "channels_last"
    store.record_path(run).unlink()  # as if killed after its last epoch's checkpoint
    resumed = train.fit(quick_run(epochs=2, layout="contiguous"), store, progress=False)
    assert resumed["settings"]["layout"] == "channels_last"


def test_a_checkpoint_from_before_layouts_resumes_in_the_layout_it_was_made_in(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    run = quick_run(epochs=2, layout="contiguous")
    train.fit(run, store, progress=False)
    state = torch.load(store.checkpoint_path(run), weights_only=True)
    del state["layout"]  # as the code before layouts wrote it
    torch.save(state, store.checkpoint_path(run))
    store.record_path(run).unlink()
    resumed = train.fit(quick_run(epochs=2, layout="channels_last"), store, progress=False)
    assert resumed["settings"]["layout"] == "contiguous"
