"""The notebook pipeline: parameters, chapter selection, failures, hidden cells.

Notebooks here are throwaway py:percent files in a temporary folder; the few tests that
execute one start a real kernel (about a second each).
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from jupyter_client import KernelManager

from hybridlib.book import pipeline, sphinx_fixes
from hybridlib.book.pipeline import Chapter, PipelineError

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: {kernel}
#     language: python
#     name: {kernel}
# ---
"""


def write_notebook(
    folder: Path, stem: str, parameters: str | None, *cells: str, kernel: str = "python3"
) -> Path:
    """A py:percent chapter with an optional parameters cell and further code cells."""
    parts = [HEADER.format(kernel=kernel), f"# %% [markdown]\n# # {stem}\n"]
    if parameters is not None:
        parts.append(f'# %% tags=["parameters"]\n{textwrap.dedent(parameters)}')
    parts += [f"# %%\n{textwrap.dedent(cell)}" for cell in cells]
    path = folder / f"{stem}.py"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf8")
    return path


@pytest.fixture
def profiles(monkeypatch) -> None:
    """The real profiles, or stand-ins while ``hybridlib.configs`` is not written yet."""
    try:
        from hybridlib.configs import PROFILES  # noqa: F401
    except ImportError:
        stand_in = {"smoke": {}, "cpu": {}, "paper": {}}
        monkeypatch.setattr(pipeline, "available_profiles", lambda: stand_in)


@pytest.fixture
def repo(tmp_path, monkeypatch, profiles) -> Path:
    """A temporary repository layout that ``main`` works on."""
    monkeypatch.setattr(pipeline, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "notebooks")
    monkeypatch.setattr(pipeline, "OUTPUT_DIR", tmp_path / "book" / "chapters")
    monkeypatch.setenv("HYBRIDLIB_RUNS", str(tmp_path / "runs"))  # forced sweeps' marker
    return tmp_path


@pytest.fixture
def no_execution(monkeypatch) -> list:
    """Record papermill calls instead of running anything."""
    calls: list = []
    monkeypatch.setattr(pipeline.papermill, "execute_notebook", lambda *a, **k: calls.append(a))
    return calls


# --- parameters -------------------------------------------------------------------------


def test_declared_parameters_are_top_level_assignments():
    source = """
profile = "cpu"  # comment
force: bool = False
seeds, width = (0, 1), 8
epochs += 1
if True:
    hidden = 1
def f():
    local = 2
"""
    assert pipeline.declared_parameters(source) == {"profile", "force", "seeds", "width"}


def test_force_is_injected_only_where_declared_and_asked_for():
    assert pipeline.parameters_for({"profile"}, "cpu", force=True) == {"profile": "cpu"}
    assert pipeline.parameters_for({"profile", "force"}, "cpu", force=False) == {"profile": "cpu"}
    assert pipeline.parameters_for({"profile", "force"}, "paper", force=True) == {
        "profile": "paper",
        "force": True,
    }


def test_an_undeclared_parameter_stops_everything_before_execution(tmp_path, no_execution):
    folder = tmp_path / "notebooks"
    write_notebook(folder, "01_fine", 'profile = "cpu"', "x = 1")
    write_notebook(folder, "02_typo", 'profil = "cpu"', "x = 1")
    with pytest.raises(PipelineError) as err:
        pipeline.execute_all(pipeline.discover(folder), "smoke", output_dir=tmp_path / "out")
    assert "02_typo.py" in str(err.value) and "profile" in str(err.value)
    assert no_execution == []  # not even the valid first chapter ran


def test_a_notebook_without_parameters_cell_is_rejected(tmp_path, no_execution):
    write_notebook(tmp_path, "01_bare", None, "x = 1")
    with pytest.raises(PipelineError, match="01_bare.py.*parameters"):
        pipeline.prepare(Chapter(tmp_path / "01_bare.py"), "cpu", force=False)


def test_prepare_forces_the_kernel_and_folds_the_parameters_cell(tmp_path):
    path = write_notebook(tmp_path, "01_x", 'profile = "cpu"\nforce = False', kernel="myenv")
    prepared = pipeline.prepare(Chapter(path), "smoke", force=True)
    assert prepared.notebook.metadata["kernelspec"]["name"] == "python3"
    assert prepared.parameters == {"profile": "smoke", "force": True}
    assert "hide-cell" in pipeline.parameters_cell(prepared.notebook).metadata["tags"]


