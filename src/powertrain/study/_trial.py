"""One sweep trial: a real training run in the study folder, its figures stored as Optuna user attributes.

User attributes of every trial (what ``sweep show``, the exports and optuna-dashboard read): ``run_name``,
``run_dir``, ``worker``, ``hardware`` (a short tag) and ``hardware_info``, ``energy_j`` (the run's cumulative energy),
``base_energy_j`` (energy of the same run already counted by the trial this one continues), ``curve`` (per epoch:
``[epoch, energy_j, elapsed_s, val_accuracy]``), ``first_epoch_energy_j``, ``energy_to_target_j``,
``time_to_target_s``, ``epochs_to_target``, ``reached_target``, ``final_accuracy``, ``best_accuracy``,
``duration_s``, ``lost_energy_j``, ``train_status``, ``energy_sources``, ``accel_energy_ratio``, ``error``; with the
energy pruner ``pruning_budget_j``, with breadth-first rounds ``round`` and, on a round that handed its run on,
``paused``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from powertrain.errors import PowertrainError
from powertrain.hardware import describe_hardware
from powertrain.meters import Sensor
from powertrain.study._storage import RetryLost, enqueue_copy, heartbeat, worker_id
from powertrain.study._sweep_config import OBJECTIVES, SweepConfig
from powertrain.study.pruners import (
    EnergyAwarePruner,
    EnergySuccessiveHalvingPruner,
    best_energy_to_target,
    report_energy,
)
from powertrain.training import EpochRecord, train
from powertrain.training.progress import ProgressReporter

__all__ = ["PAUSED", "enqueue_missing_rounds", "hardware_tag", "run_trial"]

log = logging.getLogger(__name__)


def hardware_tag(info: dict[str, Any]) -> str:
    """A short hardware label to group trials by: the GPU models (with counts), else the CPU model."""
    gpus = [str(g.get("name", "gpu")) for g in info.get("gpus") or []]
    if gpus:
        names = sorted(set(gpus))
        return " + ".join(f"{gpus.count(n)}x {n}" for n in names)
    cores = info.get("cpu_logical_cores")
    return f"{info.get('cpu_model', 'unknown CPU')} ({cores} threads)" if cores else str(info.get("cpu_model"))


def run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    config: SweepConfig,
    *,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    extra: Callable[[optuna.Trial, Any], None] | None = None,
) -> TrialState:
    """Train the trial's configuration, record its figures, and tell the study how it ended.

    A retried trial (its ``run_name`` inherited) continues the run directory's checkpoint when this machine has it;
    a run directory whose summary is already final is read back, not retrained. ``extra(trial, train_result)`` may
    add user attributes after training (the EAT preset measures inference energy there).
    """
    space = config.space.as_grid() if config.sampler == "grid" else config.space
    params = space.suggest(trial)
    run_name = str(trial.user_attrs.get("run_name") or f"trial-{trial.number:04d}")
    run_dir = Path(config.out).resolve() / "runs" / run_name
    info = describe_hardware()
    carried_j = float(trial.user_attrs.get("energy_j") or 0.0)
    attrs = {"run_name": run_name, "run_dir": str(run_dir), "worker": worker_id(), "hardware": hardware_tag(info)}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("hardware_info", {k: info[k] for k in ("hostname", "cpu_model", "gpus", "gpu_count")})
    curve: list[list[float]] = [list(p) for p in trial.user_attrs.get("curve") or []]
    target = config.train.target_accuracy
    prune = config.pruner != "none" and len(config.objective) == 1
    rungs = study.pruner.rungs_j(study) if isinstance(study.pruner, EnergySuccessiveHalvingPruner) else None

    def on_epoch(record: EpochRecord, totals: Any) -> bool:
        epoch = _epoch_number(record, curve)
        curve.append([epoch, record.energy_j, record.elapsed_s, record.val_accuracy])
        trial.set_user_attr("curve", curve)
        if epoch == 1 and "first_epoch_energy_j" not in trial.user_attrs:
            trial.set_user_attr("first_epoch_energy_j", record.energy_j)
        accuracy = record.val_accuracy if math.isfinite(record.val_accuracy) else 0.0
        report_energy(
            trial, epoch, accuracy=accuracy, energy_j=record.energy_j, target_accuracy=target, rung_energies_j=rungs
        )
        return prune and trial.should_prune()

    with heartbeat(study._storage, trial._trial_id, config.heartbeat_s):
        try:
            cfg = config.space.config_for(config.train, params).replace(out=str(run_dir))
            trial.set_user_attr("config", cfg.to_dict())
            planned_epochs = cfg.epochs
            if config.round_epochs:  # breadth-first: this round trains up to round x round_epochs epochs
                cfg = cfg.replace(epochs=min(planned_epochs, _round(trial) * config.round_epochs))
            budget_j = _pruning_budget(study, trial) if prune else None
            if budget_j is not None and (cfg.energy_budget_j is None or budget_j < cfg.energy_budget_j):
                cfg = cfg.replace(energy_budget_j=budget_j)  # checked every half second, not only at epoch ends
                trial.set_user_attr("pruning_budget_j", budget_j)
            summary = _existing_summary(run_dir)
            over_budget = False
            if summary is not None and _paused_run(summary, cfg.epochs):
                spent_j = float((summary.get("energy") or {}).get("total_j") or 0.0)
                over_budget = budget_j is not None and spent_j >= budget_j
                if not over_budget:
                    summary = None  # a run an earlier round ended: this round continues it
            if over_budget:  # an earlier round already spent more than the best energy-to-target: stop it untrained
                result_status = "budget_exhausted"
                trial.set_user_attr("base_energy_j", carried_j)
            elif summary is not None:  # the run ended but its trial was lost before being told: read it back
                result_status = str(summary.get("status"))
                trial.set_user_attr("base_energy_j", carried_j)
                _store_curve_rows(trial, run_dir)
            else:
                resume = run_dir if (run_dir / "config.yaml").exists() else None
                if resume is None:
                    carried_j = 0.0  # a fresh run: what an earlier attempt spent elsewhere stays with that attempt
                trial.set_user_attr("base_energy_j", carried_j)
                result = train(cfg, resume=resume, sensors=sensors, reporter=reporter, on_epoch=on_epoch)
                result_status, summary = result.status, result.summary
                _store_curve(trial, result.history)
                if extra is not None:
                    extra(trial, result)
        except KeyboardInterrupt:
            _store_failure(study, trial, "interrupted (Ctrl-C); rerun the sweep to continue it", retry=True)
            raise
        except PowertrainError as exc:  # a user mistake (missing data...): stop here; a rerun retries this point
            _store_failure(study, trial, str(exc), retry=True)
            raise
        except Exception as exc:  # a crash inside one trial must not end the study
            log.exception("trial %d failed", trial.number)
            return _store_failure(study, trial, f"{type(exc).__name__}: {exc}", retry=False)
    _store_summary(trial, summary, result_status)
    stopped_by_pruner = (
        result_status == "budget_exhausted"
        and trial.user_attrs.get("pruning_budget_j") is not None
        and not summary.get("reached_target")
    )
    if result_status == "completed" and config.round_epochs and _paused_run(summary, planned_epochs):
        return _pause(study, trial)
    if result_status == "pruned" or stopped_by_pruner:
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED
    values = [_objective_value(name, trial.user_attrs) for name in config.objective]
    if any(v is None for v in values):
        trial.set_user_attr("error", f"no value for objective {config.objective} (training status {result_status})")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    study.tell(trial, values=values)
    return TrialState.COMPLETE


PAUSED = "paused"  # user attribute of a trial that ended a breadth-first round; its continuation carries the run on
ROUND = "round"  # user attribute: the breadth-first round a trial runs (1, 2, ...)


def _round(trial: optuna.Trial) -> int:
    return int(trial.user_attrs.get(ROUND) or 1)


def _paused_run(summary: dict[str, Any], epochs: int) -> bool:
    """True when a run ended as ``completed`` before ``epochs`` epochs: a breadth-first round ended it, not training."""
    return summary.get("status") == "completed" and int(summary.get("epochs_completed") or 0) < epochs


def _pause(study: optuna.Study, trial: optuna.Trial) -> TrialState:
    """End this round of ``trial`` and enqueue its next round (same parameters, the figures so far, ``round`` + 1).

    The round's trial is told PRUNED with ``paused`` set, so its energy is counted once (the next round's
    ``base_energy_j`` starts where it stopped) and nothing reads it as a finished configuration. A worker killed
    between the two steps leaves a paused trial without a next round: :func:`enqueue_missing_rounds` adds it.
    """
    trial.set_user_attr(PAUSED, True)
    study.tell(trial, state=TrialState.PRUNED)
    _enqueue_next_round(study, study._storage.get_trial(trial._trial_id))
    return TrialState.PRUNED


def _enqueue_next_round(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
    next_round = int(frozen.user_attrs.get(ROUND) or 1) + 1
    enqueue_copy(
        study, frozen, {"powertrain:continues": frozen.number}, drop=(PAUSED, "pruning_budget_j"), **{ROUND: next_round}
    )


def enqueue_missing_rounds(study: optuna.Study, *, settle_s: float = 30.0) -> list[int]:
    """Enqueue the next round of every paused trial that has none (its worker died in between); returns their numbers.

    Only paused trials that ended more than ``settle_s`` ago, so a live worker's own enqueue is not doubled.
    """
    import datetime as dt

    trials = study.get_trials(deepcopy=False)
    continued = {t.system_attrs.get("powertrain:continues") for t in trials}
    now = dt.datetime.now()
    added = []
    for t in trials:
        if t.state != TrialState.PRUNED or not t.user_attrs.get(PAUSED) or t.number in continued:
            continue
        if t.datetime_complete is not None and (now - t.datetime_complete).total_seconds() < settle_s:
            continue
        _enqueue_next_round(study, t)
        added.append(t.number)
    return added


def _pruning_budget(study: optuna.Study, trial: optuna.Trial) -> float | None:
    """The energy-aware pruner's rule as an energy budget for the run, so it stops mid-epoch, not only at epoch ends.

    A trial that has spent ``margin`` x the best energy-to-target so far without reaching the target cannot become
    the best, so stopping it the moment it crosses that line (the training loop checks its budget every half second)
    loses nothing the sweep is looking for. The budget is fixed when the trial starts; a better best found later by
    another worker still prunes it at its next epoch end.
    """
    pruner = study.pruner
    if not isinstance(pruner, EnergyAwarePruner):
        return None
    best = best_energy_to_target(study, exclude=trial.number)
    return None if best is None else pruner.margin * best


def _objective_value(name: str, attrs: dict[str, Any]) -> float | None:
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


def _store_summary(trial: optuna.Trial, summary: dict[str, Any], status: str) -> None:
    energy = summary.get("energy") or {}
    accel = summary.get("accelerator") or {}
    attrs = {
        "train_status": status,
        "energy_j": energy.get("total_j"),
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


def _store_curve(trial: optuna.Trial, history: list[EpochRecord]) -> None:
    """The whole accuracy-against-energy curve from the run's history (epochs numbered from 1)."""
    base = 0 if history and history[0].epoch >= 1 else 1
    curve = [[r.epoch + base, r.energy_j, r.elapsed_s, r.val_accuracy] for r in history]
    trial.set_user_attr("curve", curve)
    if curve and "first_epoch_energy_j" not in trial.user_attrs:
        trial.set_user_attr("first_epoch_energy_j", curve[0][1])


