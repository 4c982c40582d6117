"""The machinery every self-check shares: named cases, their outcome, and a verdict cell.

A self-check is a function ``check_<thing>(fn, *, every_case=False)`` that builds a list
of named cases, each a thunk that calls the student's ``fn`` and raises
``AssertionError`` when the answer is wrong, and hands them to :func:`run_cases`:

* by default the first failing case raises ``AssertionError("<check>: case '<name>'
  fails: <message>")``, which stops a notebook where it stands (the book's own build
  wants that: a broken solution fails the chapter);
* with ``every_case=True`` every case runs and the error lists all those that fail, so a
  student (or the grader) sees the whole picture at once.

Either way the error is a :class:`CheckFailed`, an ``AssertionError`` that carries the
:class:`CheckResult`. A passing check returns the :class:`CheckResult`, whose text reads
"<check>: all N cases pass". An unfinished stub's ``NotImplementedError`` propagates
unchanged, so the student sees the stub's hint.

:func:`report` is what the student editions' check cells call: every case, and a verdict
shown below the cell instead of an exception, so that "Run All" goes on to the next
exercise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["CheckFailed", "CheckResult", "NotAttempted", "report", "run_cases"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a self-check: its name, the cases it ran and those that failed.

    ``failures`` holds ``(case, message)`` pairs; it is empty when the check passed.
    """

    check: str
    cases: tuple[str, ...]
    failures: tuple[tuple[str, str], ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        if self.passed:
            return f"{self.check}: all {len(self.cases)} cases pass"
        lines = [f"{self.check}: {len(self.failures)} of {len(self.cases)} cases fail"]
        lines += [f"  case '{case}' fails: {message}" for case, message in self.failures]
        return "\n".join(lines)

    __repr__ = __str__


class CheckFailed(AssertionError):
    """A self-check found a wrong answer; ``result`` lists the cases that failed."""

    def __init__(self, message: str, result: CheckResult) -> None:
        super().__init__(message)
        self.result = result


def _failure_message(err: Exception) -> str:
    if isinstance(err, AssertionError):
        return str(err)
    # Any other exception is the student's function crashing on this case.
    return f"the function raised {type(err).__name__}: {err}"


def run_cases(
    check: str,
    cases: Sequence[tuple[str, Callable[[], None]]],
    every_case: bool = False,
) -> CheckResult:
    """Run ``cases`` (pairs ``(name, thunk)``) in order; return a :class:`CheckResult`.

    A thunk signals a wrong answer with ``AssertionError``; any other exception raised
    by the student's code counts as a failure of the case that raised it. An unfinished
    stub's ``NotImplementedError`` propagates unchanged.

    Args:
        check: the check's name, which starts every message.
        cases: the named cases.
        every_case: run every case and report all failures, instead of stopping at the
            first.

    Raises:
        CheckFailed: naming the first failing case (``"<check>: case '<name>' fails:
            <message>"``), or with ``every_case`` all of them.
    """
    names = tuple(name for name, _ in cases)
    failures: list[tuple[str, str]] = []
    for name, thunk in cases:
        try:
            thunk()
        except NotImplementedError:
            raise
        except Exception as err:
            failures.append((name, _failure_message(err)))
            if not every_case:
                result = CheckResult(check, names, tuple(failures))
                # Chained for a crash, so the traceback shows where the function broke.
                cause = None if isinstance(err, AssertionError) else err
                raise CheckFailed(f"{check}: case '{name}' fails: {failures[0][1]}",
                                  result) from cause
    result = CheckResult(check, names, tuple(failures))
    if failures:
        raise CheckFailed(str(result), result)
    return result


@dataclass(frozen=True)
class NotAttempted:
    """The verdict on an exercise whose stub still raises ``NotImplementedError``."""

    check: str
    hint: str

    passed = False

    def __str__(self) -> str:
        return f"{self.check}: not attempted yet ({self.hint})"

    __repr__ = __str__


def accepts_every_case(check: Callable) -> bool:
    """Whether ``check`` takes the ``every_case`` keyword (checks written before it do not)."""
    try:
        parameters = inspect.signature(check).parameters
    except (TypeError, ValueError):
        return False
    return "every_case" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def report(check: Callable, fn: Callable) -> CheckResult | NotAttempted:
    """Run ``check(fn)`` on every case and return the verdict instead of raising.

    The student editions' check cells call this: the verdict is shown below the cell,
    passing, failing (every failing case listed) or not attempted, and a wrong answer
    does not stop "Run All", so the later exercises are checked too.
    """
    name = getattr(check, "__name__", "check")
    try:
        return check(fn, every_case=True) if accepts_every_case(check) else check(fn)
    except NotImplementedError as err:
        return NotAttempted(name, str(err))
    except CheckFailed as err:
        return err.result
    except AssertionError as err:  # a check written without run_cases
        return CheckResult(name, ("?",), (("?", str(err)),))
    except Exception as err:  # the student's function broke the check outside its cases
        return CheckResult(name, ("?",), (("?", _failure_message(err)),))
