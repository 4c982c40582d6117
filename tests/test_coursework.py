"""Student and instructor editions, the exercises' metadata, the self-checks' modes, and
the setup cell's pin: what an instructor relies on before grading anything."""

from __future__ import annotations

import ast
import re
import subprocess

import nbformat
import pytest
from nbclient import NotebookClient

from hybridlib.book import pipeline
from hybridlib.book.coursework import (
    PUT_AWAY_TAG,
    SOLUTION_TAG,
    STUB_TAG,
    CourseworkError,
    CourseworkWarning,
    edition,
    main,
    set_parameter,
    write_student_editions,
)
from hybridlib.book.exercises import (
    CHECK_TAG,
    EXERCISE_KEY,
    ExerciseError,
    cell_locator,
    read_exercises,
    resolve,
)
from hybridlib.book.pipeline import NOTEBOOK_DIR, REPO_ROOT, discover, read_notebook
from hybridlib.book.plain_markdown import chapter_references, leftover_myst, to_plain
from hybridlib.book.selfcheck import (
    CheckFailed,
    CheckResult,
    NotAttempted,
    check_ramp_mask,
    report,
    run_cases,
)
from hybridlib.book.selfcheck.core import accepts_every_case
from hybridlib.diffstride import ramp_mask

CHAPTERS = discover(NOTEBOOK_DIR)
# The chapters that end with exercises: the four derivations, training and the results.
DERIVATION_CHAPTERS = [c for c in CHAPTERS if c.number in {"01", "02", "03", "04", "05", "06"}]


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def exercises_of(path):
    nb = read_notebook(path, setup=False)
    return nb, read_exercises(nb, cell_locator(path, nb))


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    out = tmp_path_factory.mktemp("editions")
    assert main(["student", "--out", str(out / "student")]) == 0
    assert main(["instructor", "--out", str(out / "instructor")]) == 0
    return {kind: {p.stem: p for p in sorted((out / kind).glob("*.ipynb"))}
            for kind in ("student", "instructor")}


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


# --- the editions ------------------------------------------------------------------------


def test_every_chapter_gets_a_valid_student_and_instructor_edition(editions):
    for kind, paths in editions.items():
        assert set(paths) == {c.stem for c in CHAPTERS}
        for path in paths.values():
            nb = read(path)
            nbformat.validate(nb)
            assert nb.metadata["hybridlib"]["edition"] == kind
            assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
            (parameters,) = [c for c in nb.cells if "parameters" in tags(c)]
            assert "profile = 'smoke'" in parameters.source


@pytest.mark.parametrize("chapter", DERIVATION_CHAPTERS, ids=lambda c: c.stem)
def test_derivation_chapters_have_three_exercises_recorded_in_metadata(chapter):
    nb, exercises = exercises_of(chapter.source)
    assert len(exercises) >= 3
    number = str(int(chapter.number))
    assert [e.id for e in exercises] == [f"{number}.{k}" for k in range(1, len(exercises) + 1)]
    assert all(e.points > 0 and e.solutions for e in exercises)
    graded = [e for e in exercises if e.graded]
    assert graded
    for exercise in graded:
        assert accepts_every_case(resolve(exercise.check))
        for path in exercise.reference:
            resolve(path)  # every reference names something real
        # Every statement that reads like one carries the record.
        assert nb.cells[exercise.statement].source.lstrip().startswith(
            f"**Exercise {exercise.id}**")
    statements = [c for c in nb.cells if c.cell_type == "markdown" and "**Exercise" in c.source]
    assert len(statements) == len(exercises)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_nothing_from_a_solution_leaks_into_the_student_edition(chapter, editions):
    source = read_notebook(chapter.source)
    student = read(editions["student"][chapter.stem])
    student_text = "\n".join(c.source for c in student.cells)
    public = "\n".join(c.source for c in source.cells if SOLUTION_TAG not in tags(c))
    for cell in source.cells:
        if SOLUTION_TAG not in tags(cell):
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            # A line also written outside the solutions (an import, a signature) is public.
            if len(line) >= 12 and line not in public:
                assert line not in student_text, f"{chapter.stem}: solution line leaked: {line}"
    assert not any(SOLUTION_TAG in tags(c) for c in student.cells)
    stubs = [c for c in student.cells if STUB_TAG in tags(c)]
    assert all("remove-cell" not in tags(c) for c in stubs)
    assert all("NotImplementedError" in c.source for c in stubs)


