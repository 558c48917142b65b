"""MLflow against a real ``mlflow server`` (SQLite backend), read back through MLflow's own client."""

from __future__ import annotations

import json
import os
import socket

import pytest
from tests.support.scripted_run import scripted_epochs

from powertrain.integrations.trackers import RunInfo, Trackers, tracker_metrics

mlflow = pytest.importorskip("mlflow", reason="the trackers extra is not installed: run `make test`")


def _client():
    return mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])


def _experiment_id():
    return _client().get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"]).experiment_id


def _history(run_id, key):
    return [(m.step, m.value) for m in sorted(_client().get_metric_history(run_id, key), key=lambda m: m.step)]


def test_a_run_logs_params_epoch_metrics_and_its_summary_and_reads_back_equal(mlflow_env, tmp_path):
    epochs, summary, path = scripted_epochs(tmp_path)
    info = RunInfo(name="lenet5-a", key=str(tmp_path), params={"lr": 0.1, "data": {"subset": 2000}}, folder=tmp_path)
    with Trackers.start(["mlflow"], info) as trackers:
        for figures in epochs:
            trackers.log_metrics(tracker_metrics(figures), step=figures["epoch"])
        trackers.log_artifact(path)
    (run,) = _client().search_runs([_experiment_id()])
    assert run.info.status == "FINISHED" and run.info.run_name == "lenet5-a"
    assert run.data.params == {"lr": "0.1", "data.subset": "2000"}
    assert _history(run.info.run_id, "energy/epoch_j") == [(e["epoch"], e["epoch_energy_j"]) for e in epochs]
    assert _history(run.info.run_id, "energy/total_j") == [(1, 200.0), (2, 400.0), (3, 600.0)]
    assert run.data.metrics["energy/to_target_j"] == summary["target"]["energy_to_target_j"] == 600.0
    assert run.data.metrics["energy/epoch_co2e_kg"] > 0 and run.data.metrics["val_accuracy"] == 0.9
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="summary.json",
                                                dst_path=str(tmp_path / "back"), tracking_uri=mlflow_env)  # fmt: skip
    assert json.loads(open(local).read())["energy_j"] == summary["energy_j"]


def test_a_sweep_is_one_parent_shared_by_workers_with_one_child_per_trial_and_a_retry_continues(mlflow_env, tmp_path):
    study = RunInfo(name="lr-grid", key="study:lr-grid", kind="sweep", params={"sampler": "grid"})
    worker_a = Trackers.start(["mlflow"], study)
    worker_b = Trackers.start(["mlflow"], study)  # another worker (another machine) joining the same study
    expected = {}
    for worker, trial in ((worker_a, "trial-0"), (worker_b, "trial-1"), (worker_a, "trial-2")):
        epochs, summary, _ = scripted_epochs(tmp_path / trial, power_w=50.0 + len(expected) * 10)
        with worker.child(RunInfo(name=trial, key=f"runs/{trial}", kind="trial", params={"trial": trial})) as child:
            for figures in epochs[:2]:
                child.log_metrics(tracker_metrics(figures), step=figures["epoch"])
            if trial == "trial-2":
                child.finish("interrupted")  # the worker died; another one retries the trial
        if trial == "trial-2":
            with worker_b.child(RunInfo(name=trial, key=f"runs/{trial}", kind="trial")) as retry:
                retry.log_metrics(tracker_metrics(epochs[2]), step=3)
        expected[trial] = epochs
    worker_a.finish()
    worker_b.finish()
    runs = _client().search_runs([_experiment_id()])
    parents = [r for r in runs if r.data.tags.get("powertrain.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("powertrain.kind") == "trial"]
    assert len(parents) == 1 and len(children) == 3
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    for child in children:
        epochs = expected[child.info.run_name]
        count = 3 if child.info.run_name == "trial-2" else 2
        assert _history(child.info.run_id, "energy/total_j") == [(e["epoch"], e["energy_j"]) for e in epochs[:count]]
    retried = next(c for c in children if c.info.run_name == "trial-2")
    assert retried.info.status == "FINISHED" and retried.data.params == {"trial": "trial-2"}


def test_an_unreachable_server_is_reported_once_and_the_work_goes_on(monkeypatch, caplog, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    trackers = Trackers.start([f"mlflow:http://127.0.0.1:{port}"], RunInfo(name="a", key="a"))
    trackers.log_metrics({"energy/total_j": 1.0}, step=1)
    trackers.finish()
    assert not trackers and "mlflow" in trackers.failures and trackers.failures["mlflow"].startswith("start:")
    assert sum("mlflow tracker failed" in r.getMessage() for r in caplog.records) == 1
