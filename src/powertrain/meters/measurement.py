"""The result of one meter window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from powertrain.meters.base import Source

__all__ = ["Measurement"]


@dataclass(frozen=True)
class Measurement:
    """Energy used during one window, with where every number came from.

    Attributes:
        name: The window's name.
        duration_s: Window length in seconds.
        energy_j: Total energy in joules: the sum over the components in ``total_includes``.
        total_includes: Components that ``energy_j`` adds up, for example ``("cpu", "gpu")``. Empty when
            no sensor measured anything.
        energy_by_component_j: Joules per component (``"gpu"``, ``"cpu"``, ``"dram"``).
        energy_by_device_j: Joules per device label (``"gpu:0"``, ``"cpu:package-0"``, ...).
        avg_power_w: ``energy_j / duration_s`` (0 for a zero-length window).
        source_by_device: How each device's energy was obtained: ``"counter"`` (a hardware energy
            counter), ``"integrated"`` (power samples integrated over time) or ``"estimated"`` (a model).
        estimated: True when any part of ``energy_j`` is estimated.
        failed_sensors: Device label -> reason, for every sensor that failed before the window's end.
            Energy measured before the failure is kept; energy after it is missing.
        warnings: Anything else that lowers confidence (counter reset, possible missed RAPL wrap, ...).
        timeline: ``(seconds since window start, total power in W)`` pairs for plots, at most a few hundred.
        start_s: Window start on the meter's clock (``time.monotonic`` by default), to order windows.
    """

    name: str
    duration_s: float
    energy_j: float
    total_includes: tuple[str, ...]
    energy_by_component_j: dict[str, float]
    energy_by_device_j: dict[str, float]
    avg_power_w: float
    source_by_device: dict[str, Source]
    estimated: bool
    failed_sensors: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    timeline: tuple[tuple[float, float], ...] = ()
    start_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists); :meth:`from_dict` reverses it."""
        data = asdict(self)
        data["total_includes"] = list(self.total_includes)
        data["warnings"] = list(self.warnings)
        data["timeline"] = [list(point) for point in self.timeline]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Rebuild a Measurement from :meth:`to_dict` output (for example after ``json.load``).

        Raises:
            ValueError: A required field is missing.
        """
        required = ("name", "duration_s", "energy_j", "energy_by_device_j")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"not a Measurement dict: missing {', '.join(missing)}")
        return cls(
            name=str(data["name"]),
            duration_s=float(data["duration_s"]),
            energy_j=float(data["energy_j"]),
            total_includes=tuple(data.get("total_includes", ())),
            energy_by_component_j={k: float(v) for k, v in data.get("energy_by_component_j", {}).items()},
            energy_by_device_j={k: float(v) for k, v in data["energy_by_device_j"].items()},
            avg_power_w=float(data.get("avg_power_w", 0.0)),
            source_by_device=dict(data.get("source_by_device", {})),
            estimated=bool(data.get("estimated", False)),
            failed_sensors=dict(data.get("failed_sensors", {})),
            warnings=tuple(data.get("warnings", ())),
            timeline=tuple((float(t), float(p)) for t, p in data.get("timeline", ())),
            start_s=float(data.get("start_s", 0.0)),
        )
