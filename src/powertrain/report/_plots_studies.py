"""Plots of studies: Pareto front, lr x batch-size heatmap, spread, search cost, EAT, transfer, hardware.

Accuracy-energy Pareto front, the learning-rate x batch-size heatmap and the spread of energy-to-target, what the
search itself cost, standard against EAT (energy ratios, per-layer firing rates), the transfer break-even, and the
hardware comparison of merged results.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from powertrain.report._figure import PALETTE, Plot, new_figure, to_plot
from powertrain.report._model import StudyData, Trial
from powertrain.report._plots_runs import _energy_scale, format_energy

__all__ = [
    "eat_firing_rates",
    "eat_ratios",
    "energy_heatmap",
    "hardware_comparison",
    "pareto_front",
    "pareto_trials",
    "search_cost",
    "spread",
    "transfer_break_even",
]

STATE_COLORS = {"complete": PALETTE[0], "completed": PALETTE[0], "pruned": PALETTE[1], "fail": PALETTE[4],
                "failed": PALETTE[4], "running": PALETTE[8]}  # fmt: skip


def pareto_trials(trials: list[Trial]) -> list[Trial]:
    """Trials that no other trial beats on both lower energy and higher final accuracy, by energy."""
    done = [t for t in trials if t.energy_j is not None and t.final_accuracy is not None]

    def beats(a: Trial, b: Trial) -> bool:
        assert a.energy_j is not None and b.energy_j is not None and a.final_accuracy is not None
        assert b.final_accuracy is not None
        return (a.energy_j <= b.energy_j and a.final_accuracy >= b.final_accuracy
                and (a.energy_j, a.final_accuracy) != (b.energy_j, b.final_accuracy))  # fmt: skip

    return sorted((t for t in done if not any(beats(o, t) for o in done)), key=lambda t: t.energy_j or 0.0)


def pareto_front(study: StudyData) -> Plot | None:
    """Final accuracy against the energy of each trial, with the non-dominated trials joined."""
    done = [t for t in study.trials if t.energy_j is not None and t.final_accuracy is not None]
    if len(done) < 2:
        return None
    with new_figure() as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale([t.energy_j or 0.0 for t in done])
        for state in sorted({t.status for t in done}):
            group = [t for t in done if t.status == state]
            ax.scatter([(t.energy_j or 0) / scale for t in group], [100 * (t.final_accuracy or 0) for t in group],
                       s=28, color=STATE_COLORS.get(state, PALETTE[3]), alpha=0.8, label=state, zorder=3)  # fmt: skip
        front = pareto_trials([t for t in done if t.status in ("complete", "completed", "reached_target")])
        ax.plot([(t.energy_j or 0) / scale for t in front], [100 * (t.final_accuracy or 0) for t in front],
                color="#111827", linewidth=1.2, drawstyle="steps-post", zorder=2, label="Pareto front")  # fmt: skip
        ax.scatter([(t.energy_j or 0) / scale for t in front], [100 * (t.final_accuracy or 0) for t in front], s=70,
                   facecolors="none", edgecolors="#111827", linewidths=1.2, zorder=4)
        for t in front:
            ax.annotate(t.name, ((t.energy_j or 0) / scale, 100 * (t.final_accuracy or 0)), xytext=(4, -10),
                        textcoords="offset points", fontsize=7.5, color="#374151")  # fmt: skip
        if study.target_accuracy is not None:
            ax.axhline(100 * study.target_accuracy, color="#6b7280", linestyle="--", linewidth=1)
        ax.set_xlabel(f"energy of the trial ({unit})")
        ax.set_ylabel("final validation accuracy (%)")
        ax.legend(loc="best")
        ax.set_title(f"Accuracy-energy Pareto front: {study.name}")
        return to_plot(fig, f"pareto-{study.name}", "Accuracy-energy Pareto front",
                       "Every trial's final accuracy against the energy it spent; the line joins the finished "
                       "trials no other finished trial beats on both (less energy and at least as accurate). "
                       "Pruned trials stop early, so their accuracy is a partial one.")  # fmt: skip


def _param(trial: Trial, *names: str) -> Any:
    for name in names:
        if name in trial.params:
            return trial.params[name]
    return None


def energy_heatmap(study: StudyData) -> Plot | None:
    """Energy-to-target for each learning rate x batch size (grey: target not reached)."""
    cells: dict[tuple[float, int], Trial] = {}
    for t in study.trials:
        lr, bs = _param(t, "lr", "learning_rate"), _param(t, "batch_size")
        if lr is None or bs is None:
            continue
        best = cells.get((float(lr), int(bs)))
        if best is None or (t.energy_to_target_j or math.inf) < (best.energy_to_target_j or math.inf):
            cells[(float(lr), int(bs))] = t
    lrs = sorted({k[0] for k in cells})
    sizes = sorted({k[1] for k in cells})
    if len(lrs) < 2 and len(sizes) < 2:
        return None
    import numpy as np

    grid = np.full((len(lrs), len(sizes)), np.nan)
    for (lr, bs), t in cells.items():
        if t.energy_to_target_j is not None:
            grid[lrs.index(lr), sizes.index(bs)] = t.energy_to_target_j
    with new_figure(9.1, max(2.6, 1.5 + 0.5 * len(lrs))) as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale([v for v in grid.flat if np.isfinite(v)] or [0.0])
        ax.set_facecolor("#e5e7eb")
        image = ax.imshow(grid / scale, cmap="viridis_r", aspect="auto")
        for (lr, bs), t in cells.items():
            i, j = lrs.index(lr), sizes.index(bs)
            text = format_energy(t.energy_to_target_j) if t.energy_to_target_j is not None else (
                _pruned_text(t) if t.status == "pruned" else "not reached")  # fmt: skip
            light = t.energy_to_target_j is None or image.norm(t.energy_to_target_j / scale) < 0.45
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color="#111827" if light else "white")
        ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
        ax.set_xlabel("batch size")
        ax.set_ylabel("learning rate")
        ax.grid(False)
        fig.colorbar(image, ax=ax, label=f"energy to target ({unit})")
        ax.set_title(f"Energy to {_target(study)}: learning rate x batch size")
        return to_plot(fig, f"heatmap-{study.name}", "Energy-to-target by learning rate and batch size",
                       "Energy each setting spent until its validation accuracy first reached the target; grey cells "
                       "never reached it: finished below it, or pruned (the accuracy it had reached, and with a "
                       "forecast the energy-to-target it was heading for and how likely it was to get there).")


def _pruned_text(t: Trial) -> str:
    """A stopped setup's cell: the accuracy it had reached and, with a forecast, where it was heading."""
    decision = t.extra.get("pruned_on_forecast") or {}
    if not t.curve and str(decision.get("rule", "")).startswith("prior"):
        return "skipped:\nprior grid"
    reached = f"pruned at {100 * t.curve[-1][3]:.1f}%" if t.curve else "pruned"
    forecast = t.extra.get("forecast") or {}
    if not forecast or forecast.get("reached"):
        return reached
    median = (forecast.get("energy_j") or {}).get("median")
    heading = f"{format_energy(median)}, {100 * forecast['probability']:.0f}% likely" if median else "unlikely"
    return f"{reached}\n-> {heading}"


