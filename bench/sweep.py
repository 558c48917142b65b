"""The sweep engine's own cost per trial (storage calls, bookkeeping) against a trial's training time.

Examples:
    # these 2-core machines: 8 tiny trials on SQLite and on a throwaway PostgreSQL server (Debian's postgresql)
    python bench/sweep.py --trials 8 --postgres auto --out bench/results/sweep-cpu.json
    # a realistic trial: LeNet-5 on Fashion-MNIST, one epoch each
    python bench/sweep.py --dataset fashion-mnist --model lenet5 --image-size 28 --epochs 1 --trials 4

Each storage runs the same grid sweep (``sweep()``, ``seed`` as the grid axis so every trial trains the same work)
with ``powertrain.train`` timed inside it. Overhead per trial = (sweep wall time - time inside ``train``) / trials:
opening the study, planning the grid, claiming, heartbeats, per-epoch user attributes, telling, and reading the
results back. Reported: training seconds per trial, overhead seconds per trial, and overhead / training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from powertrain.hardware import describe_hardware
from powertrain.study import SearchSpace, SweepConfig, _trial, sweep
from powertrain.training import TrainConfig


def run(storage: str | None, args: argparse.Namespace, folder: Path, name: str) -> dict[str, Any]:
    """One sweep of ``args.trials`` trials on ``storage``; returns its timings."""
    base = TrainConfig(
        dataset=args.dataset, model=args.model, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
        image_size=args.image_size, channels=args.channels, estimate_batch_size=0, target_accuracy=0.99,
        dataset_options={"num_classes": 4, "train_size": 512, "test_size": 128} if args.dataset == "synthetic" else {},
    )  # fmt: skip
    config = SweepConfig(
        train=base,
        space=SearchSpace.parse({"seed": list(range(args.trials))}),
        objective=["energy"],
        study=name,
        out=str(folder / name),
        storage=storage,
    )
    inside: list[float] = []
    real_train = _trial.train

    def timed_train(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return real_train(*a, **kw)
        finally:
            inside.append(time.perf_counter() - start)

    _trial.train = timed_train  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        result = sweep(config)
        wall = time.perf_counter() - start
    finally:
        _trial.train = real_train  # type: ignore[assignment]
    assert result.counts == {"complete": args.trials}, result.counts
    train_s = sum(inside)
    return {
        "storage": "postgresql" if storage else "sqlite",
        "trials": args.trials,
        "wall_s": wall,
        "train_s_per_trial": statistics.mean(inside),
        "overhead_s_per_trial": (wall - train_s) / args.trials,
        "overhead_ratio": (wall - train_s) / train_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL, or `auto` for a throwaway local server")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args()

    server = None
    postgres = args.postgres
    if postgres == "auto":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.postgres import PostgresServer

        server = PostgresServer().start()
        postgres = server.url
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run(None, args, Path(tmp), "bench-sqlite"))
            if postgres:
                rows.append(run(postgres, args, Path(tmp), f"bench-pg-{int(time.time())}"))
    finally:
        if server is not None:
            server.stop()

    what = f"{args.trials} trials of {args.model} on {args.dataset}, {args.epochs} epochs"
    table = Table(title=f"sweep engine overhead: {what}")
    for column in ("storage", "training s/trial", "engine overhead s/trial", "overhead / training"):
        table.add_column(column, justify="left" if column == "storage" else "right")
    for row in rows:
        table.add_row(row["storage"], f"{row['train_s_per_trial']:.2f}", f"{row['overhead_s_per_trial']:.3f}",
                      f"{100 * row['overhead_ratio']:.1f}%")  # fmt: skip
    Console().print(table)
    payload = {"benchmark": "sweep", "args": vars(args) | {"out": str(args.out)}, "hardware": describe_hardware(),
               "results": rows}  # fmt: skip
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
