"""The reproducible EAT experiment: standard training against EAT settings, one table per model (like EAT's Table 1).

:func:`run_eat_study` trains every (model, setting) in its own run directory, reads back the accuracy and the
accelerator energy ratio, measures the real inference energy of every trained model, and writes ``results.json`` and
``results.md`` in the study folder. It is safe to kill and rerun: finished runs are reused, unfinished ones resumed, and
the results file is rewritten (atomically) after every run and every measurement.
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
from powertrain.study._eat_runs import ensure_run
from powertrain.study._eat_table import EAT_CIFAR10_TABLE1, ModelTable, RunRecord, build_table
from powertrain.study._inference import InferenceEnergy, measure_inference_energy
from powertrain.training import TrainConfig, load_run_model
from powertrain.training.loop import resolve_device
from powertrain.training.progress import ProgressReporter

__all__ = ["EatStudyResult", "run_eat_study"]

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
    """Run (or continue) an EAT study.

    For each model and each setting (standard training first) a run in ``OUT/runs/<model>/<setting>/``: a run whose
    summary is final and not interrupted is reused, one with a config but unfinished is resumed, a missing one is
    trained. Then the inference energy of every trained model is measured (``config.inference_energy``).

    Args:
        config: The study (validated again here).
        sensors: Energy sensors for the training runs and the inference measurements; default: discovered per run.
            Sensors you pass stay yours to close.
        reporter: Live display of each training run.
        notify: Called with one line per step (which run is trained, reused, measured), for a CLI.

    Returns:
        The :class:`EatStudyResult`.

    Raises:
        ConfigError: A bad config, or an existing run in ``OUT`` trained with a different fixed field.
        UnknownNameError: An unknown dataset or model.
        DataNotFoundError: The dataset is not on disk.
    """
    config.validate()
    say = notify or (lambda message: log.info("%s", message))
    study = _Study(config, Path(config.out), describe_hardware())
    study.out.mkdir(parents=True, exist_ok=True)
    write_atomic(study.out / "study.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    previous = _previous_inference(study.out / "results.json", config)
    total = len(config.models) * len(config.all_settings)
    for model in config.models:
        for setting in config.all_settings:
            say(f"[{len(study.records) + 1}/{total}] {model} / {setting.name}")
            record = ensure_run(config, model, setting, sensors=sensors, reporter=reporter)
            if record.action == "reused":  # the same weights as last time: keep their measurements
                earlier = previous.get((model, setting.name, record.version), [])
                record.inference = earlier[: config.inference_energy.rounds]
            say(f"  {record.action}: {record.status}, accuracy {_num(record.final_accuracy)}, "
                f"energy ratio {_num(record.energy_ratio)} (batch {record.ratio_batch_size})")  # fmt: skip
            study.records.append(record)
            study.write()
    if config.inference_energy.enabled:
        _measure_all(study, sensors, say)
    study.complete = True
    return study.write()


@dataclass
class _Study:
    config: EatStudyConfig
    out: Path
    hardware: dict[str, Any]
    records: list[RunRecord] = field(default_factory=list)
    complete: bool = False

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


def _measure_all(study: _Study, sensors: Sequence[Sensor] | None, say: Notify) -> None:
    """Measure the inference energy of every trained model that still lacks rounds, in one meter."""
    config = study.config
    if not any(len(r.inference) < config.inference_energy.rounds and _has_weights(r) for r in study.records):
        return
    device = resolve_device(config.train.device)
    owned = sensors is None
    meter_sensors = list(sensors) if sensors is not None else discover_sensors(gpu_indices=config.train.gpu_indices)
    try:
        meter = EnergyMeter(
            meter_sensors, sample_period_s=config.train.meter_interval_s, sync_cuda=device.type == "cuda"
        )
        with meter:
            for model in config.models:
                _measure_model(study, model, meter, device, say)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    finally:
        if owned:
            for sensor in meter_sensors:
                sensor.close()


def _measure_model(study: _Study, model: str, meter: EnergyMeter, device: torch.device, say: Notify) -> None:
    """The rounds of one model's settings, interleaved (and in alternating order) so that drift hits all alike."""
    config, inference = study.config, study.config.inference_energy
    group = [r for r in study.records if r.model == model and _has_weights(r)]
    nets: dict[str, torch.nn.Module] = {}
    batches: list[torch.Tensor] = []
    for round_index in range(inference.rounds):
        for record in group if round_index % 2 == 0 else group[::-1]:
            if len(record.inference) > round_index:
                continue
            if record.run_dir not in nets:
                net, cfg, bundle = load_run_model(record.run_dir, device=str(device), data_dir=config.train.data_dir)
                nets[record.run_dir] = net
                batches = batches or _test_batches(bundle, cfg, inference.batch_size, device)
            say(f"inference energy: {model} / {record.setting.name}, round {round_index + 1} of {inference.rounds}")
            measured = measure_inference_energy(
                nets[record.run_dir],
                batches,
                meter=meter,
                device=device,
                amp=config.train.amp,
                min_seconds=inference.min_seconds,
                repeats=inference.repeats,
                warmup_passes=inference.warmup_passes,
                name=f"inference:{model}:{record.setting.name}:{round_index}",
            )
            record.inference.append(measured)
            say(
                f"  {measured.j_per_1k_images:.3f} J per 1000 images, {measured.avg_power_w:.1f} W, "
                f"{measured.images_per_s:,.0f} images/s ({measured.source}, {measured.component})"
            )
            study.write()


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


def _has_weights(record: RunRecord) -> bool:
    return record.status != "diverged" and (Path(record.run_dir) / "model.pt").exists()


def _previous_inference(path: Path, config: EatStudyConfig) -> dict[tuple[str, str, str], list[InferenceEnergy]]:
    """Inference rounds of an earlier invocation, by (model, setting, run version), when measured the same way."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("inference_config") != _inference_key(config):
        return {}
    found: dict[tuple[str, str, str], list[InferenceEnergy]] = {}
    for run in data.get("runs") or []:
        try:
            key = (run["model"], run["setting"]["name"], run["version"])
            found[key] = [InferenceEnergy.from_dict(r) for r in run.get("inference") or []]
        except (KeyError, TypeError, ValueError):
            continue
    return found


def _inference_key(config: EatStudyConfig) -> dict[str, Any]:
    """What must match for an earlier inference measurement to be reused."""
    key = config.inference_energy.to_dict()
    key.pop("rounds")
    key.pop("enabled")
    key.update(device=str(resolve_device(config.train.device)), amp=config.train.amp)
    return key


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
