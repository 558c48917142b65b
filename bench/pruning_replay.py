"""What the energy-aware pruners would have saved on a measured full grid, over many orders of its trials.

A pruned sweep's saving depends on the order its trials run in: a pruner can only stop a trial once a cheaper one has
reached the target. This replays the per-epoch curves a *full* (unpruned) sweep measured, with the real pruner classes
(``EnergyAwarePruner``, ``EnergySuccessiveHalvingPruner``) and ``report_energy`` on an in-memory Optuna study, one
trial after another as one worker runs them: the measured order first, then ``--orders`` random orders. A trial
stopped after epoch ``e`` is charged its measured energy up to ``e``; a trial that reaches the target stops there
(``stop_at_target``). Breadth-first rounds (``round_epochs: 1``) are replayed by :func:`breadth_first`. The last line
is the least any method that is sure to keep the best setup can spend: every trial must run until it reaches the
target or has spent the best energy-to-target (in any order). No training runs: the figures are measured joules
re-added, so they differ from a real pruned sweep only by the run-to-run noise of the energy estimate (compare the
measured order with a real pruned sweep).

Example:
    powertrain sweep examples/sweeps/lr-batch-grid.yaml
    python bench/pruning_replay.py studies/lr-batch-grid --orders 1000 \
        --out bench/results/pruning-replay-lr-batch-grid-cpu.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console
from rich.table import Table

from powertrain.hardware import describe_hardware
from powertrain.study import EnergyAwarePruner, EnergySuccessiveHalvingPruner, load_sweep, report_energy

optuna.logging.set_verbosity(optuna.logging.WARNING)


def trials_of(study_dir: str) -> tuple[list[dict[str, Any]], float, list[str]]:
    """The full sweep's trials as ``{name, curve: [(energy_j, accuracy)], energy_j}``, its target and hardware."""
    result = load_sweep(study_dir)
    if result.target_accuracy is None:
        raise SystemExit("the sweep has no target accuracy: nothing to prune against")
    if result.counts.get("pruned"):
        raise SystemExit("replay a full (unpruned) sweep: this one pruned trials, so their curves are cut short")
    trials = []
    for t in sorted(result.trials, key=lambda t: t.number):
        if t.state != "complete":
            continue
        curve = [(float(p[1]), float(p[3])) for p in t.get("curve") or []]
        trials.append({"name": t.get("run_name"), "curve": curve, "energy_j": float(t.get("energy_j") or 0.0)})
    hardware = sorted({str(t.get("hardware")) for t in result.trials})
    return trials, float(result.target_accuracy), hardware


def replay(
    trials: list[dict[str, Any]], order: list[int], pruner: Any, target: float, *, budget: bool = False
) -> dict[str, Any]:
    """Run ``trials`` in ``order`` against ``pruner``: energy spent, best trial and its energy-to-target.

    ``budget``: as the sweep engine runs the energy pruner, a trial also stops the moment it has spent ``margin`` x the
    best energy-to-target known when it started (its run's energy budget), mid-epoch; energy within an epoch is taken
    as linear in the epoch's measured joules, so it is charged exactly that budget.
    """
    study = optuna.create_study(direction="minimize", pruner=pruner)
    spent, best, best_j, pruned = 0.0, None, None, 0
    for index in order:
        trial = study.ask()
        rungs = pruner.rungs_j(study) if isinstance(pruner, EnergySuccessiveHalvingPruner) else None
        limit = pruner.margin * best_j if budget and best_j is not None else None
        ett, used, stopped = None, trials[index]["energy_j"], False
        for epoch, (energy_j, accuracy) in enumerate(trials[index]["curve"], start=1):
            if limit is not None and energy_j > limit:
                used, stopped = limit, True
                break
            if epoch == 1:
                trial.set_user_attr("first_epoch_energy_j", energy_j)
            report_energy(trial, epoch, accuracy=accuracy, energy_j=energy_j, target_accuracy=target,
                          rung_energies_j=rungs)  # fmt: skip
            if accuracy >= target:
                ett, used = energy_j, energy_j
                break
            if trial.should_prune():  # the engine asks after every epoch, the last one too
                used, stopped = energy_j, True
                break
        spent += used
        if stopped:
            pruned += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, ett if ett is not None else float("inf"))
        if ett is not None and (best_j is None or ett < best_j):
            best, best_j = trials[index]["name"], ett
    return {"spent_j": spent, "best": best, "best_energy_to_target_j": best_j, "pruned": pruned}


