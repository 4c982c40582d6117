"""The grader: the in-kernel rerun of the checks, the rows it writes, and a small chapter
of an instructor's own, with its checks module beside the notebooks, graded end to end."""

from __future__ import annotations

import copy
import csv
import functools
import json

import nbformat
import pytest

from hybridlib.book.coursework import main
from hybridlib.book.exercises import cell_locator, read_exercises
from hybridlib.book.grading import (
    CellError,
    Execution,
    GradingError,
    exercise_rows,
    load_edition,
    prepare,
    student_names,
    submissions,
)
from hybridlib.book.selfcheck.rerun import rerun
from hybridlib.diffstride import ramp_mask

RAMP = {"id": "3.1", "points": 2, "function": "my_ramp_mask",
        "check": "hybridlib.book.selfcheck.check_ramp_mask",
        "reference": ["hybridlib.diffstride.ramp_mask"]}


def by_hand(positions, threshold, smoothness):
    import torch

    if smoothness == 0:
        return (positions <= threshold).to(threshold.dtype)
    return torch.clamp((smoothness + threshold - positions) / smoothness, 0.0, 1.0)


# --- the rerun, in this process ------------------------------------------------------------


def test_a_right_answer_passes_and_a_wrong_one_fails_on_every_case():
    assert rerun({"my_ramp_mask": by_hand}, RAMP)["status"] == "pass"
    wrong = rerun({"my_ramp_mask": lambda p, t, r: by_hand(p, t, 0.0)}, RAMP)
    assert wrong["status"] == "fail" and wrong["cases"] == 9
    assert len(wrong["failures"]) >= 2
    assert not wrong["reference_calls"] and not wrong["is_reference"]


def test_a_stub_is_not_attempted_and_a_missing_function_is_missing():
    def stub(positions, threshold, smoothness):
        raise NotImplementedError("Exercise 3.1: hint")

    assert rerun({"my_ramp_mask": stub}, RAMP)["status"] == "not attempted"
    assert rerun({}, RAMP) | {"reference_calls": []} == {
        "id": "3.1", "status": "missing", "message": "my_ramp_mask is not defined",
        "reference_calls": [], "is_reference": False}


@pytest.mark.parametrize(
    "copied",
    [lambda p, t, r: ramp_mask(p, t, r),  # a call, however wrapped
     functools.partial(ramp_mask),
     ramp_mask],  # the library's function itself
)
def test_the_library_s_own_answer_is_flagged(copied):
    outcome = rerun({"my_ramp_mask": copied}, RAMP)
    assert outcome["status"] == "pass"
    assert outcome["is_reference"] or outcome["reference_calls"] == [
        "hybridlib.diffstride.ramp_mask"]


def test_the_check_calling_the_reference_itself_is_not_flagged():
    outcome = rerun({"my_ramp_mask": by_hand}, RAMP)
    assert outcome["reference_calls"] == [] and not outcome["is_reference"]


def test_an_endless_answer_fails_on_the_time_limit():
    def endless(positions, threshold, smoothness):
        while True:
            pass

    outcome = rerun({"my_ramp_mask": endless}, RAMP, seconds=0.5)
    assert outcome["status"] == "fail" and "did not finish within 0.5 s" in outcome["message"]


def test_a_check_that_cannot_be_loaded_is_an_error():
    outcome = rerun({"my_ramp_mask": by_hand}, {**RAMP, "check": "no_such_module.check"})
    assert outcome["status"] == "error" and "no_such_module" in outcome["message"]


# --- rows -----------------------------------------------------------------------------------

CHAPTER = '''\
# %% [markdown]
# # Doubling, a chapter of an instructor's own

# %% tags=["parameters"]
profile = "cpu"

# %%
from mychecks import check_double, double_reference

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={record}
# **Exercise 9.1** (Doubling). Write `double(x)`, see {cite}`riad2022diffstride`.

# %% tags=["exercise-stub"]
def double(x):
    """Twice x."""
    raise NotImplementedError("Exercise 9.1: what is x + x?")


# %% tags=["solution", "hide-cell"]
def double(x):
    """Twice x."""
    return 2 * x


# %% tags=["exercise-check"]
print(check_double(double))

# %% [markdown] exercise={"id": "9.2", "points": 1}
# **Exercise 9.2** (Why). Why does doubling commute with sums?

# %% [markdown] tags=["solution"]
# ```{admonition} Solution to Exercise 9.2
# :class: dropdown
# It is linear.
# ```
'''
CHAPTER = CHAPTER.replace("{record}", json.dumps({
    "id": "9.1", "points": 2, "function": "double", "check": "mychecks.check_double",
    "reference": ["mychecks.double_reference"]}))