def _target(study: StudyData) -> str:
    return f"{100 * study.target_accuracy:.4g}% accuracy" if study.target_accuracy is not None else "target"


def spread(study: StudyData) -> Plot | None:
    """Energy-to-target of every trial that reached the target, sorted, with worst / best."""
    hits = sorted((t for t in study.trials if t.energy_to_target_j is not None), key=lambda t: t.energy_to_target_j)
    if len(hits) < 2:
        return None
    with new_figure(9.1, 1.4 + 0.3 * len(hits)) as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale([t.energy_to_target_j or 0.0 for t in hits])
        values = [(t.energy_to_target_j or 0) / scale for t in hits]
        colors = [PALETTE[2]] + [PALETTE[0]] * (len(hits) - 2) + [PALETTE[4]]
        ax.barh(range(len(hits)), values, color=colors, height=0.7)
        for y, (t, v) in enumerate(zip(hits, values, strict=True)):
            ax.annotate(f"{format_energy(t.energy_to_target_j)}  {_params_text(t)}", (v, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7.5)  # fmt: skip
        ax.set_yticks(range(len(hits)), [t.name for t in hits])
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.45)
        ratio = (hits[-1].energy_to_target_j or 0) / (hits[0].energy_to_target_j or 1)
        ax.set_xlabel(f"energy to {_target(study)} ({unit})")
        ax.set_title(f"Spread of energy-to-target: worst / best = {ratio:.2f}x")
        return to_plot(fig, f"spread-{study.name}", "Spread of energy-to-target",
                       "Energy to reach the target for every trial that reached it, best (green) to worst (red): what "
                       "a badly chosen setting costs against the best one for the same accuracy.")  # fmt: skip


