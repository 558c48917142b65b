"""The typed configuration of an EAT study, read from YAML and checked up front.

A study config has a ``train:`` section of :class:`~powertrain.training.TrainConfig` fields shared by every run, the
``models`` to train, the EAT ``settings`` (sigma, lambda) to compare with standard training (always included, as lambda
0), the selection rule and the inference energy measurement. :func:`load_eat_study_config` reads it;
:meth:`EatStudyConfig.validate` turns every bad value into one :class:`~powertrain.errors.ConfigError` line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from powertrain._files import read_yaml
from powertrain.errors import ConfigError, UnknownNameError
from powertrain.training import TrainConfig

__all__ = [
    "STANDARD",
    "EatSetting",
    "EatStudyConfig",
    "InferenceEnergyConfig",
    "format_sigma",
    "inference_key",
    "load_eat_study_config",
]

STANDARD = "standard"
"""Name of the standard-training setting (lambda 0), part of every study."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STUDY_KEYS = (
    "train", "models", "settings", "seed", "accuracy_tolerance", "estimate_batch_size", "inference_energy",
    "goal_decrease_pct", "goal_max_accuracy_drop", "out",
)  # fmt: skip
_SETTING_KEYS = ("sigma", "lambda", "name")
# TrainConfig fields a study sets itself, and where to set them instead.
_TRAIN_RESERVED = {
    "model": "models:",
    "eat_lambda": "settings:",
    "eat_sigma": "settings:",
    "out": "the top-level out:",
    "seed": "the top-level seed:",
    "estimate_batch_size": "the top-level estimate_batch_size:",
}


@dataclass(frozen=True)
class EatSetting:
    """One (sigma, lambda) of EAT's penalty; lambda 0 is standard training.

    Attributes:
        sigma: Smoothing constant of ``x^2 / (x^2 + sigma)``.
        lam: Penalty weight lambda (YAML key ``lambda``).
        name: Folder-safe name of the setting's runs (default ``sigma1e-4_lambda2``; ``standard`` for lambda 0).
    """

    sigma: float
    lam: float
    name: str

    @classmethod
    def make(cls, sigma: float, lam: float, name: str | None = None) -> EatSetting:
        """A setting with its default name when ``name`` is None."""
        default = STANDARD if lam == 0 else f"sigma{format_sigma(sigma)}_lambda{lam:g}"
        return cls(sigma=float(sigma), lam=float(lam), name=name or default)

    @property
    def is_standard(self) -> bool:
        """True for standard training (lambda 0)."""
        return self.lam == 0

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "sigma", "lambda"}``."""
        return {"name": self.name, "sigma": self.sigma, "lambda": self.lam}


@dataclass(frozen=True)
class InferenceEnergyConfig:
    """How the real inference energy of each trained model is measured.

    Every measurement runs ``warmup_passes`` unmetered passes over the test split, then passes inside one meter
    window until at least ``repeats`` passes and ``min_seconds`` have gone by (NVML's energy counter updates about
    10 times a second, so windows of a few seconds are needed). ``rounds`` repeats the measurement of every model of a
    group, interleaved, so that the spread between rounds shows the noise.

    Attributes:
        enabled: Measure at all.
        batch_size: Inference batch size.
        min_seconds: Shortest metered window, seconds.
        repeats: Fewest metered passes over the test split.
        rounds: Measurements per model, interleaved with the other settings' models.
        warmup_passes: Unmetered passes before each window.
    """

    enabled: bool = True
    batch_size: int = 512
    min_seconds: float = 5.0
    repeats: int = 1
    rounds: int = 1
    warmup_passes: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A plain dict."""
        return dataclasses.asdict(self)


