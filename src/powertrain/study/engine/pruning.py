"""What the sweep's pruner decides before a trial trains: skip it (a prior), or the energy budget it may spend."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from powertrain.study.engine.config import SweepConfig
from powertrain.study.engine.rounds import round_of
from powertrain.study.pruners import EnergyAwarePruner, best_energy_to_target

__all__ = ["pruning_budget", "skipped_before_start"]


def skipped_before_start(study: optuna.Study, trial: optuna.Trial, config: SweepConfig) -> bool:
    """Ask the pruner before a setup's first epoch (the forecast pruner's prior); a skipped trial is told PRUNED.

    Only a first attempt of a setup that has trained nothing is asked (no curve, no run directory's energy); it spends
    nothing (no ``energy_j``: it measured nothing) and keeps its decision as ``pruned_on_forecast``.
    """
    check = getattr(study.pruner, "prune_before_start", None)
    if check is None or config.pruner == "none" or len(config.objective) > 1 or round_of(trial) > 1:
        return False
    if trial.user_attrs.get("curve") or trial.user_attrs.get("energy_j"):
        return False
    if not check(study, trial):
        return False
    trial.set_user_attr("pruned_on_forecast", getattr(study.pruner, "decisions", {}).get(trial.number))
    trial.set_user_attr("train_status", "skipped")  # no energy of its own: it measured nothing (spent_j is 0)
    study.tell(trial, state=TrialState.PRUNED)
    return True


def pruning_budget(study: optuna.Study, trial: optuna.Trial) -> float | None:
    """The energy-aware pruner's rule as an energy budget for the run, so it stops mid-epoch, not only at epoch ends.

    A trial that has spent ``margin`` x the best energy-to-target so far without reaching the target cannot become
    the best, so stopping it the moment it crosses that line (the training loop checks its budget every half second)
    loses nothing the sweep is looking for. The budget is fixed when the trial starts; a better best found later by
    another worker still prunes it at its next epoch end. A breadth-first setup that reached the target in an earlier
    round gets no budget: it is not what the rule stops.
    """
    pruner = study.pruner
    if not isinstance(pruner, EnergyAwarePruner) or trial.user_attrs.get("reached_target"):
        return None  # a run that reached the target (in an earlier round) is what the pruner keeps, never stops
    best = best_energy_to_target(study, exclude=trial.number)
    return None if best is None else pruner.margin * best
