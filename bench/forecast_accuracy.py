"""How accurate are powertrain's energy-to-target forecasts on recorded runs? (issue 21's goal table)

For every recorded run (a full sweep's trials, or a CSV trace's runs) and every epoch ``k`` before the run reached
its target or ended, the forecast made from its first ``k`` epochs is compared with what the run then did:

- **relative error** of the median energy-to-target after epoch 1 (runs that reached the target after epoch 1) and
  after epoch 2 (runs that reached it after epoch 2): ``|forecast - measured| / measured``; a forecast of "not within
  the planned epochs" for a run that did reach it counts as an infinite error;
- **coverage**: the share of all forecasts whose 80 % interval holds the measured energy-to-target ("not within the
  planned epochs" included: an interval reaching beyond the plan holds a run that never reached the target);
- the **Brier score** of the probability of reaching the target within the planned epochs.

Variants, side by side on the same runs: ``ensemble`` (the model powertrain ships), ``pow only`` (one curve family,
to show whether the ensemble earns its place) and ``last gain`` (the accuracy rises by its last gain every epoch,
energy as carbontracker's mean epoch energy; from epoch 2 on). No training runs.

Example:
    python bench/forecast_accuracy.py studies/lr-batch-grid-s0 studies/lr-batch-grid-long-s0 ... \
        --out bench/results/forecast-accuracy-cpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from powertrain.forecast import CurvePrior, Interval, forecast
from powertrain.hardware import describe_hardware
from powertrain.study.replay import Run, read_trace

Forecaster = Callable[[Sequence[float], Sequence[float], float, int], Any]


def ensemble(prior: CurvePrior | None = None) -> Forecaster:
    """The shipped model (optionally with another prior)."""

    def run(acc: Sequence[float], cum_j: Sequence[float], target: float, planned: int) -> Any:
        return forecast(acc, cum_j, target_accuracy=target, planned_epochs=planned, curve_prior=prior)

    return run


def last_gain(acc: Sequence[float], cum_j: Sequence[float], target: float, planned: int) -> Any:
    """Linear extrapolation of the last gain in accuracy; energy per epoch = the mean so far (no interval)."""
    if len(acc) < 2:
        return None
    gain, per_epoch = acc[-1] - acc[-2], cum_j[-1] / len(cum_j)
    for epoch in range(len(acc) + 1, planned + 1):
        if acc[-1] + gain * (epoch - len(acc)) >= target:
            value = cum_j[-1] + per_epoch * (epoch - len(acc))
            return _Point(Interval.exact(value), 1.0)
    return _Point(Interval.exact(math.inf), 0.0)


class _Point:
    def __init__(self, energy: Interval, probability: float) -> None:
        self.energy_j, self.probability = energy, probability


def cases(run: Run, target: float, planned: int) -> list[tuple[int, float]]:
    """``(k, measured energy-to-target or inf)`` for every epoch k a forecast is made after."""
    measured = run.energy_to_target_j(target)
    last = len(run.accuracy)
    reached_at = next((i + 1 for i, a in enumerate(run.accuracy) if a >= target), None)
    stop = (reached_at - 1) if reached_at else min(last, planned) - 1
    return [(k, measured if measured is not None else math.inf) for k in range(1, stop + 1)]


def evaluate(runs: list[tuple[Run, float, int]], forecaster: Forecaster) -> dict[str, Any]:
    """The goal figures of one forecaster over ``(run, target, planned epochs)``."""
    err = {1: [], 2: []}
    covered, brier = [], []
    for run, target, planned in runs:
        cum = run.cumulative_j
        for k, truth in cases(run, target, planned):
            f = forecaster(run.accuracy[:k], cum[:k], target, planned)
            if f is None:
                continue
            if k in err and math.isfinite(truth):
                err[k].append(abs(f.energy_j.median - truth) / truth if math.isfinite(f.energy_j.median) else math.inf)
            covered.append(f.energy_j.low <= truth <= f.energy_j.high)
            brier.append((f.probability - float(math.isfinite(truth))) ** 2)

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    return {
        "after_epoch_1": {"median_relative_error": median(err[1]), "n": len(err[1])},
        "after_epoch_2": {"median_relative_error": median(err[2]), "n": len(err[2])},
        "coverage_80": {"share": float(np.mean(covered)) if covered else None, "n": len(covered)},
        "brier": float(np.mean(brier)) if brier else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="sweeps' folders or CSV traces (several seeds: several paths); "
                        "PATH@ACC gives that path its own target")  # fmt: skip
    parser.add_argument("--target", type=float, help="target accuracy (default: each study's own)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    runs, sources = [], []
    for given in args.paths:
        path, _, own = given.partition("@")
        trace = read_trace(path, unfinished=True)  # a sweep still running: its finished runs
        target = float(own) if own else args.target if args.target is not None else trace.target_accuracy
        if target is None:
            raise SystemExit(f"{path}: give --target")
        runs += [(r, target, trace.planned_epochs) for r in trace.runs]
        sources.append({"path": path, "runs": len(trace.runs), "target": target, "planned_epochs": trace.planned_epochs,
                        "hardware": trace.hardware})  # fmt: skip
    variants = {
        "ensemble": ensemble(),
        "pow only": ensemble(CurvePrior(families={"pow": 1.0})),
        "last gain": last_gain,
    }
    rows = {name: evaluate(runs, f) for name, f in variants.items()}
    table = Table(title=f"energy-to-target forecasts on {len(runs)} recorded runs ({len(args.paths)} traces)")
    columns = ("model", "after epoch 1: median rel. error (n)", "after epoch 2 (n)", "80 % intervals hold it", "Brier")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")

    def pct(v: float | None) -> str:
        return "-" if v is None else ("inf" if not math.isfinite(v) else f"{v:.0%}")

    for name, r in rows.items():
        table.add_row(
            name, f"{pct(r['after_epoch_1']['median_relative_error'])} ({r['after_epoch_1']['n']})",
            f"{pct(r['after_epoch_2']['median_relative_error'])} ({r['after_epoch_2']['n']})",
            f"{pct(r['coverage_80']['share'])} ({r['coverage_80']['n']})",
            "-" if r["brier"] is None else f"{r['brier']:.3f}",
        )  # fmt: skip
    Console().print(table)
    if args.out:
        report = {"bench": "forecast_accuracy", "sources": sources, "variants": rows}
        report["replayed_on"] = describe_hardware()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
