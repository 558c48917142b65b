"""``powertrain info``: every energy sensor kind (available or not, and why) and this machine."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from powertrain.cli._app import app
from powertrain.hardware import describe_hardware
from powertrain.meters import sensor_report

__all__ = ["info"]


@app.command()
def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> int:
    """List every energy sensor kind (available or not, and why) and describe this machine."""
    statuses = sensor_report()
    hardware = describe_hardware()
    if as_json:
        report: dict[str, Any] = {
            "sensors": [
                {"kind": s.kind, "available": s.available, "reason": s.reason, "devices": list(s.devices)}
                for s in statuses
            ],
            "hardware": hardware,
        }
        typer.echo(json.dumps(report, indent=2))
        return 0
    console = Console(file=sys.stdout, markup=False, highlight=False)
    sensors = Table(title="energy sensors", title_justify="left")
    for column in ("kind", "available", "devices", "why"):
        sensors.add_column(column)
    for s in statuses:
        sensors.add_row(s.kind, "yes" if s.available else "no", ", ".join(s.devices), s.reason)
    console.print(sensors)
    machine = Table(title="hardware", title_justify="left", show_header=False)
    machine.add_column("key")
    machine.add_column("value")
    for key, value in hardware.items():
        if key == "gpus":
            value = "; ".join(f"{g['name']} ({g['memory_bytes'] / 2**30:.0f} GiB)" for g in value) or "none"
        machine.add_row(key, str(value))
    console.print(machine)
    return 0
