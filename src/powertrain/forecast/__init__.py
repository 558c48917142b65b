"""Forecasts of a run's energy-, time- and epochs-to-target, with intervals, from its curves so far.

Entry point: :func:`forecast`::

    from powertrain.forecast import forecast

    f = forecast([0.80, 0.83], [100.0, 190.0], target_accuracy=0.85, planned_epochs=10)   # accuracy, cumulative J
    f.line()          # '85 % at epoch 4 (3-6), 374.9 J (287.5 J-523.3 J), 87 % likely within 10 epochs'
    f.probability, f.energy_j.median, f.energy_j.low, f.energy_j.high, f.to_dict()

The learning curve is a closed-form Bayesian ensemble of curve families (:func:`sample_curves`), the cost of each
coming epoch a log-normal model that knows the first epoch costs more (:func:`sample_epoch_costs`); before the first
epoch ends, :func:`estimate_from_steps` forecasts a planned run's energy and time from its first steps. How the model
was chosen and how accurate it is on recorded grids: docs/forecast.md.

Errors: ``ValueError`` for inputs that cannot be a run's curve (no epoch, lists of different lengths, an accuracy
outside [0, 1]).
"""

from powertrain.forecast._curve import CurvePrior, CurveSamples, sample_curves
from powertrain.forecast._energy import EpochCostPrior, StepsEstimate, estimate_from_steps, sample_epoch_costs
from powertrain.forecast._forecast import (
    MODEL,
    TAIL_SCALE,
    Forecast,
    Interval,
    calibrated_tail,
    forecast,
    forecast_curve,
)

__all__ = [
    "MODEL",
    "TAIL_SCALE",
    "CurvePrior",
    "CurveSamples",
    "EpochCostPrior",
    "Forecast",
    "Interval",
    "StepsEstimate",
    "calibrated_tail",
    "estimate_from_steps",
    "forecast",
    "forecast_curve",
    "sample_curves",
    "sample_epoch_costs",
]