@dataclass
class EatStudyConfig:
    """Everything that defines an EAT study (see docs/eat-study.md).

    Attributes:
        train: Base training config of every run (its ``model``, ``eat_lambda``, ``eat_sigma`` and ``out`` are set
            per run).
        models: Registered model names.
        settings: EAT settings (lambda > 0); standard training is added by :attr:`all_settings`.
        seed: Seed of every run (same seed for all, so runs differ only in the penalty).
        accuracy_tolerance: Selection rule: the lowest energy ratio among settings whose accuracy is at most this much
            (a fraction, 0.01 = 1 point) below standard training's.
        estimate_batch_size: Batch size of the accelerator energy ratio (EAT: 512).
        inference_energy: The real inference energy measurement.
        goal_decrease_pct: The goal: an energy ratio at least this many percent below standard training's...
        goal_max_accuracy_drop: ...at no more than this accuracy drop (a fraction).
        out: Study folder: ``runs/<model>/<setting>/`` run directories, ``results.json``, ``results.md``.
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(image_size=32, channels=3, batch_size=512))
    models: tuple[str, ...] = ("resnet18", "vgg16")
    settings: tuple[EatSetting, ...] = field(default_factory=lambda: (EatSetting.make(1e-4, 1.0),))
    seed: int = 0
    accuracy_tolerance: float = 0.01
    estimate_batch_size: int = 512
    inference_energy: InferenceEnergyConfig = field(default_factory=InferenceEnergyConfig)
    goal_decrease_pct: float = 20.0
    goal_max_accuracy_drop: float = 0.01
    out: str = "runs/eat-study"

    @property
    def all_settings(self) -> tuple[EatSetting, ...]:
        """Standard training first, then :attr:`settings` in order."""
        return (EatSetting.make(self.train.eat_sigma, 0.0), *self.settings)

    def run_config(self, model: str, setting: EatSetting) -> TrainConfig:
        """The TrainConfig of one run; its directory is ``OUT/runs/<model>/<setting.name>``."""
        return self.train.replace(
            model=model,
            eat_lambda=setting.lam,
            eat_sigma=setting.sigma,
            seed=self.seed,
            estimate_batch_size=self.estimate_batch_size,
            out=str(Path(self.out) / "runs" / model / setting.name),
        )

    def replace(
        self, *, out: str | None = None, epochs: int | None = None, device: str | None = None
    ) -> EatStudyConfig:
        """A copy with the CLI's overrides applied (None: keep the file's value)."""
        train = self.train.replace(epochs=epochs, device=device)
        return dataclasses.replace(self, train=train, out=out if out is not None else self.out)

    def validate(self) -> EatStudyConfig:
        """Check every value; raise :class:`ConfigError` (or :class:`UnknownNameError`) naming the first bad one."""
        from powertrain.data import list_datasets
        from powertrain.models import list_models

        dataset = self.train.dataset.split(":", 1)[0]
        if dataset not in list_datasets():
            raise UnknownNameError("dataset", self.train.dataset, list_datasets())
        if not self.models:
            raise ConfigError("models must list at least one model, for example [resnet18, vgg16]")
        for model in self.models:
            if model not in list_models():
                raise UnknownNameError("model", model, list_models())
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models lists a model twice: {', '.join(self.models)}")
        names = [s.name for s in self.all_settings]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ConfigError(f"settings: two settings are named {duplicate!r}; give each a unique name")
        for setting in self.settings:
            if setting.is_standard:
                raise ConfigError("settings: lambda 0 is standard training, which every study includes; remove it")
            if not _NAME.match(setting.name):
                raise ConfigError(f"settings: name {setting.name!r} must be letters, digits, '.', '_' or '-'")
        _check_int("seed", self.seed, minimum=0)
        _check_int("estimate_batch_size", self.estimate_batch_size, minimum=1)
        _check_fraction("accuracy_tolerance", self.accuracy_tolerance)
        _check_fraction("goal_max_accuracy_drop", self.goal_max_accuracy_drop)
        if not (_finite(self.goal_decrease_pct) and 0 <= self.goal_decrease_pct <= 100):
            raise ConfigError(f"goal_decrease_pct must be a percentage in [0, 100], not {self.goal_decrease_pct!r}")
        inference = self.inference_energy
        if not isinstance(inference.enabled, bool):
            raise ConfigError(f"inference_energy.enabled must be true or false, not {inference.enabled!r}")
        _check_int("inference_energy.batch_size", inference.batch_size, minimum=1)
        _check_int("inference_energy.repeats", inference.repeats, minimum=1)
        _check_int("inference_energy.rounds", inference.rounds, minimum=1)
        _check_int("inference_energy.warmup_passes", inference.warmup_passes, minimum=0)
        if not (_finite(inference.min_seconds) and inference.min_seconds >= 0):
            raise ConfigError(f"inference_energy.min_seconds must be a number >= 0, not {inference.min_seconds!r}")
        if not self.out:
            raise ConfigError("out must name the study folder")
        for model in self.models:
            for setting in self.all_settings:
                try:
                    self.run_config(model, setting).validate()
                except ConfigError as exc:
                    raise ConfigError(f"train: {exc}") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        """A YAML- and JSON-safe dict in the file's layout (:meth:`from_dict` reads it back)."""
        train = {k: v for k, v in self.train.to_dict().items() if k not in _TRAIN_RESERVED}
        return {
            "train": train,
            "models": list(self.models),
            "settings": [s.to_dict() for s in self.settings],
            "seed": self.seed,
            "accuracy_tolerance": self.accuracy_tolerance,
            "estimate_batch_size": self.estimate_batch_size,
            "inference_energy": self.inference_energy.to_dict(),
            "goal_decrease_pct": self.goal_decrease_pct,
            "goal_max_accuracy_drop": self.goal_max_accuracy_drop,
            "out": self.out,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, default_out: str | None = None) -> EatStudyConfig:
        """Build and validate a config from the YAML layout.

        Args:
            data: The parsed file. Keys may use dashes or underscores.
            default_out: Study folder when ``out`` is not given (the loader uses ``runs/<file stem>``).

        Raises:
            ConfigError: An unknown key (with the closest known one), a malformed section or a bad value.
            UnknownNameError: An unknown model or dataset.
        """
        data = _keys(data, "the study config", _STUDY_KEYS)
        train_data = _keys(data.get("train") or {}, "train", None)
        for key, where in _TRAIN_RESERVED.items():
            if key in train_data:
                raise ConfigError(f"train: {key} is set by the study; use {where} instead")
        train_data = {k: _coerce_train_value(k, v) for k, v in train_data.items()}
        try:
            train = TrainConfig(image_size=32, channels=3, batch_size=512).replace(**_as_init(train_data))
        except TypeError as exc:
            raise ConfigError(f"train: {exc}") from None
        models = data.get("models", list(cls.models))
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"models must be a list of model names, not {models!r}")
        raw_settings = data.get("settings", [])
        if not isinstance(raw_settings, list):
            raise ConfigError("settings must be a list of {sigma: ..., lambda: ...} mappings")
        settings = tuple(_setting(item, i) for i, item in enumerate(raw_settings))
        inference_data = data.get("inference_energy")
        if isinstance(inference_data, bool):
            inference_data = {"enabled": inference_data}
        inference_data = _keys(
            inference_data or {}, "inference_energy", [f.name for f in fields(InferenceEnergyConfig)]
        )
        inference = InferenceEnergyConfig(
            **{k: _number(v, f"inference_energy.{k}") if k == "min_seconds" else v for k, v in inference_data.items()}
        )
        config = cls(
            train=train,
            models=tuple(models),
            settings=settings,
            seed=data.get("seed", 0),
            accuracy_tolerance=_number(data.get("accuracy_tolerance", 0.01), "accuracy_tolerance"),
            estimate_batch_size=data.get("estimate_batch_size", 512),
            inference_energy=inference,
            goal_decrease_pct=_number(data.get("goal_decrease_pct", 20.0), "goal_decrease_pct"),
            goal_max_accuracy_drop=_number(data.get("goal_max_accuracy_drop", 0.01), "goal_max_accuracy_drop"),
            out=str(data.get("out") or default_out or cls.out),
        )
        return config.validate()