@pytest.mark.parametrize("chapter", DERIVATION_CHAPTERS, ids=lambda c: c.stem)
def test_the_instructor_edition_has_every_solution_and_model_answer(chapter, editions):
    nb, exercises = exercises_of(chapter.source)
    instructor = read(editions["instructor"][chapter.stem])
    text = "\n".join(c.source for c in instructor.cells)
    for exercise in exercises:
        for index in exercise.solutions:
            body = nb.cells[index].source
            if nb.cells[index].cell_type == "code":
                assert body in text, f"{chapter.stem}: solution to {exercise.id} missing"
        written = [nb.cells[i] for i in exercise.solutions if nb.cells[i].cell_type == "markdown"]
        if not exercise.graded:  # a written exercise: its model answer, as plain Markdown
            assert written, f"{chapter.stem}: exercise {exercise.id} has no model answer"
            assert f"**Solution to Exercise {exercise.id}**" in text
    # The checks stay strict there: the instructor sees a wrong solution fail.
    checks = [c for c in instructor.cells if CHECK_TAG in tags(c)]
    assert checks and all("report(" not in c.source for c in checks)


def test_every_edition_is_free_of_myst_markup(editions):
    for kind, paths in editions.items():
        for stem, path in paths.items():
            for index, cell in enumerate(read(path).cells):
                texts = [cell.source] if cell.cell_type == "markdown" else []
                # Code cells hold Python, but a role in a string would reach the reader.
                if cell.cell_type == "code":
                    texts = re.findall(r"\{\{?(?:cite|eq|numref|ref|doc)[^}]*\}\}?`[^`]*`",
                                       cell.source)
                for text in texts:
                    assert not leftover_myst(text), f"{kind}/{stem} cell {index}: " + "; ".join(
                        leftover_myst(text))


def test_the_editions_show_citations_equations_and_figures_as_the_book_numbers_them(editions):
    text = "\n".join(c.source for c in read(editions["student"]["01_spectral_pooling"]).cells)
    assert "Spectral pooling (Rippel et al., 2015) shrinks" in text
    assert "\\tag{1.3}" in text and "decimation identity (1.3)" in text
    assert "(Fig. 1.1)" in text and "*Figure 1.1: The camera-man photograph" in text
    assert "**Learning objectives**" in text and "**Key takeaways**" in text
    assert "## References" in text and "<https://arxiv.org/abs/2202.01653>" in text


@pytest.mark.parametrize(
    ("myst", "plain"),
    [
        ("as shown {cite}`riad2022diffstride`.", "as shown (Riad et al., 2022)."),
        ("{cite:t}`riad2022diffstride` showed", "Riad et al. (2022) showed"),
        ("{cite}`riad2022diffstride,rippel2015spectral`",
         "(Riad et al., 2022; Rippel et al., 2015)"),
        ("see {eq}`eq-a` and {numref}`fig-b`", "see (1.1) and Fig. 1.1"),
        ("{numref}`Figure %s <fig-b>`", "Figure 1.1"),
        ("$$ x = 1 $$ (eq-a)", "$$ x = 1 \\tag{1.1} $$"),
        ("(sec-x)=\n## A section\nsee {ref}`sec-x`", "## A section\nsee A section"),
        ("```{admonition} Solution\n:class: dropdown\nbody with {eq}`eq-a`\n```",
         "**Solution**\n\nbody with (1.1)"),
        ("````{note}\n```python\nx = {cite}`k`\n```\n````",
         "**Note**\n\n```python\nx = {cite}`k`\n```"),
    ],
)
def test_myst_becomes_plain_markdown(myst, plain):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("$$ a $$ (eq-a)\n\n(sec-x)=\n## A section"),
        nbformat.v4.new_code_cell("", metadata={"mystnb": {"figure": {"name": "fig-b"}}}),
    ])
    refs = chapter_references(nb, "1", REPO_ROOT / "book" / "references.bib")
    assert to_plain(myst, refs) == plain


