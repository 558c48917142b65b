"""The energy account of a run: every closed meter window (or tracker segment) counted once, by phase and device.

One bookkeeping for both ways of running: :func:`~powertrain.train`'s totals (:class:`~powertrain.training.accounting.
Totals`, which add what a resume carries over) and :class:`~powertrain.integrations.EnergyTracker` in someone else's
loop. Windows that follow each other add up exactly to the run, so the account is exact at every cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from powertrain.meters import Measurement

__all__ = ["EnergyLedger"]


def _add(into: dict[str, float], more: Mapping[str, float]) -> None:
    for key, joules in more.items():
        into[key] = into.get(key, 0.0) + float(joules)


@dataclass
class EnergyLedger:
    """Running totals of a run (joules and seconds): overall, per phase, per device and per component.

    Attributes:
        energy_j: Everything counted so far.
        elapsed_s: Wall-clock seconds counted so far.
        phase_energy_j: Joules per phase (``train``, ``eval``, ``other``...).
        by_device_j: Joules per device (``gpu:0``, ``cpu:0``...).
        by_component_j: Joules per component (``gpu``, ``cpu``, ``dram``).
        source_by_device: Device -> how it was measured (``counter``, ``integrated``, ``estimated``).
        sources: Every source name seen (also from records that name no device, e.g. an old checkpoint's epochs).
        estimated: Whether any part is estimated.
        failed: Device -> why its sensor failed.
        warnings: Anything that lowers confidence in the figures, once each, in order.
    """

    energy_j: float = 0.0
    elapsed_s: float = 0.0
    phase_energy_j: dict[str, float] = field(default_factory=dict)
    by_device_j: dict[str, float] = field(default_factory=dict)
    by_component_j: dict[str, float] = field(default_factory=dict)
    source_by_device: dict[str, str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    estimated: bool = False
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, None] = field(default_factory=dict)

    def count(
        self,
        phase: str,
        *,
        energy_j: float,
        duration_s: float,
        by_device_j: Mapping[str, float],
        by_component_j: Mapping[str, float],
        source_by_device: Mapping[str, str],
        estimated: bool,
        failed: Mapping[str, str],
        warnings: Iterable[str] = (),
    ) -> None:
        """Count one closed stretch of the run (a meter window, a tracker segment) toward ``phase``."""
        self.energy_j += energy_j
        self.elapsed_s += duration_s
        _add(self.phase_energy_j, {phase: energy_j})
        _add(self.by_device_j, by_device_j)
        _add(self.by_component_j, by_component_j)
        self.source_by_device.update(source_by_device)
        self.sources.update(source_by_device.values())
        self.estimated = self.estimated or estimated
        self.failed.update(failed)
        self.warnings.update(dict.fromkeys(warnings))

    def count_measurement(self, m: Measurement, phase: str) -> None:
        """Count a closed meter window's :class:`~powertrain.meters.Measurement` toward ``phase``."""
        self.count(
            phase,
            energy_j=m.energy_j,
            duration_s=m.duration_s,
            by_device_j=m.energy_by_device_j,
            by_component_j=m.energy_by_component_j,
            source_by_device=m.source_by_device,
            estimated=m.estimated,
            failed=m.failed_sensors,
            warnings=m.warnings,
        )