def load_eat_study_config(path: str | Path) -> EatStudyConfig:
    """Read and validate a study config file (``yaml.safe_load``); ``out`` defaults to ``runs/<file stem>``.

    Raises:
        ConfigError: A missing or malformed file, or any bad value (one line).
    """
    path = Path(path)
    data = read_yaml(path, what="study config file")
    if not isinstance(data, dict):
        raise ConfigError(f"study config {path} must hold a mapping with train:, models: and settings:")
    return EatStudyConfig.from_dict(data, default_out=str(Path("runs") / path.stem))


def _keys(data: object, where: str, known: tuple[str, ...] | list[str] | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of key: value, not {data!r}")
    out = {str(k).replace("-", "_"): v for k, v in data.items()}
    for key in out:
        if known is not None and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    return out


def _as_init(train_data: dict[str, Any]) -> dict[str, Any]:
    """Unknown TrainConfig keys as a ConfigError with the closest field (TrainConfig.from_dict's message)."""
    known = [f.name for f in fields(TrainConfig)]
    for key in train_data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"train: unknown key {key!r}{hint}")
    return train_data


def _setting(item: object, index: int) -> EatSetting:
    where = f"settings[{index}]"
    data = _keys(item, where, _SETTING_KEYS)
    missing = [k for k in ("sigma", "lambda") if k not in data]
    if missing:
        raise ConfigError(f"{where} needs {' and '.join(missing)} (for example {{sigma: 1.0e-4, lambda: 1.0}})")
    sigma, lam = _number(data["sigma"], f"{where}.sigma"), _number(data["lambda"], f"{where}.lambda")
    if not sigma > 0:
        raise ConfigError(f"{where}.sigma must be > 0, not {sigma!r}")
    if lam < 0:
        raise ConfigError(f"{where}.lambda must be >= 0, not {lam!r}")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, not {name!r}")
    return EatSetting.make(sigma, lam, name)


