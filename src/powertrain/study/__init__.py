"""Studies made of training runs: the sweep engine on Optuna, and the EAT study built on it.

Entry point: :func:`sweep` (CLI: ``powertrain sweep CONFIG.yaml``)::

    from powertrain.study import load_sweep_config, sweep

    config = load_sweep_config("examples/sweeps/lr-batch-grid.yaml")
    result = sweep(config)                      # or join a running study: same config, same storage
    result.best.get("energy_to_target_j"), result.spread["ratio"], result.energy["total_j"]

A sweep varies any :class:`~powertrain.training.TrainConfig` field over a search space (:class:`SearchSpace`) or an
explicit list of named trials (:class:`TrialSpec`), with a grid, random, TPE or NSGA-II sampler, and an objective
(energy-to-target by default). Storage is a SQLite file in the study folder, or any SQLAlchemy URL (PostgreSQL) shared
by many workers.
:class:`EnergyAwarePruner` and :class:`EnergySuccessiveHalvingPruner` are ordinary Optuna pruners,
usable in your own Optuna code through :func:`report_energy`. docs/studies.md has the YAML keys and the recipes.

The EAT experiment: :func:`run_eat_study` (CLI: ``powertrain eat-study CONFIG.yaml``), a preset of the engine (one
explicit trial per model and setting, :func:`eat_sweep_config`) with a Table-1 report; see docs/eat-study.md.

Errors: :class:`~powertrain.errors.ConfigError` for a bad config, an unknown field in a space, an empty grid, a
malformed or unreachable storage, or a study name that exists with another space (one line, nothing stored is changed);
:class:`~powertrain.errors.UnknownNameError` for unknown models and datasets.
"""

from powertrain.study._eat_config import (
    STANDARD,
    EatSetting,
    EatStudyConfig,
    InferenceEnergyConfig,
    load_eat_study_config,
)
from powertrain.study._eat_table import ModelTable, RunRecord, StudyRow
from powertrain.study._engine import make_pruner, make_sampler, sweep
from powertrain.study._inference import InferenceEnergy, measure_inference_energy
from powertrain.study._merge import merge_sweeps
from powertrain.study._space import Param, SearchSpace, TrialSpec
from powertrain.study._sweep_config import OBJECTIVES, SweepConfig, load_sweep_config, sweep_config_from_dict
from powertrain.study._sweep_results import SweepResult, TrialRecord, load_sweep
from powertrain.study._transfer_config import (
    MultitaskStudyConfig,
    TransferStudyConfig,
    load_multitask_study_config,
    load_transfer_study_config,
)
from powertrain.study.eat import EatStudyResult, eat_sweep_config, run_eat_study
from powertrain.study.multitask import MultitaskStudyResult, run_multitask_study
from powertrain.study.pruners import EnergyAwarePruner, EnergySuccessiveHalvingPruner, report_energy
from powertrain.study.transfer import TransferStudyResult, run_transfer_study

__all__ = [
    "OBJECTIVES",
    "STANDARD",
    "EatSetting",
    "EatStudyConfig",
    "EatStudyResult",
    "EnergyAwarePruner",
    "EnergySuccessiveHalvingPruner",
    "InferenceEnergy",
    "InferenceEnergyConfig",
    "ModelTable",
    "MultitaskStudyConfig",
    "MultitaskStudyResult",
    "Param",
    "RunRecord",
    "SearchSpace",
    "StudyRow",
    "SweepConfig",
    "SweepResult",
    "TransferStudyConfig",
    "TransferStudyResult",
    "TrialRecord",
    "TrialSpec",
    "eat_sweep_config",
    "load_eat_study_config",
    "load_multitask_study_config",
    "load_sweep",
    "load_sweep_config",
    "load_transfer_study_config",
    "make_pruner",
    "make_sampler",
    "measure_inference_energy",
    "merge_sweeps",
    "report_energy",
    "run_eat_study",
    "run_multitask_study",
    "run_transfer_study",
    "sweep",
    "sweep_config_from_dict",
]
