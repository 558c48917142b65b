"""A handle on one meter window."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import TracebackType

from powertrain.meters._timeline import Boundary
from powertrain.meters.measurement import Measurement

__all__ = ["Window", "WindowScope", "cuda_sync"]


class Window:
    """A window opened by :meth:`EnergyMeter.begin` or :meth:`EnergyMeter.window`.

    Holding a handle costs two timestamps; the energy is computed when :attr:`measurement` is first read
    and cached from then on.

    Attributes:
        name: The window's name.

    Args:
        owner: The meter that opened it (compared by identity only).
        name: The window's name.
        start: Its start edge.
        measure: Builds the measurement of an ended window (the meter's).
    """

    __slots__ = ("_end", "_measure", "_measurement", "_meter", "_start", "name")

    def __init__(self, owner: object, name: str, start: Boundary, measure: Callable[[Window], Measurement]) -> None:
        self._meter = owner
        self._measure = measure
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
            self._measurement = self._measure(self)
        return self._measurement

    def __repr__(self) -> str:
        state = "open" if self.is_open else ("ready" if self.ready else "pending")
        return f"Window({self.name!r}, {state})"


class WindowScope:
    """What ``meter.window(name)`` returns: a plain context manager (cheaper than a generator).

    Args:
        begin: The meter's ``begin``.
        close: Closes a window by name and returns its handle (the meter's ``finish``).
        name: The window's name.
        after: An ended window to chain after.
    """

    __slots__ = ("_after", "_begin", "_close", "_name")

    def __init__(
        self,
        begin: Callable[..., Window],
        close: Callable[[str], Window],
        name: str,
        after: Window | None = None,
    ) -> None:
        self._begin, self._close, self._name, self._after = begin, close, name, after

    def __enter__(self) -> Window:
        return self._begin(self._name, after=self._after)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close(self._name)


def cuda_sync() -> Callable[[], None] | None:
    """``torch.cuda.synchronize`` when CUDA is available, else None with a warning."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is None or not torch.cuda.is_available():
        warnings.warn("sync_cuda=True but CUDA is not available; window edges are not synchronised", stacklevel=4)
        return None
    return torch.cuda.synchronize
