"""Per-sensor cumulative energy series with bounded memory (private to the meter).

A :class:`Series` holds knots ``(t_s, cumulative_j)`` and interpolates linearly between them. When it
grows past ``max_points`` it drops every other knot except the newest one: the cumulative value at every
kept knot is still exact, only the resolution between knots gets coarser (uniformly over the run).
Window boundaries are pinned (their interpolated values stored) as soon as a knot at or after them
exists, so decimation never changes a window's energy.

A :class:`Track` turns a sensor's readings into that series: counters are offset to start at zero and a
counter that goes down is treated as a reset (the interval that contains it counts zero joules); power
readings are integrated with the trapezoid rule.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from powertrain.meters.base import Reading, Sensor

__all__ = ["Boundary", "Series", "Track"]


class Series:
    """Cumulative joules over time, linear between knots, clamped outside them.

    Args:
        max_points: Knot budget; at least 4.
    """

    __slots__ = ("e", "max_points", "t")

    def __init__(self, max_points: int) -> None:
        self.max_points = max(4, int(max_points))
        self.t = array("d")
        self.e = array("d")

    def __len__(self) -> int:
        return len(self.t)

    @property
    def last_t(self) -> float:
        return self.t[-1] if self.t else float("-inf")

    def append(self, t_s: float, energy_j: float) -> None:
        if self.t and t_s < self.t[-1]:  # a non-monotonic clock must not break bisection
            t_s = self.t[-1]
        self.t.append(t_s)
        self.e.append(energy_j)

    def trim(self) -> None:
        """Drop every other knot, keeping the newest, when over budget (after pinning boundaries)."""
        if len(self.t) <= self.max_points:
            return
        last_t, last_e = self.t[-1], self.e[-1]
        self.t = self.t[0 : len(self.t) - 1 : 2]
        self.e = self.e[0 : len(self.e) - 1 : 2]
        if self.t[-1] != last_t or self.e[-1] != last_e:
            self.t.append(last_t)
            self.e.append(last_e)

    def value_at(self, t_s: float) -> float:
        """Cumulative joules at ``t_s`` (0 before any knot)."""
        n = len(self.t)
        if n == 0:
            return 0.0
        i = bisect_right(self.t, t_s)
        if i == 0:
            return self.e[0]
        if i == n:
            return self.e[-1]
        t0, t1 = self.t[i - 1], self.t[i]
        e0, e1 = self.e[i - 1], self.e[i]
        return e0 + (e1 - e0) * (t_s - t0) / (t1 - t0)

    def _inside(self, t0_s: float, t1_s: float) -> tuple[int, int]:
        return bisect_right(self.t, t0_s), bisect_left(self.t, t1_s)

    def count_between(self, t0_s: float, t1_s: float) -> int:
        """Number of knots strictly inside ``(t0_s, t1_s)``."""
        lo, hi = self._inside(t0_s, t1_s)
        return max(hi - lo, 0)

    def knots_between(self, t0_s: float, t1_s: float) -> array:
        """Knot times strictly inside ``(t0_s, t1_s)``."""
        lo, hi = self._inside(t0_s, t1_s)
        return self.t[lo:hi]


@dataclass(eq=False)
class Boundary:
    """A window edge: its time and, once known, the cumulative joules of every sensor there."""

    t_s: float
    values_j: dict[str, float] = field(default_factory=dict)
    waiting: int = 0  # tracks that have not pinned this boundary yet

    @property
    def pinned(self) -> bool:
        return self.waiting == 0


class Track:
    """One sensor's state inside a meter: series, raw counter state, failure and pending boundaries."""

    def __init__(self, sensor: Sensor, max_points: int) -> None:
        self.sensor = sensor
        self.device = sensor.device
        self.series = Series(max_points)
        self.failed: str | None = None
        self.last_good_t = float("-inf")
        self.resets = 0
        self.samples = 0
        self.pending: list[Boundary] = []
        self._last_raw: float | None = None
        self._last_power_w: float | None = None
        self._last_t: float | None = None
        self._stale_since: float | None = None

    @property
    def live(self) -> bool:
        return self.failed is None

    @property
    def latest_power_w(self) -> float | None:
        return self._last_power_w

    def add(self, t_s: float, reading: Reading, *, skip_stale_s: float | None) -> tuple[bool, str | None]:
        """Fold a reading in; return (knot appended, warning or None).

        With ``skip_stale_s`` set, a counter reading equal to the previous one is not a knot (the counter
        has not updated yet, so its true value is higher) unless the last knot is older than that.
        """
        self.samples += 1
        self.last_good_t = t_s
        warning = None
        if self.sensor.kind == "power":
            power_w = max(float(reading.power_w or 0.0), 0.0)
            energy_j = 0.0
            if self._last_t is not None and self._last_power_w is not None:
                energy_j = self.series.e[-1] + (power_w + self._last_power_w) / 2 * (t_s - self._last_t)
            self._last_power_w, self._last_t = power_w, t_s
            self._append(t_s, energy_j)
            return True, None
        raw = float(reading.energy_j or 0.0)
        if self._last_raw is None:
            self._last_raw = raw
            self._append(t_s, 0.0)
            return True, None
        delta = raw - self._last_raw
        if delta < 0:
            self.resets += 1
            warning = (
                f"{self.device}: counter went down ({self._last_raw:.3f} J -> {raw:.3f} J), treated as a "
                "reset; energy between these two reads is not counted"
            )
            delta = 0.0
        elif delta == 0 and skip_stale_s is not None and t_s - self.series.last_t < skip_stale_s:
            return False, None
        self._last_raw = raw
        self._append(t_s, self.series.e[-1] + delta)
        return True, warning

    def _append(self, t_s: float, energy_j: float) -> None:
        # Pin first, trim after: a boundary just covered is interpolated between the two newest knots,
        # which trimming may drop.
        self.series.append(t_s, energy_j)
        self.pin_ready()
        self.series.trim()

    def pin_ready(self) -> None:
        """Pin every pending boundary the series now covers (all of them once the sensor failed)."""
        if not self.pending:
            return
        cover = float("inf") if self.failed is not None else self.series.last_t
        keep: list[Boundary] = []
        for boundary in self.pending:
            if boundary.t_s <= cover:
                self.pin(boundary)
            else:
                keep.append(boundary)
        self.pending = keep

    def pin(self, boundary: Boundary) -> None:
        boundary.values_j[self.device] = self.series.value_at(boundary.t_s)
        boundary.waiting -= 1

    def covers(self, t_s: float) -> bool:
        return self.failed is not None or self.series.last_t >= t_s
