"""The energy gate's logic: reading each kind of result, repeats, tolerance plus noise, energy-to-target."""

from __future__ import annotations

import json

import pytest
from tests.support.scripted_run import scripted_epochs

from powertrain.errors import ConfigError
from powertrain.gate import EnergyFigures, check_energy, combine, parse_increase, read_energy


def _measure_json(path, energy_j, *, power_w=100.0, status="finished"):
    path.write_text(json.dumps({
        "command": ["python", "train.py"], "status": status, "exit_code": 0, "hardware": {"cpu_model": "AMD EPYC",
        "cpu_logical_cores": 2, "gpus": []}, "meter": {"sample_period_s": 0.1},
        "measurement": {"name": "command", "duration_s": energy_j / power_w, "energy_j": energy_j,
                        "avg_power_w": power_w, "energy_by_device_j": {"cpu": energy_j}, "estimated": True},
    }))  # fmt: skip
    return path


def test_increase_parses_percentages_and_fractions():
    assert parse_increase("5%") == 0.05 and parse_increase("0.05") == 0.05 and parse_increase(" 12.5 %") == 0.125
    for bad in ("five", "-1%", "nan"):
        with pytest.raises(ConfigError, match="--max-increase"):
            parse_increase(bad)


def test_each_kind_of_result_is_read_with_its_noise(tmp_path, report_inputs):
    measured = read_energy(_measure_json(tmp_path / "m.json", 1000.0))
    assert (measured.kind, measured.energy_j, measured.noise_j) == ("measure", 1000.0, 10.0)  # 100 W x 0.1 s
    run = report_inputs["runs"][0]
    figures = read_energy(run.run_dir)
    assert figures.kind == "run" and figures.energy_j == run.summary["energy"]["total_j"] and figures.estimated
    assert figures.energy_to_target_j == run.summary["energy_to_target_j"] and figures.has_target
    assert figures.hardware.startswith(run.summary["hardware"]["cpu_model"])
    (tmp_path / "s").mkdir()
    _, summary, path = scripted_epochs(tmp_path / "s")
    tracked = read_energy(tmp_path / "s")  # a folder with an integration's energy_summary.json... or summary.json
    assert tracked.kind == "summary" and tracked.energy_j == summary["energy_j"] == 600.0
    assert tracked.energy_to_target_j == 600.0
    for bad, message in ((tmp_path / "nope.json", "does not exist"), (tmp_path, "not a powertrain result"),
                         (_measure_json(tmp_path / "r.json", 5.0, status="running"), "did not finish")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            read_energy(bad)


def test_growth_beyond_tolerance_and_noise_fails_and_says_by_how_much():
    base = EnergyFigures("measure", "base.json", 1000.0, noise_j=10.0)
    within = check_energy(EnergyFigures("measure", "new.json", 1070.0, noise_j=10.0), base, max_increase=0.05)
    assert within.passed  # 70 J <= 50 J + 2 x 14.1 J
    over = check_energy(EnergyFigures("measure", "new.json", 1090.0, noise_j=10.0), base, max_increase=0.05)
    assert not over.passed and over.changes["energy"] == pytest.approx(0.09)
    assert over.lines[0].startswith("FAIL energy grew +9.0% (1.00 kJ -> 1.09 kJ, +90.0 J)")
    assert "allowed 5.0% (50.0 J) + noise 28.3 J" in over.lines[0]
    assert check_energy(EnergyFigures("measure", "n", 900.0), base).passed  # less energy always passes


def test_energy_to_target_is_compared_and_not_reaching_the_target_fails():
    base = EnergyFigures("run", "a", 1000.0, energy_to_target_j=400.0, has_target=True)
    slower = check_energy(EnergyFigures("run", "b", 1000.0, energy_to_target_j=500.0, has_target=True), base)
    assert not slower.passed and slower.lines[1].startswith("FAIL energy-to-target grew +25.0%")
    missed = check_energy(EnergyFigures("run", "b", 990.0, has_target=True), base)
    assert not missed.passed and "did not reach the target" in missed.lines[1]
    unreached = check_energy(EnergyFigures("run", "b", 990.0, has_target=True),
                             EnergyFigures("run", "a", 1000.0, has_target=True))  # fmt: skip
    assert unreached.passed and unreached.lines[1].startswith("note")


def test_repeats_average_and_their_spread_widens_the_noise():
    runs = [EnergyFigures("measure", f"r{i}", e, noise_j=1.0) for i, e in enumerate((1000.0, 1040.0, 1080.0))]
    mean = combine(runs)
    assert mean.energy_j == 1040.0 and mean.repeats == 3
    assert mean.noise_j == pytest.approx(((40.0 / 3**0.5) ** 2 + (3**0.5 / 3) ** 2) ** 0.5)
    base = EnergyFigures("measure", "b", 970.0)
    assert not check_energy(mean, base, sigmas=0).passed and check_energy(mean, base, sigmas=2).passed
    with pytest.raises(ConfigError, match="of one kind"):
        combine([runs[0], EnergyFigures("run", "x", 1.0)])
