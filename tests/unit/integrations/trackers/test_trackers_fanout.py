"""The tracker layer without any tracker library: specs, failure isolation, metric names, the missing-extra line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from powertrain.errors import ConfigError
from powertrain.integrations.trackers import RunInfo, TrackerRun, Trackers, parse_spec, tracker_metrics


class Recording(TrackerRun):
    backend = "recording"

    def __init__(self, info, fail_on=None, name="recording"):
        self.info, self.fail_on, self.calls = info, fail_on, []
        self.backend = name

    def _call(self, what, *args):
        if what == self.fail_on:
            raise ConnectionError("server went away")
        self.calls.append((what, *args))

    def log_params(self, params):
        self._call("params", dict(params))

    def log_metrics(self, metrics, *, step, axis="epoch"):
        self._call("metrics", dict(metrics), step)

    def log_artifact(self, path):
        self._call("artifact", path.name)

    def child(self, info):
        self._call("child", info.key)
        return Recording(info, self.fail_on, self.backend)

    def finish(self, status="completed"):
        self._call("finish", status)


def test_specs_parse_name_and_option_and_refuse_unknown_names_in_one_line():
    assert repr(parse_spec("mlflow")) == "mlflow"
    spec = parse_spec("MLflow:http://127.0.0.1:5000")
    assert (spec.name, spec.option) == ("mlflow", "http://127.0.0.1:5000")
    assert parse_spec("tensorboard:logs/tb").option == "logs/tb"
    with pytest.raises(ConfigError, match="unknown tracker 'mlfow'.*did you mean 'mlflow'"):
        parse_spec("mlfow")
    with pytest.raises(ConfigError, match="nothing after ':'"):
        parse_spec("wandb:")


def test_a_tracker_failing_mid_run_is_reported_once_and_the_others_go_on(tmp_path, caplog):
    info = RunInfo(name="a", key="a")
    good, bad = Recording(info), Recording(info, fail_on="metrics", name="flaky")
    trackers = Trackers([good, bad])
    (tmp_path / "summary.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="powertrain"):
        with trackers:
            trackers.log_params({"lr": 0.1})
            for epoch in (1, 2, 3):
                trackers.log_metrics({"energy/epoch_j": 10.0 * epoch, "note": "text", "nan": float("nan")}, step=epoch)
            trackers.log_artifact(tmp_path / "summary.json")
            trackers.log_artifact(tmp_path / "missing.json")  # skipped, not an error
    warnings = [r for r in caplog.records if "flaky tracker failed" in r.getMessage()]
    assert len(warnings) == 1 and "server went away" in warnings[0].getMessage()
    assert trackers.failures == {"flaky": "metrics: ConnectionError: server went away"}
    assert [c[0] for c in bad.calls] == ["params"]  # nothing after the failure
    assert good.calls == [
        ("params", {"lr": 0.1}),
        ("metrics", {"energy/epoch_j": 10.0}, 1),
        ("metrics", {"energy/epoch_j": 20.0}, 2),
        ("metrics", {"energy/epoch_j": 30.0}, 3),
        ("artifact", "summary.json"),
        ("finish", "completed"),
    ]


def test_a_block_that_raises_finishes_the_runs_as_failed_or_interrupted():
    info = RunInfo(name="a", key="a")
    for error, status in ((RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")):
        run = Recording(info)
        with pytest.raises(type(error)):
            with Trackers([run]):
                raise error
        assert run.calls == [("finish", status)]


def test_children_follow_their_parent_and_skip_a_failed_tracker():
    parent_info = RunInfo(name="study", key="study:s", kind="sweep")
    good, bad = Recording(parent_info), Recording(parent_info, fail_on="child", name="flaky")
    sweep = Trackers([good, bad])
    trial = sweep.child(RunInfo(name="trial-0", key="runs/trial-0", kind="trial"))
    assert [r.backend for r in trial.runs] == ["recording"] and "flaky" in trial.failures
    trial.log_metrics({"energy/total_j": 5.0}, step=1)
    assert trial.runs[0].calls == [("metrics", {"energy/total_j": 5.0}, 1)]


def test_metric_names_carry_their_unit():
    figures = {"epoch": 3, "epoch_energy_j": 1.0, "energy_j": 2.0, "epoch_power_w": 3.0, "energy_to_target_j": 4.0,
               "epoch_co2e_kg": 5.0, "co2e_kg": 6.0, "epoch_duration_s": 7.0, "val_accuracy": 0.9}  # fmt: skip
    assert tracker_metrics(figures) == {
        "energy/epoch_j": 1.0, "energy/total_j": 2.0, "energy/epoch_power_w": 3.0, "energy/to_target_j": 4.0,
        "energy/epoch_co2e_kg": 5.0, "energy/total_co2e_kg": 6.0, "time/epoch_s": 7.0, "val_accuracy": 0.9,
    }  # fmt: skip


MISSING = """
import json, sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("mlflow", "wandb", "tensorboard", "ray", "prometheus_client"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Missing())
import powertrain.integrations.trackers as t
from powertrain.errors import ConfigError
errors = {}
for name in ("mlflow", "tensorboard", "wandb"):
    try:
        t.Trackers.start([name], t.RunInfo(name="a", key="a"))
    except ConfigError as exc:
        errors[name] = str(exc)
