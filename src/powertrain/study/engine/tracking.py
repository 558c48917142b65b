"""A sweep in the experiment trackers: one parent run per study, one child run per trial.

The parent is keyed by the study's name (``study:<name>``), so every worker of a study, on any machine, logs into the
same parent; a trial's child is keyed by its run's name (``<study>/<run>``), so a retried trial or the next
breadth-first round continues the child run of its run folder. The trial's training run logs its own epochs into the
child (:func:`powertrain.train` with ``trackers=``); the parent gets the sweep's settings, its running totals after
every trial (the search's energy, the best energy-to-target) and ``results.json`` at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from powertrain.study.engine.config import SweepConfig

if TYPE_CHECKING:
    from pathlib import Path

    from powertrain.integrations.trackers import Trackers
    from powertrain.study.engine.results import SweepResult
    from powertrain.training import TrainConfig

__all__ = ["close_sweep_log", "log_progress", "open_sweep_log", "trial_trackers", "with_log"]


def with_log(config: SweepConfig) -> SweepConfig:
    """The sweep's trackers in ``config.log`` (default: ``train.log``), none left in the trials' training config."""
    specs = list(config.log or config.train.log)
    return config.replace(log=specs, train=config.train.replace(log=[]))


def open_sweep_log(config: SweepConfig) -> Trackers | None:
    """Start (or join) the study's parent run in every tracker of ``config.log``; None when there are none."""
    if not config.log:
        return None
    from pathlib import Path

    from powertrain.integrations.trackers import RunInfo, Trackers, check_installed

    check_installed(config.log)
    params = {
        "study": config.study, "sampler": config.sampler, "objective": ",".join(config.objective),
        "pruner": config.pruner, "round_epochs": config.round_epochs, "n_trials": config.n_trials,
        "target_accuracy": config.train.target_accuracy, "space": config.space.to_dict(),
    }  # fmt: skip
    info = RunInfo(name=config.study, key=f"study:{config.study}", kind="sweep", params=params,
                   tags={"powertrain.study": config.study}, folder=Path(config.out))  # fmt: skip
    return Trackers.start(config.log, info)


def trial_trackers(parent: Trackers | None, config: SweepConfig, number: int, run_name: str, run_dir: Path,
                   cfg: TrainConfig) -> Trackers | None:  # fmt: skip
    """The child run of one trial's training run (continued when its run folder was logged before)."""
    if parent is None:
        return None
    from powertrain.integrations.trackers import RunInfo

    params = {k: v for k, v in cfg.to_dict().items() if k != "log"}
    tags = {"powertrain.study": config.study, "powertrain.trial": str(number)}
    info = RunInfo(name=run_name, key=f"{config.study}/{run_name}", kind="trial", params=params, tags=tags,
                   folder=run_dir)  # fmt: skip
    return parent.child(info)


def log_progress(parent: Trackers | None, result: SweepResult) -> None:
    """The search so far on the parent: joules spent, trials by state, the best energy-to-target."""
    if parent is None:
        return
    counts = result.counts
    metrics: dict[str, Any] = {
        "search/energy_j": result.energy["total_j"],
        "search/trials": float(sum(counts.values())),
        **{f"search/{state}_trials": float(n) for state, n in counts.items()},
    }
    spread = result.spread
    if spread["best_j"] is not None:
        metrics["search/best_energy_to_target_j"] = spread["best_j"]
        metrics["search/worst_over_best"] = spread["ratio"]
    parent.log_metrics(metrics, step=int(sum(counts.values())))


def close_sweep_log(parent: Trackers | None, out: Path, status: str) -> None:
    """Attach ``results.json`` and ``results.csv`` (those that exist) and end the parent run with ``status``."""
    if parent is None:
        return
    for name in ("results.json", "results.csv"):
        parent.log_artifact(out / name)
    parent.finish("completed" if status == "completed" else status)  # type: ignore[arg-type]