def _store_curve_rows(trial: optuna.Trial, run_dir: Path) -> None:
    """The curve from a finished run's metrics.csv (for a run whose trial was lost after it ended)."""
    import csv

    try:
        with (run_dir / "metrics.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return
    base = 0 if rows and int(rows[0]["epoch"]) >= 1 else 1
    curve = [
        [int(r["epoch"]) + base, float(r["energy_j"]), float(r["elapsed_s"]), float(r["val_accuracy"] or "nan")]
        for r in rows
    ]
    trial.set_user_attr("curve", curve)


def _store_failure(study: optuna.Study, trial: optuna.Trial, message: str, *, retry: bool) -> TrialState:
    trial.set_user_attr("error", message)
    study.tell(trial, state=TrialState.FAIL)
    if retry:
        RetryLost(max_retries=1_000_000)(study, study._storage.get_trial(trial._trial_id))
    return TrialState.FAIL


def _existing_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary when it is final (the run ended before the trial was told); else None."""
    try:
        data = json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if isinstance(data, dict) and data.get("final") and data.get("status") != "interrupted":
        return data
    return None


def _epoch_number(record: EpochRecord, curve: list[list[float]]) -> int:
    """The epoch just finished, numbered from 1 (the record's own numbering may start at 0 or 1)."""
    return int(curve[-1][0]) + 1 if curve else int(record.epoch) + 1 if record.epoch == 0 else int(record.epoch)
