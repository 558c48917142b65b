"""Stages of the transfer and multitask studies: each stage is one sweep of the study engine over explicit runs.

A stage is one :func:`~powertrain.study.sweep` (grid sampler, one explicit trial per run) in ``OUT/<stage>/``, with
its own Optuna study ``<study>-<stage>`` in the stage's SQLite file or the shared storage URL. So the studies inherit
the sweep engine's storage, crash safety (rerun the command: finished runs are kept, a killed one resumes from its
checkpoint), exports (``OUT/<stage>/results.json``/``.csv``) and ``powertrain sweep show OUT/<stage>``. A study reads
its figures from the stage's :class:`~powertrain.study.TrialRecord` objects, nothing else.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from powertrain._files import dump_yaml, json_safe, write_atomic
from powertrain.errors import OutputError
from powertrain.hardware import describe_hardware
from powertrain.meters import Sensor
from powertrain.study.engine import TrialRecord, grid_of_runs, sweep
from powertrain.study.engine.storage import check_storage_url
from powertrain.training import TrainConfig, build_model, load_data
from powertrain.training.progress import ProgressReporter
from powertrain.training.transfer import apply_init, freeze_for_finetune, load_init_state

__all__ = [
    "StageTrial",
    "Stages",
    "finished",
    "preflight",
    "results_header",
    "run_dict",
    "run_stage",
    "seed_spread",
    "sources_of",
    "start_study",
]

SCHEMA_VERSION = 1  #: of a staged study's results.json (docs/transfer.md)
_SETTLE_POLL_S = 2.0  #: how often a worker that has nothing left to claim checks other workers' running trials

#: the per-run figures a study's results.json carries (the full trial, curve included, is in the stage's export)
RUN_KEYS = (
    "run_name", "run_dir", "train_status", "energy_j", "duration_s", "final_accuracy", "best_accuracy",
    "reached_target", "energy_to_target_j", "time_to_target_s", "epochs_to_target", "epochs_completed",
    "energy_sources", "energy_estimated", "hardware", "error",
)  # fmt: skip


@dataclass(frozen=True)
class StageTrial:
    """One run of a stage: its name (unique in the stage) and its whole TrainConfig."""

    name: str
    config: TrainConfig


@dataclass
class Stages:
    """A staged study under way: its config and folder, and how each of its stages runs."""

    config: Any  # a TransferStudyConfig or MultitaskStudyConfig
    out: Path
    say: Callable[[str], None]
    sensors: Sequence[Sensor] | None
    reporter: ProgressReporter | None

    def run(
        self, stage: str, trials: Sequence[StageTrial], extra: Callable[[Any, Any], None] | None = None
    ) -> dict[str, TrialRecord]:
        """Run (or continue, or read back) one stage of this study (see :func:`run_stage`)."""
        config = self.config
        return run_stage(
            stage, trials, study=config.study, out=config.out, storage=config.storage, sensors=self.sensors,
            reporter=self.reporter, extra=extra, notify=self.say,
        )  # fmt: skip


def start_study(
    config: Any,
    runs: Sequence[TrainConfig],
    *,
    sensors: Sequence[Sensor] | None,
    reporter: ProgressReporter | None,
    notify: Callable[[str], None] | None,
) -> Stages:
    """Start (or continue) a staged study: check it and every run it implies, then write ``OUT/study.yaml``.

    Raises:
        ConfigError, UnknownNameError, DataNotFoundError: Before anything runs (see :func:`preflight`).
    """
    config.validate()
    preflight(runs)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the study")
    if config.storage:
        check_storage_url(config.storage)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "study.yaml", dump_yaml(json_safe(config.to_dict())))
    return Stages(config, out, notify or (lambda line: None), sensors, reporter)


def results_header(kind: str, config: Any, stages: Sequence[str], runs: Mapping[str, TrialRecord]) -> dict[str, Any]:
    """What a staged study's ``results.json`` starts with: the study, its stages, the hardware and energy sources.

    Args:
        kind: ``transfer`` or ``multitask``.
        config: The study's config.
        stages: The stage names (their folders under ``out``).
        runs: Every run of every stage (to collect their hardware labels and energy sources).
    """
    info = describe_hardware()
    out = Path(config.out).resolve()
    return {
        "kind": kind,
        "schema_version": SCHEMA_VERSION,
        "study": config.study,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "out": str(out),
        "seeds": list(config.seeds),
        "hardware": {k: info.get(k) for k in ("hostname", "cpu_model", "cpu_logical_cores", "gpus", "gpu_count")},
        "stages": {s: str(out / s) for s in stages},
        "hardware_tags": sorted({str(r.get("hardware")) for r in runs.values() if r.get("hardware")}),
        "energy_sources": sources_of(runs),
    }


def run_stage(
    stage: str,
    trials: Sequence[StageTrial],
    *,
    study: str,
    out: str | Path,
    storage: str | None,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    extra: Callable[[Any, Any], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, TrialRecord]:
    """Run (or continue, or just read back) one stage; returns each run's latest trial by run name.

    When this worker has nothing left to claim but other workers still run trials of the stage, it waits for them
    (the next stage may depend on them), taking over any whose worker dies.

    Args:
        stage: The stage's name (``pretrain``, ``targets``...): its folder under ``out`` and its study suffix.
        trials: The runs; every config becomes an explicit trial of a grid sweep.
        study: The study's name; the stage's Optuna study is ``<study>-<stage>``.
        out: The study folder.
        storage: A SQLAlchemy URL shared by the stages, or None for a SQLite file in the stage's folder.
        sensors: Energy sensors of every run (default: this machine's).
        reporter: Progress display of every run.
        extra: ``extra(optuna_trial, train_result)`` stores more user attributes after a run.
        notify: Called with one line when a run starts and when it ends.
    """
    config = grid_of_runs(
        ((t.name, t.config) for t in trials),
        base=TrainConfig().replace(dataset_options={}, model_options={}),
        objective=["energy"],
        study=f"{study}-{stage}",
        out=str(Path(out) / stage),
        storage=storage,
    )
    say = notify or (lambda line: None)

    def started(_study: Any, trial: Any) -> None:
        say(f"  {stage}: {trial.user_attrs.get('run_name')}")

    def ended(result: Any, number: int, state: str) -> None:
        record = next(t for t in result.trials if t.number == number)
        say(f"    {state}: {_line(record)}")

    while True:
        result = sweep(config, sensors=sensors, reporter=reporter, extra=extra, on_start=started, on_trial=ended)
        if not any(t.state in ("running", "waiting") for t in result.trials):
            break
        time.sleep(_SETTLE_POLL_S)  # another worker is still training one of this stage's runs
    latest: dict[str, TrialRecord] = {}
    for record in result.trials:  # trial order: a retry replaces the attempt it continues
        name = str(record.params.get("run", ""))
        if name:
            latest[name] = record
    return latest


def preflight(configs: Sequence[TrainConfig]) -> None:
    """Check, before any run starts, what would otherwise fail a study halfway.

    Every dataset loads (it is on disk, a class split leaves no split empty), every model builds with its options,
    weights from outside the study
    (``init_from``) load with ``weights_only=True`` and fit the model, and every fine-tuning run's model has the
    blocks ``finetune`` asks for (also when its weights come from a pretraining stage that has not run yet). Each
    distinct dataset is loaded once.

    Raises:
        ConfigError, UnknownNameError, DataNotFoundError: One line saying what is wrong.
    """
    data_keys = ("dataset", "dataset_options", "data_dir", "image_size", "channels", "subset", "test_subset")
    infos: dict[str, Any] = {}
    states: dict[str, Any] = {}
    models: set[str] = set()
    for config in configs:
        config.validate()
        key = repr([getattr(config, k) for k in data_keys])
        if key not in infos:
            infos[key] = load_data(config).info
        model_key = repr([key, config.model, config.model_options])
        if model_key not in models:  # every model and its options, once
            build_model(config, infos[key])
            models.add(model_key)
        if config.init_from or config.finetune != "full":  # a fine-tune of a stage not run yet is checked too
            model = build_model(config, infos[key])
            if config.init_from:
                if config.init_from not in states:
                    states[config.init_from] = load_init_state(config.init_from)
                apply_init(model, states[config.init_from], config.init_from)
            freeze_for_finetune(model, config)  # e.g. more blocks asked for than the model has


def finished(record: TrialRecord | None) -> bool:
    """The run finished training (completed, stopped at target, pruned or diverged), so its figures are final."""
    return record is not None and record.state in ("complete", "pruned") and bool(record.get("run_dir"))


def run_dict(record: TrialRecord | None, **more: Any) -> dict[str, Any] | None:
    """The figures a study's results carry for one run (energies J, times s); None when it never ran."""
    if record is None:
        return None
    out = {"trial": record.number, "state": record.state, **{k: record.get(k) for k in RUN_KEYS}}
    out.update(more)
    return out


def _line(record: TrialRecord) -> str:
    acc = record.get("final_accuracy")
    e2t = record.get("energy_to_target_j")
    energy = record.get("energy_j")
    parts = [str(record.get("train_status") or record.get("error") or "-")]
    parts.append(f"accuracy {acc:.4f}" if isinstance(acc, (int, float)) else "accuracy -")
    parts.append(f"{energy:.1f} J" if isinstance(energy, (int, float)) else "- J")
    parts.append(f"energy to target {e2t:.1f} J" if isinstance(e2t, (int, float)) else "target not reached")
    return ", ".join(parts)


def seed_spread(values: Sequence[float | None]) -> dict[str, Any] | None:
    """Mean, sample standard deviation, min, max and count of the finite values; None when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return {
        "mean": statistics.fmean(finite),
        "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
        "min": min(finite),
        "max": max(finite),
        "n": len(finite),
    }


def sources_of(runs: Mapping[str, TrialRecord]) -> list[str]:
    """Every energy source any of ``runs`` used (``estimated`` means no energy sensor: a labelled estimate)."""
    return sorted({str(s) for r in runs.values() for s in r.get("energy_sources") or []})
