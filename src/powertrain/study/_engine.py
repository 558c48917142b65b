"""The study engine: run a sweep of training runs on Optuna, on one machine or many.

:func:`sweep` opens (or creates) the study in its storage, then claims and runs trials until the study has none left:
every grid point once, or ``n_trials`` sampled trials, shared by every worker running the same command against the
same storage. Each trial is a real training run in ``OUT/runs/<name>/``; its figures live in the storage as user
attributes, so the results (:class:`~powertrain.study.SweepResult`) can be read from anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from powertrain.meters import Sensor
from powertrain.study._storage import claim_trial, open_storage, open_study, recover_lost_trials
from powertrain.study._sweep_config import SweepConfig, load_sweep_config, sweep_config_from_dict
from powertrain.study._sweep_results import SweepResult, from_study
from powertrain.study._trial import enqueue_missing_rounds, run_trial
from powertrain.study.pruners import EnergyAwarePruner, EnergySuccessiveHalvingPruner
from powertrain.training.progress import ProgressReporter

__all__ = ["make_pruner", "make_sampler", "sweep"]

log = logging.getLogger(__name__)

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
    config = config.replace(n_trials=n_trials).validate()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(
        config.storage_url, heartbeat_s=config.heartbeat_s, grace_s=config.grace_s, max_retries=config.max_retries
    )
    study = open_study(config, storage, make_sampler(config), make_pruner(config))
    while True:
        recover_lost_trials(study, config)
        if config.round_epochs:
            enqueue_missing_rounds(study, settle_s=config.grace_s)
        trial = claim_trial(study, config)
        if trial is None:
            break
        if on_start is not None:
            on_start(study, trial)
        state = run_trial(study, trial, config, sensors=sensors, reporter=reporter, extra=extra)
        if on_trial is not None:
            on_trial(from_study(study, out=out), trial.number, state.name.lower())
    result = from_study(study, out=out)
    result.write(out)
    return result


def make_sampler(config: SweepConfig) -> optuna.samplers.BaseSampler:
    """The Optuna sampler ``config.sampler`` names (a grid's points are enqueued, so it samples nothing)."""
    seed = config.seed
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if config.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    """The pruner ``config.pruner`` names, built with ``config.pruner_options``."""
    from powertrain.errors import ConfigError

    classes: dict[str, Any] = {
        "none": optuna.pruners.NopPruner,
        "energy": EnergyAwarePruner,
        "sm2": EnergySuccessiveHalvingPruner,
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }
    try:
        pruner: optuna.pruners.BasePruner = classes[config.pruner](**config.pruner_options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"pruner {config.pruner}: {exc}") from None
    return pruner
