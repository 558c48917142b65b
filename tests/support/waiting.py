"""Waiting for an event in tests: a condition polled until it holds, with a generous deadline, never a guessed delay.

A test that sleeps "long enough" for something to happen fails on a loaded machine; a test that waits for the thing
itself (a file appears, a line is printed, a heartbeat holds energy) only gets slower there. :func:`wait_for` polls
the condition every few milliseconds, fails at once when the process it watches has exited, and fails after
``timeout_s`` (default :data:`DEADLINE_S`) with what it waited for. Subprocess timeouts use the same deadline.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

__all__ = ["DEADLINE_S", "wait_for"]

# How long a test waits for a process to end or a condition to hold before calling it hung: far beyond what anything in
# the default run needs on a busy 2-core machine (a deadline, not a speed target; a hang still fails).
DEADLINE_S = 600.0


def wait_for(
    condition: Callable[[], object],
    what: str,
    *,
    proc: subprocess.Popen | None = None,
    timeout_s: float = DEADLINE_S,
) -> None:
    """Return once ``condition()`` is true; raise AssertionError if ``proc`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr is not None else ""
            raise AssertionError(f"the process exited ({proc.returncode}) while waiting for {what}: {err!s:.2000}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.01)  # the polling period of the condition above, not a wait for luck
