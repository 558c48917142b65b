"""A CPU power estimate for machines without a CPU energy sensor.

Power = (busy fraction of all CPUs since the last read) x (physical cores) x (watts per busy core). The
busy fraction comes from ``psutil.cpu_times`` deltas, machine-wide, so other processes count too. The
figure is a rough default, not a measurement: every value it produces is labelled ``"estimated"``.

The kernel counts CPU time in ticks (10 ms on most Linux systems), so a read a millisecond after the previous one
usually sees no tick at all. The busy fraction is therefore taken over a span of at least two ticks per CPU, and
reads in between repeat the last figure: the estimate is the same at any sampling interval (it used to fall to
0 W between ticks, which made ``measure --interval 0.001`` report a fifth of the energy).
"""

from __future__ import annotations

import time

import psutil

from powertrain.errors import ConfigError
from powertrain.meters.base import Clock, Reading, Sensor, Source

__all__ = ["DEFAULT_CORE_POWER_W", "CpuEstimateSensor"]

# Watts per fully busy physical core: server parts draw about 3-6 W per core at full load (for example
# 280 W TDP / 64 cores = 4.4 W) and desktop parts 8-15 W; 5 W sits in between. Override it with your CPU's
# TDP divided by its core count.
DEFAULT_CORE_POWER_W = 5.0
_TICK_S = 0.01  # USER_HZ = 100: the granularity of /proc/stat
_MIN_TICKS_PER_CPU = 2


class CpuEstimateSensor(Sensor):
    """Estimated CPU power from utilisation (machine-wide).

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
    kind = "power"

    def __init__(
        self,
        *,
        per_core_power_w: float = DEFAULT_CORE_POWER_W,
        cores: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if per_core_power_w < 0:
            raise ConfigError(f"per_core_power_w must be >= 0, got {per_core_power_w}")
        self.cores = cores or psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
        if self.cores <= 0:
            raise ConfigError(f"cores must be positive, got {cores}")
        self.per_core_power_w = per_core_power_w
        self._clock = clock
        self._last = self._busy_total()
        self._min_span_s = _MIN_TICKS_PER_CPU * _TICK_S * (psutil.cpu_count() or 1)
        self._power_w: float | None = None

    @property
    def source(self) -> Source:
        """Always ``"estimated"``."""
        return "estimated"

    @staticmethod
    def _busy_total() -> tuple[float, float]:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        # guest time is already inside user time on Linux
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        return total - idle, total

    def read(self) -> Reading:
        """Return the estimated power in watts over the last span of at least two ticks per CPU.

        Reads that come faster than that repeat the previous figure (the first read uses whatever ticks there are).
        """
        busy, total = self._busy_total()
        d_busy, d_total = busy - self._last[0], total - self._last[1]
        if d_total >= self._min_span_s or (self._power_w is None and d_total > 0):
            utilisation = min(max(d_busy / d_total, 0.0), 1.0)
            self._power_w = utilisation * self.cores * self.per_core_power_w
            if d_total >= self._min_span_s:
                self._last = (busy, total)
        return Reading(timestamp_s=self._clock(), power_w=self._power_w or 0.0)