# --- choosing chapters --------------------------------------------------------------------


def test_only_matches_stem_name_or_number_in_chapter_order(tmp_path):
    chapters = [Chapter(tmp_path / f"{s}.py") for s in ("01_spectral", "02_diffstride", "03_x")]
    picked = pipeline.select(chapters, ["03", "diffstride", "02_diffstride"])
    assert [c.stem for c in picked] == ["02_diffstride", "03_x"]
    assert pipeline.select(chapters, None) == chapters


def test_only_with_an_unknown_name_lists_the_valid_ones(tmp_path):
    chapters = [Chapter(tmp_path / f"{s}.py") for s in ("01_spectral", "02_diffstride")]
    with pytest.raises(PipelineError, match="'results'.*01_spectral.*02_diffstride"):
        pipeline.select(chapters, ["results"])


def test_main_exits_nonzero_on_an_unknown_chapter(repo, capsys, no_execution):
    write_notebook(repo / "notebooks", "01_spectral", 'profile = "cpu"')
    assert pipeline.main(["--profile", "smoke", "--only", "nope", "--no-build"]) == 1
    assert "01_spectral" in capsys.readouterr().err


def test_main_rejects_an_unknown_profile(repo, capsys):
    with pytest.raises(SystemExit) as exit_:
        pipeline.main(["--profile", "gpu-cluster"])
    assert exit_.value.code == 2
    assert "smoke" in capsys.readouterr().err


# --- executing --------------------------------------------------------------------------


def test_execution_hides_the_injected_cell_and_runs_in_the_repo(tmp_path):
    path = write_notebook(
        tmp_path / "notebooks",
        "01_ok",
        'profile = "cpu"',
        "import os\nprint(profile, os.getcwd())",
    )
    out = tmp_path / "book" / "chapters"
    pipeline.execute_all([Chapter(path)], "smoke", output_dir=out, cwd=tmp_path)
    nb = nbformat.read(out / "01_ok.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert "hide-cell" in pipeline.parameters_cell(nb).metadata["tags"]
    printed = nb.cells[-1].outputs[0]["text"]
    assert printed.split() == ["smoke", str(tmp_path)]
    assert sorted(p.name for p in out.iterdir()) == [".01_ok.stamp.json", "01_ok.ipynb"]


def test_a_failing_notebook_names_itself_and_its_cell_and_leaves_no_chapter(repo, capsys):
    write_notebook(repo / "notebooks", "01_ok", 'profile = "cpu"', "x = 1")
    write_notebook(
        repo / "notebooks",
        "02_broken",
        'profile = "cpu"',
        "values = [1, 2]\nraise ValueError(f'broken on purpose {sum(values)}')",
        "print('never reached')",
    )
    stale = repo / "book" / "chapters" / "02_broken.ipynb"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")  # a previous run's output must not survive a failure
    assert pipeline.main(["--profile", "smoke", "--no-build"]) == 1
    err = capsys.readouterr().err
    assert "02_broken.py" in err
    assert "raise ValueError(f'broken on purpose {sum(values)}')" in err
    assert "ValueError: broken on purpose 3" in err
    chapters = sorted(p.name for p in (repo / "book" / "chapters").iterdir())
    assert chapters == [".01_ok.stamp.json", "01_ok.ipynb", "02_broken.failed.ipynb"]


def test_inline_scripts_that_sphinx_adds_twice_are_written_once():
    script = SimpleNamespace
    body = {"body": "const THEBE_JS_URL = 1"}
    scripts = [script(filename=None, priority=500, attributes=body), script(filename="a.js")]
    scripts.append(script(filename="", priority=500, attributes=body))
    context = {"script_files": scripts}
    sphinx_fixes.drop_duplicate_scripts(None, "intro", "page.html", context, None)
    assert context["script_files"] == scripts[:2]


def test_the_kernel_uses_ipc_sockets_in_the_given_folder_not_the_working_one(
    tmp_path, monkeypatch
):
    sockets, cwd = tmp_path / "sockets", tmp_path / "cwd"
    sockets.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    manager = KernelManager(config=pipeline.kernel_config(sockets), kernel_name=pipeline.KERNEL)
    assert manager.transport == "ipc"
    manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        client.stop_channels()
        assert len(list(sockets.glob("kernel-*"))) == 5  # shell, iopub, stdin, control, hb
        assert list(cwd.iterdir()) == []
    finally:
        manager.shutdown_kernel(now=True)
    assert list(sockets.iterdir()) == []  # removed at shutdown


def test_a_dying_kernel_is_reported_with_the_notebook(tmp_path):
    path = write_notebook(tmp_path, "01_dies", 'profile = "cpu"', "import os\nos._exit(1)")
    with pytest.raises(PipelineError, match="01_dies.py stopped: DeadKernelError"):
        pipeline.execute_all([Chapter(path)], "smoke", output_dir=tmp_path / "out", cwd=tmp_path)
    assert not (tmp_path / "out" / "01_dies.ipynb").exists()


# --- building ---------------------------------------------------------------------------


def test_missing_documents_of_the_toc_are_named(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: C\n    chapters:\n"
        "      - file: book/chapters/01_a\n      - file: book/chapters/02_b\n"
    )
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "chapters" / "01_a.ipynb").write_text("{}")
    assert pipeline.missing_documents(tmp_path) == ["book/chapters/02_b"]
    with pytest.raises(PipelineError, match="02_b"):
        pipeline.build(tmp_path)


