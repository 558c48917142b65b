"""Ray Tune (the Ray 2.x ``Tuner`` API): each trial's energy reported to Tune, and the energy budget as a stopper.

In the trainable, measure the trial and report through :class:`TrialEnergy` instead of ``tune.report``::

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from powertrain.integrations.ray import EnergyBudgetStopper, TrialEnergy

    def trainable(config):
        with TrialEnergy(target_metric="accuracy", target=0.9) as energy:
            for epoch in range(1, 11):
                accuracy = train_one_epoch(config)
                energy.report({"accuracy": accuracy})        # tune.report(...) plus the energy figures

    tuner = tune.Tuner(trainable, param_space={"lr": tune.loguniform(1e-3, 1.0)},
                       tune_config=tune.TuneConfig(metric="accuracy", mode="max", scheduler=ASHAScheduler()),
                       run_config=tune.RunConfig(stop=EnergyBudgetStopper(budget_j=50_000)))
    results = tuner.fit()      # results.get_dataframe()["energy_j"]: each trial's joules

Every report adds ``energy_j`` (the trial's own energy so far), ``machine_energy_j`` (the machine's, beside it),
``epoch``, ``epoch_energy_j``, ``epoch_power_w``, ``co2e_kg`` (operational, for the trial so far), ``energy_estimated``
and, once the target is reached, ``energy_to_target_j`` to the trial's result, so they are in ``ResultGrid``, Tune's
loggers and any scheduler: ASHA can use ``time_attr="energy_j"`` to give every trial the same joules instead of the
same iterations. The trial's summary
(energy per device, sources, CO2e, the hardware) is written to ``energy_summary.json`` in the trial's folder after
every report with status ``reported``, and with status ``completed`` (or ``failed``) when the trainable returns. A
trial that a scheduler or stopper ends is stopped inside its last report: its file says ``stopped`` (or, when Tune
ends the worker before the trainable sees it, keeps ``reported``) and the energy up to that report, which is also its
last result's ``energy_j``.

Each trial is measured by its own meter in its own worker process, attributed to that process's tree by default
(``energy_attribution: process``): two trials at once each report their own share of the host's energy, so their
``energy_j`` add up to what the machine drew for them, not twice the machine. Each report also carries
``machine_energy_j``, the whole machine's energy over the same time, beside it (never the trial's);
``attribution="machine"`` gives every trial the whole machine's figure, as before attribution.
:class:`EnergyBudgetStopper` stops a trial that spent its budget, or that spent more than the best energy-to-target of
any trial so far without reaching the target (the sweeps' energy-aware pruning), and can stop the whole experiment
at a total budget. Needs the ``ray`` extra: ``pip install 'powertrain[ray]'``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from powertrain._files import json_safe, write_atomic
from powertrain.integrations._carbon import Carbon
from powertrain.integrations._optional import require
from powertrain.integrations.tracker import EnergyTracker
from powertrain.meters.base import Sensor

require("ray.tune", "ray")

from ray import tune  # noqa: E402
from ray.tune.stopper import Stopper  # noqa: E402

__all__ = ["EnergyBudgetStopper", "TrialEnergy", "trial_figures"]

SUMMARY_NAME = "energy_summary.json"


def trial_figures(figures: Mapping[str, Any], summary: Mapping[str, Any], attribution: str | None = None
                  ) -> dict[str, Any]:  # fmt: skip
    """The energy entries of a Tune result from an EnergyTracker epoch's ``figures`` and the run's ``summary``."""
    out: dict[str, Any] = {
        "energy_j": float(figures["energy_j"]),
        "epoch": int(figures["epoch"]),
        "epoch_energy_j": float(figures["epoch_energy_j"]),
        "epoch_power_w": float(figures["epoch_power_w"]),
        "energy_duration_s": float(figures["duration_s"]),
        "energy_estimated": bool(summary.get("estimated", False)),
        "energy_sources": "+".join(sorted(set(dict(summary.get("sources", {})).values()))) or "none",
    }
    recorded = summary.get("attribution")
    scope = attribution or (recorded.get("scope") if isinstance(recorded, Mapping) else recorded)
    if scope:
        out["energy_attribution"] = str(scope)
    if summary.get("machine_total_j") is not None:
        out["machine_energy_j"] = float(summary["machine_total_j"])
    carbon = summary.get("carbon") or {}
    if "co2e_kg" in carbon:
        out["co2e_kg"] = float(carbon["co2e_kg"])
    if figures.get("energy_to_target_j") is not None:
        out["energy_to_target_j"] = float(figures["energy_to_target_j"])
    return out


class TrialEnergy:
    """Measure one Tune trial; :meth:`report` sends its metrics to Tune with the trial's energy so far.

    Args:
        target_metric: The reported metric that defines the target (e.g. ``"accuracy"``); None: no target.
        target: The value it must reach (``mode="max"``: at least; ``"min"``: at most).
        mode: ``"max"`` or ``"min"``.
        carbon: CO2e settings, as :class:`~powertrain.integrations.EnergyTracker` takes them.
        sensors: Sensors to read (default: discovered in the trial's process).
        gpu_indices: CUDA GPUs the trial uses (default: every visible one, as Ray sets ``CUDA_VISIBLE_DEVICES``).
        sample_period_s: The meter's sampling period.
        folder: Where ``energy_summary.json`` goes (default: the trial's folder, from ``tune.get_context()``).
        attribution: Whose energy, where the meter offers attribution (``"process"``: the trial's process tree;
            ``"machine"``: everything); default: the meter's default.
    """

    def __init__(
        self,
        *,
        target_metric: str | None = None,
        target: float | None = None,
        mode: Literal["max", "min"] = "max",
        carbon: Carbon = True,
        sensors: Sequence[Sensor] | None = None,
        gpu_indices: Sequence[int] | None = None,
        sample_period_s: float | None = 0.1,
        folder: str | Path | None = None,
        attribution: str | None = None,
    ) -> None:
        scope: dict[str, Any] = {"attribution": attribution} if attribution is not None else {}
        self.tracker = EnergyTracker(sensors=sensors, gpu_indices=gpu_indices, target_metric=target_metric,
                                     target=target, mode=mode, carbon=carbon, sample_period_s=sample_period_s,
                                     framework="ray-tune", **scope)  # fmt: skip
        self._folder = Path(folder) if folder is not None else None
        self.summary: dict[str, Any] | None = None

    @property
    def path(self) -> Path:
        """The trial's ``energy_summary.json``."""
        if self._folder is None:
            self._folder = Path(tune.get_context().get_trial_dir())
        return self._folder / SUMMARY_NAME

    def start(self) -> TrialEnergy:
        """Start the meter and the first epoch."""
        self.tracker.start()
        self.tracker.begin_epoch(1)
        return self

    def __enter__(self) -> TrialEnergy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if not self.tracker.started:
            return
        if exc_type is None:
            status = "completed"
        elif issubclass(exc_type, SystemExit):  # Tune stops a trial with sys.exit(0) inside tune.report
            status = "stopped"
        else:
            status = "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        self.summary = self.tracker.finish(path=self.path, status=status)

    def report(self, metrics: Mapping[str, Any], *, checkpoint: Any = None) -> dict[str, Any]:
        """End the epoch, add the energy figures to ``metrics`` and ``tune.report`` them.

        Returns:
            What was reported.
        """
        figures = self.tracker.end_epoch(metrics)
        summary = self.tracker.summary(status="reported")
        result = {**metrics, **trial_figures(figures, summary, getattr(self.tracker, "attribution_kind", None))}
        write_atomic(self.path, json.dumps(json_safe(summary), indent=2) + "\n", durable=False)
        self.tracker.begin_epoch()
        tune.report(result, checkpoint=checkpoint)
        return result


class EnergyBudgetStopper(Stopper):
    """Stop trials by the joules they spend (reads the ``energy_j`` and ``energy_to_target_j`` of their results).

    Args:
        budget_j: Stop a trial once it has spent this many joules (None: no per-trial budget).
        prune: Stop a trial that has spent more than ``margin`` x the best energy-to-target of any trial so far
            without reaching the target itself (the sweeps' :class:`~powertrain.study.EnergyAwarePruner` rule).
        margin: The pruning rule's slack (1.0: the paper's rule).
        total_budget_j: Stop the whole experiment once all trials together spent this many joules.

    Raises:
        ValueError: A budget or margin that is not a positive number.
    """

    def __init__(self, budget_j: float | None = None, *, prune: bool = True, margin: float = 1.0,
                 total_budget_j: float | None = None) -> None:  # fmt: skip
        for name, value in (("budget_j", budget_j), ("total_budget_j", total_budget_j), ("margin", margin)):
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        self.budget_j, self.prune, self.margin, self.total_budget_j = budget_j, prune, margin, total_budget_j
        self.spent_j: dict[str, float] = {}
        self.best_to_target_j: float | None = None
        self.stopped: dict[str, str] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        """True when ``trial_id`` should stop after this result (the reason is kept in :attr:`stopped`)."""
        spent = result.get("energy_j")
        if spent is None:
            return False
        spent = float(spent)
        self.spent_j[trial_id] = max(self.spent_j.get(trial_id, 0.0), spent)
        reached = result.get("energy_to_target_j")
        if reached is not None:
            best = self.best_to_target_j
            self.best_to_target_j = float(reached) if best is None else min(best, float(reached))
        reason = None
        if self.budget_j is not None and spent >= self.budget_j:
            reason = f"spent {spent:.1f} J of a {self.budget_j:.1f} J budget"
        elif self.prune and reached is None and self.best_to_target_j is not None:
            if spent > self.margin * self.best_to_target_j:
                reason = f"spent {spent:.1f} J without reaching the target; the best reached it with " \
                         f"{self.best_to_target_j:.1f} J"  # fmt: skip
        if reason is not None:
            self.stopped[trial_id] = reason
        return reason is not None

    def stop_all(self) -> bool:
        """True once every trial together spent ``total_budget_j``."""
        return self.total_budget_j is not None and sum(self.spent_j.values()) >= self.total_budget_j
