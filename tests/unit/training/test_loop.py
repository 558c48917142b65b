import json
import math

import pytest
import torch

from powertrain.errors import ConfigError, UnknownNameError
from powertrain.meters.testing import ScriptedCounterSensor, ScriptedPowerSensor
from powertrain.training import RunDir, train

POWER_W = 50.0


@pytest.fixture
def steady_sensor():
    """A 50 W counter on the real clock: every window's energy must equal 50 W x its duration."""
    import time

    return lambda: ScriptedCounterSensor(lambda t: POWER_W * t, device="gpu:0", clock=time.monotonic)


def test_run_directory_holds_config_metrics_summary_and_weights(small_config, steady_sensor):
    result = train(small_config(), sensors=[steady_sensor()])
    run = RunDir(result.run_dir)
    assert result.status == "completed"
    assert {p.name for p in run.path.iterdir()} >= {
        "config.yaml",
        "metrics.csv",
        "summary.json",
        "checkpoint.pt",
        "model.pt",
    }
    rows = run.read_metrics()
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # epochs count from 1
    summary = json.loads(run.summary_path.read_text())
    assert summary["status"] == "completed" and summary["final"] is True
    assert summary["epochs_completed"] == 2
    assert summary["hardware"]["cpu_model"]  # tagged with the hardware it ran on
    assert summary["energy"]["sources"] == ["counter"] and summary["energy"]["estimated"] is False
    assert summary["final_accuracy"] == pytest.approx(result.history[-1].val_accuracy)
    assert summary["best_accuracy"] == max(r.val_accuracy for r in result.history)
    # the weights reload into a fresh model and give the same accuracy
    state = run.load_model_state()
    assert all(torch.equal(state[k], v) for k, v in result.model.state_dict().items())


def test_epoch_energies_follow_the_meter_and_add_up(small_config):
    # A steady 50 W power sensor: the meter integrates it on its own clock, so every window holds exactly 50 W x its
    # duration however late the sampler thread runs. (A counter read on the real clock is stamped by the meter in
    # the middle of the read: a read paused by a busy machine puts its knot off by 50 W x the pause.)
    result = train(small_config(epochs=3), sensors=[ScriptedPowerSensor([POWER_W], device="gpu:0")])
    energy = result.summary["energy"]
    for record in result.history:
        assert record.train_energy_j == pytest.approx(POWER_W * record.train_time_s, rel=1e-6)
        assert record.eval_energy_j == pytest.approx(POWER_W * record.eval_time_s, rel=1e-6)
        assert record.avg_power_w == pytest.approx(POWER_W, rel=1e-6)
    assert energy["total_j"] == pytest.approx(sum(r.train_energy_j + r.eval_energy_j for r in result.history))
    assert energy["train_j"] + energy["eval_j"] == pytest.approx(energy["total_j"])
    cumulative = [r.energy_j for r in result.history]
    assert cumulative == sorted(cumulative) and cumulative[-1] == pytest.approx(energy["total_j"])
    assert energy["by_device_j"]["gpu:0"] == pytest.approx(energy["total_j"])
    assert energy["sources"] == ["integrated"] and energy["estimated"] is False


def test_energy_to_target_is_the_cumulative_energy_at_the_first_epoch_on_target(small_config, steady_sensor):
    result = train(small_config(epochs=3, target_accuracy=0.01), sensors=[steady_sensor()])
    first = result.history[0]
    assert result.summary["reached_target"] is True
    assert result.summary["energy_to_target_j"] == pytest.approx(first.energy_j)
    assert result.summary["time_to_target_s"] == pytest.approx(first.elapsed_s)
    assert result.summary["epochs_to_target"] == 1


def test_stop_at_target_and_unreachable_target(small_config, steady_sensor, tmp_path):
    stopped = train(small_config(epochs=5, target_accuracy=0.01, stop_at_target=True), sensors=[steady_sensor()])
    assert stopped.status == "reached_target" and len(stopped.history) == 1
    never = train(small_config(epochs=1, target_accuracy=1.0, out=str(tmp_path / "b")), sensors=[steady_sensor()])
    assert never.summary["reached_target"] is False and never.summary["energy_to_target_j"] is None


