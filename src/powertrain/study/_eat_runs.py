"""One run of an EAT study: reuse it when finished, resume it when not, train it when missing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from powertrain.errors import ConfigError
from powertrain.meters import Sensor
from powertrain.study._eat_config import EatSetting, EatStudyConfig
from powertrain.study._eat_table import RunRecord
from powertrain.training import RESUMABLE_FIELDS, RunDir, TrainConfig, estimate_run, train
from powertrain.training.progress import ProgressReporter

__all__ = ["check_reusable", "ensure_run", "read_summary"]


def ensure_run(
    config: EatStudyConfig,
    model: str,
    setting: EatSetting,
    *,
    sensors: Sequence[Sensor] | None,
    reporter: ProgressReporter | None,
) -> RunRecord:
    """Reuse, resume or train one run; make sure it has an accelerator estimate at the study's batch size."""
    cfg = config.run_config(model, setting)
    run = RunDir(cfg.out or "")
    summary = read_summary(run)
    if summary is not None and summary.get("final") and summary.get("status") != "interrupted":
        check_reusable(run, cfg, summary)
        if summary.get("status") == "completed" and int(summary.get("epochs_completed") or 0) < cfg.epochs:
            action, summary = "resumed", train(cfg, resume=run.path, sensors=sensors, reporter=reporter).summary
        else:
            action = "reused"
    elif run.config_path.exists():
        action, summary = "resumed", train(cfg, resume=run.path, sensors=sensors, reporter=reporter).summary
    else:
        action, summary = "trained", train(cfg, sensors=sensors, reporter=reporter).summary
    stored = TrainConfig.from_dict(run.read_config())
    stale = summary.get("accelerator") is None or stored.estimate_batch_size != cfg.estimate_batch_size
    if stale and summary.get("status") != "diverged":
        estimate = estimate_run(
            run.path,
            batch_size=cfg.estimate_batch_size,
            device=cfg.device,
            data_dir=cfg.data_dir,
            max_batches=cfg.estimate_max_batches,
            per_sample=False,
        )
        summary["accelerator"] = estimate.to_dict()
        summary.setdefault("config", {})["estimate_batch_size"] = cfg.estimate_batch_size
        run.write_config(stored.replace(estimate_batch_size=cfg.estimate_batch_size).to_dict())
        run.write_summary(summary)
    energy, accel = summary.get("energy") or {}, summary.get("accelerator") or {}
    return RunRecord(
        model=model,
        setting=setting,
        run_dir=str(run.path),
        action=action,
        status=str(summary.get("status")),
        epochs_completed=int(summary.get("epochs_completed") or 0),
        final_accuracy=summary.get("final_accuracy"),
        best_accuracy=summary.get("best_accuracy"),
        energy_ratio=accel.get("mean_ratio"),
        ratio_batch_size=accel.get("batch_size"),
        train_energy_j=energy.get("total_j"),
        train_energy_sources=list(energy.get("sources") or []),
        version=str(summary.get("updated_at", "")),
    )


def check_reusable(run: RunDir, cfg: TrainConfig, summary: dict[str, Any]) -> None:
    """Refuse a finished run trained with another fixed field, or with more epochs than the study asks."""
    stored = TrainConfig.from_dict(run.read_config())
    changed = sorted(k for k, v in cfg.to_dict().items() if k not in RESUMABLE_FIELDS and getattr(stored, k) != v)
    if changed:
        raise ConfigError(
            f"{run.path} holds a run with different {', '.join(changed)}; use another --out or remove that run"
        )
    done = int(summary.get("epochs_completed") or 0)
    if summary.get("status") == "completed" and done > cfg.epochs:
        raise ConfigError(
            f"{run.path} was trained for {done} epochs but the study asks for {cfg.epochs}; use another --out"
        )


def read_summary(run: RunDir) -> dict[str, Any] | None:
    """The run's summary.json, or None when missing or unreadable (a run killed before its first write)."""
    try:
        data = json.loads(run.summary_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
