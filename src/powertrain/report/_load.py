"""Read report inputs: run directories and study folders (sweeps, the EAT study), by what is on disk.

A loader is a pair ``(detect(path) -> bool, load(path) -> RunData | StudyData)``; :data:`LOADERS` is tried in order
and other studies plug in with :func:`register_loader`. A folder that is none of these but holds some directly (a
demo's output, a folder of runs) is read as all of them. Reading never imports the training code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from powertrain._files import read_yaml
from powertrain._records import read_metrics, read_results, read_summary
from powertrain.errors import ConfigError, DamagedFileError
from powertrain.hardware import hardware_label
from powertrain.report._model import ReportInput, RunData, StudyData, Trial, _float

__all__ = ["LOADERS", "ReportInputError", "load_inputs", "load_run", "register_loader"]

Loaded = RunData | StudyData
Loader = tuple[str, Callable[[Path], bool], Callable[[Path], Loaded]]


class ReportInputError(ConfigError):
    """A report path that is not a run directory or a study folder, or that cannot be read."""


def is_run(path: Path) -> bool:
    """A run directory has ``summary.json`` and ``config.yaml``."""
    return (path / "summary.json").is_file() and (path / "config.yaml").is_file()


def load_run(path: Path, name: str | None = None) -> RunData:
    """Read one run directory: its summary, config and metrics, every field's kind checked (``_records``).

    Raises:
        DamagedFileError: A file of the run is damaged (named with the field), never read as a run of 0 J.
    """
    summary = read_summary(path / "summary.json")
    config = read_yaml(path / "config.yaml", what="run config")
    if not isinstance(config, dict):
        raise DamagedFileError(f"run config {path / 'config.yaml'} is damaged: expected a mapping of option: value")
    epochs: list[dict[str, float]] = read_metrics(path / "metrics.csv")
    if epochs and epochs[0].get("epoch") == 0:  # metrics.csv counts from 0; the report, like the CLI, from 1
        for e in epochs:
            e["epoch"] += 1
    return RunData(name=name or path.name, path=path, config=config, summary=summary, epochs=epochs)


def _results(path: Path) -> dict[str, Any] | None:
    """The folder's ``results.json`` (kinds checked), None when it has none."""
    file = path / "results.json"
    return read_results(file) if file.is_file() else None


def is_eat_study(path: Path) -> bool:
    """An EAT study folder: ``results.json`` with ``"study": "eat"``."""
    data = _results(path)
    return data is not None and data.get("study") == "eat"


def load_eat_study(path: Path) -> StudyData:
    """The EAT study: one trial per (model, setting), with its energy ratio, accuracy and inference energy."""
    data = read_results(path / "results.json")
    rows = {(m, r["setting"]): r for m, t in (data.get("tables") or {}).items() for r in t.get("rows", [])}
    trials = []
    for record in data.get("runs") or []:
        setting = record.get("setting") or {}
        run_dir = _local(path, record.get("run_dir"), "runs", record.get("model"), setting.get("name"))
        run = load_run(run_dir, f"{record.get('model')}/{setting.get('name')}") if run_dir else None
        row = rows.get((record.get("model"), setting.get("name")), {})
        summary = run.summary if run else {}
        trials.append(
            Trial(
                name=f"{record.get('model')}/{setting.get('name')}",
                status=str(record.get("status")),
                params={"model": record.get("model"), "sigma": setting.get("sigma"), "lambda": setting.get("lambda")},
                final_accuracy=_float(record.get("final_accuracy")),
                energy_j=_float(record.get("train_energy_j")),
                spent_j=_float(record.get("train_energy_j")) or 0.0,
                energy_to_target_j=_float(summary.get("energy_to_target_j")),
                duration_s=_float(summary.get("duration_s")),
                hardware=hardware_label(summary.get("hardware") or data.get("hardware")),
                hardware_info=summary.get("hardware") or data.get("hardware"),
                curve=run.curve if run else [],
                run=run,
                extra={
                    "model": record.get("model"),
                    "setting": setting.get("name"),
                    "standard": float(setting.get("lambda") or 0) == 0,
                    "energy_ratio": _float(record.get("energy_ratio")),
                    "ratio_batch_size": record.get("ratio_batch_size"),
                    "decrease_pct": _float(row.get("decrease_pct")),
                    "selected": bool(row.get("selected")),
                    "inference_j_per_1k": _float((row.get("inference") or {}).get("j_per_1k_images")),
                    "layers": ((summary.get("accelerator") or {}).get("layers")) or [],
                },
            )
        )
    selected = {m: t.get("selected") for m, t in (data.get("tables") or {}).items()}
    return StudyData(kind="eat", name=path.name, path=path, trials=trials,
                     facts={"goal": data.get("goal"), "selected": selected})  # fmt: skip


def is_sweep(path: Path) -> bool:
    """A sweep folder: ``study.db`` (its Optuna storage) or a sweep's ``results.json`` export."""
    if (path / "study.db").is_file():
        return True
    data = _results(path)
    return data is not None and isinstance(data.get("trials"), list) and "objective" in data


def load_sweep_folder(path: Path) -> StudyData:
    """A sweep, from its storage when present (the current state), else from its ``results.json`` export."""
    data: dict[str, Any] | None = None
    if (path / "study.db").is_file():
        try:
            from powertrain.study import load_sweep
        except ImportError:  # pragma: no cover - the sweep engine is part of the package
            load_sweep = None
        if load_sweep is not None:
            data = load_sweep(path).to_dict()
    if data is None:
        data = read_results(path / "results.json")
    return sweep_from_dict(data, path)


