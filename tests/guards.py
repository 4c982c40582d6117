"""A fixture for tests of what must never block: a reader of a named pipe, a claim."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture
def no_hang():
    """Fail, instead of waiting forever, if the test blocks for 60 seconds."""
    def alarm(signum, frame):
        raise TimeoutError("blocked for 60 s: something waited on a file forever")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
