"""Command-line interface: ``powertrain COMMAND``.

Each command parses its arguments, builds a config, calls the public Python API and prints. User mistakes
(bad flags, unknown names, missing data) end with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from powertrain.cli._app import app
from powertrain.errors import PowertrainError

try:  # typer >= 0.22 vendors click
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as _click_exc  # type: ignore[no-redef]

# Command modules register themselves on `app` when imported; the list is explicit on purpose.
from powertrain.cli import measure as _measure  # noqa: E402,F401  isort: skip
from powertrain.cli import train as _train  # noqa: E402,F401  isort: skip
from powertrain.cli import demo as _demo  # noqa: E402,F401  isort: skip
from powertrain.cli import estimate as _estimate  # noqa: E402,F401  isort: skip
from powertrain.cli import study as _study  # noqa: E402,F401  isort: skip
from powertrain.cli import sweep as _sweep  # noqa: E402,F401  isort: skip
from powertrain.cli import report as _report  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]

USAGE_ERROR = 2


@app.command()
def version() -> None:
    """Print the powertrain version."""
    from importlib.metadata import version as _version

    typer.echo(_version("powertrain"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="powertrain", standalone_mode=False)
    except _click_exc.NoArgsIsHelpError as exc:  # `powertrain` alone prints help
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except _click_exc.UsageError as exc:
        typer.echo(f"powertrain: error: {exc.format_message()}", err=True)
        return USAGE_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("powertrain: aborted", err=True)
        return 130
    except PowertrainError as exc:
        typer.echo(f"powertrain: error: {exc}", err=True)
        return USAGE_ERROR
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
