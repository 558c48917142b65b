"""A training run reports its own energy: summary fields, conditions, resume never mixing attributions."""

from __future__ import annotations

import json

import pytest

from powertrain.errors import ConfigError
from powertrain.meters.testing import ScriptedAttribution, ScriptedPowerSensor
from powertrain.training import RunDir, TrainConfig, train


class WallClock:
    """The real monotonic clock, for a scripted scope in a real-time run."""

    def __call__(self) -> float:
        import time

        return time.monotonic()


def host_sensor() -> ScriptedPowerSensor:
    sensor = ScriptedPowerSensor([40.0], device="cpu:package-0", component="cpu")
    sensor.idle_power_w = 0.0
    return sensor


def test_summary_has_the_runs_energy_with_the_machines_beside_it(small_config):
    scope = ScriptedAttribution(WallClock(), run_cpus=1.0, others_cpus=3.0, logical_cpus=4)
    result = train(small_config(epochs=2), sensors=[host_sensor()], attribution=scope)
    energy = result.summary["energy"]
    # 40 W, all active; the run has 1 of 4 busy CPUs: a quarter of the machine's joules
    assert energy["total_j"] == pytest.approx(energy["machine_total_j"] / 4, rel=1e-4)  # scripted vs real clock reads
    assert energy["unattributed_j"] == pytest.approx(energy["machine_total_j"] - energy["total_j"], rel=1e-9)
    assert energy["dynamic_j"] + energy["static_j"] == pytest.approx(energy["total_j"], rel=1e-9)
    assert energy["attribution"]["scope"] == "process" and "covers" in energy["attribution"]
    assert result.summary["schema_version"] == 2
    conditions = result.summary["conditions"]
    assert conditions["others_load"] == pytest.approx(3.0, rel=0.05) and conditions["threads"] >= 1
    assert sum(r.train_energy_j + r.eval_energy_j for r in result.history) == pytest.approx(energy["total_j"])


def test_machine_attribution_and_threads_are_recorded(small_config):
    result = train(small_config(epochs=1, attribution="machine", threads=1), sensors=[host_sensor()])
    energy = result.summary["energy"]
    assert energy["attribution"]["scope"] == "machine"
    assert energy["total_j"] == pytest.approx(energy["machine_total_j"]) and energy["unattributed_j"] == 0.0
    assert result.summary["conditions"]["threads_set"] == 1


def test_a_resume_keeps_the_runs_attribution(small_config):
    config = small_config(epochs=1, attribution="machine")
    first = train(config, sensors=[host_sensor()])
    with pytest.raises(ConfigError, match="resume it with --attribution machine"):
        train(config.replace(epochs=2, attribution="process"), resume=first.run_dir, sensors=[host_sensor()])
    again = train(config.replace(epochs=2), resume=first.run_dir, sensors=[host_sensor()])
    assert again.summary["energy"]["attribution"]["scope"] == "machine"


def test_a_run_recorded_before_attribution_resumes_machine_wide(small_config):
    first = train(small_config(epochs=1, attribution="machine"), sensors=[host_sensor()])
    run = RunDir(first.run_dir)
    legacy = {k: v for k, v in run.read_config().items() if k not in ("attribution", "threads")}
    run.write_config(legacy)
    again = train(None, resume=first.run_dir, sensors=[host_sensor()])
    assert again.summary["config"]["attribution"] == "machine"


@pytest.mark.parametrize("word", ["container", "cgroup:", "", "PROCESS"])
def test_a_bad_attribution_is_one_config_error(word):
    with pytest.raises(ConfigError, match="attribution must be"):
        TrainConfig(attribution=word).validate()


def test_the_summary_is_valid_json_with_every_new_field(small_config):
    scope = ScriptedAttribution(WallClock(), run_cpus=1.0, others_cpus=1.0, logical_cpus=2)
    result = train(small_config(epochs=1), sensors=[host_sensor()], attribution=scope)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert {"machine_total_j", "unattributed_j", "dynamic_j", "static_j", "attribution", "machine_by_device_j"} <= set(
        summary["energy"]
    )