def test_leftover_myst_finds_what_survives():
    assert leftover_myst("plain $x$ and `code` and $$ y $$") == []
    found = leftover_myst("{cite}`k`\n```{note}\nx\n```\n(lab)=\n$$ z $$ (eq-z)")
    assert [f.split(":")[0] for f in found] == ["role", "directive", "target", "equation label"]


# --- what a student edition gives and withholds ---------------------------------------------


@pytest.mark.parametrize(
    ("stem", "names"),
    [("01_spectral_pooling", ["spectral_pool2d"]), ("03_diffstride", ["ramp_mask"]),
     ("04_architectures", ["describe", "resnet18"])],
)
def test_the_student_edition_puts_the_library_s_answers_away(stem, names, editions):
    cells = read(editions["student"][stem]).cells
    (put_away,) = [i for i, c in enumerate(cells) if PUT_AWAY_TAG in tags(c)]
    assert cells[put_away].source.splitlines()[-1] == f"del {', '.join(names)}"
    first_statement = next(i for i, c in enumerate(cells) if EXERCISE_KEY in c.metadata)
    assert put_away == first_statement - 1
    # No later cell brings them back, or needs them.
    for cell in cells[put_away + 1:]:
        if cell.cell_type == "code":
            used = {node.id for node in ast.walk(ast.parse(cell.source))
                    if isinstance(node, ast.Name)}
            imported = {alias.asname or alias.name for node in ast.walk(ast.parse(cell.source))
                        if isinstance(node, ast.ImportFrom) for alias in node.names}
            assert not (used | imported) & set(names), cell.source


@pytest.mark.parametrize("chapter", DERIVATION_CHAPTERS, ids=lambda c: c.stem)
def test_student_check_cells_report_every_case_without_stopping_run_all(chapter, editions):
    _, exercises = exercises_of(chapter.source)
    cells = read(editions["student"][chapter.stem]).cells
    checks = [c for c in cells if CHECK_TAG in tags(c)]
    graded = [e for e in exercises if e.graded]
    assert [c.source.splitlines()[-1] for c in checks] == [
        f"report({e.check_name}, {e.function})" for e in graded]


def test_exercise_1_3_asks_for_the_function_its_stub_defines():
    nb, exercises = exercises_of(NOTEBOOK_DIR / "01_spectral_pooling.py")
    resample = next(e for e in exercises if e.id == "1.3")
    statement = nb.cells[resample.statement].source
    assert f"`{resample.function}(x, size)`" in statement
    assert f"def {resample.function}(" in nb.cells[resample.stub].source
    assert resample.function != "fourier_resample"  # the chapter's SciPy helper keeps its name


def test_exercise_1_1_hint_does_not_give_the_indices_away():
    nb, exercises = exercises_of(NOTEBOOK_DIR / "01_spectral_pooling.py")
    stub = nb.cells[exercises[0].stub].source
    hint = stub[stub.index("NotImplementedError"):]
    for giveaway in ("(h+1)//2", "h//2 rows", "w//2 + 1", "s=(h, w)"):
        assert giveaway not in hint


