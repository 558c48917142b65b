"""Re-derive the forecast intervals' calibration (``powertrain.forecast.TAIL_SCALE``) held out, and measure it.

The forecast's draws spread wider than recorded runs turn out: uncalibrated, their central 80 % held the measured
energy-to-target in 96-98 % of the forecasts of the recorded grids (docs/forecast.md). The calibration narrows every
interval to the draws' central ``1 - (1 - level) x scale``. This script chooses the scale on one group of grids and
measures it on the others, never on the grids it was chosen on:

- every recorded run of every grid is forecast after each epoch before it reached its target (or ended), as
  ``bench/forecast_accuracy.py`` does, once (the draws do not depend on the scale);
- for each scale on a grid (1 to 4 by 0.25), the share of the forecasts whose 80 % interval holds the measured
  energy-to-target ("not within the planned epochs" included: an interval reaching beyond the plan holds a run that
  never reached the target);
- per fold (one group fitted, the others measured) the scale whose coverage on the fitted group is closest to 80 %
  (the smaller one on a tie), and its coverage on the held-out groups, all forecasts and those of runs that reached
  the target (finite truth), and per epochs seen.

No training runs. Example (the shipped constant's derivation):

    python bench/forecast_calibration.py \
        --group short=studies/lr-batch-grid-s0,studies/lr-batch-grid-t1,studies/lr-batch-grid-t2 \
        --group long=studies/lr-batch-grid-long-s0,studies/lr-batch-grid-long-t1,studies/lr-batch-grid-long-t2 \
        --out bench/results/forecast-calibration-cpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from forecast_accuracy import cases
from powertrain.forecast import TAIL_SCALE, Interval, forecast
from powertrain.hardware import describe_hardware
from powertrain.study.replay import read_trace

SCALES = tuple(1.0 + 0.25 * i for i in range(13))
Case = tuple[int, float, np.ndarray]  # epochs seen, measured energy-to-target (inf: never), the forecast's draws


def forecasts(paths: list[str]) -> list[Case]:
    """Every (run, epochs seen) forecast of the grids in ``paths``, with the measured outcome."""
    out = []
    for path in paths:
        trace = read_trace(path)
        target, planned = trace.target_accuracy, trace.planned_epochs
        if target is None:
            raise SystemExit(f"{path}: a study folder with a target accuracy is needed")
        for run in trace.runs:
            cum = run.cumulative_j
            for k, truth in cases(run, target, planned):
                f = forecast(run.accuracy[:k], cum[:k], target_accuracy=target, planned_epochs=planned)
                out.append((k, truth, f.energy_samples_j))
    return out


def coverage(data: list[Case], scale: float, *, finite_only: bool = False) -> float | None:
    """Share of the forecasts whose calibrated 80 % interval holds the outcome."""
    held = []
    for _, truth, draws in data:
        if finite_only and not math.isfinite(truth):
            continue
        iv = Interval.of(draws, 0.8, tail_scale=scale)
        held.append(iv.low <= truth <= iv.high)
    return float(np.mean(held)) if held else None


def by_epochs_seen(data: list[Case], scale: float) -> dict[int, dict[str, Any]]:
    """Coverage per epochs seen (``n`` forecasts each)."""
    seen = sorted({k for k, _, _ in data})
    return {k: {"n": sum(1 for c in data if c[0] == k), "share": coverage([c for c in data if c[0] == k], scale)}
            for k in seen}  # fmt: skip


def choose(data: list[Case]) -> float:
    """The scale whose coverage on ``data`` is closest to 80 % (the smaller on a tie)."""
    return min(SCALES, key=lambda s: (abs((coverage(data, s) or 0.0) - 0.8), s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", required=True, help="NAME=PATH,PATH,... (two or more groups)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    groups = {}
    for given in args.group:
        name, _, paths = given.partition("=")
        groups[name] = forecasts([p for p in paths.split(",") if p])
    if len(groups) < 2:
        raise SystemExit("give two or more --group NAME=PATH,... (one is fitted, the others held out)")
    folds = []
    for fit, fit_data in groups.items():
        scale = choose(fit_data)
        held = [c for name, data in groups.items() if name != fit for c in data]
        folds.append({
            "fitted_on": fit, "scale": scale, "fitted_coverage": coverage(fit_data, scale),
            "held_out": [n for n in groups if n != fit], "held_out_n": len(held),
            "held_out_coverage": coverage(held, scale),
            "held_out_coverage_reached": coverage(held, scale, finite_only=True),
            "held_out_by_epochs_seen": by_epochs_seen(held, scale),
            "held_out_uncalibrated": coverage(held, 1.0),
        })  # fmt: skip
    table = Table(title=f"80 % intervals, calibrated held out (shipped TAIL_SCALE = {TAIL_SCALE:g})")
    for column in ("fitted on", "scale", "coverage there", "held out", "n", "coverage held out",
                   "runs that reached", "uncalibrated"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("fitted on", "held out") else "right")
    for f in folds:
        table.add_row(
            f["fitted_on"], f"{f['scale']:g}", f"{f['fitted_coverage']:.0%}", ", ".join(f["held_out"]),
            str(f["held_out_n"]), f"{f['held_out_coverage']:.0%}", f"{f['held_out_coverage_reached']:.0%}",
            f"{f['held_out_uncalibrated']:.0%}",
        )  # fmt: skip
    Console().print(table)
    curve = {name: {f"{s:g}": coverage(data, s) for s in SCALES} for name, data in groups.items()}
    if args.out:
        report = {"bench": "forecast_calibration", "groups": {g: a for g, a in (x.split("=", 1) for x in args.group)},
                  "folds": folds, "coverage_by_scale": curve, "shipped_tail_scale": TAIL_SCALE,
                  "replayed_on": describe_hardware()}  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
