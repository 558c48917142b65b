"""``powertrain version``."""

from __future__ import annotations

import typer

from powertrain.cli._app import app

__all__ = ["version"]


@app.command()
def version() -> None:
    """Print the powertrain version."""
    from importlib.metadata import version as _version

    typer.echo(_version("powertrain"))
