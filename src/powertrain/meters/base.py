"""The sensor interface every energy backend implements, and the null sensor.

A :class:`Sensor` reads one device (one GPU, one CPU package, one DRAM zone). It returns a
:class:`Reading` that holds either a cumulative energy in joules (``kind == "counter"``) or an
instantaneous power in watts (``kind == "power"``). Units are converted once, inside the sensor.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "Clock",
    "Component",
    "NullSensor",
    "Reading",
    "Sensor",
    "SensorKind",
    "SensorStatus",
    "Source",
]

Component = Literal["gpu", "cpu", "dram"]
SensorKind = Literal["counter", "power"]
Source = Literal["counter", "integrated", "estimated"]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of a sensor.

    Attributes:
        timestamp_s: When the value was read, on the sensor's clock (``time.monotonic`` by default).
        energy_j: Cumulative energy in joules since an arbitrary origin (counter sensors), else None.
        power_w: Instantaneous power in watts (power sensors), else None.
        warnings: Anything the reader should know about this value, for example a RAPL wraparound that
            may have been missed.
    """

    timestamp_s: float
    energy_j: float | None = None
    power_w: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """Whether one kind of sensor works on this machine, for ``powertrain info``.

    Attributes:
        kind: Sensor kind, for example ``"nvml-counter"`` or ``"rapl-package"``.
        available: True when at least one device of this kind can be read.
        reason: Why it is (un)available, with a hint on how to fix it.
        devices: Device labels that can be read, for example ``("gpu:0", "gpu:1")``.
    """

    kind: str
    available: bool
    reason: str
    devices: tuple[str, ...] = ()


class Sensor(ABC):
    """A source of energy readings for one device.

    Subclasses set ``name``, ``device``, ``component`` and ``kind`` and implement :meth:`read`.
    ``source`` defaults to ``"counter"`` for counters and ``"integrated"`` for power sensors; estimators
    set it to ``"estimated"``. ``max_read_interval_s`` tells the meter how often it must read the sensor
    so that no wraparound is lost (None: no limit). ``idle_power_w`` is the device's power when idle, if known:
    attribution then takes the static part of host energy from it instead of from the machine's busy fraction.

    Thread safety: a sensor is read by one thread at a time (the meter serialises its reads).
    Sensors are context managers; :meth:`close` releases driver handles and files.
    """

    name: str = "sensor"
    device: str = "unknown"
    component: Component = "cpu"
    kind: SensorKind = "counter"
    max_read_interval_s: float | None = None
    is_null: bool = False
    idle_power_w: float | None = None  # the device's idle (static) power when known, for attribution

    def process_probe(self) -> Any | None:
        """An object that lists the processes using this device (NVML GPUs), or None (host sensors)."""
        return None

    def conditions(self) -> dict[str, Any]:
        """The device's operating conditions now, where readable (GPU clocks, power limit); empty by default."""
        return {}

    @property
    def source(self) -> Source:
        """How this sensor's energy is obtained: read from a counter, integrated power, or estimated."""
        return "counter" if self.kind == "counter" else "integrated"

    @abstractmethod
    def read(self) -> Reading:
        """Read the sensor now.

        Raises:
            SensorError: The device could not be read (the meter marks the sensor failed).
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most sensors hold nothing
        """Release handles; reading after close is undefined."""

    def __enter__(self) -> Sensor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r}, kind={self.kind!r}, source={self.source!r})"


class NullSensor(Sensor):
    """A sensor that measures nothing: every reading is zero joules.

    Discovery returns it when no sensor at all can be read, so callers never test for None. The meter
    leaves null sensors out of every total and says so in the measurement's warnings.

    Args:
        clock: Time source for readings.
    """

    name = "null"
    device = "none"
    is_null = True

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock

    def read(self) -> Reading:
        """Return zero joules."""
        return Reading(timestamp_s=self._clock(), energy_j=0.0)
