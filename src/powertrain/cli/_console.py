"""What the commands print, readable in a terminal, a pipe and a log: consoles, and other libraries' messages.

- :func:`console`: a rich Console that, when its stream is not a terminal, is wide enough for any table, so a pipe
  or a log gets whole names (``lr=0.2,batch_size=64``), never ``lr=0...`` cut at 80 columns.
- :func:`capture_third_party`: Optuna's own log lines (``A new study created in RDB ...``) are not printed; its
  warnings, and any library's ``warnings.warn``, reach stderr once each as ``powertrain: warning: ...`` lines.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any, TextIO

from rich.console import Console

__all__ = ["capture_third_party", "console", "install_warning_lines", "show_warning_once"]

#: width of a console that does not write to a terminal: tables take their natural width, lines are not wrapped
PIPE_WIDTH = 10_000


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A Console on stdout (or stderr) that does not cut or wrap tables when the stream is a pipe or a file."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = hasattr(stream, "isatty") and stream.isatty()
    if not terminal and "width" not in kwargs:
        kwargs["width"] = PIPE_WIDTH
    return Console(stderr=stderr, **kwargs)


_shown: set[str] = set()


def show_warning_once(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for the CLI: one ``powertrain: warning:`` line per distinct message, never repeated."""
    text = " ".join(str(message).split())
    if text in _shown:
        return
    _shown.add(text)
    origin = filename.replace("\\", "/").split("/site-packages/")[-1].split("/")[0].removesuffix(".py")
    where = "" if origin in ("powertrain", "") or "/powertrain/" in filename else f" ({origin})"
    try:
        (file or sys.stderr).write(f"powertrain: warning: {text}{where}\n")
    except (OSError, ValueError):  # pragma: no cover - a closed stderr
        pass


class _OnceLines(logging.Handler):
    """Another library's warnings as ``powertrain: warning: ...`` lines on the current stderr, each once."""

    def emit(self, record: logging.LogRecord) -> None:
        show_warning_once(record.getMessage(), UserWarning, f"/site-packages/{record.name.split('.')[0]}/", 0)


def capture_third_party() -> None:
    """Quiet Optuna's log lines and show its warnings in powertrain's words (call after Optuna is imported)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    logger = logging.getLogger("optuna")
    if not any(isinstance(h, _OnceLines) for h in logger.handlers):
        logger.addHandler(_OnceLines(logging.WARNING))


def install_warning_lines() -> Any:
    """Show every ``warnings.warn`` once, as one line (returns the previous hook, to put back)."""
    previous = warnings.showwarning
    warnings.showwarning = show_warning_once
    return previous
