"""A training run's figures in the trackers: what ``powertrain train --log NAME`` and the sweeps send, epoch by epoch.

:class:`RunLog` turns the training loop's epoch records (``EpochRecord.to_dict()``) into tracker metrics with their
unit in the name, adds energy-to-target once the target accuracy is first reached and the operational CO2e (the run's
carbon settings), and at the end attaches ``summary.json`` and the report and sets the run's status.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from powertrain.integrations._carbon import Carbon, CarbonAccount
from powertrain.integrations.trackers._base import RunInfo, Status
from powertrain.integrations.trackers._fanout import Trackers, TrackerSpec

__all__ = ["RunLog", "epoch_metrics", "tracker_status"]

# the training loop's statuses -> the trackers'
_STATUS: dict[str, Status] = {
    "completed": "completed", "reached_target": "completed", "budget_exhausted": "completed",
    "interrupted": "interrupted", "diverged": "failed", "failed": "failed",
}  # fmt: skip
_KEPT = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "images_per_s", "eat_density")


def tracker_status(status: str) -> Status:
    """A run's status (``reached_target``, ``diverged``...) as a tracker status: completed, failed or interrupted."""
    return _STATUS.get(status, "failed")


def epoch_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """One epoch record as tracker metrics (``energy/epoch_j``, ``energy/total_j``, ``time/epoch_s``, ``val_accuracy``).

    Example:
        >>> r = {"epoch": 1, "train_energy_j": 8.0, "eval_energy_j": 2.0, "energy_j": 10.0, "train_time_s": 3.0,
        ...      "eval_time_s": 1.0, "elapsed_s": 4.0, "avg_power_w": 2.5, "val_accuracy": 0.8}
        >>> epoch_metrics(r)["energy/epoch_j"], epoch_metrics(r)["energy/epoch_power_w"]
        (10.0, 2.5)
    """
    train_j, eval_j = float(record.get("train_energy_j") or 0.0), float(record.get("eval_energy_j") or 0.0)
    train_s, eval_s = float(record.get("train_time_s") or 0.0), float(record.get("eval_time_s") or 0.0)
    metrics = {
        "energy/epoch_j": train_j + eval_j,
        "energy/train_j": train_j,
        "energy/eval_j": eval_j,
        "energy/total_j": float(record["energy_j"]),
        "energy/epoch_power_w": float(record.get("avg_power_w") or 0.0),
        "time/epoch_s": train_s + eval_s,
        "time/total_s": float(record.get("elapsed_s") or 0.0),
    }
    metrics.update({key: float(record[key]) for key in _KEPT if _finite(record.get(key))})
    for task, values in dict(record.get("tasks") or {}).items():
        metrics.update({f"{task}/{k}": float(v) for k, v in dict(values).items() if _finite(v)})
    return metrics


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RunLog:
    """Send one training run's epochs to its trackers (a :class:`Trackers`, possibly a sweep's child).

    Args:
        trackers: The run's tracker runs.
        target_accuracy: The run's target: ``energy/to_target_j`` is logged from the epoch that first reaches it.
        carbon: CO2e settings, as :class:`~powertrain.integrations.EnergyTracker` takes them (a ``CarbonSettings``
            from the run's config); ``energy/epoch_co2e_kg`` and ``energy/total_co2e_kg`` are operational.
    """

    def __init__(self, trackers: Trackers, *, target_accuracy: float | None = None, carbon: Carbon = True) -> None:
        self.trackers, self.target_accuracy = trackers, target_accuracy
        self.carbon = CarbonAccount(carbon)
        self.energy_to_target_j: float | None = None

    @classmethod
    def start(cls, specs: Sequence[str | TrackerSpec], info: RunInfo, *, parent: Trackers | None = None,
              target_accuracy: float | None = None, carbon: Carbon = True) -> RunLog:  # fmt: skip
        """Start (or continue, by ``info.key``) the run in every tracker, or as a child of ``parent`` (a sweep)."""
        trackers = parent.child(info) if parent is not None else Trackers.start(specs, info)
        return cls(trackers, target_accuracy=target_accuracy, carbon=carbon)

    def seen(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Epochs logged by an earlier process of this run (a resume): only their target crossing is remembered."""
        for record in records:
            self._reached(record)

    def _reached(self, record: Mapping[str, Any]) -> bool:
        accuracy = record.get("val_accuracy")
        hit = (self.energy_to_target_j is None and self.target_accuracy is not None and _finite(accuracy)
               and float(accuracy) >= self.target_accuracy)  # fmt: skip
        if hit:
            self.energy_to_target_j = float(record["energy_j"])
        return hit

    def epoch(self, record: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Log one finished epoch (and ``extra`` metrics, e.g. a forecast's) at its epoch number.

        Returns:
            The metrics logged.
        """
        metrics = epoch_metrics(record)
        self._reached(record)
        if self.energy_to_target_j is not None:
            metrics["energy/to_target_j"] = self.energy_to_target_j
        if self.carbon.enabled:
            epoch_carbon = self.carbon.figures(metrics["energy/epoch_j"], metrics["time/epoch_s"])
            total_carbon = self.carbon.figures(metrics["energy/total_j"], metrics["time/total_s"])
            if "co2e_kg" in epoch_carbon:
                metrics["energy/epoch_co2e_kg"] = float(epoch_carbon["co2e_kg"])
            if "co2e_kg" in total_carbon:
                metrics["energy/total_co2e_kg"] = float(total_carbon["co2e_kg"])
        metrics.update({k: v for k, v in (extra or {}).items() if _finite(v)})
        self.trackers.log_metrics(metrics, step=int(record["epoch"]))
        return metrics

    def finish(self, status: str, *, artifacts: Iterable[Path | str] = ()) -> None:
        """Attach ``artifacts`` (those that exist) and end the runs with the run's ``status``."""
        for path in artifacts:
            self.trackers.log_artifact(path)
        self.trackers.finish(tracker_status(status))
