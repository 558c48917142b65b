"""A sweep trial's figures, stored as Optuna user attributes: the run's summary, its curve and its objectives.

User attributes of every trial (what ``sweep show``, the exports and optuna-dashboard read): ``run_name``,
``run_dir``, ``worker``, ``hardware`` (a short label) and ``hardware_info``, ``energy_j`` (the run's cumulative
energy), ``base_energy_j`` (energy of the same run already counted by the trial this one continues), ``curve`` (per
epoch: ``[epoch, energy_j, elapsed_s, val_accuracy]``), ``first_epoch_energy_j``, ``energy_to_target_j``,
``time_to_target_s``, ``epochs_to_target``, ``reached_target``, ``final_accuracy``, ``best_accuracy``,
``duration_s``, ``lost_energy_j``, ``train_status``, ``energy_sources``, ``accel_energy_ratio``, ``error``,
``machine_energy_j`` (the machine's energy beside the run's ``energy_j``), ``attribution`` (``process``, ``cgroup`` or
``machine``), ``others_load`` (other processes' busy CPUs on average during the run) and ``threads``; with the
energy pruner ``pruning_budget_j``, with breadth-first rounds ``round`` and, on a round that handed its run on,
``paused``; with a target accuracy ``forecast`` (the latest :meth:`powertrain.forecast.Forecast.to_dict`, after each
epoch), and for a trial the forecast pruner stopped ``pruned_on_forecast`` (its rule, forecast and probability).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna

from powertrain._records import read_metrics, read_summary
from powertrain.errors import ConfigError
from powertrain.hardware import describe_hardware, hardware_label
from powertrain.meters.measurement import attribution_scope
from powertrain.study.engine.config import OBJECTIVES
from powertrain.study.engine.storage import worker_id
from powertrain.training import EpochRecord

log = logging.getLogger(__name__)

__all__ = [
    "ENDED_STATUSES",
    "epoch_number",
    "existing_summary",
    "objective_value",
    "store_curve",
    "store_curve_rows",
    "store_identity",
    "store_summary",
]


def store_identity(trial: optuna.Trial, run_name: str, run_dir: Path) -> None:
    """Who runs the trial, where, and on which hardware."""
    info = describe_hardware()
    attrs = {"run_name": run_name, "run_dir": str(run_dir), "worker": worker_id(), "hardware": hardware_label(info)}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("hardware_info", {k: info[k] for k in ("hostname", "cpu_model", "gpus", "gpu_count")})


def objective_value(name: str, attrs: dict[str, Any]) -> float | None:
    """The trial's value for one objective, or None when the run has none (the trial is then FAIL).

    A run that never reached the target has energy- and time-to-target +inf: it is ranked after every run that
    reached it, and nothing finite is made up for it.
    """
    value = attrs.get(OBJECTIVES[name][1])
    if name in ("energy_to_target", "time_to_target") and value is None:
        return math.inf
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def store_summary(trial: optuna.Trial, summary: dict[str, Any], status: str) -> None:
    """The figures of the run's ``summary.json`` (a value already stored is kept when the summary has none)."""
    energy = summary.get("energy") or {}
    accel = summary.get("accelerator") or {}
    conditions = summary.get("conditions") or {}
    attrs = {
        "train_status": status,
        "energy_j": energy.get("total_j"),
        "machine_energy_j": energy.get("machine_total_j", energy.get("total_j")),
        "attribution": attribution_scope(energy.get("attribution")) if energy else None,
        "others_load": conditions.get("others_load"),
        "threads": conditions.get("threads"),
        "lost_energy_j": energy.get("lost_j"),
        "energy_sources": energy.get("sources"),
        "energy_estimated": energy.get("estimated"),
        "duration_s": summary.get("duration_s"),
        "final_accuracy": summary.get("final_accuracy"),
        "best_accuracy": summary.get("best_accuracy"),
        "reached_target": bool(summary.get("reached_target")),
        "energy_to_target_j": summary.get("energy_to_target_j"),
        "time_to_target_s": summary.get("time_to_target_s"),
        "epochs_to_target": summary.get("epochs_to_target"),
        "epochs_completed": summary.get("epochs_completed"),
        "accel_energy_ratio": accel.get("mean_ratio"),
    }
    for key, value in attrs.items():
        if value is not None or key not in trial.user_attrs:
            trial.set_user_attr(key, value)


def store_curve(trial: optuna.Trial, history: list[EpochRecord]) -> None:
    """The whole accuracy-against-energy curve from the run's history (epochs numbered from 1)."""
    base = 0 if history and history[0].epoch >= 1 else 1
    curve = [[r.epoch + base, r.energy_j, r.elapsed_s, r.val_accuracy] for r in history]
    trial.set_user_attr("curve", curve)
    if curve and "first_epoch_energy_j" not in trial.user_attrs:
        trial.set_user_attr("first_epoch_energy_j", curve[0][1])


def store_curve_rows(trial: optuna.Trial, run_dir: Path) -> None:
    """The curve from a finished run's metrics.csv (for a run whose trial was lost after it ended)."""
    rows = read_metrics(run_dir / "metrics.csv")
    base = 0 if rows and rows[0]["epoch"] >= 1 else 1
    curve = [[r["epoch"] + base, r["energy_j"], r["elapsed_s"], r["val_accuracy"]] for r in rows]
    trial.set_user_attr("curve", curve)


#: Training statuses that end a run for good: a trial whose run ended so reads it back instead of training it again.
#: ``failed`` and ``interrupted`` are not among them: such a run is resumed from its checkpoint.
ENDED_STATUSES = ("completed", "reached_target", "budget_exhausted", "diverged", "pruned")


def existing_summary(run_dir: Path, *, ended_only: bool = True) -> dict[str, Any] | None:
    """The run's final summary when the run ended (before its trial was told); else None.

    With ``ended_only`` (the default) a run that failed or was interrupted is not read back: a rerun resumes it. A
    damaged summary is logged and treated as none (the resume rewrites it, or says why it cannot).
    """
    if not (run_dir / "summary.json").exists():
        return None
    try:
        data = read_summary(run_dir / "summary.json")
    except ConfigError as exc:
        log.warning("%s", exc)
        return None
    if not data.get("final"):
        return None
    if ended_only and data["status"] not in ENDED_STATUSES:
        return None
    return data


def epoch_number(record: EpochRecord, curve: list[list[float]]) -> int:
    """The epoch just finished, numbered from 1 (the record's own numbering may start at 0 or 1)."""
    return int(curve[-1][0]) + 1 if curve else int(record.epoch) + 1 if record.epoch == 0 else int(record.epoch)
