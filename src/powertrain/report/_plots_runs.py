"""Plots of runs: power over time, energy per epoch, accuracy against cumulative energy, and CO2e side by side."""

from __future__ import annotations

import math
from typing import Any

from powertrain.report._figure import PALETTE, Plot, new_figure, to_plot
from powertrain.report._model import Curve, RunData

__all__ = ["accuracy_vs_energy", "carbon_bars", "energy_per_epoch", "format_energy", "format_mass", "power_over_time"]

MAX_RUNS = 8


def format_energy(joules: float | None) -> str:
    """Joules with a readable unit (J, kJ, MJ; kWh from 0.1 kWh up)."""
    if joules is None or not math.isfinite(joules):
        return "-"
    if joules >= 3.6e5:
        return f"{joules / 3.6e6:.3g} kWh"
    if joules >= 1e6:
        return f"{joules / 1e6:.3g} MJ"
    if joules >= 1e3:
        return f"{joules / 1e3:.3g} kJ"
    return f"{joules:.3g} J"


def format_mass(kg: float | None) -> str:
    """kgCO2e with a readable unit (kg, g, mg, µg)."""
    if kg is None or not math.isfinite(kg):
        return "-"
    for factor, unit in ((1.0, "kg"), (1e-3, "g"), (1e-6, "mg")):
        if abs(kg) >= factor:
            return f"{kg / factor:.3g} {unit}"
    return f"{kg / 1e-9:.3g} µg"


def _energy_scale(values: list[float]) -> tuple[float, str]:
    top = max((v for v in values if math.isfinite(v)), default=0.0)
    if top >= 3.6e5:
        return 3.6e6, "kWh"
    if top >= 1e4:
        return 1e3, "kJ"
    return 1.0, "J"


def _legend(fig: Any, ax: Any, entries: int) -> None:
    """A legend inside the axes for a few entries, beside them (outside the plot area) for more."""
    if entries <= 2:
        ax.legend(loc="best")
    else:
        fig.legend(loc="outside right upper")


def power_over_time(runs: list[RunData]) -> Plot | None:
    """Average power of every training and evaluation phase against elapsed time (from ``metrics.csv``)."""
    runs = [r for r in runs if r.epochs][:MAX_RUNS]
    if not runs:
        return None
    with new_figure() as fig:
        ax = fig.axes[0]
        for i, run in enumerate(runs):
            times, powers = [0.0], []
            t = 0.0
            for e in run.epochs:
                phases = ((e["train_energy_j"], e["train_time_s"]), (e["eval_energy_j"], e["eval_time_s"]))
                for energy, duration in phases:
                    if duration and math.isfinite(duration) and duration > 0:
                        t += duration
                        times.append(t)
                        powers.append(energy / duration)
            if not powers:
                continue
            label = run.name + (" (estimated)" if run.estimated else "")
            ax.stairs(powers, times, color=PALETTE[i % len(PALETTE)], linewidth=1.6, label=label, baseline=None)
        ax.set_xlabel("elapsed time (s)")
        ax.set_ylabel("average power (W)")
        ax.set_ylim(bottom=0)
        _legend(fig, ax, len(runs))
        ax.set_title("Power over time")
        return to_plot(fig, "power", "Power over time",
                       "Average power of each training and evaluation phase of every epoch (energy / duration, from "
                       "metrics.csv), so phases of different cost show as steps.")  # fmt: skip


