"""Reading back the files powertrain wrote: one reader per file, every field's type checked before anything uses it.

A run directory's ``summary.json`` (:func:`read_summary`), ``metrics.csv`` (:func:`read_metrics`) and
``heartbeat.json`` (:func:`read_heartbeat`), a study's ``results.json`` (:func:`read_results`) and torch files
(:func:`load_torch`) are read here, and configs by :func:`powertrain._files.read_yaml`. A damaged file is one
:class:`~powertrain.errors.DamagedFileError` line naming the file and the field ("summary.json X is damaged:
energy.total_j must be a number, not 'lots' (str)"), which the CLI prints with exit status 2; a reader never makes up
a figure (a damaged summary is not a run of 0 J).

The checks are a shape, not a schema: fields a newer powertrain adds are accepted, fields an older one did not write
are missing rather than wrong, and only what a reader relies on is required.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powertrain.errors import ConfigError, DamagedFileError

__all__ = [
    "SUMMARY_FIELDS",
    "check_fields",
    "load_torch",
    "read_heartbeat",
    "read_json_object",
    "read_metrics",
    "read_results",
    "read_summary",
]

log = logging.getLogger(__name__)

#: field (dotted path) -> (accepted kinds, required); kinds: number, int, str, bool, dict, list, null
Fields = Mapping[str, tuple[str, bool]]

#: Training statuses a summary may hold (training/loop.py ``Status`` and ``running``)
STATUSES = ("running", "completed", "reached_target", "budget_exhausted", "diverged", "interrupted", "pruned", "failed")

SUMMARY_FIELDS: Fields = {
    "status": ("str", True),
    "final": ("bool", False),
    "config": ("dict", False),
    "hardware": ("dict|null", False),
    "epochs_completed": ("int", False),
    "final_accuracy": ("number|null", False),
    "best_accuracy": ("number|null", False),
    "best_epoch": ("int|null", False),
    "target_accuracy": ("number|null", False),
    "reached_target": ("bool", False),
    "energy_to_target_j": ("number|null", False),
    "time_to_target_s": ("number|null", False),
    "epochs_to_target": ("int|null", False),
    "energy": ("dict", True),
    "energy.total_j": ("number", True),
    "energy.train_j": ("number", False),
    "energy.eval_j": ("number", False),
    "energy.lost_j": ("number", False),
    "energy.by_device_j": ("dict", False),
    "energy.sources": ("list", False),
    "energy.estimated": ("bool", False),
    "energy.processes": ("int", False),
    "duration_s": ("number|null", False),
    "carbon": ("dict|null", False),
    "accelerator": ("dict|null", False),
    "warnings": ("list", False),
    "tasks": ("dict", False),
}

#: A sweep's ``results.json`` (``SweepResult.to_dict()``): the study and each trial's figures
RESULTS_FIELDS: Fields = {
    "study": ("str", False),
    "objective": ("list", False),
    "directions": ("list", False),
    "target_accuracy": ("number|null", False),
    "counts": ("dict", False),
    "energy": ("dict", False),
    "trials": ("list", False),
    "best": ("dict|null", False),
    "spread": ("dict", False),
    "runs": ("list", False),
    "tables": ("dict", False),
}
TRIAL_FIELDS: Fields = {
    "number": ("int", False),
    "state": ("str", False),
    "run_name": ("str|null", False),
    "run_dir": ("str|null", False),
    "params": ("dict|null", False),
    "energy_j": ("number|null", False),
    "spent_j": ("number|null", False),
    "run_spent_j": ("number|null", False),
    "energy_to_target_j": ("number|null", False),
    "final_accuracy": ("number|null", False),
    "duration_s": ("number|null", False),
    "accel_energy_ratio": ("number|null", False),
    "hardware": ("str|null", False),
    "hardware_info": ("dict|null", False),
    "config": ("dict|null", False),
    "curve": ("list|null", False),
}
#: An EAT study's ``results.json``: each run record (``runs``) and each model table's rows (``tables``)
EAT_RUN_FIELDS: Fields = {
    "model": ("str", False),
    "setting": ("dict", False),
    "status": ("str|null", False),
    "run_dir": ("str|null", False),
    "final_accuracy": ("number|null", False),
    "train_energy_j": ("number|null", False),
    "energy_ratio": ("number|null", False),
}
EAT_ROW_FIELDS: Fields = {
    "setting": ("str", True),
    "decrease_pct": ("number|null", False),
    "selected": ("bool", False),
    "inference": ("dict|null", False),
}
CURVE_FIELDS: Fields = {
    "epoch": ("int", False),
    "energy_j": ("number|null", False),
    "elapsed_s": ("number|null", False),
    "val_accuracy": ("number|null", False),
}

#: metrics.csv: columns every reader needs, and how each cell is read (other columns: a number, else text)
METRICS_REQUIRED = ("epoch", "energy_j", "elapsed_s", "val_accuracy", "train_energy_j", "eval_energy_j")
_METRICS_TEXT = ("energy_source",)

_KIND_WORDS = {
    "number": "a number", "int": "a whole number", "str": "text", "bool": "true or false", "dict": "an object",
    "list": "a list", "null": "null",
}  # fmt: skip


def _is(kind: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    return value is None


def _show(value: Any) -> str:
    text = repr(value)
    return (text[:40] + "...") if len(text) > 43 else text


def check_fields(data: Mapping[str, Any], fields: Fields, *, path: Path | str, what: str, prefix: str = "") -> None:
    """Check the kinds of ``data``'s fields; the first wrong or missing required one is a DamagedFileError line.

    A field under a parent that is missing (or null) is not checked: the parent's own entry says whether it may be.
    """
    for dotted, (kinds, required) in fields.items():
        node: Any = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        name = prefix + dotted
        if parts[-1] not in node:
            if required:
                raise DamagedFileError(f"{what} {path} is damaged: it has no {name}")
            continue
        value = node[parts[-1]]
        allowed = kinds.split("|")
        if not any(_is(kind, value) for kind in allowed):
            expected = " or ".join(_KIND_WORDS[k] for k in allowed)
            raise DamagedFileError(
                f"{what} {path} is damaged: {name} must be {expected}, not {_show(value)} ({type(value).__name__})"
            )


def read_json_object(path: str | Path, *, what: str) -> dict[str, Any]:
    """The JSON object in ``path``: missing is a ConfigError; not UTF-8, not JSON or not an object is damaged."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedFileError(f"{what} {path} is damaged: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = "empty" if not text.strip() else f"not valid JSON ({exc.msg}, line {exc.lineno})"
        raise DamagedFileError(f"{what} {path} is damaged: {reason}") from None
    except RecursionError:
        raise DamagedFileError(f"{what} {path} is damaged: nested too deeply") from None
    if not isinstance(data, dict):
        raise DamagedFileError(f"{what} {path} is damaged: expected a JSON object, not {type(data).__name__}")
    return data


