"""Deterministic sensors for tests: no hardware, no sleeping.

Use them with a manual meter (``sample_period_s=None``) and a fake clock, and drive time yourself::

    >>> from powertrain.meters import EnergyMeter
    >>> from powertrain.meters.testing import FakeClock, ScriptedCounterSensor
    >>> clock = FakeClock()
    >>> gpu = ScriptedCounterSensor(lambda t: 300.0 * t, clock=clock)  # a steady 300 W GPU
    >>> with EnergyMeter([gpu], sample_period_s=None, clock=clock) as meter:
    ...     with meter.window("step") as w:
    ...         clock.advance(2.0)
    ...     meter.sample()
    >>> w.measurement.energy_j
    600.0

A script is either a sequence (read ``i`` returns item ``i``; the last item repeats once the script is
used up) or a function of the clock's time. A counter value lower than the previous one simulates a counter
reset (driver reload). ``fail_after=n`` makes every read after the first ``n`` raise ``SensorError``.

:class:`FakePowercap` writes a RAPL powercap tree in the real sysfs format into a temporary folder, for
``discover_sensors(rapl_root=...)`` and ``RaplSensor`` tests.

:class:`ScriptedAttribution` is a run and a machine whose CPU times follow the fake clock, so attributed figures
are exact: ``EnergyMeter(..., attribution=ScriptedAttribution(clock, run_cpus=1.0, others_cpus=1.0))``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from powertrain.errors import SensorError
from powertrain.meters._cpustat import MachineTimes
from powertrain.meters.attribution import Attribution
from powertrain.meters.base import Clock, Component, Reading, Sensor, Source

__all__ = ["FakeClock", "FakePowercap", "ScriptedAttribution", "ScriptedCounterSensor", "ScriptedPowerSensor"]

Script = Sequence[float] | Callable[[float], float]


class FakeClock:
    """A clock that moves only when told to.

    Args:
        start_s: Initial time in seconds.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        """The current fake time in seconds."""
        return self.now_s

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.now_s += seconds

    def set(self, now_s: float) -> None:
        """Jump to ``now_s``."""
        self.now_s = now_s


class _ScriptedSensor(Sensor):
    """Shared constructor and script stepping of the two scripted sensors (arguments as documented there)."""

    def __init__(
        self,
        script: Script,
        *,
        device: str = "gpu:0",
        component: Component = "gpu",
        clock: Clock | None = None,
        fail_after: int | None = None,
        error: str = "scripted failure",
        source: Source | None = None,
    ) -> None:
        if not callable(script) and len(script) == 0:
            raise ValueError("a scripted sensor needs at least one value")
        self.script = script
        self.device = device
        self.component = component
        self.fail_after = fail_after
        self.error = error
        self._source = source
        self._clock = clock or time.monotonic
        self.reads = 0
        self.closed = False

    @property
    def source(self) -> Source:
        """The source given to the constructor, else the one implied by ``kind``."""
        return self._source or super().source

    def _next(self) -> tuple[float, float]:
        if self.fail_after is not None and self.reads >= self.fail_after:
            self.reads += 1
            raise SensorError(f"{self.device}: {self.error}")
        now = self._clock()
        if callable(self.script):
            value = float(self.script(now))
        else:
            value = float(self.script[min(self.reads, len(self.script) - 1)])
        self.reads += 1
        return now, value

    def close(self) -> None:
        """Mark the sensor closed (tests can check ``closed``)."""
        self.closed = True


class ScriptedCounterSensor(_ScriptedSensor):
    """A counter sensor that returns scripted cumulative joules.

    Args:
        script: Cumulative joules per read (a sequence), or a function of time returning joules.
        device: Device label, default ``"gpu:0"``.
        component: ``"gpu"``, ``"cpu"`` or ``"dram"``.
        clock: Time source, default ``time.monotonic`` (use :class:`FakeClock` in tests).
        fail_after: Raise ``SensorError`` on every read after this many successful ones (None: never).
        error: Message of that error.
        source: Override the reported source (for example ``"estimated"``).
    """

    name = "scripted-counter"
    kind = "counter"

    def read(self) -> Reading:
        """Return the next scripted cumulative energy."""
        now, value = self._next()
        return Reading(timestamp_s=now, energy_j=value)


class ScriptedPowerSensor(_ScriptedSensor):
    """A power sensor that returns scripted watts (the meter integrates them).

    Args:
        script: Watts per read (a sequence), or a function of time returning watts.
        device: Device label, default ``"gpu:0"``.
        component: ``"gpu"``, ``"cpu"`` or ``"dram"``.
        clock: Time source, default ``time.monotonic`` (use :class:`FakeClock` in tests).
        fail_after: Raise ``SensorError`` on every read after this many successful ones (None: never).
        error: Message of that error.
        source: Override the reported source (for example ``"estimated"``).
    """

    name = "scripted-power"
    kind = "power"

    def read(self) -> Reading:
        """Return the next scripted power."""
        now, value = self._next()
        return Reading(timestamp_s=now, power_w=value)