def sweep_from_dict(data: dict[str, Any], path: Path) -> StudyData:
    """Build a sweep's :class:`StudyData` from its JSON export (``SweepResult.to_dict()``)."""
    trials = []
    for t in data.get("trials") or []:
        if t.get("state") == "paused" and t.get("run_spent_j") == 0:
            continue  # a breadth-first round whose energy the run's next round carries (run_spent_j)
        name = str(t.get("run_name") or f"trial-{t.get('number')}")
        run_dir = _local(path, t.get("run_dir") or (t.get("config") or {}).get("out"), "runs", name)
        run = load_run(run_dir, name) if run_dir else None
        curve = [(int(p.get("epoch", i + 1)), float(p["energy_j"]), float(p.get("elapsed_s") or math.nan),
                  float(p["val_accuracy"])) for i, p in enumerate(t.get("curve") or [])
                 if p.get("val_accuracy") is not None and p.get("energy_j") is not None]  # fmt: skip
        trials.append(
            Trial(
                name=name,
                status=str(t.get("state")),
                params=dict(t.get("params") or {}),
                final_accuracy=_float(t.get("final_accuracy")),
                energy_j=_float(t.get("energy_j")),
                spent_j=_float(t.get("run_spent_j", t.get("spent_j"))) or 0.0,
                energy_to_target_j=_float(t.get("energy_to_target_j")),
                duration_s=_float(t.get("duration_s")),
                hardware=str(t.get("hardware") or hardware_label(t.get("hardware_info"))),
                hardware_info=t.get("hardware_info") or (run.summary.get("hardware") if run else None),
                curve=curve or (run.curve if run else []),
                run=run,
                extra={"number": t.get("number"), "train_status": t.get("train_status"),
                       "forecast": t.get("forecast"), "pruned_on_forecast": t.get("pruned_on_forecast"),
                       **_eat_extra(name, run, _float(t.get("accel_energy_ratio")))},  # fmt: skip
            )
        )
    _mark_eat(trials)
    facts = {k: data.get(k) for k in ("objective", "directions", "counts", "energy", "spread", "pareto", "best",
                                      "pruning", "ranking")}
    return StudyData(kind="sweep", name=str(data.get("study") or path.name), path=path, trials=trials,
                     target_accuracy=_float(data.get("target_accuracy")), facts=facts)  # fmt: skip


def _eat_extra(name: str, run: RunData | None, ratio: float | None) -> dict[str, Any]:
    """What the EAT view needs from a sweep trial: model, setting, whether it is standard training, ratio, layers."""
    if run is None or ratio is None:
        return {}
    accel = run.summary.get("accelerator") or {}
    return {
        "model": run.config.get("model"),
        "setting": name,
        "standard": float(run.config.get("eat_lambda") or 0.0) == 0.0,
        "energy_ratio": ratio,
        "ratio_batch_size": accel.get("batch_size"),
        "layers": accel.get("layers") or [],
    }


def _mark_eat(trials: list[Trial]) -> None:
    """In a study that compares standard training with EAT, the decrease of each ratio against standard's."""
    for trial in trials:
        if trial.extra.get("energy_ratio") is None or trial.extra.get("standard"):
            continue
        standard = next((t for t in trials if t.extra.get("standard") and t.extra.get("model") == trial.extra["model"]
                         and t.extra.get("energy_ratio")), None)  # fmt: skip
        if standard is not None:
            trial.extra["decrease_pct"] = 100 * (1 - trial.extra["energy_ratio"] / standard.extra["energy_ratio"])


def _local(base: Path, recorded: Any, *fallback: Any) -> Path | None:
    """The run directory as recorded when it exists here, else under ``base`` (a study folder copied elsewhere)."""
    candidates = []
    if recorded:
        candidates.append(Path(str(recorded)))
    if all(fallback):
        candidates.append(base.joinpath(*(str(f) for f in fallback)))
    return next((c for c in candidates if is_run(c)), None)


LOADERS: list[Loader] = [
    ("run", is_run, load_run),
    ("eat", is_eat_study, load_eat_study),
    ("sweep", is_sweep, load_sweep_folder),
]


def register_loader(kind: str, detect: Callable[[Path], bool], load: Callable[[Path], Loaded]) -> None:
    """Teach the report a new kind of input (tried before the built-in ones)."""
    LOADERS.insert(0, (kind, detect, load))


def _load_one(path: Path) -> Loaded | None:
    for _, detect, load in LOADERS:
        if detect(path):
            return load(path)
    return None


def load_inputs(paths: list[str | Path]) -> ReportInput:
    """Read every path: a run, a study, or a folder that directly holds runs and studies.

    Raises:
        ReportInputError: A path that does not exist or holds no run or study.
    """
    if not paths:
        raise ReportInputError("give at least one run directory or study folder")
    report = ReportInput()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise ReportInputError(f"{path} does not exist")
        found = _load_one(path) if path.is_dir() else None
        children: list[Loaded] = []
        if found is None and path.is_dir():
            for child in sorted(p for p in path.iterdir() if p.is_dir()):
                loaded = _load_one(child)
                if loaded is not None:
                    children.append(loaded)
        if found is None and not children:
            raise ReportInputError(
                f"{path} is not a powertrain run directory (summary.json + config.yaml) or study folder "
                "(sweep: study.db or results.json; EAT study: results.json), and holds none"
            )
        report.paths.append(path)
        for item in [found] if found is not None else children:
            (report.runs if isinstance(item, RunData) else report.studies).append(item)  # type: ignore[arg-type]
    return report