@pytest.mark.slow
@pytest.mark.parametrize("chapter", DERIVATION_CHAPTERS, ids=lambda c: c.stem)
def test_run_all_goes_past_every_unfinished_exercise(chapter, editions, tmp_path):
    nb = read(editions["student"][chapter.stem])
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=600,
                   resources={"metadata": {"path": str(REPO_ROOT)}},
                   config=pipeline.kernel_config(tmp_path)).execute()
    checks = [c for c in nb.cells if CHECK_TAG in tags(c)]
    for cell in checks:  # every check ran and said so, none raised
        text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                       for o in cell.outputs)
        assert "not attempted yet (Exercise" in text, cell.outputs
    errors = [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.output_type == "error"]
    # Only a measurement that needs an unfinished answer may stop, after the last check.
    last_check = max(i for i, c in enumerate(nb.cells) if CHECK_TAG in tags(c))
    for index, error in errors:
        assert error.ename == "NotImplementedError" and "Exercise" in error.evalue, error
        assert index > last_check


# --- the self-checks' modes -----------------------------------------------------------------


def wrong_ramp(positions, threshold, smoothness):
    return (positions <= threshold).to(threshold.dtype)  # the hard box at every R


def test_a_check_stops_at_the_first_failing_case_by_default():
    with pytest.raises(CheckFailed, match=r"^check_ramp_mask: case '.*' fails: ") as info:
        check_ramp_mask(wrong_ramp)
    assert len(info.value.result.failures) == 1


def test_every_case_mode_reports_every_failing_case():
    with pytest.raises(CheckFailed) as info:
        check_ramp_mask(wrong_ramp, every_case=True)
    result = info.value.result
    assert len(result.cases) == 9 and 3 <= len(result.failures) < 9
    assert str(info.value).startswith(f"check_ramp_mask: {len(result.failures)} of 9 cases fail")
    assert str(info.value).count("fails:") == len(result.failures)


def test_report_returns_a_verdict_instead_of_raising():
    assert report(check_ramp_mask, ramp_mask).passed
    failing = report(check_ramp_mask, wrong_ramp)
    assert isinstance(failing, CheckResult) and not failing.passed
    assert "cases fail" in repr(failing)

    def stub(positions, threshold, smoothness):
        raise NotImplementedError("Exercise 3.1: a hint")

    verdict = report(check_ramp_mask, stub)
    assert isinstance(verdict, NotAttempted)
    assert str(verdict) == "check_ramp_mask: not attempted yet (Exercise 3.1: a hint)"

    def old_style_check(fn):  # an instructor's check written without every_case
        assert fn(1) == 2, "fn(1) should be 2"

    assert "fn(1) should be 2" in str(report(old_style_check, lambda x: x))


def test_the_instructor_page_s_worked_example_works():
    page = (REPO_ROOT / "book" / "for_instructors.md").read_text(encoding="utf8")
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", page, re.DOTALL)
                  if "def check_energy_kept" in block]
    namespace: dict = {}
    exec(compile(example, "for_instructors.md", "exec"), namespace)
    check, reference = namespace["check_energy_kept"], namespace["energy_kept_reference"]
    assert str(check(reference)) == "check_energy_kept: all 4 cases pass"

    def whole_spectrum(x, m):  # forgets the window
        return 1.0

    with pytest.raises(CheckFailed, match="check_energy_kept: case '16x16, window 4' fails"):
        check(whole_spectrum)
    assert "3 of 4 cases fail" in str(report(check, whole_spectrum))  # 8x8 keeps it all


def test_run_cases_counts_a_crash_as_a_failed_case():
    def crash():
        raise IndexError("out of range")

    with pytest.raises(CheckFailed) as info:
        run_cases("demo", [("a", crash), ("b", lambda: None), ("c", crash)], every_case=True)
    assert [case for case, _ in info.value.result.failures] == ["a", "c"]
    assert "the function raised IndexError: out of range" in str(info.value)


# --- an instructor's chapter: bad input is named, not a traceback ---------------------------

CHAPTER = '''\
# %% [markdown]
# # A chapter

# %% tags=["parameters"]
{parameters}

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={{"id": "9.1", "points": 1}}
# **Exercise 9.1** (Explain). Why?
{solution}
# %% [markdown]
# **Exercise 9.2** (Forgotten). A statement without its record.
'''
SOLUTION = '''
# %% [markdown] tags=["solution"]
# Because.
'''


