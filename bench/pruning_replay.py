"""What each pruning rule would have spent on measured full grids, one setup after another and in breadth-first rounds.

A thin user of :mod:`powertrain.study.replay` (CLI: ``powertrain sweep replay``): for each study folder or CSV trace it
replays every rule (none, the energy pruner, SM2, the forecast pruner) over ``--orders`` random orders, once one setup
after another and once in breadth-first rounds of one epoch, and writes both to one JSON file. No training runs.

Example:
    python bench/pruning_replay.py studies/lr-batch-grid --orders 1000 \
        --out bench/results/pruning-replay-lr-batch-grid-cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console

from powertrain._files import json_safe
from powertrain.cli._replay_view import print_replay
from powertrain.hardware import describe_hardware
from powertrain.study.replay import parse_rule, read_trace, replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="full sweeps' folders (or storage URLs) or CSV traces")
    parser.add_argument("--orders", type=int, default=1000, help="random orders to replay")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, help="target accuracy (default: the study's)")
    parser.add_argument("--rule", action="append", help="rules (default: none, energy, sm2, forecast)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    rules = [parse_rule(r) for r in args.rule or ("none", "energy", "sm2", "forecast")]
    console = Console()
    report = {"bench": "pruning_replay", "settings": vars(args), "replayed_on": describe_hardware(), "results": []}
    for path in args.paths:
        trace = read_trace(path)
        for rounds in (None, 1):
            started = time.perf_counter()
            result = replay(trace, rules, target_accuracy=args.target, round_epochs=rounds, orders=args.orders,
                            seed=args.seed)  # fmt: skip
            seconds = time.perf_counter() - started
            print_replay(result, console)
            console.print(f"replayed in {seconds:.2f} s", highlight=False)
            report["results"].append({**result.to_dict(), "replay_s": seconds})
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(json_safe(report), indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
