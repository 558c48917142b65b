"""Optuna in your own code: each trial's energy as user attributes, and the energy-aware pruners.

Wrap the objective; report each epoch so that the pruners can stop trials by the energy they spend::

    import optuna
    from powertrain.integrations.optuna import EnergyAwarePruner, measure_energy, trial_energy

    @measure_energy(target_accuracy=0.9)
    def objective(trial):
        model, optimizer = build(trial.suggest_float("lr", 1e-3, 1.0, log=True))
        for epoch in range(1, 21):
            train_one_epoch(model, optimizer)
            accuracy = evaluate(model)
            trial_energy().report(epoch, accuracy=accuracy)  # energy so far -> user attrs, trial.report
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(direction="maximize", pruner=EnergyAwarePruner())
    study.optimize(objective, n_trials=20)
    [t.user_attrs["energy_j"] for t in study.trials]      # every trial: complete, pruned or failed

The pruners (:class:`EnergyAwarePruner`, :class:`EnergySuccessiveHalvingPruner`) and :func:`report_energy` are
:mod:`powertrain.study`'s, re-exported here: the same classes ``powertrain sweep`` uses.

Each trial is measured by its own :class:`~powertrain.integrations.EnergyTracker` over the whole objective call,
attributed to this process (``attribution``). With ``n_jobs > 1`` trials run as threads of one process and share
its torch thread pool: their CPU time cannot be told apart, so each trial's figure is the process's energy while it
ran, including what the others drew. Such trials are labelled (``energy_attribution`` is ``"process, shared by N
concurrent trials (threads)"``, ``energy_concurrent_trials`` is N) and a warning says so: run one trial per process
(``powertrain sweep`` workers) to compare trials.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import optuna

from powertrain.errors import ConfigError
from powertrain.integrations._carbon import Carbon
from powertrain.integrations.tracker import EnergyTracker
from powertrain.meters.attribution import Attribution
from powertrain.meters.base import Clock, Sensor
from powertrain.study import EnergyAwarePruner, EnergySuccessiveHalvingPruner, report_energy

__all__ = [
    "EnergyAwarePruner",
    "EnergySuccessiveHalvingPruner",
    "TrialEnergy",
    "measure_energy",
    "report_energy",
    "trial_energy",
]

T = TypeVar("T")
_current: contextvars.ContextVar[TrialEnergy | None] = contextvars.ContextVar("powertrain_trial_energy", default=None)


class TrialEnergy:
    """The energy of the running trial (from :func:`trial_energy` inside a :func:`measure_energy` objective).

    Attributes:
        trial: The Optuna trial.
        tracker: Its :class:`~powertrain.integrations.EnergyTracker`.
        target_accuracy: The accuracy whose first crossing defines energy-to-target (None: no target).
    """

    def __init__(self, trial: Any, tracker: EnergyTracker, target_accuracy: float | None) -> None:
        self.trial, self.tracker, self.target_accuracy = trial, tracker, target_accuracy

    @property
    def energy_j(self) -> float:
        """Joules the trial has spent so far (reads the sensors once)."""
        self.tracker.cut("train")
        return self.tracker.energy_j

    def report(self, epoch: int, *, accuracy: float) -> float:
        """Record a finished epoch: energy so far and ``accuracy`` for the pruners (see :func:`report_energy`).

        Also sets ``first_epoch_energy_j`` at the first report, which :class:`EnergySuccessiveHalvingPruner` uses
        for its first rung.

        Returns:
            The trial's energy so far, in joules.
        """
        figures = self.tracker.end_epoch({"accuracy": accuracy})
        energy_j = float(figures["energy_j"])
        if "first_epoch_energy_j" not in self.trial.user_attrs:
            self.trial.set_user_attr("first_epoch_energy_j", energy_j)
        report_energy(self.trial, epoch, accuracy=accuracy, energy_j=energy_j, target_accuracy=self.target_accuracy)
        return energy_j


class _Concurrency:
    """How many measured objectives run at once in this process, and the most each one saw (n_jobs threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, int] = {}  # call id -> most concurrent calls seen while it ran
        self._next = 0

    def enter(self) -> int:
        with self._lock:
            self._next += 1
            self._active[self._next] = 1
            for call in self._active:
                self._active[call] = max(self._active[call], len(self._active))
            return self._next

    def leave(self, call: int) -> int:
        with self._lock:
            return self._active.pop(call, 1)


_CONCURRENCY = _Concurrency()


