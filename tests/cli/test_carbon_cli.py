"""Carbon options through the real entry point: measure's JSON, train's summary, and the user mistakes."""

from __future__ import annotations

import json

import pytest

from powertrain.cli import main
from powertrain.meters.testing import ScriptedCounterSensor


@pytest.fixture
def counter(monkeypatch):
    monkeypatch.setattr(
        "powertrain.cli.measure.discover_sensors", lambda gpu_indices=None: [ScriptedCounterSensor(lambda t: 360.0 * t)]
    )


def test_measure_json_carries_carbon_with_provenance(counter, tmp_path):
    out = tmp_path / "m.json"
    assert main(["measure", "--country", "SWE", "--pue", "1.2", "-o", str(out), "--", "sleep", "0.3"]) == 0
    report = json.loads(out.read_text())
    op = report["carbon"]["operational"]
    assert op["energy_j"] == pytest.approx(report["measurement"]["energy_j"])
    assert op["energy_provenance"]["kind"] == "measured"
    assert op["intensity_provenance"]["row"] == "SWE" and op["pue"] == 1.2
    expected = op["energy_j"] / 3.6e6 * 1.2 * op["intensity_g_per_kwh"] / 1000
    assert report["carbon"]["operational_kg_co2e"] == pytest.approx(expected)
    assert report["carbon"]["embodied_kg_co2e"] > 0


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--country", "Germny"], "Germany"), (["--region", "eu-west1"], "eu-west-1"), (["--pue", "-1"], "pue"),
     (["--intensity", "-3"], "intensity")],
)  # fmt: skip
def test_bad_carbon_options_are_one_line_and_exit_2(counter, capsys, args, words):
    assert main(["measure", *args, "--", "true"]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_train_summary_has_carbon_of_the_whole_run(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--dataset", "synthetic", "--model", "mlp", "--epochs", "1", "--subset", "64", "--device", "cpu",
            "--estimate-batch-size", "0", "--region", "europe-west1", "--quiet", "-o", str(run)]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((run / "summary.json").read_text())
    carbon = summary["carbon"]
    assert carbon["operational"]["energy_j"] == pytest.approx(summary["energy"]["total_j"])
    assert carbon["settings"]["region"] == "gcp/europe-west1" and carbon["operational"]["pue"] == 1.1
    assert carbon["embodied"]["duration_s"] == pytest.approx(summary["duration_s"])
