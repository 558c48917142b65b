"""Energy-aware Optuna pruners: stop trials by the joules they spend, not only by their accuracy.

Both pruners read what a trial has measured from its **user attributes**, so they work with any objective direction,
with the sweep engine (which records these for you) and in your own Optuna code (call :func:`report_energy` after every
epoch, then ``trial.should_prune()``):

- ``energy_j``: the energy the trial's training run has spent so far (joules, cumulative);
- ``energy_to_target_j``: set once the trial's validation accuracy first reaches the target;
- ``energy_rungs``: the accuracy the trial had when its energy first crossed each successive-halving rung.

Example:
    >>> import optuna
    >>> from powertrain.study import EnergyAwarePruner, report_energy
    >>> def objective(trial):
    ...     lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    ...     energy_j = 0.0
    ...     for epoch in range(1, 6):
    ...         energy_j += 100.0                      # measured: EnergyMeter windows in real code
    ...         accuracy = min(0.95, 0.5 + epoch * lr)  # evaluated on the validation split
    ...         report_energy(trial, epoch, accuracy=accuracy, energy_j=energy_j, target_accuracy=0.9)
    ...         if trial.should_prune():
    ...             raise optuna.TrialPruned()
    ...     return trial.user_attrs.get("energy_to_target_j", float("inf"))
    >>> study = optuna.create_study(pruner=EnergyAwarePruner())
    >>> study.optimize(objective, n_trials=4)
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

__all__ = ["EnergyAwarePruner", "EnergySuccessiveHalvingPruner", "report_energy"]


def report_energy(
    trial: optuna.Trial,
    epoch: int,
    *,
    accuracy: float,
    energy_j: float,
    target_accuracy: float | None = None,
    rung_energies_j: list[float] | None = None,
) -> None:
    """Record one finished epoch on ``trial`` for the energy-aware pruners.

    Reports the intermediate value at step ``epoch`` (single-objective studies only): ``accuracy`` when the study
    maximizes, the error ``1 - accuracy`` when it minimizes (so Optuna's median or Hyperband pruners rank trials the
    right way round). Sets the ``energy_j``
    user attribute, and the first time ``accuracy >= target_accuracy`` sets ``energy_to_target_j``.

    Args:
        trial: The running Optuna trial.
        epoch: The epoch just finished, numbered from 1.
        accuracy: Validation accuracy after that epoch, in [0, 1].
        energy_j: The run's cumulative energy after that epoch (joules).
        target_accuracy: The target whose first crossing defines energy-to-target; None for no target.
        rung_energies_j: Successive-halving rungs (joules) to record the accuracy at, for
            :class:`EnergySuccessiveHalvingPruner` (it passes its own when None).
    """
    directions = trial.study.directions
    if len(directions) == 1:  # Optuna's pruners rank by the study's direction: report the error when minimizing
        maximize = directions[0] == optuna.study.StudyDirection.MAXIMIZE
        trial.report(accuracy if maximize else 1.0 - accuracy, epoch)
    trial.set_user_attr("energy_j", float(energy_j))
    reached = target_accuracy is not None and math.isfinite(accuracy) and accuracy >= target_accuracy
    if reached and "energy_to_target_j" not in trial.user_attrs:
        trial.set_user_attr("energy_to_target_j", float(energy_j))
    pruner = trial.study.pruner
    rungs = rung_energies_j
    if rungs is None and isinstance(pruner, EnergySuccessiveHalvingPruner):
        rungs = pruner.rungs_j(trial.study)
    if rungs:
        recorded = dict(trial.user_attrs.get("energy_rungs") or {})
        for index, rung_j in enumerate(rungs):
            if energy_j >= rung_j and str(index) not in recorded:
                recorded[str(index)] = float(accuracy)
        trial.set_user_attr("energy_rungs", recorded)


class EnergyAwarePruner(BasePruner):
    """Prune a trial once it has spent more energy than the best energy-to-target so far without reaching the target.

    The best energy-to-target is the smallest ``energy_to_target_j`` user attribute of any other trial of the study,
    finished or still running (so parallel workers prune each other as soon as one reaches the target). A trial that
    has reached the target itself is never pruned. Before any trial reaches the target nothing is pruned.

    Args:
        margin: Prune only after ``margin`` times the best energy-to-target (default 1.0: the paper's rule; 1.5 gives
            slow starters some slack).

    Contract: reads the ``energy_j`` and ``energy_to_target_j`` user attributes (see :func:`report_energy`).
    """

    def __init__(self, margin: float = 1.0) -> None:
        if not (math.isfinite(margin) and margin > 0):
            raise ValueError(f"margin must be a positive number, not {margin!r}")
        self.margin = margin

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True when ``trial`` has not reached the target and has spent more than ``margin`` x the best."""
        if "energy_to_target_j" in trial.user_attrs:
            return False
        spent = trial.user_attrs.get("energy_j")
        best = best_energy_to_target(study, exclude=trial.number)
        return spent is not None and best is not None and float(spent) > self.margin * best


