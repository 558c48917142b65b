"""Two Ray Tune trials at once against the same two trials one after the other: does each count only its own energy?

Examples:
    python bench/ray_trials.py --out bench/results/ray-trials.json     # 3 rounds, 2 trials x 4 epochs of ~1 s
    python bench/ray_trials.py --rounds 1 --epochs 2 --work 2000000      # a quick check that it runs

A local Ray (``ray.init(num_cpus=2)``) runs the same trainable (a fixed amount of pure-Python work per epoch, one core,
reported through :class:`powertrain.integrations.ray.TrialEnergy`) in two ways, alternating in every round:

    sequential   max_concurrent_trials=1: trial A, then trial B
    concurrent   max_concurrent_trials=2: A and B at the same time (they wait for each other before starting)

For each, the sum of the two trials' ``energy_j`` (their last results). The goal (issue 23): concurrent / sequential
within 25 % (0.75-1.25). With whole-machine counting each concurrent trial also counts the other one, so the ratio
is about 2; with the meter's attribution (each trial's share of the host's energy) it is about 1. The table says
which attribution the trials' results name (``energy_attribution``; ``none`` when the meter has none), the sources,
and the 1-minute load average, which matters: without attribution the CPU estimate counts other tenants' work too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import load_average, write_report  # noqa: E402

TARGET = 0.25


def trainable(config: dict[str, Any]) -> None:
    """``epochs`` epochs of ``work`` additions on one core; waits for ``together`` trials in that folder first."""
    from powertrain.integrations.ray import TrialEnergy

    folder = config.get("together")
    if folder:
        Path(folder, str(os.getpid())).touch()
        give_up = time.monotonic() + 300
        while len(list(Path(folder).iterdir())) < 2 and time.monotonic() < give_up:
            time.sleep(0.01)
    with TrialEnergy() as energy:
        for _ in range(config["epochs"]):
            x = 0
            for i in range(config["work"]):
                x += i
            energy.report({"x": float(x % 7), "wall_s": time.time()})


def run_way(way: str, args: argparse.Namespace, storage: Path, round_number: int) -> dict[str, Any]:
    """Two trials, one after the other or at once; their energies and spans."""
    from ray import tune

    together = tempfile.mkdtemp(prefix="together-") if way == "concurrent" else None
    tuner = tune.Tuner(
        trainable,
        param_space={"seed": tune.grid_search([0, 1]), "epochs": args.epochs, "work": args.work, "together": together},
        tune_config=tune.TuneConfig(max_concurrent_trials=2 if way == "concurrent" else 1),
        run_config=tune.RunConfig(storage_path=str(storage), name=f"{way}-{round_number}", verbose=0),
    )
    results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{way}: {results.errors[0]}")
    trials = [r.metrics for r in results]
    frames = [r.metrics_dataframe for r in results]
    spans = [(float(f["wall_s"].min()), float(f["wall_s"].max())) for f in frames]
    overlap = spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
    return {
        "way": way,
        "energies_j": [float(t["energy_j"]) for t in trials],
        "sum_j": sum(float(t["energy_j"]) for t in trials),
        "durations_s": [float(t["energy_duration_s"]) for t in trials],
        "overlap": overlap,
        "attribution": sorted({str(t.get("energy_attribution", "none")) for t in trials}),
        "sources": sorted({str(t.get("energy_sources")) for t in trials}),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the rounds, print the table, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--work", type=int, default=15_000_000, help="additions per epoch (about 1 s on one core)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import ray

    load_before = load_average()
    storage = Path(tempfile.mkdtemp(prefix="ray-trials-"))
    path = os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
    rounds = []
    try:
        for r in range(args.rounds):
            ways = ("sequential", "concurrent") if r % 2 == 0 else ("concurrent", "sequential")
            done = {way: run_way(way, args, storage, r) for way in ways}
            ratio = done["concurrent"]["sum_j"] / done["sequential"]["sum_j"] if done["sequential"]["sum_j"] else None
            rounds.append({"round": r, "ratio": ratio, **{way: done[way] for way in ways}})
    finally:
        ray.shutdown()
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    console = Console()
    table = Table(title="two Ray Tune trials: at once vs one after the other (sum of the trials' energy_j)")
    for column in ("round", "sequential J", "concurrent J", "ratio", "overlap", "attribution", "sources"):
        table.add_column(column)
    for r in rounds:
        table.add_row(str(r["round"]), f"{r['sequential']['sum_j']:.1f}", f"{r['concurrent']['sum_j']:.1f}",
                      f"{r['ratio']:.3f}", str(r["concurrent"]["overlap"]), ",".join(r["concurrent"]["attribution"]),
                      ",".join(r["concurrent"]["sources"]))  # fmt: skip
    console.print(table)
    median = statistics.median(ratios) if ratios else None
    within = median is not None and abs(median - 1.0) <= TARGET
    console.print(f"median ratio {median:.3f}: {'within' if within else 'NOT within'} {TARGET:.0%} of 1 "
                  f"(load average {load_before} -> {load_average()})")  # fmt: skip
    write_report(args.out, bench="ray-trials", device="cpu", settings=vars(args), rounds=rounds,
                 median_ratio=median, within_target=within, load_average=[load_before, load_average()])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
