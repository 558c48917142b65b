"""OpenMP threads that sleep while they wait, for powertrain's own CPU training (measured: ``bench/omp_wait.py``).

PyTorch's CPU kernels run on OpenMP threads (GNU libgomp in the Linux wheels). Between two parallel regions an idle
thread spins for a while before it sleeps (libgomp's default wait policy), which costs little on an idle machine.
On a machine where other processes keep cores busy, a run's threads then spin for a sibling that is not running:
the run burns CPU time, and so energy, doing nothing (on the 2-core VM with one busy neighbour, a LeNet-5 step loop
with 2 threads took 19-25 s and 19-22 CPU s instead of 3 s; docs/benchmarks.md). ``OMP_WAIT_POLICY=PASSIVE`` makes
waiting threads sleep at once.

libgomp reads the variable once, when it is loaded (when torch is first imported), so the commands that train
(``train``, ``sweep``, ``study``, ``demo``) set it, unless the user did, before anything imports torch. ``powertrain
measure`` does not: the command it measures runs as the user runs it. Code that imports powertrain as a library is
left alone too; :func:`wait_policy` says what a run ran under (``summary.json`` ``conditions.omp_wait_policy``).
"""

from __future__ import annotations

import os
import sys

__all__ = ["prefer_passive_waiting", "wait_policy"]

VARIABLE = "OMP_WAIT_POLICY"


def prefer_passive_waiting() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process and its children; True when it is in effect.

    Nothing is changed when the user chose a policy, or when torch is already imported (too late for libgomp).
    """
    if VARIABLE in os.environ:
        return os.environ[VARIABLE].strip().upper() == "PASSIVE"
    if "torch" in sys.modules:
        return False
    os.environ[VARIABLE] = "PASSIVE"
    return True


def wait_policy() -> str:
    """The OpenMP wait policy this process's environment names (``"default"`` when none)."""
    return os.environ.get(VARIABLE, "").strip().upper() or "default"