def _params_text(t: Trial) -> str:
    shown = {k: v for k, v in t.params.items() if k in ("lr", "learning_rate", "batch_size", "optimizer", "eat_lambda")}
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())


def search_cost(study: StudyData) -> Plot | None:
    """Energy every trial cost the study, by how it ended: the price of the search itself."""
    if not study.trials:
        return None
    by_state: dict[str, float] = defaultdict(float)
    for t in study.trials:
        by_state[t.status] += t.spent_j
    with new_figure(9.1, 1.2 + 0.35 * len(by_state)) as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale(list(by_state.values()))
        states = sorted(by_state, key=lambda s: -by_state[s])
        counts = {s: sum(t.status == s for t in study.trials) for s in states}
        ax.barh(range(len(states)), [by_state[s] / scale for s in states],
                color=[STATE_COLORS.get(s, PALETTE[3]) for s in states], height=0.6)  # fmt: skip
        for y, s in enumerate(states):
            ax.annotate(f"{format_energy(by_state[s])} ({counts[s]} trial{'s' if counts[s] != 1 else ''})",
                        (by_state[s] / scale, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set_yticks(range(len(states)), states)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.35)
        ax.set_xlabel(f"energy ({unit})")
        ax.set_title(f"What the search cost: {format_energy(study.spent_j)} in all")
        return to_plot(fig, f"cost-{study.name}", "What the search cost",
                       "Energy of every trial of the study by how it ended: finished, pruned by the energy-aware "
                       "pruner, or failed. Pruned trials still cost energy, counted here.")  # fmt: skip


def eat_ratios(study: StudyData) -> Plot | None:
    """Accelerator energy ratio of standard training and each EAT setting, per model, with accuracy."""
    trials = [t for t in study.trials if t.extra.get("energy_ratio") is not None]
    if not trials:
        return None
    models = list(dict.fromkeys(t.extra["model"] for t in trials))
    with new_figure(9.1, 3.4, ncols=len(models)) as fig:
        for ax, model in zip(fig.axes, models, strict=False):
            group = [t for t in trials if t.extra["model"] == model]
            ratios = [t.extra["energy_ratio"] for t in group]
            colors = [PALETTE[8] if t.extra["standard"] else PALETTE[2 if t.extra.get("selected") else 0]
                      for t in group]  # fmt: skip
            ax.bar(range(len(group)), ratios, color=colors)
            for x, t in enumerate(group):
                acc = "-" if t.final_accuracy is None else f"{100 * t.final_accuracy:.1f}%"
                dec = t.extra.get("decrease_pct")
                label = f"{t.extra['energy_ratio']:.3f}\nacc {acc}" + (f"\n-{dec:.1f}%" if dec else "")
                ax.annotate(label, (x, t.extra["energy_ratio"]), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7)  # fmt: skip
            ax.set_xticks(range(len(group)), [t.extra["setting"] for t in group], rotation=20, ha="right")
            ax.set_ylim(0, 1.25)
            ax.set_ylabel("zero-skipping / dense energy")
            batch = group[0].extra.get("ratio_batch_size")
            ax.set_title(f"{model} (batch {batch})")
        if len(models) > 1:
            fig.suptitle("Accelerator energy ratio: standard training against EAT", fontweight="bold")
        else:
            fig.axes[0].set_title(f"Accelerator energy ratio, standard against EAT: {models[0]} "
                                  f"(batch {group[0].extra.get('ratio_batch_size')})")
        return to_plot(fig, f"eat-ratios-{study.name}", "Standard against EAT: accelerator energy ratio",
                       "Modelled inference energy of a zero-skipping accelerator over a dense one (lower is better) "
                       "for standard training (grey) and each EAT setting (green: the selected one), with accuracy and "
                       "the decrease against standard.")  # fmt: skip


def eat_firing_rates(study: StudyData) -> Plot | None:
    """Per-layer firing rate (nonzero fraction of each layer's output), standard against EAT."""
    trials = [t for t in study.trials if t.extra.get("layers")]
    if not trials:
        return None
    model = trials[0].extra["model"]
    group = [t for t in trials if t.extra["model"] == model]
    skip = {"Flatten", "Dropout", "Identity"}
    with new_figure(9.1, 3.6) as fig:
        ax = fig.axes[0]
        names: list[str] = []
        for i, t in enumerate(group):
            layers = [layer for layer in t.extra["layers"] if layer.get("type") not in skip]
            names = names or [f"{layer['name']} ({layer['type']})" for layer in layers]
            ax.plot(range(len(layers)), [layer.get("output_firing_rate") for layer in layers], marker="o",
                    markersize=3.5, color=PALETTE[8] if t.extra["standard"] else PALETTE[(i % 7) + 1],
                    linewidth=2 if t.extra["standard"] else 1.4, label=t.extra["setting"])  # fmt: skip
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7.5)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("firing rate (nonzero output fraction)")
        ax.legend()
        ax.set_title(f"Per-layer firing rate: {model}")
        return to_plot(fig, f"eat-firing-{study.name}", "Per-layer firing rates",
                       "Fraction of nonzero outputs of each layer on the test split: EAT's penalty lowers it where "
                       "it saves accelerator energy.")  # fmt: skip


