"""``powertrain sweep replay PATH``: what pruning rules would have spent on a recorded grid, and the best they keep.

No training runs: the recorded joules of a full sweep (study folder or storage URL) or a CSV trace are re-added epoch
by epoch, as the engine would have run the setups, over many orders (:mod:`powertrain.study.replay`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from powertrain.cli.sweep import sweep_app

__all__ = ["replay_command"]

Opt = typer.Option


@sweep_app.command("replay")
def replay_command(
    path: Annotated[
        str,
        typer.Argument(
            help="A full sweep's folder or storage URL, or a CSV trace (one row per setup "
            "and epoch: setup, epoch, accuracy, energy_j[, seconds, hardware, seed])."
        ),
    ],
    pruner: Annotated[
        list[str] | None,
        Opt(
            "--pruner",
            "-p",
            help="Rule to replay, repeatable: none, energy, sm2, forecast, with options as "
            "NAME:KEY=VALUE,... (forecast:risk=0.05, forecast:prior=studies/old-grid). Default: every rule.",
        ),
    ] = None,
    round_epochs: Annotated[
        int | None,
        Opt(help="Breadth-first rounds of N epochs (the engine's round_epochs); default one setup after another."),
    ] = None,
    target: Annotated[float | None, Opt(help="Target accuracy (default: the study's; needed for a CSV trace).")] = None,
    orders: Annotated[int, Opt(help="Random orders to replay (each draws one seed per setup).")] = 100,
    seed: Annotated[int, Opt(help="Seed of the orders.")] = 0,
    json: Annotated[Path | None, Opt(help="Also write the figures as JSON here.")] = None,
) -> int:
    """Replay a recorded grid under pruning rules: energy spent, share of the full grid, same best setup, safe floor."""
    from powertrain.cli._replay_view import print_replay
    from powertrain.study.replay import parse_rule, read_trace, replay

    rules = [parse_rule(text) for text in pruner or []]
    trace = read_trace(path)
    result = replay(trace, rules or None, target_accuracy=target, round_epochs=round_epochs, orders=orders, seed=seed)
    print_replay(result, Console())
    if json is not None:
        import json as _json

        from powertrain._files import json_safe, write_atomic

        write_atomic(json, _json.dumps(json_safe(result.to_dict()), indent=2) + "\n")
    return 0
