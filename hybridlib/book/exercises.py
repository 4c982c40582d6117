"""A chapter's exercises, read from its cells' metadata: what the editions and the grader act on.

An exercise starts at its statement, a markdown cell whose metadata holds the record
``exercise = {"id": "1.1", "points": 2, ...}`` (in a py:percent chapter:
``# %% [markdown] exercise={"id": "1.1", "points": 2}``), and owns the cells after it up
to the next statement. Nothing is parsed from the prose. A coding exercise also names

* ``function``: the function the student writes, defined by the exercise's cell tagged
  ``exercise-stub``;
* ``check``: the self-check, as a dotted path (``hybridlib.book.selfcheck.check_ramp_mask``,
  or ``mychecks.check_energy`` for an instructor's module beside the notebooks), called on
  the function by the exercise's cell tagged ``exercise-check``;
* ``reference`` (optional): dotted paths of the library's own answers (a function, or a
  class for all its methods); the grader flags an answer that calls one of them.

An exercise without ``check`` is a written one, graded by hand. Every exercise has its
worked solution in cells tagged ``solution``.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHECK_TAG",
    "EXERCISE_KEY",
    "SOLUTION_TAG",
    "STUB_TAG",
    "Exercise",
    "ExerciseError",
    "cell_locator",
    "exercise_warnings",
    "read_exercises",
    "resolve",
]

EXERCISE_KEY = "exercise"  # the cell metadata key of a statement
SOLUTION_TAG = "solution"
STUB_TAG = "exercise-stub"
CHECK_TAG = "exercise-check"
RECORD_KEYS = {"id", "points", "function", "check", "reference"}
# What a statement written before exercises had metadata looks like; only for a warning.
LOOKS_LIKE_A_STATEMENT = re.compile(r"^\s*\*\*Exercise\s+\d", re.MULTILINE)


class ExerciseError(ValueError):
    """A chapter's exercise cells break the convention; the message names the file and cell."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter (cell indices are those of the notebook it was read from)."""

    id: str
    points: float
    statement: int
    cells: tuple[int, ...]  # the statement and the cells it owns
    function: str | None = None
    check: str | None = None
    reference: tuple[str, ...] = ()
    stub: int | None = None
    check_cell: int | None = None
    solutions: tuple[int, ...] = ()

    @property
    def graded(self) -> bool:
        """Whether a self-check grades it (otherwise it is a written exercise)."""
        return self.check is not None

    @property
    def check_module(self) -> str:
        return self.check.rpartition(".")[0] if self.check else ""

    @property
    def check_name(self) -> str:
        return self.check.rpartition(".")[2] if self.check else ""

    def record(self) -> dict:
        """The exercise as plain data (what the grader hands to the kernel)."""
        return {"id": self.id, "points": self.points, "function": self.function,
                "check": self.check, "reference": list(self.reference)}


def cell_locator(source: Path | str, nb=None) -> Callable[[int], str]:
    """``index -> "notebooks/01_x.py, cell 58 (line 745)"``, for error messages.

    For a py:percent file the line of the cell's ``# %%`` marker is given too, when the
    markers and the cells line up (they do for every chapter).
    """
    source = Path(source)
    lines: list[int] = []
    if source.suffix == ".py" and source.is_file():
        try:
            text = source.read_text(encoding="utf8")
        except (OSError, UnicodeDecodeError):
            text = ""
        lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("# %%")]
        if nb is not None and len(lines) != len(nb.cells):
            lines = []

    def where(index: int) -> str:
        line = f" (line {lines[index]})" if index < len(lines) else ""
        return f"{source}, cell {index + 1}{line}"

    return where


def tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _record(cell, where: str) -> dict:
    record = cell.metadata[EXERCISE_KEY]
    if not isinstance(record, dict):
        raise ExerciseError(f"{where}: the {EXERCISE_KEY!r} metadata must be a mapping, "
                            f"got {record!r}")
    unknown = sorted(set(record) - RECORD_KEYS)
    if unknown:
        raise ExerciseError(f"{where}: unknown key(s) {', '.join(unknown)} in the "
                            f"{EXERCISE_KEY!r} metadata (known: {', '.join(sorted(RECORD_KEYS))})")
    if cell.cell_type != "markdown":
        raise ExerciseError(f"{where}: the {EXERCISE_KEY!r} metadata belongs on the "
                            "exercise's statement, a markdown cell")
    if not isinstance(record.get("id"), str) or not record["id"].strip():
        raise ExerciseError(f"{where}: the exercise needs an \"id\" (a string such as \"1.1\")")
    points = record.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise ExerciseError(f"{where}: exercise {record['id']} needs \"points\", a positive "
                            f"number, got {points!r}")
    function, check = record.get("function"), record.get("check")
    if (function is None) != (check is None):
        raise ExerciseError(f"{where}: exercise {record['id']}: a coding exercise names both "
                            "\"function\" and \"check\", a written one neither")
    if function is not None and not (isinstance(function, str) and function.isidentifier()):
        raise ExerciseError(f"{where}: exercise {record['id']}: \"function\" must be a "
                            f"Python name, got {function!r}")
    dotted = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
    if check is not None and not (isinstance(check, str) and dotted.match(check)):
        raise ExerciseError(f"{where}: exercise {record['id']}: \"check\" must be a dotted "
                            f"path such as hybridlib.book.selfcheck.check_ramp_mask, got {check!r}")
    reference = record.get("reference", [])
    if isinstance(reference, str):
        reference = [reference]
    if not all(isinstance(r, str) and dotted.match(r) for r in reference):
        raise ExerciseError(f"{where}: exercise {record['id']}: \"reference\" must list dotted "
                            f"paths such as hybridlib.diffstride.ramp_mask, got {reference!r}")
    if reference and check is None:
        raise ExerciseError(f"{where}: exercise {record['id']}: \"reference\" is for coding "
                            "exercises (with a check)")
    return {**record, "reference": tuple(reference)}


