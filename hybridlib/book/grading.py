"""Grade a class's submissions: ``python -m hybridlib.book.coursework grade ... --out CSV``.

``EDITION`` is the notebook the students were given (a student edition; the instructor
edition works too): its exercise records (cell metadata, see
:mod:`hybridlib.book.exercises`) say which exercises there are, their points, the
function each asks for, its self-check and the library's own answer. Each submission
then runs in a fresh kernel, with a time limit:

1. its cells run in order, on the edition's parameters (the ``smoke`` profile), and a
   cell that raises does not stop the others;
2. one more cell, the grader's, reruns every exercise's self-check on the student's own
   function (:mod:`hybridlib.book.selfcheck.rerun`), whatever the submission's check
   cells say, and watches for calls into the library's answer;
3. the outcome becomes one CSV row per student and exercise, and a total row.

Statuses: ``pass`` (full points), ``fail`` (the check's message, every failing case),
``not attempted`` (the stub still raises ``NotImplementedError``), ``flagged`` (the
answer calls the library's own answer: points withheld for the instructor to review),
``manual`` (a written exercise, graded by hand), ``error`` (the submission could not be
read or run far enough to grade: the message names the cell and the error). The grader
never stops at a broken submission; it grades the next one.

The submissions are code: the grader runs them with the rights of whoever starts it.
Run it in a container or an account with nothing to lose.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from hybridlib.book.exercises import (
    CHECK_TAG,
    Exercise,
    ExerciseError,
    cell_locator,
    read_exercises,
    tags,
)
from hybridlib.book.pipeline import KERNEL, PARAMETERS_TAG, SetupPinWarning, kernel_config
from hybridlib.book.selfcheck.rerun import GRADES_MIME

__all__ = [
    "CSV_FIELDS",
    "Edition",
    "GradingError",
    "Row",
    "grade",
    "grade_submission",
    "load_edition",
    "submissions",
    "write_csv",
]

CSV_FIELDS = ("student", "exercise", "status", "points", "max_points", "message", "submission")
TOTAL = "total"
GRADER_TAG = "grader"  # the cell the grader appends; its output is the only one it reads
NOTEBOOK_TIMEOUT = 600.0  # seconds for a submission's own cells
CHECK_TIMEOUT = 60.0  # seconds for one exercise's check
INTERRUPT_GRACE = 20  # seconds a kernel gets to stop a cell after an interrupt
SHOWN = 300  # characters of an error message kept in a row
# Errors that are not a broken notebook: an unfinished stub's (its exercise is "not
# attempted") and the grader's own time limit (reported once, as such).
IGNORED_ERRORS = {"NotImplementedError", "NotebookTimeLimit"}


class GradingError(Exception):
    """The grading cannot start (an unreadable edition, no submissions); nothing is written."""


@dataclass(frozen=True)
class Edition:
    """The notebook the students were given, and its exercises."""

    path: Path
    notebook: nbformat.NotebookNode
    exercises: tuple[Exercise, ...]

    @property
    def source(self) -> str:
        """The chapter it was made from (``notebooks/03_diffstride.py``), or its own path."""
        return (self.notebook.metadata.get("hybridlib") or {}).get("source", str(self.path))

    @property
    def parameters(self) -> str | None:
        """The source of its parameters cell (the profile the submissions run with)."""
        for cell in self.notebook.cells:
            if cell.cell_type == "code" and PARAMETERS_TAG in tags(cell):
                return cell.source
        return None


@dataclass(frozen=True)
class Row:
    """One line of the grades CSV."""

    student: str
    exercise: str
    status: str
    points: float | None
    max_points: float
    message: str
    submission: str

    def as_csv(self) -> dict:
        return {"student": self.student, "exercise": self.exercise, "status": self.status,
                "points": _number(self.points), "max_points": _number(self.max_points),
                "message": self.message, "submission": self.submission}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def load_edition(path: Path) -> Edition:
    """Read the edition (``.ipynb``; a chapter's ``.py`` source gives its student edition).

    Raises:
        GradingError: naming the file, when it cannot be read or has no graded exercise.
    """
    path = Path(path)
    if not path.is_file():
        raise GradingError(f"{path}: no such edition (a student edition .ipynb from "
                           "`python -m hybridlib.book.coursework student`)")
    try:
        if path.suffix == ".py":
            from hybridlib.book.coursework import student_edition  # it imports this module

            with warnings.catch_warnings():  # what the setup cell pins matters not here
                warnings.simplefilter("ignore", SetupPinWarning)
                nb = student_edition(path)
        else:
            nb = nbformat.read(path, as_version=4)
        exercises = read_exercises(nb, cell_locator(path, nb))
    except ExerciseError as err:
        raise GradingError(str(err)) from err
    except Exception as err:  # not JSON, not a notebook, binary
        raise GradingError(f"{path}: cannot read this edition: {type(err).__name__}: "
                           f"{_short(str(err))}") from err
    if not any(e.graded for e in exercises):
        raise GradingError(f"{path}: this notebook has no graded exercise (no statement cell "
                           "whose 'exercise' metadata names a function and a check)")
    return Edition(path, nb, tuple(exercises))


def submissions(paths: Iterable[Path], edition: Path | None = None) -> list[Path]:
    """The ``.ipynb`` files among ``paths``, folders searched recursively, in sorted order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    skip = Path(edition).resolve() if edition else None
    unique = []
    for path in found:
        if path.resolve() != skip and path not in unique:
            unique.append(path)
    return unique


def student_names(paths: Sequence[Path]) -> dict[Path, str]:
    """A name per submission: its path below the folder all of them share, without ``.ipynb``."""
    resolved = [p.resolve() for p in paths]
    if not resolved:
        return {}
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    return {path: str(r.relative_to(common).with_suffix(""))
            for path, r in zip(paths, resolved)}


def _plural(n: float, word: str) -> str:
    return f"{_number(n)} {word}{'' if n == 1 else 's'}"


def _short(text: str, limit: int = SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class CellError:
    """A cell of a submission that raised."""

    index: int
    count: int | None
    ename: str
    evalue: str
    source: str

    def describe(self) -> str:
        ran = f"In [{self.count}], " if self.count is not None else ""
        return (f"cell {self.index + 1} ({ran}`{_first_line(self.source)}`) raised "
                f"{self.ename}: {_short(self.evalue, 200)}")


@dataclass
class Execution:
    """What running a submission gave: the grader cell's outcomes, the cells that raised."""

    outcomes: dict[str, dict] | None = None  # by exercise id; None: the grader cell gave none
    errors: list[CellError] = field(default_factory=list)
    stopped: str | None = None  # why the submission's cells did not all run


def prepare(nb: nbformat.NotebookNode, edition: Edition, timeout: float, check_timeout: float):
    """The notebook to execute: the submission on the edition's parameters, between two
    cells of the grader's (the first starts the time limit, the last grades)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = ("from hybridlib.book.selfcheck.rerun import start_time_limit as _start_time_limit\n"
             f"_start_time_limit({timeout!r})")
    parameters = edition.parameters
    if parameters is not None:
        cells = [c for c in nb.cells if c.cell_type == "code" and PARAMETERS_TAG in tags(c)]
        if cells:
            cells[0].source = parameters
        else:  # the tag was lost: the grader's first cell sets them, cell numbers unchanged
            start += "\n" + parameters
    records = [e.record() for e in edition.exercises if e.graded]
    source = (
        "from hybridlib.book.selfcheck.rerun import rerun_exercises as _rerun_exercises\n"
        f"_rerun_exercises(globals(), {records!r}, {check_timeout!r})"
    )
    nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [GRADER_TAG]}))
    nb.cells.insert(0, nbformat.v4.new_code_cell(start, metadata={"tags": [GRADER_TAG]}))
    return nb


def run(nb: nbformat.NotebookNode, edition: Edition, timeout: float, check_timeout: float,
        kernel: str = KERNEL) -> Execution:
    """Execute ``nb`` (from :func:`prepare`) in a fresh kernel; collect what it gave.

    The submission's cells share ``timeout`` seconds, kept by an alarm inside the kernel:
    the cell running when it rings stops, the rest are skipped, and the grader's cell
    still grades what was defined by then. Only a kernel that ignores the alarm (stuck in
    native code) is given up on, ``INTERRUPT_GRACE`` seconds later. Cell numbers in the
    result are the submission's own (1 is its first cell).
    """
    execution = Execution()
    grader_index = len(nb.cells) - 1
    check_names = {e.check_name for e in edition.exercises if e.graded} | {"report"}
    with tempfile.TemporaryDirectory(prefix="hybridlib-grade-") as scratch:
        work = Path(scratch) / "work"
        work.mkdir()
        # The instructor's checks module sits beside the edition: the kernel imports that
        # copy, never one a student handed in.
        path = os.pathsep.join(p for p in (str(edition.path.parent.resolve()),
                                           os.environ.get("PYTHONPATH")) if p)
        client = NotebookClient(
            nb, kernel_name=kernel, allow_errors=True,
            resources={"metadata": {"path": str(work)}}, config=kernel_config(scratch),
        )
        try:
            with client.setup_kernel(env={**os.environ, "PYTHONPATH": path}):
                deadline = time.monotonic() + timeout
                for index, cell in enumerate(nb.cells[:grader_index]):
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        execution.stopped = (f"the time limit of {timeout:g} s ran out before "
                                             f"cell {index}; the cells from there on did not "
                                             "run")
                        break
                    client.timeout = math.ceil(remaining + INTERRUPT_GRACE)
                    client.execute_cell(cell, index)
                    if any(o.get("ename") == "NotebookTimeLimit" for o in cell.outputs):
                        execution.stopped = (f"the time limit of {timeout:g} s ran out in cell "
                                             f"{index} (`{_first_line(cell.source)}`); the "
                                             "cells after it did not run")
                        break
                client.timeout = math.ceil(check_timeout * max(1, len(edition.exercises))
                                           + INTERRUPT_GRACE + 60)
                client.execute_cell(nb.cells[grader_index], grader_index)
        except CellTimeoutError:
            execution.stopped = (f"the kernel did not stop at the time limit of {timeout:g} s "
                                 "(stuck in native code?)")
        except DeadKernelError:
            ran = [i for i, c in enumerate(nb.cells) if c.get("execution_count") is not None]
            where = f" in cell {ran[-1]}" if ran and 0 < ran[-1] < grader_index else ""
            execution.stopped = f"the kernel died{where} (a crash, or the notebook ended it)"
        except Exception as err:  # the kernel did not start, or broke
            execution.stopped = f"the kernel failed: {type(err).__name__}: {_short(str(err))}"
    for index, cell in enumerate(nb.cells[1:grader_index], start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error" or output.get("ename") in IGNORED_ERRORS:
                continue
            # A failed check in the student's own check cell is the check's verdict,
            # which the grader reruns; it is not a broken notebook.
            is_check = CHECK_TAG in tags(cell) or any(
                f"{name}(" in cell.source for name in check_names)
            if is_check and output.get("ename") == "AssertionError":
                continue
            execution.errors.append(CellError(index - 1, cell.get("execution_count"),
                                              output.get("ename", "?"),
                                              output.get("evalue", ""), cell.source))
    for output in nb.cells[grader_index].get("outputs", []):
        data = output.get("data", {})
        if GRADES_MIME in data:
            outcomes = data[GRADES_MIME]
            if isinstance(outcomes, str):
                outcomes = json.loads(outcomes)
            execution.outcomes = {o["id"]: o for o in outcomes}
        elif output.get("output_type") == "error" and not execution.stopped:
            execution.stopped = (f"the grader's cell raised {output.get('ename')}: "
                                 f"{_short(output.get('evalue', ''))}")
    return execution


def _first_line(source: str) -> str:
    return _short(next((line.strip() for line in source.splitlines() if line.strip()), ""), 60)


def failure_summary(exercise: Exercise, outcome: dict) -> str:
    """Every failing case on one line each, first line of its message only (a CSV cell)."""
    failures = outcome["failures"]
    lines = [f"{exercise.check_name}: {len(failures)} of {outcome['cases']} cases fail"]
    for case, message in failures:
        first = message.strip().splitlines()[0] if message.strip() else ""
        lines.append(f"case '{case}' fails: {_short(first)}")
    return "\n".join(lines)


def _defining_errors(exercise: Exercise, execution: Execution) -> list[CellError]:
    """The cells that raised while defining the exercise's function."""
    name = exercise.function or ""
    return [e for e in execution.errors
            if f"def {name}(" in e.source or f"{name} =" in e.source]


def exercise_rows(student: str, submission: str, edition: Edition,
                  execution: Execution | None, problem: str | None) -> list[Row]:
    """The rows of one submission: one per exercise, then the total."""
    rows: list[Row] = []
    for exercise in edition.exercises:
        row = dict(student=student, exercise=exercise.id, max_points=exercise.points,
                   submission=submission)
        if not exercise.graded:
            rows.append(Row(**row, status="manual", points=None,
                            message="written exercise: grade by hand (the model answer is in "
                                    "the instructor edition)"))
            continue
        outcome = (execution.outcomes or {}).get(exercise.id) if execution else None
        if outcome is None:
            why = problem or (execution.stopped if execution else None) or "no outcome"
            rows.append(Row(**row, status="error", points=0.0, message=f"not graded: {why}"))
            continue
        status, message = outcome["status"], outcome["message"]
        if outcome.get("failures"):
            message = failure_summary(exercise, outcome)
        if status == "missing":
            status = "fail"
            causes = _defining_errors(exercise, execution)
            if causes:
                message += ": " + "; ".join(c.describe() for c in causes)
            elif execution.stopped:
                message += f" ({execution.stopped})"
        if outcome["is_reference"] or outcome["reference_calls"]:
            called = ", ".join(outcome["reference_calls"]) or " or ".join(exercise.reference)
            what = "is" if outcome["is_reference"] else "calls"
            rows.append(Row(**row, status="flagged", points=0.0, message=(
                f"{exercise.function} {what} {called}, the reference answer to this "
                f"exercise; points withheld for review (its check alone: {status})")))
            continue
        points = exercise.points if status == "pass" else 0.0
        rows.append(Row(**row, status=status, points=points, message=message))
    graded = [r for r, e in zip(rows, edition.exercises) if e.graded]
    manual = [e for e in edition.exercises if not e.graded]
    counts: dict[str, int] = {}
    for r in graded:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = [", ".join(f"{n} {status}" for status, n in counts.items())]
    if manual:
        points = sum(e.points for e in manual)
        summary.append(f"{_plural(len(manual), 'written exercise')} "
                       f"({_plural(points, 'point')}) to grade by hand")
    if problem:
        summary.append(problem)
    if execution is not None:
        if execution.stopped:
            summary.append(execution.stopped)
        summary += [e.describe() for e in execution.errors]
    rows.append(Row(student=student, exercise=TOTAL,
                    status="error" if any(r.status == "error" for r in graded) else "graded",
                    points=sum(r.points or 0.0 for r in graded),
                    max_points=sum(e.points for e in edition.exercises if e.graded),
                    message="; ".join(s for s in summary if s), submission=submission))
    return rows


def grade_submission(path: Path, student: str, edition: Edition,
                     timeout: float = NOTEBOOK_TIMEOUT, check_timeout: float = CHECK_TIMEOUT,
                     kernel: str = KERNEL) -> list[Row]:
    """Grade one submission; a problem with it becomes its rows' message, never an exception."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, binary, not a notebook, unreadable
        problem = f"cannot read {path}: {type(err).__name__}: {_short(str(err))}"
        return exercise_rows(student, str(path), edition, None, problem)
    source = (nb.metadata.get("hybridlib") or {}).get("source")
    note = None
    if source and source != edition.source:
        note = f"this notebook was made from {source}, the edition from {edition.source}"
    execution = run(prepare(nb, edition, timeout, check_timeout), edition, timeout,
                    check_timeout, kernel)
    return exercise_rows(student, str(path), edition, execution, note)


def write_csv(rows: Sequence[Row], out: Path) -> Path:
    """Write ``rows`` to ``out`` (UTF-8, a header line, one row per student and exercise)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(row.as_csv() for row in rows)
    return out


def grade(edition_path: Path, paths: Sequence[Path], out: Path,
          timeout: float = NOTEBOOK_TIMEOUT, check_timeout: float = CHECK_TIMEOUT,
          kernel: str = KERNEL, progress=print) -> list[Row]:
    """Grade every submission among ``paths`` against the edition; write the CSV ``out``.

    Raises:
        GradingError: when the edition cannot be read or no submission is found.
    """
    edition = load_edition(edition_path)
    found = submissions(paths, edition_path)
    if not found:
        raise GradingError("no submissions (.ipynb files, or folders holding them) among "
                           + ", ".join(map(str, paths)))
    names = student_names(found)
    rows: list[Row] = []
    for number, path in enumerate(found, 1):
        start = time.perf_counter()
        student_rows = grade_submission(path, names[path], edition, timeout, check_timeout,
                                        kernel)
        rows += student_rows
        total = student_rows[-1]
        marks = ", ".join(f"{r.exercise} {r.status}" for r in student_rows[:-1])
        progress(f"[{number}/{len(found)}] {names[path]}: {_number(total.points)}/"
                 f"{_number(total.max_points)} ({marks}) in {time.perf_counter() - start:.0f} s")
    write_csv(rows, out)
    return rows
