"""A CPU energy estimate for machines without a CPU energy sensor.

Energy = (busy core-seconds) x (watts per busy core). It is a counter: each read adds the core-seconds since the
previous read, so the figure is the same at any sampling interval. Busy core-seconds come from ``/proc/stat``
(the machine) through :class:`~powertrain.meters._cpustat.CpuAccount`, which applies the SMT rule: busy logical
CPUs count as at most one per physical core. Inside an :class:`~powertrain.meters.EnergyMeter` the meter feeds
the sensor from its own CPU account instead, and the run's share is *its* CPU seconds x the same watts per busy
core (see ``docs/meter.md``, "Attribution"). The figure is a rough default, not a measurement: every value it
produces is labelled ``"estimated"``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from powertrain.errors import ConfigError
from powertrain.meters._cpustat import COLUMNS, CpuAccount, cpu_topology
from powertrain.meters.base import Clock, Reading, Sensor, Source

__all__ = ["DEFAULT_CORE_POWER_W", "CpuEstimateSensor"]

# Watts per fully busy physical core: server parts draw about 3-6 W per core at full load (for example
# 280 W TDP / 64 cores = 4.4 W) and desktop parts 8-15 W; 5 W sits in between. Override it with your CPU's
# TDP divided by its core count.
DEFAULT_CORE_POWER_W = 5.0
_MACHINE_CORE = COLUMNS.index("machine_core_s")


class CpuEstimateSensor(Sensor):
    """Estimated CPU energy from busy core-seconds (machine-wide when read on its own).

    Args:
        per_core_power_w: Watts drawn by one fully busy physical core (default 5 W).
        cores: Physical core count (default: from psutil, else the logical count).
        clock: Time source for readings.

    Raises:
        ConfigError: ``per_core_power_w`` is negative or ``cores`` is not positive.
    """

    name = "cpu-estimate"
    device = "cpu:estimate"
    component = "cpu"
    kind = "counter"

    def __init__(
        self,
        *,
        per_core_power_w: float = DEFAULT_CORE_POWER_W,
        cores: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if per_core_power_w < 0:
            raise ConfigError(f"per_core_power_w must be >= 0, got {per_core_power_w}")
        if cores is not None and cores <= 0:
            raise ConfigError(f"cores must be positive, got {cores}")
        self.cores = cores or cpu_topology()[1]
        self.per_core_power_w = per_core_power_w
        self._clock = clock
        self._account = CpuAccount(None, physical_cores=self.cores)
        self._account.sample(clock())

    @property
    def source(self) -> Source:
        """Always ``"estimated"``."""
        return "estimated"

    def reading_from(self, totals: Sequence[float], t_s: float) -> Reading:
        """The reading that a CPU account's cumulative columns imply (what the meter uses)."""
        return Reading(timestamp_s=t_s, energy_j=totals[_MACHINE_CORE] * self.per_core_power_w)

    def read(self) -> Reading:
        """Return the estimated cumulative energy in joules since this sensor was made (machine-wide)."""
        now = self._clock()
        return self.reading_from(self._account.sample(now), now)