def breadth_first(trials: list[dict[str, Any]], order: list[int], target: float, margin: float) -> dict[str, Any]:
    """The sweep engine with ``pruner: energy`` and ``round_epochs: 1``: every live trial one epoch per round, in
    ``order``; a trial stops the moment it has spent ``margin`` x the best energy-to-target known (charged exactly that,
    energy being linear within an epoch), or once it reaches the target or its last epoch."""
    spent = dict.fromkeys(order, 0.0)
    done = dict.fromkeys(order, 0)
    best, best_j, pruned = None, None, 0
    live = list(order)
    while live:
        still = []
        for index in live:
            curve = trials[index]["curve"]
            limit = margin * best_j if best_j is not None else None
            if limit is not None and spent[index] >= limit:
                pruned += 1
                continue
            energy_j, accuracy = curve[done[index]]
            if limit is not None and energy_j > limit:
                spent[index] = limit
                pruned += 1
                continue
            spent[index], done[index] = energy_j, done[index] + 1
            if accuracy >= target:
                if best_j is None or energy_j < best_j:
                    best, best_j = trials[index]["name"], energy_j
            elif done[index] < len(curve):
                still.append(index)
        live = still
    return {"spent_j": sum(spent.values()), "best": best, "best_energy_to_target_j": best_j, "pruned": pruned}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="folder (or storage URL) of a full, unpruned sweep with a target accuracy")
    parser.add_argument("--orders", type=int, default=1000, help="random trial orders to replay")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margin", type=float, default=1.0, help="EnergyAwarePruner margin")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    trials, target, hardware = trials_of(args.study)
    if len(trials) < 2:
        raise SystemExit("the sweep needs at least two finished trials")
    full_j = sum(t["energy_j"] for t in trials)
    full = replay(trials, list(range(len(trials))), optuna.pruners.NopPruner(), target)
    pruners = {  # label: (pruner factory, mid-epoch budget)
        f"energy (margin {args.margin:g}), at epoch ends": (lambda: EnergyAwarePruner(margin=args.margin), False),
        f"energy (margin {args.margin:g}), + mid-epoch budget (engine)": (
            lambda: EnergyAwarePruner(margin=args.margin),
            True,
        ),
        "sm2 (reduction 3)": (lambda: EnergySuccessiveHalvingPruner(), False),
        f"energy (margin {args.margin:g}), budget, rounds of 1 epoch (engine: round_epochs 1)": (None, True),
    }
    rng = random.Random(args.seed)
    orders = [rng.sample(range(len(trials)), len(trials)) for _ in range(args.orders)]
    rows: dict[str, Any] = {}
    for label, (make, budget) in pruners.items():
        if make is None:
            measured = breadth_first(trials, list(range(len(trials))), target, args.margin)
            runs = [breadth_first(trials, order, target, args.margin) for order in orders]
        else:
            measured = replay(trials, list(range(len(trials))), make(), target, budget=budget)
            runs = [replay(trials, order, make(), target, budget=budget) for order in orders]
        fractions = sorted(r["spent_j"] / full_j for r in runs)
        rows[label] = {
            "measured_order": {**measured, "fraction_of_full": measured["spent_j"] / full_j},
            "random_orders": {
                "orders": len(runs),
                "fraction_of_full_median": statistics.median(fractions),
                "fraction_of_full_p10": fractions[int(0.1 * (len(fractions) - 1))],
                "fraction_of_full_p90": fractions[int(0.9 * (len(fractions) - 1))],
                "share_at_most_half": sum(f <= 0.5 for f in fractions) / len(fractions),
                "share_same_best": sum(r["best"] == full["best"] for r in runs) / len(runs),
            },
        }
    console = Console()
    table = Table(title=f"pruning replayed on {args.study}: {len(trials)} trials, full grid {full_j:.0f} J, "
                        f"best {full['best']} ({full['best_energy_to_target_j']:.1f} J to {target:g})")  # fmt: skip
    for name in ("pruner", "measured order: J (of full)", "same best", f"{args.orders} random orders: median (p10-p90)",
                 "orders <= half", "orders same best"):  # fmt: skip
        table.add_column(name, justify="left" if name == "pruner" else "right")
    for label, row in rows.items():
        m, r = row["measured_order"], row["random_orders"]
        table.add_row(
            label, f"{m['spent_j']:.0f} J ({m['fraction_of_full']:.0%})", "yes" if m["best"] == full["best"] else "no",
            f"{r['fraction_of_full_median']:.0%} ({r['fraction_of_full_p10']:.0%}-{r['fraction_of_full_p90']:.0%})",
            f"{r['share_at_most_half']:.0%}", f"{r['share_same_best']:.0%}",
        )  # fmt: skip
    oracle_j = sum(
        min(next((e for e, a in t["curve"] if a >= target), t["energy_j"]), full["best_energy_to_target_j"])
        for t in trials
    )
    console.print(table)
    console.print(f"least a method sure to keep the best setup can spend: {oracle_j:.0f} J ({oracle_j / full_j:.0%})")
    console.print("energies: the full sweep's measured joules per epoch (its sensor's provenance), re-added per order")
    if args.out:
        report = {
            "bench": "pruning_replay", "study": args.study, "target_accuracy": target, "full_j": full_j,
            "full_best": full["best"], "full_best_energy_to_target_j": full["best_energy_to_target_j"],
            "oracle_j": oracle_j,
            "settings": vars(args), "pruners": rows, "measured_on": hardware,
            "replayed_on": describe_hardware(),
        }  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
