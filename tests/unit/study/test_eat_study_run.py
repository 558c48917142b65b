"""Tiny real EAT studies on synthetic data, run as sweeps on the study engine: runs, table, inference energy, rerun,
a changed study refused, and an interrupted study continued."""

import json
import shutil

import optuna
import pytest

from powertrain.errors import ConfigError
from powertrain.meters.testing import ScriptedPowerSensor
from powertrain.study import EatStudyConfig, run_eat_study
from powertrain.study.engine import loop as _trial

POWER_W = 50.0


def make_config(out, **changes):
    data = {
        "train": {
            "dataset": "synthetic", "epochs": 1, "batch_size": 32, "lr": 0.05, "device": "cpu", "image_size": 8,
            "channels": 1, "meter_interval_s": 0.02,
            "dataset_options": {"num_classes": 4, "train_size": 128, "test_size": 64},
        },
        "models": ["mlp"],
        "settings": [{"sigma": 1e-4, "lambda": 1.0}, {"sigma": 1e-3, "lambda": 4.0}],
        "estimate_batch_size": 32,
        "inference_energy": {"batch_size": 16, "min_seconds": 0.05, "rounds": 2},
        "out": str(out),
    }  # fmt: skip
    for key, value in changes.items():
        if key in data["train"]:
            data["train"][key] = value
        else:
            data[key] = value
    return EatStudyConfig.from_dict(data)


def sensors():
    # a steady 50 W device, integrated on the meter's own clock: every window holds exactly 50 W x its duration
    return [ScriptedPowerSensor([POWER_W])]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return run_eat_study(make_config(out), sensors=sensors())


def summaries(out):
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((out / "runs" / "mlp").glob("*/summary.json"))}


def test_one_trial_of_the_sweep_per_setting_plus_standard(study):
    assert [r.setting.name for r in study.records] == ["standard", "sigma1e-4_lambda1", "sigma1e-3_lambda4"]
    assert [r.action for r in study.records] == ["trained"] * 3
    runs = summaries(study.out)
    assert set(runs) == {"standard", "sigma1e-4_lambda1", "sigma1e-3_lambda4"}
    assert [runs[n]["config"]["eat_lambda"] for n in ("standard", "sigma1e-4_lambda1", "sigma1e-3_lambda4")] == [
        0.0, 1.0, 4.0,
    ]  # fmt: skip
    assert all(s["status"] == "completed" and s["final"] for s in runs.values())
    sweep = optuna.load_study(study_name="eat", storage=f"sqlite:///{study.out / 'study.db'}")
    assert sorted(t.user_attrs["run_name"] for t in sweep.trials) == [
        "mlp/sigma1e-3_lambda4", "mlp/sigma1e-4_lambda1", "mlp/standard",
    ]  # fmt: skip
    for trial in sweep.trials:  # the ratio and the inference energy are recorded on each trial
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.values == [trial.user_attrs["accel_energy_ratio"]]
        assert len(trial.user_attrs["inference"]) == 2


def test_table_rows_come_from_the_runs_ratios_and_accuracies(study):
    runs = summaries(study.out)
    base = runs["standard"]
    table = study.tables["mlp"]
    for row in table.rows:
        run = runs[row.setting]
        assert row.energy_ratio == run["accelerator"]["mean_ratio"]
        assert row.ratio_batch_size == 32
        assert row.accuracy == run["final_accuracy"]
        if row.setting != "standard":
            expected = 100 * (1 - run["accelerator"]["mean_ratio"] / base["accelerator"]["mean_ratio"])
            assert row.decrease_pct == pytest.approx(expected)
            assert row.accuracy_change_points == pytest.approx(100 * (run["final_accuracy"] - base["final_accuracy"]))
    within = [r for r in table.rows if base["final_accuracy"] - r.accuracy <= 0.01 + 1e-9]
    assert table.selected == min(within, key=lambda r: r.energy_ratio).setting


def test_inference_energy_rows_are_measured_with_their_source(study):
    for row in study.tables["mlp"].rows:
        inference = row.inference
        assert inference["rounds"] == 2 and inference["source"] == "integrated" and inference["component"] == "all"
        assert inference["avg_power_w"] == pytest.approx(POWER_W, rel=1e-6)
        assert inference["j_per_1k_images"] > 0
    for record in study.records:
        assert all(r.images == r.passes * 64 and r.duration_s >= 0.05 for r in record.inference)
    saved = json.loads(study.results_json.read_text())
    assert saved["complete"] is True
    assert saved["tables"]["mlp"]["rows"][1]["inference"]["source"] == "integrated"
    spent = sum(r.train_energy_j for r in study.records)  # one attempt per run: each spent its run's energy
    assert saved["carbon"]["energy_j"] == pytest.approx(spent)
    assert saved["carbon"]["operational_kg_co2e"] > 0 and saved["carbon"]["embodied_kg_co2e"] > 0
    text = study.results_md.read_text()
    assert "| setting | sigma | lambda | accuracy |" in text and "integrated (all)" in text


def test_rerun_reports_the_finished_sweep_without_training(study, tmp_path, mocker):
    out = tmp_path / "copy"
    shutil.copytree(study.out, out)
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/mlp/*/checkpoint.pt")}
    train = mocker.spy(_trial, "train")
    again = run_eat_study(make_config(out), sensors=sensors())
    assert train.call_count == 0
    assert [r.action for r in again.records] == ["reused"] * 3
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/mlp/*/checkpoint.pt")} == before
    assert [r.energy_ratio for r in again.tables["mlp"].rows] == [r.energy_ratio for r in study.tables["mlp"].rows]
    # another study in the same folder (more epochs, other inference rounds) is refused, nothing is changed
    more_rounds = {"batch_size": 16, "min_seconds": 0.05, "rounds": 3}
    changes = ({"epochs": 2}, {"lr": 0.01}, {"inference_energy": more_rounds})
    for changed in (make_config(out, **c) for c in changes):
        with pytest.raises(ConfigError, match="already exists"):
            run_eat_study(changed, sensors=sensors())
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/mlp/*/checkpoint.pt")} == before


def test_an_interrupted_study_is_continued_by_the_same_call(tmp_path, mocker):
    real_train = _trial.train
    calls = []

    def dies_on_third_run(*args, **kwargs):
        calls.append(kwargs.get("resume"))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    mocker.patch.object(_trial, "train", side_effect=dies_on_third_run)
    config = make_config(tmp_path / "s", inference_energy={"enabled": False})
    with pytest.raises(KeyboardInterrupt):
        run_eat_study(config, sensors=sensors())
    saved = json.loads((tmp_path / "s" / "results.json").read_text())
    assert saved["complete"] is False
    assert [r["setting"]["name"] for r in saved["runs"]] == ["standard", "sigma1e-4_lambda1"]
    assert "Partial results" in (tmp_path / "s" / "results.md").read_text()
    mocker.stopall()
    train = mocker.spy(_trial, "train")
    done = run_eat_study(config, sensors=sensors())
    assert [r.action for r in done.records] == ["reused", "reused", "trained"]
    assert train.call_count == 1 and done.results_json.exists()
    assert json.loads(done.results_json.read_text())["complete"] is True
    assert all(r.inference == [] for r in done.records)  # inference_energy disabled
