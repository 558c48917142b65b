"""A handle on one meter window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from powertrain.meters._timeline import Boundary
from powertrain.meters.measurement import Measurement

if TYPE_CHECKING:
    from powertrain.meters.meter import EnergyMeter

__all__ = ["Window"]


class Window:
    """A window opened by :meth:`EnergyMeter.begin` or :meth:`EnergyMeter.window`.

    Holding a handle costs two timestamps; the energy is computed when :attr:`measurement` is first read
    and cached from then on.

    Attributes:
        name: The window's name.
    """

    __slots__ = ("_end", "_measurement", "_meter", "_start", "name")

    def __init__(self, meter: EnergyMeter, name: str, start: Boundary) -> None:
        self._meter = meter
        self.name = name
        self._start = start
        self._end: Boundary | None = None
        self._measurement: Measurement | None = None

    @property
    def start_s(self) -> float:
        """Start time on the meter's clock."""
        return self._start.t_s

    @property
    def end_s(self) -> float | None:
        """End time on the meter's clock, None while open."""
        return None if self._end is None else self._end.t_s

    @property
    def is_open(self) -> bool:
        """True until the window is ended."""
        return self._end is None

    @property
    def ready(self) -> bool:
        """True when :attr:`measurement` can be read without taking a sample."""
        return self._end is not None and self._start.pinned and self._end.pinned

    @property
    def measurement(self) -> Measurement:
        """The window's energy; blocks for one sensor round at most if the sampler has not caught up.

        Raises:
            RuntimeError: The window is still open.
        """
        if self._measurement is None:
            if self._end is None:
                raise RuntimeError(f"measurement window {self.name!r} is still open; end it first")
            self._measurement = self._meter._measure(self)
        return self._measurement

    def __repr__(self) -> str:
        state = "open" if self.is_open else ("ready" if self.ready else "pending")
        return f"Window({self.name!r}, {state})"
