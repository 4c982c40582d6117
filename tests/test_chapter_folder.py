"""Every chapter executed from the folder it is published in runs, and finds the records.

Binder and Jupyter start a chapter's kernel in ``book/chapters/``, not in the repository's
root where the pipeline runs; the records must be found all the same, and no training
may start. Every chapter of the published profile is executed here with its working
directory in a folder laid out like ``book/chapters/``, far from the repository.
"""

from __future__ import annotations

import nbformat
import papermill
import pytest

from hybridlib.book import pipeline
from hybridlib.paths import RESULTS_ENV

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("chapter", pipeline.discover(), ids=lambda c: c.stem)
def test_every_chapter_runs_from_its_own_folder(chapter, tmp_path, monkeypatch):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    prepared = pipeline.prepare(chapter, "cpu", force=False)
    folder = tmp_path / "book" / "chapters"
    folder.mkdir(parents=True)
    out = folder / f"{chapter.stem}.ipynb"
    papermill.execute_notebook(
        prepared.notebook,
        str(out),
        parameters=prepared.parameters,
        kernel_name=pipeline.KERNEL,
        cwd=str(folder),
        config=pipeline.kernel_config(tmp_path),
        progress_bar=False,
    )
    text = "\n".join(
        str(o.get("data", {}).get("text/markdown", ""))
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    if chapter.stem == "06_results":
        # The records are found in the repository's results/.
        assert "under `results/cpu/`" in text
    if chapter.stem == "05_training":
        assert "none of them is recorded" not in text
    assert sorted(p.name for p in folder.iterdir()) == [out.name]  # nothing written here
