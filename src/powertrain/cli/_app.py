"""The typer application every command module adds itself to."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="powertrain",
    help="Measure, predict and cut the energy of training and running deep networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Measure, predict and cut the energy of training and running deep networks."""
