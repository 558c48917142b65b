"""Per-sensor cumulative energy series with bounded memory (private to the meter).

A :class:`Series` holds knots ``(t_s, cumulative_j)`` and interpolates linearly between them. When it
grows past ``max_points`` it drops every other knot except the newest one: the cumulative value at every
kept knot is still exact, only the resolution between knots gets coarser (uniformly over the run).
Window boundaries are pinned (their interpolated values stored) as soon as a knot at or after them
exists, so decimation never changes a window's energy.

A :class:`Track` turns a sensor's readings into that series: counters are offset to start at zero and a
counter that goes down is treated as a reset (the interval that contains it counts zero joules); power
readings are integrated with the trapezoid rule. Beside the machine's joules a track keeps the run's
(attribution): every knot's energy since the previous knot is split by the track's :data:`Splitter` into the
run's dynamic and static joules, from the CPU account's columns over the same interval, so windows interpolate
the run's figures exactly as the machine's (columns: :data:`TRACK_COLUMNS`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from powertrain.meters.base import Reading, Sensor

__all__ = ["TRACK_COLUMNS", "Boundary", "Pinning", "Series", "Splitter", "Track"]

# A track's cumulative columns: the machine's joules, the run's dynamic and static joules, the seconds during which
# other processes shared the device, and the seconds during which they did and the energy could not be split.
TRACK_COLUMNS = ("machine_j", "dynamic_j", "static_j", "shared_s", "unsplit_s")
# (machine joules of the interval, CPU account deltas or None, the track) -> the interval's other columns
Splitter = Callable[[float, "Sequence[float] | None", "Track"], tuple[float, float, float, float]]


def whole_device(delta_j: float, cpu: Sequence[float] | None, track: Track) -> tuple[float, float, float, float]:
    """The default split: every joule is the run's (dynamic), nothing shared."""
    return delta_j, 0.0, 0.0, 0.0


class Series:
    """Cumulative values over time (one or more columns), linear between knots, clamped outside them.

    Args:
        max_points: Knot budget; at least 4.
        width: Number of columns; column 0 is :attr:`e`.
    """

    __slots__ = ("cols", "max_points", "t")

    def __init__(self, max_points: int, width: int = 1) -> None:
        self.max_points = max(4, int(max_points))
        self.t = array("d")
        self.cols = [array("d") for _ in range(max(1, width))]

    @property
    def e(self) -> array:
        """Column 0 (a track's machine joules)."""
        return self.cols[0]

    def __len__(self) -> int:
        return len(self.t)

    @property
    def last_t(self) -> float:
        return self.t[-1] if self.t else float("-inf")

    def append(self, t_s: float, *values: float) -> None:
        """Add a knot: its time and one value per column (missing columns repeat their last value, or 0)."""
        if self.t and t_s < self.t[-1]:  # a non-monotonic clock must not break bisection
            t_s = self.t[-1]
        self.t.append(t_s)
        for i, col in enumerate(self.cols):
            col.append(values[i] if i < len(values) else (col[-1] if col else 0.0))

    def last(self) -> tuple[float, ...]:
        """The newest knot's values (zeros before any knot)."""
        return tuple(col[-1] if col else 0.0 for col in self.cols)

    def trim(self) -> None:
        """Drop every other knot, keeping the newest, when over budget (after pinning boundaries)."""
        if len(self.t) <= self.max_points:
            return
        n = len(self.t)
        last = (self.t[-1], *(col[-1] for col in self.cols))
        self.t = self.t[0 : n - 1 : 2]
        self.cols = [col[0 : n - 1 : 2] for col in self.cols]
        if (self.t[-1], *(col[-1] for col in self.cols)) != last:
            self.t.append(last[0])
            for col, value in zip(self.cols, last[1:], strict=True):
                col.append(value)

    def value_at(self, t_s: float) -> float:
        """Column 0 at ``t_s`` (0 before any knot)."""
        return self.values_at(t_s)[0]

    def values_at(self, t_s: float) -> tuple[float, ...]:
        """Every column at ``t_s``, interpolated linearly (zeros before any knot)."""
        n = len(self.t)
        if n == 0:
            return (0.0,) * len(self.cols)
        i = bisect_right(self.t, t_s)
        if i == 0:
            return tuple(col[0] for col in self.cols)
        if i == n:
            return tuple(col[-1] for col in self.cols)
        t0, t1 = self.t[i - 1], self.t[i]
        f = (t_s - t0) / (t1 - t0)
        return tuple(col[i - 1] + (col[i] - col[i - 1]) * f for col in self.cols)

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
    """A window edge: its time and, once known, every track's cumulative columns there (by device label)."""

    t_s: float
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    waiting: int = 0  # tracks that have not pinned this boundary yet

    @property
    def pinned(self) -> bool:
        return self.waiting == 0


