"""The transfer study: does pretraining pay for its energy, and after how many downstream tasks?

:func:`run_transfer_study` (CLI: ``powertrain study transfer CONFIG.yaml``) runs three stages on the sweep engine
(:mod:`~powertrain.study.staged.stage`): ``pretrain`` (the source task, once per seed), ``finetune`` (each target from
the pretrained weights of the same seed, in each fine-tuning mode, ``init_from`` pointing at the pretrain run) and
``scratch`` (each target from random weights). Then, per target, mode and seed: the energy-, time- and
epochs-to-target of fine-tuning and of training from scratch, the energy saved per task, and the break-even number
of downstream tasks ``pretraining energy / energy saved per task``, with its spread over seeds. The results are
``OUT/results.json`` (``kind: "transfer"``, schema in docs/transfer.md) and ``OUT/results.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powertrain.meters import Sensor
from powertrain.study.engine.results import TrialRecord
from powertrain.study.staged.config import TransferStudyConfig, load_transfer_study_config
from powertrain.study.staged.results import write_results
from powertrain.study.staged.stage import StageTrial, finished, results_header, run_dict, seed_spread, start_study
from powertrain.training.progress import ProgressReporter

__all__ = ["TransferStudyResult", "break_even", "run_transfer_study"]


@dataclass
class TransferStudyResult:
    """A finished transfer study: the results dict (the JSON's content) and where it was written."""

    config: TransferStudyConfig
    results: dict[str, Any]
    results_json: Path
    results_md: Path


def run_transfer_study(
    config: TransferStudyConfig | str | Path,
    *,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    notify: Callable[[str], None] | None = None,
) -> TransferStudyResult:
    """Run (or continue) a transfer study and write its results.

    Rerunning the same config continues it: finished runs are read back, an interrupted one resumes from its
    checkpoint (the sweep engine's guarantees), so no energy is counted twice. Each stage's own export is in
    ``OUT/<stage>/results.json`` as soon as it ends; the study's ``results.json`` and ``results.md`` at the end.

    Args:
        config: The study, or the path of its YAML file.
        sensors: Energy sensors of every run (default: this machine's).
        reporter: Progress display of every training run.
        notify: Called with one line per stage and per run, for a CLI.

    Raises:
        ConfigError: A bad config, missing or incompatible pretrained weights, a class split that leaves a task
            empty (all before anything runs), or a stage whose study exists with other runs.
        UnknownNameError: An unknown dataset or model.
        DataNotFoundError: A dataset is not on disk.
    """
    if not isinstance(config, TransferStudyConfig):
        config = load_transfer_study_config(config)
    config.validate()
    configs = [config.pretrain.config(config.train)] if config.pretrain is not None else []
    for target in config.targets:
        tuned = target.config(config.train).replace(init_from=config.pretrained)
        configs += [tuned.replace(**mode.overrides) for mode in config.finetune]
    stages = start_study(config, configs, sensors=sensors, reporter=reporter, notify=notify)
    say = stages.say
    pretrain: dict[str, TrialRecord] = {}
    if config.pretrain is not None:
        say(f"stage pretrain: {len(config.seeds)} run(s) on {config.pretrain.name}")
        trials = [StageTrial(_pre(s), config.pretrain.config(config.train).replace(seed=s)) for s in config.seeds]
        pretrain = stages.run("pretrain", trials)
    finetune_trials, skipped = [], {}
    for seed in config.seeds:
        source = config.pretrained
        if config.pretrain is not None:
            run = pretrain.get(_pre(seed))
            if not finished(run):
                skipped[seed] = f"pretraining (seed {seed}) failed: {run.get('error') if run else 'no run'}"
                continue
            source = str(run.get("run_dir"))  # type: ignore[union-attr]
        for target in config.targets:
            for mode in config.finetune:
                cfg = target.config(config.train).replace(seed=seed, init_from=source, **mode.overrides)
                finetune_trials.append(StageTrial(_ft(mode.name, target.name, seed), cfg))
    finetune: dict[str, TrialRecord] = {}
    if finetune_trials:
        say(f"stage finetune: {len(finetune_trials)} run(s)")
        finetune = stages.run("finetune", finetune_trials)
    scratch_trials = [
        StageTrial(_sc(t.name, s), t.config(config.train).replace(seed=s)) for t in config.targets for s in config.seeds
    ]
    say(f"stage scratch: {len(scratch_trials)} run(s)")
    scratch = stages.run("scratch", scratch_trials)
    results = _results(config, pretrain, finetune, scratch, skipped)
    json_path, md_path = write_results(results, stages.out)
    return TransferStudyResult(config, results, json_path, md_path)


def break_even(
    pretrain_energy_j: float | None, finetune: TrialRecord | None, scratch: TrialRecord | None
) -> dict[str, Any]:
    """Energy saved per downstream task and the break-even task count for one seed, with a note when there is none.

    ``saved_j = scratch energy-to-target - fine-tune energy-to-target``; ``break_even_tasks = pretraining energy /
    saved_j`` when both reached the target and fine-tuning saved energy. A fine-tune that never reached the target
    has no break-even, and the note says so.
    """
    out: dict[str, Any] = {"saved_j": None, "break_even_tasks": None, "note": None}
    if finetune is None or not finished(finetune):
        out["note"] = f"fine-tune run failed: {finetune.get('error') if finetune else 'not run'}"
        return out
    ft_e2t = finetune.get("energy_to_target_j")
    if ft_e2t is None:
        out["note"] = (
            f"fine-tuning never reached the target in {finetune.get('epochs_completed')} epochs: no break-even"
        )
        return out
    if scratch is None or not finished(scratch):
        out["note"] = f"from-scratch run failed: {scratch.get('error') if scratch else 'not run'}"
        return out
    sc_e2t = scratch.get("energy_to_target_j")
    if sc_e2t is None:
        floor = float(scratch.get("energy_j") or 0.0) - float(ft_e2t)
        out["saved_at_least_j"] = floor
        out["note"] = (
            f"from scratch never reached the target in {scratch.get('epochs_completed')} epochs: fine-tuning saves "
            f"at least {floor:.1f} J per task"
        )
        if pretrain_energy_j is not None and floor > 0:
            out["break_even_tasks_at_most"] = pretrain_energy_j / floor
        return out
    saved = float(sc_e2t) - float(ft_e2t)
    out["saved_j"] = saved
    if saved <= 0:
        out["note"] = "fine-tuning spent more than training from scratch: pretraining never pays off"
    elif pretrain_energy_j is None:
        out["note"] = "pretraining energy unknown (weights trained elsewhere): energy saved per task only"
    else:
        out["break_even_tasks"] = pretrain_energy_j / saved
    return out


def _results(
    config: TransferStudyConfig,
    pretrain: dict[str, TrialRecord],
    finetune: dict[str, TrialRecord],
    scratch: dict[str, TrialRecord],
    skipped: dict[int, str],
) -> dict[str, Any]:
    if config.pretrain is None:
        pre_energy = dict.fromkeys(config.seeds, config.pretrain_energy_j)
    else:
        pre_energy = {s: _energy(pretrain.get(_pre(s))) for s in config.seeds}
    comparisons = []
    for target in config.targets:
        tcfg = target.config(config.train)
        for mode in config.finetune:
            rows = []
            for seed in config.seeds:
                ft, sc = finetune.get(_ft(mode.name, target.name, seed)), scratch.get(_sc(target.name, seed))
                row: dict[str, Any] = {"seed": seed, "pretrain_energy_j": pre_energy[seed]}
                row["finetune"] = run_dict(ft) or {"error": skipped.get(seed, "not run")}
                row["scratch"] = run_dict(sc)
                row.update(break_even(pre_energy[seed], ft, sc))
                if seed in skipped:
                    row["note"] = skipped[seed]
                rows.append(row)
            comparisons.append(_comparison(target.name, tcfg, mode.name, mode.overrides, rows))
    every = {f"pretrain/{k}": v for k, v in pretrain.items()}
    every.update({f"finetune/{k}": v for k, v in finetune.items()})
    every.update({f"scratch/{k}": v for k, v in scratch.items()})
    return {
        **results_header("transfer", config, ("pretrain", "finetune", "scratch"), every),
        "pretrain": {
            "task": config.pretrain.name if config.pretrain else None,
            "config": config.pretrain.overrides if config.pretrain else None,
            "pretrained": config.pretrained,
            "runs": [run_dict(pretrain[_pre(s)], seed=s) for s in config.seeds if _pre(s) in pretrain],
            "energy_j": seed_spread(list(pre_energy.values())),
        },
        "comparisons": comparisons,
        "total_energy_j": sum(_energy(r) or 0.0 for r in every.values()),
    }


def _energy(record: TrialRecord | None) -> float | None:
    """A finished run's whole energy (J), None for a run that did not finish."""
    if not finished(record):
        return None
    value = record.get("energy_j")  # type: ignore[union-attr]
    return float(value) if value is not None else None


def _comparison(
    target: str, tcfg: Any, mode: str, overrides: dict[str, Any], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    def col(side: str, key: str) -> list[Any]:
        return [r[side].get(key) if r.get(side) else None for r in rows]

    reached_ft = sum(bool(r["finetune"].get("reached_target")) for r in rows)
    reached_sc = sum(bool(r["scratch"] and r["scratch"].get("reached_target")) for r in rows)
    be = [r["break_even_tasks"] for r in rows]
    saved = [r["saved_j"] for r in rows]
    summary = {
        "finetune_reached": reached_ft,
        "scratch_reached": reached_sc,
        "runs": len(rows),
        "finetune_energy_to_target_j": seed_spread(col("finetune", "energy_to_target_j")),
        "finetune_time_to_target_s": seed_spread(col("finetune", "time_to_target_s")),
        "finetune_epochs_to_target": seed_spread(col("finetune", "epochs_to_target")),
        "scratch_energy_to_target_j": seed_spread(col("scratch", "energy_to_target_j")),
        "scratch_time_to_target_s": seed_spread(col("scratch", "time_to_target_s")),
        "scratch_epochs_to_target": seed_spread(col("scratch", "epochs_to_target")),
        "saved_j": seed_spread(saved),
        "break_even_tasks": seed_spread(be),
    }
    pre = seed_spread([r["pretrain_energy_j"] for r in rows])
    mean_saved = summary["saved_j"]["mean"] if summary["saved_j"] else None
    summary["break_even_tasks_of_means"] = (
        pre["mean"] / mean_saved if pre is not None and mean_saved is not None and mean_saved > 0 else None
    )
    notes = sorted({r["note"] for r in rows if r.get("note")})
    if not any(v is not None for v in be):
        reasons = [n.removesuffix(": no break-even") for n in notes]
        verdict = "no break-even: " + "; ".join(reasons) if reasons else "no break-even"
    elif len([v for v in be if v is not None]) < len(rows):
        verdict = f"break-even in {sum(v is not None for v in be)} of {len(rows)} seeds; " + "; ".join(notes)
    else:
        stat = summary["break_even_tasks"]
        verdict = (
            f"break-even after {stat['mean']:.2f} downstream tasks (mean of {stat['n']} seed(s), "
            f"{stat['min']:.2f} to {stat['max']:.2f})"
        )
    return {
        "target": target,
        "target_accuracy": tcfg.target_accuracy,
        "dataset": tcfg.dataset,
        "dataset_options": tcfg.dataset_options,
        "mode": mode,
        "mode_config": overrides,
        "rows": rows,
        "summary": summary,
        "verdict": verdict,
    }


def _pre(seed: int) -> str:
    return f"pretrain-s{seed}"


def _ft(mode: str, target: str, seed: int) -> str:
    return f"{mode}-{target}-s{seed}"


def _sc(target: str, seed: int) -> str:
    return f"scratch-{target}-s{seed}"
