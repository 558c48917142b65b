"""The configuration of a sweep: base TrainConfig, search space or trial list, sampler, objective, pruner, storage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from powertrain._config import Replaceable
from powertrain._files import read_yaml
from powertrain.errors import ConfigError
from powertrain.study.engine.samplers import PRUNERS, SAMPLERS
from powertrain.study.engine.space import SearchSpace
from powertrain.training import TrainConfig, load_config

__all__ = ["OBJECTIVES", "SweepConfig", "load_sweep_config", "make_pruner", "make_sampler", "sweep_config_from_dict"]

#: objective name -> (direction, trial user attribute holding its value, unit)
OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "energy_to_target": ("minimize", "energy_to_target_j", "J"),
    "time_to_target": ("minimize", "time_to_target_s", "s"),
    "accuracy": ("maximize", "final_accuracy", ""),
    "best_accuracy": ("maximize", "best_accuracy", ""),
    "energy": ("minimize", "energy_j", "J"),
    "time": ("minimize", "duration_s", "s"),
    "energy_ratio": ("minimize", "accel_energy_ratio", ""),
}
_TOP_KEYS = {
    "train", "space", "trials", "sampler", "objective", "n_trials", "pruner", "seed", "study", "out", "storage",
    "heartbeat_s", "grace_s", "max_retries", "round_epochs", "log", "workers_per_host", "threads_per_trial",
}  # fmt: skip


@dataclass
class SweepConfig(Replaceable):
    """Everything that defines a sweep.

    Attributes:
        train: The base training config every trial starts from.
        space: The search space and/or explicit trials (:class:`~powertrain.study.SearchSpace`).
        sampler: ``grid`` (every point once, the paper's style), ``random``, ``tpe`` or ``nsga2`` (multi-objective):
            a name of :data:`~powertrain.study.engine.samplers.SAMPLERS`.
        objective: One name of :data:`OBJECTIVES`, or several for a multi-objective study (``nsga2``); default
            ``energy_to_target`` (needs ``train.target_accuracy``).
        n_trials: Trials to run in total over all workers (random/tpe/nsga2); a grid runs each point once.
        pruner: ``none``, ``energy`` (stop a trial that has spent more than the best energy-to-target without
            reaching the target), ``sm2`` (successive halving on measured energy), or one of Optuna's ``median``,
            ``percentile``, ``successive_halving``, ``hyperband``: a name of
            :data:`~powertrain.study.engine.samplers.PRUNERS`.
        pruner_options: Keyword arguments of the pruner's class.
        round_epochs: Breadth-first (grid and trial lists): run every trial this many epochs at a time, round by round
            (each round continues the run's checkpoint), so the pruner knows the cheapest setup's energy-to-target
            before any trial has run long. None: each trial runs to its end before the next starts.
        seed: Sampler seed.
        study: The study's name in the storage.
        out: The study folder (run directories, the SQLite file, exports).
        storage: A SQLAlchemy URL (``postgresql://...``); default ``sqlite:///OUT/study.db``.
        heartbeat_s: How often a running trial tells the storage it is alive (seconds).
        grace_s: A trial silent for this long is taken as lost and retried (seconds).
        max_retries: How often a lost trial is retried.
        identity: More facts that make two studies different (a preset's own settings): part of the check that an
            existing study of the same name is the same study.
        log: Experiment trackers (``mlflow``, ``tensorboard``, ``wandb``, optionally ``NAME:OPTION``): the sweep is
            a parent run there (found by the study's name) with one child run per trial (found by its run's name,
            so a retried trial or a next round continues it). Default: ``train.log``. Not part of the identity.
        workers_per_host: How many workers (``sweep run`` processes) share one machine: each trial gets the host's
            cores divided among them as PyTorch threads, so workers do not oversubscribe the CPU.
        threads_per_trial: PyTorch threads of every trial, instead of cores / ``workers_per_host``. Recorded with the
            study when it is created: every worker and every resume uses the recorded figure.
    """

    train: TrainConfig
    space: SearchSpace
    sampler: str = "grid"
    objective: list[str] = field(default_factory=lambda: ["energy_to_target"])
    n_trials: int | None = None
    pruner: str = "none"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    round_epochs: int | None = None
    seed: int = 0
    study: str = "sweep"
    out: str = "studies/sweep"
    storage: str | None = None
    heartbeat_s: int = 10
    grace_s: int = 30
    max_retries: int = 3
    identity: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    workers_per_host: int = 1
    threads_per_trial: int | None = None

    @property
    def directions(self) -> list[str]:
        """Optuna's direction of each objective."""
        return [OBJECTIVES[name][0] for name in self.objective]

    @property
    def storage_url(self) -> str:
        """The storage URL, defaulting to the SQLite file in the study folder."""
        return self.storage or f"sqlite:///{Path(self.out).resolve() / 'study.db'}"

    def validate(self) -> SweepConfig:
        """Check every value (and every point of a grid); raise :class:`ConfigError`. Returns ``self``."""
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {', '.join(SAMPLERS)}, not {self.sampler!r}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"pruner must be one of {', '.join(PRUNERS)}, not {self.pruner!r}")
        if not self.objective:
            raise ConfigError("objective must name at least one of " + ", ".join(OBJECTIVES))
        for name in self.objective:
            if name not in OBJECTIVES:
                raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, not {name!r}")
        if len(self.objective) > 1 and self.pruner != "none":
            raise ConfigError("pruning needs a single objective (Optuna cannot prune multi-objective trials)")
        if self.sampler == "nsga2" and len(self.objective) < 2:
            raise ConfigError("sampler nsga2 is multi-objective: give two objectives, e.g. [accuracy, energy]")
        needs_target = {"energy_to_target", "time_to_target"} & set(self.objective) or self.pruner == "energy"
        if needs_target and self.train.target_accuracy is None:
            raise ConfigError("objective energy_to_target (and the energy pruner) need train.target_accuracy")
        if "energy_ratio" in self.objective and self.train.estimate_batch_size == 0:
            raise ConfigError("objective energy_ratio needs train.estimate_batch_size > 0")
        if self.sampler != "grid" and (self.n_trials is None or self.n_trials < 1):
            raise ConfigError(f"sampler {self.sampler} needs n_trials >= 1 (a grid runs every point once)")
        if self.round_epochs is not None and (isinstance(self.round_epochs, bool) or self.round_epochs < 1):
            raise ConfigError(f"round_epochs must be a whole number of epochs >= 1, not {self.round_epochs!r}")
        if self.round_epochs is not None and self.sampler != "grid":
            raise ConfigError(
                "round_epochs (breadth-first rounds) needs sampler grid: a sampler picks trials one by one"
            )
        if self.n_trials is not None and self.n_trials < 1:
            raise ConfigError(f"n_trials must be >= 1, not {self.n_trials!r}")
        if not self.study or "/" in self.study:
            raise ConfigError(f"study name must be non-empty without '/', not {self.study!r}")
        for name in ("workers_per_host", "threads_per_trial"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, not {value!r}")
        if self.heartbeat_s < 1 or self.grace_s <= self.heartbeat_s or self.max_retries < 0:
            raise ConfigError("need heartbeat_s >= 1, grace_s > heartbeat_s and max_retries >= 0")
        if not isinstance(self.log, (list, tuple)):
            raise ConfigError(f"log must be a list of trackers (mlflow, tensorboard, wandb), not {self.log!r}")
        if self.log:
            from powertrain.integrations.trackers._fanout import parse_spec

            for spec in self.log:
                parse_spec(spec)
        self.train.validate()
        self.space.validate(self.train)
        if self.sampler == "grid":
            points = self.space.grid()
            if not points:
                raise ConfigError("the grid is empty")
            for point in points:
                try:
                    self.space.config_for(self.train, point.params).validate()
                except ConfigError as exc:
                    raise ConfigError(f"grid point {point.name}: {exc}") from None
        return self


def make_sampler(config: SweepConfig) -> optuna.samplers.BaseSampler:
    """The Optuna sampler ``config.sampler`` names (a grid's points are enqueued, so it samples nothing)."""
    return SAMPLERS[config.sampler](config.seed)


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    """The pruner ``config.pruner`` names, built with ``config.pruner_options``."""
    try:
        return PRUNERS[config.pruner](**config.pruner_options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"pruner {config.pruner}: {exc}") from None


def load_sweep_config(path: str | Path, **overrides: Any) -> SweepConfig:
    """Read a sweep YAML file (``yaml.safe_load``); ``overrides`` (None: not given) replace its top-level keys.

    Keys: ``train`` (a mapping of TrainConfig fields, or the path of a training YAML, relative to this file),
    ``space``, ``trials``, ``sampler``, ``objective``, ``n_trials``, ``pruner`` (a name, or a mapping with ``name`` and
    the pruner's options), ``seed``, ``study`` (default: the file's stem), ``out`` (default ``studies/<study>``),
    ``storage``, ``heartbeat_s``, ``grace_s``, ``max_retries``, ``round_epochs``, ``workers_per_host``,
    ``threads_per_trial``.
    """
    path = Path(path)
    data = read_yaml(path, what="sweep config")
    if not isinstance(data, Mapping):
        raise ConfigError(f"sweep config {path} must hold a mapping")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return sweep_config_from_dict(data, default_study=path.stem, base_dir=path.parent)


def sweep_config_from_dict(
    data: Mapping[str, Any], *, default_study: str = "sweep", base_dir: Path = Path(".")
) -> SweepConfig:
    """Build a :class:`SweepConfig` from its YAML form (see :func:`load_sweep_config`)."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(_TOP_KEYS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown sweep config key {unknown[0]!r}{hint}")
    train = data.get("train") or {}
    if isinstance(train, (str, Path)):
        base = load_config(base_dir / train)
    elif isinstance(train, Mapping):
        base = TrainConfig.from_dict({str(k).replace("-", "_"): v for k, v in train.items()})
    elif isinstance(train, TrainConfig):
        base = train
    else:
        raise ConfigError("train must be a mapping of TrainConfig fields or the path of a training config")
    space = data.get("space")
    if space is not None and not isinstance(space, Mapping):
        raise ConfigError("space must be a mapping of field: choices or range")
    trials = data.get("trials")
    if trials is not None and not isinstance(trials, list):
        raise ConfigError("trials must be a list of {name: ..., FIELD: value}")
    objective = data.get("objective", "energy_to_target")
    objective = [objective] if isinstance(objective, str) else [str(o) for o in objective or []]
    pruner = data.get("pruner", "none") or "none"
    options: dict[str, Any] = {}
    if isinstance(pruner, Mapping):
        options = {k: v for k, v in pruner.items() if k != "name"}
        pruner = pruner.get("name", "none")
    study = str(data.get("study") or default_study)
    storage = data.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise ConfigError(f"storage must be a URL such as sqlite:///study.db, not {storage!r}")
    out = data.get("out")
    if out is not None and not isinstance(out, (str, Path)):
        raise ConfigError(f"out must be a folder name, not {out!r}")
    try:
        return SweepConfig(
            train=base,
            space=SearchSpace.parse(space, trials),
            sampler=str(data.get("sampler", "grid")),
            objective=objective,
            n_trials=_whole(data.get("n_trials"), "n_trials"),
            pruner=str(pruner),
            pruner_options=options,
            round_epochs=_whole(data.get("round_epochs"), "round_epochs"),
            seed=_whole(_given(data, "seed", 0), "seed"),
            study=study,
            out=str(out or Path("studies") / study),
            storage=storage,
            heartbeat_s=_whole(_given(data, "heartbeat_s", 10), "heartbeat_s"),
            grace_s=_whole(_given(data, "grace_s", 30), "grace_s"),
            max_retries=_whole(_given(data, "max_retries", 3), "max_retries"),
            log=[data["log"]] if isinstance(data.get("log"), str) else list(data.get("log") or []),
            workers_per_host=_whole(data.get("workers_per_host"), "workers_per_host") or 1,
            threads_per_trial=_whole(data.get("threads_per_trial"), "threads_per_trial"),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"sweep config: {exc}") from None


def _given(data: Mapping[str, Any], key: str, default: Any) -> Any:
    """``data[key]``, or ``default`` when it is missing or null."""
    value = data.get(key)
    return default if value is None else value


def _whole(value: Any, name: str) -> int | None:
    """A whole number from YAML (``3``, ``"3"``), or None; ``1.5``, ``true`` or ``abc`` are a one-line ConfigError."""
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{name} must be a whole number, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
