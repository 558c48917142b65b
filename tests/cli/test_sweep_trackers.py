"""A real sweep logged to a real MLflow server: one parent, one child per trial, with the trials' figures."""

from __future__ import annotations

import csv
import json
import os

import pytest

from powertrain.cli import main

CONFIG = """
train:
  dataset: synthetic
  model: mlp
  epochs: 2
  batch_size: 32
  device: cpu
  estimate_batch_size: 0
  image_size: 8
  channels: 1
  meter_interval_s: 0.02
  target_accuracy: 0.3
  dataset_options: {num_classes: 4, train_size: 128, test_size: 64}
space:
  lr: [0.05, 0.2]
"""


def test_sweep_in_mlflow_parent_and_children_with_the_trials_joules_and_epochs(mlflow_env, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    config = tmp_path / "grid.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "study"
    assert main(["sweep", "run", str(config), "--out", str(out), "-q", "--log", "mlflow"]) == 0
    assert main(["sweep", "run", str(config), "--out", str(out), "-q", "--log", "mlflow"]) == 0  # a rerun joins
    client = mlflow.MlflowClient(tracking_uri=mlflow_env)
    experiment = client.get_experiment_by_name(os.environ["MLFLOW_EXPERIMENT_NAME"]).experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags.get("powertrain.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("powertrain.kind") == "trial"]
    assert len(parents) == 1 and parents[0].info.run_name == "grid" and parents[0].info.status == "FINISHED"
    results = json.loads((out / "results.json").read_text())
    assert sorted(c.info.run_name for c in children) == sorted(t["run_name"] for t in results["trials"])
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    for child in children:
        run_dir = out / "runs" / child.info.run_name
        summary = json.loads((run_dir / "summary.json").read_text())
        rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
        history = sorted(client.get_metric_history(child.info.run_id, "energy/total_j"), key=lambda m: m.step)
        assert [m.step for m in history] == [int(r["epoch"]) for r in rows]  # same epochs
        # metrics.csv rounds joules to 6 decimals (training/rundir.py): half a unit of that is the absolute tolerance
        assert [m.value for m in history] == pytest.approx([float(r["energy_j"]) for r in rows], rel=1e-5, abs=5e-7)
        assert history[-1].value == pytest.approx(summary["energy"]["total_j"], rel=1e-9)  # same joules
        if summary["energy_to_target_j"] is not None:
            assert child.data.metrics["energy/to_target_j"] == pytest.approx(summary["energy_to_target_j"], rel=1e-9)
        assert child.data.params["lr"] == str(summary["config"]["lr"]) and child.info.status == "FINISHED"
        assert "summary.json" in [a.path for a in client.list_artifacts(child.info.run_id)]
    parent = parents[0]
    assert parent.data.metrics["search/energy_j"] == pytest.approx(
        sum(t["spent_j"] for t in results["trials"]), rel=1e-9
    )
    assert {"results.json", "results.csv"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
