"""A pytest plugin that turns this machine's real CPU times into noise, to find tests whose figures depend on them.

Figures in tests come from scripted sensors, clocks and CPU times (:mod:`powertrain.meters.testing`). A test whose
outcome follows the real ``/proc/stat`` or its own process tree's CPU time passes on one machine and fails on another
(the CI run at 84c6c3c failed that way on a faster machine, while every local run passed). With this plugin every
in-process read of those gives a seeded random series instead (still cumulative): the run's CPU time grows by at most
1 ms per read while the machine's grows by 10-510 ms, so a test that leans on real shares fails every time::

    python -m pytest -p tests.support.scramble_cpu
    scripts/test-stress.sh --scramble-cpu -n 1

Subprocesses (``powertrain train`` children) are not touched; their figures are asserted for provenance only. Tests
that measure real CPU time on purpose (the process tree's own tests) carry ``@pytest.mark.real_cpu_times``.
"""

from __future__ import annotations

import random
import zlib

import pytest


@pytest.fixture(autouse=True)
def _scrambled_cpu_times(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_cpu_times") is not None:
        return
    from powertrain.meters import _cpustat, attribution

    rng = random.Random(zlib.crc32(request.node.nodeid.encode()))  # the same noise for the same test every run
    totals = {"run": 0.0, "process": 1000.0, "idle": 1000.0}
    real_cpu_s = attribution.ProcessTree.cpu_s  # the default scope (a Cgroup's is read from files tests write)

    def run_cpu_s(self):
        if real_cpu_s(self) is None:  # no /proc: the machine, as before
            return None
        totals["run"] += rng.random() * 1e-3
        return totals["run"]

    def machine_times(path="/proc/stat"):
        totals["process"] += 0.01 + rng.random() * 0.5
        totals["idle"] += rng.random() * 0.5
        return _cpustat.MachineTimes(totals["process"], 0.0, totals["idle"], 0.0)

    monkeypatch.setattr(attribution.ProcessTree, "cpu_s", run_cpu_s)
    monkeypatch.setattr(_cpustat, "read_machine_times", machine_times)