def chapter_folder(tmp_path, parameters='profile = "cpu"', solution=SOLUTION, name="09_demo.py"):
    folder = tmp_path / "notebooks"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(CHAPTER.format(parameters=parameters, solution=solution))
    return folder


def run_student(folder, tmp_path, capsys):
    status = main(["student", "--out", str(tmp_path / "out"), "--notebooks", str(folder)])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("parameters", "message"),
    [("seed = 1", r"09_demo\.py, cell 2 \(line 4\): the parameters cell assigns no 'profile'"),
     ("profile = (", r"09_demo\.py, cell 2 \(line 4\): the 'parameters' cell does not parse")],
)
def test_a_bad_parameters_cell_is_named(tmp_path, capsys, parameters, message):
    status, err = run_student(chapter_folder(tmp_path, parameters), tmp_path, capsys)
    assert status == 1
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_a_binary_chapter_is_named(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "01_binary.py").write_bytes(bytes(range(256)) * 4)
    status, err = run_student(folder, tmp_path, capsys)
    assert status == 1 and "01_binary.py: not a text file" in err and "Traceback" not in err


def test_exercises_without_solutions_or_records_are_warned_about(tmp_path, capsys):
    status, err = run_student(chapter_folder(tmp_path, solution=""), tmp_path, capsys)
    assert status == 0 and (tmp_path / "out" / "09_demo.ipynb").is_file()
    assert re.search(r"warning: .*09_demo\.py, cell 4 \(line 10\): exercise 9\.1 has no cell "
                     "tagged 'solution'", err), err
    assert re.search(r"warning: .*09_demo\.py, cell 5 .*reads like an exercise statement but "
                     "has no 'exercise' metadata", err), err
    with pytest.warns(CourseworkWarning) as caught:
        edition(tmp_path / "notebooks" / "09_demo.py", "student")
    assert len(caught) == 2 and "no cell tagged 'solution'" in str(caught[0].message)


@pytest.mark.parametrize(
    ("record", "message"),
    [('{"id": "9.1"}', "needs \"points\""),
     ('{"id": "9.1", "points": 1, "function": "f"}', "names both"),
     ('{"id": "9.1", "points": 1, "function": "f", "check": "c"}', "dotted path"),
     ('{"id": "9.1", "points": 1, "pionts": 2}', "unknown key"),
     ('{"id": "9.1", "points": 1, "function": "f", "check": "m.check_f"}',
      "exactly one cell tagged 'exercise-stub'")],
)
def test_a_malformed_exercise_record_is_named(tmp_path, record, message):
    source = tmp_path / "09_demo.py"
    source.write_text(f'# %% [markdown] exercise={record}\n# **Exercise 9.1**\n')
    with pytest.raises(CourseworkError, match=rf"09_demo\.py, cell 1 \(line 1\): .*{message}"):
        edition(source, "student")


def test_a_check_cell_must_call_the_named_check_on_the_named_function():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**Exercise 1.1**", metadata={EXERCISE_KEY: {
            "id": "1.1", "points": 1, "function": "f", "check": "m.check_f"}}),
        nbformat.v4.new_code_cell("def f():\n    raise NotImplementedError",
                                  metadata={"tags": [STUB_TAG]}),
        nbformat.v4.new_code_cell("print(check_f(g))", metadata={"tags": [CHECK_TAG]}),
    ])
    with pytest.raises(ExerciseError, match=r"calls check_f\(f\)"):
        read_exercises(nb, cell_locator("x.ipynb"))
    nb.cells[2].source = "print(check_f(f))"
    (exercise,) = read_exercises(nb, cell_locator("x.ipynb"))
    assert (exercise.stub, exercise.check_cell, exercise.check_name) == (1, 2, "check_f")


def test_set_parameter_rewrites_only_that_assignment():
    source = 'profile = "cpu"  # the default\nforce = False'
    assert set_parameter(source, "profile", "smoke") == "profile = 'smoke'\nforce = False"
    with pytest.raises(ValueError, match="no 'seed'"):
        set_parameter(source, "seed", 1)


