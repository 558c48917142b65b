"""The reproducible EAT experiment: standard training against EAT settings, one table per model (EAT's Table 1).

Entry point: :func:`run_eat_study` (CLI: ``powertrain study eat CONFIG.yaml``). Read it in this order:
:mod:`~.config` (the study's YAML), :mod:`~.study` (the study as a grid sweep of the engine, plus the inference
energy measured after each run, :mod:`~.inference`), :mod:`~.table` (the per-model tables and the selection rule)
and :mod:`~.results` (``results.json`` and ``results.md``, written in one place).
"""

from __future__ import annotations

from powertrain.study.eat.config import (
    STANDARD,
    EatSetting,
    EatStudyConfig,
    InferenceEnergyConfig,
    load_eat_study_config,
)
from powertrain.study.eat.inference import InferenceEnergy, measure_inference_energy
from powertrain.study.eat.results import EatStudyResult
from powertrain.study.eat.study import eat_sweep_config, run_eat_study
from powertrain.study.eat.table import ModelTable, RunRecord, StudyRow

__all__ = [
    "STANDARD",
    "EatSetting",
    "EatStudyConfig",
    "EatStudyResult",
    "InferenceEnergy",
    "InferenceEnergyConfig",
    "ModelTable",
    "RunRecord",
    "StudyRow",
    "eat_sweep_config",
    "load_eat_study_config",
    "measure_inference_energy",
    "run_eat_study",
]
