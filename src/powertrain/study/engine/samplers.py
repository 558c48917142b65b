"""The one table of sampler and pruner names: what ``sampler:`` and ``pruner:`` of a sweep config may say.

:class:`~powertrain.study.SweepConfig` checks names against :data:`SAMPLERS` and :data:`PRUNERS`, and
:func:`~powertrain.study.make_sampler` / :func:`~powertrain.study.make_pruner` build the objects from them.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

from powertrain.study.forecast_pruner import ForecastPruner
from powertrain.study.pruners import EnergyAwarePruner, EnergySuccessiveHalvingPruner

__all__ = ["PRUNERS", "SAMPLERS"]

#: sampler name -> ``factory(seed)``; a grid's points are enqueued, so its sampler (random) samples nothing
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "grid": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
}

#: pruner name -> its class, built with the config's ``pruner_options``
PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "energy": EnergyAwarePruner,
    "sm2": EnergySuccessiveHalvingPruner,
    "forecast": ForecastPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
