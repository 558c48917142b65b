"""The carbon tables shipped inside the package (``powertrain/carbon/data/*.csv``), parsed once.

Each row keeps the source, licence and year of its value; :meth:`provenance` turns a row into the dict every
carbon figure carries. The tables were built from the project's sourced tables by
``scripts/build-carbon-tables.py``; ``data/SOURCES.md`` says where every value comes from.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["CloudRegion", "EmbodiedRow", "GridRow", "PueRow", "cloud_regions", "embodied_rows", "grid_rows", "pue_rows"]


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("powertrain.carbon").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _year(value: str) -> int | None:
    return int(value) if value.strip() else None


@dataclass(frozen=True)
class GridRow:
    """Average carbon intensity of a country's electricity generation (``grid_intensity.csv``)."""

    iso_code: str
    country: str
    year: int | None
    g_co2e_per_kwh: float
    source: str
    licence: str

    def provenance(self) -> dict[str, Any]:
        """Which table, row and year the value comes from, with its source and licence."""
        return {"kind": "table", "table": "grid_intensity.csv", "row": self.iso_code, "name": self.country,
                "year": self.year, "source": self.source, "licence": self.licence}  # fmt: skip


@dataclass(frozen=True)
class CloudRegion:
    """Grid carbon intensity of one cloud region (``cloud_regions.csv``)."""

    provider: str
    region: str
    location: str
    year: int | None
    g_co2e_per_kwh: float
    source: str
    licence: str

    def provenance(self) -> dict[str, Any]:
        """Which table, row and year the value comes from, with its source and licence."""
        return {"kind": "table", "table": "cloud_regions.csv", "row": f"{self.provider}/{self.region}",
                "name": self.location, "year": self.year, "source": self.source, "licence": self.licence}  # fmt: skip


@dataclass(frozen=True)
class PueRow:
    """A published data-centre PUE (``pue.csv``); ``provider`` links a row to a cloud's regions."""

    operator: str
    provider: str
    pue: float
    year: int | None
    source: str
    licence: str

    def provenance(self) -> dict[str, Any]:
        """Which table, row and year the value comes from, with its source and licence."""
        return {"kind": "table", "table": "pue.csv", "row": self.operator, "year": self.year, "source": self.source,
                "licence": self.licence}  # fmt: skip


@dataclass(frozen=True)
class EmbodiedRow:
    """Manufacturing emissions of one device (``embodied.csv``).

    ``match`` is a substring of the device name (as NVML reports it) that selects this row; an empty ``match``
    means the row is only used as a default or for reference. ``includes_host`` says the figure already holds
    the device's share of its server (CPU, memory, chassis), so no host figure is added next to it.
    """

    device: str
    kind: str
    match: str
    kg_co2e: float
    lifetime_years: float | None
    includes_host: bool
    year: int | None
    source: str
    licence: str

    def provenance(self) -> dict[str, Any]:
        """Which table, row and year the value comes from, with its source and licence."""
        return {"kind": "table", "table": "embodied.csv", "row": self.device, "year": self.year,
                "source": self.source, "licence": self.licence}  # fmt: skip


@functools.cache
def grid_rows() -> dict[str, GridRow]:
    """Country rows by ISO 3166-1 alpha-3 code (``WORLD`` is the world average)."""
    return {
        r["iso_code"]: GridRow(r["iso_code"], r["country"], _year(r["year"]), float(r["g_co2e_per_kwh"]), r["source"],
                               r["licence"])  # fmt: skip
        for r in _read("grid_intensity.csv")
    }


@functools.cache
def cloud_regions() -> dict[str, CloudRegion]:
    """Cloud region rows by ``provider/region``."""
    return {
        f"{r['provider']}/{r['region']}": CloudRegion(
            r["provider"], r["region"], r["location"], _year(r["year"]), float(r["g_co2e_per_kwh"]), r["source"],
            r["licence"],
        )
        for r in _read("cloud_regions.csv")
    }


@functools.cache
def pue_rows() -> tuple[PueRow, ...]:
    """Every PUE row, in table order."""
    return tuple(
        PueRow(r["operator"], r["provider"], float(r["pue"]), _year(r["year"]), r["source"], r["licence"])
        for r in _read("pue.csv")
    )


@functools.cache
def embodied_rows() -> tuple[EmbodiedRow, ...]:
    """Every embodied-emissions row, in table order."""
    return tuple(
        EmbodiedRow(r["device"], r["kind"], r["match"], float(r["kg_co2e"]),
                    float(r["lifetime_years"]) if r["lifetime_years"] else None, r["includes_host"] == "true",
                    _year(r["year"]), r["source"], r["licence"])  # fmt: skip
        for r in _read("embodied.csv")
    )
