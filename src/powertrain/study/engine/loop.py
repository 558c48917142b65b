"""The sweep loop: a trial's life from claim to export, top to bottom, on the storage primitives below it.

:func:`sweep` opens (or creates) the study in its storage, then claims and runs trials until the study has none left:
every grid point once, or ``n_trials`` sampled trials, shared by every worker running the same command against the
same storage. A trial's life:

1. **claim** (:func:`next_trial`): lost trials of dead workers are failed and re-enqueued, a paused round whose
   worker died gets its next round, then this worker claims a WAITING trial (or asks the sampler for a new one); a
   trial that a killed worker claimed without running is waited for until it counts as lost, so that a rerun
   finishes the study;
2. **run** (:func:`run_trial`): a real training run in ``OUT/runs/<name>/`` (continuing its checkpoint when the
   trial is a retry or a next round), reporting every epoch's energy to the pruner;
3. **pause and next round**: with breadth-first ``round_epochs``, a run that stopped at the end of its round is
   told PRUNED with ``paused`` set and its next round is enqueued;
4. **tell**: PRUNED, COMPLETE with the objectives' values, or FAIL (a run that failed or was interrupted is never a
   complete trial: a rerun resumes it from its checkpoint, and only a run that cannot be resumed stays failed);
5. **export**: every trial's figures (:mod:`~powertrain.study.engine.figures`) live in the storage as user
   attributes, so the results can be read from anywhere; ``results.json`` and ``results.csv`` are written at the end.

Every step announces a kill point (:mod:`powertrain._killpoints`: ``claim``, ``start-energy``, ``epoch``,
``heartbeat``, ``checkpoint``, ``tell``, ``round-end``, ``told``, ``export``), where the fault tests kill the worker or
fill its disk.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy
from optuna.trial import TrialState

from powertrain import _killpoints as killpoints
from powertrain._files import make_folders, remove_empty_folders
from powertrain.errors import DamagedFileError, OutputError, PowertrainError
from powertrain.forecast import forecast_curve
from powertrain.meters import Sensor
from powertrain.study.engine.attribution import STUDY_THREADS
from powertrain.study.engine.config import (
    SweepConfig,
    load_sweep_config,
    make_pruner,
    make_sampler,
    sweep_config_from_dict,
)
from powertrain.study.engine.figures import (
    ENDED_STATUSES,
    epoch_number,
    existing_summary,
    objective_value,
    store_curve,
    store_curve_rows,
    store_identity,
    store_summary,
)
from powertrain.study.engine.pruning import pruning_budget, skipped_before_start
from powertrain.study.engine.recovery import RetryLost, orphans_pending_s, recover_lost_trials
from powertrain.study.engine.results import SweepResult, from_study
from powertrain.study.engine.rounds import (
    PAUSED,
    enqueue_missing_rounds,
    pause,
    paused_run,
    round_of,
    rounds_pending_s,
)
from powertrain.study.engine.storage import (
    check_storage_url,
    claim_trial,
    heartbeat,
    open_storage,
    open_study,
    storage_errors,
)
from powertrain.study.engine.tracking import close_sweep_log, log_progress, open_sweep_log, trial_trackers, with_log
from powertrain.study.forecast_prior import load_prior
from powertrain.study.pruners import EnergySuccessiveHalvingPruner, report_energy
from powertrain.training import EpochRecord, TrainConfig, train
from powertrain.training.progress import ProgressReporter

if TYPE_CHECKING:
    from powertrain.integrations.trackers import Trackers

__all__ = [
    "ENDED", "PAUSED", "TrialCallback", "check_sweep", "enqueue_missing_rounds", "next_trial", "run_trial", "sweep",
]  # fmt: skip

log = logging.getLogger(__name__)

#: Training statuses that end a run for good (a trial reads such a run back instead of training it again)
ENDED = ENDED_STATUSES

#: ``on_trial(result_so_far, trial_number, state)`` after every trial this worker ran
TrialCallback = Callable[[SweepResult, int, str], None]


def sweep(
    config: SweepConfig | str | Path | Mapping[str, Any],
    *,
    n_trials: int | None = None,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    on_trial: TrialCallback | None = None,
    on_start: Callable[[optuna.Study, optuna.Trial], None] | None = None,
    extra: Callable[[optuna.Trial, Any], None] | None = None,
) -> SweepResult:
    """Run (or join, or continue) a sweep and return its results.

    Start the same call on several machines with one PostgreSQL ``storage`` and they share the work; kill one and
    start it again, and the study finishes: finished trials stay, a trial lost with its worker is retried from its
    run directory's checkpoint.

    Args:
        config: The sweep: a :class:`SweepConfig`, the path of its YAML file, or the YAML's mapping.
        n_trials: Override of ``config.n_trials``: total trials of a sampled study, over all workers.
        sensors: Energy sensors for every run (default: this machine's).
        reporter: Progress display of each training run.
        on_trial: Called after every trial this worker finished, with the results so far.
        on_start: Called when this worker starts a trial.
        extra: ``extra(trial, train_result)`` may store more user attributes after a run (used by the EAT preset).

    Returns:
        The :class:`SweepResult` of the whole study (every worker's trials); ``results.json`` and ``results.csv`` are
        also written to the study folder.

    Raises:
        ConfigError: A bad config, an unusable storage URL, an unreachable server, or a study of that name with
            another search space.
    """
    if isinstance(config, (str, Path)):
        config = load_sweep_config(config)
    elif isinstance(config, Mapping):
        config = sweep_config_from_dict(config)
    config = with_log(check_sweep(config.replace(n_trials=n_trials)))
    out = Path(config.out)
    created = make_folders(out, what="study folder")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with storage_errors(config.storage_url):
            storage = open_storage(
                config.storage_url, heartbeat_s=config.heartbeat_s, grace_s=config.grace_s,
                max_retries=config.max_retries,
            )  # fmt: skip
            study = open_study(config, storage, make_sampler(config), make_pruner(config))
    except BaseException:
        remove_empty_folders(created)  # e.g. an unreachable server: leave nothing behind
        raise
    parent = open_sweep_log(config)
    try:
        with storage_errors(config.storage_url):
            while (trial := next_trial(study, config)) is not None:
                if on_start is not None:
                    on_start(study, trial)
                state = run_trial(study, trial, config, sensors=sensors, reporter=reporter, extra=extra, parent=parent)
                if on_trial is not None or parent is not None:
                    so_far = from_study(study, out=out)
                    log_progress(parent, so_far)
                    if on_trial is not None:
                        on_trial(so_far, trial.number, state.name.lower())
            result = from_study(study, out=out)
        result.write(out)
    except BaseException as exc:
        close_sweep_log(parent, out, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    close_sweep_log(parent, out, "completed")
    return result


def check_sweep(config: SweepConfig) -> SweepConfig:
    """Validate, then act: the config, its study folder (not a file) and its storage URL, creating nothing.

    Returns the validated config.

    Raises:
        ConfigError, OutputError: One line saying what is wrong.
    """
    config = config.validate()
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the study")
    check_storage_url(config.storage_url)
    prior = config.pruner_options.get("prior") if config.pruner == "forecast" else None
    if prior and config.train.target_accuracy is not None:  # the forecast pruner's prior grid: readable, or one line
        load_prior(str(prior), config.train.target_accuracy)
    return config


def next_trial(study: optuna.Study, config: SweepConfig) -> optuna.Trial | None:
    """Claim this worker's next trial, after recovering lost ones; None when the study has nothing left to run.

    A trial claimed by a worker that was killed before it wrote its name, or a paused round whose next round a remote
    worker may still enqueue, becomes this worker's after ``grace_s``: it waits for that rather than leave the study
    unfinished.
    """
    while True:
        recover_lost_trials(study, config)
        if config.round_epochs:
            enqueue_missing_rounds(study, settle_s=config.grace_s)
        trial = claim_trial(study, config)
        if trial is not None:
            return trial
        waits = [orphans_pending_s(study, config.grace_s)]
        if config.round_epochs:
            waits.append(rounds_pending_s(study, config.grace_s))
        pending = [w for w in waits if w is not None]
        if not pending:
            return None
        log.info("waiting %.0f s for a trial that a killed worker left behind", min(pending))
        time.sleep(min(max(min(pending), 0.05), 1.0))


#: failures of the storage itself: nothing can be told to it; the trial stays RUNNING and a rerun recovers it
_STORAGE_FAILURES = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError)


class _Unresumable(PowertrainError):
    """The trial's run failed earlier and cannot be continued (its checkpoint is gone or damaged)."""


def run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    config: SweepConfig,
    *,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    extra: Callable[[optuna.Trial, Any], None] | None = None,
    parent: Trackers | None = None,
) -> TrialState:
    """Train the trial's configuration, record its figures, and tell the study how it ended (or pause it).

    A retried trial (its ``run_name`` inherited) continues the run directory's checkpoint when this machine has it;
    a run directory whose summary is already final is read back, not retrained. ``extra(trial, train_result)`` may
    add user attributes after training (the EAT preset measures inference energy there). ``parent``: the sweep's
    tracker runs; the trial's run logs into its child run (:mod:`~powertrain.study.engine.tracking`).
    """
    space = config.space.as_grid() if config.sampler == "grid" else config.space
    params = space.suggest(trial)
    run_name = str(trial.user_attrs.get("run_name") or f"trial-{trial.number:04d}")
    run_dir = Path(config.out).resolve() / "runs" / run_name
    store_identity(trial, run_name, run_dir)
    with heartbeat(study._storage, trial._trial_id, config.heartbeat_s):
        try:
            cfg = config.space.config_for(config.train, params)
            cfg = cfg.replace(out=str(run_dir), threads=_threads(study) if cfg.threads is None else cfg.threads)
            trial.set_user_attr("config", cfg.to_dict())
            planned_epochs = cfg.epochs
            if skipped_before_start(study, trial, config):
                return TrialState.PRUNED
            status, summary = _train(study, trial, config, cfg, sensors, reporter, extra, parent)
        except KeyboardInterrupt:
            _store_failure(study, trial, "interrupted (Ctrl-C); rerun the sweep to continue it", retry=True)
            raise
        except _STORAGE_FAILURES:
            raise
        except _Unresumable as exc:  # an earlier attempt failed for good: the trial stays failed, the study goes on
            log.warning("trial %d (%s) cannot be resumed: %s", trial.number, run_name, exc)
            return _store_failure(study, trial, str(exc), retry=False, run_dir=run_dir)
        except PowertrainError as exc:  # a user mistake (missing data...): stop here; a rerun retries this point
            _store_failure(study, trial, str(exc), retry=True)
            raise
        except Exception as exc:  # a crash inside one trial must not end the study
            log.exception("trial %d failed", trial.number)
            return _store_failure(study, trial, f"{type(exc).__name__}: {exc}", retry=False, run_dir=run_dir)
    store_summary(trial, summary, status)
    killpoints.reached("tell", round_of(trial), run_dir)  # fault tests only (inert)
    state = _tell(study, trial, config, summary, status, planned_epochs)
    killpoints.reached("told", round_of(trial), run_dir)  # fault tests only (inert)
    return state


def _threads(study: optuna.Study) -> int | None:
    """The study's threads per trial, recorded when it was created (a trial config's own ``threads`` wins)."""
    recorded = study.user_attrs.get(STUDY_THREADS)
    return None if recorded is None else int(recorded)


def _train(
    study: optuna.Study,
    trial: optuna.Trial,
    config: SweepConfig,
    cfg: TrainConfig,
    sensors: Sequence[Sensor] | None,
    reporter: ProgressReporter | None,
    extra: Callable[[optuna.Trial, Any], None] | None,
    parent: Trackers | None = None,
) -> tuple[str, dict[str, Any]]:
    """Train this round of the run (or read back a run that already ended); returns its status and summary."""
    run_dir = Path(str(cfg.out))
    prune = config.pruner != "none" and len(config.objective) == 1
    if config.round_epochs:  # breadth-first: this round trains up to round x round_epochs epochs
        cfg = cfg.replace(epochs=min(cfg.epochs, round_of(trial) * config.round_epochs))
    budget_j = pruning_budget(study, trial) if prune else None
    if budget_j is not None and (cfg.energy_budget_j is None or budget_j < cfg.energy_budget_j):
        cfg = cfg.replace(energy_budget_j=budget_j)  # checked every half second, not only at epoch ends
        trial.set_user_attr("pruning_budget_j", budget_j)
    if "base_duration_s" not in trial.user_attrs:  # a first attempt (nothing spent yet), or a copy of an older version
        trial.set_user_attr("base_energy_j", float(trial.user_attrs.get("energy_j") or 0.0))
        trial.set_user_attr("base_duration_s", float(trial.user_attrs.get("duration_s") or 0.0))
    summary = existing_summary(run_dir)
    if summary is not None and paused_run(summary, cfg.epochs):
        spent_j = float(summary["energy"]["total_j"])
        if budget_j is not None and spent_j >= budget_j:
            return "budget_exhausted", summary  # an earlier round already spent more than the best energy-to-target
        summary = None  # a run an earlier round ended: this round continues it
    if summary is not None:  # the run ended but its trial was lost before being told: read it back
        store_curve_rows(trial, run_dir)
        return str(summary["status"]), summary
    resume = run_dir if (run_dir / "config.yaml").exists() else None
    if resume is None and float(trial.user_attrs.get("base_energy_j") or 0.0) > 0:
        # a fresh run: what an earlier attempt spent elsewhere stays with that attempt (figures first, then the
        # base, so that no instant counts the earlier attempt's joules twice)
        for key in ("energy_j", "duration_s", "base_energy_j", "base_duration_s"):
            trial.set_user_attr(key, 0.0)
    killpoints.reached("start-energy", round_of(trial), run_dir)  # fault tests only (inert)
    on_epoch = _EpochReport(study, trial, config, prune)
    trackers = trial_trackers(parent, config, trial.number, str(trial.user_attrs["run_name"]), run_dir, cfg)
    try:
        result = train(cfg, resume=resume, sensors=sensors, reporter=reporter, on_epoch=on_epoch, trackers=trackers)
    except DamagedFileError as exc:
        if resume is None:
            raise
        raise _Unresumable(str(exc)) from None
    store_curve(trial, result.history)
    if extra is not None:
        extra(trial, result)
    return result.status, result.summary


class _EpochReport:
    """``on_epoch`` of a trial's run: the curve so far, the energy to the pruner, and whether to stop."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, config: SweepConfig, prune: bool) -> None:
        self.trial, self.target, self.prune = trial, config.train.target_accuracy, prune
        self.curve: list[list[float]] = [list(p) for p in trial.user_attrs.get("curve") or []]
        self.pruner = pruner = study.pruner
        self.rungs = pruner.rungs_j(study) if isinstance(pruner, EnergySuccessiveHalvingPruner) else None
        self.planned = int((trial.user_attrs.get("config") or {}).get("epochs") or config.train.epochs)
        self.stop = config.train.stop_at_target

    def __call__(self, record: EpochRecord, totals: Any) -> bool:
        trial = self.trial
        epoch = epoch_number(record, self.curve)
        self.curve.append([epoch, record.energy_j, record.elapsed_s, record.val_accuracy])
        trial.set_user_attr("curve", self.curve)
        if epoch == 1 and "first_epoch_energy_j" not in trial.user_attrs:
            trial.set_user_attr("first_epoch_energy_j", record.energy_j)
        accuracy = record.val_accuracy if math.isfinite(record.val_accuracy) else 0.0
        report_energy(
            trial, epoch, accuracy=accuracy, energy_j=record.energy_j, target_accuracy=self.target,
            rung_energies_j=self.rungs,
        )  # fmt: skip
        if self.target is not None:  # where this setup is heading: the live view, the results, the report
            made = forecast_curve(self.curve, target_accuracy=self.target, planned_epochs=self.planned,
                                  stop_at_target=self.stop)  # fmt: skip
            trial.set_user_attr("forecast", made.to_dict() if made is not None else None)
        stop = self.prune and trial.should_prune()
        decision = getattr(self.pruner, "decisions", {}).get(trial.number) if stop else None
        if decision and decision.get("rule") not in (None, "energy"):
            trial.set_user_attr("pruned_on_forecast", decision)
        return stop


def _tell(
    study: optuna.Study,
    trial: optuna.Trial,
    config: SweepConfig,
    summary: dict[str, Any],
    status: str,
    planned_epochs: int,
) -> TrialState:
    """Pause the trial for its next round, or tell the study it was pruned, completed (with its values) or failed."""
    if status not in ENDED:  # a run that failed or was interrupted is never a complete trial
        trial.set_user_attr("error", f"the run ended {status}: {summary.get('error') or 'no reason recorded'}")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    stopped_by_pruner = (
        status == "budget_exhausted"
        and trial.user_attrs.get("pruning_budget_j") is not None
        and not summary.get("reached_target")
    )
    if status == "completed" and config.round_epochs and paused_run(summary, planned_epochs):
        return pause(study, trial, str(summary.get("run_dir") or ""))
    if status == "pruned" or stopped_by_pruner:
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED
    values = [objective_value(name, trial.user_attrs) for name in config.objective]
    if any(v is None for v in values):
        trial.set_user_attr("error", f"no value for objective {config.objective} (training status {status})")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    study.tell(trial, values=values)
    return TrialState.COMPLETE


def _store_failure(
    study: optuna.Study, trial: optuna.Trial, message: str, *, retry: bool, run_dir: Path | None = None
) -> TrialState:
    """Tell the study the trial failed; ``retry``: enqueue its retry, else keep what its run spent (the study's cost).

    A retry counts the run's energy itself (it continues the run), so the failed attempt stores no figures then.
    """
    if not retry and run_dir is not None:
        summary = existing_summary(run_dir, ended_only=False)
        if summary is not None:
            store_summary(trial, summary, str(summary["status"]))
    trial.set_user_attr("error", message)
    study.tell(trial, state=TrialState.FAIL)
    if retry:
        RetryLost(max_retries=1_000_000)(study, study._storage.get_trial(trial._trial_id))
    return TrialState.FAIL
