"""MLflow: one MLflow run per powertrain run, a sweep as a parent run with one nested run per trial.

The tracking server comes from ``mlflow:URI`` or, as in every MLflow program, ``MLFLOW_TRACKING_URI`` (else MLflow's
local default); the experiment from ``MLFLOW_EXPERIMENT_NAME`` (default ``powertrain``). Runs are found again by the
tag ``powertrain.key``: workers on several machines that log the same study share one parent run (found by the study's
name), and a retried trial continues its nested run. Calls go through ``MlflowClient`` (no global active run), with
MLflow's HTTP retries shortened unless set (``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 2, ``..._TIMEOUT`` 10 s), so an
unreachable server costs seconds, not minutes, before it is reported and dropped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powertrain.integrations._optional import require
from powertrain.integrations.trackers._base import Axis, RunInfo, Status, TrackerRun, flat_params

__all__ = ["MlflowRun", "find_runs"]

KEY_TAG = "powertrain.key"
KIND_TAG = "powertrain.kind"
PARENT_TAG = "mlflow.parentRunId"
_STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
_PARAM_LIMIT = 6000  # characters MLflow keeps of a parameter value
_BATCH = 100  # params per log_batch call (MLflow's limit)


class MlflowRun(TrackerRun):
    """A run in an MLflow tracking store (see the module docstring)."""

    backend = "mlflow"

    def __init__(self, client: Any, run_id: str, experiment_id: str, info: RunInfo, *, continued: bool) -> None:
        self.client, self.run_id, self.experiment_id, self.info = client, run_id, experiment_id, info
        self.continued = continued

    @classmethod
    def start(cls, info: RunInfo, *, option: str | None = None, parent: MlflowRun | None = None) -> MlflowRun:
        """Find the run tagged with ``info.key`` (continued, status RUNNING again) or create it."""
        require("mlflow", "mlflow")
        for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")):
            os.environ.setdefault(name, value)
        from mlflow import MlflowClient

        if parent is not None:
            client, experiment_id = parent.client, parent.experiment_id
        else:
            client = MlflowClient(tracking_uri=option) if option else MlflowClient()
            experiment_id = _experiment(client, os.environ.get("MLFLOW_EXPERIMENT_NAME") or "powertrain")
        parent_id = parent.run_id if parent is not None else None
        found = find_runs(client, experiment_id, info.key, parent_id=parent_id)
        continued = bool(found)
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            run_id = _create(client, experiment_id, info, parent_id)
        run = cls(client, run_id, experiment_id, info, continued=continued)
        run.log_params(info.params)
        return run

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters; a continued run keeps its earlier values and tags changed ones ``powertrain.changed.K``."""
        from mlflow.entities import Param, RunTag

        flat = {k: str(v)[:_PARAM_LIMIT] for k, v in flat_params(params).items()}
        if not flat:
            return
        existing = self.client.get_run(self.run_id).data.params if self.continued else {}
        new = [Param(k, v) for k, v in flat.items() if k not in existing]
        changed = [RunTag(f"powertrain.changed.{k}", v) for k, v in flat.items() if k in existing and existing[k] != v]
        for i in range(0, max(len(new), len(changed)), _BATCH):
            self.client.log_batch(self.run_id, params=new[i : i + _BATCH], tags=changed[i : i + _BATCH])

    def log_metrics(self, metrics: Mapping[str, float], *, step: int, axis: Axis = "epoch") -> None:
        """One ``log_batch`` of every metric at ``step`` (MLflow's step: the epoch, or the optimizer step)."""
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        batch = [Metric(key, float(value), now_ms, int(step)) for key, value in metrics.items()]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[i : i + 1000])

    def log_artifact(self, path: Path) -> None:
        """Upload a file, or a folder under its own name (the report as ``report/...``)."""
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
        else:
            self.client.log_artifact(self.run_id, str(path))

    def child(self, info: RunInfo) -> MlflowRun:
        """A nested run under this one (tag ``mlflow.parentRunId``), found again by its key."""
        return type(self).start(info, parent=self)

    def finish(self, status: Status = "completed") -> None:
        """Mark the run FINISHED, FAILED or KILLED."""
        self.client.update_run(self.run_id, status=_STATUS[status])

    @property
    def location(self) -> str:
        """The tracking URI and the run id."""
        return f"{self.client.tracking_uri} run {self.run_id}"


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:  # another worker created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def find_runs(client: Any, experiment_id: str, key: str, *, parent_id: str | None = None) -> list[Any]:
    """The live runs tagged ``powertrain.key = key`` (under ``parent_id`` if given), oldest first."""
    quoted = key.replace("\\", "\\\\").replace("'", "\\'")
    query = f"tags.`{KEY_TAG}` = '{quoted}'"
    if parent_id is not None:
        query += f" and tags.`{PARENT_TAG}` = '{parent_id}'"
    runs = client.search_runs([experiment_id], filter_string=query, max_results=50)
    return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def _create(client: Any, experiment_id: str, info: RunInfo, parent_id: str | None) -> str:
    """Create the run; if another worker created the same key at the same moment, keep the oldest and delete ours."""
    tags = {KEY_TAG: info.key, KIND_TAG: info.kind, **{str(k): str(v) for k, v in info.tags.items()}}
    if parent_id is not None:
        tags[PARENT_TAG] = parent_id
    run_id = str(client.create_run(experiment_id, tags=tags, run_name=info.name).info.run_id)
    found = find_runs(client, experiment_id, info.key, parent_id=parent_id)
    if found and found[0].info.run_id != run_id:
        client.delete_run(run_id)
        run_id = str(found[0].info.run_id)
        client.update_run(run_id, status="RUNNING")
    return run_id
