"""Self-checks for the book's exercises.

Each ``check_<thing>(fn)`` runs a student's function on a set of named cases against
the library's reference (or a trusted implementation such as SciPy's), raises an
``AssertionError`` naming the first failing case with the shapes and values involved,
and otherwise returns a :class:`CheckResult` whose text reads "all N cases pass".
A ``NotImplementedError`` raised by an unfinished exercise stub propagates unchanged,
so the student sees the stub's hint.

Modules, one per group of chapters:

* :mod:`hybridlib.book.selfcheck.spectral`: chapters 1 and 2 (spectral pooling, Fourier
  resampling, spectral activation, the low-pass question).
"""

from hybridlib.book.selfcheck.architectures import *  # noqa: F403
from hybridlib.book.selfcheck.diffstride import *  # noqa: F401,F403
from hybridlib.book.selfcheck.spectral import *  # noqa: F401,F403
