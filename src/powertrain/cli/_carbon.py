"""The carbon options shared by every command that reports emissions: --country, --region, --pue, --intensity."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from powertrain.carbon import CarbonSettings, format_kg

__all__ = ["Country", "Intensity", "Pue", "Region", "carbon_settings", "format_carbon", "format_kg"]

_PANEL = "Carbon (docs/carbon.md)"

Country = Annotated[
    str | None,
    typer.Option(help="Country of the electricity: ISO alpha-3 code (DEU) or name; default: world average.",
                 rich_help_panel=_PANEL),
]  # fmt: skip
Region = Annotated[
    str | None,
    typer.Option(help="Cloud region instead of --country: europe-west1, aws/us-east-1, azure/westeurope.",
                 rich_help_panel=_PANEL),
]  # fmt: skip
Pue = Annotated[
    float | None,
    typer.Option(help="Data-centre PUE (>= 1); default: the region's provider, else 1.56.", rich_help_panel=_PANEL),
]
Intensity = Annotated[
    float | None,
    typer.Option(help="Grid carbon intensity in gCO2e/kWh, instead of the tables.", rich_help_panel=_PANEL),
]


def carbon_settings(
    country: str | None, region: str | None, pue: float | None, intensity: float | None
) -> CarbonSettings:
    """The validated settings of the four options (a bad value is a one-line error, exit 2)."""
    return CarbonSettings(country=country, region=region, pue=pue, intensity_g_per_kwh=intensity).validate()


def format_carbon(carbon: dict[str, Any]) -> str:
    """Operational and embodied CO2e on one line, each with where its numbers came from."""
    op = carbon["operational"]
    where = op["intensity_provenance"].get("row") or op["intensity_provenance"]["kind"]
    return (
        f"operational {format_kg(carbon['operational_kg_co2e'])} ({op['energy_kwh']:.4g} kWh x PUE {op['pue']:g} "
        f"x {op['intensity_g_per_kwh']:g} g/kWh, {where}); embodied {format_kg(carbon['embodied_kg_co2e'])} "
        "(hardware share, not included in operational)"
    )