def trial_energy() -> TrialEnergy:
    """The running trial's :class:`TrialEnergy` (call it inside an objective wrapped by :func:`measure_energy`).

    Raises:
        ConfigError: Called outside such an objective.
    """
    handle = _current.get()
    if handle is None:
        raise ConfigError("trial_energy() is only available inside an objective wrapped with @measure_energy")
    return handle


def measure_energy(
    objective: Callable[[Any], T] | None = None,
    *,
    target_accuracy: float | None = None,
    sensors: Sequence[Sensor] | None = None,
    carbon: Carbon = True,
    sample_period_s: float | None = 0.1,
    clock: Clock = time.monotonic,
    attribution: Attribution | str | None = None,
) -> Any:
    """Measure every call of an Optuna objective and store its energy on the trial.

    Use as ``@measure_energy`` or ``@measure_energy(target_accuracy=0.9)``, or ``study.optimize(measure_energy(f))``.
    When the objective ends (returned, pruned or failed) the trial gets the user attributes ``energy_j`` (the
    whole call), ``energy_duration_s``, ``energy_power_w``, ``energy_sources``, ``energy_estimated``,
    ``energy_by_device_j``, ``energy_status``, and the carbon figures (``co2e_kg``: operational, and with
    powertrain.carbon's tables ``embodied_kg_co2e``); :meth:`TrialEnergy.report` adds ``energy_to_target_j`` and
    what the pruners read.

    Args:
        objective: ``objective(trial)``.
        target_accuracy: Target of energy-to-target (used by :meth:`TrialEnergy.report`).
        sensors: Sensors to read instead of discovering them per trial (yours to close).
        carbon: CO2e: True (powertrain.carbon's defaults), a ``CarbonSettings``, a function
            ``(energy_j, duration_s) -> {"co2e_kg": ...}``, or False (none).
        sample_period_s: The meter's sampling period (None: manual, for tests).
        clock: The meter's clock (tests pass a fake one).
        attribution: Whose energy (default ``"process"``: this process's tree; see
            :class:`~powertrain.integrations.EnergyTracker`).

    Returns:
        The wrapped objective (or a decorator when called without ``objective``).
    """
    if objective is None:
        return functools.partial(
            measure_energy,
            target_accuracy=target_accuracy,
            sensors=sensors,
            carbon=carbon,
            sample_period_s=sample_period_s,
            clock=clock,
            attribution=attribution,
        )

    @functools.wraps(objective)
    def wrapper(trial: Any) -> T:
        tracker = EnergyTracker(
            sensors=sensors,
            target_metric="accuracy" if target_accuracy is not None else None,
            target=target_accuracy,
            carbon=carbon,
            sample_period_s=sample_period_s,
            clock=clock,
            framework="optuna",
            attribution=attribution,
        ).start()
        token = _current.set(TrialEnergy(trial, tracker, target_accuracy))
        call = _CONCURRENCY.enter()
        status = "failed"
        try:
            value = objective(trial)
            status = "completed"
            return value
        except optuna.TrialPruned:
            status = "pruned"
            raise
        finally:
            _current.reset(token)
            summary = tracker.finish(status="failed" if status == "failed" else "completed")
            _store(trial, summary, status, concurrent=_CONCURRENCY.leave(call))

    return wrapper


def _store(trial: Any, summary: dict[str, Any], status: str, *, concurrent: int = 1) -> None:
    scope = str(summary.get("attribution", {}).get("scope", "machine"))
    if concurrent > 1:
        scope = f"{scope}, shared by {concurrent} concurrent trials (threads)"
        warnings.warn(
            f"trial {trial.number} ran beside {concurrent - 1} other trial(s) in threads of this process (Optuna "
            "n_jobs): their CPU time cannot be split, so its energy includes theirs; run one trial per process to "
            "compare trials",
            stacklevel=3,
        )
    trial.set_user_attr("energy_attribution", scope)
    trial.set_user_attr("energy_concurrent_trials", concurrent)
    trial.set_user_attr("machine_energy_j", summary.get("machine_total_j", summary["energy_j"]))
    trial.set_user_attr("energy_j", summary["energy_j"])
    trial.set_user_attr("energy_duration_s", summary["duration_s"])
    trial.set_user_attr("energy_power_w", summary["avg_power_w"])
    trial.set_user_attr("energy_sources", sorted(set(summary["sources"].values())))
    trial.set_user_attr("energy_estimated", summary["estimated"])
    trial.set_user_attr("energy_by_device_j", summary["energy_by_device_j"])
    trial.set_user_attr("energy_status", status)
    for key, value in (summary.get("carbon") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # the figures, not their provenance
            trial.set_user_attr(key, value)