class EnergySuccessiveHalvingPruner(BasePruner):
    """Successive halving on measured energy (the idea of SM2, arXiv 2412.08526).

    Rung ``k`` is reached when a trial's energy passes ``min_energy_j * reduction_factor**k``. At each rung a trial
    continues only if its accuracy there is among the best ``1/reduction_factor`` of the trials that reached that rung
    (at least the best one always continues); nothing is pruned at a rung until ``min_trials`` trials reached it.

    Args:
        min_energy_j: Energy of the first rung (joules). None: the smallest first-epoch energy any trial of the study
            recorded (the ``first_epoch_energy_j`` user attribute), so the first rung is about one epoch.
        reduction_factor: Keep the best ``1/reduction_factor`` at each rung (default 3).
        min_trials: Trials that must reach a rung before it prunes (default: ``reduction_factor``).
        max_rungs: Number of rungs (default 8).

    Contract: reads the ``energy_rungs`` user attribute (see :func:`report_energy`).
    """

    def __init__(
        self,
        min_energy_j: float | None = None,
        *,
        reduction_factor: int = 3,
        min_trials: int | None = None,
        max_rungs: int = 8,
    ) -> None:
        if min_energy_j is not None and not (math.isfinite(min_energy_j) and min_energy_j > 0):
            raise ValueError(f"min_energy_j must be a positive number of joules, not {min_energy_j!r}")
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor must be >= 2, not {reduction_factor!r}")
        self.min_energy_j = min_energy_j
        self.reduction_factor = reduction_factor
        self.min_trials = min_trials if min_trials is not None else reduction_factor
        self.max_rungs = max_rungs

    def rungs_j(self, study: optuna.Study) -> list[float]:
        """The rung energies (joules); empty while the first rung is still unknown."""
        first = self.min_energy_j
        if first is None:
            seen = [
                float(t.user_attrs["first_epoch_energy_j"])
                for t in study.get_trials(deepcopy=False)
                if t.user_attrs.get("first_epoch_energy_j")
            ]
            if not seen:
                return []
            first = min(seen)
        return [first * self.reduction_factor**k for k in range(self.max_rungs)]

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True when ``trial``'s accuracy at its latest rung is outside the kept fraction."""
        mine = trial.user_attrs.get("energy_rungs") or {}
        if not mine:
            return False
        rung = max(mine, key=int)
        others = [
            float(t.user_attrs["energy_rungs"][rung])
            for t in study.get_trials(deepcopy=False)
            if t.number != trial.number
            and rung in (t.user_attrs.get("energy_rungs") or {})
            and not t.user_attrs.get("paused")  # a breadth-first round: its next round carries the same figures
        ]
        if len(others) + 1 < self.min_trials:
            return False
        value = float(mine[rung])
        ranked = sorted([*others, value], reverse=True)
        keep = max(1, len(ranked) // self.reduction_factor)
        return value < ranked[keep - 1]


def best_energy_to_target(study: optuna.Study, *, exclude: int | None = None) -> float | None:
    """The smallest ``energy_to_target_j`` user attribute over the study's trials (any state), or None."""
    values = [
        float(t.user_attrs["energy_to_target_j"])
        for t in study.get_trials(deepcopy=False, states=_USEFUL)
        if t.number != exclude and t.user_attrs.get("energy_to_target_j") is not None
    ]
    return min(values, default=None)


_USEFUL: Any = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED, TrialState.FAIL)
