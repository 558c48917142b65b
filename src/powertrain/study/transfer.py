"""The import path ``powertrain.study.transfer`` of earlier versions: the study is :mod:`powertrain.study.staged`."""

from __future__ import annotations

from powertrain.study.staged.transfer import TransferStudyResult, break_even, run_transfer_study

__all__ = ["TransferStudyResult", "break_even", "run_transfer_study"]