class FakePowercap:
    """A fake ``/sys/class/powercap`` tree in the real sysfs layout.

    Socket ``N`` gets ``intel-rapl:N`` (name ``package-N``) with subzones ``intel-rapl:N:0`` (``core``) and,
    with ``dram=True``, ``intel-rapl:N:1`` (``dram``). A ``psys`` zone is added too, as on laptops, which
    discovery must ignore.

    Args:
        root: Folder to write into (for example pytest's ``tmp_path``).
        sockets: Number of CPU packages.
        dram: Whether each package has a DRAM subzone.
        max_energy_range_uj: Wraparound range of every zone.
        max_power_uw: Written as ``constraint_0_max_power_uw`` when given.

    Example:
        >>> import tempfile
        >>> from powertrain.meters import discover_sensors
        >>> tree = FakePowercap(tempfile.mkdtemp(), sockets=2)
        >>> [s.device for s in discover_sensors(gpu_indices=[], rapl_root=tree.root)]
        ['cpu:package-0', 'cpu:dram-0', 'cpu:package-1', 'cpu:dram-1']
    """

    def __init__(
        self,
        root: Path | str,
        *,
        sockets: int = 1,
        dram: bool = True,
        max_energy_range_uj: int = 262_143_328_850,
        max_power_uw: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.zones: dict[str, Path] = {}
        for socket in range(sockets):
            package = self.root / f"intel-rapl:{socket}"
            self._zone(package, f"package-{socket}", max_energy_range_uj, max_power_uw)
            self.zones[f"cpu:package-{socket}"] = package
            self._zone(package / f"intel-rapl:{socket}:0", "core", max_energy_range_uj, max_power_uw)
            if dram:
                zone = package / f"intel-rapl:{socket}:1"
                self._zone(zone, "dram", max_energy_range_uj, max_power_uw)
                self.zones[f"cpu:dram-{socket}"] = zone
        self._zone(self.root / f"intel-rapl:{sockets}", "psys", max_energy_range_uj, max_power_uw)

    @staticmethod
    def _zone(path: Path, name: str, max_range_uj: int, max_power_uw: int | None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "name").write_text(f"{name}\n")
        (path / "energy_uj").write_text("0\n")
        (path / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        if max_power_uw is not None:
            (path / "constraint_0_max_power_uw").write_text(f"{max_power_uw}\n")

    def set_energy(self, device: str, energy_uj: int) -> None:
        """Write the raw counter of ``device`` (``"cpu:package-0"``, ``"cpu:dram-0"``...)."""
        (self.zones[device] / "energy_uj").write_text(f"{int(energy_uj)}\n")


CpuScript = float | Callable[[float], float]


class ScriptedAttribution(Attribution):
    """A run on a machine whose CPU times follow a clock: a rate in busy CPUs, or cumulative seconds of time.

    The machine's process time is the run's plus the others'; its idle time is the rest of ``logical_cpus``
    (less interrupts and steal). Set :attr:`broken` to make the next read fail (a vanished cgroup).

    Args:
        clock: The meter's (fake) clock.
        run_cpus: The run's busy CPUs (a number), or a function of time giving its cumulative CPU seconds.
        others_cpus: Other processes' busy CPUs, the same way.
        logical_cpus: CPUs of the machine.
        physical_cores: Cores for the SMT rule (default: ``logical_cpus``).
        irq_cpus: CPUs busy serving interrupts.
        steal_cpus: CPUs taken by the hypervisor.
        pids: What :meth:`pids` returns (for GPU tests).

    Example:
        >>> from powertrain.meters import EnergyMeter
        >>> clock = FakeClock()
        >>> rapl = ScriptedPowerSensor([40.0], device="cpu:package-0", component="cpu", clock=clock)
        >>> rapl.idle_power_w = 10.0
        >>> scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=2.0, logical_cpus=4)
        >>> with EnergyMeter([rapl], sample_period_s=None, clock=clock, attribution=scope) as meter:
        ...     with meter.window("w") as w:
        ...         clock.advance(10.0)
        >>> m = w.measurement
        >>> m.machine_total_j, m.dynamic_j, m.static_j   # active 300 J split 1:2, idle 100 J by 1 of 4 CPUs
        (400.0, 100.0, 25.0)
    """

    kind = "process"

    def __init__(
        self,
        clock: Clock,
        *,
        run_cpus: CpuScript = 1.0,
        others_cpus: CpuScript = 0.0,
        logical_cpus: int = 2,
        physical_cores: int | None = None,
        irq_cpus: float = 0.0,
        steal_cpus: float = 0.0,
        pids: set[int] | None = None,
    ) -> None:
        self._clock = clock
        self._run, self._others = run_cpus, others_cpus
        self.logical_cpus = logical_cpus
        self.physical_cores = physical_cores or logical_cpus
        self._irq, self._steal = irq_cpus, steal_cpus
        self._pids = pids
        self._t0: float | None = None
        self._machine_read_s: float | None = None
        self.broken = False

    @staticmethod
    def _seconds(script: CpuScript, t_s: float) -> float:
        return float(script(t_s)) if callable(script) else float(script) * t_s

    def open(self) -> None:
        """Start the scripted clock's origin."""
        self._t0 = self._clock()

    def _elapsed(self) -> float:
        return self._clock() - (self._t0 if self._t0 is not None else self._clock())

    def cpu_s(self) -> float:
        """The run's scripted CPU seconds since :meth:`open`.

        Read at the instant of the machine's times just before (a sample reads both), so that on a real clock the
        two never drift apart by however long the machine paused this thread between the reads.
        """
        if self.broken:
            raise SensorError("scripted attribution: the run's CPU time is gone")
        t, self._machine_read_s = (self._machine_read_s, None) if self._machine_read_s is not None else (
            self._elapsed(), None)  # fmt: skip
        return self._seconds(self._run, t)

    def machine_times(self) -> MachineTimes:
        """The machine's scripted CPU times (what ``/proc/stat`` would say)."""
        t = self._machine_read_s = self._elapsed()
        process = self._seconds(self._run, t) + self._seconds(self._others, t)
        irq, steal = self._irq * t, self._steal * t
        return MachineTimes(process, irq, max(self.logical_cpus * t - process - irq - steal, 0.0), steal)

    def pids(self) -> set[int] | None:
        """The scripted PIDs."""
        return self._pids

    def describe(self) -> dict[str, Any]:
        """A process scope, scripted."""
        return {"scope": "process", "method": "scripted CPU times (tests)"}
