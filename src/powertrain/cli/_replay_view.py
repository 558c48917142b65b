"""The table ``powertrain sweep replay`` prints: per rule, its share of the full grid and whether it keeps the best."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from powertrain._units import format_joules

__all__ = ["print_replay"]


def print_replay(result: Any, console: Console) -> None:
    """Print a :class:`~powertrain.study.replay.ReplayResult`: one table per hardware, then its notes."""
    for hardware, figures in result.by_hardware.items():
        console.print(_table(result, hardware, figures))
        floor = figures["safe_floor"]
        console.print(
            f"safe floor (the least a rule sure to keep the best can spend): {format_joules(floor['spent_j'])} "
            f"({floor['share']:.0%} of the full grid)",
            highlight=False,
        )
        ranking = figures.get("ranking") or {}
        if ranking.get("note") is None and len(ranking.get("tied") or []) > 1:
            console.print(f"within each other's noise over the seeds: {', '.join(ranking['tied'])}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(
        "spent and share: medians over the orders (share of the same draw's full grid); on: where it went (the best "
        "setup's run, the other setups' first epochs, their later epochs); same best: share of the orders that kept "
        "the full grid's best setup; energies: the recorded joules per epoch (their sensor's provenance)",
        highlight=False,
    )


def _table(result: Any, hardware: str, figures: dict[str, Any]) -> Table:
    rounds = f"rounds of {result.round_epochs} epoch(s)" if result.round_epochs else "one setup after another"
    seeds = f", {figures['seeds']} seeds" if figures["seeds"] > 1 else ""
    table = Table(
        title=(
            f"{result.source} on {hardware}: {figures['setups']} setups{seeds}, target {result.target_accuracy:g}, "
            f"{result.orders} orders, {rounds}; full grid {format_joules(figures['total_j'])}, best "
            f"{figures['best_setup']} ({format_joules(figures['best_energy_to_target_j'])})"
        )
    )
    columns = ("rule", "spent", "share (p10-p90)", "on: best / others' 1st epochs / later", "same best", "its pick",
               "if not: worse by")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name in ("rule", "its pick") else "right")
    for label, row in figures["rules"].items():
        worse = "-" if row["same_best"] else _percent(row["worse_by"])
        on = row.get("spent_on") or {}
        where = "/".join(f"{on[k]:.0%}" for k in ("best_setup", "first_epochs_of_others", "later_epochs_of_others")
                         if k in on)  # fmt: skip
        table.add_row(
            label, format_joules(row["spent_j"]),
            f"{row['share']:.0%} ({row['share_p10']:.0%}-{row['share_p90']:.0%})", where or "-",
            f"{row['same_best_share']:.0%}", str(row["best_setup"]), worse,
        )  # fmt: skip
    return table


def _percent(value: float | None) -> str:
    if value is None or value != value or value == float("inf"):
        return "no setup found"
    return f"{value:.1%}"
