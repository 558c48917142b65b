"""Where the electricity came from: grid carbon intensity and PUE for a country, a cloud region or a user value.

Resolution order for the intensity: a user value (``intensity_g_per_kwh``), else the cloud region, else the country,
else the world average (``WORLD`` row). PUE: a user value, else the cloud provider's published fleet PUE when a
region is given, else :data:`DEFAULT_PUE` (the Uptime Institute's 2024 industry average, 1.56). Nothing here reaches
the network.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass
from typing import Any

from powertrain.carbon._tables import CloudRegion, GridRow, cloud_regions, grid_rows, pue_rows
from powertrain.errors import ConfigError

__all__ = ["DEFAULT_PUE", "CarbonSettings", "UnknownLocationError", "resolve_intensity", "resolve_pue"]

DEFAULT_PUE_ROW = ("Industry average (survey)", 2024)
DEFAULT_PUE = 1.56  # the pue.csv row above; a test keeps the two equal


class UnknownLocationError(ConfigError):
    """A country or cloud region that is not in the shipped tables; the message names the closest ones."""


@dataclass(frozen=True)
class CarbonSettings:
    """Where a run's electricity came from.

    Attributes:
        country: ISO 3166-1 alpha-3 code (``DEU``) or the country's name (``Germany``), case-insensitive.
        region: A cloud region, ``europe-west1`` or with its provider ``gcp/europe-west1`` (gcp, aws, azure).
        pue: Power usage effectiveness (facility energy / IT energy), at least 1; None: the default.
        intensity_g_per_kwh: A grid carbon intensity to use instead of the tables, in gCO2e per kWh.

    Example:
        >>> CarbonSettings(country="fra").validate().country
        'FRA'
    """

    country: str | None = None
    region: str | None = None
    pue: float | None = None
    intensity_g_per_kwh: float | None = None

    def validate(self) -> CarbonSettings:
        """Check every value and normalise the names; raise a one-line :class:`ConfigError` otherwise."""
        if self.pue is not None and not (_finite(self.pue) and self.pue >= 1):
            raise ConfigError(f"pue must be a number >= 1 (facility energy / IT energy), not {self.pue!r}")
        intensity = self.intensity_g_per_kwh
        if intensity is not None and not (_finite(intensity) and intensity >= 0):
            raise ConfigError(f"intensity must be a number of gCO2e/kWh >= 0, not {intensity!r}")
        if self.country is not None and self.region is not None:
            raise ConfigError("give a country or a cloud region, not both")
        country = _country(self.country).iso_code if self.country is not None else None
        region = _region(self.region) if self.region is not None else None
        return CarbonSettings(
            country=country,
            region=f"{region.provider}/{region.region}" if region else None,
            pue=self.pue,
            intensity_g_per_kwh=self.intensity_g_per_kwh,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def resolve_intensity(settings: CarbonSettings) -> tuple[float, dict[str, Any]]:
    """The grid intensity in gCO2e/kWh for ``settings`` and its provenance."""
    if settings.intensity_g_per_kwh is not None:
        return settings.intensity_g_per_kwh, {"kind": "user", "note": "value given by the user"}
    if settings.region is not None:
        row: GridRow | CloudRegion = _region(settings.region)
    else:
        row = _country(settings.country or "WORLD")
    provenance = row.provenance()
    if settings.region is None and settings.country is None:
        provenance["note"] = "default: world average (no country or region given)"
    return row.g_co2e_per_kwh, provenance


def resolve_pue(settings: CarbonSettings) -> tuple[float, dict[str, Any]]:
    """The PUE for ``settings`` and its provenance."""
    if settings.pue is not None:
        return settings.pue, {"kind": "user", "note": "value given by the user"}
    provider = _region(settings.region).provider if settings.region is not None else None
    for row in pue_rows():
        if provider is not None and row.provider == provider:
            return row.pue, {**row.provenance(), "note": f"fleet PUE of the region's provider ({provider})"}
    for row in pue_rows():
        if (row.operator, row.year) == DEFAULT_PUE_ROW:
            return row.pue, {**row.provenance(), "note": "default: industry average (override with --pue)"}
    raise AssertionError("the default PUE row is missing from pue.csv")  # pragma: no cover - shipped table


def _country(name: str) -> GridRow:
    rows = grid_rows()
    key = name.strip().upper()
    if key in rows:
        return rows[key]
    by_name = {row.country.upper(): row for row in rows.values()}
    if key in by_name:
        return by_name[key]
    choices = list(rows) + [row.country for row in rows.values()]
    close = difflib.get_close_matches(key, list(rows), n=3, cutoff=0.6)
    close += difflib.get_close_matches(name.strip().title(), [row.country for row in rows.values()], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
    raise UnknownLocationError(
        f"unknown country {name!r}{hint} (use an ISO 3166-1 alpha-3 code such as DEU or a name such as Germany; "
        f"{len(choices) // 2} countries are known, or give --intensity)"
    )


def _region(name: str) -> CloudRegion:
    regions = cloud_regions()
    key = name.strip().lower().replace(":", "/")
    if key in regions:
        return regions[key]
    by_region = {row.region: row for row in regions.values()}
    if key in by_region:
        return by_region[key]
    close = difflib.get_close_matches(key.rpartition("/")[2], list(by_region), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownLocationError(
        f"unknown cloud region {name!r}{hint} ({len(regions)} gcp, aws and azure regions are known; "
        "or give --country or --intensity)"
    )


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