def energy_per_epoch(runs: list[RunData]) -> Plot | None:
    """Training and evaluation energy of each epoch, stacked, one group of bars per run."""
    runs = [r for r in runs if r.epochs][:MAX_RUNS]
    if not runs:
        return None
    with new_figure() as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale([e["train_energy_j"] + e["eval_energy_j"] for r in runs for e in r.epochs])
        width = 0.8 / len(runs)
        for i, run in enumerate(runs):
            xs = [e["epoch"] + (i - (len(runs) - 1) / 2) * width for e in run.epochs]
            train = [e["train_energy_j"] / scale for e in run.epochs]
            evals = [e["eval_energy_j"] / scale for e in run.epochs]
            color = PALETTE[i % len(PALETTE)]
            ax.bar(xs, train, width * 0.92, color=color, label=f"{run.name}: training")
            ax.bar(xs, evals, width * 0.92, bottom=train, color=color, alpha=0.4, label=f"{run.name}: evaluation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"energy ({unit})")
        ax.set_xticks(sorted({int(e["epoch"]) for r in runs for e in r.epochs}))
        _legend(fig, ax, 2 * len(runs))
        ax.set_title("Energy per epoch")
        return to_plot(fig, "energy_per_epoch", "Energy per epoch",
                       "Measured (or estimated) energy of each epoch's training phase (solid) and evaluation on the "
                       "test split (light), stacked.")  # fmt: skip


def accuracy_vs_energy(
    curves: list[tuple[str, Curve]], *, target: float | None, key: str = "accuracy_energy", highlight: str | None = None
) -> Plot | None:
    """Validation accuracy after each epoch against the energy spent so far, one line per run or trial."""
    curves = [(name, c) for name, c in curves if c]
    if not curves:
        return None
    many = len(curves) > MAX_RUNS
    with new_figure() as fig:
        ax = fig.axes[0]
        scale, unit = _energy_scale([p[1] for _, c in curves for p in c])
        for i, (name, curve) in enumerate(curves):
            xs = [p[1] / scale for p in curve]
            ys = [100 * p[3] for p in curve]
            strong = not many or name == highlight
            ax.plot(xs, ys, marker="o", markersize=3.5 if strong else 2, linewidth=1.8 if strong else 0.9,
                    alpha=1.0 if strong else 0.45, color=PALETTE[i % len(PALETTE)],
                    label=name if (not many or name == highlight) else None)  # fmt: skip
        if target is not None:
            ax.axhline(100 * target, color="#6b7280", linestyle="--", linewidth=1)
            ax.annotate(f"target {100 * target:.4g}%", (ax.get_xlim()[0], 100 * target), xytext=(4, 3),
                        textcoords="offset points", ha="left", va="bottom", fontsize=8, color="#4b5563")  # fmt: skip
        ax.set_xlabel(f"cumulative energy ({unit})")
        ax.set_ylabel("validation accuracy (%)")
        if ax.get_legend_handles_labels()[0]:
            _legend(fig, ax, len(curves))
        ax.set_title("Accuracy against cumulative energy")
        return to_plot(fig, key, "Accuracy against cumulative energy",
                       "Validation accuracy after every epoch against the energy spent up to that epoch; where a "
                       "curve first crosses the target line is its energy-to-target.")  # fmt: skip


def carbon_bars(groups: list[tuple[str, dict[str, Any]]]) -> Plot | None:
    """Operational and embodied CO2e of each group (runs, or one study), side by side, never stacked."""
    groups = [(label, t) for label, t in groups if t["count"]]
    if not groups:
        return None
    with new_figure(9.1, 3.0 + 0.1 * len(groups)) as fig:
        ax = fig.axes[0]
        values = [v for _, t in groups for v in (t["operational_kg_co2e"], t["embodied_kg_co2e"])]
        factor, unit = next(((f, u) for f, u in ((1.0, "kg"), (1e-3, "g"), (1e-6, "mg")) if max(values) >= f),
                            (1e-9, "µg"))  # fmt: skip
        ys = range(len(groups))
        op = [t["operational_kg_co2e"] / factor for _, t in groups]
        em = [t["embodied_kg_co2e"] / factor for _, t in groups]
        ax.barh([y + 0.2 for y in ys], op, 0.38, color=PALETTE[0], label="operational (energy x PUE x grid)")
        ax.barh([y - 0.2 for y in ys], em, 0.38, color=PALETTE[1], label="embodied (hardware share)")
        positive = [v for v in op + em if v > 0]
        if positive and max(positive) / min(positive) > 200:
            ax.set_xscale("log")
        for y, o, e in zip(ys, op, em, strict=True):
            ax.annotate(format_mass(o * factor), (o, y + 0.2), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)  # fmt: skip
            ax.annotate(format_mass(e * factor), (e, y - 0.2), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)  # fmt: skip
        ax.set_yticks(list(ys), [label for label, _ in groups])
        ax.invert_yaxis()
        ax.set_xlabel(f"kgCO2e, shown in {unit}" + (" (log scale)" if ax.get_xscale() == "log" else ""))
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.18)
        ax.legend(loc="lower right")
        ax.set_title("Operational and embodied CO2e")
        return to_plot(fig, "carbon", "Operational and embodied CO2e",
                       "Operational emissions of the measured energy and the share of the hardware's manufacturing "
                       "emissions used by the same run time. Two separate figures: neither includes the other.",
                       )  # fmt: skip
