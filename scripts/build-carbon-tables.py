"""Build the carbon tables shipped in powertrain/carbon/data from the sourced tables of shared/data.

Usage: python scripts/build-carbon-tables.py SHARED_DATA_DIR

Each output row keeps its value's source, licence and year. Columns added here (not from a source) are marked in
src/powertrain/carbon/data/SOURCES.md: ``licence`` (from the source's terms), ``match`` (a substring of the device
name NVML or /proc/cpuinfo reports), ``includes_host`` and ``provider`` of the PUE rows.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "powertrain" / "carbon" / "data"

EMBODIED_MATCH = {  # table row -> (match substring, includes a host share, year of the source)
    "NVIDIA A100 GPU": ("", False, 2022),  # kept for reference; A100s match the per-GPU-with-host row below
    "HPE Apollo 6500 Gen10 Plus server node (excluding GPUs)": ("", False, 2022),
    "8x NVIDIA H100 server (whole node incl. GPUs)": ("", True, 2025),
    "NVIDIA H100 GPU (1/8 share of an 8-GPU server)": ("H100", True, 2025),
    "NVIDIA A100 GPU (1/8 share of a cloud 8xA100 instance)": ("A100", True, 2023),
    "Commodity rack server (1 socket, low DRAM, no local storage)": ("", False, 2021),
    "Additional GPU card (generic)": ("", False, 2021),
    "Additional CPU (generic server processor)": ("", False, 2021),
}
PUE_PROVIDER = {"Google": "gcp", "Amazon Web Services": "aws", "Microsoft": "azure"}


def _licence(source: str) -> str:
    for marker in ("CC BY 4.0", "Apache-2.0"):
        if marker in source:
            return marker
    return "figure quoted from the cited publication"


def _write(name: str, header: list[str], rows: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    (OUT / name).write_text(buffer.getvalue())


def main(src: Path) -> None:
    """Read the four source tables in ``src`` and write the package tables."""
    read = lambda name: list(csv.DictReader((src / name).open(newline="", encoding="utf-8")))  # noqa: E731
    grid = read("grid_carbon_intensity.csv")
    _write(
        "grid_intensity.csv",
        ["iso_code", "country", "year", "g_co2e_per_kwh", "source", "licence"],
        [
            [r["iso_code"], r["country"], r["year"], r["g_co2e_per_kwh"], r["source"], _licence(r["source"])]
            for r in grid
        ],
    )
    cloud = read("cloud_region_carbon_intensity.csv")
    _write(
        "cloud_regions.csv",
        ["provider", "region", "location", "year", "g_co2e_per_kwh", "source", "licence", "note"],
        [
            [r["provider"], r["region"], r["location"], r["data_year"], r["g_co2e_per_kwh"], r["source"],
             _licence(r["source"]), r["note"]]
            for r in cloud
        ],
    )  # fmt: skip
    embodied = read("hardware_embodied_carbon.csv")
    rows = []
    for r in embodied:
        match, host, year = EMBODIED_MATCH[r["device"]]
        rows.append([r["device"], r["kind"], match, r["kg_co2e"], r["assumed_lifetime_years"], str(host).lower(),
                     year, r["source"], _licence(r["source"]), r["note"]])  # fmt: skip
    _write(
        "embodied.csv",
        ["device", "kind", "match", "kg_co2e", "lifetime_years", "includes_host", "year", "source", "licence", "note"],
        rows,
    )
    pue = read("pue.csv")
    _write(
        "pue.csv",
        ["operator", "provider", "pue", "year", "source", "licence", "note"],
        [
            [r["operator"], PUE_PROVIDER.get(r["operator"], ""), r["pue"], r["year"],
             r["source"], _licence(r["source"]), r["note"]]
            for r in pue
        ],
    )  # fmt: skip



if __name__ == "__main__":
    main(Path(sys.argv[1]))
