"""Segments: one stretch of a run, measured by every rank and summed (private to the tracker)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from powertrain.integrations.distributed import Ranks
from powertrain.meters import Measurement

__all__ = ["Segment", "all_gather", "all_reduce_sum", "local_part", "merge_parts"]

NOTHING_MEASURED = "no energy sensor could be read: nothing was measured"


@dataclass
class Segment:
    """The energy of one stretch of the run, summed over every rank.

    Attributes:
        phase: What the loop was doing (``"train"``, ``"eval"``, ``"other"``).
        energy_j: Joules over every rank's owned sensors.
        duration_s: Wall-clock seconds (the longest rank's window).
        energy_by_device_j: Joules per device (labels qualified by host under several processes).
        energy_by_component_j: Joules per component (``gpu``, ``cpu``, ``dram``).
        sources: Device -> ``counter``, ``integrated`` or ``estimated``.
        estimated: Whether any part is estimated.
        failed_sensors: Device -> why it failed.
        warnings: Anything that lowers confidence in the figure.
        machine_j: The machine's energy over the segment (each device once, whichever rank read it).
        machine_by_device_j: The same per device.
        dynamic_j: The part of ``energy_j`` the run's activity caused; ``static_j`` its share of idle power.
        static_j: The run's share of idle power.
        attribution: How the energy was attributed (rank 0's description; every rank's scope is the same kind).
        cpu_s: CPU seconds of the run (every rank) and of other processes (``run_cpu_s``, ``others_cpu_s``...).
    """

    phase: str
    energy_j: float
    duration_s: float
    energy_by_device_j: dict[str, float]
    energy_by_component_j: dict[str, float]
    sources: dict[str, str]
    estimated: bool
    failed_sensors: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    machine_j: float = 0.0
    machine_by_device_j: dict[str, float] = field(default_factory=dict)
    dynamic_j: float = 0.0
    static_j: float = 0.0
    attribution: dict[str, Any] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)


def local_part(m: Measurement, labels: Mapping[str, str], *, owns_sensors: bool) -> dict[str, Any]:
    """This rank's share of a segment, with device labels as they appear in results (plain containers)."""
    return {
        "energy_j": m.energy_j,
        "duration_s": m.duration_s,
        "by_device": {labels.get(d, d): j for d, j in m.energy_by_device_j.items()},
        "by_component": dict(m.energy_by_component_j),
        "sources": {labels.get(d, d): s for d, s in m.source_by_device.items()},
        "estimated": m.estimated,
        "failed": {labels.get(d, d): why for d, why in m.failed_sensors.items()},
        # a rank that owns no sensor by design (another rank reads its node) has nothing to warn about
        "warnings": [w for w in m.warnings if owns_sensors or w != NOTHING_MEASURED],
        "machine_by_device": {labels.get(d, d): j for d, j in m.machine_energy_by_device_j.items()},
        "dynamic_j": m.dynamic_j,
        "static_j": m.static_j,
        "attribution": {k: v for k, v in m.attribution.items() if k != "devices"},
        "cpu_s": {k: float(v) for k, v in m.conditions.items() if k.endswith("_cpu_s")},
    }


def merge_parts(phase: str, parts: list[dict[str, Any]]) -> Segment:
    """Sum the ranks' parts of one segment: energies add up, the duration is the longest rank's.

    The run's joules of a host device add up over the ranks (each rank's share of the host); the machine's joules of
    a device are the same whichever rank read them, so each device counts once (the largest reading).
    """
    by_device: dict[str, float] = {}
    machine: dict[str, float] = {}
    cpu_s: dict[str, float] = {}
    by_component: dict[str, float] = {}
    sources: dict[str, str] = {}
    failed: dict[str, str] = {}
    warnings: dict[str, None] = {}
    for part in parts:
        for key, joules in part["by_device"].items():
            by_device[key] = by_device.get(key, 0.0) + joules
        for key, joules in part["by_component"].items():
            by_component[key] = by_component.get(key, 0.0) + joules
        for key, joules in part.get("machine_by_device", part["by_device"]).items():
            machine[key] = max(machine.get(key, 0.0), joules)
        for key, seconds in part.get("cpu_s", {}).items():  # other processes' time: the most any rank saw
            cpu_s[key] = cpu_s.get(key, 0.0) + seconds if key == "run_cpu_s" else max(cpu_s.get(key, 0.0), seconds)
        sources.update(part["sources"])
        failed.update(part["failed"])
        warnings.update(dict.fromkeys(part["warnings"]))
    if not by_device:
        warnings[NOTHING_MEASURED] = None
    return Segment(
        phase=phase,
        energy_j=sum(p["energy_j"] for p in parts),
        duration_s=max(p["duration_s"] for p in parts),
        energy_by_device_j=by_device,
        energy_by_component_j=by_component,
        sources=sources,
        estimated=any(p["estimated"] for p in parts),
        failed_sensors=failed,
        warnings=tuple(warnings),
        machine_j=sum(machine.values()),
        machine_by_device_j=machine,
        dynamic_j=sum(p.get("dynamic_j", p["energy_j"]) for p in parts),
        static_j=sum(p.get("static_j", 0.0) for p in parts),
        attribution=dict(parts[0].get("attribution") or {}),
        cpu_s=cpu_s,
    )


def all_gather(obj: Any, job: Ranks) -> list[Any]:
    """Every rank's ``obj`` in rank order (collective); ``[obj]`` in a single process."""
    if not (job.active and job.world_size > 1):
        return [obj]
    import torch.distributed as dist

    everyone: list[Any] = [None] * job.world_size
    dist.all_gather_object(everyone, obj)
    return everyone


def all_reduce_sum(values: list[float]) -> list[float]:
    """The element-wise sum over every rank of ``values`` (collective, one ``all_reduce``)."""
    import torch
    import torch.distributed as dist

    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(v) for v in tensor.cpu().tolist()]
