"""Forecast and trade-off plots: each epoch's forecast against what happened; EAT's accuracy against energy ratio."""

from __future__ import annotations

import math
from typing import Any

from powertrain.report._figure import PALETTE, Plot, new_figure, to_plot
from powertrain.report._model import RunData, StudyData
from powertrain.report._plots_runs import _energy_scale, format_energy

__all__ = ["eat_tradeoff", "forecast_vs_actual"]

MAX_RUNS = 4


def forecast_vs_actual(runs: list[RunData]) -> Plot | None:
    """Per run: the energy-to-target forecast after each epoch (median, 80 % interval) and the measured value."""
    shown = [r for r in runs if [f for f in r.summary.get("forecasts") or [] if not f.get("reached")]][:MAX_RUNS]
    if not shown:
        return None
    with new_figure(9.1, 3.2, ncols=len(shown)) as fig:
        for ax, (i, run) in zip(fig.axes, enumerate(shown), strict=False):
            made = [f for f in run.summary["forecasts"] if "energy_j" in f and not f["reached"]]
            measured = run.summary.get("energy_to_target_j")
            values = [v for f in made for v in (f["energy_j"]["median"], f["energy_j"]["low"]) if v is not None]
            scale, unit = _energy_scale(values + ([measured] if measured else []) or [1.0])
            top = max(values + ([measured] if measured else [])) / scale * 1.25 if values else 1.0
            for f in made:
                e, mid = f["epochs_seen"], f["energy_j"]["median"]
                low, high = f["energy_j"]["low"], f["energy_j"]["high"]
                if low is None:  # not even the low end is within the planned epochs
                    ax.plot([e], [top], marker="x", color="#6b7280")
                    ax.annotate(f"{100 * f['probability']:.0f}%", (e, top), xytext=(0, 4), textcoords="offset points",
                                ha="center", fontsize=7.5, color="#6b7280")  # fmt: skip
                    continue
                high_v = top if high is None else high / scale
                mid_v = mid / scale if mid is not None and math.isfinite(mid) else None
                ax.vlines(e, low / scale, high_v, color=PALETTE[i % len(PALETTE)], linewidth=5, alpha=0.35)
                if mid_v is not None:
                    ax.plot([e], [mid_v], marker="o", color=PALETTE[i % len(PALETTE)])
                ax.annotate(f"{100 * f['probability']:.0f}%", (e, high_v), xytext=(0, 3), textcoords="offset points",
                            ha="center", fontsize=7.5, color="#374151")  # fmt: skip
            if measured:
                ax.axhline(measured / scale, color="#111827", linestyle="--", linewidth=1)
                ax.annotate(f"measured {format_energy(measured)}", (ax.get_xlim()[0], measured / scale),
                            xytext=(3, 3), textcoords="offset points", fontsize=7.5)  # fmt: skip
            ax.set_ylim(0, top * 1.1)
            planned = max(int(f.get("planned_epochs") or 1) for f in made)
            ax.set_xlim(0.5, planned + 0.5)
            ax.set_xticks(range(1, planned + 1))
            ax.axhspan(top * 0.97, top * 1.1, color="#f3f4f6", zorder=0)  # the band for "beyond the planned epochs"
            ax.set_xlabel("forecast made after epoch")
            ax.set_ylabel(f"energy to target ({unit})")
            ax.set_title(f"{run.name}: {'reached' if measured else 'not reached'}", fontsize=9)
        return to_plot(fig, "forecast_vs_actual", "Forecast after each epoch against what happened",
                       "After every epoch, the forecast energy-to-target (dot: median if it gets there; bar: 80 % "
                       "interval, up into the grey band when it may not get there within the planned epochs; x: not "
                       "even 10 % likely; the label: the probability it does) against the energy it then measured to "
                       "the target (dashed line).")


def eat_tradeoff(study: StudyData) -> Plot | None:
    """EAT's trade-off: final accuracy against the accelerator energy ratio, with the non-dominated settings joined."""
    points = [t for t in study.trials if t.extra.get("energy_ratio") is not None and t.final_accuracy is not None]
    if len(points) < 2:
        return None

    def beats(a: Any, b: Any) -> bool:
        ra, rb = a.extra["energy_ratio"], b.extra["energy_ratio"]
        return ra <= rb and a.final_accuracy >= b.final_accuracy and (ra, a.final_accuracy) != (rb, b.final_accuracy)

    front = sorted((t for t in points if not any(beats(o, t) for o in points)), key=lambda t: t.extra["energy_ratio"])
    with new_figure() as fig:
        ax = fig.axes[0]
        for t in points:
            color = PALETTE[2] if t.extra.get("standard") else PALETTE[0]
            ax.scatter([t.extra["energy_ratio"]], [100 * t.final_accuracy], s=30, color=color, zorder=3)
            ax.annotate(t.name, (t.extra["energy_ratio"], 100 * t.final_accuracy), xytext=(4, -9),
                        textcoords="offset points", fontsize=7.5, color="#374151")  # fmt: skip
        ax.plot([t.extra["energy_ratio"] for t in front], [100 * t.final_accuracy for t in front], color="#111827",
                linewidth=1.2, drawstyle="steps-post", zorder=2, label="Pareto front")  # fmt: skip
        ax.set_xlabel("accelerator energy ratio (zero-skipping / dense; lower is cheaper)")
        ax.set_ylabel("final validation accuracy (%)")
        ax.legend(loc="best")
        ax.set_title(f"EAT's trade-off: accuracy against accelerator energy ratio: {study.name}")
        return to_plot(fig, f"eat-tradeoff-{study.name}", "Accuracy against accelerator energy ratio",
                       "Each setting's final accuracy against its modelled accelerator energy ratio (green: standard "
                       "training); the line joins the settings no other beats on both. This is EAT's trade-off: "
                       "inference energy on a zero-skipping accelerator, not the energy training cost.")