def test_resume_equals_an_uninterrupted_run_and_counts_no_epoch_twice(small_config, steady_sensor, tmp_path):
    whole = train(small_config(epochs=3, out=str(tmp_path / "whole")), sensors=[steady_sensor()])
    part = train(small_config(epochs=1, out=str(tmp_path / "part")), sensors=[steady_sensor()])
    resumed = train(small_config(epochs=3), resume=part.run_dir, sensors=[steady_sensor()])
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    assert [r.val_accuracy for r in resumed.history] == [r.val_accuracy for r in whole.history]
    assert [r.train_loss for r in resumed.history] == pytest.approx([r.train_loss for r in whole.history], rel=1e-5)
    assert repr(resumed.history[0]) == repr(part.history[0])  # the finished epoch is carried over untouched
    assert resumed.summary["energy"]["total_j"] == pytest.approx(
        sum(r.train_energy_j + r.eval_energy_j for r in resumed.history)
    )
    assert len(RunDir(part.run_dir).read_metrics()) == 3


def test_resume_adds_energy_of_an_interrupted_epoch_as_lost(small_config, steady_sensor):
    part = train(small_config(epochs=1), sensors=[steady_sensor()])
    run = RunDir(part.run_dir)
    run.write_heartbeat(epoch=2, energy_j=123.0, duration_s=2.0)  # what a kill in epoch 2 leaves behind
    resumed = train(small_config(epochs=2), resume=run.path, sensors=[steady_sensor()])
    energy = resumed.summary["energy"]
    assert energy["lost_j"] == pytest.approx(123.0)
    assert energy["total_j"] == pytest.approx(energy["train_j"] + energy["eval_j"] + 123.0)
    assert resumed.history[1].energy_j == pytest.approx(energy["total_j"])
    assert not run.heartbeat_path.exists()


def test_resume_refuses_to_change_fixed_fields(small_config, steady_sensor):
    part = train(small_config(epochs=1), sensors=[steady_sensor()])
    with pytest.raises(ConfigError, match="cannot change lr when resuming"):
        train(small_config(epochs=2, lr=0.5), resume=part.run_dir)


def test_new_run_refuses_an_existing_run_directory(small_config, steady_sensor):
    train(small_config(epochs=1), sensors=[steady_sensor()])
    with pytest.raises(ConfigError, match="already holds a run"):
        train(small_config(epochs=1), sensors=[steady_sensor()])


def test_nan_loss_ends_the_run_as_diverged_keeping_the_energy(small_config, steady_sensor):
    result = train(small_config(epochs=3, lr=1e12, optimizer="sgd"), sensors=[steady_sensor()])
    assert result.status == "diverged"
    assert len(result.history) == 1 and result.history[0].complete is False
    assert result.summary["energy"]["total_j"] > 0
    assert json.loads(RunDir(result.run_dir).summary_path.read_text())["status"] == "diverged"


def test_energy_budget_stops_the_run(small_config, steady_sensor):
    result = train(small_config(epochs=50, energy_budget_j=1e-6), sensors=[steady_sensor()])
    assert result.status == "budget_exhausted"
    assert len(result.history) == 1


def test_a_sensor_failing_mid_run_does_not_stop_training(small_config):
    import time

    flaky = ScriptedCounterSensor(lambda t: 10.0 * t, clock=time.monotonic, fail_after=3, error="driver gone")
    result = train(small_config(epochs=2), sensors=[flaky])
    assert result.status == "completed" and len(result.history) == 2
    assert "driver gone" in next(iter(result.summary["energy"]["failed_sensors"].values()))


def test_unknown_names_are_user_errors(small_config):
    with pytest.raises(UnknownNameError, match="resnet18"):
        train(small_config(model="resnet81"))
    with pytest.raises(UnknownNameError, match="fashion-mnist"):
        train(small_config(dataset="fashion_mnist"))


def test_eat_run_records_density_and_accelerator_ratio(small_config, steady_sensor):
    result = train(small_config(epochs=1, eat_lambda=2.0), sensors=[steady_sensor()])
    record = result.history[0]
    assert 0.0 < record.eat_density <= 1.0
    accel = result.summary["accelerator"]
    assert accel["batch_size"] == 64 and 0.0 < accel["mean_ratio"] <= 1.0
    standard = train(small_config(epochs=1, out=str(RunDir(result.run_dir).path) + "-std"), sensors=[steady_sensor()])
    assert math.isnan(standard.history[0].eat_density)
    assert 0.0 < standard.summary["accelerator"]["mean_ratio"] <= 1.0
