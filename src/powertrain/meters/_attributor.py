"""The meter's attribution state: the scope, the CPU account, GPU probes and each track's split (private).

One :class:`Attributor` per meter. In every sampling round the meter calls :meth:`Attributor.sample` (the run's
and the machine's CPU time), :meth:`Attributor.poll_gpus` (who else uses each GPU), and then reads each sensor
(the CPU estimate's reading is derived from the CPU account by :meth:`Attributor.reading`). A CPU account that
cannot be read any more (a cgroup removed mid-run, a process tree whose root vanished) makes the rest of the run
fall back to the whole machine, labelled: the measurement says so in its attribution and warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from powertrain.meters._cpustat import COLUMNS, CpuAccount, MachineTimes, cpu_topology
from powertrain.meters._gpushare import GpuUse
from powertrain.meters._split import estimate_splitter, gpu_splitter, host_splitter
from powertrain.meters._timeline import Boundary, Pinning, Series, Track, whole_device
from powertrain.meters.attribution import Attribution
from powertrain.meters.base import Reading, Sensor

__all__ = ["Attributor", "CpuTrack"]

logger = logging.getLogger(__name__)

CPU_KEY = "@cpu"  # the CPU account's entry in Boundary.values


class CpuTrack(Pinning):
    """The CPU account's cumulative columns as a series, so that window edges get them too (conditions)."""

    device = CPU_KEY
    live = True
    failed = None

    def __init__(self, max_points: int) -> None:
        self.series = Series(max_points, width=len(COLUMNS))
        self.pending: list[Boundary] = []

    def add(self, t_s: float, totals: Sequence[float]) -> None:
        self.series.append(t_s, *totals)
        self.pin_ready()
        self.series.trim()

    def covers(self, t_s: float) -> bool:
        return self.series.last_t >= t_s


