"""Where a trace comes from: a CSV file, or a recorded sweep (study folder or storage URL)."""

from __future__ import annotations

from pathlib import Path

from powertrain.errors import ConfigError
from powertrain.study.engine.trials import TrialRecord
from powertrain.study.replay._records import trace_from_records
from powertrain.study.replay._sqlite import read_sqlite_trials
from powertrain.study.replay._trace import Trace, read_csv_trace

__all__ = ["read_trace", "trace_from_study"]


def read_trace(path: str | Path, *, unfinished: bool = False) -> Trace:
    """Read a CSV trace, or a study folder or storage URL (a full sweep); one-line ConfigError on bad input.

    ``unfinished``: read a sweep still running too (its finished trials only; for studies of the runs, not replays).
    """
    text = str(path)
    if "://" not in text and Path(text).is_file():
        return read_csv_trace(Path(text))
    if "://" not in text and not Path(text).exists():
        raise ConfigError(f"{text}: no such file or folder (give a CSV trace or a study folder)")
    return trace_from_study(text, unfinished=unfinished)


def trace_from_study(target: str | Path, *, study: str | None = None, unfinished: bool = False) -> Trace:
    """Every finished configuration of a full sweep, with its stored per-epoch curve.

    A sweep run in breadth-first rounds is read from the last round of each configuration (its curve holds every
    epoch). A sweep that pruned a configuration cannot be replayed as a full grid, nor one with nothing finished.
    """
    trials, target_accuracy = _records(target, study)
    return trace_from_records(trials, target_accuracy, str(target), unfinished=unfinished)


def _records(target: str | Path, study: str | None) -> tuple[list[TrialRecord], float | None]:
    """The sweep's trials and target: a study folder's SQLite file read directly (fast), else through Optuna."""
    from powertrain.study.engine.results import load_sweep

    db = Path(str(target)) / "study.db"
    if study is None and "://" not in str(target) and db.is_file():
        fast = read_sqlite_trials(db)
        if fast is not None:
            return fast
    result = load_sweep(target, study=study)
    return result.trials, result.target_accuracy
