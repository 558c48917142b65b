"""Measure the energy of another program (what ``powertrain measure`` runs)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from types import FrameType

from powertrain.meters.attribution import ProcessTree
from powertrain.meters.measurement import Measurement
from powertrain.meters.meter import EnergyMeter

__all__ = ["CommandRun", "run_command"]

_FORWARDED = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class CommandRun:
    """The outcome of :func:`run_command`.

    Attributes:
        argv: The command and its arguments.
        exit_code: The child's exit status; ``128 + N`` when signal N killed it (as shells report it).
        interrupted: True when SIGINT or SIGTERM reached this process while the child ran.
        measurement: The energy of the whole run (window name ``"command"``).
        started_at: Start time, ISO 8601 in UTC.
    """

    argv: tuple[str, ...]
    exit_code: int
    interrupted: bool
    measurement: Measurement
    started_at: str


def run_command(
    argv: Sequence[str],
    meter: EnergyMeter,
    *,
    poll_s: float = 0.5,
    on_poll: Callable[[float, float, float], None] | None = None,
) -> CommandRun:
    """Run ``argv`` (an argument list, never through a shell) and measure it as one window.

    SIGINT and SIGTERM received meanwhile are passed on to the child, and the measurement is still
    returned once it exits. A Ctrl-C typed in a terminal already reaches the child (same foreground
    process group), so it is not sent a second time. On Linux the child gets SIGTERM if this process dies
    (even by SIGKILL), so it never runs on unmeasured.

    The run is whatever the meter's attribution says; give it ``ProcessTree([])`` (an empty tree) to measure the
    command and its descendants only, counted from the command's birth (what ``powertrain measure`` does).

    Args:
        argv: Program and arguments.
        meter: The meter to use; started here if it is not yet (the caller closes it).
        poll_s: Seconds between ``on_poll`` calls.
        on_poll: Called as ``on_poll(elapsed_s, power_w, energy_j)`` while the child runs (live display).

    Returns:
        Exit status, interruption flag and measurement.

    Raises:
        FileNotFoundError: The program does not exist.
        PermissionError: The program is not executable.
        ValueError: ``argv`` is empty.
    """
    if not argv:
        raise ValueError("no command to run")
    meter.start()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    energy_at_start_j = meter.energy_j()
    with _forward_signals() as state:
        with meter.window("command") as window:
            child = subprocess.Popen(list(argv), preexec_fn=_die_with_parent())  # noqa: S603,PLW1509 - no shell
            state.child = child
            scope = meter.attribution
            if isinstance(scope, ProcessTree) and not scope.roots:
                scope.add(child.pid)  # the command's tree is the run, counted from its birth
            t0_s = time.monotonic()
            with _ExitWatch(child) as watch:
                while not watch.exited(poll_s):
                    if on_poll is not None:
                        elapsed_s = time.monotonic() - t0_s
                        on_poll(elapsed_s, meter.power_w(), meter.energy_j() - energy_at_start_j)
            meter.sample()  # the exited, not yet reaped command's final CPU time (and its reaped children's)
            code = child.wait()
    exit_code = 128 - code if code < 0 else code
    return CommandRun(tuple(argv), exit_code, state.interrupted, window.measurement, started_at)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when this process dies, even by SIGKILL (Linux).

    Without it a ``powertrain measure`` killed with SIGKILL would leave its command running, unmeasured. The
    function only calls ``prctl`` (resolved here, before the fork), which is safe in the forked child.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class _ExitWatch:
    """Waits for the child to exit *without reaping it*, so its last CPU time can still be read in /proc.

    A pidfd (Linux 5.3+) becomes readable when the process exits; elsewhere ``waitid(WNOWAIT)`` is polled.
    """

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self._fd: int | None = None
        try:
            self._fd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):
            self._fd = None

    def __enter__(self) -> _ExitWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def exited(self, timeout_s: float) -> bool:
        """True once the child has exited (it stays a zombie until ``child.wait()``)."""
        if self._fd is not None:
            try:
                readable, _, _ = select.select([self._fd], [], [], timeout_s)
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for old kernels
                return False
            return bool(readable) or _exited(self.child)
        deadline = time.monotonic() + timeout_s
        while not _exited(self.child):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True


def _exited(child: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it (already reaped counts as exited)."""
    if child.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class _SignalState:
    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.interrupted = False


@contextmanager
def _forward_signals() -> Iterator[_SignalState]:
    state = _SignalState()
    if threading.current_thread() is not threading.main_thread():
        yield state  # only the main thread may install signal handlers
        return

    def forward(signum: int, frame: FrameType | None) -> None:
        state.interrupted = True
        child = state.child
        if child is None or _exited(child):
            return
        if signum == signal.SIGINT and _terminal_foreground():
            return  # the terminal sent Ctrl-C to the child too
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        yield state
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _terminal_foreground() -> bool:
    """True when this process group owns the controlling terminal (so Ctrl-C reached the child too)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
