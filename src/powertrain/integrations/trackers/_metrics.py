"""Tracker metric names for powertrain's figures: one scheme for every tracker, the unit in every name.

The same names as the Lightning callback's (``energy/epoch_j``, ``energy/total_j``, ``energy/to_target_j``...), so a
run looks the same in a tracker whichever way it was trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["METRIC_NAMES", "tracker_metrics"]

# figure name (EnergyTracker.end_epoch, the training loop's epoch record, measure) -> tracker metric name
METRIC_NAMES: dict[str, str] = {
    "epoch_energy_j": "energy/epoch_j",
    "train_energy_j": "energy/train_j",
    "eval_energy_j": "energy/eval_j",
    "energy_j": "energy/total_j",
    "epoch_power_w": "energy/epoch_power_w",
    "avg_power_w": "energy/epoch_power_w",
    "power_w": "energy/power_w",
    "energy_to_target_j": "energy/to_target_j",
    "epoch_co2e_kg": "energy/epoch_co2e_kg",
    "co2e_kg": "energy/total_co2e_kg",
    "epoch_duration_s": "time/epoch_s",
    "duration_s": "time/total_s",
    "elapsed_s": "time/total_s",
    "train_time_s": "time/train_s",
    "eval_time_s": "time/eval_s",
}
_LEFT_OUT = {"epoch", "complete"}


def tracker_metrics(figures: Mapping[str, Any]) -> dict[str, Any]:
    """``figures`` renamed for trackers (``energy_j`` -> ``energy/total_j``...).

    Other names (``val_accuracy``, ``train_loss``, ``forecast/...``) are kept; ``epoch`` is left out (it is the step).

    Example:
        >>> tracker_metrics({"epoch": 2, "epoch_energy_j": 10.0, "energy_j": 25.0, "val_accuracy": 0.8})
        {'energy/epoch_j': 10.0, 'energy/total_j': 25.0, 'val_accuracy': 0.8}
    """
    return {METRIC_NAMES.get(k, k): v for k, v in figures.items() if k not in _LEFT_OUT}
