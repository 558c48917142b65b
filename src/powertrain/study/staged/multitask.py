"""The multitask study: one shared trunk with one head per task, against one model per task.

:func:`run_multitask_study` (CLI: ``powertrain study multitask CONFIG.yaml``) runs two stages on the sweep engine:
``multitask`` (the ``multitask`` model on the ``multitask`` dataset of all tasks, once per seed) and ``single`` (the
trunk model on each task alone, per seed). Every run stops, if ``stop_at_target``, when it is on target: the
multitask run when *every* task is. Results per seed and over seeds: the energy until every task reaches the
target, one multitask model against the sum of the separate models, and per task. Written to ``OUT/results.json``
(``kind: "multitask"``, schema in docs/transfer.md) and ``OUT/results.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powertrain._records import read_summary
from powertrain.meters import Sensor
from powertrain.study.engine.results import TrialRecord
from powertrain.study.staged.config import MultitaskStudyConfig, StudyTask, load_multitask_study_config
from powertrain.study.staged.results import write_results
from powertrain.study.staged.stage import StageTrial, finished, results_header, run_dict, seed_spread, start_study
from powertrain.training import TrainConfig
from powertrain.training.progress import ProgressReporter

__all__ = ["MultitaskStudyResult", "run_multitask_study"]


@dataclass
class MultitaskStudyResult:
    """A finished multitask study: the results dict (the JSON's content) and where it was written."""

    config: MultitaskStudyConfig
    results: dict[str, Any]
    results_json: Path
    results_md: Path


def run_multitask_study(
    config: MultitaskStudyConfig | str | Path,
    *,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    notify: Callable[[str], None] | None = None,
) -> MultitaskStudyResult:
    """Run (or continue) a multitask study and write its results (rerun the same config to continue it).

    Raises:
        ConfigError: A bad config (before anything runs), or a stage whose study exists with other trials.
    """
    if not isinstance(config, MultitaskStudyConfig):
        config = load_multitask_study_config(config)
    config.validate()
    runs = [single_config(config, t) for t in config.tasks] + [multitask_config(config)]
    stages = start_study(config, runs, sensors=sensors, reporter=reporter, notify=notify)
    say = stages.say
    say(f"stage multitask: {len(config.seeds)} run(s) of one model for {len(config.tasks)} tasks")
    shared = [StageTrial(f"multitask-s{s}", multitask_config(config).replace(seed=s)) for s in config.seeds]
    multi = stages.run("multitask", shared, extra=_store_tasks)
    singles = [
        StageTrial(f"{t.name}-s{s}", single_config(config, t).replace(seed=s))
        for t in config.tasks
        for s in config.seeds
    ]
    say(f"stage single: {len(singles)} run(s), one model per task")
    single = stages.run("single", singles)
    results = _results(config, multi, single)
    json_path, md_path = write_results(results, stages.out)
    return MultitaskStudyResult(config, results, json_path, md_path)


def multitask_config(config: MultitaskStudyConfig) -> TrainConfig:
    """The run config of the shared model: the ``multitask`` dataset of every task, the trunk with one head each."""
    tasks = []
    for task in config.tasks:
        over = task.overrides
        spec = {"dataset": over["dataset"], "name": task.name, **(over.get("dataset_options") or {})}
        spec.update({k: over[k] for k in ("subset", "test_subset", "data_dir") if over.get(k) is not None})
        tasks.append(spec)
    trunk = config.trunk or config.train.model
    return config.train.replace(
        dataset="multitask",
        model="multitask",
        dataset_options={"tasks": tasks},
        model_options={"trunk": trunk, "trunk_options": dict(config.train.model_options)},
    )


def single_config(config: MultitaskStudyConfig, task: StudyTask) -> TrainConfig:
    """The run config of one task alone, on the trunk model."""
    over = dict(task.overrides)
    over.setdefault("dataset_options", {})
    return config.train.replace(model=config.trunk or config.train.model, **over)


def _store_tasks(trial: Any, result: Any) -> None:
    trial.set_user_attr("tasks", result.summary.get("tasks"))


def _tasks_of(run: TrialRecord | None) -> dict[str, Any]:
    """Per-task figures of a multitask run: stored with the trial, else read from its summary.json."""
    if run is None:
        return {}
    if run.get("tasks"):
        return dict(run.get("tasks"))
    path = Path(str(run.get("run_dir"))) / "summary.json"
    return dict(read_summary(path).get("tasks") or {}) if path.is_file() else {}  # damaged: one line, not {}


def _results(
    config: MultitaskStudyConfig, multi: dict[str, TrialRecord], single: dict[str, TrialRecord]
) -> dict[str, Any]:
    rows = [_seed_row(config, seed, multi, single) for seed in config.seeds]

    def col(key: str) -> list[Any]:
        return [r[key] for r in rows]

    summary = {
        "runs": len(rows),
        "multitask_reached": sum(r["multitask_energy_to_target_j"] is not None for r in rows),
        "separate_reached": sum(r["separate_energy_to_target_j"] is not None for r in rows),
        "multitask_energy_to_target_j": seed_spread(col("multitask_energy_to_target_j")),
        "multitask_time_to_target_s": seed_spread(col("multitask_time_to_target_s")),
        "separate_energy_to_target_j": seed_spread(col("separate_energy_to_target_j")),
        "separate_time_to_target_s": seed_spread(col("separate_time_to_target_s")),
        "saved_j": seed_spread(col("saved_j")),
        "ratio": seed_spread(col("ratio")),
    }
    ratio = summary["ratio"]
    if ratio is None:
        verdict = "no comparison: " + "; ".join(sorted({r["note"] for r in rows if r["note"]}))
    else:
        verdict = (
            f"one multitask model used {ratio['mean']:.2f}x the energy of one model per task "
            f"({'less' if ratio['mean'] < 1 else 'more'}), over {ratio['n']} seed(s)"
        )
    every = {f"multitask/{k}": v for k, v in multi.items()}
    every.update({f"single/{k}": v for k, v in single.items()})
    return {
        **results_header("multitask", config, ("multitask", "single"), every),
        "trunk": config.trunk or config.train.model,
        "tasks": [t.name for t in config.tasks],
        "target_accuracy": config.train.target_accuracy,
        "rows": rows,
        "per_task": {task.name: _per_task(task.name, rows) for task in config.tasks},
        "summary": summary,
        "verdict": verdict,
        "total_energy_j": sum(float(r.get("energy_j") or 0.0) for r in every.values() if finished(r)),
    }


def _seed_row(
    config: MultitaskStudyConfig, seed: int, multi: dict[str, TrialRecord], single: dict[str, TrialRecord]
) -> dict[str, Any]:
    """One seed: the multitask run against the separate runs, until every task is on target."""
    mt = multi.get(f"multitask-s{seed}")
    alone = {t.name: single.get(f"{t.name}-s{seed}") for t in config.tasks}
    e2t = [r.get("energy_to_target_j") if finished(r) else None for r in alone.values()]  # type: ignore[union-attr]
    t2t = [r.get("time_to_target_s") if finished(r) else None for r in alone.values()]  # type: ignore[union-attr]
    separate = sum(e2t) if all(v is not None for v in e2t) else None
    separate_t = sum(t2t) if all(v is not None for v in t2t) else None
    multi_e2t = mt.get("energy_to_target_j") if finished(mt) else None  # type: ignore[union-attr]
    note = None
    if not finished(mt):
        note = f"multitask run failed: {mt.get('error') if mt else 'not run'}"
    elif multi_e2t is None:
        epochs = mt.get("epochs_completed")  # type: ignore[union-attr]
        note = f"the multitask model did not bring every task to the target in {epochs} epochs"
    if separate is None:
        missing = [n for n, r in alone.items() if not finished(r) or r.get("energy_to_target_j") is None]  # type: ignore[union-attr]
        alone_note = f"alone, {', '.join(missing)} did not reach the target"
        note = f"{note}; {alone_note}" if note else alone_note
    return {
        "seed": seed,
        "multitask": run_dict(mt, tasks=_tasks_of(mt)) or {"tasks": {}},
        "single": {n: run_dict(r) for n, r in alone.items()},
        "multitask_energy_to_target_j": multi_e2t,
        "multitask_time_to_target_s": mt.get("time_to_target_s") if finished(mt) else None,  # type: ignore[union-attr]
        "separate_energy_to_target_j": separate,
        "separate_time_to_target_s": separate_t,
        "saved_j": separate - multi_e2t if separate is not None and multi_e2t is not None else None,
        "ratio": multi_e2t / separate if separate and multi_e2t is not None else None,
        "note": note,
    }


def _per_task(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One task's figures over the seeds: inside the multitask model, and alone."""
    mt_tasks = [r["multitask"]["tasks"].get(name) or {} for r in rows]
    singles = [r["single"].get(name) or {} for r in rows]
    return {
        "multitask_epochs_to_target": seed_spread([t.get("epochs_to_target") for t in mt_tasks]),
        "multitask_energy_to_target_j": seed_spread([t.get("energy_to_target_j") for t in mt_tasks]),
        "multitask_final_accuracy": seed_spread([t.get("final_accuracy") for t in mt_tasks]),
        "single_energy_to_target_j": seed_spread([s.get("energy_to_target_j") for s in singles]),
        "single_time_to_target_s": seed_spread([s.get("time_to_target_s") for s in singles]),
        "single_epochs_to_target": seed_spread([s.get("epochs_to_target") for s in singles]),
        "single_final_accuracy": seed_spread([s.get("final_accuracy") for s in singles]),
    }
