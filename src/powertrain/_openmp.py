"""Which OpenMP wait policy a run's CPU threads ran under (``summary.json`` ``conditions.omp_wait_policy``).

PyTorch's CPU kernels run on OpenMP threads (GNU libgomp in the Linux wheels). Between two parallel regions an idle
thread spins for a while before it sleeps (the default); ``OMP_WAIT_POLICY=PASSIVE`` makes it sleep at once. Which
is cheaper depends on the machine (``bench/omp_wait.py``, docs/benchmarks.md "OpenMP's wait policy"): on an idle
2-core VM, passive waiting cost a 2-thread LeNet-5 loop 6-14 % more CPU time; with one or two busy neighbours the
default's spinning for a sibling that was not running cost 31-44 % more CPU time, so energy, than passive waiting.
powertrain leaves the choice to the user (libgomp reads the variable once, when torch is imported) and records it,
since it changes a run's CPU energy on a shared machine.
"""

from __future__ import annotations

import os

__all__ = ["wait_policy"]

VARIABLE = "OMP_WAIT_POLICY"


def wait_policy() -> str:
    """The OpenMP wait policy this process's environment names, upper-case (``"default"`` when none)."""
    return os.environ.get(VARIABLE, "").strip().upper() or "default"
