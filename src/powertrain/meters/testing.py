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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from powertrain.errors import SensorError
from powertrain.meters.base import Clock, Component, Reading, Sensor, Source

__all__ = ["FakeClock", "FakePowercap", "ScriptedCounterSensor", "ScriptedPowerSensor"]

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
