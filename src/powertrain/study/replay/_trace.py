"""A recorded grid to replay: per setup (and seed), the validation accuracy and energy of every epoch it trained.

Two sources, one shape (:class:`Trace`):

- a **CSV trace**, one row per setup and epoch: ``setup`` (a label), ``epoch`` (from 1), ``accuracy`` (validation,
  higher is better), ``energy_j`` (that epoch's energy), optional ``seconds`` (that epoch's time), ``hardware`` and
  ``seed`` (several recorded runs of one setup); any other column is one of the setup's parameters;
- a **study folder** (or storage URL) of a full sweep: each finished trial's stored curve; a trial's ``seed`` parameter
  is its seed, the others name its setup.

Everything a replay cannot use is refused with one line (:class:`~powertrain.errors.ConfigError`): missing columns,
epochs that skip or repeat, accuracies outside [0, 1] (percentages are accepted when every value is in [0, 100] and
some exceed 1: the trace then says so), negative or non-numeric energy, a pruned sweep (its curves stop where pruning
cut them), fewer than two setups.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain.errors import ConfigError

__all__ = ["Run", "Trace", "check_setups", "read_csv_trace", "trace_from_rows"]

REQUIRED = ("setup", "epoch", "accuracy", "energy_j")
OPTIONAL = ("seconds", "hardware", "seed")


@dataclass(frozen=True)
class Run:
    """One recorded run of a setup: per-epoch accuracy, energy (joules, that epoch's) and seconds.

    ``ended``: the run stopped before its planned epochs without reaching the recorded target (diverged, failed, or
    a CSV row count shorter than the longest run's): a replay charges what it spent and never runs it on.
    """

    setup: str
    seed: str
    hardware: str
    accuracy: tuple[float, ...]
    energy_j: tuple[float, ...]
    seconds: tuple[float, ...] | None = None
    ended: bool = False

    @property
    def cumulative_j(self) -> list[float]:
        """Cumulative energy after each epoch (joules)."""
        out, total = [], 0.0
        for joules in self.energy_j:
            total += joules
            out.append(total)
        return out

    @property
    def cumulative_s(self) -> list[float] | None:
        """Cumulative seconds after each epoch, when recorded."""
        if self.seconds is None:
            return None
        out, total = [], 0.0
        for s in self.seconds:
            total += s
            out.append(total)
        return out

    def energy_to_target_j(self, target: float) -> float | None:
        """Cumulative joules at the first epoch whose accuracy reaches ``target``; None when none does."""
        total = 0.0
        for acc, joules in zip(self.accuracy, self.energy_j, strict=True):
            total += joules
            if acc >= target:
                return total
        return None

    def spent_j(self, target: float) -> float:
        """What the run spends when it stops at ``target`` (or at its last epoch)."""
        reached = self.energy_to_target_j(target)
        return reached if reached is not None else sum(self.energy_j)


@dataclass
class Trace:
    """Recorded runs of a grid, ready to replay.

    Attributes:
        source: Where it was read from.
        runs: Every run (setups x seeds x hardware).
        target_accuracy: The recorded target (a study's), None for a CSV trace.
        planned_epochs: The epochs each run may train (a study's config, or the longest run of a CSV trace).
        params: Per setup label, its parameters.
        notes: What reading it assumed (e.g. accuracies given in percent).
    """

    source: str
    runs: list[Run]
    target_accuracy: float | None = None
    planned_epochs: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped_at_target: bool = False

    @property
    def setups(self) -> list[str]:
        """Setup labels in order of first appearance."""
        return list(dict.fromkeys(r.setup for r in self.runs))

    @property
    def hardware(self) -> list[str]:
        """Hardware tags in order of first appearance."""
        return list(dict.fromkeys(r.hardware for r in self.runs))

    def on(self, hardware: str) -> Trace:
        """The part of the trace measured on ``hardware``."""
        runs = [r for r in self.runs if r.hardware == hardware]
        return Trace(self.source, runs, self.target_accuracy, self.planned_epochs, self.params, list(self.notes),
                     self.stopped_at_target)  # fmt: skip

    def by_setup(self) -> dict[str, list[Run]]:
        """Runs grouped by setup (seeds in order)."""
        out: dict[str, list[Run]] = {}
        for r in self.runs:
            out.setdefault(r.setup, []).append(r)
        return out


def read_csv_trace(path: Path) -> Trace:
    """Read and validate a CSV trace."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            rows = [({k.strip(): (v or "").strip() for k, v in row.items() if k}, n) for n, row in
                    enumerate(reader, start=2)]  # fmt: skip
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read it as a CSV trace ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ConfigError(
            f"{path}: missing column(s) {', '.join(missing)} (a trace needs {', '.join(REQUIRED)}; "
            f"optional {', '.join(OPTIONAL)})"
        )
    return trace_from_rows(rows, source=str(path), params=[c for c in header if c not in (*REQUIRED, *OPTIONAL)])


def trace_from_rows(rows: Iterable[tuple[dict[str, str], int]], *, source: str, params: list[str]) -> Trace:
    """Build and validate a trace from CSV rows (``(row, line number)``)."""
    series: dict[tuple[str, str, str], list[tuple[int, float, float, float | None, int]]] = {}
    setup_params: dict[str, dict[str, Any]] = {}
    for row, line in rows:
        where = f"{source} line {line}"
        setup = row.get("setup", "")
        if not setup:
            raise ConfigError(f"{where}: empty setup label")
        epoch = _number(row["epoch"], "epoch", where)
        if epoch != int(epoch) or epoch < 1:
            raise ConfigError(f"{where}: epoch {row['epoch']} is not a whole number from 1")
        accuracy = _number(row["accuracy"], "accuracy", where)
        energy = _number(row["energy_j"], "energy_j", where)
        if energy < 0:
            raise ConfigError(f"{where}: negative energy_j {row['energy_j']} (each row is that epoch's energy, >= 0)")
        seconds = _number(row["seconds"], "seconds", where) if row.get("seconds") else None
        if seconds is not None and seconds < 0:
            raise ConfigError(f"{where}: negative seconds {row['seconds']}")
        key = (setup, row.get("seed") or "0", row.get("hardware") or "unknown")
        series.setdefault(key, []).append((int(epoch), accuracy, energy, seconds, line))
        setup_params.setdefault(setup, {p: row.get(p) for p in params})
    if not series:
        raise ConfigError(f"{source}: no rows (a trace has one row per setup and epoch)")
    notes = []
    accuracies = [p[1] for points in series.values() for p in points]
    scale = 1.0
    if min(accuracies) < 0 or max(accuracies) > 100:
        bad = next(a for a in accuracies if a < 0 or a > 100)
        raise ConfigError(f"{source}: accuracy {bad:g} is outside [0, 1] (or [0, 100] in percent)")
    if max(accuracies) > 1:
        scale = 0.01
        notes.append("accuracies read as percent (every value is in [0, 100] and some exceed 1)")
    runs = []
    for (setup, seed, hardware), points in series.items():
        epochs = [p[0] for p in points]
        for i, (epoch, *_rest, line) in enumerate(points):
            if epoch != i + 1:
                problem = "repeats" if epoch in epochs[:i] else f"skips to {epoch} (expected {i + 1})"
                raise ConfigError(
                    f"{source} line {line}: setup {setup!r}" + (f" seed {seed}" if seed != "0" else "")
                    + f": epoch {problem}; each run needs epochs 1, 2, 3, ... in order, once each"
                )  # fmt: skip
        secs = [p[3] for p in points]
        runs.append(Run(
            setup, seed, hardware, tuple(p[1] * scale for p in points), tuple(p[2] for p in points),
            tuple(s for s in secs if s is not None) if all(s is not None for s in secs) else None,
        ))  # fmt: skip
    planned = max(len(r.accuracy) for r in runs)
    runs = [_mark_ended(r, planned) for r in runs]
    trace = Trace(source, runs, None, planned, setup_params, notes)
    check_setups(trace)
    return trace


def _mark_ended(run: Run, planned: int) -> Run:
    if len(run.accuracy) >= planned:
        return run
    return Run(run.setup, run.seed, run.hardware, run.accuracy, run.energy_j, run.seconds, ended=True)


def check_setups(trace: Trace) -> None:
    """Refuse a trace a replay cannot compare rules on: fewer than two setups on some hardware."""
    for hardware in trace.hardware:
        setups = {r.setup for r in trace.runs if r.hardware == hardware}
        if len(setups) < 2:
            where = f" on {hardware}" if len(trace.hardware) > 1 else ""
            raise ConfigError(
                f"{trace.source}: only one setup{where} ({', '.join(setups)}); a replay compares pruning rules "
                "over several setups"
            )


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        if column == "accuracy":  # a diverged epoch: no accuracy
            return 0.0
        raise ConfigError(f"{where}: {column} {text!r} is not a finite number")
    return value
