"""The shipped carbon tables: present in the package, every row sourced, the documented defaults in them."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest

from powertrain.carbon import DEFAULT_PUE, CarbonSettings, resolve_pue
from powertrain.carbon._tables import cloud_regions, embodied_rows, grid_rows, pue_rows

TABLES = ("grid_intensity.csv", "cloud_regions.csv", "pue.csv", "embodied.csv")


@pytest.mark.parametrize("name", TABLES)
def test_every_row_has_a_source_and_a_licence(name):
    text = resources.files("powertrain.carbon").joinpath("data", name).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    for row in rows:
        assert row["source"].strip() and row["licence"].strip(), row
        assert "year" in row


def test_table_sizes_and_values_match_the_sources():
    assert len(grid_rows()) == 215 and grid_rows()["WORLD"].g_co2e_per_kwh == 473.01
    assert grid_rows()["DEU"].country == "Germany" and grid_rows()["DEU"].year == 2024
    assert len(cloud_regions()) == 111
    assert {r.provider for r in cloud_regions().values()} == {"gcp", "aws", "azure"}
    assert len(pue_rows()) == 7 and len(embodied_rows()) == 8


def test_documented_default_pue_is_the_2024_industry_average_row():
    pue, provenance = resolve_pue(CarbonSettings())
    assert pue == DEFAULT_PUE == 1.56
    assert provenance["table"] == "pue.csv" and provenance["year"] == 2024
    assert "Uptime" in provenance["source"]


def test_embodied_rows_that_match_a_model_include_their_host_share():
    matching = [r for r in embodied_rows() if r.match]
    assert {r.match for r in matching} == {"H100", "A100"}
    assert all(r.includes_host for r in matching)
