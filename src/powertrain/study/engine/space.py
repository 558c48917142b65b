"""A sweep's search space over :class:`~powertrain.training.TrainConfig` fields, and its explicit trial list.

A space maps a field name (or ``dataset_options.KEY`` / ``model_options.KEY``) to one of:

- a list: categorical choices (``lr: [0.01, 0.1]``);
- a range mapping ``{low, high}`` with optional ``step`` and ``log`` (``lr: {low: 1e-3, high: 1, log: true}``).

A grid needs every parameter enumerable: a list, or a range with a ``step``. Explicit trials
(:class:`TrialSpec`: a stable name and the fields it overrides) are crossed with the grid.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from powertrain.errors import ConfigError
from powertrain.training import TrainConfig

__all__ = ["OPTION_GROUPS", "Param", "Point", "SearchSpace", "TrialSpec", "apply_overrides", "check_key"]

OPTION_GROUPS = ("dataset_options", "model_options")  #: the TrainConfig fields set one option at a time
_FIELDS = {f.name for f in fields(TrainConfig)}
_CARBON_FIELDS = ("country", "region", "pue", "intensity_g_per_kwh")  # where a worker draws its power
RUN_PARAM = "run"  #: the Optuna parameter naming an explicit trial


@dataclass(frozen=True)
class Param:
    """One dimension of the space: ``choices`` (categorical) or a ``low``..``high`` range."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def is_int(self) -> bool:
        """A range of integers (both ends and the step are ints)."""
        ends = (self.low, self.high) + ((self.step,) if self.step is not None else ())
        return self.choices is None and all(isinstance(v, int) and not isinstance(v, bool) for v in ends)

    def grid_values(self) -> tuple[Any, ...]:
        """Every value a grid visits; a range without a ``step`` cannot be gridded."""
        if self.choices is not None:
            return self.choices
        if self.step is None or self.log:
            raise ConfigError(f"grid sampler: {self.key} is a continuous range; give a list or a step")
        assert self.low is not None and self.high is not None
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + i * self.step for i in range(count)]
        return tuple(int(v) if self.is_int else round(float(v), 12) for v in values)

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this parameter's value."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.is_int:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}


