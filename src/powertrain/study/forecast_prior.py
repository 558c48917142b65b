"""A prior from an earlier recorded grid of the same search space: skip setups it says will not be the cheapest.

The forecast pruner decides at epoch ends, so without a prior every setup trains at least its first epoch (on a
3-epoch grid whose best setup reaches the target in epoch 1, that alone is ~40 % of the grid). A recorded full grid
of the same setups (another seed, an earlier run of the same search) says which setups were far from the cheapest.
Energies of two recordings are not compared (their machines' load and sensors differ): only each setup's
energy-to-target **relative to the prior's best setup**, which holds across seeds up to a log-normal spread.

``P(setup s cheaper than the prior's best b in this sweep) = Phi((ln E_b - ln E_s) / (sd * sqrt(2)))``, with ``E``
the prior's energy-to-target (a setup that never reached the target there: at least what it spent) and ``sd`` the
spread of one setup's log energy-to-target between two seeds (:data:`PRIOR_SD`). A setup whose chance is below the
pruner's risk is stopped before it trains.

Setups are matched by their parameters (``lr=0.03_batch_size=64``: :func:`setup_label`), a ``seed`` parameter
excluded; a CSV trace's ``setup`` labels match a sweep's runs of the same name.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from powertrain.errors import ConfigError

if TYPE_CHECKING:
    from powertrain.study.replay._trace import Trace

__all__ = ["PRIOR_SD", "GridPrior", "load_prior", "setup_label"]

PRIOR_SD = 0.33
"""Spread (log standard deviation) of one setup's energy-to-target between two training seeds of the same grid.

Measured by ``bench/forecast_pruning.py`` on the recorded grids (every setup that reached the target in two seeds, all
ordered pairs): 0.33 on the three ``lr-batch-grid.yaml`` grids (n = 44 pairs), 0.31 on the three
``lr-batch-grid-long.yaml`` grids (n = 32). The shipped value is the short grids'; the long grids' replays that
report it are held out from it (the short grids' replays use 0.31, from the long grids).
"""


def setup_label(params: Mapping[str, Any]) -> str:
    """The label of a setup from its parameters (a ``seed`` parameter left out): ``lr=0.03_batch_size=64``."""
    return "_".join(f"{k}={v}" for k, v in params.items() if k != "seed")


@dataclass(frozen=True)
class GridPrior:
    """Each setup's energy-to-target in a recorded grid (the mean of its log over the prior's seeds).

    Attributes:
        source: Where the prior was read from.
        log_energy_j: Per setup label, the log of its energy-to-target (or, never reached, of what it spent).
        reached: Per setup label, whether it reached the target in the prior.
    """

    source: str
    log_energy_j: dict[str, float]
    reached: dict[str, bool]

    @property
    def best(self) -> str | None:
        """The prior's cheapest setup that reached the target."""
        hits = [s for s, ok in self.reached.items() if ok]
        return min(hits, key=self.log_energy_j.__getitem__) if hits else None

    def chance_cheapest(self, setup: str, sd: float = PRIOR_SD) -> float | None:
        """Chance that ``setup`` reaches the target for less than the prior's best setup; None when unknown."""
        best = self.best
        if best is None or setup not in self.log_energy_j:
            return None
        if setup == best:
            return 1.0
        gap = self.log_energy_j[best] - self.log_energy_j[setup]
        return NormalDist().cdf(gap / (sd * math.sqrt(2.0)))


def load_prior(source: str | Path, target_accuracy: float) -> GridPrior:
    """The prior of a recorded full grid (a study folder or a CSV trace) at ``target_accuracy``.

    Cached per source and target (a replay makes a fresh pruner for every order). One-line ConfigError when the
    source cannot be read as a full grid, or was recorded with a lower target than ``target_accuracy`` and stopped
    there.
    """
    return _load(str(source), float(target_accuracy))


@functools.lru_cache(maxsize=16)
def _load(source: str, target: float) -> GridPrior:
    trace = _read(source)
    if trace.stopped_at_target and trace.target_accuracy is not None and target > trace.target_accuracy:
        raise ConfigError(
            f"prior {source}: its runs stopped at {trace.target_accuracy:g}, below this sweep's target {target:g}"
        )
    logs: dict[str, list[float]] = {}
    hits: dict[str, bool] = {}
    for run in trace.runs:
        reached = run.energy_to_target_j(target)
        value = reached if reached is not None else run.spent_j(target)
        logs.setdefault(run.setup, []).append(math.log(max(value, 1e-9)))
        hits[run.setup] = hits.get(run.setup, False) or reached is not None
    means = {s: sum(v) / len(v) for s, v in logs.items()}
    return GridPrior(source, means, hits)


def _read(source: str) -> Trace:
    """A CSV trace, or a study folder read straight from its SQLite file.

    The sweep engine's pruner table imports this module, so the prior does not go through Optuna's storage (an import
    circle): a study that cannot be read that way (a storage URL, several studies in one file) is refused.
    """
    from powertrain.study.replay._records import trace_from_records
    from powertrain.study.replay._sqlite import read_sqlite_trials
    from powertrain.study.replay._trace import read_csv_trace

    path = Path(source)
    if path.is_file():
        return read_csv_trace(path)
    if not path.exists():
        raise ConfigError(f"prior {source}: no such file or folder (give a recorded full grid: a study folder or a "
                          "CSV trace)")  # fmt: skip
    records = read_sqlite_trials(path / "study.db") if (path / "study.db").is_file() else None
    if records is None:
        raise ConfigError(f"prior {source}: not a study folder with one study in its study.db, nor a CSV trace "
                          "(a storage URL cannot be a prior: give its study folder or a CSV trace)")  # fmt: skip
    return trace_from_records(records[0], records[1], source)
