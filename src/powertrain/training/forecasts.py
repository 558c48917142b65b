"""The forecast made after each epoch of a run: for the live line, ``summary.json`` and the report.

:class:`RunForecasts` keeps one :class:`~powertrain.forecast.Forecast` per finished epoch of a run with a target
accuracy, made from the epochs up to it (so that its accuracy can be checked against what the run then did). A resumed
run reads back the forecasts its summary already holds instead of making them again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from powertrain.training.rundir import EpochRecord

__all__ = ["RunForecasts"]

log = logging.getLogger(__name__)


class RunForecasts:
    """Forecasts of one run, one per finished epoch (none without a target accuracy).

    Args:
        target_accuracy: The run's target; None: no forecasts.
        planned_epochs: The epochs the run may train.
        stop_at_target: The run stops at the target.
        saved: The ``forecasts`` list of an earlier ``summary.json`` of the same run (resume).
    """

    def __init__(
        self,
        target_accuracy: float | None,
        planned_epochs: int,
        *,
        stop_at_target: bool = False,
        saved: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.target_accuracy = target_accuracy
        self.planned_epochs = planned_epochs
        self.stop_at_target = stop_at_target
        self.made: list[dict[str, Any]] = [
            dict(f) for f in saved or [] if isinstance(f, dict) and f.get("planned_epochs") == planned_epochs
        ]
        self.latest: Any = None

    def update(self, history: Sequence[EpochRecord]) -> Any:
        """Make the forecasts of the epochs in ``history`` that have none yet; returns the newest (or None)."""
        if self.target_accuracy is None:
            return None
        from powertrain.forecast import forecast_curve

        self.made = [f for f in self.made if int(f.get("epochs_seen") or 0) <= len(history)]
        for seen in range(len(self.made) + 1, len(history) + 1):
            part = history[:seen]
            accuracy = [r.val_accuracy for r in part]
            if not all(math.isfinite(a) and 0.0 <= a <= 1.0 for a in accuracy):
                self.made.append({"epochs_seen": seen, "skipped": "no finite validation accuracy"})
                self.latest = None
                continue
            try:
                curve = [[r.epoch, r.energy_j, r.elapsed_s, r.val_accuracy] for r in part]
                self.latest = forecast_curve(curve, target_accuracy=self.target_accuracy,
                                             planned_epochs=self.planned_epochs, stop_at_target=self.stop_at_target)
            except ValueError as exc:  # a forecast must never stop training
                log.warning("no forecast after epoch %d: %s", seen, exc)
                self.made.append({"epochs_seen": seen, "skipped": str(exc)})
                self.latest = None
                continue
            self.made.append(self.latest.to_dict())
        return self.latest

    def to_list(self) -> list[dict[str, Any]]:
        """The forecasts made so far, after epoch 1 first (the ``forecasts`` entry of ``summary.json``)."""
        return [dict(f) for f in self.made]
