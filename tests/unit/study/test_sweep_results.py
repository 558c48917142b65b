"""Sweep results read back from a storage: spread, the search's own energy, pruning, comparison, merge by hardware.

The studies here are written with Optuna directly (trials as the engine stores them), so no training runs."""

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from powertrain.cli import main
from powertrain.study import load_sweep, merge_sweeps

optuna.logging.set_verbosity(optuna.logging.WARNING)
LR = CategoricalDistribution([0.01, 0.1, 0.3, 1.0])


def _trial(lr, state, *, ett=None, energy=100.0, base=0.0, hardware="cpu A", epochs=4, done=4, run=None):
    attrs = {
        "run_name": run or f"lr={lr}", "hardware": hardware, "energy_j": energy, "base_energy_j": base,
        "energy_to_target_j": ett, "reached_target": ett is not None, "config": {"epochs": epochs},
        "curve": [[e, energy * e / done, float(e), 0.5] for e in range(1, done + 1)],
    }  # fmt: skip
    values = [ett if ett is not None else math.inf] if state == TrialState.COMPLETE else None
    return optuna.create_trial(state=state, values=values, params={"lr": lr}, distributions={"lr": LR},
                               user_attrs=attrs)  # fmt: skip


def _study(folder, name, trials):
    folder.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}", direction="minimize")
    study.set_user_attr("powertrain:config", {"objective": ["energy_to_target"], "target_accuracy": 0.9})
    for trial in trials:
        study.add_trial(trial)
    return folder


def test_spread_energy_and_pruning_count_every_trial_once(tmp_path):
    folder = _study(tmp_path / "a", "a", [
        _trial(0.01, TrialState.COMPLETE, ett=500.0, energy=500.0),
        _trial(0.1, TrialState.COMPLETE, ett=100.0, energy=100.0),
        _trial(0.3, TrialState.COMPLETE, energy=400.0),  # never reached the target
        _trial(1.0, TrialState.PRUNED, energy=150.0, done=1),  # stopped after 1 of 4 epochs
        _trial(0.01, TrialState.FAIL, energy=60.0, run="again"),  # a lost attempt (another run, same lr)...
        _trial(0.01, TrialState.COMPLETE, ett=90.0, energy=160.0, base=60.0, run="again"),  # ...and its retry
    ])  # fmt: skip
    result = load_sweep(folder)
    assert result.best.get("run_name") == "again" and result.best.values == [90.0]
    assert result.spread["ratio"] == pytest.approx(500.0 / 90.0) and result.spread["trials"] == 3
    energy = result.energy
    assert energy["total_j"] == pytest.approx(500 + 100 + 400 + 150 + 60 + 100)  # the retry adds only its own part
    # by the state each configuration ended in: the lost attempt's 60 J count with its completed retry
    assert energy["pruned_j"] == 150.0 and energy["fail_j"] == 0.0
    assert energy["complete_j"] == pytest.approx(500 + 100 + 400 + 160)
    assert result.pruning["not_spent_upper_j"] == pytest.approx(150.0 * 3)  # 150 J per epoch, 3 epochs left
    exported = result.to_dict()
    assert exported["best_energy_to_target_j"] == 90.0 and exported["spread"]["best_trial"] == "again"
    assert [t["spent_j"] for t in exported["trials"]][-2:] == pytest.approx([60.0, 100.0])  # each attempt's own part
    assert [t["run_spent_j"] for t in exported["trials"]][-2:] == pytest.approx([0.0, 160.0])  # the run, on its last


def test_compare_and_merge_group_by_hardware(tmp_path, capsys):
    full = _study(tmp_path / "full", "full", [
        _trial(0.1, TrialState.COMPLETE, ett=100.0, energy=100.0),
        _trial(0.3, TrialState.COMPLETE, energy=400.0),
    ])  # fmt: skip
    pruned = _study(tmp_path / "pruned", "pruned", [
        _trial(0.1, TrialState.COMPLETE, ett=100.0, energy=100.0, hardware="gpu B"),
        _trial(0.3, TrialState.PRUNED, energy=120.0, done=1, hardware="gpu B"),
    ])  # fmt: skip
    compared = load_sweep(pruned).compare(load_sweep(full))
    assert compared["same_best"] is True and compared["energy_ratio"] == pytest.approx(220 / 500)
    merged = merge_sweeps(tmp_path / "merged", [full, pruned], study="both")
    assert len(merged.trials) == 4 and set(merged.by_hardware()) == {"cpu A", "gpu B"}
    assert merge_sweeps(tmp_path / "merged", [full, pruned], study="both").counts == {"complete": 3, "pruned": 1}
    assert main(["sweep", "show", str(tmp_path / "merged"), "--compare", str(full)]) == 0
    printed = capsys.readouterr().out
    assert "on cpu A" in printed and "on gpu B" in printed and "the same setup" in printed


