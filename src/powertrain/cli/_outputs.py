"""The options that send a command's figures elsewhere: ``--log`` (experiment trackers) and ``--serve`` (Prometheus)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["LogOpt", "ServeOpt", "announce_serve"]

Opt = typer.Option

LogOpt = Annotated[
    list[str] | None,
    Opt("--log", help="Send the figures to a tracker: mlflow, tensorboard or wandb (NAME:OPTION for its URI, log dir "
        "or project); repeatable."),  # fmt: skip
]
ServeOpt = Annotated[
    str | None,
    Opt("--serve", metavar="[HOST:]PORT", help="Serve the run's energy to Prometheus on PORT (127.0.0.1 unless HOST "
        "is given) while the work runs."),  # fmt: skip
]


def announce_serve(serve: str | None) -> str | None:
    """``[HOST:]PORT`` with port 0 resolved to a free port, said on stderr (so a scraper knows where to look)."""
    if serve is None:
        return None
    import socket

    from powertrain.integrations.prometheus import parse_serve

    host, port = parse_serve(serve)
    if port == 0:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"powertrain: serving Prometheus metrics on http://{shown}:{port}/metrics", err=True)
    return f"{shown}:{port}"
