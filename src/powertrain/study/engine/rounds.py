"""Breadth-first rounds (``round_epochs``): pause a trial at the end of its round and enqueue its next round.

Each round of a configuration is a trial of its own; they share one run directory, which each round continues from
its checkpoint. A round that ends is told PRUNED with ``paused`` set, and a WAITING copy for the next round is
enqueued (:func:`~powertrain.study.engine.recovery.enqueue_copy`, which records the run's energy so far as the
copy's ``base_energy_j``): every joule is counted once, by the round that spent it, and nothing reads a paused round
as a finished configuration.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import optuna
from optuna.trial import TrialState

from powertrain import _killpoints as killpoints
from powertrain.study.engine.recovery import dead_here, enqueue_copy

__all__ = ["PAUSED", "ROUND", "enqueue_missing_rounds", "pause", "paused_run", "round_of", "rounds_pending_s"]

PAUSED = "paused"  # user attribute of a trial that ended a breadth-first round; its continuation carries the run on
ROUND = "round"  # user attribute: the breadth-first round a trial runs (1, 2, ...)
CONTINUES = "powertrain:continues"  # system attribute of a next round: the number of the round it continues


def round_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The breadth-first round ``trial`` runs (1 without rounds)."""
    return int(trial.user_attrs.get(ROUND) or 1)


def paused_run(summary: dict[str, Any], epochs: int) -> bool:
    """True when a run ended as ``completed`` before ``epochs`` epochs: a breadth-first round ended it, not training."""
    return summary.get("status") == "completed" and int(summary.get("epochs_completed") or 0) < epochs


def pause(study: optuna.Study, trial: optuna.Trial, place: str) -> TrialState:
    """End this round of ``trial`` and enqueue its next round (same parameters, the figures so far, ``round`` + 1).

    The round's trial is told PRUNED with ``paused`` set, so its energy is counted once (the next round's
    ``base_energy_j`` starts where it stopped) and nothing reads it as a finished configuration. A worker killed
    between the two steps leaves a paused trial without a next round: :func:`enqueue_missing_rounds` adds it.
    """
    trial.set_user_attr(PAUSED, True)
    study.tell(trial, state=TrialState.PRUNED)
    killpoints.reached("round-end", round_of(trial), place)  # fault tests only (inert)
    _enqueue_next_round(study, study._storage.get_trial(trial._trial_id))
    return TrialState.PRUNED


def _enqueue_next_round(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
    next_round = {ROUND: round_of(frozen) + 1}
    enqueue_copy(study, frozen, {CONTINUES: frozen.number}, drop=(PAUSED, "pruning_budget_j"), **next_round)


def _without_next_round(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    trials = study.get_trials(deepcopy=False)
    continued = {t.system_attrs.get(CONTINUES) for t in trials}
    paused = [t for t in trials if t.state == TrialState.PRUNED and t.user_attrs.get(PAUSED)]
    return [t for t in paused if t.number not in continued]


def _age_s(trial: optuna.trial.FrozenTrial) -> float:
    if trial.datetime_complete is None:
        return float("inf")
    return (dt.datetime.now() - trial.datetime_complete).total_seconds()


def enqueue_missing_rounds(study: optuna.Study, *, settle_s: float = 30.0) -> list[int]:
    """Enqueue the next round of every paused trial that has none (its worker died in between); returns their numbers.

    A paused trial whose worker was a process of this machine that is gone is continued at once; others only once
    they ended more than ``settle_s`` ago, so a live worker's own enqueue is not doubled.
    """
    added = []
    for t in _without_next_round(study):
        if dead_here(t) or _age_s(t) >= settle_s:
            _enqueue_next_round(study, t)
            added.append(t.number)
    return added


def rounds_pending_s(study: optuna.Study, settle_s: float) -> float | None:
    """Seconds until a paused trial without a next round may be continued; None when there is none."""
    waits = [max(0.0, settle_s - _age_s(t)) for t in _without_next_round(study)]
    return min(waits) if waits else None
