"""The sweep engine on Optuna: one study of training runs, on one machine or many, killed and continued at will.

Read it in this order: :mod:`~.config` (what a sweep is) and :mod:`~.space` (its search space or explicit trials),
:mod:`~.loop` (a trial's life: claim, run, pause and next round, tell, export), the storage primitives below it
(:mod:`~.storage`), the figures it stores per trial (:mod:`~.figures`), and what reads them back
(:mod:`~.results`, :mod:`~.merge`). :mod:`~.samplers` is the one table of sampler and pruner names;
:mod:`~.grid` turns a list of known runs into a grid sweep (the EAT, transfer and multitask studies use it).
"""

from __future__ import annotations

from powertrain.study.engine.config import (
    OBJECTIVES,
    SweepConfig,
    load_sweep_config,
    make_pruner,
    make_sampler,
    sweep_config_from_dict,
)
from powertrain.study.engine.grid import grid_of_runs
from powertrain.study.engine.loop import TrialCallback, sweep
from powertrain.study.engine.merge import merge_sweeps
from powertrain.study.engine.results import SweepResult, TrialRecord, load_sweep
from powertrain.study.engine.samplers import PRUNERS, SAMPLERS
from powertrain.study.engine.space import Param, SearchSpace, TrialSpec

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "Param",
    "SearchSpace",
    "SweepConfig",
    "SweepResult",
    "TrialCallback",
    "TrialRecord",
    "TrialSpec",
    "grid_of_runs",
    "load_sweep",
    "load_sweep_config",
    "make_pruner",
    "make_sampler",
    "merge_sweeps",
    "sweep",
    "sweep_config_from_dict",
]
