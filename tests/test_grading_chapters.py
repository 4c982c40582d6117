"""The grader on a real chapter: five submissions made from chapter 3's student edition.

The submissions are written by editing the student edition the way students do (a
stub's body replaced, a check cell replaced), never by hand: a correct one (the book's
own solutions), a wrong one, one whose check cell fakes a pass, one that calls the
library's own answers, and one that does not execute.
"""

from __future__ import annotations

import copy
import csv

import nbformat
import pytest

from hybridlib.book.coursework import main, student_edition
from hybridlib.book.exercises import CHECK_TAG, STUB_TAG, cell_locator, read_exercises
from hybridlib.book.pipeline import NOTEBOOK_DIR, read_notebook

CHAPTER = NOTEBOOK_DIR / "03_diffstride.py"

WRONG_RAMP = '''def my_ramp_mask(positions, threshold, smoothness):
    # forgets the upper clip and the hard box
    return (smoothness + threshold - positions) / max(smoothness, 1e-9)
'''
COPIED_RAMP = '''from hybridlib.diffstride import ramp_mask as library_mask


def my_ramp_mask(positions, threshold, smoothness):
    return library_mask(positions, threshold, smoothness)
'''
COPIED_LENGTH = '''def my_output_length(n, stride, smoothness=4.0):
    layer = DiffStride2d(stride, smoothness=smoothness)
    return layer(torch.zeros(1, 1, n, n, dtype=torch.float64)).shape[-1]
'''
BROKEN_RAMP = '''def my_ramp_mask(positions, threshold, smoothness):
    return torch.clamp((smoothness + threshold - positions) / smoothness, 0.0, 1.0
'''
FAKE_CHECK = 'print("check_ramp_mask: all 9 cases pass")\n'


def solutions() -> dict[str, str]:
    """The book's solution code per coding exercise, from the chapter's source."""
    nb = read_notebook(CHAPTER, setup=False)
    found = {}
    for exercise in read_exercises(nb, cell_locator(CHAPTER, nb)):
        if exercise.graded:
            code = [nb.cells[i].source for i in exercise.solutions
                    if nb.cells[i].cell_type == "code"]
            found[exercise.function] = "\n\n\n".join(code)
    return found


def submission(edition: nbformat.NotebookNode, answers: dict[str, str],
               checks: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The edition with the stubs of ``answers`` (by function) and some check cells replaced."""
    nb = copy.deepcopy(edition)
    where = cell_locator("edition", nb)
    for exercise in read_exercises(nb, where):
        if exercise.function in answers:
            stub = nb.cells[exercise.stub]
            assert STUB_TAG in stub.metadata["tags"]
            stub.source = answers[exercise.function]
        if checks and exercise.function in checks:
            cell = nb.cells[exercise.check_cell]
            assert CHECK_TAG in cell.metadata["tags"]
            cell.source = checks[exercise.function]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grading")
    edition = student_edition(CHAPTER)
    edition_path = folder / "student" / "03_diffstride.ipynb"
    edition_path.parent.mkdir()
    nbformat.write(edition, edition_path)
    right = solutions()
    submissions = {
        "correct": submission(edition, right),
        "wrong": submission(edition, {**right, "my_ramp_mask": WRONG_RAMP}),
        "faked_check": submission(edition, {**right, "my_ramp_mask": WRONG_RAMP},
                                  checks={"my_ramp_mask": FAKE_CHECK}),
        "copied_reference": submission(edition, {**right, "my_ramp_mask": COPIED_RAMP,
                                                 "my_output_length": COPIED_LENGTH}),
        "broken": submission(edition, {**right, "my_ramp_mask": BROKEN_RAMP}),
    }
    (folder / "submissions").mkdir()
    for name, nb in submissions.items():
        nbformat.write(nb, folder / "submissions" / f"{name}.ipynb")
    out = folder / "grades.csv"
    assert main(["grade", str(edition_path), str(folder / "submissions"), "--out", str(out),
                 "--timeout", "300"]) == 0
    with out.open(encoding="utf8") as handle:
        rows = list(csv.DictReader(handle))
    print(out.read_text(encoding="utf8"))  # the grader's CSV, for the record (pytest -s)
    return {(r["student"], r["exercise"]): r for r in rows}


@pytest.mark.slow
def test_the_correct_submission_gets_every_point(graded):
    for exercise in ("3.1", "3.3", "3.4"):
        row = graded[("correct", exercise)]
        assert row["status"] == "pass", row
        assert row["points"] == row["max_points"]
    assert graded[("correct", "3.2")]["status"] == "manual"
    total = graded[("correct", "total")]
    assert total["points"] == total["max_points"] == "7"
    assert "raised" not in total["message"], total["message"]


@pytest.mark.slow
def test_a_wrong_answer_fails_with_every_failing_case(graded):
    row = graded[("wrong", "3.1")]
    assert (row["status"], row["points"]) == ("fail", "0")
    assert "check_ramp_mask:" in row["message"] and "of 9 cases fail" in row["message"]
    assert row["message"].count("fails:") >= 2  # every case, not only the first
    assert graded[("wrong", "3.3")]["status"] == "pass"
    assert graded[("wrong", "total")]["points"] == "5"


@pytest.mark.slow
def test_a_faked_check_cell_does_not_pass(graded):
    assert graded[("faked_check", "3.1")]["status"] == "fail"
    assert graded[("faked_check", "3.1")]["message"] == graded[("wrong", "3.1")]["message"]


@pytest.mark.slow
def test_an_answer_that_calls_the_library_is_flagged(graded):
    ramp = graded[("copied_reference", "3.1")]
    assert (ramp["status"], ramp["points"]) == ("flagged", "0")
    assert "hybridlib.diffstride.ramp_mask" in ramp["message"]
    length = graded[("copied_reference", "3.3")]
    assert length["status"] == "flagged" and "DiffStride2d" in length["message"]
    # The book's own answer to 3.4 uses spectral_output_size, which is allowed.
    assert graded[("copied_reference", "3.4")]["status"] == "pass"


@pytest.mark.slow
def test_a_broken_submission_is_named_with_its_cell_and_error(graded):
    row = graded[("broken", "3.1")]
    assert row["status"] == "fail"
    assert "my_ramp_mask is not defined" in row["message"]
    assert "SyntaxError" in row["message"] and "cell " in row["message"]
    assert "def my_ramp_mask" in row["message"]
    # ... and it stops nothing: its other exercises, and the students after it, are graded.
    assert graded[("broken", "3.3")]["status"] == "pass"
    assert "SyntaxError" in graded[("broken", "total")]["message"]
    assert {student for student, _ in graded} == {
        "correct", "wrong", "faked_check", "copied_reference", "broken"}