def test_the_repository_toc_lists_every_chapter_notebook():
    stems = {c.stem for c in pipeline.discover()}
    listed = {Path(doc).name for doc in pipeline.toc_documents(pipeline.REPO_ROOT)}
    assert stems <= listed, f"chapters missing from _toc.yml: {sorted(stems - listed)}"


# --- unfinished chapters, timeouts, interruptions, forced sweeps ------------------------


def test_a_chapter_that_exits_early_fails_and_names_the_first_cell_that_did_not_run(tmp_path):
    path = write_notebook(
        tmp_path / "notebooks",
        "01_exits",
        'profile = "cpu"',
        "import sys\nsys.exit(0)",
        "print('the rest of the chapter')",
    )
    out = tmp_path / "out"
    with pytest.raises(PipelineError) as err:
        pipeline.execute_all([Chapter(path)], "smoke", output_dir=out, cwd=tmp_path)
    message = str(err.value)
    assert "01_exits.py did not run to the end after SystemExit: 0" in message
    assert "never ran:\n    print('the rest of the chapter')" in message
    assert not (out / "01_exits.ipynb").exists() and (out / "01_exits.failed.ipynb").exists()


def test_a_cell_running_past_the_timeout_fails_its_chapter_and_is_named(tmp_path):
    cells = ("x = 1", "import time\ntime.sleep(60)")
    path = write_notebook(tmp_path / "notebooks", "01_hangs", 'profile = "cpu"', *cells)
    with pytest.raises(PipelineError) as err:
        pipeline.execute_all(
            [Chapter(path)], "smoke", output_dir=tmp_path / "out", cwd=tmp_path, cell_timeout=1
        )
    message = str(err.value)
    assert "01_hangs.py: a cell ran longer than the cell timeout (1 s)" in message
    assert "time.sleep(60)" in message and "--cell-timeout" in message


def test_the_cell_timeout_comes_from_the_flag_or_the_profile(repo, monkeypatch, capsys):
    from hybridlib.configs import PROFILES

    for name, settings in PROFILES.items():
        timeout = settings["cell_timeout"]
        assert timeout is None or timeout > 0, name
    write_notebook(repo / "notebooks", "01_a", 'profile = "cpu"')
    seen = []
    monkeypatch.setattr(
        pipeline, "execute_all", lambda *a, **k: seen.append(k["cell_timeout"]) or {}
    )
    assert pipeline.main(["--profile", "smoke", "--no-build"]) == 0
    assert pipeline.main(["--profile", "smoke", "--no-build", "--cell-timeout", "7.5"]) == 0
    assert pipeline.main(["--profile", "smoke", "--no-build", "--cell-timeout", "0"]) == 0
    assert seen == [PROFILES["smoke"]["cell_timeout"], 7.5, None]
    for bad in ("nan", "-1", "inf", "ten"):
        with pytest.raises(SystemExit):
            pipeline.main(["--cell-timeout", bad])
        assert f"argument --cell-timeout: must be a finite number >= 0, got '{bad}'" in (
            capsys.readouterr().err
        )