def _number(value: object, where: str) -> float:
    """A finite number; strings such as ``"1e-4"`` (YAML 1.1 reads ``1e-4`` without a dot as text) are parsed."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{where} must be a number, not {value!r}") from None
    if not _finite(value):
        raise ConfigError(f"{where} must be a finite number, not {value!r}")
    return float(value)  # type: ignore[arg-type]


def _coerce_train_value(key: str, value: Any) -> Any:
    """Parse numeric strings of TrainConfig's float fields (``lr: 1e-3`` is text to YAML 1.1)."""
    kinds = {f.name: str(f.type) for f in fields(TrainConfig)}
    if isinstance(value, str) and "float" in kinds.get(key, ""):
        try:
            return float(value)
        except ValueError:
            return value  # validate() names the field
    return value


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _check_fraction(name: str, value: object) -> None:
    if not (_finite(value) and 0 <= value <= 1):  # type: ignore[operator]
        raise ConfigError(f"{name} must be a fraction in [0, 1] (0.01 = 1 point), not {value!r}")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_sigma(value: float) -> str:
    """``1e-4`` -> ``"1e-4"``, ``0.0025`` -> ``"2.5e-3"``: compact and folder-safe."""
    mantissa, exponent = f"{value:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def inference_key(config: EatStudyConfig) -> dict[str, Any]:
    """What must match for an earlier inference measurement to be reused."""
    key = config.inference_energy.to_dict()
    key.pop("rounds")
    key.pop("enabled")
    from powertrain.training.device import resolve_device

    key.update(device=str(resolve_device(config.train.device)), amp=config.train.amp)
    return key
