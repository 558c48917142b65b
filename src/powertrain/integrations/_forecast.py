"""Forecasts for runs driven by someone else's loop: the target metric after each epoch, and where it is heading.

:class:`ForecastLog` is :class:`~powertrain.integrations.tracker.EnergyTracker`'s record of the target metric per epoch
(with the energy and time up to the evaluation that produced it) and of the
:func:`~powertrain.forecast.forecast_curve` made after each. It forecasts only an accuracy-like metric (``mode="max"``,
values in [0, 1]), with the planned epochs known, and epochs evaluated one after another from 1.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ForecastLog"]


class ForecastLog:
    """The target metric per epoch and the forecast made after each.

    Args:
        target: The target accuracy (None: no forecasts).
        planned_epochs: The epochs the run may train (None until the framework says: no forecasts yet).
    """

    def __init__(self, target: float | None, planned_epochs: int | None = None) -> None:
        self.target = target
        self.planned_epochs = planned_epochs
        self.curve: list[list[float]] = []
        self.made: list[dict[str, Any]] = []
        self.latest: Any = None

    def record(self, epoch: int, value: float, energy_j: float, elapsed_s: float) -> Any:
        """The metric after ``epoch`` (again for the same epoch: replaced); returns the new forecast or None."""
        from powertrain.forecast import forecast_curve

        self.curve = [p for p in self.curve if p[0] != epoch]
        self.curve.append([float(epoch), energy_j, elapsed_s, value])
        self.curve.sort(key=lambda p: p[0])
        contiguous = [p[0] for p in self.curve] == [float(e) for e in range(1, len(self.curve) + 1)]
        usable = self.target is not None and self.planned_epochs and contiguous and 0.0 <= value <= 1.0
        if not usable or not math.isfinite(value):
            self.latest = None
            return None
        self.latest = forecast_curve(self.curve, target_accuracy=float(self.target), planned_epochs=int(
            self.planned_epochs), stop_at_target=False)  # fmt: skip
        self.made = [m for m in self.made if m["epochs_seen"] != len(self.curve)] + [self.latest.to_dict()]
        return self.latest

    def figures(self) -> dict[str, float]:
        """Numbers to log beside the energy: the forecast energy-to-target (median) and its probability."""
        f = self.latest
        if f is None or f.reached:
            return {}
        out = {"forecast_probability": f.probability}
        if math.isfinite(f.energy_j.median):
            out["forecast_energy_to_target_j"] = f.energy_j.median
        return out