def test_ctrl_c_ends_the_pipeline_with_one_line(repo, monkeypatch, capsys):
    write_notebook(repo / "notebooks", "01_a", 'profile = "cpu"')

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "execute_all", interrupted)
    assert pipeline.main(["--profile", "smoke", "--no-build"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: ")


@pytest.mark.slow
def test_sigterm_ends_the_pipeline_like_ctrl_c_and_takes_the_kernel_with_it(repo, capsys):
    write_notebook(
        repo / "notebooks", "01_terminated", 'profile = "cpu"',
        "import os, pathlib, signal, time\n"
        "pathlib.Path('kernel.pid').write_text(str(os.getpid()))\n"
        "os.kill(os.getppid(), signal.SIGTERM)  # as `kill` or `timeout` would\n"
        "time.sleep(60)",
    )  # fmt: skip
    before = signal.getsignal(signal.SIGTERM)
    assert pipeline.main(["--profile", "smoke", "--no-build"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("interrupted: ")
    assert signal.getsignal(signal.SIGTERM) is before
    kernel = int((repo / "kernel.pid").read_text())
    for _ in range(50):  # the kernel is shut down, not left training on its own
        try:
            os.kill(kernel, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"kernel {kernel} still running after the pipeline ended")
    assert not list(repo.glob("kernel-*"))  # its sockets were not in the working folder


def test_a_forced_sweep_spans_the_command_and_ends_only_when_it_succeeds(tmp_path, monkeypatch):
    from hybridlib.local_sweep import FORCED_SINCE_ENV

    monkeypatch.delenv(FORCED_SINCE_ENV, raising=False)
    marker = tmp_path / "smoke" / ".forced-since"
    with pytest.raises(RuntimeError, match="interrupted"):
        with pipeline.forced_sweep_environment(True, "smoke", tmp_path):
            first = os.environ[FORCED_SINCE_ENV]  # what every kernel inherits
            raise RuntimeError("interrupted")
    assert FORCED_SINCE_ENV not in os.environ and float(marker.read_text()) == float(first)
    with pipeline.forced_sweep_environment(True, "smoke", tmp_path):
        assert os.environ[FORCED_SINCE_ENV] == first  # the same sweep continues
    assert not marker.exists()
    with pipeline.forced_sweep_environment(False, "smoke", tmp_path):
        assert FORCED_SINCE_ENV not in os.environ and not marker.exists()


@pytest.mark.slow
def test_an_interrupted_forced_pipeline_continues_the_same_sweep(repo, capsys):
    from hybridlib.local_sweep import FORCED_SINCE_ENV

    notebooks = repo / "notebooks"
    write_notebook(
        notebooks, "01_train", 'profile = "cpu"\nforce = False',
        f"import os\nprint(os.environ[{FORCED_SINCE_ENV!r}])",
    )  # fmt: skip
    write_notebook(
        notebooks, "02_later", 'profile = "cpu"',
        "import pathlib\nif pathlib.Path('stop').exists():\n    raise RuntimeError('stopped')",
    )  # fmt: skip
    marker = repo / "runs" / "smoke" / ".forced-since"

    def sweep_start() -> str:
        nb = nbformat.read(repo / "book" / "chapters" / "01_train.ipynb", as_version=4)
        return nb.cells[-1].outputs[0]["text"].strip()

    (repo / "stop").touch()
    assert pipeline.main(["--profile", "smoke", "--force", "--no-build"]) == 1
    first = sweep_start()
    assert marker.read_text().strip() == first  # the sweep is not finished
    (repo / "stop").unlink()
    assert pipeline.main(["--profile", "smoke", "--force", "--no-build"]) == 0
    assert sweep_start() == first and not marker.exists()


# --- hostile chapters, folders and records -------------------------------------------------


def test_a_chapter_of_random_bytes_is_named(tmp_path, no_execution):
    path = tmp_path / "01_noise.py"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PipelineError, match=r"01_noise.py: not UTF-8 text"):
        pipeline.execute_all([Chapter(path)], "smoke", output_dir=tmp_path / "out")
    assert no_execution == []


def test_every_requested_chapter_is_parsed_before_the_first_executes(tmp_path, no_execution):
    folder = tmp_path / "notebooks"
    write_notebook(folder, "10_fine", 'profile = "cpu"', "x = 1")
    write_notebook(folder, "13_typo", 'profile = "cpu"', "x = 1", "def broken(:\n    pass")
    chapters = pipeline.select(pipeline.discover(folder), ["10", "13"])
    with pytest.raises(PipelineError) as err:
        pipeline.execute_all(chapters, "smoke", output_dir=tmp_path / "out")
    message = str(err.value)
    assert "13_typo.py: cell" in message and "does not parse" in message
    assert "def broken(:" in message
    assert no_execution == []  # chapter 10 did not run first


def test_magics_and_shell_escapes_parse_as_the_kernel_reads_them(tmp_path):
    path = write_notebook(tmp_path, "01_magic", 'profile = "cpu"', "%matplotlib inline\n!ls")
    pipeline.prepare(Chapter(path), "smoke", force=False)


def test_a_cell_printing_more_than_the_limit_fails_its_chapter_naming_the_cell(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(pipeline, "CELL_OUTPUT_LIMIT", 10_000)
    path = write_notebook(tmp_path / "notebooks", "01_chatty", 'profile = "cpu"', "x = 1",
                          "print('y' * 100_000)")
    out = tmp_path / "out"
    with pytest.raises(PipelineError) as err:
        pipeline.execute_all([Chapter(path)], "smoke", output_dir=out, cwd=tmp_path)
    message = str(err.value)
    assert "01_chatty.py: the cell executed as In [" in message
    assert "print('y' * 100_000)" in message and "MiB a cell may publish" in message
    assert not (out / "01_chatty.ipynb").exists()
    assert (out / "01_chatty.failed.ipynb").stat().st_size < 20_000  # the output was cut


def test_a_file_given_as_the_book_folder_is_named_before_anything_runs(repo, capsys,
                                                                        no_execution):
    write_notebook(repo / "notebooks", "01_a", 'profile = "cpu"')
    a_file = repo / "a-file"
    a_file.write_text("x")
    assert pipeline.main(["--profile", "smoke", "--book-dir", str(a_file)]) == 1
    assert capsys.readouterr().err.strip() == f"error: --book-dir {a_file}: a file, not a folder"
    assert no_execution == []


def test_the_glance_reads_the_records_the_environment_names_and_fails_on_a_bad_one(
    tmp_path, monkeypatch
):
    from hybridlib import runs
    from hybridlib.paths import RESULTS_ENV
    from tests.records import write_valid

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "records"))
    store = runs.RunStore()
    for run in runs.declared_runs("smoke"):
        write_valid(store, run)
    text = pipeline.write_glance("smoke", tmp_path / "book").read_text()
    assert "`hybrid` 50.00 %" in text and "No run is recorded yet" not in text
    path = store.record_path(runs.declared_runs("smoke")[0])
    path.write_text("[]")
    with pytest.raises(PipelineError, match=f"{path} is not a valid run record"):
        pipeline.write_glance("smoke", tmp_path / "book")


def test_a_chapter_reading_a_bad_record_fails_the_build_naming_it(tmp_path):
    from hybridlib import runs
    from tests.records import write_valid

    store = runs.RunStore(tmp_path / "records")
    for run in runs.declared_runs("smoke"):
        write_valid(store, run)
    bad = store.record_path(runs.declared_runs("smoke")[1])
    bad.write_text('{"complete": true}')
    path = write_notebook(tmp_path / "notebooks", "06_results", 'profile = "cpu"',
                          "from hybridlib.runs import RunStore\n"
                          f"records = RunStore({str(store.results)!r}).load(profile)")
    with pytest.raises(PipelineError) as err:
        pipeline.execute_all([Chapter(path)], "smoke", output_dir=tmp_path / "out", cwd=tmp_path)
    message = str(err.value)
    assert "InvalidRecords: 1 run record(s) of profile smoke are not valid" in message
    assert f"{bad} is not a valid run record: field settings: is missing" in message
    assert not (tmp_path / "out" / "06_results.ipynb").exists()
