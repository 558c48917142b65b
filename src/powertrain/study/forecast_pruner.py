"""Pruning on the forecast: stop a setup once it is, with the chosen confidence, not going to be the cheapest.

:class:`ForecastPruner` is the energy-aware pruner (it stops a trial that has spent more than the best
energy-to-target so far, and the engine turns that into a mid-epoch budget) plus two rules on the trial's forecast
(:func:`powertrain.forecast.forecast`, from its stored ``curve``), each taken only when its chance of being wrong is
below ``risk``:

- the trial is not going to reach the target within its planned epochs (probability below ``risk``);
- its energy-to-target is going to exceed the best one known: a finished trial's measured energy-to-target, and with
  ``against="forecast"`` also another running setup's forecast one (probability of being cheaper below ``risk``).

It reads what :func:`~powertrain.study.report_energy` and the sweep engine store: ``curve`` (per epoch
``[epoch, energy_j, elapsed_s, val_accuracy]``), ``energy_to_target_j``, ``config`` (``epochs`` and
``target_accuracy``, unless given here) and ``run_name`` (rounds of one setup in breadth-first sweeps).
Each decision is kept in :attr:`ForecastPruner.decisions` (the engine stores it with the trial).

Example:
    >>> import optuna
    >>> from powertrain.study.forecast_pruner import ForecastPruner
    >>> pruner = ForecastPruner(risk=0.1, target_accuracy=0.9, planned_epochs=10)
    >>> study = optuna.create_study(pruner=pruner)
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from powertrain.forecast import calibrated_tail
from powertrain.study.forecast_prior import PRIOR_SD, load_prior, setup_label
from powertrain.study.pruners import EnergyAwarePruner, best_energy_to_target

__all__ = ["ForecastPruner", "probability_below"]


class ForecastPruner(EnergyAwarePruner):
    """Prune a trial whose forecast says, with confidence ``1 - risk``, that it will not be the cheapest to target.

    Args:
        risk: The largest chance of being wrong the pruner accepts for a stop (default 0.1).
        margin: The energy-aware rule's margin (the trial's own spent energy against the best, as
            :class:`EnergyAwarePruner`).
        against: ``"known"``: compare with measured energies-to-target only; ``"forecast"``: also with the forecast
            of every other live setup (prunes earlier, in breadth-first rounds before any setup reached the target).
        min_epochs: Epochs a trial trains before its forecast may stop it.
        target_accuracy: The target; default the trial's ``config`` user attribute's.
        planned_epochs: The planned epochs; default the trial's ``config``'s ``epochs``.
        samples: Draws behind each forecast.
        calibrated: Read ``risk`` as a chance of the outcomes, through the forecast's calibration (a share of
            ``risk x TAIL_SCALE`` of the draws, :func:`powertrain.forecast.calibrated_tail`); False: of the draws.
        prior: A recorded full grid of the same search space (study folder or CSV trace): a setup whose
            chance of being cheaper than the prior's best setup is below ``risk`` is stopped before it trains
            (:meth:`prune_before_start`, :mod:`powertrain.study.forecast_prior`).
        prior_sd: The between-seed spread of a setup's log energy-to-target (default
            :data:`~powertrain.study.forecast_prior.PRIOR_SD`).
    """

    def __init__(
        self,
        risk: float = 0.1,
        *,
        margin: float = 1.0,
        against: Literal["known", "forecast"] = "known",
        min_epochs: int = 1,
        target_accuracy: float | None = None,
        planned_epochs: int | None = None,
        samples: int = 1000,
        calibrated: bool = True,
        prior: str | None = None,
        prior_sd: float | None = None,
    ) -> None:
        super().__init__(margin=margin)
        if not (0.0 < risk < 0.5):
            raise ValueError(f"risk must be a probability between 0 and 0.5, not {risk!r}")
        if against not in ("known", "forecast"):
            raise ValueError(f"against must be 'known' or 'forecast', not {against!r}")
        if min_epochs < 1:
            raise ValueError(f"min_epochs must be at least 1, not {min_epochs!r}")
        self.risk = risk
        self.against = against
        self.min_epochs = min_epochs
        self.target_accuracy = target_accuracy
        self.planned_epochs = planned_epochs
        self.samples = samples
        self.calibrated = bool(calibrated)
        self.prior = None if prior in (None, "") else str(prior)
        self.prior_sd = PRIOR_SD if prior_sd is None else float(prior_sd)
        if not (math.isfinite(self.prior_sd) and self.prior_sd > 0):
            raise ValueError(f"prior_sd must be a positive number, not {prior_sd!r}")
        if self.prior is not None and target_accuracy is not None:
            load_prior(self.prior, target_accuracy)  # a prior that cannot be read is a one-line error now
        self.decisions: dict[int, dict[str, Any]] = {}

    def forecast_of(self, trial: FrozenTrial) -> Any:
        """The trial's forecast from its stored curve (cached), or None without a curve, target or plan."""
        from powertrain.forecast import forecast_curve

        config = trial.user_attrs.get("config") or {}
        target = self.target_accuracy if self.target_accuracy is not None else config.get("target_accuracy")
        planned = self.planned_epochs if self.planned_epochs is not None else config.get("epochs")
        if target is None or planned is None:
            return None
        curve = trial.user_attrs.get("curve") or []
        stop = bool(config.get("stop_at_target", True))  # as the engine and the run forecast it: one cached draw
        return forecast_curve(curve, target_accuracy=float(target), planned_epochs=int(planned), stop_at_target=stop,
                              samples=self.samples)  # fmt: skip

    def prune_before_start(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True when the prior says ``trial``'s setup will not be the cheapest (chance below ``risk``): skip it.

        Asked by the sweep engine (and a replay) before a setup's first epoch; without a prior, or for a setup the
        prior does not know, never. The decision goes to :attr:`decisions` (rule ``prior``).
        """
        if self.prior is None or trial.user_attrs.get("curve"):
            return False
        config = trial.user_attrs.get("config") or {}
        target = self.target_accuracy if self.target_accuracy is not None else config.get("target_accuracy")
        if target is None:
            return False
        prior = load_prior(self.prior, float(target))
        params = dict(getattr(trial, "params", None) or {})
        labels = [setup_label(params)] if params else []
        labels.append(str(trial.user_attrs.get("run_name", trial.number)))  # a trial list's names, a trace's labels
        label = next((x for x in labels if x in prior.log_energy_j), labels[0])
        chance = prior.chance_cheapest(label, self.prior_sd)
        if chance is None or chance >= self.risk:
            return False
        self.decisions[trial.number] = {
            "rule": "prior: not the cheapest in an earlier grid", "prior": prior.source, "prior_best": prior.best,
            "probability": chance, "risk": self.risk,
        }  # fmt: skip
        return True

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True when the energy rule or a forecast rule stops ``trial``; the reason goes to :attr:`decisions`."""
        if super().prune(study, trial):
            self.decisions[trial.number] = {"rule": "energy", "spent_j": trial.user_attrs.get("energy_j")}
            return True
        curve = trial.user_attrs.get("curve") or []
        if "energy_to_target_j" in trial.user_attrs or len(curve) < self.min_epochs:
            return False
        mine = self.forecast_of(trial)
        if mine is None or mine.reached:
            return False
        risk = calibrated_tail(self.risk) if self.calibrated else self.risk  # the draws' share standing for `risk`
        decision = {"rule": None, "forecast": mine.to_dict(), "risk": self.risk, "draws_below": risk}
        if mine.probability < risk:
            decision["rule"] = "not likely to reach the target"
        else:
            best = best_energy_to_target(study, exclude=trial.number)
            if best is not None:
                p = probability_below(mine.energy_samples_j, np.array([self.margin * best]))
                if p < risk:
                    decision.update(rule="forecast above the best energy-to-target", best_j=best, probability=p)
            if decision["rule"] is None and self.against == "forecast":
                for other, theirs in self._live_forecasts(study, trial):
                    p = probability_below(mine.energy_samples_j, theirs.energy_samples_j)
                    if p < risk:
                        decision.update(rule="forecast above another setup's forecast", other=other, probability=p)
                        break
        self.decisions[trial.number] = decision
        return decision["rule"] is not None

    def _live_forecasts(self, study: optuna.Study, trial: FrozenTrial) -> list[tuple[str, Any]]:
        """Forecasts of the other setups still training (the latest round of each), cheapest median first."""
        mine = trial.user_attrs.get("run_name", trial.number)
        rounds: dict[Any, list[FrozenTrial]] = {}
        for t in study.get_trials(deepcopy=False):
            name = t.user_attrs.get("run_name", t.number)
            if name != mine and t.number != trial.number:
                rounds.setdefault(name, []).append(t)
        latest: dict[Any, FrozenTrial] = {}
        for name, ts in rounds.items():
            last = max(ts, key=lambda t: t.number)
            ended = last.state == TrialState.FAIL or (
                last.state == TrialState.PRUNED and not last.user_attrs.get("paused")
            )
            if not ended and not any("energy_to_target_j" in t.user_attrs for t in ts):
                latest[name] = max(ts, key=lambda t: len(t.user_attrs.get("curve") or []))
        out = []
        for name, t in latest.items():
            f = self.forecast_of(t)
            if f is not None and not f.reached and f.probability > 0:
                out.append((str(name), f))
        return sorted(out, key=lambda item: item[1].energy_j.median)


def probability_below(mine: np.ndarray, theirs: np.ndarray) -> float:
    """P(X < Y) for independent draws X from ``mine`` and Y from ``theirs`` (``inf``: never reaches the target)."""
    if mine.size == 0 or theirs.size == 0:
        return 1.0
    ordered = np.sort(theirs)
    above = ordered.size - np.searchsorted(ordered, mine, side="right")
    return float(np.mean(above / ordered.size))
