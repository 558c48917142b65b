"""The machine's CPU time (``/proc/stat``) and the meter's CPU account (private to the meters).

``/proc/stat``'s first line counts, in clock ticks (``USER_HZ``, 10 ms), the time all CPUs spent in each state.
:func:`read_machine_times` folds it into four figures: time in processes (user, nice, system; guest time is
already inside user), in interrupts (irq, softirq: no process's), idle (idle, iowait) and stolen by the hypervisor
(steal: not this machine's at all, so neither busy nor idle).

A :class:`CpuAccount` is the CPU half of attribution. The meter calls :meth:`CpuAccount.sample` once per sampling
round; it reads the run's CPU time from its scope (nanoseconds) and the machine's from ``/proc/stat`` (ticks), and
keeps cumulative columns (:data:`COLUMNS`) that tracks difference between their knots. The run's exact time
never exceeds the machine's process time: when ticks lag behind it (a 3 ms run in one 10 ms tick), the machine's
process time is raised to the run's and the advance is taken back from the next ticks, so the run's time is never
lost and the machine's total is off by less than a tick per CPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["COLUMNS", "CpuAccount", "MachineTimes", "cpu_frequency_mhz", "cpu_topology", "read_machine_times"]

# The account's cumulative columns, in seconds: wall time, the run's CPU time, the machine's process time (raised to
# the run's where ticks lag), interrupt time, idle time, steal time, and busy core-seconds of the machine and of the
# run after the SMT rule (see CpuAccount).
COLUMNS = ("wall_s", "run_s", "process_s", "irq_s", "idle_s", "steal_s", "machine_core_s", "run_core_s")
_TICK_S = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


@dataclass(frozen=True, slots=True)
class MachineTimes:
    """Cumulative CPU seconds of the whole machine, summed over its CPUs.

    Attributes:
        process_s: In processes (user + nice + system; guest time is inside user).
        irq_s: Serving hardware and software interrupts (no process's time).
        idle_s: Idle or waiting for I/O.
        steal_s: Taken by the hypervisor for other guests (neither busy nor idle here).
    """

    process_s: float
    irq_s: float
    idle_s: float
    steal_s: float


def read_machine_times(path: Path | str = "/proc/stat") -> MachineTimes:
    """Read the ``cpu`` line of ``/proc/stat`` (psutil's figures where the file is missing, e.g. not Linux).

    Raises:
        OSError: Neither ``path`` nor psutil could be read.
    """
    try:
        with open(path, "rb") as f:
            fields = f.readline().split()
    except FileNotFoundError:
        t = psutil.cpu_times()
        busy = t.user + t.system + getattr(t, "nice", 0.0)
        irq = getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        return MachineTimes(busy, irq, t.idle + getattr(t, "iowait", 0.0), getattr(t, "steal", 0.0))
    ticks = [int(x) for x in fields[1:9]] + [0] * max(0, 9 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    return MachineTimes(
        (user + nice + system) * _TICK_S, (irq + softirq) * _TICK_S, (idle + iowait) * _TICK_S, steal * _TICK_S
    )


def cpu_topology() -> tuple[int, int]:
    """``(logical CPUs, physical cores)`` of this machine (physical = logical when psutil cannot tell)."""
    logical = psutil.cpu_count() or 1
    return logical, psutil.cpu_count(logical=False) or logical


def cpu_frequency_mhz() -> float | None:
    """The CPUs' mean current frequency in MHz, where the platform tells (None otherwise)."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, RuntimeError, NotImplementedError):  # no cpufreq and no /proc/cpuinfo figure
        return None
    return float(freq.current) if freq and freq.current else None


class CpuAccount:
    """Cumulative CPU seconds of the run and of the machine, one row per sampling round.

    The SMT rule (hosts with more logical CPUs than cores): the machine's busy CPUs ``b = (process + irq) / wall``
    count as ``min(b, cores)`` busy *physical* cores (a second hardware thread on a busy core adds no core), and
    the run's CPU seconds are scaled by the same ``min(b, cores) / b``, measured over spans of at least two ticks
    per CPU. A lone run on an SMT host is thus charged one core per busy thread, and threads on sibling hardware
    threads are not charged two cores.

    Args:
        run_cpu_s: The run's cumulative CPU seconds (any origin), or None when the run is the whole machine.
        machine_times: Reads the machine's cumulative CPU times (default: :func:`read_machine_times`).
        physical_cores: Cores for the SMT rule (default: this machine's).
        logical_cpus: Logical CPUs for the SMT rule (default: this machine's).
    """

    def __init__(
        self,
        run_cpu_s: Callable[[], float] | None,
        *,
        machine_times: Callable[[], MachineTimes] | None = None,
        physical_cores: int | None = None,
        logical_cpus: int | None = None,
    ) -> None:
        self._run = run_cpu_s
        self._machine = machine_times or (lambda: read_machine_times())
        self.physical_cores = physical_cores or cpu_topology()[1]
        self.logical_cpus = logical_cpus or cpu_topology()[0]
        self.totals = (0.0,) * len(COLUMNS)
        self._last: tuple[float, float, MachineTimes] | None = None
        self._credit_s = 0.0  # process time already advanced ahead of the ticks
        self._smt = 1.0  # the SMT factor, measured over spans long enough for ticks to mean something
        self._span = [0.0, 0.0]  # wall seconds and busy seconds since the factor was last measured

    def sample(self, t_s: float) -> tuple[float, ...]:
        """Read both sources at ``t_s`` (the meter's clock) and return the cumulative :data:`COLUMNS`."""
        machine = self._machine()
        run = self._run() if self._run is not None else None
        if self._last is None:
            self._last = (t_s, 0.0 if run is None else run, machine)
            return self.totals
        t0, run0, m0 = self._last
        self._last = (t_s, run0 if run is None else run, machine)
        dt = max(t_s - t0, 0.0)
        ticks = max(machine.process_s - m0.process_s, 0.0)
        irq, idle = max(machine.irq_s - m0.irq_s, 0.0), max(machine.idle_s - m0.idle_s, 0.0)
        steal = max(machine.steal_s - m0.steal_s, 0.0)
        exact = None if run is None else max(run - run0, 0.0)
        process = max(ticks - self._credit_s, exact or 0.0)
        self._credit_s += process - ticks
        run_s = process if exact is None else exact
        smt = self._smt_factor(dt, process + irq)
        row = (dt, run_s, process, irq, idle, steal, (process + irq) * smt, run_s * smt)
        self.totals = tuple(a + b for a, b in zip(self.totals, row, strict=True))
        return self.totals

    def _smt_factor(self, dt: float, busy_s: float) -> float:
        """``min(b, cores) / b`` for the busy CPUs ``b`` over the last span of at least two ticks per CPU."""
        if self.physical_cores >= self.logical_cpus:
            return 1.0  # no SMT: a busy CPU is a busy core
        self._span[0] += dt
        self._span[1] += busy_s
        if self._span[0] >= 2 * _TICK_S * self.logical_cpus:
            busy_cpus = self._span[1] / self._span[0]
            self._smt = min(busy_cpus, self.physical_cores) / busy_cpus if busy_cpus > self.physical_cores else 1.0
            self._span = [0.0, 0.0]
        return self._smt
