"""The import path ``powertrain.study.multitask`` of earlier versions: the study is :mod:`powertrain.study.staged`."""

from __future__ import annotations

from powertrain.study.staged.multitask import MultitaskStudyResult, run_multitask_study

__all__ = ["MultitaskStudyResult", "run_multitask_study"]