CHECKS = '''\
"""The instructor's checks for chapter 9, built on the book's run_cases."""
from hybridlib.book.selfcheck import run_cases


def double_reference(x):
    return 2 * x


def check_double(fn, *, every_case=False):
    def case(x):
        def thunk():
            got = fn(x)
            if got != double_reference(x):
                raise AssertionError(f"double({x!r}) gave {got!r}, expected {2 * x!r}")
        return thunk

    return run_cases("check_double", [(f"x = {x}", case(x)) for x in (0, 1, -3, 2.5)],
                     every_case)
'''


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """An instructor's chapter and checks module, and its student edition made from them."""
    root = tmp_path_factory.mktemp("course")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "09_doubling.py").write_text(CHAPTER)
    (root / "notebooks" / "mychecks.py").write_text(CHECKS)
    assert main(["student", "--out", str(root / "student"),
                 "--notebooks", str(root / "notebooks")]) == 0
    return root


def test_the_instructor_s_checks_module_travels_with_the_student_edition(course):
    assert (course / "student" / "mychecks.py").read_text() == CHECKS
    nb = nbformat.read(course / "student" / "09_doubling.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "from mychecks import check_double\nreport(check_double, double)" in text
    assert "del double_reference" in text  # the instructor's answer is put away too
    assert "(Riad et al., 2022)" in text and "return 2 * x" not in text


def test_rows_one_per_exercise_and_a_total():
    edition_nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("", metadata={"exercise": {**RAMP}}),
        nbformat.v4.new_code_cell("def my_ramp_mask(p, t, r):\n    raise NotImplementedError",
                                  metadata={"tags": ["exercise-stub"]}),
        nbformat.v4.new_code_cell("report(check_ramp_mask, my_ramp_mask)",
                                  metadata={"tags": ["exercise-check"]}),
        nbformat.v4.new_markdown_cell("", metadata={"exercise": {"id": "3.2", "points": 3}}),
    ])
    from hybridlib.book.grading import Edition

    edition = Edition(__import__("pathlib").Path("e.ipynb"), edition_nb,
                      tuple(read_exercises(edition_nb, cell_locator("e.ipynb"))))
    broken = Execution(
        outcomes={"3.1": {"id": "3.1", "status": "missing", "message": "my_ramp_mask is not "
                          "defined", "reference_calls": [], "is_reference": False}},
        errors=[CellError(1, 4, "SyntaxError", "invalid syntax",
                          "def my_ramp_mask(p, t, r)\n    return p")])
    rows = exercise_rows("ada", "ada.ipynb", edition, broken, None)
    assert [(r.exercise, r.status, r.points) for r in rows] == [
        ("3.1", "fail", 0.0), ("3.2", "manual", None), ("total", "graded", 0.0)]
    assert rows[0].message == ("my_ramp_mask is not defined: cell 2 (In [4], `def "
                               "my_ramp_mask(p, t, r)`) raised SyntaxError: invalid syntax")
    assert rows[2].max_points == 2 and "1 written exercise (3 points) to grade by hand" in (
        rows[2].message)
    unreadable = exercise_rows("bob", "bob.ipynb", edition, None, "cannot read bob.ipynb")
    assert unreadable[0].status == "error" and "cannot read bob.ipynb" in unreadable[0].message


def test_a_submission_runs_on_the_edition_s_parameters_between_the_grader_s_cells(course):
    edition = load_edition(course / "student" / "09_doubling.ipynb")
    nb = copy.deepcopy(edition.notebook)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = 'profile = "cpu"  # a student who wanted the real thing'
    prepared = prepare(nb, edition, timeout=30, check_timeout=5)
    assert len(prepared.cells) == len(nb.cells) + 2
    assert "_start_time_limit(30)" in prepared.cells[0].source
    assert "_rerun_exercises(globals(), [{'id': '9.1'" in prepared.cells[-1].source
    assert "profile = 'smoke'" in prepared.cells[1 + nb.cells.index(parameters)].source
    # Without its tag, the parameters are set by the grader's first cell instead.
    parameters.metadata["tags"] = []
    assert "profile = 'smoke'" in prepare(nb, edition, 30, 5).cells[0].source


