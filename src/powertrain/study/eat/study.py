"""The reproducible EAT experiment: standard training against EAT settings, one table per model (like EAT's Table 1).

An EAT study is a grid sweep on the study engine (:func:`~powertrain.study.sweep`): one explicit trial per (model,
setting), standard training included, each recording the accuracy, the accelerator energy ratio and the measured
inference energy. :func:`run_eat_study` runs that sweep and builds the Table-1 report over its trials
(``results.json`` and ``results.md``, rewritten atomically after every trial). Kill and rerun: the sweep continues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from powertrain._files import dump_yaml, write_atomic
from powertrain.errors import OutputError
from powertrain.hardware import describe_hardware
from powertrain.meters import EnergyMeter, Sensor, discover_sensors
from powertrain.study.eat.config import EatStudyConfig, inference_key
from powertrain.study.eat.inference import InferenceEnergy, measure_inference_energy
from powertrain.study.eat.results import EatResultsWriter, EatStudyResult
from powertrain.study.eat.table import RunRecord
from powertrain.study.engine import SweepConfig, SweepResult, TrialRecord, grid_of_runs, sweep
from powertrain.study.engine.storage import check_storage_url
from powertrain.study.staged.stage import preflight
from powertrain.training import TrainConfig, load_run_model
from powertrain.training.device import resolve_device
from powertrain.training.progress import ProgressReporter

__all__ = ["EatStudyResult", "eat_sweep_config", "run_eat_study"]

log = logging.getLogger(__name__)

Notify = Callable[[str], None]


def run_eat_study(
    config: EatStudyConfig,
    *,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    notify: Notify | None = None,
) -> EatStudyResult:
    """Run (or continue) an EAT study: a grid sweep on the study engine, then the Table-1 report over it.

    Every (model, setting) is one explicit trial of a sweep (:func:`~powertrain.study.sweep`) named
    ``<model>/<setting>``, with its run in ``OUT/runs/<model>/<setting>/`` and its figures in ``OUT/study.db``: the
    accuracy, the accelerator energy ratio and, measured right after training on the same machine, the inference
    energy. Killing and rerunning continues the sweep (a lost run resumes from its checkpoint); a finished study is
    only reported again. The tables are rebuilt from the sweep's trials.

    Args:
        config: The study (validated again here).
        sensors: Energy sensors for the training runs and the inference measurements; default: discovered per run.
            Sensors you pass stay yours to close.
        reporter: Live display of each training run.
        notify: Called with one line per step (which run is trained, measured), for a CLI.

    Returns:
        The :class:`EatStudyResult`.

    Raises:
        ConfigError: A bad config, or a study in ``OUT`` made with other settings, epochs or inference settings.
        UnknownNameError: An unknown dataset or model.
        DataNotFoundError: The dataset is not on disk.
    """
    config.validate()
    say = notify or (lambda message: log.info("%s", message))
    sweep_config = eat_sweep_config(config).validate()
    # validate, then act: the output folder, the storage, every dataset and model, before anything is created
    if Path(config.out).exists() and not Path(config.out).is_dir():
        raise OutputError(f"--out {config.out} is a file; give a folder for the study")
    check_storage_url(sweep_config.storage_url)
    preflight([sweep_config.space.config_for(sweep_config.train, p.params) for p in sweep_config.space.grid()])
    study = EatResultsWriter(config, Path(config.out), describe_hardware())
    study.out.mkdir(parents=True, exist_ok=True)
    write_atomic(study.out / "study.yaml", dump_yaml(config.to_dict()))
    total = len(sweep_config.space.trials)
    ran: set[int] = set()

    def started(_study: Any, trial: Any) -> None:
        ran.add(trial.number)
        say(f"[{len(ran)}/{total}] {trial.user_attrs.get('run_name')}")

    def finished(result: SweepResult, number: int, state: str) -> None:
        record = next(t for t in result.trials if t.number == number)
        say(f"  {state}: {record.get('train_status')}, accuracy {_num(record.get('final_accuracy'))}, "
            f"energy ratio {_num(record.get('accel_energy_ratio'))}")  # fmt: skip
        study.records = _records(config, result, ran)
        study.carbon = result.carbon
        study.write()

    result = sweep(
        sweep_config,
        sensors=sensors,
        reporter=reporter,
        on_start=started,
        on_trial=finished,
        extra=_InferenceHook(config, sensors, say) if config.inference_energy.enabled else None,
    )
    study.records = _records(config, result, ran)
    study.carbon = result.carbon
    study.complete = len(study.records) == total
    return study.write()


def eat_sweep_config(config: EatStudyConfig) -> SweepConfig:
    """The EAT study as a sweep: one explicit trial per (model, setting), standard training included."""
    base = config.run_config(config.models[0], config.all_settings[0]).replace(out=None)
    base.out = None
    runs = [
        (f"{model}/{setting.name}", config.run_config(model, setting))
        for model in config.models
        for setting in config.all_settings
    ]
    return grid_of_runs(
        runs,
        base=base,
        always=("model", "eat_lambda", "eat_sigma"),
        objective=["energy_ratio"] if config.estimate_batch_size > 0 else ["accuracy"],
        study="eat",
        out=config.out,
        identity={
            "inference_energy": inference_key(config) if config.inference_energy.enabled else None,
            "rounds": config.inference_energy.rounds,
        },  # fmt: skip
    )


def _records(config: EatStudyConfig, result: SweepResult, ran: set[int]) -> list[RunRecord]:
    """One :class:`RunRecord` per finished (model, setting), from the sweep's latest trial of that run."""
    latest: dict[str, TrialRecord] = {}
    for trial in result.trials:
        latest[str(trial.get("run_name"))] = trial  # later attempts (retries) replace earlier ones
    records = []
    for model in config.models:
        for setting in config.all_settings:
            name = f"{model}/{setting.name}"
            trial = latest.get(name)
            if trial is None or trial.state not in ("complete", "fail") or not trial.get("train_status"):
                continue  # not run yet, running, or lost with its worker (its retry is waiting)
            attrs = trial.attrs
            records.append(
                RunRecord(
                    model=model,
                    setting=setting,
                    run_dir=str(attrs.get("run_dir")),
                    action="trained" if trial.number in ran else "reused",
                    status=str(attrs.get("train_status")),
                    epochs_completed=int(attrs.get("epochs_completed") or 0),
                    final_accuracy=attrs.get("final_accuracy"),
                    best_accuracy=attrs.get("best_accuracy"),
                    energy_ratio=attrs.get("accel_energy_ratio"),
                    ratio_batch_size=config.estimate_batch_size if attrs.get("accel_energy_ratio") else None,
                    train_energy_j=attrs.get("energy_j"),
                    train_energy_sources=list(attrs.get("energy_sources") or []),
                    version=str(trial.number),
                    inference=[InferenceEnergy.from_dict(r) for r in attrs.get("inference") or []],
                )
            )
    return records


