"""Replaying one order of a recorded grid under one pruning rule, as the sweep engine would have run it.

The real pruner classes decide (``EnergyAwarePruner``, ``EnergySuccessiveHalvingPruner``, ``ForecastPruner``, Optuna's
``NopPruner``), fed by the real :func:`~powertrain.study.report_energy`, on a small in-memory stand-in for an Optuna
study (:class:`ReplayStudy`: the few methods pruners read, a thousand times cheaper than a real in-memory study;
tests check both give the same answers). A trial stopped after epoch ``e`` is charged its measured energy up to ``e``;
with the energy rule's budget (the engine's ``energy_budget_j``, fixed when a trial or round starts) a trial is
stopped the moment it crosses it and charged exactly the budget (energy taken as linear within an epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from powertrain.study.pruners import EnergyAwarePruner, EnergySuccessiveHalvingPruner, report_energy
from powertrain.study.replay._trace import Run

__all__ = ["Outcome", "ReplayStudy", "replay_order"]


class ReplayTrial:
    """What pruners and ``report_energy`` read and write of a trial (``FrozenTrial`` and ``Trial`` in one)."""

    def __init__(self, study: ReplayStudy, number: int, attrs: dict[str, Any]) -> None:
        self.study = study
        self.number = number
        self.user_attrs: dict[str, Any] = dict(attrs)
        self.state = TrialState.RUNNING
        self.intermediate_values: dict[int, float] = {}

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value."""
        self.intermediate_values[step] = value

    def set_user_attr(self, key: str, value: Any) -> None:
        """Set a user attribute."""
        self.user_attrs[key] = value

    def should_prune(self) -> bool:
        """Ask the study's pruner."""
        return bool(self.study.pruner.prune(self.study, self))  # type: ignore[arg-type]


class ReplayStudy:
    """What pruners read of an ``optuna.Study``: its pruner, directions and trials."""

    directions = [optuna.study.StudyDirection.MINIMIZE]

    def __init__(self, pruner: optuna.pruners.BasePruner) -> None:
        self.pruner = pruner
        self.trials: list[ReplayTrial] = []

    def ask(self, attrs: dict[str, Any]) -> ReplayTrial:
        """A new running trial."""
        trial = ReplayTrial(self, len(self.trials), attrs)
        self.trials.append(trial)
        return trial

    def get_trials(self, deepcopy: bool = False, states: Sequence[TrialState] | None = None) -> list[ReplayTrial]:
        """The trials, optionally only those in ``states``."""
        return [t for t in self.trials if states is None or t.state in states]


@dataclass
class Outcome:
    """What one order spent under one rule, and what it found."""

    spent_j: float
    best: str | None
    best_energy_to_target_j: float | None
    pruned: int
    on_forecast: int
    by_setup: dict[str, float] = field(default_factory=dict)


def replay_order(
    runs: dict[str, Run],
    order: Sequence[str],
    make_pruner: Callable[[], optuna.pruners.BasePruner],
    *,
    target: float,
    planned_epochs: int,
    round_epochs: int | None = None,
) -> Outcome:
    """Run the setups of ``runs`` in ``order`` under a fresh pruner; ``round_epochs``: breadth-first rounds."""
    pruner = make_pruner()
    study = ReplayStudy(pruner)
    config = {"epochs": planned_epochs, "target_accuracy": target}
    trials = {name: study.ask({"run_name": name, "config": config, "curve": []}) for name in order}
    spent = dict.fromkeys(order, 0.0)
    done = dict.fromkeys(order, 0)
    live = list(order)
    per_round = round_epochs or planned_epochs
    while live:
        still = []
        for name in live:
            trial, run = trials[name], runs[name]
            if done[name] == 0 and _skipped(pruner, study, trial):
                trial.state = TrialState.PRUNED  # stopped before it trained (a prior): spent nothing
                continue
            stop_at = min(len(run.accuracy), done[name] + per_round)
            state = _train(study, trial, run, done[name], stop_at, target, spent, name)
            done[name] = len(trial.user_attrs["curve"])
            if state is None and done[name] < len(run.accuracy) and not run_ended(run, done[name]):
                still.append(name)  # a breadth-first round ended: the next one continues it
            else:
                trial.state = state or TrialState.COMPLETE
        live = still
    reached = [(float(t.user_attrs["energy_to_target_j"]), n) for n, t in trials.items()
               if t.user_attrs.get("energy_to_target_j") is not None]  # fmt: skip
    best = min(reached) if reached else (None, None)
    decisions = getattr(pruner, "decisions", {})
    on_forecast = sum(1 for t in trials.values() if t.state == TrialState.PRUNED
                      and (decisions.get(t.number) or {}).get("rule") not in (None, "energy"))  # fmt: skip
    pruned = sum(1 for t in trials.values() if t.state == TrialState.PRUNED)
    return Outcome(sum(spent.values()), best[1], best[0], pruned, on_forecast, spent)


def _skipped(pruner: optuna.pruners.BasePruner, study: ReplayStudy, trial: ReplayTrial) -> bool:
    """The pruner's check before a setup's first epoch (the forecast pruner's prior), as the engine asks it."""
    check = getattr(pruner, "prune_before_start", None)
    return bool(check(study, trial)) if check is not None else False


def run_ended(run: Run, epochs: int) -> bool:
    """True when the recorded run has no epoch after ``epochs``."""
    return epochs >= len(run.accuracy)


def _train(
    study: ReplayStudy,
    trial: ReplayTrial,
    run: Run,
    first: int,
    last: int,
    target: float,
    spent: dict[str, float],
    name: str,
) -> TrialState | None:
    """Epochs ``first + 1 .. last`` of ``run`` as one trial (or round); returns PRUNED, COMPLETE, or None (paused)."""
    pruner = study.pruner
    limit = None
    if isinstance(pruner, EnergyAwarePruner):
        from powertrain.study.pruners import best_energy_to_target

        best = best_energy_to_target(study, exclude=trial.number)  # type: ignore[arg-type]
        limit = None if best is None else pruner.margin * best
    if limit is not None and spent[name] >= limit:
        return TrialState.PRUNED  # an earlier round already spent the budget: stopped untrained
    rungs = pruner.rungs_j(study) if isinstance(pruner, EnergySuccessiveHalvingPruner) else None  # type: ignore[arg-type]
    cumulative, seconds = run.cumulative_j, run.cumulative_s
    curve = trial.user_attrs["curve"]
    for epoch in range(first + 1, last + 1):
        energy_j, accuracy = cumulative[epoch - 1], run.accuracy[epoch - 1]
        if limit is not None and energy_j > limit:
            spent[name] = limit
            return TrialState.PRUNED
        spent[name] = energy_j
        curve.append([epoch, energy_j, seconds[epoch - 1] if seconds else 0.0, accuracy])
        if epoch == 1:
            trial.set_user_attr("first_epoch_energy_j", energy_j)
        report_energy(trial, epoch, accuracy=accuracy, energy_j=energy_j, target_accuracy=target,  # type: ignore[arg-type]
                      rung_energies_j=rungs)  # fmt: skip
        if accuracy >= target:
            return TrialState.COMPLETE
        if trial.should_prune():
            return TrialState.PRUNED
    return None