def test_generation_refuses_an_empty_notebook_folder(tmp_path):
    with pytest.raises(SystemExit, match="no chapter notebooks"):
        write_student_editions(tmp_path / "out", notebook_dir=tmp_path)


def test_the_command_line_explains_itself(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("student", "instructor", "grade"):
        assert command in text
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    text = capsys.readouterr().out
    assert "EDITION" in text and "--timeout" in text and "not attempted" in text


def test_make_instructor_writes_a_git_ignored_edition():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^instructor: setup\n\t\$\(PY\) -m hybridlib\.book\.coursework instructor "
                     r"--out instructor$", makefile, re.MULTILINE)
    for generated in ("instructor/01_x.ipynb", "student/01_x.ipynb", "grades.csv"):
        ignored = subprocess.run(["git", "check-ignore", "-q", generated], cwd=REPO_ROOT)
        assert ignored.returncode == 0, generated


# --- the setup cell's pin -------------------------------------------------------------------


def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A repository with one commit, and a bare remote it is pushed to."""
    remote, work = tmp_path / "remote", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    for key, value in (("user.email", "t@example.org"), ("user.name", "T")):
        git(work, "config", key, value)
    (work / "a.txt").write_text("one\n")
    git(work, "add", "a.txt")
    git(work, "commit", "-q", "-m", "one")
    return work, f"file://{remote}"


def problems(work, url, checked_out=True):
    commit = git(work, "rev-parse", "HEAD")
    return pipeline.pin_problems.__wrapped__(str(work), url, commit, checked_out)


def test_a_pin_no_remote_can_vouch_for_is_warned_about(checkout):
    work, url = checkout
    (warning,) = problems(work, url)
    assert "no git remote of this checkout points at" in warning


def test_a_pushed_clean_commit_is_pinned_silently(checkout):
    work, url = checkout
    git(work, "remote", "add", "origin", url)
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(work, "fetch", "-q", "origin")
    assert problems(work, url) == ()
    assert problems(work, url + ".git/") == ()  # the same repository, spelt differently


def test_a_local_commit_or_uncommitted_changes_are_warned_about(checkout):
    work, url = checkout
    git(work, "remote", "add", "origin", url)
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(work, "fetch", "-q", "origin")
    (work / "a.txt").write_text("two\n")
    (dirty,) = problems(work, url)
    assert "uncommitted changes (1 file(s): a.txt)" in dirty
    git(work, "commit", "-q", "-am", "two")
    (unpushed,) = problems(work, url)
    assert "which no branch of origin contains" in unpushed


def test_the_setup_cell_follows_one_setting(monkeypatch):
    assert pipeline.parse_setup_source("https://example.org/me/fork@abc123") == (
        "https://example.org/me/fork", "abc123")
    assert pipeline.parse_setup_source("git@example.org:me/fork.git") == (
        "git@example.org:me/fork.git", None)
    monkeypatch.setenv(pipeline.SETUP_SOURCE_ENV, "https://example.org/me/fork@abc123")
    monkeypatch.setattr(pipeline, "pin_problems", lambda *args: ())
    assert pipeline.install_spec() == "hybridlib[book] @ git+https://example.org/me/fork@abc123"
    cell = pipeline.setup_cell(pipeline.install_spec())
    assert "'https://example.org/me/fork'" in cell.source and "'abc123'" in cell.source


def test_setup_source_warns_once_per_problem(monkeypatch):
    monkeypatch.delenv(pipeline.SETUP_SOURCE_ENV, raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.setattr(pipeline, "pin_problems", lambda *args: ("a problem",))
    monkeypatch.setattr(pipeline, "_PIN_WARNED", set())
    with pytest.warns(pipeline.SetupPinWarning, match="a problem") as caught:
        pipeline.setup_source()
        pipeline.setup_source()
    assert len(caught) == 1