class _InferenceHook:
    """After each run: measure the trained model's real inference energy (``rounds`` windows), stored on the trial."""

    def __init__(self, config: EatStudyConfig, sensors: Sequence[Sensor] | None, say: Notify) -> None:
        self.config, self.sensors, self.say = config, sensors, say

    def __call__(self, trial: Any, result: Any) -> None:
        config, inference = self.config, self.config.inference_energy
        if result.status == "diverged" or not (Path(result.run_dir) / "model.pt").exists():
            return
        device = resolve_device(config.train.device)
        net, cfg, bundle = load_run_model(result.run_dir, device=str(device), data_dir=config.train.data_dir)
        batches = _test_batches(bundle, cfg, inference.batch_size, device)
        owned = self.sensors is None
        sensors = list(self.sensors) if self.sensors is not None else discover_sensors(gpu_indices=cfg.gpu_indices)
        rounds = []
        try:
            meter = EnergyMeter(sensors, sample_period_s=cfg.meter_interval_s, sync_cuda=device.type == "cuda",
                                attribution=cfg.attribution)  # the run's own scope, as its training was measured
            with meter:
                for index in range(inference.rounds):
                    measured = measure_inference_energy(
                        net, batches, meter=meter, device=device, amp=cfg.amp, min_seconds=inference.min_seconds,
                        repeats=inference.repeats, warmup_passes=inference.warmup_passes,
                        name=f"inference:{trial.number}:{index}",
                    )  # fmt: skip
                    rounds.append(measured.to_dict())
                    self.say(
                        f"  inference: {measured.j_per_1k_images:.3f} J per 1000 images, {measured.avg_power_w:.1f} W"
                        f" ({measured.source}, {measured.component})"
                    )
        finally:
            if owned:
                for sensor in sensors:
                    sensor.close()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        trial.set_user_attr("inference", rounds)


def _test_batches(bundle: Any, cfg: TrainConfig, batch_size: int, device: torch.device) -> list[torch.Tensor]:
    _, test = bundle.loaders(
        batch_size=batch_size,
        eval_batch_size=batch_size,
        device=device,
        workers=cfg.workers,
        on_device=cfg.data_on_device,
        seed=cfg.seed,
        augment=False,
    )
    return [x for x, _ in test]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
