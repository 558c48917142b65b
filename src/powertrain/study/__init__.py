"""Studies made of training runs: the sweep engine on Optuna, and the studies built on it.

Layout: ``engine/`` (the sweep engine: config, space, the trial loop, storage, results), ``pruners.py`` (energy-aware
Optuna pruners), ``eat/`` (the EAT study), ``staged/`` (the transfer and multitask studies, made of stages).

Entry point: :func:`sweep` (CLI: ``powertrain sweep run CONFIG.yaml``)::

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

The EAT experiment: :func:`run_eat_study` (CLI: ``powertrain study eat CONFIG.yaml``), a preset of the engine (one
explicit trial per model and setting, :func:`eat_sweep_config`) with a Table-1 report; see docs/eat-study.md. The
transfer and multitask studies: :func:`run_transfer_study` and :func:`run_multitask_study` (``powertrain study
transfer|multitask CONFIG.yaml``); see docs/transfer.md.

Errors: :class:`~powertrain.errors.ConfigError` for a bad config, an unknown field in a space, an empty grid, a
malformed or unreachable storage, or a study name that exists with another space (one line, nothing stored is changed);
:class:`~powertrain.errors.UnknownNameError` for unknown models and datasets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from powertrain._lazy import lazy_exports

if TYPE_CHECKING:
    from powertrain.study.eat import (
        STANDARD,
        EatSetting,
        EatStudyConfig,
        EatStudyResult,
        InferenceEnergy,
        InferenceEnergyConfig,
        ModelTable,
        RunRecord,
        StudyRow,
        eat_sweep_config,
        load_eat_study_config,
        measure_inference_energy,
        run_eat_study,
    )
    from powertrain.study.engine import (
        OBJECTIVES,
        Param,
        SearchSpace,
        SweepConfig,
        SweepResult,
        TrialRecord,
        TrialSpec,
        load_sweep,
        load_sweep_config,
        make_pruner,
        make_sampler,
        merge_sweeps,
        sweep,
        sweep_config_from_dict,
    )
    from powertrain.study.pruners import EnergyAwarePruner, EnergySuccessiveHalvingPruner, report_energy
    from powertrain.study.staged import (
        MultitaskStudyConfig,
        MultitaskStudyResult,
        TransferStudyConfig,
        TransferStudyResult,
        break_even,
        load_multitask_study_config,
        load_transfer_study_config,
        run_multitask_study,
        run_transfer_study,
    )

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
    "break_even",
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

# Imported on first use: reading a study's results or replaying one needs neither torch nor the training loop.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "STANDARD": "powertrain.study.eat",
        "EatSetting": "powertrain.study.eat",
        "EatStudyConfig": "powertrain.study.eat",
        "EatStudyResult": "powertrain.study.eat",
        "InferenceEnergy": "powertrain.study.eat",
        "InferenceEnergyConfig": "powertrain.study.eat",
        "ModelTable": "powertrain.study.eat",
        "RunRecord": "powertrain.study.eat",
        "StudyRow": "powertrain.study.eat",
        "eat_sweep_config": "powertrain.study.eat",
        "load_eat_study_config": "powertrain.study.eat",
        "measure_inference_energy": "powertrain.study.eat",
        "run_eat_study": "powertrain.study.eat",
        "OBJECTIVES": "powertrain.study.engine",
        "Param": "powertrain.study.engine",
        "SearchSpace": "powertrain.study.engine",
        "SweepConfig": "powertrain.study.engine",
        "SweepResult": "powertrain.study.engine",
        "TrialRecord": "powertrain.study.engine",
        "TrialSpec": "powertrain.study.engine",
        "load_sweep": "powertrain.study.engine",
        "load_sweep_config": "powertrain.study.engine",
        "make_pruner": "powertrain.study.engine",
        "make_sampler": "powertrain.study.engine",
        "merge_sweeps": "powertrain.study.engine",
        "sweep": "powertrain.study.engine",
        "sweep_config_from_dict": "powertrain.study.engine",
        "EnergyAwarePruner": "powertrain.study.pruners",
        "EnergySuccessiveHalvingPruner": "powertrain.study.pruners",
        "report_energy": "powertrain.study.pruners",
        "MultitaskStudyConfig": "powertrain.study.staged",
        "MultitaskStudyResult": "powertrain.study.staged",
        "TransferStudyConfig": "powertrain.study.staged",
        "TransferStudyResult": "powertrain.study.staged",
        "break_even": "powertrain.study.staged",
        "load_multitask_study_config": "powertrain.study.staged",
        "load_transfer_study_config": "powertrain.study.staged",
        "run_multitask_study": "powertrain.study.staged",
        "run_transfer_study": "powertrain.study.staged",
    },
    globals(),
)
