"""The result of one meter window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from powertrain.meters.base import Source

__all__ = ["LEGACY_ATTRIBUTION", "RESULTS_SCHEMA", "Measurement", "attribution_scope"]

#: The version of the results powertrain writes (run summaries, ``measure --out``, sweep results, integration
#: summaries): 2 = energy attributed to the run (``attribution``), with the machine's beside it; results without a
#: ``schema_version`` (1) hold machine-wide figures.
RESULTS_SCHEMA = 2

# What a measurement recorded before attribution existed measured: the whole machine.
LEGACY_ATTRIBUTION: dict[str, Any] = {"scope": "machine", "method": "recorded before attribution: whole machine"}


def attribution_scope(attribution: Mapping[str, Any] | None) -> str:
    """``"process"``, ``"cgroup"`` or ``"machine"`` of a recorded attribution (none recorded: the machine's energy)."""
    if not attribution:
        return "machine"
    return str(attribution.get("scope") or "machine")


@dataclass(frozen=True)
class Measurement:
    """Energy used during one window by the run, with the machine's beside it and where every number came from.

    Attributes:
        name: The window's name.
        duration_s: Window length in seconds.
        energy_j: The run's energy in joules (attributed, see ``attribution``): the sum over the components in
            ``total_includes``. With ``attribution["scope"] == "machine"`` it is the machine's.
        total_includes: Components that ``energy_j`` adds up, for example ``("cpu", "gpu")``. Empty when
            no sensor measured anything.
        energy_by_component_j: The run's joules per component (``"gpu"``, ``"cpu"``, ``"dram"``).
        energy_by_device_j: The run's joules per device label (``"gpu:0"``, ``"cpu:package-0"``, ...).
        avg_power_w: ``energy_j / duration_s`` (0 for a zero-length window).
        source_by_device: How each device's energy was obtained: ``"counter"`` (a hardware energy
            counter), ``"integrated"`` (power samples integrated over time) or ``"estimated"`` (a model).
        estimated: True when any part of ``energy_j`` is estimated.
        failed_sensors: Device label -> reason, for every sensor that failed before the window's end.
            Energy measured before the failure is kept; energy after it is missing.
        warnings: Anything else that lowers confidence (counter reset, possible missed RAPL wrap, a GPU shared
            and not attributed, attribution that fell back to the machine, ...).
        timeline: ``(seconds since window start, the run's power in W)`` pairs for plots, at most a few hundred.
        start_s: Window start on the meter's clock (``time.monotonic`` by default), to order windows.
        machine_total_j: The devices' whole energy over the window, whoever used it (never added into a run's total).
        machine_energy_by_device_j: The devices' whole energy per device label.
        unattributed_j: ``machine_total_j - energy_j``: energy of other processes, interrupts and idle capacity.
        dynamic_j: The part of ``energy_j`` the run's activity caused (CPU time share of the active power).
        static_j: The run's share of idle power (``dynamic_j + static_j == energy_j``).
        attribution: How the energy was attributed: ``scope`` (``"process"``, ``"cgroup"`` or ``"machine"``),
            ``method``, and per device its ``rule`` and, for a GPU others used too, ``shared_s``, ``unsplit_s``
            (shared, not attributed) and ``other_processes``; ``fallback``/``failed`` when it could not attribute.
        conditions: What the window was measured under, from the CPU account: ``run_cpu_s``, ``others_cpu_s``
            (other processes' CPU time), ``irq_cpu_s``, ``steal_cpu_s``, ``others_load`` (other processes' busy
            CPUs on average), ``run_cpus`` (the run's busy CPUs on average), ``logical_cpus``.
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
    machine_total_j: float = 0.0
    machine_energy_by_device_j: dict[str, float] = field(default_factory=dict)
    unattributed_j: float = 0.0
    dynamic_j: float = 0.0
    static_j: float = 0.0
    attribution: dict[str, Any] = field(default_factory=lambda: dict(LEGACY_ATTRIBUTION))
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """``"process"``, ``"cgroup"`` or ``"machine"``: whose energy ``energy_j`` is."""
        return str(self.attribution.get("scope", "machine"))

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

        A dict written before attribution existed reads as the machine's energy (``attribution`` says so).

        Raises:
            ValueError: A required field is missing.
        """
        required = ("name", "duration_s", "energy_j", "energy_by_device_j")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"not a Measurement dict: missing {', '.join(missing)}")
        energy_j = float(data["energy_j"])
        by_device = {k: float(v) for k, v in data["energy_by_device_j"].items()}
        legacy = "attribution" not in data
        return cls(
            name=str(data["name"]),
            duration_s=float(data["duration_s"]),
            energy_j=energy_j,
            total_includes=tuple(data.get("total_includes", ())),
            energy_by_component_j={k: float(v) for k, v in data.get("energy_by_component_j", {}).items()},
            energy_by_device_j=by_device,
            avg_power_w=float(data.get("avg_power_w", 0.0)),
            source_by_device=dict(data.get("source_by_device", {})),
            estimated=bool(data.get("estimated", False)),
            failed_sensors=dict(data.get("failed_sensors", {})),
            warnings=tuple(data.get("warnings", ())),
            timeline=tuple((float(t), float(p)) for t, p in data.get("timeline", ())),
            start_s=float(data.get("start_s", 0.0)),
            machine_total_j=float(data.get("machine_total_j", energy_j)),
            machine_energy_by_device_j={
                k: float(v) for k, v in data.get("machine_energy_by_device_j", by_device).items()
            },
            unattributed_j=float(data.get("unattributed_j", 0.0)),
            dynamic_j=float(data.get("dynamic_j", energy_j if legacy else 0.0)),
            static_j=float(data.get("static_j", 0.0)),
            attribution=dict(LEGACY_ATTRIBUTION) if legacy else dict(data["attribution"]),
            conditions=dict(data.get("conditions", {})),
        )