def _defines(source: str, name: str) -> bool:
    """Whether ``source`` defines ``name`` at its top level (a def, or an assignment)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
    return False


def calls(source: str, check: str, function: str) -> bool:
    """Whether ``source`` runs ``check`` on ``function``: ``check(function)`` (the book) or
    ``report(check, function)`` (a student edition)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        args = [getattr(a, "id", None) or getattr(a, "attr", None) for a in node.args]
        if (name == check and args[:1] == [function]) or args[:2] == [check, function]:
            return True
    return False


def read_exercises(nb, where: Callable[[int], str]) -> list[Exercise]:
    """The exercises of notebook ``nb``, checked against the convention.

    ``where(index)`` names a cell in messages (see :func:`cell_locator`).

    Raises:
        ExerciseError: naming the file and the cell, for a malformed record, a duplicate
            id, a coding exercise without its stub or check cell, or a stub or check cell
            outside any exercise.
    """
    starts = [i for i, c in enumerate(nb.cells) if EXERCISE_KEY in c.metadata]
    for index, cell in enumerate(nb.cells[: starts[0] if starts else len(nb.cells)]):
        for tag in (STUB_TAG, CHECK_TAG):
            if tag in tags(cell):
                raise ExerciseError(
                    f"{where(index)}: tagged {tag!r}, but no exercise statement (a markdown "
                    f"cell with {EXERCISE_KEY!r} metadata) comes before it")
    exercises: list[Exercise] = []
    seen: dict[str, int] = {}
    for number, start in enumerate(starts):
        record = _record(nb.cells[start], where(start))
        ident = record["id"]
        if ident in seen:
            raise ExerciseError(f"{where(start)}: exercise id {ident!r} is used already by "
                                f"{where(seen[ident])}")
        seen[ident] = start
        end = starts[number + 1] if number + 1 < len(starts) else len(nb.cells)
        owned = tuple(range(start, end))
        stubs = [i for i in owned if STUB_TAG in tags(nb.cells[i])]
        checks = [i for i in owned if CHECK_TAG in tags(nb.cells[i])]
        solutions = tuple(i for i in owned if SOLUTION_TAG in tags(nb.cells[i]))
        function, check = record.get("function"), record.get("check")
        if function is None:
            for i in stubs + checks:
                raise ExerciseError(f"{where(i)}: tagged {', '.join(tags(nb.cells[i]))}, but "
                                    f"exercise {ident} is a written one (its record names no "
                                    "\"function\" and \"check\")")
        else:
            if len(stubs) != 1 or not _defines(nb.cells[stubs[0]].source, function):
                raise ExerciseError(
                    f"{where(start)}: exercise {ident} needs exactly one cell tagged "
                    f"{STUB_TAG!r} that defines {function}() (found {len(stubs)} stub cell(s))")
            check_name = check.rpartition(".")[2]
            if len(checks) != 1 or not calls(nb.cells[checks[0]].source, check_name, function):
                raise ExerciseError(
                    f"{where(start)}: exercise {ident} needs exactly one code cell tagged "
                    f"{CHECK_TAG!r} that calls {check_name}({function}) (found "
                    f"{len(checks)} such tagged cell(s))")
        exercises.append(Exercise(
            id=ident, points=record["points"], statement=start, cells=owned,
            function=function, check=check, reference=record["reference"],
            stub=stubs[0] if stubs else None, check_cell=checks[0] if checks else None,
            solutions=solutions))
    return exercises


def exercise_warnings(nb, exercises: Sequence[Exercise], where: Callable[[int], str]) -> list[str]:
    """What is legal but probably a mistake: an exercise without a solution, a statement
    without metadata."""
    warnings = [
        f"{where(e.statement)}: exercise {e.id} has no cell tagged {SOLUTION_TAG!r}: the "
        "instructor edition has no model answer for it"
        for e in exercises if not e.solutions
    ]
    for index, cell in enumerate(nb.cells):
        if (cell.cell_type == "markdown" and EXERCISE_KEY not in cell.metadata
                and LOOKS_LIKE_A_STATEMENT.search(cell.source)):
            warnings.append(
                f"{where(index)}: reads like an exercise statement but has no "
                f"{EXERCISE_KEY!r} metadata, so the editions and the grader do not know it "
                "(see the 'For instructors' page)")
    return warnings


def resolve(path: str):
    """The object a dotted path names: ``hybridlib.diffstride.ramp_mask``, ``pkg.Class.method``.

    The longest importable prefix is the module; the rest are attributes.

    Raises:
        ImportError: when no prefix imports or an attribute is missing.
    """
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:split])
        try:
            obj = importlib.import_module(candidate)
        except ModuleNotFoundError as err:
            # Not a module: try a shorter prefix. A module that imports but lacks one of
            # its own dependencies is an error to show, not a prefix to skip.
            if err.name and not (candidate + ".").startswith(err.name + "."):
                raise
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError as err:
            raise ImportError(f"cannot resolve {path}: {err}") from None
        return obj
    raise ImportError(f"cannot resolve {path}: no module of it imports")