def transfer_break_even(study: StudyData) -> Plot | None:
    """Cumulative energy of N downstream tasks, from scratch against pretrain-once-then-fine-tune.

    Reads ``study.facts``: ``pretrain_energy_j``, ``scratch_energy_to_target_j`` and
    ``finetune_energy_to_target_j`` (per downstream task). Break-even at
    N = pretrain / (scratch - finetune).
    """
    f = study.facts
    p, s, t = (f.get(k) for k in ("pretrain_energy_j", "scratch_energy_to_target_j", "finetune_energy_to_target_j"))
    if p is None or s is None or t is None:
        return None
    saving = s - t
    n_even = p / saving if saving > 0 else None
    n_max = max(3, math.ceil(1.5 * n_even) if n_even else 5)
    ns = list(range(0, n_max + 1))
    with new_figure() as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale([n_max * s, p + n_max * t])
        ax.plot(ns, [n * s / scale for n in ns], marker="o", markersize=3, label="from scratch, per task")
        ax.plot(ns, [(p + n * t) / scale for n in ns], marker="o", markersize=3, label="pretrain once, fine-tune")
        if n_even is not None:
            ax.axvline(n_even, color="#6b7280", linestyle="--", linewidth=1)
            ax.annotate(f"break-even after {n_even:.2f} tasks", (n_even, ax.get_ylim()[1] * 0.9), xytext=(4, 0),
                        textcoords="offset points", fontsize=8)  # fmt: skip
        ax.set_xlabel("downstream tasks")
        ax.set_ylabel(f"cumulative energy to target ({unit})")
        ax.legend(loc="upper left")
        title = f"after {n_even:.2f} tasks" if n_even is not None else "never (fine-tuning saves nothing)"
        ax.set_title(f"Transfer break-even: {title}")
        return to_plot(fig, f"transfer-{study.name}", "Transfer break-even",
                       "Energy to reach the target on N downstream tasks: training each from scratch against "
                       "pretraining once and fine-tuning; where the lines cross the pretraining has paid for itself.")


def hardware_comparison(trials: list[Trial]) -> Plot | None:
    """Best energy-to-target (else lowest energy) per machine, when results from several machines are merged."""
    groups: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        groups[t.hardware].append(t)
    if len(groups) < 2:
        return None
    rows = []
    for hw, group in groups.items():
        hits = [t.energy_to_target_j for t in group if t.energy_to_target_j is not None]
        energies = [t.energy_j for t in group if t.energy_j is not None]
        rows.append((hw, min(hits) if hits else None, min(energies) if energies else None, len(group)))
    with new_figure(9.1, 1.4 + 0.45 * len(rows)) as fig:
        ax = fig.axes[0]
        values = [r[1] if r[1] is not None else (r[2] or 0.0) for r in rows]
        scale, unit = _energy_scale(values)
        ax.barh(range(len(rows)), [v / scale for v in values], height=0.6,
                color=[PALETTE[i % len(PALETTE)] for i in range(len(rows))])  # fmt: skip
        for y, (row, v) in enumerate(zip(rows, values, strict=True)):
            what = "best energy to target" if row[1] is not None else "lowest energy (target not reached)"
            ax.annotate(f"{format_energy(v)}: {what}, {row[3]} result(s)", (v / scale, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=8)  # fmt: skip
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.6)
        ax.set_xlabel(f"energy ({unit})")
        ax.set_title("Hardware comparison")
        return to_plot(fig, "hardware", "Hardware comparison",
                       "The same kind of job on each machine the merged results came from: the best energy to the "
                       "target accuracy (else the lowest energy), with how many results each machine gave.")
