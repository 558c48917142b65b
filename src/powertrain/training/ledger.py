"""The energy account of a run: every closed meter window (or tracker segment) counted once, by phase and device.

One bookkeeping for both ways of running: :func:`~powertrain.train`'s totals (:class:`~powertrain.training.accounting.
Totals`, which add what a resume carries over) and :class:`~powertrain.integrations.EnergyTracker` in someone else's
loop. Windows that follow each other add up exactly to the run, so the account is exact at every cut.

The account holds the run's (attributed) energy and, beside it, the machine's over the same windows, the dynamic
and static parts, how it was attributed, and the CPU time of the run and of other processes (the conditions the
run was measured under). Figures with different attributions are never added silently: the first one seen is the
account's, and a window measured otherwise is counted with a warning saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from powertrain.meters.measurement import RESULTS_SCHEMA, attribution_scope

if TYPE_CHECKING:
    from powertrain.meters import Measurement

__all__ = ["RESULTS_SCHEMA", "EnergyLedger", "attribution_scope"]


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
    machine_energy_j: float = 0.0
    machine_by_device_j: dict[str, float] = field(default_factory=dict)
    dynamic_j: float = 0.0
    static_j: float = 0.0
    attribution: dict[str, Any] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def unattributed_j(self) -> float:
        """The machine's energy that is not the run's (other processes, interrupts, idle capacity)."""
        return max(self.machine_energy_j - self.energy_j, 0.0)

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
        machine_j: float | None = None,
        machine_by_device_j: Mapping[str, float] | None = None,
        dynamic_j: float | None = None,
        static_j: float = 0.0,
        attribution: Mapping[str, Any] | None = None,
        cpu_s: Mapping[str, float] | None = None,
    ) -> None:
        """Count one closed stretch of the run (a meter window, a tracker segment) toward ``phase``.

        ``machine_j`` (default: ``energy_j``, the figure of a machine-wide window) and the other keywords carry the
        attribution: the machine's energy beside the run's, the run's dynamic and static parts, how it was attributed
        and the CPU seconds of the run and of other processes (``run_cpu_s``, ``others_cpu_s``, ...).
        """
        self.energy_j += energy_j
        self.machine_energy_j += energy_j if machine_j is None else machine_j
        _add(self.machine_by_device_j, by_device_j if machine_by_device_j is None else machine_by_device_j)
        self.dynamic_j += energy_j - static_j if dynamic_j is None else dynamic_j
        self.static_j += static_j
        self._attribute(attribution)
        _add(self.cpu_s, cpu_s or {})
        self.elapsed_s += duration_s
        _add(self.phase_energy_j, {phase: energy_j})
        _add(self.by_device_j, by_device_j)
        _add(self.by_component_j, by_component_j)
        self.source_by_device.update(source_by_device)
        self.sources.update(source_by_device.values())
        self.estimated = self.estimated or estimated
        self.failed.update(failed)
        self.warnings.update(dict.fromkeys(warnings))

    def _attribute(self, attribution: Mapping[str, Any] | None) -> None:
        """Keep the first attribution seen; a window attributed otherwise is counted, with a warning."""
        if not attribution:
            return
        described = {k: v for k, v in attribution.items() if k != "devices"}
        if not self.attribution:
            self.attribution = described
        elif attribution_scope(described) != attribution_scope(self.attribution):
            self.warnings[
                f"energy of one run measured with two attributions: {attribution_scope(self.attribution)} and "
                f"{attribution_scope(described)} (the totals add them; compare such runs with care)"
            ] = None
        for key in ("failed", "fallback"):
            if key in described and key not in self.attribution:
                self.attribution[key] = described[key]

    def count_measurement(self, m: Measurement, phase: str) -> None:
        """Count a closed meter window's :class:`~powertrain.meters.Measurement` toward ``phase``."""
        cpu = {k: float(m.conditions[k]) for k in _CPU_KEYS if k in m.conditions}
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
            machine_j=m.machine_total_j,
            machine_by_device_j=m.machine_energy_by_device_j,
            dynamic_j=m.dynamic_j,
            static_j=m.static_j,
            attribution=m.attribution,
            cpu_s=cpu,
        )

    def conditions(self) -> dict[str, Any]:
        """The CPU conditions over everything counted: the run's and other processes' busy CPUs on average."""
        duration_s = self.elapsed_s
        figures: dict[str, Any] = {k: round(v, 6) for k, v in self.cpu_s.items()}
        if duration_s > 0 and self.cpu_s:
            figures["run_cpus"] = self.cpu_s.get("run_cpu_s", 0.0) / duration_s
            figures["others_load"] = self.cpu_s.get("others_cpu_s", 0.0) / duration_s
        return figures


_CPU_KEYS = ("run_cpu_s", "others_cpu_s", "irq_cpu_s", "steal_cpu_s")

