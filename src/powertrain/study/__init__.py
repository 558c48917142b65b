"""Studies made of training runs. For now: the reproducible EAT experiment.

Entry point: :func:`run_eat_study` (CLI: ``powertrain eat-study CONFIG.yaml``)::

    from powertrain.study import load_eat_study_config, run_eat_study

    config = load_eat_study_config("examples/eat-quick.yaml")
    result = run_eat_study(config)
    for model, table in result.tables.items():
        print(model, table.selected, table.goal["met"])
    # result.results_json and result.results_md hold everything

Each (model, setting) is one training run in ``OUT/runs/<model>/<setting>/``; standard training (lambda 0) is always
included. A study can be killed and rerun: finished runs are reused and unfinished ones resumed. docs/eat-study.md
describes the config keys and how to read the table.

Errors: :class:`~powertrain.errors.ConfigError` for a bad config (one line, with the closest known key for a typo) or
an existing run that was trained differently; :class:`~powertrain.errors.UnknownNameError` for unknown models and
datasets; :class:`~powertrain.errors.DataNotFoundError` for missing data.
"""

from powertrain.study._eat_config import (
    STANDARD,
    EatSetting,
    EatStudyConfig,
    InferenceEnergyConfig,
    load_eat_study_config,
)
from powertrain.study._eat_table import ModelTable, RunRecord, StudyRow
from powertrain.study._inference import InferenceEnergy, measure_inference_energy
from powertrain.study.eat import EatStudyResult, run_eat_study

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
    "load_eat_study_config",
    "measure_inference_energy",
    "run_eat_study",
]