@dataclass(frozen=True)
class TrialSpec:
    """One explicit trial: a stable ``name`` and the TrainConfig fields it overrides."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Point:
    """One configuration of a grid or a list: its stable name and the Optuna parameters that select it."""

    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a sweep plus its explicit trials (either may be empty, not both)."""

    params: tuple[Param, ...] = ()
    trials: tuple[TrialSpec, ...] = ()

    @classmethod
    def parse(cls, space: Mapping[str, Any] | None, trials: Iterable[Any] | None = None) -> SearchSpace:
        """Build from the YAML forms (see the module docstring); bad input raises :class:`ConfigError`."""
        params = tuple(_parse_param(str(k), v) for k, v in (space or {}).items())
        specs: list[TrialSpec] = []
        for item in trials or ():
            if isinstance(item, TrialSpec):
                spec = item
            elif isinstance(item, Mapping) and "name" in item:
                over = item.get("overrides", {k: v for k, v in item.items() if k != "name"})
                spec = TrialSpec(str(item["name"]), dict(over))
            else:
                raise ConfigError(f"each entry of trials must be a mapping with a name, not {item!r}")
            for key in spec.overrides:
                check_key(key)
            specs.append(spec)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"trial names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
        if not params and not specs:
            raise ConfigError("the sweep has an empty search space: give space: or trials:")
        return cls(params, tuple(specs))

    def grid(self) -> list[Point]:
        """Every point of the grid (explicit trials crossed with the parameters), in a stable order."""
        axes = [[(p.key, v) for v in p.grid_values()] for p in self.params]
        if any(not axis for axis in axes):
            raise ConfigError("the grid is empty: a parameter has no values")
        runs: list[TrialSpec | None] = list(self.trials) or [None]
        points = []
        for run, combo in itertools.product(runs, itertools.product(*axes)):
            params = dict(combo)
            parts = [run.name] if run is not None else []
            parts += [f"{_short(k)}={_fmt(v)}" for k, v in combo]
            if run is not None:
                params[RUN_PARAM] = run.name
            points.append(Point(_safe_name("_".join(parts)), params))
        return points

    def as_grid(self) -> SearchSpace:
        """The same space with every parameter turned into the categorical list of its grid values."""
        return SearchSpace(tuple(Param(p.key, choices=p.grid_values()) for p in self.params), self.trials)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample this space through an Optuna trial; returns the parameters (``run`` names the explicit trial)."""
        values = {p.key: p.suggest(trial) for p in self.params}
        if self.trials:
            values[RUN_PARAM] = trial.suggest_categorical(RUN_PARAM, [t.name for t in self.trials])
        return values

    def config_for(self, base: TrainConfig, params: Mapping[str, Any]) -> TrainConfig:
        """The TrainConfig of one point: the base, then the explicit trial's overrides, then the parameters."""
        changes = {k: v for k, v in params.items() if k != RUN_PARAM}
        over: dict[str, Any] = {}
        if RUN_PARAM in params:
            spec = next((t for t in self.trials if t.name == params[RUN_PARAM]), None)
            if spec is None:
                raise ConfigError(f"unknown trial {params[RUN_PARAM]!r}")
            over = dict(spec.overrides)
        return apply_overrides(apply_overrides(base, over), changes)

    def validate(self, base: TrainConfig) -> None:
        """Check every explicit trial and both ends of every range: a valid TrainConfig, known model and dataset."""
        runs = [{RUN_PARAM: t.name} for t in self.trials] or [{}]
        for run in runs:
            _check_names(self.config_for(base, run).validate())
            for p in self.params:
                if p.key in ("model", "dataset") and p.choices is not None:
                    for value in p.choices:
                        _check_names(self.config_for(base, {**run, p.key: value}))
            for p in self.params:
                ends = p.choices if p.choices is not None else (p.low, p.high)
                for value in ends:
                    try:
                        self.config_for(base, {**run, p.key: value}).validate()
                    except ConfigError as exc:
                        raise ConfigError(f"space {p.key}={value!r}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """A canonical JSON-safe form, used to recognise the same study."""
        return {
            "space": {p.key: p.to_dict() for p in self.params},
            "trials": [{"name": t.name, "overrides": dict(t.overrides)} for t in self.trials],
        }

    def fingerprint(self, base: TrainConfig) -> str:
        """A canonical string of the base config (minus per-machine fields) and the space.

        ``attribution`` and ``threads`` are left out: the study records and checks them itself
        (:mod:`powertrain.study.engine.attribution`), so a study made before they existed keeps its fingerprint.
        """
        machine = {"device", "data_dir", "download", "workers", "out", "gpu_indices", "data_on_device", "log",
                   *_CARBON_FIELDS, "attribution", "threads"}  # fmt: skip
        config = {k: v for k, v in base.to_dict().items() if k not in machine}
        return json.dumps({"base": config, **self.to_dict()}, sort_keys=True, default=str)


def _check_names(config: TrainConfig) -> None:
    """Raise UnknownNameError for a model or dataset that is not registered."""
    from powertrain.data import list_datasets
    from powertrain.errors import UnknownNameError
    from powertrain.models import list_models

    if config.model not in list_models():
        raise UnknownNameError("model", config.model, list_models())
    if not config.dataset.startswith("imagefolder:") and config.dataset not in list_datasets():
        raise UnknownNameError("dataset", config.dataset, list_datasets())


def check_key(key: str) -> None:
    """Raise :class:`ConfigError` unless ``key`` is a TrainConfig field or ``dataset_options.X``/``model_options.X``."""
    group, dot, sub = key.partition(".")
    if dot and group in OPTION_GROUPS and sub:
        return
    if not dot and key in _FIELDS and key not in OPTION_GROUPS and key != "out":
        return
    import difflib

    close = difflib.get_close_matches(key, sorted(_FIELDS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"the search space names an unknown TrainConfig field {key!r}{hint}")


def apply_overrides(base: TrainConfig, changes: Mapping[str, Any]) -> TrainConfig:
    """``base`` with ``changes`` applied; ``dataset_options.X`` and ``model_options.X`` set one option."""
    plain: dict[str, Any] = {}
    groups = {g: dict(getattr(base, g)) for g in OPTION_GROUPS}
    for key, value in changes.items():
        check_key(key)
        group, dot, sub = key.partition(".")
        if dot:
            groups[group][sub] = value
        else:
            plain[key] = value
    import dataclasses

    return dataclasses.replace(base, **plain, **groups)


def _parse_param(key: str, spec: Any) -> Param:
    check_key(key)
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ConfigError(f"space {key}: the list of choices is empty")
        for v in spec:
            if v is not None and not isinstance(v, (bool, int, float, str)):
                raise ConfigError(f"space {key}: choices must be numbers, strings, booleans or null, not {v!r}")
        return Param(key, choices=tuple(spec))
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"low", "high", "step", "log", "choices"}
        if unknown:
            raise ConfigError(f"space {key}: unknown range key {sorted(unknown)[0]!r} (use low, high, step, log)")
        if "choices" in spec:
            return _parse_param(key, spec["choices"])
        low, high, step, log = spec.get("low"), spec.get("high"), spec.get("step"), bool(spec.get("log", False))
        for name, value in (("low", low), ("high", high), ("step", step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"space {key}: {name} must be a number, not {value!r}")
        if low is None or high is None:
            raise ConfigError(f"space {key}: a range needs low and high")
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ConfigError(f"space {key}: needs finite low <= high, not {low!r}..{high!r}")
        if log and low <= 0:
            raise ConfigError(f"space {key}: a log range needs low > 0, not {low!r}")
        if step is not None and (step <= 0 or log):
            raise ConfigError(f"space {key}: step must be > 0 and cannot combine with log")
        return Param(key, low=low, high=high, step=step, log=log)
    return Param(key, choices=(spec,))


def _short(key: str) -> str:
    return key.rpartition(".")[2]


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _safe_name(name: str) -> str:
    """A file-safe run name; ``/`` makes nested folders (``model/setting``), never ``..`` or an absolute path."""
    parts = [re.sub(r"[^A-Za-z0-9._=+-]+", "-", part).strip("-") for part in name.split("/")]
    return "/".join(p for p in parts if p and p not in (".", "..")) or "trial"
