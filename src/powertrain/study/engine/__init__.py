"""The sweep engine on Optuna: one study of training runs, on one machine or many, killed and continued at will.

Read it in this order: :mod:`~.config` (what a sweep is) and :mod:`~.space` (its search space or explicit trials),
:mod:`~.loop` (a trial's life: claim, run, pause and next round, tell, export), the storage primitives below it
(:mod:`~.storage`), the figures it stores per trial (:mod:`~.figures`), and what reads them back
(:mod:`~.results`, :mod:`~.merge`). :mod:`~.samplers` is the one table of sampler and pruner names;
:mod:`~.grid` turns a list of known runs into a grid sweep (the EAT, transfer and multitask studies use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from powertrain._lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use: reading a study's results or replaying one needs neither torch nor the training loop.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "OBJECTIVES": "powertrain.study.engine.config",
        "SweepConfig": "powertrain.study.engine.config",
        "load_sweep_config": "powertrain.study.engine.config",
        "make_pruner": "powertrain.study.engine.config",
        "make_sampler": "powertrain.study.engine.config",
        "sweep_config_from_dict": "powertrain.study.engine.config",
        "grid_of_runs": "powertrain.study.engine.grid",
        "TrialCallback": "powertrain.study.engine.loop",
        "sweep": "powertrain.study.engine.loop",
        "merge_sweeps": "powertrain.study.engine.merge",
        "SweepResult": "powertrain.study.engine.results",
        "TrialRecord": "powertrain.study.engine.results",
        "load_sweep": "powertrain.study.engine.results",
        "PRUNERS": "powertrain.study.engine.samplers",
        "SAMPLERS": "powertrain.study.engine.samplers",
        "Param": "powertrain.study.engine.space",
        "SearchSpace": "powertrain.study.engine.space",
        "TrialSpec": "powertrain.study.engine.space",
    },
    globals(),
)
