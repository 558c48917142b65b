"""Exceptions raised by powertrain.

Every exception a user can cause derives from :class:`PowertrainError`; its message is one line that says
what went wrong and how to fix it. The CLI prints that line and exits with status 2, so a user mistake
never ends in a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "DamagedFileError",
    "DataNotFoundError",
    "OutputError",
    "PowertrainError",
    "SensorError",
    "SensorPermissionError",
    "SensorUnavailable",
    "Terminated",
    "UnknownNameError",
    "raise_terminated",
]


class PowertrainError(Exception):
    """Base class of every error powertrain raises on purpose."""


class ConfigError(PowertrainError, ValueError):
    """A configuration value is missing, malformed or out of range."""


class DataNotFoundError(PowertrainError, FileNotFoundError):
    """A dataset is not on disk and cannot be fetched."""


class OutputError(PowertrainError, OSError):
    """A result cannot be written: the path is a folder, the folder is read-only or missing, the disk is full."""

    def __str__(self) -> str:  # OSError would format (errno, message)
        return str(self.args[0]) if self.args else ""


class DamagedFileError(ConfigError):
    """A file powertrain wrote earlier (checkpoint, weights, run config) is truncated or corrupt."""


class SensorError(PowertrainError):
    """An energy sensor could not be read."""


class SensorUnavailable(SensorError):
    """The sensor's hardware or driver is not present on this machine."""


class SensorPermissionError(SensorError):
    """The sensor exists but this process may not read it."""


class UnknownNameError(PowertrainError, KeyError):
    """A registry lookup failed; the message lists the closest registered names.

    Args:
        kind: What was looked up, for example ``"model"``.
        name: The name asked for.
        choices: Every registered name.
    """

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        choices = sorted(choices)
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        message = f"unknown {kind} {name!r}.{hint} Available: {', '.join(choices)}."
        super().__init__(message)
        self.kind, self.name, self.choices = kind, name, choices

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (what schedulers such as SLURM and Kubernetes send): handled like Ctrl-C, exit status 143.

    A subclass of :class:`KeyboardInterrupt`, so every ``except KeyboardInterrupt`` that keeps finished work on
    Ctrl-C does the same on SIGTERM.
    """


def raise_terminated(signum: int, frame: object) -> None:
    """A signal handler that raises :class:`Terminated` in the main thread."""
    raise Terminated(f"terminated by signal {signum}")
