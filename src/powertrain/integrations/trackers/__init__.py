"""Energy in the experiment trackers people already read: MLflow, TensorBoard and Weights & Biases.

Start a run in any number of trackers, send it metrics by epoch, attach files, nest a sweep's trials, and finish::

    from powertrain.integrations.trackers import RunInfo, Trackers, tracker_metrics

    info = RunInfo(name="lenet5-lr0.1", key="runs/lenet5-lr0.1", params={"lr": 0.1}, folder=Path("runs/a"))
    with Trackers.start(["mlflow", "tensorboard"], info) as trackers:
        for epoch in range(1, epochs + 1):
            figures = tracker.end_epoch({"val_accuracy": accuracy})    # an EnergyTracker's epoch figures
            trackers.log_metrics(tracker_metrics(figures), step=epoch)
        trackers.log_artifact("runs/a/summary.json")

``--log NAME`` on the CLI takes the same names: ``mlflow`` (``mlflow:URI``), ``tensorboard`` (``tensorboard:DIR``)
and ``wandb`` (``wandb:PROJECT``); each honours its library's own environment (``MLFLOW_TRACKING_URI``,
``WANDB_MODE=offline``...). A sweep is a parent run (:class:`RunInfo` ``kind="sweep"``, keyed by the study's name, so
workers share it) and :meth:`Trackers.child` starts a trial's run under it (keyed by the trial's run, so a retry
continues it).

Each tracker is an optional extra (``pip install 'powertrain[mlflow]'``, ``[tensorboard]``, ``[wandb]``, all three
with ``[trackers]``), imported only when asked for: a missing one is a one-line
:class:`~powertrain.errors.ConfigError`. A tracker that is unreachable or fails mid-run is logged once as a warning
and dropped; the work goes on (:attr:`Trackers.failures` says why). Details: docs/integrations.md.
"""

from __future__ import annotations

from powertrain.integrations.trackers._base import RunInfo, Status, TrackerRun, flat_params, numeric_metrics
from powertrain.integrations.trackers._command import log_command
from powertrain.integrations.trackers._fanout import BACKENDS, Trackers, TrackerSpec, check_installed, parse_spec
from powertrain.integrations.trackers._metrics import METRIC_NAMES, tracker_metrics
from powertrain.integrations.trackers._runlog import RunLog, epoch_metrics, tracker_status

__all__ = [
    "BACKENDS",
    "METRIC_NAMES",
    "RunInfo",
    "RunLog",
    "Status",
    "TrackerRun",
    "TrackerSpec",
    "Trackers",
    "check_installed",
    "epoch_metrics",
    "flat_params",
    "log_command",
    "numeric_metrics",
    "parse_spec",
    "tracker_metrics",
    "tracker_status",
]
