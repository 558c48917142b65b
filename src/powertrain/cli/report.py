"""``powertrain report PATH... [--out DIR]``: an HTML page and a Markdown summary of runs and studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from powertrain.cli._app import app
from powertrain.cli._carbon import Country, Intensity, Pue, Region, carbon_settings

__all__ = ["report_command"]


@app.command("report")
def report_command(
    paths: Annotated[list[Path], typer.Argument(help="Run directories, sweep or study folders, or folders of them.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (default: PATH/report).")] = None,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
) -> int:
    """Write report.html (self-contained, plots embedded) and report.md for runs and studies.

    Without carbon options each run keeps the country, region and PUE it was recorded with.
    """
    from powertrain.report import build_report

    given = any(v is not None for v in (country, region, pue, intensity))
    settings = carbon_settings(country, region, pue, intensity) if given else None
    result = build_report(list(paths), out=out, settings=settings, title=title)
    for card in result.cards:
        typer.echo(f"{card.label}: {card.value}" + (f" ({card.detail})" if card.detail else ""))
    typer.echo(f"report: {result.html} ({result.plot_count} plots) and {result.markdown}")
    return 0
