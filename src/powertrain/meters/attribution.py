"""Whose energy a meter measures: a process tree, a cgroup, or the whole machine.

Sensors measure devices; a run is a set of processes. An :class:`Attribution` tells the meter which processes are
the run, so that host energy (RAPL package and DRAM, the CPU estimate) is split by the run's share of the machine's
CPU time in every sample interval, and a GPU that other processes use too is split by NVML's per-process
utilisation (see ``docs/meter.md``, "Attribution")::

    from powertrain.meters import EnergyMeter, ProcessTree, Cgroup, Machine

    EnergyMeter()                                      # this process and its children (the default)
    EnergyMeter(attribution=ProcessTree(pid))          # another process and its children
    EnergyMeter(attribution=Cgroup("/sys/fs/cgroup/system.slice/run.scope"))   # a cgroup that holds only the run
    EnergyMeter(attribution=Machine())                 # the whole machine (the figures before attribution)

:func:`make_attribution` turns the CLI's and the configs' words (``"process"``, ``"cgroup"``, ``"machine"``) into
one. Errors: a cgroup that does not exist, or that holds processes that are not the run's, raises
:class:`~powertrain.errors.ConfigError`; a platform without ``/proc`` falls back to the machine, labelled so.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from powertrain.errors import ConfigError, SensorError
from powertrain.meters._proctree import ProcessTreeReader, process_clock_supported

__all__ = ["ATTRIBUTION_KINDS", "Attribution", "Cgroup", "Machine", "ProcessTree", "make_attribution"]

logger = logging.getLogger(__name__)

AttributionKind = Literal["process", "cgroup", "machine"]
ATTRIBUTION_KINDS: tuple[str, ...] = ("process", "cgroup", "machine")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class Attribution(ABC):
    """Which processes are the run. The meter calls :meth:`open` once, then :meth:`cpu_s` every sampling round.

    Attributes:
        kind: ``"process"``, ``"cgroup"`` or ``"machine"``.
        fallback: Why this scope measures less than it was asked to (None when it works as asked).
    """

    kind: AttributionKind = "machine"
    fallback: str | None = None

    def open(self) -> None:  # noqa: B027 - optional hook
        """Start counting (the CPU time before this call is not the run's)."""

    @abstractmethod
    def cpu_s(self) -> float | None:
        """The run's cumulative CPU seconds since :meth:`open`; None when the run is the whole machine.

        Raises:
            SensorError: The run's CPU time cannot be read any more (the meter falls back, labelled).
        """

    def pids(self) -> set[int] | None:
        """PIDs of the run's processes now (to recognise them on a GPU); None when unknown or the whole machine."""
        return None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """``{"scope", "method", ...}``: what the run is and how its CPU time is read, JSON-ready."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files."""


class Machine(Attribution):
    """The whole machine: every joule of every sensor is the run's (the behaviour before attribution)."""

    kind: AttributionKind = "machine"

    def __init__(self, *, reason: str | None = None) -> None:
        self.fallback = reason

    def cpu_s(self) -> None:
        """Always None: the run is the machine."""
        return None

    def describe(self) -> dict[str, Any]:
        """The scope and, for a fallback, why."""
        data: dict[str, Any] = {"scope": "machine", "method": "whole machine: every sensor's energy counts in full"}
        if self.fallback:
            data["fallback"] = self.fallback
        return data


class ProcessTree(Attribution):
    """A process and all its descendants (DataLoader workers, a ``measure`` child and its children).

    Args:
        pid: The root process (default: this one), several roots (a job's ranks), or ``[]`` for a tree whose root
            is added later with :meth:`add` (``powertrain measure`` adds the command it starts).
    """

    kind: AttributionKind = "process"

    def __init__(self, pid: int | Sequence[int] | None = None) -> None:
        self.roots = [os.getpid()] if pid is None else ([pid] if isinstance(pid, int) else list(pid))
        self.also: set[int] = set()  # the job's other processes (DDP ranks): the run's on a GPU, not in CPU time
        self._reader: ProcessTreeReader | None = None
        self._added: list[int] = []
        if not process_clock_supported():
            self.fallback = "process attribution needs Linux /proc; this figure is the whole machine's"

    def open(self) -> None:
        """Take the roots' CPU time now as the origin and find their existing children."""
        if self.fallback is None and self._reader is None:
            self._reader = ProcessTreeReader(self.roots)

    def add(self, pid: int) -> None:
        """Make ``pid`` a root counted from its birth (a command started after the meter)."""
        self._added.append(pid)
        if self._reader is not None and not self._reader.add(pid, from_birth=True):
            logger.warning("process %d ended before the meter could see it; its CPU time is in its parent's", pid)

    def cpu_s(self) -> float | None:
        """The tree's CPU seconds since :meth:`open` (None on a platform without /proc: the machine)."""
        if self._reader is None:
            return None
        return self._reader.read()

    def pids(self) -> set[int] | None:
        """The tree's live members at the last read, and the job's other processes (:attr:`also`)."""
        return None if self._reader is None else self._reader.pids() | self.also

    def describe(self) -> dict[str, Any]:
        """Roots, method and the reader's counts of reused PIDs and time that exited beyond reach."""
        if self.fallback is not None:
            return {**Machine(reason=self.fallback).describe(), "asked": "process"}
        data: dict[str, Any] = {
            "scope": "process",
            "method": "process tree CPU time (CLOCK_PROCESS_CPUTIME_ID + reaped children) / machine CPU time "
            "(/proc/stat) per sample interval",
            "roots": [*self.roots, *self._added],
        }
        if self._reader is not None:
            data.update(
                processes=self._reader.seen,
                reused_pids=self._reader.reused,
                lost_cpu_s=round(self._reader.lost_s, 6),
            )
        return data


class Cgroup(Attribution):
    """A cgroup that holds only the run (a SLURM job step, a ``systemd-run --scope``, one you created).

    Its CPU time is ``cpu.stat``'s ``usage_usec`` (cgroup v2) or ``cpuacct.usage`` (v1, nanoseconds).

    Args:
        path: The cgroup's folder (absolute, or relative to ``/sys/fs/cgroup``). Default: this process's own
            cgroup, which must hold nothing but this process, its ancestors and its descendants.

    Raises:
        ConfigError: The cgroup does not exist, has no CPU accounting, is the root cgroup, or (default path)
            holds processes that are not this run's.
    """

    kind: AttributionKind = "cgroup"

    def __init__(self, path: str | Path | None = None) -> None:
        explicit = path is not None
        self.path = Path(path) if explicit else _own_cgroup()
        if not self.path.is_absolute():
            self.path = CGROUP_ROOT / self.path
        self._file, self._scale = _usage_file(self.path)
        if not explicit:
            _check_only_the_run(self.path)
        self._origin: float | None = None

    def open(self) -> None:
        """Take the cgroup's usage now as the origin."""
        self._origin = self._usage_s()

    def _usage_s(self) -> float:
        try:
            text = self._file.read_text()
        except OSError as exc:
            raise SensorError(f"cgroup {self.path}: cannot read {self._file.name}: {exc}") from exc
        if self._file.name == "cpu.stat":
            for line in text.splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) * self._scale
            raise SensorError(f"cgroup {self.path}: no usage_usec in cpu.stat")
        return int(text.strip()) * self._scale

    def cpu_s(self) -> float:
        """The cgroup's CPU seconds since :meth:`open`."""
        if self._origin is None:
            self.open()
        return self._usage_s() - (self._origin or 0.0)

    def pids(self) -> set[int] | None:
        """The PIDs in ``cgroup.procs`` (None when it cannot be read)."""
        try:
            return {int(x) for x in (self.path / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            return None

    def describe(self) -> dict[str, Any]:
        """The cgroup's path and which file gives its CPU time."""
        return {
            "scope": "cgroup",
            "method": f"cgroup CPU time ({self._file.name}) / machine CPU time (/proc/stat) per sample interval",
            "path": str(self.path),
        }


def make_attribution(value: str | Attribution | None) -> Attribution:
    """Turn ``"process"`` / ``"cgroup"`` / ``"cgroup:PATH"`` / ``"machine"`` (or None: process) into a scope.

    Raises:
        ConfigError: Any other word (the message lists the valid ones), or a cgroup that cannot be used.
    """
    if isinstance(value, Attribution):
        return value
    word = (value or "process").strip()
    if word == "process":
        return ProcessTree()
    if word == "machine":
        return Machine()
    if word == "cgroup" or word.startswith("cgroup:"):
        return Cgroup(word.partition(":")[2] or None)
    raise ConfigError(f"attribution must be one of {', '.join(ATTRIBUTION_KINDS)} (or cgroup:PATH), not {value!r}")


def _own_cgroup() -> Path:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cgroup attribution needs Linux cgroups: cannot read /proc/self/cgroup ({exc})") from exc
    entries = dict(line.split(":", 2)[1:] for line in lines if line.count(":") >= 2)
    for controllers, relative in entries.items():  # v1: the cpuacct hierarchy
        if "cpuacct" in controllers.split(","):
            return _not_root(CGROUP_ROOT / controllers / relative.lstrip("/"), relative)
    if "" in entries:  # v2: the unified hierarchy
        return _not_root(CGROUP_ROOT / entries[""].lstrip("/"), entries[""])
    raise ConfigError("cgroup attribution: this process is in no cgroup with CPU accounting")


def _not_root(path: Path, relative: str) -> Path:
    if relative.strip("/") == "":
        raise ConfigError(
            "cgroup attribution: this process is in the root cgroup, which holds the whole machine; run it in its "
            "own cgroup (systemd-run --user --scope ..., a SLURM step) or use --attribution process"
        )
    return path


def _usage_file(path: Path) -> tuple[Path, float]:
    if not path.is_dir():
        raise ConfigError(f"cgroup attribution: {path} does not exist (give the cgroup's folder)")
    if (path / "cpu.stat").is_file() and "usage_usec" in _text(path / "cpu.stat"):
        return path / "cpu.stat", 1e-6
    if (path / "cpuacct.usage").is_file():
        return path / "cpuacct.usage", 1e-9
    raise ConfigError(f"cgroup attribution: {path} has no cpu.stat usage_usec nor cpuacct.usage (no CPU accounting)")


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _check_only_the_run(path: Path) -> None:
    """Refuse a default cgroup shared with processes that are neither our ancestors nor our descendants."""
    try:
        procs = {int(x) for x in (path / "cgroup.procs").read_text().split()}
    except (OSError, ValueError):
        return
    ours = _ancestors(os.getpid())
    reader = ProcessTreeReader([os.getpid()]) if process_clock_supported() else None
    ours |= reader.pids() if reader is not None else {os.getpid()}
    others = sorted(procs - ours)
    if others:
        raise ConfigError(
            f"cgroup attribution: {path} also holds {len(others)} other process(es) (e.g. pid {others[0]}), so it is "
            "not this run's alone; give a cgroup that holds only the run, or use --attribution process"
        )


def _ancestors(pid: int) -> set[int]:
    found: set[int] = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            pid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found
