"""Carbon accounting: operational emissions from measured energy, and the embodied (life-cycle) share.

The entry point is :func:`carbon_footprint`; every run summary (``summary.json`` ``carbon``), every
``powertrain measure`` JSON and every study total carries its result::

    from powertrain.carbon import CarbonSettings, carbon_footprint

    fp = carbon_footprint(energy_j=5.4e6, duration_s=3600, hardware=summary["hardware"],
                          settings=CarbonSettings(country="DEU"))
    fp["operational_kg_co2e"], fp["embodied_kg_co2e"]     # two figures, never summed

Grid intensities (215 countries by ISO alpha-3 code, 111 GCP, AWS and Azure regions), PUE figures and embodied
emissions per device come from tables shipped in the package (``powertrain/carbon/data``, each row with its source,
licence and year); nothing reaches the network. An unknown country or region raises
:class:`UnknownLocationError` naming the closest ones; a PUE below 1 or a negative intensity raises
:class:`~powertrain.errors.ConfigError`.
"""

from __future__ import annotations

from powertrain.carbon.embodied import DEFAULT_LIFETIME_YEARS, embodied_emissions
from powertrain.carbon.footprint import (
    J_PER_KWH,
    carbon_footprint,
    energy_provenance,
    format_kg,
    operational_emissions,
    sum_footprints,
)
from powertrain.carbon.location import (
    DEFAULT_PUE,
    CarbonSettings,
    UnknownLocationError,
    resolve_intensity,
    resolve_pue,
)

__all__ = [
    "DEFAULT_LIFETIME_YEARS",
    "DEFAULT_PUE",
    "J_PER_KWH",
    "CarbonSettings",
    "UnknownLocationError",
    "carbon_footprint",
    "embodied_emissions",
    "energy_provenance",
    "format_kg",
    "operational_emissions",
    "resolve_intensity",
    "resolve_pue",
    "sum_footprints",
]
