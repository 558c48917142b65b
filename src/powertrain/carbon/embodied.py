"""Embodied (life-cycle) emissions: the run's share of the hardware's manufacturing emissions.

    embodied kgCO2e = device kgCO2e x run time / device lifetime

Devices come from the hardware tag every result carries (:func:`powertrain.hardware.describe_hardware`): each
visible GPU, matched by model name against ``embodied.csv``, and the host server. Rules, all documented in
docs/carbon.md:

- A GPU whose model is in the table gets its row (H100: 463 kg over 4 years, A100: 318 kg; both are 1/8 of an
  8-GPU server and so already hold the GPU's share of the host). An unknown GPU gets the table's generic GPU card
  (150 kg over 4 years) and is marked ``matched: "default"``.
- The host is counted unless every GPU's row already includes its host share. The host is the table's commodity
  rack server (1000 kg over 4 years, one CPU socket included), scaled by ``host_share`` (default 1: the whole
  machine; a VM that rents part of a server can pass its share).
- A row without a lifetime uses :data:`DEFAULT_LIFETIME_YEARS` (4 years, the most common figure in the table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powertrain.carbon._tables import EmbodiedRow, embodied_rows

__all__ = ["DEFAULT_LIFETIME_YEARS", "embodied_emissions"]

DEFAULT_LIFETIME_YEARS = 4.0
DEFAULT_GPU_ROW = "Additional GPU card (generic)"
DEFAULT_HOST_ROW = "Commodity rack server (1 socket, low DRAM, no local storage)"
_SECONDS_PER_YEAR = 365.25 * 86400


def embodied_emissions(hardware: Mapping[str, Any], duration_s: float, *, host_share: float = 1.0) -> dict[str, Any]:
    """The run's share of the manufacturing emissions of the hardware it ran on.

    Args:
        hardware: The hardware tag of a result (``gpus`` with ``name``, ``cpu_model``).
        duration_s: Wall time the hardware was held by the run, in seconds.
        host_share: Share of the host server the run held (1 = the whole machine).

    Returns:
        ``kg_co2e`` (the sum over ``items``), ``duration_s``, ``items`` (one per device model: count,
        ``device_kg_co2e``, ``lifetime_years``, ``kg_co2e`` and provenance), ``method``.

    Example:
        >>> e = embodied_emissions({"gpus": [{"name": "NVIDIA H100 80GB HBM3"}], "cpu_model": "x"}, 3600.0)
        >>> round(e["kg_co2e"], 4), e["items"][0]["table_row"]
        (0.0132, 'NVIDIA H100 GPU (1/8 share of an 8-GPU server)')
    """
    rows = embodied_rows()
    by_name = {row.device: row for row in rows}
    items: list[dict[str, Any]] = []
    gpu_rows: list[EmbodiedRow] = []
    for gpu in hardware.get("gpus") or []:
        name = str(gpu.get("name", "unknown GPU"))
        row = next((r for r in rows if r.kind == "gpu" and r.match and r.match.lower() in name.lower()), None)
        matched = row is not None
        row = row or by_name[DEFAULT_GPU_ROW]
        gpu_rows.append(row)
        existing = next((i for i in items if i["device"] == name), None)
        if existing is not None:
            existing["count"] += 1
            continue
        items.append(_item(name, "gpu", row, 1, "model" if matched else "default"))
    if not gpu_rows or not all(row.includes_host for row in gpu_rows):
        host = str(hardware.get("cpu_model") or "unknown host")
        items.append(_item(f"host server ({host})", "server", by_name[DEFAULT_HOST_ROW], host_share, "default"))
    for item in items:
        lifetime_s = item["lifetime_years"] * _SECONDS_PER_YEAR
        item["kg_co2e"] = item["device_kg_co2e"] * item["count"] * duration_s / lifetime_s
    return {
        "kg_co2e": sum(item["kg_co2e"] for item in items),
        "duration_s": duration_s,
        "items": items,
        "method": "device kgCO2e x count x run time / lifetime, per device (embodied.csv); shown beside, never "
        "added into, the operational figure",
    }


def _item(device: str, kind: str, row: EmbodiedRow, count: float, matched: str) -> dict[str, Any]:
    lifetime = row.lifetime_years
    provenance = row.provenance()
    if matched == "default":
        provenance["note"] = f"default for a {kind} model not in the table"
    if lifetime is None:
        provenance["lifetime_note"] = f"the source states no lifetime; default {DEFAULT_LIFETIME_YEARS:g} years"
    return {
        "device": device,
        "kind": kind,
        "count": count,
        "matched": matched,
        "table_row": row.device,
        "device_kg_co2e": row.kg_co2e,
        "includes_host": row.includes_host,
        "lifetime_years": lifetime if lifetime is not None else DEFAULT_LIFETIME_YEARS,
        "provenance": provenance,
    }
