"""The pipeline's extras around execution: the chapter cache, the setup cell, the kernel.

No kernel is started here: papermill is replaced by a function that writes the notebook
it is given, so only the pipeline's own decisions are tested.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hybridlib.book import coursework, pipeline
from hybridlib.book.pipeline import Chapter

CHAPTER = """\
# %% [markdown]
# # A chapter

# %% tags=["parameters"]
profile = "cpu"

# %%
x = 1
"""


@pytest.fixture
def executions(monkeypatch) -> list[str]:
    """Stem of every notebook papermill is asked to execute (it only writes them)."""
    calls: list[str] = []

    def fake_execute(nb, output_path, **kwargs):
        calls.append(Path(output_path).name)
        for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            cell.execution_count = count + 1  # as if each cell ran
        nbformat.write(nb, output_path)

    monkeypatch.setattr(pipeline.papermill, "execute_notebook", fake_execute)
    return calls


@pytest.fixture
def records(tmp_path, monkeypatch) -> Path:
    """An empty records folder, named by the environment as the chapters would see it."""
    folder = tmp_path / "results"
    (folder / "smoke").mkdir(parents=True)
    monkeypatch.setenv("HYBRIDLIB_RESULTS", str(folder))
    return folder


def run(chapters: list[Path], out: Path, force: bool = False) -> None:
    pipeline.execute_all([Chapter(p) for p in chapters], "smoke", force=force, output_dir=out)


def test_tree_hash_sees_contents_and_names_not_order(tmp_path):
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 2\n")
    files = [tmp_path / "a.py", tmp_path / "b.py"]
    first = pipeline.tree_hash(files, tmp_path)
    assert pipeline.tree_hash(files[::-1], tmp_path) == first
    (tmp_path / "b.py").write_text("b = 3\n")
    assert pipeline.tree_hash(files, tmp_path) != first
    (tmp_path / "b.py").write_text("b = 2\n")
    (tmp_path / "b.py").rename(tmp_path / "c.py")
    assert pipeline.tree_hash([tmp_path / "a.py", tmp_path / "c.py"], tmp_path) != first


def test_an_unchanged_chapter_is_not_executed_again(tmp_path, executions, records):
    one, two = tmp_path / "01_one.py", tmp_path / "02_two.py"
    one.write_text(CHAPTER)
    two.write_text(CHAPTER)
    out = tmp_path / "chapters"
    run([one, two], out)
    assert executions == [".01_one.partial.ipynb", ".02_two.partial.ipynb"]
    assert (out / ".01_one.stamp.json").exists()

    run([one, two], out)
    assert len(executions) == 2  # nothing changed: nothing ran

    two.write_text(CHAPTER.replace("x = 1", "x = 2"))
    run([one, two], out)
    assert executions[2:] == [".02_two.partial.ipynb"]

    (records / "smoke" / "run.json").write_text("{}")  # new records: every chapter again
    run([one, two], out)
    assert len(executions) == 5

    run([one, two], out, force=True)
    assert len(executions) == 7


def test_a_missing_notebook_or_stamp_means_executing_again(tmp_path, executions, records):
    one = tmp_path / "01_one.py"
    one.write_text(CHAPTER)
    out = tmp_path / "chapters"
    run([one], out)
    (out / "01_one.ipynb").unlink()
    run([one], out)
    (out / ".01_one.stamp.json").write_text("not json")
    run([one], out)
    assert len(executions) == 3


def test_another_profile_is_another_input(tmp_path, records):
    path = tmp_path / "01_one.py"
    path.write_text(CHAPTER)
    smoke = pipeline.chapter_inputs(pipeline.prepare(Chapter(path), "smoke", force=False))
    cpu = pipeline.chapter_inputs(pipeline.prepare(Chapter(path), "cpu", force=False))
    assert smoke["parameters"] != cpu["parameters"] and smoke["source"] == cpu["source"]


# --- the setup cell -------------------------------------------------------------------


def test_install_spec_pins_the_repository_and_commit():
    spec = pipeline.install_spec("https://github.com/o/r", "abc123")
    assert spec == "hybridlib[book] @ git+https://github.com/o/r@abc123"
    assert pipeline.install_spec("https://github.com/o/r", "").endswith("git+https://github.com/o/r")
    assert pipeline.repository_url().startswith("https://github.com/")


def run_setup_cell(monkeypatch, importable: bool) -> list:
    calls: list = []
    cell = pipeline.setup_cell("hybridlib[book] @ git+https://github.com/o/r@abc123",
                               "https://github.com/o/r", "abc123")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a[0]))
    if not importable:
        monkeypatch.setitem(sys.modules, "hybridlib", None)  # `import hybridlib` fails
    exec(cell.source, {})
    return calls


def test_the_setup_cell_does_nothing_where_the_library_imports(monkeypatch):
    assert run_setup_cell(monkeypatch, importable=True) == []


def test_the_setup_cell_installs_the_pinned_library_where_it_is_missing(monkeypatch):
    (command,) = run_setup_cell(monkeypatch, importable=False)
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[-1] == "hybridlib[book] @ git+https://github.com/o/r@abc123"


@pytest.mark.parametrize("chapter", pipeline.discover(), ids=lambda c: c.stem)
def test_every_chapter_and_student_edition_starts_with_the_setup_cell(chapter):
    for nb in (pipeline.read_notebook(chapter.source), coursework.student_edition(chapter.source)):
        first = nb.cells[0]
        assert first.cell_type == "code"
        assert {pipeline.SETUP_TAG, "remove-cell"} <= set(first.metadata["tags"])
        assert "import hybridlib.configs" in first.source and "pip" in first.source


def test_the_repository_is_named_in_one_setting_that_the_setup_cell_follows(tmp_path):
    import yaml

    config = yaml.safe_load((pipeline.REPO_ROOT / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    assert pipeline.repository_url() == url
    cell = pipeline.setup_cell(pipeline.install_spec(commit="abc123"), commit="abc123")
    assert f"git+{url}@abc123" in cell.source and repr(url) in cell.source
    # A fork edits _config.yml; the setup cell and the buttons follow it.
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/fork/\n")
    assert pipeline.repository_url(tmp_path) == "https://example.org/fork"
    (tmp_path / "_config.yml").write_text("title: no repository\n")
    with pytest.raises(pipeline.PipelineError, match="repository.url"):
        pipeline.repository_url(tmp_path)
    # No library or notebook source names the repository anywhere else.
    sources = [*pipeline.REPO_ROOT.joinpath("hybridlib").rglob("*.py"),
               *pipeline.NOTEBOOK_DIR.glob("*.py")]
    assert not [p for p in sources if url in p.read_text(encoding="utf8")]
