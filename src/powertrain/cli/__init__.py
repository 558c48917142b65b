"""Command-line interface: ``powertrain COMMAND``.

Each command parses its arguments, builds a config, calls the public Python API and prints. User mistakes
(bad flags, unknown names, missing data) end with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence

import typer

from powertrain.cli._app import app
from powertrain.cli._console import install_warning_lines
from powertrain.errors import PowertrainError, Terminated, raise_terminated

try:  # typer >= 0.22 vendors click
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as _click_exc  # type: ignore[no-redef]

# Command modules register themselves on `app` when imported; the list is explicit on purpose.
from powertrain.cli import measure as _measure  # noqa: E402,F401  isort: skip
from powertrain.cli import info as _info  # noqa: E402,F401  isort: skip
from powertrain.cli import train as _train  # noqa: E402,F401  isort: skip
from powertrain.cli import demo as _demo  # noqa: E402,F401  isort: skip
from powertrain.cli import estimate as _estimate  # noqa: E402,F401  isort: skip
from powertrain.cli import study as _study  # noqa: E402,F401  isort: skip
from powertrain.cli import sweep as _sweep  # noqa: E402,F401  isort: skip
from powertrain.cli import sweep_replay as _sweep_replay  # noqa: E402,F401  isort: skip
from powertrain.cli import report as _report  # noqa: E402,F401  isort: skip
from powertrain.cli import check as _check  # noqa: E402,F401  isort: skip
from powertrain.cli import version as _version  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]

USAGE_ERROR = 2
TERMINATED = 143  # 128 + SIGTERM, what shells report
INTERRUPTED = 130  # 128 + SIGINT


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    A user mistake is one line on stderr and status 2; Ctrl-C is status 130 and SIGTERM 143, after the command has
    kept its finished work.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _log_warnings_as_lines()
    terminated: list[int] = []
    previous_hook = install_warning_lines()  # every warnings.warn once, as one `powertrain: warning:` line
    try:
        with _sigterm_raises(terminated):
            result = app(args=args, prog_name="powertrain", standalone_mode=False)
    except _click_exc.NoArgsIsHelpError as exc:  # `powertrain` alone prints help
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except _click_exc.UsageError as exc:
        typer.echo(f"powertrain: error: {exc.format_message()}", err=True)
        return USAGE_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort as exc:  # click turns KeyboardInterrupt (and so Terminated) into Abort
        if isinstance(exc.__cause__, Terminated):
            typer.echo("powertrain: terminated (SIGTERM)", err=True)
            return TERMINATED
        typer.echo("powertrain: aborted", err=True)
        return INTERRUPTED
    except Terminated:
        typer.echo("powertrain: terminated (SIGTERM)", err=True)
        return TERMINATED
    except PowertrainError as exc:
        typer.echo(f"powertrain: error: {one_line(exc)}", err=True)
        return USAGE_ERROR
    finally:
        warnings.showwarning = previous_hook
    status = int(result) if isinstance(result, int) else 0
    # a command that handled SIGTERM on its Ctrl-C path returns 130; the shell convention for SIGTERM is 143
    return TERMINATED if terminated and status == INTERRUPTED else status


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` as one line (an error re-raised from a DataLoader worker carries a traceback)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and "Traceback" in str(exc):
        last = lines[-1]
        return last.split(": ", 1)[1] if ": " in last and "Error" in last.split(": ", 1)[0] else last
    return " ".join(line.strip() for line in lines)


@contextlib.contextmanager
def _sigterm_raises(received: list[int]) -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread, so every command keeps its work as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise_terminated(signum, frame)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _StderrLines(logging.Handler):
    """``powertrain: warning: ...`` on whatever ``sys.stderr`` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"powertrain: {record.levelname.lower()}: {record.getMessage()}\n")
        except Exception:  # pragma: no cover - a closed stderr must not break the run
            self.handleError(record)


def _log_warnings_as_lines() -> None:
    """Warnings logged by powertrain reach stderr as one line each."""
    logger = logging.getLogger("powertrain")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines(logging.WARNING))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
