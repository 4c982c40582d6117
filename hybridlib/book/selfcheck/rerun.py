"""What the grader runs inside a submission's kernel, after the submission's own cells.

:func:`rerun_exercises` takes each exercise's record (see :mod:`hybridlib.book.exercises`),
finds the student's function by name in the notebook's namespace, and runs the
exercise's self-check on it with ``every_case=True``, whatever the submission's own
check cells printed. It also watches, while the check runs, for calls into the
library's own answer (the record's ``reference``) made from inside the student's
function: ``my_ramp_mask = lambda p, t, r: ramp_mask(p, t, r)`` passes its check, and is
flagged. The outcomes go back to the grader as one display output of MIME type
:data:`GRADES_MIME`, which only the grader's own cell produces.

This module runs in the student's kernel, so it trusts nothing there but the modules it
imports itself: the checks are looked up by their dotted paths, not by the names the
notebook may have redefined.
"""

from __future__ import annotations

import functools
import inspect
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import CodeType, FunctionType

from hybridlib.book.exercises import resolve
from hybridlib.book.selfcheck.core import CheckFailed, accepts_every_case

__all__ = [
    "GRADES_MIME",
    "NotebookTimeLimit",
    "reference_codes",
    "rerun",
    "rerun_exercises",
    "start_time_limit",
    "watch_calls",
]

GRADES_MIME = "application/vnd.hybridlib.grades+json"


class NotebookTimeLimit(BaseException):
    """The grader's time limit for a submission's cells ran out (:func:`start_time_limit`)."""


def start_time_limit(seconds: float) -> None:
    """Stop the submission's cells after ``seconds`` with :class:`NotebookTimeLimit`.

    The grader's first cell calls it: an alarm in the kernel interrupts a cell that loops
    forever where the kernel stands, so the grader's own cell still runs afterwards on
    what was defined. (An interrupt sent from outside would race the grader's reading of
    the kernel's messages.) A ``BaseException``, which a student's ``except Exception``
    does not swallow.
    """
    if not hasattr(signal, "setitimer"):  # not Unix: the grader's outer limit still holds
        return

    def expire(signum, frame):
        raise NotebookTimeLimit(f"the grader's time limit of {seconds:g} s ran out")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


class CheckTimeLimit(BaseException):
    """A check ran past its time limit.

    A ``BaseException``, so that a check's ``except Exception`` (which reports the
    student's crashes per case) does not swallow it and start the next case.
    """


def _functions_of(obj) -> Iterator[FunctionType]:
    """The Python functions behind ``obj``: itself, or every method of a class."""
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, FunctionType):
        yield obj
    elif isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            if isinstance(value, FunctionType):
                yield value
    elif isinstance(obj, functools.partial):
        yield from _functions_of(obj.func)
    elif inspect.ismethod(obj):
        yield obj.__func__


def reference_codes(paths: Sequence[str]) -> dict[CodeType, str]:
    """``code object -> dotted path`` for the functions the ``paths`` name.

    A path that does not resolve (a typo, a module the kernel lacks) is skipped: the
    reference watch is a flag for the instructor, and must not cost a student the check.
    """
    codes: dict[CodeType, str] = {}
    for path in paths:
        try:
            obj = resolve(path)
        except ImportError:
            continue
        for function in _functions_of(obj):
            codes[function.__code__] = path
    return codes


def _student_code(fn) -> CodeType | None:
    """The code object of the student's function (through partials, methods, callables)."""
    for function in _functions_of(fn):
        return function.__code__
    # A callable object: its class's __call__ is the code that runs.
    call = vars(type(fn)).get("__call__")
    return getattr(call, "__code__", None)


@contextmanager
def watch_calls(codes: Mapping[CodeType, str], student: CodeType | None) -> Iterator[list[str]]:
    """Collect the paths of ``codes`` entered while ``student``'s code is on the stack.

    The check itself calls the reference to know the right answer; only a call made
    from inside the student's function (directly or through helpers) is collected.
    """
    hits: list[str] = []
    if not codes or student is None:
        yield hits
        return

    def profile(frame, event, arg):
        if event != "call" or frame.f_code not in codes:
            return
        caller = frame.f_back
        while caller is not None:
            if caller.f_code is student:
                hits.append(codes[frame.f_code])
                return
            caller = caller.f_back

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield hits
    finally:
        sys.setprofile(previous)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CheckTimeLimit` in the block after ``seconds`` (main thread, Unix only)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise CheckTimeLimit

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def rerun(namespace: Mapping, record: Mapping, seconds: float | None = 60.0) -> dict:
    """Grade one coding exercise in ``namespace``; return its outcome as plain data.

    ``status`` is ``pass``, ``fail``, ``not attempted``, ``missing`` (no function of that
    name) or ``error`` (the check itself cannot be loaded); ``message`` says why (for a
    check built on ``run_cases``, ``cases`` counts its cases and ``failures`` lists
    ``[case, message]`` for each that failed); ``reference_calls`` lists the library
    answers the student's function called (``is_reference``: the function *is* one).
    """
    outcome = {"id": record["id"], "status": "", "message": "", "reference_calls": [],
               "is_reference": False}
    name = record["function"]
    if name not in namespace:
        return {**outcome, "status": "missing", "message": f"{name} is not defined"}
    fn = namespace[name]
    try:
        check = resolve(record["check"])
    except ImportError as err:
        return {**outcome, "status": "error",
                "message": f"the check {record['check']} cannot be loaded: {err}"}
    codes = reference_codes(record.get("reference") or ())
    student = _student_code(fn)
    outcome["is_reference"] = student is not None and student in codes
    with watch_calls(codes, student) as hits:
        try:
            with time_limit(seconds):
                result = check(fn, every_case=True) if accepts_every_case(check) else check(fn)
            outcome.update(status="pass", message=str(result))
        except NotImplementedError as err:
            outcome.update(status="not attempted", message=str(err))
        except CheckFailed as err:
            outcome.update(status="fail", message=str(err.result), cases=len(err.result.cases),
                           failures=[list(f) for f in err.result.failures])
        except AssertionError as err:
            outcome.update(status="fail", message=str(err))
        except CheckTimeLimit:
            outcome.update(status="fail", message=f"the check did not finish within {seconds:g} s "
                                                  "(an endless loop, or a very slow function?)")
        except Exception as err:  # the check broke outside its cases
            outcome.update(status="fail", message=f"the check stopped: {type(err).__name__}: {err}")
    outcome["reference_calls"] = sorted(set(hits))
    return outcome


def rerun_exercises(namespace: Mapping, records: Sequence[Mapping],
                    seconds: float | None = 60.0) -> None:
    """Rerun every record's check in ``namespace`` and display the outcomes for the grader."""
    from IPython.display import display

    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)  # the notebook's own limit is over
    outcomes = [rerun(namespace, record, seconds) for record in records]
    display({GRADES_MIME: outcomes, "text/plain": repr(outcomes)}, raw=True)
