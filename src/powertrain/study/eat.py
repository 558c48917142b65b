"""The reproducible EAT experiment: standard training against EAT settings, one table per model (like EAT's Table 1).

An EAT study is a grid sweep on the study engine (:func:`~powertrain.study.sweep`): one explicit trial per (model,
setting), standard training included, each recording the accuracy, the accelerator energy ratio and the measured
inference energy. :func:`run_eat_study` runs that sweep and builds the Table-1 report over its trials
(``results.json`` and ``results.md``, rewritten atomically after every trial). Kill and rerun: the sweep continues.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml

from powertrain._files import json_safe, write_atomic
from powertrain.hardware import describe_hardware
from powertrain.meters import EnergyMeter, Sensor, discover_sensors
from powertrain.study._eat_config import EatStudyConfig
from powertrain.study._eat_report import render_markdown
from powertrain.study._eat_table import EAT_CIFAR10_TABLE1, ModelTable, RunRecord, build_table
from powertrain.study._inference import InferenceEnergy, measure_inference_energy
from powertrain.study._space import SearchSpace, TrialSpec
from powertrain.study._sweep_config import SweepConfig
from powertrain.study._sweep_results import SweepResult, TrialRecord
from powertrain.training import TrainConfig, load_run_model
from powertrain.training.device import resolve_device
from powertrain.training.progress import ProgressReporter

__all__ = ["EatStudyResult", "eat_sweep_config", "run_eat_study"]

log = logging.getLogger(__name__)

Notify = Callable[[str], None]


@dataclass
class EatStudyResult:
    """What :func:`run_eat_study` returns; the same facts are in ``OUT/results.json``.

    Attributes:
        out: The study folder.
        config: The study's config.
        records: One per (model, setting), standard first within each model.
        tables: Per model, the table with the selected setting and the goal check.
        goal_met: True when every model meets the goal, False when one does not, None when undecidable.
        hardware: Where it ran.
    """

    out: Path
    config: EatStudyConfig
    records: list[RunRecord]
    tables: dict[str, ModelTable]
    goal_met: bool | None
    hardware: dict[str, Any]

    @property
    def results_json(self) -> Path:
        """``OUT/results.json``."""
        return self.out / "results.json"

    @property
    def results_md(self) -> Path:
        """``OUT/results.md``: the tables in markdown, ready for docs/."""
        return self.out / "results.md"


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
    from powertrain.study._engine import sweep

    config.validate()
    say = notify or (lambda message: log.info("%s", message))
    study = _Study(config, Path(config.out), describe_hardware())
    study.out.mkdir(parents=True, exist_ok=True)
    write_atomic(study.out / "study.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    sweep_config = eat_sweep_config(config)
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
    trials = []
    for model in config.models:
        for setting in config.all_settings:
            run = config.run_config(model, setting)
            overrides = {"model": model, "eat_lambda": setting.lam, "eat_sigma": setting.sigma}
            overrides.update(
                {k: v for k, v in run.to_dict().items() if k != "out" and v != getattr(base, k) and k not in overrides}
            )
            trials.append(TrialSpec(f"{model}/{setting.name}", overrides))
    return SweepConfig(
        train=base,
        space=SearchSpace((), tuple(trials)),
        sampler="grid",
        objective=["energy_ratio"] if config.estimate_batch_size > 0 else ["accuracy"],
        study="eat",
        out=config.out,
        identity={"inference_energy": _inference_key(config) if config.inference_energy.enabled else None,
                  "rounds": config.inference_energy.rounds},  # fmt: skip
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
            meter = EnergyMeter(sensors, sample_period_s=cfg.meter_interval_s, sync_cuda=device.type == "cuda")
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


@dataclass
class _Study:
    config: EatStudyConfig
    out: Path
    hardware: dict[str, Any]
    records: list[RunRecord] = field(default_factory=list)
    complete: bool = False
    carbon: dict[str, Any] | None = None

    def write(self) -> EatStudyResult:
        """Rebuild the tables from the records and rewrite results.json and results.md atomically."""
        config = self.config
        tables = {
            model: build_table(
                model,
                [r for r in self.records if r.model == model],
                accuracy_tolerance=config.accuracy_tolerance,
                goal_decrease_pct=config.goal_decrease_pct,
                goal_max_accuracy_drop=config.goal_max_accuracy_drop,
            )
            for model in config.models
            if any(r.model == model for r in self.records)
        }
        verdicts = [t.goal["met"] for t in tables.values()]
        goal_met = None if not verdicts or None in verdicts else all(verdicts)
        result = EatStudyResult(self.out, config, list(self.records), tables, goal_met, self.hardware)
        payload = {
            "study": "eat",
            "complete": self.complete,
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": config.to_dict(),
            "hardware": self.hardware,
            "inference_config": _inference_key(config),
            "runs": [r.to_dict() for r in self.records],
            "carbon": self.carbon,  # the sweep's CO2e totals (SweepResult.carbon): every trial's spent energy
            "tables": {model: t.to_dict() for model, t in tables.items()},
            "goal": {
                "decrease_pct": config.goal_decrease_pct,
                "max_accuracy_drop": config.goal_max_accuracy_drop,
                "met": goal_met,
            },
            "eat_cifar10_table1": {m: {"standard": s, "eat": e} for m, (s, e) in EAT_CIFAR10_TABLE1.items()},
        }
        write_atomic(result.results_json, json.dumps(json_safe(payload), indent=2) + "\n")
        write_atomic(result.results_md, render_markdown(result, complete=self.complete))
        return result


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


def _inference_key(config: EatStudyConfig) -> dict[str, Any]:
    """What must match for an earlier inference measurement to be reused."""
    key = config.inference_energy.to_dict()
    key.pop("rounds")
    key.pop("enabled")
    key.update(device=str(resolve_device(config.train.device)), amp=config.train.amp)
    return key


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
