"""Forecast pruning on recorded full grids, held out where a prior is involved (issue 21's pruning goal).

For every grid of every group (e.g. the three seeds of ``lr-batch-grid.yaml``, the three of ``-long``), replayed over
``--orders`` orders one setup after another and in breadth-first rounds of one epoch, with the real pruner classes:

- ``none``, ``energy``, ``sm2``: the baselines;
- ``forecast:calibrated=0``: the forecast rule reading its risk on the draws (before the calibration);
- ``forecast``: the shipped rule (risk 0.1 through the calibrated tails, ``powertrain.forecast.TAIL_SCALE``), and
  ``forecast:against=forecast`` (also against the other running setups' forecasts: rounds spent on the setups still in
  reach of the best);
- ``forecast:prior=OTHER``: the shipped rule with a prior from **another seed's** grid of the same group (each other
  grid once), its spread ``prior_sd`` measured on the **other** groups (so no figure uses the grid it is reported on,
  neither as prior nor for the spread).

Also re-derives ``powertrain.study.forecast_prior.PRIOR_SD``: per group, the spread of one setup's log
energy-to-target between two seeds (every ordered pair of grids, setups that reached the target in both). Per rule:
median spend (share of the same draw's full grid), its 10th-90th percentiles, same best (share of the orders), how
much worse its pick was when it missed, and where its energy went. No training runs.

Example:
    python bench/forecast_pruning.py --orders 1000 \
        --group short=studies/lr-batch-grid-s0,studies/lr-batch-grid-t1,studies/lr-batch-grid-t2 \
        --group long=studies/lr-batch-grid-long-s0,studies/lr-batch-grid-long-t1,studies/lr-batch-grid-long-t2 \
        --out bench/results/forecast-pruning-cpu.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from powertrain._files import json_safe
from powertrain.hardware import describe_hardware
from powertrain.study.forecast_prior import PRIOR_SD
from powertrain.study.replay import parse_rule, read_trace, replay

BASELINES = ("none", "energy", "sm2", "forecast:calibrated=0", "forecast", "forecast:against=forecast")


def spread(paths: list[str]) -> dict[str, Any]:
    """Log standard deviation of a setup's energy-to-target between two grids (every ordered pair)."""
    tables = []
    for path in paths:
        trace = read_trace(path)
        tables.append({r.setup: r.energy_to_target_j(trace.target_accuracy) for r in trace.runs})
    diffs = [math.log(b[s] / a[s]) for a, b in itertools.permutations(tables, 2) for s in a if a[s] and b.get(s)]
    sd = math.sqrt(sum(d * d for d in diffs) / len(diffs)) if diffs else None
    return {"sd": sd, "pairs": len(diffs)}


def short_label(label: str) -> str:
    """A rule's label with a prior's path shortened to its folder name."""
    name, _, options = label.partition(":")
    parts = [p if not p.startswith("prior=") else "prior=" + Path(p[6:]).name for p in options.split(",") if p]
    return name + (":" + ",".join(parts) if parts else "")


def run_grid(path: str, group: list[str], sd: float, orders: int) -> list[dict[str, Any]]:
    """Every rule on one grid, both modes."""
    priors = [f"forecast:prior={other},prior_sd={sd:.3f}" for other in group if other != path]
    rules = [parse_rule(r) for r in (*BASELINES, *priors)]
    trace = read_trace(path)
    out = []
    for rounds in (None, 1):
        started = time.perf_counter()
        result = replay(trace, rules, round_epochs=rounds, orders=orders).to_dict()
        out.append({"path": path, "round_epochs": rounds, "replay_s": time.perf_counter() - started,
                    "total_j": result["total_j"], "best_setup": result["best_setup"],
                    "safe_floor": result["safe_floor"]["share"],
                    "rules": {short_label(k): v for k, v in result["rules"].items()}})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", required=True, help="NAME=PATH,PATH,... (two or more groups)")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    groups = {name: [p for p in paths.split(",") if p] for name, _, paths in (g.partition("=") for g in args.group)}
    spreads = {name: spread(paths) for name, paths in groups.items()}
    console = Console()
    measured = ", ".join(f"{n} {s['sd']:.3f} (n = {s['pairs']})" for n, s in spreads.items())
    console.print(f"between-seed spread of log energy-to-target (shipped PRIOR_SD {PRIOR_SD}): {measured}",
                  highlight=False)  # fmt: skip
    results = []
    for name, paths in groups.items():
        others = [s["sd"] for n, s in spreads.items() if n != name and s["sd"]]
        sd = statistics.fmean(others) if others else PRIOR_SD  # held out: measured on the other groups
        for path in paths:
            results += run_grid(path, paths, sd, args.orders)
    table = Table(title=f"forecast pruning, {args.orders} orders per grid (share of the full grid, median)")
    for column in ("grid", "rounds", "floor", "rule", "spend (p10-p90)", "same best", "worse by (max)",
                   "best / others' 1st epochs / later"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("grid", "rule") else "right")
    for r in results:
        for label, v in r["rules"].items():
            on = v["spent_on"]
            table.add_row(
                Path(r["path"]).name, "1" if r["round_epochs"] else "-", f"{r['safe_floor']:.0%}", label,
                f"{v['share']:.0%} ({v['share_p10']:.0%}-{v['share_p90']:.0%})", f"{v['same_best_share']:.0%}",
                "-" if not v["worse_by_max"] else f"{v['worse_by_max']:.0%}",
                f"{on['best_setup']:.0%} / {on['first_epochs_of_others']:.0%} / {on['later_epochs_of_others']:.0%}",
            )  # fmt: skip
    console.print(table)
    if args.out:
        report = {"bench": "forecast_pruning", "orders": args.orders, "groups": groups, "spreads": spreads,
                  "shipped_prior_sd": PRIOR_SD, "results": results, "replayed_on": describe_hardware()}  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(json_safe(report), indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
