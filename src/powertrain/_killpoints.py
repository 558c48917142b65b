"""Kill points for fault tests: a process that SIGKILLs itself exactly where the code says it is.

A test that kills a run "in the middle of epoch 2" used to poll the run's files and then send SIGKILL; on a loaded
machine the run went on between the check and the kill (the epoch ended, the trial finished), and the test saw
another state than the one it checked. Instead, the code announces named points with :func:`reached`, and a
process started with the environment variable ``POWERTRAIN_KILL_AT`` set to ``POINT:N`` (optionally
``POINT:N@TEXT``) sends itself SIGKILL the first time it reaches point ``POINT`` with number ``N`` (in a place
whose path contains ``TEXT``). Without the variable :func:`reached` does nothing (one environment look-up).

Points:
    ``heartbeat:E``: right after a heartbeat of epoch ``E`` that holds energy (more than 0 J) was written: by the
    heartbeat thread, or at the latest when epoch ``E``'s training phase ends; the place is the run directory. So
    ``POWERTRAIN_KILL_AT=heartbeat:2@seed=1`` kills a sweep worker in epoch 2 of its trial ``seed=1``, after epoch 1
    was checkpointed and with epoch 2's energy on disk for the resume to count as lost.
    ``checkpoint:E``: right after epoch ``E``'s checkpoint was written, before its heartbeat is removed (the window
    where a resume must not count that epoch's heartbeat again); the place is the run directory.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["ENV", "reached"]

ENV = "POWERTRAIN_KILL_AT"


def reached(point: str, number: int, place: Path | str = "") -> None:
    """Announce that this process is at ``point`` with ``number`` in ``place``; SIGKILL it if ``ENV`` names that."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, where = spec.partition("@")
    if target == f"{point}:{number}" and where in str(place):
        os.kill(os.getpid(), signal.SIGKILL)