for module in ("ray", "prometheus"):
    try:
        __import__(f"powertrain.integrations.{module}")
    except ConfigError as exc:
        errors[module] = str(exc)
print(json.dumps(errors))
"""


def test_without_the_libraries_each_tracker_is_a_one_line_pip_install_message():
    proc = subprocess.run([sys.executable, "-c", MISSING], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = json.loads(proc.stdout.splitlines()[-1])
    assert errors.keys() == {"mlflow", "tensorboard", "wandb", "ray", "prometheus"}
    for name, extra in (("mlflow", "mlflow"), ("tensorboard", "tensorboard"), ("wandb", "wandb"), ("ray", "ray"),
                        ("prometheus", "prometheus")):  # fmt: skip
        assert f"pip install 'powertrain[{extra}]'" in errors[name] and "\n" not in errors[name]


def _record(epoch, accuracy, energy_j):
    return {"epoch": epoch, "complete": True, "train_loss": 1.0 / epoch, "train_accuracy": accuracy,
            "val_loss": float("nan"), "val_accuracy": accuracy, "lr": 0.1, "train_energy_j": 80.0,
            "eval_energy_j": 20.0, "energy_j": energy_j, "train_time_s": 4.0, "eval_time_s": 1.0,
            "elapsed_s": 5.0 * epoch, "avg_power_w": 20.0, "images_per_s": 100.0, "eat_density": float("nan"),
            "energy_source": "estimated", "tasks": {}}  # fmt: skip


def test_a_training_runs_epochs_become_metrics_with_energy_to_target_and_co2e(tmp_path):
    from powertrain.carbon import CarbonSettings
    from powertrain.integrations.trackers import RunLog

    run = Recording(RunInfo(name="a", key="a"))
    log = RunLog(Trackers([run]), target_accuracy=0.8, carbon=CarbonSettings(intensity_g_per_kwh=360.0, pue=1.0))
    log.seen([_record(1, 0.5, 100.0)])  # logged by the process that ran before a resume
    second = log.epoch(_record(2, 0.85, 200.0))
    third = log.epoch(_record(3, 0.9, 300.0))
    (tmp_path / "summary.json").write_text("{}")
    log.finish("reached_target", artifacts=[tmp_path / "summary.json", tmp_path / "report"])
    assert second["energy/to_target_j"] == third["energy/to_target_j"] == 200.0
    assert second["energy/epoch_j"] == 100.0 and second["energy/total_j"] == 200.0 and "val_loss" not in second
    assert second["energy/epoch_co2e_kg"] == pytest.approx(100.0 / 3.6e6 * 0.36)
    assert third["energy/total_co2e_kg"] == pytest.approx(300.0 / 3.6e6 * 0.36)
    assert [c[0] for c in run.calls] == ["metrics", "metrics", "artifact", "finish"]
    assert run.calls[-1] == ("finish", "completed") and run.calls[0][2] == 2
