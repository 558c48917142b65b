"""The summary an :class:`~powertrain.integrations.EnergyTracker` writes.

The run's energy (attributed to its processes unless ``attribution="machine"``) with the machine's beside it, its
conditions, carbon and target.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from powertrain.meters.measurement import RESULTS_SCHEMA

__all__ = ["tracker_summary"]


def tracker_summary(tracker: Any, status: str = "completed") -> dict[str, Any]:
    """The summary of an ``EnergyTracker``'s run (JSON-ready) up to its last cut: its energy, the machine's beside it.

    ``tracker`` is typed loosely: this module is the tracker's, and must not import it back.
    """
    from powertrain.hardware import describe_hardware

    hosts, ledger = tracker._hosts or [describe_hardware()], tracker.ledger
    estimated = "estimated" in ledger.source_by_device.values()
    carbon = tracker.carbon.summary(
        ledger.energy_j, ledger.elapsed_s, hosts=hosts, sources=sorted(ledger.sources), estimated=estimated
    )
    target = None
    if tracker.target_metric is not None:
        target = {"metric": tracker.target_metric, "target": tracker.target, "mode": tracker.mode}
        target.update({"reached": tracker.reached is not None, **(tracker.reached or {})})
    return {
        "kind": "powertrain-energy-summary",
        "schema_version": RESULTS_SCHEMA,
        "framework": tracker.framework,
        "status": status,
        "started_at": tracker.started_at,
        "ended_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "world_size": tracker.ranks.world_size,
        "energy_j": tracker.energy_j,
        "duration_s": tracker.elapsed_s,
        "avg_power_w": tracker.energy_j / tracker.elapsed_s if tracker.elapsed_s > 0 else 0.0,
        "energy_by_phase_j": dict(ledger.phase_energy_j),
        "energy_by_component_j": dict(ledger.by_component_j),
        "energy_by_device_j": dict(ledger.by_device_j),
        "machine_total_j": ledger.machine_energy_j,
        "machine_by_device_j": dict(ledger.machine_by_device_j),
        "unattributed_j": ledger.unattributed_j,
        "dynamic_j": ledger.dynamic_j,
        "static_j": ledger.static_j,
        "attribution": {
            **(ledger.attribution or {"scope": tracker.attribution_kind}),
            "ranks": tracker.ranks.world_size,
        },
        "conditions": ledger.conditions(),
        "sources": dict(ledger.source_by_device),
        "estimated": estimated,
        "failed_sensors": dict(ledger.failed),
        "warnings": list(ledger.warnings),
        "carbon": carbon,
        "target": target,
        "forecasts": list(tracker.forecasts.made),
        "epochs": list(tracker.epochs),
        "sensors": tracker._claim.owners if tracker._claim else [],
        "hardware": hosts[0],
        "hosts": [hw.get("hostname") for hw in hosts],
    }
