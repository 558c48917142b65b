"""PyTorch Lightning: energy through the trainer's loggers, and EAT as a callback or a mixin.

Three lines::

    from powertrain.integrations.lightning import EnergyCallback

    energy = EnergyCallback(target_metric="val_acc", target=0.9)
    trainer = L.Trainer(callbacks=[energy], max_epochs=10)
    trainer.fit(model, data)                 # logs energy/*; writes <log_dir>/energy_summary.json

Logged per epoch (``pl_module.log``, so every logger, the progress bar, ``ModelCheckpoint`` and
``EarlyStopping`` see them): ``energy/epoch_j``, ``energy/epoch_power_w``, ``energy/total_j``, once reached
``energy/to_target_j``, and the operational CO2e of the epoch and of the run so far (``energy/epoch_co2e_kg``,
``energy/total_co2e_kg``; every figure a carbon hook returns gets the same two names). With
``log_steps=True`` each training step's joules and watts go to the loggers as ``energy/step_j`` and
``energy/step_power_w`` (flushed every ``log_every_n_steps``, at the optimizer steps they belong to).

EAT: ``EATCallback(lam=2.0)`` adds ``lambda * E_hat`` (:class:`powertrain.sparsity.EATPenalty`) to the loss that
``training_step`` returns; ``EATMixin`` does the same from inside the module (``return self.eat_loss(loss)``).

Needs the ``lightning`` extra (``pip install 'powertrain[lightning]'``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from powertrain.errors import ConfigError
from powertrain.integrations._callback_options import TrackerOptions
from powertrain.integrations._carbon import Carbon
from powertrain.integrations._optional import require
from powertrain.meters.attribution import Attribution
from powertrain.meters.base import Clock, Sensor
from powertrain.sparsity import EATPenalty

_pl = require("lightning.pytorch", "lightning")

__all__ = ["EATCallback", "EATMixin", "EnergyCallback"]


class EnergyCallback(TrackerOptions, _pl.Callback):
    """Measure a Lightning run's energy and log it through the trainer's loggers.

    Every rank measures only the devices it owns (the GPU of its ``root_device`` and, on one rank per node, the
    CPU); figures are summed across ranks before they are logged, and rank 0 writes the summary.

    Args:
        target_metric: A logged metric (``trainer.callback_metrics``), e.g. ``"val_acc"``; with ``target``,
            energy-to-target is the energy up to the end of the validation that first reached it.
        target: The value to reach.
        mode: ``"max"`` (accuracy: reached at >= target) or ``"min"`` (loss: at <= target).
        log_steps: Also log every training step's energy and power.
        carbon: CO2e: True (default: powertrain.carbon's world-average grid intensity and PUE, labelled so), a
            ``CarbonSettings`` (country, cloud region, PUE), a function ``(energy_j, duration_s) -> {"co2e_kg": ...}``,
            or None/False (none). Logged per epoch; the
            summary holds the footprint (operational and embodied).
        summary_path: Where rank 0 writes the summary JSON (default ``<trainer.log_dir>/energy_summary.json``).
        prefix: Name prefix of the logged figures.
        sensors: Sensors to read instead of discovering them (tests pass scripted ones; yours to close).
        sample_period_s: The meter's sampling period in seconds.
        clock: The meter's clock.
        log: Experiment trackers that also receive the figures (``mlflow``, ``tensorboard``, ``wandb``; optionally
            ``NAME:OPTION``), logged by rank 0 each epoch with the summary file at the end.
        attribution: Whose energy (default ``"process"``: this rank's process tree; see
            :class:`~powertrain.integrations.EnergyTracker`).

    Attributes:
        tracker: The run's :class:`~powertrain.integrations.EnergyTracker` (after ``fit`` starts).
        summary: The summary of the last ``fit`` (None before it ends).
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
        prefix: str = "energy/",
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
        self.prefix = prefix
        self._restored: dict[str, Any] | None = None

    # -- start and end ---------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Claim this rank's sensors and start measuring (collective)."""
        device = trainer.strategy.root_device
        self.tracker = self._new_tracker(
            framework="lightning",
            gpus=[device.index or 0] if device.type == "cuda" else [],
            target_metric=self.target_metric,
            planned_epochs=int(trainer.max_epochs) if (trainer.max_epochs or 0) > 0 else None,  # for forecasts
            run_name=lambda: _run_name(trainer),
            run_params=lambda: dict(getattr(pl_module, "hparams", {}) or {}),
        )
        if self._restored:
            self.tracker.load_state(self._restored)
        self.tracker.start()
        self.summary = None

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Cut the last segment and write the summary on rank 0 (collective)."""
        self._finish(trainer, "completed")

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Keep what was measured: write the summary with status ``interrupted`` or ``failed`` (no collective)."""
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self._finish(trainer, status)

    def _finish(self, trainer: Any, status: str) -> None:
        if self.tracker is None or not self.tracker.started:
            return
        if self.log_steps and status == "completed":
            self._flush_steps(trainer)
        self.summary = self.tracker.finish(path=self._summary_path(trainer), status=status)

    def _summary_path(self, trainer: Any) -> Path:
        if self.summary_path is not None:
            return self.summary_path
        return Path(trainer.log_dir or trainer.default_root_dir) / "energy_summary.json"

    # -- epochs and validation -------------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the epoch (numbered from 1)."""
        if self.tracker is not None:
            self.tracker.begin_epoch(trainer.current_epoch + 1)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        """Cut: what ran since the last cut was training (or set-up, before the sanity check)."""
        if self.tracker is not None and self.tracker.started and not trainer.sanity_checking:
            self.tracker.cut("train")

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Cut the validation's energy and check the target against its metrics."""
        if self.tracker is None or not self.tracker.started:
            return
        self.tracker.cut("other" if trainer.sanity_checking else "eval")
        if not trainer.sanity_checking:
            self.tracker.observe(trainer.callback_metrics, epoch=trainer.current_epoch + 1, step=trainer.global_step)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Cut, and log the epoch's figures through ``pl_module.log`` (the same on every rank)."""
        if self.tracker is None or not self.tracker.started:
            return
        if self.log_steps:
            self._flush_steps(trainer)
        figures = self.tracker.end_epoch(trainer.callback_metrics)
        logged = {
            "epoch_j": figures["epoch_energy_j"],
            "epoch_power_w": figures["epoch_power_w"],
            "total_j": figures["energy_j"],
        }
        if "energy_to_target_j" in figures:
            logged["to_target_j"] = figures["energy_to_target_j"]
        logged.update(self.tracker.forecasts.figures())  # forecast_energy_to_target_j, forecast_probability
        carbon = self.tracker.carbon
        epoch_co2 = carbon.figures(figures["epoch_energy_j"], figures["epoch_duration_s"])
        logged.update({f"epoch_{k}": v for k, v in epoch_co2.items()})
        logged.update({f"total_{k}": v for k, v in carbon.figures(figures["energy_j"], figures["duration_s"]).items()})
        for name, value in logged.items():
            if isinstance(value, (int, float)):
                pl_module.log(self.prefix + name, float(value), on_step=False, on_epoch=True)

    # -- steps -----------------------------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        """Open the step's window (``log_steps`` only; two timestamps)."""
        if self.log_steps and self.tracker is not None and self.tracker.started:
            self.tracker.step_begin(trainer.global_step)  # batches of one optimizer step share its number

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Close the step's window; every ``log_every_n_steps`` steps, log the closed ones (collective)."""
        if not (self.log_steps and self.tracker is not None and self.tracker.started):
            return
        self.tracker.step_end()
        if self.tracker.pending_steps >= max(1, trainer.log_every_n_steps) * max(1, trainer.accumulate_grad_batches):
            self._flush_steps(trainer)

    def _flush_steps(self, trainer: Any) -> None:
        assert self.tracker is not None  # noqa: S101 - internal invariant
        by_step: dict[int, list[float]] = {}
        for step, energy_j, duration_s in self.tracker.flush_steps():
            totals = by_step.setdefault(step, [0.0, 0.0])
            totals[0] += energy_j
            totals[1] += duration_s
        for step, (energy_j, duration_s) in by_step.items():
            metrics = {
                self.prefix + "step_j": energy_j,
                self.prefix + "step_power_w": energy_j / duration_s if duration_s > 0 else 0.0,
            }
            for logger in trainer.loggers:  # loggers write on rank 0 only
                logger.log_metrics(metrics, step=step)

    # -- checkpoints: a resumed fit continues the totals -----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The totals up to the last cut, saved in Lightning checkpoints."""
        return self.tracker.state() if self.tracker is not None else dict(self._restored or {})

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's totals (``trainer.fit(..., ckpt_path=...)``)."""
        self._restored = dict(state_dict)


class _EAT:
    """Shared by the callback and the mixin: one penalty, its schedule, and the loss arithmetic."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.penalty: EATPenalty | None = None

    def start(self, module: Any) -> EATPenalty:
        if self.penalty is None or self.penalty.model is not module:
            self.penalty = EATPenalty(module, **self.options)
        self.penalty.attach()
        return self.penalty

    def stop(self) -> None:
        if self.penalty is not None:
            self.penalty.detach()
            self.penalty.reset()

    def add(self, output: Any, module: Any) -> Any:
        if self.penalty is None or not self.penalty.attached:
            return output
        penalty = self.penalty.value()
        module.log("eat/density", self.penalty.last_density, on_step=True, on_epoch=True)
        if isinstance(output, Mapping) and "loss" in output:
            return {**output, "loss": output["loss"] + penalty}
        if output is None:
            return None  # the step was skipped on purpose
        return output + penalty


class EATCallback(_pl.Callback):
    """Add EAT's penalty ``lambda * E_hat`` to the loss ``training_step`` returns (automatic optimisation).

    The penalised activations' forward hooks are attached while training runs and do nothing during validation;
    lambda's warm-up and sigma's schedule follow ``trainer.current_epoch``. ``eat/density`` (``E_hat``) is logged.

    Args:
        **options: :class:`~powertrain.sparsity.EATPenalty` options (``lam``, ``sigma``, ``layers``,
            ``lam_warmup_epochs``, ...).

    Raises:
        ConfigError: Bad penalty options (at ``fit``), or a module with manual optimisation (use ``EATMixin``
            and add ``self.eat_loss(...)`` before ``manual_backward``).
    """

    def __init__(self, **options: Any) -> None:
        self._eat = _EAT(options)
        self._original: Any = None

    @property
    def penalty(self) -> EATPenalty | None:
        """The penalty (after ``fit`` starts)."""
        return self._eat.penalty

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """Attach the penalty and wrap ``training_step`` to add it."""
        if not pl_module.automatic_optimization:
            raise ConfigError(
                "EATCallback needs automatic optimisation; with manual optimisation use EATMixin and "
                "self.eat_loss(loss) before self.manual_backward"
            )
        self._eat.start(pl_module)
        original = self._original = pl_module.training_step
        eat = self._eat

        def training_step(*args: Any, **kwargs: Any) -> Any:
            return eat.add(original(*args, **kwargs), pl_module)

        pl_module.training_step = training_step

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Set lambda's warm-up and sigma's schedule for this epoch."""
        if self._eat.penalty is not None:
            self._eat.penalty.set_epoch(trainer.current_epoch)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        """Detach the penalty and restore ``training_step``."""
        self._restore(pl_module)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Detach and restore on failure too."""
        self._restore(pl_module)

    def _restore(self, pl_module: Any) -> None:
        self._eat.stop()
        if self._original is not None:
            if "training_step" in vars(pl_module):
                del pl_module.training_step
            self._original = None


class EATMixin:
    """EAT from inside a ``LightningModule``: ``class Net(EATMixin, L.LightningModule)``.

    Call ``self.configure_eat(lam=2.0, ...)`` in ``__init__`` and return ``self.eat_loss(loss)`` from
    ``training_step``. The hooks are attached when training starts and removed when it ends; if you override
    ``on_train_start``, ``on_train_epoch_start`` or ``on_train_end``, call ``super()``.
    """

    def configure_eat(self, **options: Any) -> None:
        """Set :class:`~powertrain.sparsity.EATPenalty` options (``lam``, ``sigma``, ``layers``, ...)."""
        self._powertrain_eat = _EAT(options)

    @property
    def eat_penalty(self) -> EATPenalty | None:
        """The penalty (after training starts), e.g. for ``last_density``."""
        eat = getattr(self, "_powertrain_eat", None)
        return eat.penalty if eat is not None else None

    def eat_loss(self, loss: Any) -> Any:
        """``loss + lambda * E_hat`` of this step's forward pass (``loss`` unchanged outside training)."""
        eat = getattr(self, "_powertrain_eat", None)
        if eat is None:
            raise ConfigError("call self.configure_eat(...) in __init__ before using self.eat_loss")
        return eat.add(loss, self)

    def on_train_start(self) -> None:
        """Attach the penalty's hooks."""
        eat = getattr(self, "_powertrain_eat", None)
        if eat is None:
            raise ConfigError("EATMixin: call self.configure_eat(...) in __init__")
        eat.start(self)
        super().on_train_start()  # type: ignore[misc]

    def on_train_epoch_start(self) -> None:
        """Set lambda's warm-up and sigma's schedule for this epoch."""
        if self.eat_penalty is not None:
            self.eat_penalty.set_epoch(self.current_epoch)  # type: ignore[attr-defined]
        super().on_train_epoch_start()  # type: ignore[misc]

    def on_train_end(self) -> None:
        """Remove the penalty's hooks."""
        eat = getattr(self, "_powertrain_eat", None)
        if eat is not None:
            eat.stop()
        super().on_train_end()  # type: ignore[misc]


def _run_name(trainer: Any) -> str:
    """``<logger name>-<version>`` of the trainer's log folder (``lightning_logs-version_3``)."""
    folder = Path(trainer.log_dir or trainer.default_root_dir)
    return f"{folder.parent.name}-{folder.name}"
