"""Self-checks for the book's exercises.

Each ``check_<thing>(fn, *, every_case=False)`` runs a student's function on a set of
named cases against the library's reference (or a trusted implementation such as
SciPy's), raises an ``AssertionError`` naming the first failing case with the shapes and
values involved (with ``every_case=True``, every failing case), and otherwise returns a
:class:`CheckResult` whose text reads "all N cases pass". A ``NotImplementedError``
raised by an unfinished exercise stub propagates unchanged, so the student sees the
stub's hint. :func:`report` runs a check on every case and returns its verdict instead
of raising: the student editions' check cells call it, so a wrong answer does not stop
"Run All".

Modules:

* :mod:`hybridlib.book.selfcheck.core`: :func:`run_cases`, :class:`CheckResult`,
  :func:`report`, the machinery every check (an instructor's own included) shares;
* :mod:`hybridlib.book.selfcheck.spectral`: chapters 1 and 2 (spectral pooling, Fourier
  resampling, spectral activation, the low-pass question);
* :mod:`hybridlib.book.selfcheck.diffstride`: chapter 3 (the ramp mask, output sizes,
  the critical stride);
* :mod:`hybridlib.book.selfcheck.architectures`: chapter 4 (feature-map sizes, block
  parameters);
* :mod:`hybridlib.book.selfcheck.training`: chapter 5 (the grid's choice of learning rate,
  the step schedule);
* :mod:`hybridlib.book.selfcheck.evidence`: chapter 6 (a seed-paired interval, Holm's
  adjustment);
* :mod:`hybridlib.book.selfcheck.rerun`: what the grader runs inside a submission's
  kernel (every check, and a watch for calls to the library's own answer).
"""

from hybridlib.book.selfcheck.architectures import *  # noqa: F403
from hybridlib.book.selfcheck.core import *  # noqa: F401,F403
from hybridlib.book.selfcheck.diffstride import *  # noqa: F401,F403
from hybridlib.book.selfcheck.evidence import *  # noqa: F401,F403
from hybridlib.book.selfcheck.spectral import *  # noqa: F401,F403
from hybridlib.book.selfcheck.training import *  # noqa: F401,F403