class Attributor:
    """Attribution for one meter.

    Args:
        scope: Which processes are the run.
        sensors: The meter's sensors (the CPU estimate's cores set the SMT rule).
        max_points: Knot budget of the CPU account's series.

    A scope may carry its own ``machine_times()`` and ``logical_cpus`` (the scripted scope of
    :mod:`powertrain.meters.testing` does); otherwise they are this machine's.
    """

    def __init__(
        self,
        scope: Attribution,
        sensors: Sequence[Sensor],
        *,
        max_points: int = 100_000,
    ) -> None:
        self.scope = scope
        machine_times: Callable[[], MachineTimes] | None = getattr(scope, "machine_times", None)
        logical_cpus: int | None = getattr(scope, "logical_cpus", None)
        self.whole_machine = scope.kind == "machine" or scope.fallback is not None
        logical, physical = cpu_topology()
        self.logical_cpus = logical_cpus or logical
        estimate = next((s for s in sensors if hasattr(s, "reading_from")), None)
        cores = getattr(estimate, "cores", None) or getattr(scope, "physical_cores", None) or physical
        self._machine_times = machine_times
        self.account = CpuAccount(
            None if self.whole_machine else self._run_cpu,
            machine_times=machine_times,
            physical_cores=cores,
            logical_cpus=self.logical_cpus,
        )
        self.cpu_track = CpuTrack(max_points)
        self.failed: str | None = None
        self.failed_at_s: float | None = None
        self._probes: dict[str, Any] = {}
        self.rules: dict[str, str] = {}
        self._last_poll_s: float | None = None
        self.others_seen: dict[str, dict[int, tuple[float, float]]] = {}

    def _run_cpu(self) -> float:
        if self.whole_machine:
            return 0.0
        value = self.scope.cpu_s()
        return 0.0 if value is None else value

    def track(self, sensor: Sensor, max_points: int) -> Track:
        """A track for ``sensor`` with the split its kind needs (and its rule in :attr:`rules`)."""
        self.rules[sensor.device] = self._rule(sensor)
        if hasattr(sensor, "reading_from"):
            split = estimate_splitter(whole_machine=self._machine_wide, per_core_power_w=sensor.per_core_power_w)
        elif sensor.component == "gpu":
            if self.whole_machine:
                return Track(sensor, max_points, whole_device)
            split = gpu_splitter(whole_machine=self._machine_wide)
            probe = sensor.process_probe()
            if probe is not None:
                self._probes[sensor.device] = probe
        else:
            split = self._host(sensor)
        return Track(sensor, max_points, split)

    def _rule(self, sensor: Sensor) -> str:
        if self.whole_machine:
            return "whole device (machine scope)"
        if hasattr(sensor, "reading_from"):
            return f"the run's CPU core-seconds x {sensor.per_core_power_w:g} W per busy core (no idle part)"
        if sensor.component == "gpu":
            return "the run's alone unless NVML lists other processes; then split by their SM utilisation"
        idle = f"{sensor.idle_power_w:g} W" if sensor.idle_power_w is not None else "the machine's idle fraction"
        return (
            "active energy by the run's share of busy CPU time (Kepler); idle energy "
            f"(from {idle}) by its share of CPU capacity"
        )

    def _machine_wide(self) -> bool:
        return self.whole_machine

    def _host(self, sensor: Sensor) -> Any:
        return host_splitter(
            whole_machine=self._machine_wide, logical_cpus=self.logical_cpus, idle_power_w=sensor.idle_power_w
        )

    def open(self) -> None:
        """Start the scope (the run's CPU time counts from here)."""
        try:
            self.scope.open()
        except Exception as exc:  # an unreadable root: label it, never stop the run
            self._fall_back(None, f"{type(exc).__name__}: {exc}")

    def sample(self, t_s: float) -> tuple[float, ...]:
        """One row of the CPU account at ``t_s`` (falls back to the whole machine if the run's time is lost).

        The caller adds it to :attr:`cpu_track` under its lock.
        """
        try:
            return self.account.sample(t_s)
        except Exception as exc:  # a vanished cgroup, an unreadable /proc: label it, never stop the run
            self._fall_back(t_s, f"{type(exc).__name__}: {exc}")
            return self.account.sample(t_s)

    def _fall_back(self, t_s: float | None, reason: str) -> None:
        self.failed, self.failed_at_s = reason, t_s
        logger.warning("attribution failed (%s); the rest of the run is measured for the whole machine", reason)
        self.whole_machine = True
        old = self.account
        self.account = CpuAccount(
            None, machine_times=self._machine_times, physical_cores=old.physical_cores, logical_cpus=old.logical_cpus
        )
        self.account.totals = self.cpu_track.series.last() if len(self.cpu_track.series) else self.account.totals

    def reading(self, sensor: Sensor, totals: Sequence[float], t_s: float) -> Reading | None:
        """The CPU estimate's reading from the account (None for every other sensor)."""
        reading_from = getattr(sensor, "reading_from", None)
        return None if reading_from is None else reading_from(totals, t_s)

    def poll_gpus(self, tracks: Sequence[Track], t_s: float) -> list[tuple[str, str]]:
        """Ask NVML who uses each GPU and note it on the tracks; return ``(device, message)`` for unsplit rounds."""
        if not self._probes or self.whole_machine:
            return []
        dt = 0.0 if self._last_poll_s is None else max(t_s - self._last_poll_s, 0.0)
        self._last_poll_s = t_s
        pids = self.scope.pids()
        messages = []
        for track in tracks:
            probe = self._probes.get(track.device)
            if probe is None or not track.live:
                continue
            use: GpuUse = probe.poll(pids)
            self._note(track, use, dt, t_s)
            if use.unsplit is not None and use.others:
                messages.append((track.device, use.unsplit))
        return messages

    def _note(self, track: Track, use: GpuUse, dt: float, t_s: float) -> None:
        note = track.note
        note["polled_s"] = note.get("polled_s", 0.0) + dt
        if not use.others:
            return
        seen = self.others_seen.setdefault(track.device, {})
        for pid in use.others:
            first, _ = seen.get(pid, (t_s, t_s))
            seen[pid] = (first, t_s)
        note["shared_s"] = note.get("shared_s", 0.0) + dt
        if use.unsplit is not None:
            note["unsplit_s"] = note.get("unsplit_s", 0.0) + dt
        for key, value in (("run_util", use.run_util), ("others_util", use.others_util)):
            note[key] = note.get(key, 0.0) + value
        note["run_n"] = note.get("run_n", 0.0) + use.run_n * dt
        note["others_n"] = note.get("others_n", 0.0) + len(use.others) * dt

    def others_between(self, device: str, t0_s: float, t1_s: float) -> int:
        """How many other processes were seen on ``device`` between the two times."""
        seen = self.others_seen.get(device, {})
        return sum(1 for first, last in seen.values() if last >= t0_s and first <= t1_s)

    def describe(self, until_s: float | None = None) -> dict[str, Any]:
        """The scope's description, plus a fallback that happened mid-run (before ``until_s``, when given)."""
        data = dict(self.scope.describe())
        at_s = self.failed_at_s
        if self.failed is not None and (until_s is None or at_s is None or at_s <= until_s):
            data["failed"] = self.failed
            data["fallback"] = "the machine from the failure on"
        return data
