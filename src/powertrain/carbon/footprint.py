"""Operational and embodied emissions of a result, side by side, each with its unit and provenance.

    operational kgCO2e = energy kWh x PUE x grid intensity gCO2e/kWh / 1000
    embodied kgCO2e    = device kgCO2e x run time / lifetime       (powertrain.carbon.embodied)

The two are separate figures: :func:`carbon_footprint` never adds them into one number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from powertrain.carbon.embodied import embodied_emissions
from powertrain.carbon.location import CarbonSettings, resolve_intensity, resolve_pue

__all__ = [
    "J_PER_KWH",
    "carbon_footprint",
    "energy_provenance",
    "format_kg",
    "operational_emissions",
    "sum_footprints",
]

J_PER_KWH = 3.6e6


def operational_emissions(
    energy_j: float, settings: CarbonSettings, *, energy_provenance: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Operational emissions of ``energy_j`` joules drawn where ``settings`` says.

    Example:
        >>> op = operational_emissions(3.6e6, CarbonSettings(intensity_g_per_kwh=400.0, pue=1.5))
        >>> op["kg_co2e"], op["intensity_provenance"]["kind"]
        (0.6, 'user')
    """
    settings = settings.validate()
    intensity, intensity_provenance = resolve_intensity(settings)
    pue, pue_provenance = resolve_pue(settings)
    energy_kwh = energy_j / J_PER_KWH
    return {
        "kg_co2e": energy_kwh * pue * intensity / 1000.0,
        "energy_j": energy_j,
        "energy_kwh": energy_kwh,
        "energy_provenance": dict(energy_provenance or {"kind": "given"}),
        "pue": pue,
        "pue_provenance": pue_provenance,
        "intensity_g_per_kwh": intensity,
        "intensity_provenance": intensity_provenance,
        "method": "energy kWh x PUE x grid intensity gCO2e/kWh / 1000",
    }


def carbon_footprint(
    *,
    energy_j: float,
    duration_s: float,
    hardware: Mapping[str, Any],
    settings: CarbonSettings | None = None,
    energy_provenance: Mapping[str, Any] | None = None,
    host_share: float = 1.0,
) -> dict[str, Any]:
    """The ``carbon`` block of a run summary, a sweep result or a measurement.

    Args:
        energy_j: Energy of the whole run (every process), in joules.
        duration_s: Wall time of the run, in seconds (for the embodied share).
        hardware: The result's hardware tag.
        settings: Where the electricity came from; default: world average intensity, default PUE.
        energy_provenance: How ``energy_j`` was obtained (see :func:`energy_provenance`).
        host_share: Share of the host server the run held, for the embodied figure.

    Returns:
        ``operational_kg_co2e`` and ``embodied_kg_co2e`` (separate, never summed), ``operational`` and
        ``embodied`` with every input and its provenance, and the ``settings`` used.
    """
    settings = (settings or CarbonSettings()).validate()
    operational = operational_emissions(energy_j, settings, energy_provenance=energy_provenance)
    embodied = embodied_emissions(hardware, duration_s, host_share=host_share)
    return {
        "operational_kg_co2e": operational["kg_co2e"],
        "embodied_kg_co2e": embodied["kg_co2e"],
        "operational": operational,
        "embodied": embodied,
        "settings": settings.to_dict(),
    }


def energy_provenance(sources: Iterable[str], *, estimated: bool) -> dict[str, Any]:
    """How a run's energy was obtained, from its sensor sources (``nvml-counter``, ``rapl``, ``estimated``...)."""
    names = sorted(set(sources))
    if estimated:
        note = "at least part is the CPU estimate (utilisation x per-core power), not a measurement"
        return {"kind": "estimated", "sources": names, "note": note}
    return {"kind": "measured", "sources": names}


def sum_footprints(footprints: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over several results (for example every trial of a study): energy and both kgCO2e figures."""
    total = {"operational_kg_co2e": 0.0, "embodied_kg_co2e": 0.0, "energy_j": 0.0, "duration_s": 0.0, "count": 0}
    for fp in footprints:
        total["operational_kg_co2e"] += float(fp["operational_kg_co2e"])
        total["embodied_kg_co2e"] += float(fp["embodied_kg_co2e"])
        total["energy_j"] += float(fp["operational"]["energy_j"])
        total["duration_s"] += float(fp["embodied"]["duration_s"])
        total["count"] += 1
    return total


def format_kg(kg: float) -> str:
    """A mass of CO2e with a readable unit (kg, g or mg)."""
    if kg >= 1:
        return f"{kg:.2f} kg"
    if kg >= 1e-3:
        return f"{kg * 1e3:.2f} g"
    return f"{kg * 1e6:.2f} mg"