def read_summary(path: str | Path) -> dict[str, Any]:
    """A run's ``summary.json``, its fields' kinds checked (:data:`SUMMARY_FIELDS`) and its status a known one."""
    data = read_json_object(path, what="summary.json")
    check_fields(data, SUMMARY_FIELDS, path=path, what="summary.json")
    if data["status"] not in STATUSES:
        raise DamagedFileError(
            f"summary.json {path} is damaged: status {_show(data['status'])} is not a training status"
        )
    return data


def read_results(path: str | Path) -> dict[str, Any]:
    """A study's ``results.json``: the study's fields, and each sweep trial's and curve point's, kinds checked."""
    data = read_json_object(path, what="results.json")
    check_fields(data, RESULTS_FIELDS, path=path, what="results.json")
    for i, trial in enumerate(data.get("trials") or []):
        _check_item(trial, TRIAL_FIELDS, path, f"trials[{i}]")
        for j, point in enumerate(trial.get("curve") or []):
            _check_item(point, CURVE_FIELDS, path, f"trials[{i}].curve[{j}]")
    for i, run in enumerate(data.get("runs") or []):
        _check_item(run, EAT_RUN_FIELDS, path, f"runs[{i}]")
    for model, table in (data.get("tables") or {}).items():
        _check_item(table, {"rows": ("list", False)}, path, f"tables.{model}")
        for i, row in enumerate(table.get("rows") or []):
            _check_item(row, EAT_ROW_FIELDS, path, f"tables.{model}.rows[{i}]")
    return data


