"""``EnergyTracker(log=[...])``: an integration's epochs in the experiment trackers (rank 0 logs for the whole job)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powertrain.integrations.trackers._base import RunInfo, Status, numeric_metrics
from powertrain.integrations.trackers._fanout import Trackers, TrackerSpec, check_installed
from powertrain.integrations.trackers._metrics import tracker_metrics

__all__ = ["TrackerLog", "tracker_log"]


class TrackerLog:
    """The run of an :class:`~powertrain.integrations.EnergyTracker` in every tracker of ``specs``.

    Args:
        specs: Tracker names (``mlflow``, ``tensorboard``, ``wandb``, optionally ``NAME:OPTION``).
        name: The run's name (default: the framework and the start time).
        key: Its identity: the same key continues the same tracker run (default: the name).
        params: Parameters to record (a LightningModule's ``hparams``, ``TrainingArguments``).
        folder: Where local tracker files go (TensorBoard's events, W&B's run files).

    Raises:
        ConfigError: An unknown tracker or one whose library is missing (when the tracker is created).
    """

    def __init__(self, specs: Sequence[str | TrackerSpec], *, name: str, key: str | None = None,
                 params: Mapping[str, Any] | None = None, folder: Path | None = None) -> None:  # fmt: skip
        self.specs = check_installed(specs)
        self.info = RunInfo(name=name, key=key or name, params=dict(params or {}), folder=folder)
        self.trackers = Trackers()

    def start(self, *, active: bool = True) -> None:
        """Start the tracker runs (only where ``active``: rank 0 of a job)."""
        if active and self.specs:
            self.trackers = Trackers.start(self.specs, self.info)

    def epoch(self, figures: Mapping[str, Any], metrics: Mapping[str, Any] | None = None) -> None:
        """Log one epoch's energy figures (``EnergyTracker.end_epoch``) and the loop's metrics at its number."""
        values = numeric_metrics({**dict(metrics or {}), **tracker_metrics(figures)})
        self.trackers.log_metrics(values, step=int(figures["epoch"]))

    def finish(self, summary_path: Path | str | None, status: str, summary: Mapping[str, Any] | None = None) -> None:
        """Attach the summary file and end the runs (``completed``, ``failed`` or ``interrupted``).

        With the ``summary``, its whole-run figures are logged at the last epoch's step: ``energy/run_total_j`` (the
        run's own energy, as attributed), ``energy/machine_total_j`` beside it and ``energy/unattributed_j``.
        """
        if summary is not None:
            values = {"energy/run_total_j": summary.get("energy_j"),
                      "energy/machine_total_j": summary.get("machine_total_j"),
                      "energy/unattributed_j": summary.get("unattributed_j")}  # fmt: skip
            self.trackers.log_metrics(numeric_metrics(values), step=len(summary.get("epochs") or []))
        if summary_path is not None:
            self.trackers.log_artifact(summary_path)
        final: Status = status if status in ("completed", "failed", "interrupted") else "failed"  # type: ignore[assignment]
        self.trackers.finish(final)


def tracker_log(specs: Sequence[str], name: str, params: Mapping[str, Any] | None) -> TrackerLog | None:
    """A :class:`TrackerLog` for ``specs`` (None when there are none)."""
    return TrackerLog(specs, name=name, params=params) if specs else None
