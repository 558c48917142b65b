"""The sweep engine's own cost per trial (storage calls, bookkeeping) against the trials' training time.

Examples:
    # these 2-core machines: 6 small trials per call, SQLite and a throwaway PostgreSQL server (Debian's postgresql)
    python bench/sweep.py --trials 6 --rounds 3 --postgres auto --out bench/results/sweep-cpu.json
    # realistic trials: LeNet-5 on Fashion-MNIST, one epoch each
    python bench/sweep.py --dataset fashion-mnist --model lenet5 --image-size 28 --epochs 1 --trials 3 --rounds 2

Variants, interleaved by bench/_harness.py (order rotated every round, ratios inside each round, wall and process CPU
time; --rounds is the number of rounds):
    plain        the same trials as ``powertrain.train`` calls in a loop, no Optuna
    sqlite       ``powertrain.study.sweep`` of the same grid (``seed`` as its axis) on a fresh SQLite study
    postgresql   the same on a fresh study in PostgreSQL (with --postgres)

Engine overhead per trial = (variant - plain) / trials, from the same round: opening the study, planning the grid,
claiming, heartbeats, per-epoch user attributes, telling, and reading every result back at the end.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compare, pin_threads, print_comparison, write_report  # noqa: E402
from powertrain.study import SearchSpace, SweepConfig, sweep  # noqa: E402
from powertrain.training import TrainConfig, train  # noqa: E402

_COUNTER = itertools.count()


def base_config(args: argparse.Namespace) -> TrainConfig:
    """The training config every trial shares (``seed`` varies)."""
    synthetic = {"num_classes": 4, "train_size": 512, "test_size": 128} if args.dataset == "synthetic" else {}
    return TrainConfig(
        dataset=args.dataset, model=args.model, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
        image_size=args.image_size, channels=args.channels, estimate_batch_size=0, target_accuracy=0.99,
        dataset_options=synthetic,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", type=int, default=6, help="trials per call of each variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL, or `auto` for a throwaway local server")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = parser.parse_args()
    threads = pin_threads(args.threads, args.device)
    base = base_config(args)

    server = None
    postgres = args.postgres
    if postgres == "auto":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.support.postgres import PostgresServer

        server = PostgresServer().start()
        postgres = server.url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)

            def plain() -> None:
                folder = root / f"plain-{next(_COUNTER)}"
                for seed in range(args.trials):
                    train(base.replace(seed=seed, out=str(folder / str(seed))))

            def engine(storage: str | None) -> Any:
                def call() -> None:
                    name = f"bench-{next(_COUNTER)}"
                    config = SweepConfig(
                        train=base, space=SearchSpace.parse({"seed": list(range(args.trials))}),
                        objective=["energy"], study=name, out=str(root / name), storage=storage,
                    )  # fmt: skip
                    result = sweep(config)
                    if result.counts != {"complete": args.trials}:
                        raise RuntimeError(f"sweep ended with {result.counts}")

                return call

            variants = {"plain": plain, "sqlite": engine(None)}
            if postgres:
                variants["postgresql"] = engine(postgres)
            result = compare(variants, rounds=args.rounds, baseline="plain", device=args.device, name="sweep")
    finally:
        if server is not None:
            server.stop()

    console = Console()
    what = f"{args.trials} trials of {args.model} on {args.dataset}, {args.epochs} epochs"
    print_comparison(console, result, title=f"sweep engine against plain train() calls: {what}")
    table = Table(title="engine overhead per trial (same round: (variant - plain) / trials)", title_justify="left")
    for column in ("storage", "training s/trial (plain)", "overhead s/trial (min/med/max)", "overhead / training"):
        table.add_column(column, justify="left" if column == "storage" else "right")
    overhead: dict[str, Any] = {}
    plain_s = result.seconds("plain", "wall")
    for variant in result.variants[1:]:
        per_trial = [(v - p) / args.trials for v, p in zip(result.seconds(variant, "wall"), plain_s, strict=True)]
        train_s = statistics.median(plain_s) / args.trials
        med = statistics.median(per_trial)
        overhead[variant] = {"overhead_s_per_trial": per_trial, "train_s_per_trial": train_s, "ratio": med / train_s}
        table.add_row(variant, f"{train_s:.2f}", f"{min(per_trial):.3f} / {med:.3f} / {max(per_trial):.3f}",
                      f"{100 * med / train_s:.1f}%")  # fmt: skip
    console.print(table)
    write_report(args.out, bench="sweep", device=args.device, settings=vars(args) | {"threads": threads},
                 comparisons=[result], overhead=overhead)  # fmt: skip


if __name__ == "__main__":
    main()
