"""Studies made of stages: transfer (does pretraining pay for its energy?) and multitask (does sharing a trunk pay?).

Entry points: :func:`run_transfer_study` and :func:`run_multitask_study` (CLI: ``powertrain study transfer|multitask
CONFIG.yaml``). Each stage is one grid sweep of the engine over explicit runs (:mod:`~.stage`), so the studies inherit
its storage, crash safety and exports. Read :mod:`~.config` (the YAML of both), :mod:`~.stage` (how a stage runs and
how a study starts), :mod:`~.transfer` and :mod:`~.multitask` (the stages of each and their figures), and
:mod:`~.results` (``results.json`` and ``results.md``, written in one place). docs/transfer.md has the schema.
"""

from __future__ import annotations

from powertrain.study.staged.config import (
    MultitaskStudyConfig,
    TransferStudyConfig,
    load_multitask_study_config,
    load_transfer_study_config,
)
from powertrain.study.staged.multitask import MultitaskStudyResult, run_multitask_study
from powertrain.study.staged.transfer import TransferStudyResult, break_even, run_transfer_study

__all__ = [
    "MultitaskStudyConfig",
    "MultitaskStudyResult",
    "TransferStudyConfig",
    "TransferStudyResult",
    "break_even",
    "load_multitask_study_config",
    "load_transfer_study_config",
    "run_multitask_study",
    "run_transfer_study",
]
