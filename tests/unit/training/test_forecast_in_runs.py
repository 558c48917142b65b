"""Forecasts inside a training run: the live line, summary.json after each epoch, a resume; and the dry run."""

import json
import time

import pytest

from powertrain.cli import main
from powertrain.meters import Machine
from powertrain.meters.testing import ScriptedAttribution, ScriptedCounterSensor
from powertrain.training import train
from powertrain.training.dry_run import dry_run


class _Recorder:
    def __init__(self):
        self.forecasts = []

    def start(self, *, total_epochs, first_epoch): ...
    def start_epoch(self, epoch, steps): ...
    def update(self, step, *, loss, accuracy, power_w, energy_j): ...
    def end_epoch(self, record): ...
    def stop(self): ...

    def forecast(self, forecast):
        self.forecasts.append(forecast)


def _steady():
    return ScriptedCounterSensor(lambda t: 10.0 * t, device="cpu:0", component="cpu")


def test_a_run_with_a_target_forecasts_after_every_epoch_into_the_live_line_and_summary(small_config, tmp_path):
    reporter = _Recorder()
    config = small_config(epochs=3, target_accuracy=0.999, stop_at_target=True)
    result = train(config, sensors=[_steady()], reporter=reporter)
    assert [f.epochs_seen for f in reporter.forecasts] == [1, 2]  # none after the last epoch: nothing left to come
    saved = json.loads((result.run_dir / "summary.json").read_text())["forecasts"]
    assert [f["epochs_seen"] for f in saved] == [1, 2, 3]
    assert saved[0]["target_accuracy"] == 0.999 and saved[0]["planned_epochs"] == 3
    assert saved[0]["energy_j"]["low"] is None or saved[0]["energy_j"]["low"] >= result.history[0].energy_j
    resumed = train(config.replace(epochs=4), resume=result.run_dir, sensors=[_steady()])
    again = resumed.summary["forecasts"]
    assert [f["epochs_seen"] for f in again] == [1, 2, 3, 4] and again[3]["planned_epochs"] == 4


def test_a_run_without_a_target_makes_no_forecast(small_config):
    reporter = _Recorder()
    result = train(small_config(target_accuracy=None), sensors=[_steady()], reporter=reporter)
    assert reporter.forecasts == [] and "forecasts" not in result.summary


def test_a_dry_run_measures_its_first_steps_and_writes_nothing(small_config, tmp_path):
    config = small_config(epochs=5, out=str(tmp_path / "never"))
    found = dry_run(config, steps=6, sensors=[_steady()], attribution=Machine())
    assert not (tmp_path / "never").exists()
    assert [w[0] for w in found.windows] == [2, 2, 2] and found.estimate.steps_per_epoch == 8  # 256 / 32
    low, mid, high = found.estimate.energy_j
    assert low < mid < high and found.estimate.epochs == 5
    assert mid == pytest.approx(10.0 * found.estimate.duration_s[1], rel=0.02)  # a steady 10 W sensor
    assert found.attribution["scope"] == "machine"
    with pytest.raises(ValueError, match="at least 3 steps"):
        dry_run(config, steps=2)


def test_a_dry_run_forecasts_the_runs_own_energy_not_the_machines(small_config, tmp_path):
    # the run keeps one of two CPUs busy beside another process that keeps the other busy: half the machine's 10 W
    scope = ScriptedAttribution(time.monotonic, run_cpus=1.0, others_cpus=1.0, logical_cpus=2)
    found = dry_run(small_config(epochs=5), steps=6, sensors=[_steady()], attribution=scope)
    assert found.attribution["scope"] == "process" and found.to_dict()["attribution"] == found.attribution
    for _steps, energy_j, seconds in found.windows:
        assert energy_j == pytest.approx(5.0 * seconds, rel=0.05)
    assert found.estimate.energy_j[1] == pytest.approx(5.0 * found.estimate.duration_s[1], rel=0.05)


def test_train_dry_run_steps_prints_the_forecast_and_keeps_no_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "synthetic", "--model", "mlp", "--epochs", "3", "--image-size", "8", "--channels",
            "1", "--dataset-option", "num_classes=4", "--dataset-option", "train_size=256", "--dataset-option",
            "test_size=64", "--batch-size", "32", "--out", str(out)]  # fmt: skip
    assert main([*args, "--dry-run-steps", "6"]) == 0
    printed = capsys.readouterr().out
    assert "forecast of mlp on synthetic, 3 epochs" in printed and "no run folder was written" in printed
    assert not out.exists()
    assert main([*args, "--dry-run-steps", "2"]) == 2
    assert "--dry-run-steps must be at least 3" in capsys.readouterr().err