def test_sweep_results_carry_operational_and_embodied_co2e_of_what_each_trial_spent(tmp_path, capsys):
    from powertrain.carbon import CarbonSettings, carbon_footprint

    cpu_host = {"cpu_model": "AMD EPYC", "gpus": []}
    trials = [
        _trial(0.1, TrialState.COMPLETE, ett=100.0, energy=3.6e6),
        _trial(0.3, TrialState.FAIL, energy=7.2e5),  # a lost attempt...
        _trial(0.3, TrialState.COMPLETE, energy=1.08e6, base=7.2e5),  # ...and its retry: 3.6e5 J of its own
    ]
    for trial, country in zip(trials, ["FRA", "DEU", "DEU"], strict=True):
        config = {"epochs": 4, "country": country, "pue": 1.2}
        trial.user_attrs.update(hardware_info=cpu_host, duration_s=3600.0, energy_sources=["estimated"],
                                energy_estimated=True, config=config)  # fmt: skip
    # the retry continues the run: its duration is the run's, two hours, of which the lost attempt already counted one
    trials[2].user_attrs.update(duration_s=7200.0, base_duration_s=3600.0)
    result = load_sweep(_study(tmp_path / "s", "s", trials))
    per_j = {
        c: carbon_footprint(energy_j=1.0, duration_s=0, hardware=cpu_host, settings=CarbonSettings(country=c, pue=1.2))[
            "operational_kg_co2e"
        ]
        for c in ("FRA", "DEU")
    }
    exported = result.to_dict()
    carbon = exported["carbon"]
    assert carbon["operational_kg_co2e"] == pytest.approx(3.6e6 * per_j["FRA"] + (7.2e5 + 3.6e5) * per_j["DEU"])
    assert {loc["intensity_provenance"]["row"] for loc in carbon["locations"]} == {"FRA", "DEU"}
    assert all(loc["pue"] == 1.2 for loc in carbon["locations"])
    one_hour = exported["trials"][0]["embodied_kg_co2e"]
    assert one_hour > 0 and carbon["embodied_kg_co2e"] == pytest.approx(3 * one_hour)  # three hours of the host
    assert exported["trials"][0]["carbon"]["operational"]["energy_provenance"]["kind"] == "estimated"
    assert "operational_kg_co2e" in result.to_csv().splitlines()[0]
    # `sweep show` prints the search's CO2e; carbon options recompute it for another place; bad ones are one line
    assert main(["sweep", "show", str(tmp_path / "s"), "--json", str(tmp_path / "s.json")]) == 0
    assert "CO2e of the search: operational" in capsys.readouterr().out
    assert main(["sweep", "show", str(tmp_path / "s"), "--intensity", "1000", "--pue", "1"]) == 0
    assert "1000 gCO2e/kWh (user) x PUE 1" in capsys.readouterr().out
    assert main(["sweep", "show", str(tmp_path / "s"), "--country", "Frnace"]) == 2
    err = capsys.readouterr().err.strip()
    assert "France" in err and len(err.splitlines()) == 1


def test_sqlite_study_storage_uses_the_write_ahead_log_and_keeps_trials_across_reopening(tmp_path):
    import sqlite3

    from powertrain.study.engine.storage import open_storage

    folder = _study(tmp_path / "wal", "wal", [_trial(0.1, TrialState.COMPLETE, ett=100.0, energy=100.0)])
    storage = open_storage(f"sqlite:///{folder / 'study.db'}", heartbeat_s=None, grace_s=None)
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    study = optuna.load_study(study_name="wal", storage=storage)
    study.add_trial(_trial(0.3, TrialState.COMPLETE, ett=300.0, energy=300.0))
    storage.engine.dispose()
    with sqlite3.connect(folder / "study.db") as raw:  # the mode is a property of the file now
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [t.values for t in load_sweep(folder).trials] == [[100.0], [300.0]]


def test_reading_a_missing_sqlite_study_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "x.db"
    assert main(["sweep", "show", f"sqlite:///{missing}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no study database" in err[0]
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(Exception, match="no study database"):
        merge_sweeps(tmp_path / "merged", [f"sqlite:///{missing}"])
    assert not (tmp_path / "nowhere").exists()


def test_the_best_value_is_printed_with_the_objective_s_unit(tmp_path, capsys):
    from powertrain.cli._sweep_view import format_objective

    folder = _study(tmp_path / "u", "u", [_trial(0.1, TrialState.COMPLETE, ett=1234.5, energy=1500.0)])
    assert main(["sweep", "show", str(folder)]) == 0
    best = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("best:"))
    assert best.endswith("energy_to_target 1.23 kJ"), best
    assert format_objective("time_to_target", 12.34) == "12.3 s"
    assert format_objective("accuracy", 0.91234).startswith("0.9123")
    assert format_objective("energy_to_target", math.inf) == "-"
