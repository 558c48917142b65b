"""How each interval's machine energy is split into the run's (private to the meter; docs/meter.md, "Attribution").

A splitter gets the machine's joules of one interval between two knots of a track and the CPU account's deltas
over the same interval (:data:`powertrain.meters._cpustat.COLUMNS`), and returns the run's dynamic and static
joules and the seconds the device was shared (and not split). Whatever the run does not get is *unattributed*:
the machine's joules minus the run's, never negative, so the run's plus the unattributed add up to the machine's.

Host energy (RAPL package and DRAM), after Kepler's model (sustainable-computing-io/kepler,
docs/developer/power-attribution-guide.md): the interval's energy is split into an *active* (dynamic) part and an
*idle* (static) part, and the active part is shared by CPU time. Kepler takes the active part as the energy times
the machine's busy fraction (busy / (busy + idle) from /proc/stat) and gives idle energy to no process. Here:

- static = the sensor's idle power x the interval when it is known (``Sensor.idle_power_w``), else Kepler's
  ``energy x idle / (busy + idle)``; dynamic = the rest;
- the run's dynamic = dynamic x run CPU time / machine busy time (interrupt time counts as busy but is no
  process's, so its share stays unattributed; steal time is neither busy nor idle);
- the run's static = static x run CPU time / the machine's CPU capacity (busy + idle): the run pays the idle
  power of the share of the machine it occupied, so a CPU-bound run's figure does not depend on how busy other
  processes keep the rest (Kepler leaves it all unattributed; we report it apart, as ``static_j``).

The CPU estimate has no idle part: the machine's energy is watts per busy core x busy core-seconds and the run's
is the same watts x the run's core-seconds (the SMT rule is in :class:`~powertrain.meters._cpustat.CpuAccount`).

A GPU is the run's alone unless NVML lists other processes on it; then its energy is split by the processes' SM
utilisation samples (by process count when no process used the SMs), or, when the driver gives no per-process
samples (MIG, older drivers) or the run's processes are not among those listed (PIDs from another namespace), it
stays whole and the interval counts as ``unsplit_s``: "shared, not attributed".

``whole_machine()`` is asked at every interval: a meter whose scope fails mid-run counts the rest for the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from powertrain.meters._timeline import Splitter, Track

__all__ = ["estimate_splitter", "gpu_splitter", "host_splitter"]

WALL, RUN, PROCESS, IRQ, IDLE, STEAL, MACHINE_CORE, RUN_CORE = range(8)


def host_splitter(
    *, whole_machine: Callable[[], bool], logical_cpus: int, idle_power_w: float | None = None
) -> Splitter:
    """The split of a RAPL zone (or any host sensor) by CPU time, after Kepler."""

    def split(delta_j: float, cpu: Sequence[float] | None, track: Track) -> tuple[float, float, float, float]:
        if cpu is None:
            return delta_j, 0.0, 0.0, 0.0
        busy = cpu[PROCESS] + cpu[IRQ]
        capacity = busy + cpu[IDLE]
        if capacity <= 0:  # no tick in this interval: the run's exact time against the wall-clock capacity
            capacity = max(cpu[WALL] * logical_cpus, cpu[RUN], 1e-12)
            busy = max(busy, cpu[RUN])
        if idle_power_w is not None:
            static = min(max(idle_power_w, 0.0) * cpu[WALL], delta_j)
        else:
            static = delta_j * max(capacity - busy, 0.0) / capacity
        dynamic = delta_j - static
        if whole_machine():
            return dynamic, static, 0.0, 0.0
        run_dynamic = dynamic * min(cpu[RUN] / busy, 1.0) if busy > 0 else 0.0
        return run_dynamic, static * min(cpu[RUN] / capacity, 1.0), 0.0, 0.0

    return split


def estimate_splitter(*, whole_machine: Callable[[], bool], per_core_power_w: float) -> Splitter:
    """The CPU estimate's split: the run's core-seconds x watts per busy core (no static part)."""

    def split(delta_j: float, cpu: Sequence[float] | None, track: Track) -> tuple[float, float, float, float]:
        if cpu is None or whole_machine():
            return delta_j, 0.0, 0.0, 0.0
        return min(cpu[RUN_CORE] * per_core_power_w, delta_j), 0.0, 0.0, 0.0

    return split


def gpu_splitter(*, whole_machine: Callable[[], bool]) -> Splitter:
    """A GPU's split from the NVML process samples gathered in ``track.note`` since the last knot."""

    def split(delta_j: float, cpu: Sequence[float] | None, track: Track) -> tuple[float, float, float, float]:
        note = track.note
        shared_s, unsplit_s = note.get("shared_s", 0.0), note.get("unsplit_s", 0.0)
        if whole_machine() or shared_s <= 0:
            return delta_j, 0.0, shared_s, 0.0
        if unsplit_s > 0:
            return delta_j, 0.0, shared_s, unsplit_s
        run_util, others_util = note.get("run_util", 0.0), note.get("others_util", 0.0)
        if run_util + others_util > 0:
            share = run_util / (run_util + others_util)
        else:  # nobody used the SMs: the idle device is shared by process count
            run_n, others_n = note.get("run_n", 0.0), note.get("others_n", 0.0)
            share = run_n / (run_n + others_n) if run_n + others_n > 0 else 1.0
        polled_s = max(note.get("polled_s", shared_s), shared_s)
        share = ((polled_s - shared_s) + shared_s * share) / polled_s  # the run had it alone the rest of the time
        return delta_j * share, 0.0, shared_s, 0.0

    return split
