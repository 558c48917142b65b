"""Operational and embodied emissions: arithmetic, lookups, provenance and the user mistakes."""

from __future__ import annotations

import math

import pytest

from powertrain.carbon import (
    CarbonSettings,
    UnknownLocationError,
    carbon_footprint,
    embodied_emissions,
    operational_emissions,
    sum_footprints,
)
from powertrain.carbon._tables import cloud_regions, grid_rows
from powertrain.errors import ConfigError
from powertrain.training import TrainConfig

YEAR_S = 365.25 * 86400


@pytest.mark.parametrize("given", ["FRA", "fra", "France", " france "])
def test_country_by_code_or_name(given):
    op = operational_emissions(3.6e6, CarbonSettings(country=given, pue=1.0))
    row = grid_rows()["FRA"]
    assert op["intensity_g_per_kwh"] == row.g_co2e_per_kwh
    assert op["kg_co2e"] == pytest.approx(row.g_co2e_per_kwh / 1000)
    assert op["intensity_provenance"] == row.provenance()
    assert op["energy_kwh"] == 1.0


def test_operational_is_energy_times_pue_times_intensity():
    op = operational_emissions(7.2e6, CarbonSettings(pue=1.25, intensity_g_per_kwh=300.0))
    assert op["kg_co2e"] == pytest.approx(2.0 * 1.25 * 300.0 / 1000)
    assert op["pue_provenance"]["kind"] == op["intensity_provenance"]["kind"] == "user"


def test_no_location_means_world_average_labelled_as_default():
    op = operational_emissions(1.0, CarbonSettings())
    assert op["intensity_provenance"]["row"] == "WORLD"
    assert "default" in op["intensity_provenance"]["note"]


@pytest.mark.parametrize(
    ("given", "key", "pue"),
    [("europe-west1", "gcp/europe-west1", 1.1), ("aws:us-east-1", "aws/us-east-1", 1.15),
     ("azure/westeurope", "azure/westeurope", 1.18)],
)  # fmt: skip
def test_cloud_region_uses_its_intensity_and_its_provider_pue(given, key, pue):
    op = operational_emissions(3.6e6, CarbonSettings(region=given))
    assert op["intensity_g_per_kwh"] == cloud_regions()[key].g_co2e_per_kwh
    assert op["intensity_provenance"]["row"] == key
    assert op["pue"] == pue and op["pue_provenance"]["table"] == "pue.csv"


def test_user_pue_overrides_the_provider_pue():
    assert operational_emissions(1.0, CarbonSettings(region="europe-west1", pue=1.4))["pue"] == 1.4


@pytest.mark.parametrize(
    ("settings", "hint"),
    [(CarbonSettings(country="DE"), "DEU"), (CarbonSettings(country="Germny"), "Germany"),
     (CarbonSettings(region="eu-west1"), "eu-west-1"), (CarbonSettings(region="europe-west99"), "europe-west")],
)  # fmt: skip
def test_unknown_location_names_close_matches_in_one_line(settings, hint):
    with pytest.raises(UnknownLocationError) as err:
        settings.validate()
    assert hint in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "settings",
    [CarbonSettings(pue=-1.0), CarbonSettings(pue=0.9), CarbonSettings(pue=math.nan),
     CarbonSettings(intensity_g_per_kwh=-5.0), CarbonSettings(country="FRA", region="europe-west1")],
)  # fmt: skip
def test_bad_values_are_config_errors(settings):
    with pytest.raises(ConfigError):
        settings.validate()


def test_train_config_validates_its_carbon_fields():
    with pytest.raises(UnknownLocationError):
        TrainConfig(country="Atlantis").validate()
    with pytest.raises(ConfigError):
        TrainConfig(pue=-2.0).validate()
    assert TrainConfig(country="deu").carbon_settings().country == "DEU"


def test_embodied_h100_includes_its_host_share():
    e = embodied_emissions({"gpus": [{"name": "NVIDIA H100 80GB HBM3"}] * 2, "cpu_model": "Xeon"}, 3600.0)
    assert len(e["items"]) == 1 and e["items"][0]["count"] == 2
    assert e["kg_co2e"] == pytest.approx(2 * 463 * 3600 / (4 * YEAR_S))
    assert e["items"][0]["matched"] == "model"


def test_embodied_unknown_gpu_gets_the_generic_card_and_a_host():
    e = embodied_emissions({"gpus": [{"name": "Mystery X1"}], "cpu_model": "EPYC"}, 7200.0)
    gpu, host = e["items"]
    assert gpu["matched"] == host["matched"] == "default" and gpu["device_kg_co2e"] == 150
    assert host["kind"] == "server" and host["device_kg_co2e"] == 1000
    assert e["kg_co2e"] == pytest.approx((150 + 1000) * 7200 / (4 * YEAR_S))
    assert "not in the table" in gpu["provenance"]["note"]


def test_embodied_row_without_lifetime_uses_the_default_and_says_so():
    e = embodied_emissions({"gpus": [{"name": "NVIDIA A100-SXM4-40GB"}]}, 3600.0)
    (item,) = e["items"]
    assert item["device_kg_co2e"] == 318 and item["lifetime_years"] == 4
    assert "no lifetime" in item["provenance"]["lifetime_note"]


def test_cpu_only_machine_counts_the_host_scaled_by_its_share():
    whole = embodied_emissions({"gpus": [], "cpu_model": "EPYC"}, 3600.0)
    half = embodied_emissions({"gpus": [], "cpu_model": "EPYC"}, 3600.0, host_share=0.5)
    assert half["kg_co2e"] == pytest.approx(whole["kg_co2e"] / 2)


def test_footprint_keeps_operational_and_embodied_apart():
    fp = carbon_footprint(energy_j=3.6e6, duration_s=3600.0, hardware={"gpus": []},
                          settings=CarbonSettings(intensity_g_per_kwh=100.0, pue=1.0))  # fmt: skip
    assert fp["operational_kg_co2e"] == pytest.approx(0.1)
    assert fp["embodied_kg_co2e"] == pytest.approx(1000 * 3600 / (4 * YEAR_S))
    assert "total_kg_co2e" not in fp and "kg_co2e" not in fp
    total = sum_footprints([fp, fp])
    assert total["operational_kg_co2e"] == pytest.approx(0.2) and total["energy_j"] == 7.2e6