class Pinning:
    """A series that pins window edges (:class:`Boundary`) once it covers them: every track, and the CPU account."""

    device: str
    series: Series
    pending: list[Boundary]

    def covered_until_s(self) -> float:
        """Up to when the series can answer (a failed track: forever, with its last value)."""
        return self.series.last_t

    def pin_ready(self) -> None:
        """Pin every pending boundary the series now covers."""
        if not self.pending:
            return
        cover = self.covered_until_s()
        keep: list[Boundary] = []
        for boundary in self.pending:
            if boundary.t_s <= cover:
                self.pin(boundary)
            else:
                keep.append(boundary)
        self.pending = keep

    def pin(self, boundary: Boundary) -> None:
        """Give ``boundary`` this series' cumulative columns at its instant."""
        boundary.values[self.device] = self.series.values_at(boundary.t_s)
        boundary.waiting -= 1


class Track(Pinning):
    """One sensor's state inside a meter: series, raw counter state, failure and pending boundaries.

    Args:
        sensor: The sensor.
        max_points: Knot budget of the series.
        split: Splits each interval's machine joules into the run's (default: all of it, as dynamic).
        device: The label of this track (default: the sensor's device).
    """

    def __init__(
        self, sensor: Sensor, max_points: int, split: Splitter = whole_device, *, device: str | None = None
    ) -> None:
        self.sensor = sensor
        self.device = device or sensor.device
        self.series = Series(max_points, width=len(TRACK_COLUMNS))
        self.split = split
        self.failed: str | None = None
        self.last_good_t = float("-inf")
        self.resets = 0
        self.samples = 0
        self.pending: list[Boundary] = []
        self.note: dict[str, float] = {}  # what the splitter gathers between knots (GPU process samples)
        self._last_raw: float | None = None
        self._last_power_w: float | None = None
        self._last_t: float | None = None
        self._cpu_at_knot: Sequence[float] | None = None

    @property
    def live(self) -> bool:
        return self.failed is None

    @property
    def latest_power_w(self) -> float | None:
        return self._last_power_w

    def add(
        self, t_s: float, reading: Reading, *, skip_stale_s: float | None, cpu: Sequence[float] | None = None
    ) -> tuple[bool, str | None]:
        """Fold a reading in; return (knot appended, warning or None).

        With ``skip_stale_s`` set, a counter reading equal to the previous one is not a knot (the counter
        has not updated yet, so its true value is higher) unless the last knot is older than that. ``cpu`` is
        the CPU account's cumulative columns at this reading (None without attribution).
        """
        self.samples += 1
        self.last_good_t = t_s
        warning = None
        if self.sensor.kind == "power":
            power_w = max(float(reading.power_w or 0.0), 0.0)
            delta_j = 0.0
            if self._last_t is not None and self._last_power_w is not None:
                delta_j = (power_w + self._last_power_w) / 2 * (t_s - self._last_t)
            first = self._last_t is None
            self._last_power_w, self._last_t = power_w, t_s
            self._knot(t_s, delta_j, cpu, first=first)
            return True, None
        raw = float(reading.energy_j or 0.0)
        if self._last_raw is None:
            self._last_raw = raw
            self._knot(t_s, 0.0, cpu, first=True)
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
        self._knot(t_s, delta, cpu, first=False)
        return True, warning

    def _knot(self, t_s: float, delta_j: float, cpu: Sequence[float] | None, *, first: bool) -> None:
        last = self.series.last()
        if first:
            parts: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
        else:
            since = None
            if cpu is not None and self._cpu_at_knot is not None:
                since = [now - then for now, then in zip(cpu, self._cpu_at_knot, strict=True)]
            parts = self.split(delta_j, since, self)
        self._cpu_at_knot = cpu
        self.note = {}
        # Pin first, trim after: a boundary just covered is interpolated between the two newest knots,
        # which trimming may drop.
        self.series.append(t_s, last[0] + delta_j, *(a + b for a, b in zip(last[1:], parts, strict=True)))
        self.pin_ready()
        self.series.trim()

    def covered_until_s(self) -> float:
        """Up to when the series can answer: every boundary once the sensor failed (its last value holds)."""
        return float("inf") if self.failed is not None else self.series.last_t

    def covers(self, t_s: float) -> bool:
        return self.failed is not None or self.series.last_t >= t_s