def test_an_unusable_edition_is_named(tmp_path):
    with pytest.raises(GradingError, match="no such edition"):
        load_edition(tmp_path / "missing.ipynb")
    (tmp_path / "binary.ipynb").write_bytes(bytes(range(256)))
    with pytest.raises(GradingError, match=r"binary\.ipynb: cannot read this edition"):
        load_edition(tmp_path / "binary.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "empty.ipynb")
    with pytest.raises(GradingError, match="no graded exercise"):
        load_edition(tmp_path / "empty.ipynb")


def test_submissions_are_found_and_named_by_their_path(tmp_path):
    for name in ("a/ada.ipynb", "b/ada.ipynb", "b/.ipynb_checkpoints/ada.ipynb", "c.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = submissions([tmp_path], edition=tmp_path / "c.ipynb")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/ada.ipynb", "b/ada.ipynb"]
    assert sorted(student_names(found).values()) == ["a/ada", "b/ada"]


# --- end to end, in fresh kernels -----------------------------------------------------------


def write_submission(edition, path, stub=None, check=None, extra=None):
    nb = copy.deepcopy(edition)
    (exercise, _) = read_exercises(nb, cell_locator(path, nb))
    if stub is not None:
        nb.cells[exercise.stub].source = stub
    if check is not None:
        nb.cells[exercise.check_cell].source = check
    if extra is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(course):
    edition_path = course / "student" / "09_doubling.ipynb"
    edition = nbformat.read(edition_path, as_version=4)
    folder = course / "submissions"
    folder.mkdir()
    write_submission(edition, folder / "correct.ipynb", stub="def double(x):\n    return x + x")
    write_submission(edition, folder / "wrong.ipynb", stub="def double(x):\n    return x * x")
    write_submission(edition, folder / "faked.ipynb", stub="def double(x):\n    return x * x",
                     check='print("check_double: all 4 cases pass")')
    write_submission(edition, folder / "copied.ipynb", stub=(
        "from mychecks import double_reference as answer\n\n\ndef double(x):\n"
        "    return answer(x)"))
    write_submission(edition, folder / "broken.ipynb", stub="def double(x)\n    return x + x")
    write_submission(edition, folder / "slow.ipynb", stub="def double(x):\n    return 2 * x",
                     extra="while True:\n    pass")
    write_submission(edition, folder / "untouched.ipynb")
    (folder / "garbled.ipynb").write_bytes(b"\x00\xff not a notebook")
    # A student's own copy of the checks module is never the one the grader imports.
    (folder / "mychecks.py").write_text(CHECKS.replace("got != double_reference(x)", "False"))
    out = course / "grades.csv"
    assert main(["grade", str(edition_path), str(folder), "--out", str(out),
                 "--timeout", "20", "--check-timeout", "10"]) == 0
    with out.open(encoding="utf8") as handle:
        return {(r["student"], r["exercise"]): r for r in csv.DictReader(handle)}


def status(graded, student, exercise="9.1"):
    row = graded[(student, exercise)]
    return row["status"], row["points"]


@pytest.mark.slow
def test_five_kinds_of_submission_are_graded(graded):
    assert status(graded, "correct") == ("pass", "2")
    assert status(graded, "correct", "total") == ("graded", "2")
    assert status(graded, "wrong") == ("fail", "0")
    assert "check_double: 3 of 4 cases fail" in graded[("wrong", "9.1")]["message"]
    assert graded[("faked", "9.1")]["message"] == graded[("wrong", "9.1")]["message"]
    assert status(graded, "copied") == ("flagged", "0")
    assert "mychecks.double_reference" in graded[("copied", "9.1")]["message"]
    assert status(graded, "broken") == ("fail", "0")
    assert "SyntaxError" in graded[("broken", "9.1")]["message"]
    assert status(graded, "untouched") == ("not attempted", "0")
    assert status(graded, "correct", "9.2")[0] == "manual"


@pytest.mark.slow
def test_a_notebook_past_its_time_limit_is_still_graded(graded):
    assert status(graded, "slow") == ("pass", "2")
    total = graded[("slow", "total")]["message"]
    assert "the time limit of 20 s ran out in cell" in total and "while True" in total


@pytest.mark.slow
def test_an_unreadable_submission_does_not_stop_the_others(graded):
    assert status(graded, "garbled") == ("error", "0")
    assert "cannot read" in graded[("garbled", "9.1")]["message"]
    assert len({student for student, _ in graded}) == 8
