"""Hugging Face transformers: a ``TrainerCallback`` that adds energy to the trainer's logs and summary.

Three lines::

    from powertrain.integrations.huggingface import EnergyCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      callbacks=[EnergyCallback(target_metric="eval_accuracy", target=0.9)])
    result = trainer.train()      # result.metrics["energy_j"]; <output_dir>/energy_summary.json

What is added, and where:

- every training log line (``logging_steps``): ``energy_j`` (the run so far), ``power_w`` (average since the
  previous line), with ``log_steps=True``
  ``step_energy_j`` (mean joules per optimizer step since the previous line), and the operational CO2e of the
  run so far (``co2e_kg``);
- every evaluation's metrics (``trainer.evaluate()``'s dict too): ``eval_energy_j`` (that evaluation) and, once
  the target is reached, ``energy_to_target_j``;
- the first log line (of any kind) after an epoch ends: ``epoch_energy_j``, ``epoch_duration_s`` and
  ``epoch_power_w`` of that epoch's training (evaluations are counted in ``energy_j``, not in an epoch);
- the final training metrics (``trainer.train().metrics``): ``energy_j``, ``power_w``, ``energy_to_target_j``;
- ``<output_dir>/energy_summary.json``, written by the world's process zero.

The figures go into ``trainer.state.log_history`` and reach every callback that runs after this one. Reporting
integrations (``report_to``) run before user callbacks; to send the figures to them as well, use
``EnergyCallback(...).attach(trainer)``, which puts the callback first.

Needs the ``huggingface`` extra (``pip install 'powertrain[huggingface]'``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from powertrain.integrations._callback_options import TrackerOptions
from powertrain.integrations._carbon import Carbon
from powertrain.integrations._optional import require
from powertrain.meters.attribution import Attribution
from powertrain.meters.base import Clock, Sensor

_transformers = require("transformers", "huggingface")

__all__ = ["EnergyCallback"]


class EnergyCallback(TrackerOptions, _transformers.TrainerCallback):
    """Measure a ``transformers.Trainer`` run's energy and add it to the logs, the metrics and a summary file.

    Under ``torchrun``/``accelerate`` every process measures only the devices it owns (its GPU and, on one
    process per node, the CPU) and every figure is summed over the processes.

    Args:
        target_metric: An evaluation metric, e.g. ``"eval_accuracy"`` (``"accuracy"`` works too); with
            ``target``, energy-to-target is the energy up to the end of the evaluation that first reached it.
        target: The value to reach.
        mode: ``"max"`` (reached at >= target) or ``"min"`` (a loss: at <= target).
        log_steps: Measure each optimizer step and log ``step_energy_j`` (mean per step between log lines).
        carbon: CO2e: True (default: powertrain.carbon's world-average grid intensity and PUE, labelled so), a
            ``CarbonSettings`` (country, cloud region, PUE), a function ``(energy_j, duration_s) -> {"co2e_kg": ...}``,
            or None/False (none). Applied to the run so far
            and to each epoch; the summary holds the footprint (operational and embodied).
        summary_path: Where to write the summary (default ``<args.output_dir>/energy_summary.json``).
        sensors: Sensors to read instead of discovering them (tests pass scripted ones; yours to close).
        sample_period_s: The meter's sampling period in seconds.
        clock: The meter's clock.
        log: Experiment trackers that also receive the figures (``mlflow``, ``tensorboard``, ``wandb``; optionally
            ``NAME:OPTION``), logged by rank 0 each epoch with the summary file at the end.
        attribution: Whose energy (default ``"process"``: this rank's process tree; see
            :class:`~powertrain.integrations.EnergyTracker`).

    Attributes:
        tracker: The run's :class:`~powertrain.integrations.EnergyTracker` (from ``on_train_begin``).
        summary: The summary of the last ``train()`` (None before it ends).
    """

    def __init__(
        self,
        *,
        target_metric: str | None = None,
        target: float | None = None,
        mode: Literal["max", "min"] = "max",
        log_steps: bool = False,
        carbon: Carbon = True,
        summary_path: Path | str | None = None,
        sensors: Sequence[Sensor] | None = None,
        sample_period_s: float | None = 0.1,
        clock: Clock = time.monotonic,
        log: Sequence[str] = (),
        attribution: Attribution | str | None = None,
    ) -> None:
        TrackerOptions.__init__(
            self, target_metric=target_metric, target=target, mode=mode, log_steps=log_steps, carbon=carbon,
            summary_path=summary_path, sensors=sensors, sample_period_s=sample_period_s, clock=clock, log=log,
            attribution=attribution,
        )  # fmt: skip
        self._epoch_figures: dict[str, Any] = {}

    def attach(self, trainer: Any) -> EnergyCallback:
        """Put this callback first in ``trainer``'s list, so reporting integrations receive its figures too."""
        callbacks = trainer.callback_handler.callbacks
        if self in callbacks:
            callbacks.remove(self)
        callbacks.insert(0, self)
        return self

    @property
    def _live(self) -> bool:
        return self.tracker is not None and self.tracker.started

    # -- training --------------------------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Claim this process's sensors and start measuring (collective)."""
        device = args.device
        self.tracker = self._new_tracker(
            framework="huggingface",
            gpus=[device.index or 0] if getattr(device, "type", "cpu") == "cuda" else [],
            target_metric=_eval_name(self.target_metric),
            planned_epochs=math.ceil(args.num_train_epochs) if args.num_train_epochs and args.max_steps <= 0 else None,
            run_name=lambda: args.run_name or Path(args.output_dir or "trainer_output").name,
            run_params=args.to_dict,
        ).start()
        self.summary, self._epoch_figures = None, {}

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the epoch (numbered from 1)."""
        if self._live:
            self.tracker.begin_epoch()  # type: ignore[union-attr]

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Cut the epoch's training (collective); its figures go into the next log line."""
        if self._live:
            figures = self.tracker.end_epoch()  # type: ignore[union-attr]
            self._epoch_figures = {k: v for k, v in figures.items() if k.startswith("epoch_") and k != "epoch"}

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Open the optimizer step's window (``log_steps`` only)."""
        if self.log_steps and self._live:
            self.tracker.step_begin()  # type: ignore[union-attr]

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Close the optimizer step's window."""
        if self.log_steps and self._live:
            self.tracker.step_end()  # type: ignore[union-attr]

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Cut the last segment and write the summary (process zero)."""
        if not self._live:
            return
        path = self.summary_path or Path(args.output_dir) / "energy_summary.json"
        self.summary = self.tracker.finish(path=path)  # type: ignore[union-attr]

    # -- logs ------------------------------------------------------------------------------------------------
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Cut (collective) and add the energy figures to ``logs`` and the matching ``log_history`` entry."""
        if not self._live or logs is None:
            return
        tracker = self.tracker
        assert tracker is not None  # noqa: S101 - checked by _live
        history = state.log_history[-1] if state.log_history else None
        same_entry = history is not None and all(history.get(k) is v for k, v in logs.items())
        added: dict[str, Any] = {}
        if any(key.startswith("eval_") for key in logs):
            segment = tracker.cut("eval")
            tracker.observe(logs, epoch=len(tracker.epochs) or None, step=state.global_step)
            added["eval_energy_j"] = segment.energy_j
            added["energy_j"] = tracker.energy_j
            added.update(tracker.forecasts.figures())  # forecast_energy_to_target_j, forecast_probability
        elif "train_runtime" in logs:  # the final metrics of train(): returned as TrainOutput.metrics
            tracker.cut("train")
            added.update(tracker.figures())
        else:
            segment = tracker.cut("train")
            added["energy_j"] = tracker.energy_j
            added["power_w"] = segment.energy_j / segment.duration_s if segment.duration_s > 0 else 0.0
            if self.log_steps:
                steps = tracker.flush_steps()
                if steps:
                    added["step_energy_j"] = sum(e for _, e, _ in steps) / len(steps)
            added.update(tracker.carbon.figures(tracker.energy_j, tracker.elapsed_s))
        added.update(self._epoch_figures)  # the epoch that ended since the previous line
        self._epoch_figures = {}
        if tracker.reached is not None:
            added["energy_to_target_j"] = tracker.reached["energy_to_target_j"]
        logs.update(added)
        if same_entry:
            history.update(added)


def _eval_name(metric: str | None) -> str | None:
    if metric is None or metric.startswith("eval_"):
        return metric
    return f"eval_{metric}"
