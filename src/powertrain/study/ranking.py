"""Rankings with their uncertainty: which of the best setups are within each other's noise, not one winner.

A sweep that repeats every setup with several seeds (a ``seed`` axis in its space, or several sweeps merged) measures
how much one setup's energy-to-target varies from run to run (the energy estimate's noise, the data order, the
initial weights). :func:`rank_setups` gives each setup its mean over the seeds that reached the target, a Student-t
interval of that mean, and says which setups' intervals overlap the best one's: those cannot be told apart by these
runs. A setup that missed the target in some seed is ranked after every setup that reached it in all of them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Ranking", "SetupRank", "rank_setups", "rank_sweep"]


@dataclass(frozen=True)
class SetupRank:
    """One setup's energy-to-target over its seeds (joules).

    Attributes:
        setup: The setup's label.
        seeds: Runs recorded; ``reached`` of them reached the target.
        mean_j: Mean energy-to-target over the runs that reached it (None when none did).
        low_j: Low end of the mean's interval (None with fewer than two runs that reached it).
        high_j: High end.
        values_j: Each run's energy-to-target (None: not reached).
    """

    setup: str
    seeds: int
    reached: int
    mean_j: float | None
    low_j: float | None
    high_j: float | None
    values_j: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(vars(self))


@dataclass(frozen=True)
class Ranking:
    """Setups from the cheapest to target, and which are within the best one's noise.

    Attributes:
        rows: Every setup, best first.
        level: The intervals' probability.
        tied: The setups whose interval overlaps the best one's (the best included); one name when it stands out.
        note: What could not be said (e.g. one seed only: no noise to compare with).
    """

    rows: list[SetupRank]
    level: float
    tied: list[str]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"level": self.level, "tied": self.tied, "note": self.note, "rows": [r.to_dict() for r in self.rows]}

    def verdict(self) -> str:
        """One sentence: the best setup, or the setups the runs cannot tell apart."""
        if not self.rows or self.rows[0].mean_j is None:
            return "no setup reached the target"
        if self.note:
            return f"best: {self.rows[0].setup} ({self.note})"
        if len(self.tied) == 1:
            return f"best: {self.tied[0]}, outside the {self.level:.0%} interval of every other setup"
        return (f"{len(self.tied)} setups are within each other's noise ({self.level:.0%} intervals over the seeds "
                f"overlap): {', '.join(self.tied)}")  # fmt: skip


def rank_setups(values: Iterable[tuple[str, float | None]], *, level: float = 0.8) -> Ranking:
    """Rank setups by mean energy-to-target over their runs (``(setup, energy_to_target_j or None)`` per run)."""
    per_setup: dict[str, list[float | None]] = {}
    for setup, value in values:
        per_setup.setdefault(setup, []).append(value)
    rows = []
    for setup, runs in per_setup.items():
        hits = [v for v in runs if v is not None and math.isfinite(v)]
        mean = statistics.fmean(hits) if hits else None
        low = high = None
        if len(hits) >= 2:
            # Student's t quantile, imported only when a setup has repeats (scipy.special takes 0.3 s to import, a
            # third of a replay; scipy.stats ~4x longer)
            from scipy.special import stdtrit

            half = float(stdtrit(len(hits) - 1, (1 + level) / 2)) * statistics.stdev(hits) / math.sqrt(len(hits))
            low, high = mean - half, mean + half  # type: ignore[operator]
        rows.append(SetupRank(setup, len(runs), len(hits), mean, low, high, list(runs)))
    rows.sort(key=lambda r: (r.reached < r.seeds, r.mean_j is None, r.mean_j or 0.0))
    if not rows or rows[0].mean_j is None:
        return Ranking(rows, level, [], "no setup reached the target")
    best = rows[0]
    if best.low_j is None:
        return Ranking(rows, level, [best.setup], "one run per setup: no noise to compare with")
    tied = [r.setup for r in rows if r.reached == r.seeds and r.low_j is not None and r.low_j <= best.high_j]  # type: ignore[operator]
    return Ranking(rows, level, tied)


def rank_sweep(result: Any, *, level: float = 0.8) -> Ranking:
    """:func:`rank_setups` over a :class:`~powertrain.study.SweepResult`'s finished trials; ``seed`` is not a setup."""
    values = []
    for t in result.trials:
        if t.state != "complete":
            continue
        label = "_".join(f"{k}={v}" for k, v in t.params.items() if k != "seed") or str(t.get("run_name"))
        ett = t.get("energy_to_target_j")
        values.append((label, float(ett) if ett is not None else None))
    return rank_setups(values, level=level)
