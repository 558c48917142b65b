"""A sweep of explicit runs: the one way a study made of known training runs becomes a grid of named trials.

The EAT study (one trial per model and setting) and every stage of the transfer and multitask studies (one trial
per run) are such sweeps: each run's whole :class:`~powertrain.training.TrainConfig` becomes the overrides of one
:class:`~powertrain.study.TrialSpec` over a base config, so the engine's storage, crash safety and exports serve them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from powertrain.errors import ConfigError
from powertrain.study.engine.config import SweepConfig
from powertrain.study.engine.space import OPTION_GROUPS, SearchSpace, TrialSpec
from powertrain.training import TrainConfig

__all__ = ["grid_of_runs", "run_overrides"]


def grid_of_runs(
    runs: Iterable[tuple[str, TrainConfig]], *, base: TrainConfig, always: tuple[str, ...] = (), **sweep: Any
) -> SweepConfig:
    """A grid sweep with one explicit trial per ``(name, config)`` of ``runs``, each a difference from ``base``.

    Args:
        runs: The named runs (names unique; ``/`` in a name makes nested run folders).
        base: The sweep's base config; every trial overrides what its run changes (its ``out`` is the sweep's).
        always: Fields every trial names even where they equal the base's (part of the study's identity).
        **sweep: The other :class:`SweepConfig` fields (``objective``, ``study``, ``out``, ``storage``...).

    The runs' trackers (``log`` of the base or of any run, unless ``sweep`` names them) become the sweep's ``log``:
    which trackers a study logs to is not part of its trials.
    """
    runs = list(runs)
    log = list(sweep.pop("log", None) or base.log or next((c.log for _, c in runs if c.log), []))
    base = base.replace(log=[])
    trials = tuple(TrialSpec(name, run_overrides(base, config.replace(log=[]), always=always)) for name, config in runs)
    return SweepConfig(train=base, space=SearchSpace(trials=trials), sampler="grid", log=log, **sweep)


def run_overrides(base: TrainConfig, config: TrainConfig, *, always: tuple[str, ...] = ()) -> dict[str, Any]:
    """The trial overrides that turn ``base`` into ``config`` (``out`` aside); options as ``dataset_options.X``.

    Raises:
        ConfigError: ``config`` lacks an option the base sets (an override can set an option, not remove it).
    """
    ours, theirs = base.to_dict(), config.to_dict()
    over = {key: theirs[key] for key in always}
    over.update({k: v for k, v in theirs.items() if k not in (*OPTION_GROUPS, "out", *over) and v != ours[k]})
    for group in OPTION_GROUPS:
        mine, wanted = ours[group] or {}, theirs[group] or {}
        if set(mine) - set(wanted):
            raise ConfigError(f"{group}: a run cannot drop {sorted(set(mine) - set(wanted))} set by the base")
        over.update({f"{group}.{key}": value for key, value in wanted.items() if mine.get(key, ...) != value})
    return over
