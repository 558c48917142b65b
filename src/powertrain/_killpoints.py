"""Kill points for fault tests: a process that is killed, or pauses, exactly where the code says it is.

A test that kills a run "in the middle of epoch 2" used to poll the run's files and then send SIGKILL; on a loaded
machine the run went on between the check and the kill (the epoch ended, the trial finished), and the test saw
another state than the one it checked. Instead, the code announces named points with :func:`reached`, and a
process started with the environment variable ``POWERTRAIN_KILL_AT`` set to ``POINT:N`` (optionally
``POINT:N@TEXT``; ``N`` may be ``*``) acts the first time it reaches point ``POINT`` with number ``N`` (in a place
whose path contains ``TEXT``). Without the variables :func:`reached` does nothing (one environment look-up).

What it does there, ``POWERTRAIN_KILL_WITH``:
    ``SIGKILL`` (the default): the process kills itself, as the kernel's OOM killer or ``kill -9`` would.
    ``SIGTERM``: the process sends itself SIGTERM, as a scheduler stopping a job does (its handler runs).
    ``pause``: the process writes the file ``POWERTRAIN_KILL_MARKER`` (``POINT:N PLACE PID``) and waits until the
    test removes it (at most 10 minutes): the test can then fill the disk, so that the next write fails.

``POWERTRAIN_TRACE=FILE`` appends one line ``POINT N PLACE PID`` to ``FILE`` at every point reached, so a test can
check afterwards what every process did (for example that no finished epoch was trained again).

Points (the place is the run directory unless said otherwise; ``R`` is the trial's breadth-first round, 1 without
rounds):
    ``claim:R``: a sweep worker has claimed a trial (RUNNING in the storage), before it records anything about it.
    ``start-energy:R``: the trial's identity and starting energy are recorded, before its run starts.
    ``epoch:E``: epoch ``E`` of a run begins.
    ``heartbeat:E``: right after a heartbeat of epoch ``E`` that holds energy (more than 0 J) was written: by the
    heartbeat thread, or at the latest when epoch ``E``'s training phase ends. So
    ``POWERTRAIN_KILL_AT=heartbeat:2@seed=1`` kills a sweep worker in epoch 2 of its trial ``seed=1``, after epoch 1
    was checkpointed and with epoch 2's energy on disk for the resume to count as lost.
    ``checkpoint:E``: right after epoch ``E``'s checkpoint was written, before its heartbeat is removed (the window
    where a resume must not count that epoch's heartbeat again).
    ``tell:R``: the run has ended and its figures are stored in the trial, before the study is told how it ended.
    ``round-end:R``: a breadth-first round was told (paused), before its next round is enqueued.
    ``told:R``: the study was told how the trial ended, before the worker reports it and claims the next.
    ``plan:K``: ``K`` grid points were enqueued while a grid is planned (place: the study's name).
    ``export:1``, ``export:2``: before ``results.json``, then before ``results.csv``, is written (place: the folder).
    ``merge:K``: ``K`` trials were copied by ``sweep merge`` (place: the destination's storage URL).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

__all__ = ["ENV", "MARKER", "TRACE", "WITH", "reached"]

ENV = "POWERTRAIN_KILL_AT"
WITH = "POWERTRAIN_KILL_WITH"
MARKER = "POWERTRAIN_KILL_MARKER"
TRACE = "POWERTRAIN_TRACE"
_PAUSE_LIMIT_S = 600.0

_fired: list[str] = []  # the point this process acted on (it acts once)


def reached(point: str, number: int, place: Path | str = "") -> None:
    """Announce that this process is at ``point`` with ``number`` in ``place``; act if ``ENV`` names that."""
    trace = os.environ.get(TRACE)
    if trace:
        _append(trace, f"{point} {number} {place} {os.getpid()}\n")
    spec = os.environ.get(ENV)
    if not spec or _fired:
        return
    target, _, where = spec.partition("@")
    name, _, wanted = target.partition(":")
    if name != point or wanted not in ("*", str(number)) or where not in str(place):
        return
    _fired.append(spec)
    how = os.environ.get(WITH, "SIGKILL").upper()
    if how == "PAUSE":
        _pause(f"{point}:{number} {place} {os.getpid()}\n")
    elif how == "SIGTERM":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one short write with O_APPEND: lines of several processes never interleave
    finally:
        os.close(fd)


def _pause(text: str) -> None:
    marker = os.environ.get(MARKER)
    if not marker:
        raise RuntimeError(f"{WITH}=pause needs {MARKER}=FILE (the file this process writes, and waits to be removed)")
    Path(marker).write_text(text)
    deadline = time.monotonic() + _PAUSE_LIMIT_S
    while Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