def _check_item(item: Any, fields: Fields, path: Path | str, name: str) -> None:
    if not isinstance(item, dict):
        raise DamagedFileError(f"results.json {path} is damaged: {name} must be an object, not {_show(item)}")
    check_fields(item, fields, path=path, what="results.json", prefix=f"{name}.")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """A run's ``metrics.csv`` as rows of numbers (``epoch`` whole, empty cells NaN); [] when the file is missing.

    Raises:
        DamagedFileError: Not UTF-8, a required column missing, or a cell that is not a number.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read metrics.csv {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedFileError(f"metrics.csv {path} is damaged: not UTF-8 text (byte {exc.start})") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = list(reader.fieldnames or [])
        missing = [c for c in METRICS_REQUIRED if c not in header]
        if missing:
            raise DamagedFileError(f"metrics.csv {path} is damaged: no column {missing[0]} (header {header[:4]}...)")
        return [_metrics_row(row, line, path) for line, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise DamagedFileError(f"metrics.csv {path} is damaged: {exc}") from None


def _metrics_row(row: dict[str | None, Any], line: int, path: Path) -> dict[str, Any]:
    if None in row:
        raise DamagedFileError(f"metrics.csv {path} is damaged: line {line} has more cells than columns")
    out: dict[str, Any] = {}
    for column, cell in row.items():
        assert column is not None  # noqa: S101 - excluded just above
        if cell is None:
            raise DamagedFileError(f"metrics.csv {path} is damaged: line {line} has no {column} cell")
        if column in _METRICS_TEXT or column == "tasks":
            out[column] = cell
            continue
        try:
            value = float(cell) if cell.strip() else math.nan
        except ValueError:
            if column in METRICS_REQUIRED:
                raise DamagedFileError(
                    f"metrics.csv {path} is damaged: line {line}, {column} must be a number, not {_show(cell)}"
                ) from None
            out[column] = cell  # a column this version does not know: kept as text
            continue
        out[column] = value
    epoch = out["epoch"]
    if not (math.isfinite(epoch) and epoch == int(epoch) and epoch >= 0):
        raise DamagedFileError(f"metrics.csv {path} is damaged: line {line}, epoch must be a whole number >= 0")
    out["epoch"] = int(epoch)
    return out


def read_heartbeat(path: str | Path) -> dict[str, Any] | None:
    """The in-flight epoch's energy (``heartbeat.json``), or None when there is none or it is damaged.

    A heartbeat is written often and without fsync, so a damaged one (a power cut) is not fatal: it is logged with
    the file and the field, and the interrupted epoch's energy is then not counted.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = read_json_object(path, what="heartbeat")
        check_fields(data, _HEARTBEAT_FIELDS, path=path, what="heartbeat")
        if data["energy_j"] < 0 or data["epoch"] < 0:
            raise DamagedFileError(f"heartbeat {path} is damaged: a negative epoch or energy")
        by_device = data.get("by_device_j")
        if by_device is not None and not all(_is("number", v) for v in by_device.values()):
            raise DamagedFileError(f"heartbeat {path} is damaged: by_device_j must map devices to numbers")
    except ConfigError as exc:
        log.warning("%s; the interrupted epoch's energy is not counted", exc)
        return None
    return {
        **data,
        "epoch": int(data["epoch"]),
        "energy_j": float(data["energy_j"]),
        "duration_s": float(data.get("duration_s", 0.0)),
        "by_device_j": {str(k): float(v) for k, v in (data.get("by_device_j") or {}).items()},
        # the machine's energy in the epoch (attribution): a legacy heartbeat has none, so its run's energy is it
        "machine_energy_j": max(float(data.get("machine_energy_j") or 0.0), float(data["energy_j"])),
    }


_HEARTBEAT_FIELDS: Fields = {
    "epoch": ("int", True),
    "energy_j": ("number", True),
    "duration_s": ("number", False),
    "by_device_j": ("dict", False),
    "machine_energy_j": ("number", False),
    "session": ("str", False),
}


def load_torch(path: str | Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)``: a file that would run code is refused as unsafe, a broken one damaged.

    Raises:
        DamagedFileError: The file is empty, truncated, not a torch file, or (unsafe) holds pickled code or objects.
    """
    import pickle
    import warnings

    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch's own notes about pickle protocols: the verdict below says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, KeyError, IndexError, OSError, TypeError,
            AttributeError, UnicodeDecodeError) as exc:  # fmt: skip
        text = str(exc).strip()
        unsafe = re.search(r"GLOBAL ([\w.]+)", text)
        if unsafe is not None:
            raise DamagedFileError(
                f"{what} {path} is refused as unsafe: loading it would call {unsafe.group(1)} (code or objects, "
                "not only tensors); powertrain loads plain tensors only (weights_only=True)"
            ) from None
        lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(exc).__name__]
        reason = next((line for line in lines if "Unsupported" in line), lines[0])
        if reason.startswith("Weights only load failed"):  # torch's advice to load unsafely is not ours to give
            reason = "not a file of plain tensors"
        message = f"{what} {path} is damaged (truncated, empty or not a torch file): {reason[:200]}"
        raise DamagedFileError(message) from None
