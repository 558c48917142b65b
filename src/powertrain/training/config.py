"""The typed configuration of one training run.

A :class:`TrainConfig` comes from keyword arguments, a YAML file (:func:`load_config`, read with ``safe_load``)
or CLI flags; :meth:`TrainConfig.validate` turns every bad value into one
:class:`~powertrain.errors.ConfigError` line.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from powertrain._config import Replaceable
from powertrain._files import read_yaml
from powertrain.carbon import CarbonSettings
from powertrain.errors import ConfigError

__all__ = ["Amp", "FineTune", "LrSchedule", "Optimizer", "TrainConfig", "load_config"]

Optimizer = Literal["sgd", "adam", "adamw"]
LrSchedule = Literal["constant", "exponential", "cosine", "step", "onecycle"]
Amp = Literal["off", "bf16", "fp16"]
EatLayers = Literal["activations", "all"]
EatNormalization = Literal["numel", "params"]
EstimateMode = Literal["reference", "layerwise", "ops"]
FineTune = Literal["full", "head", "last_blocks"]


@dataclass
class TrainConfig(Replaceable):
    """Everything that defines a training run. Defaults follow EAT's recipe (DESIGN.md) where one applies.

    Attributes:
        dataset: A registered dataset name (``powertrain.data.list_datasets()``) or ``imagefolder:PATH``.
        model: A registered model name (``powertrain.models.list_models()``).
        epochs: Number of passes over the training split.
        batch_size: Training batch size; ``eval_batch_size`` defaults to it.
        optimizer: ``sgd`` (with ``momentum`` and ``nesterov``), ``adam`` or ``adamw``.
        lr: Peak learning rate. ``lr_schedule`` ``exponential`` multiplies it by ``lr_gamma`` each epoch
            (EAT: 0.95), ``step`` by ``lr_gamma`` every ``lr_step_epochs``, ``cosine`` anneals to 0,
            ``onecycle`` warms up then anneals.
        amp: Mixed precision: ``off``, ``bf16`` or ``fp16`` autocast.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        target_accuracy: Validation accuracy in [0, 1] whose first crossing defines energy- and time-to-target.
        stop_at_target: End the run at the epoch that reaches ``target_accuracy``.
        energy_budget_j: End the run once this many joules are spent (checked at every step window).
        country: Where the electricity came from, for the run's carbon figures: an ISO 3166-1 alpha-3 code or a
            country name (default: the world average); see docs/carbon.md.
        region: A cloud region instead of ``country`` (``europe-west1``, ``aws/us-east-1``).
        pue: Data-centre PUE (>= 1); default: the region's provider fleet PUE, else 1.56 (industry average).
        intensity_g_per_kwh: A grid carbon intensity in gCO2e/kWh that overrides the tables.
        eat_lambda: Weight of EAT's l0 activation penalty; 0 is standard training.
        eat_warmup_epochs: Lambda ramps linearly, step by step, from 0 to ``eat_lambda`` over this many epochs.
        eat_penalize_eval: Also penalise modules left in eval mode during training (frozen feature extractors),
            as EAT's reference code does (default: skipped).
        estimate_mode: Accelerator model of the estimate made after training: ``reference`` (EAT's figure),
            ``layerwise`` or ``ops`` (every executed operation: use it for transformers), see docs/eat.md.
        estimate_batch_size: Batch size of the accelerator energy estimate made after training (EAT: 512);
            0 disables it.
        out: Run directory; default ``runs/<dataset>-<model>-<timestamp>``.
        log: Experiment trackers that receive the run's figures: ``mlflow``, ``tensorboard``, ``wandb``, each
            optionally ``NAME:OPTION`` (tracking URI, log dir, project); see docs/integrations.md.
        dataset_options: Extra keyword options of the dataset (for example ``num_classes`` of ``synthetic``).
        model_options: Extra keyword options of the model (for example ``hidden`` of ``mlp``).
        init_from: Start from pretrained weights: a run directory (its ``model.pt``), a state-dict file, or
            ``pkg:PACKAGE/PATH`` (a file inside an installed package); read with ``weights_only=True``. A head
            that does not fit the task starts new (docs/transfer.md).
        finetune: What trains: ``full`` (everything), ``head`` (the last layer only: a linear probe) or
            ``last_blocks`` (the head and the ``finetune_blocks`` weight layers below it).
        attribution: Whose energy the run reports: ``process`` (default: the training process and its children,
            its share of the host's energy and of a GPU it shares), ``cgroup`` / ``cgroup:PATH`` (a cgroup that
            holds only the run) or ``machine`` (every joule of every sensor, as before attribution); see
            docs/meter.md. A resume keeps the run's attribution.
        threads: PyTorch CPU threads (``torch.set_num_threads``) for this run; None: PyTorch's default. A sweep
            sets it for every trial (``threads_per_trial``).
    """

    dataset: str = "fashion-mnist"
    model: str = "lenet5"
    data_dir: str | None = None
    download: bool = False
    image_size: int | None = None
    channels: int | None = None
    subset: int | None = None
    test_subset: int | None = None
    augment: bool = True
    workers: int = 0
    data_on_device: bool | None = None

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int | None = None
    optimizer: Optimizer = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    lr_schedule: LrSchedule = "exponential"
    lr_gamma: float = 0.95
    lr_step_epochs: int = 30
    amp: Amp = "off"
    seed: int = 0
    device: str = "auto"

    target_accuracy: float | None = None
    stop_at_target: bool = False
    energy_budget_j: float | None = None

    country: str | None = None
    region: str | None = None
    pue: float | None = None
    intensity_g_per_kwh: float | None = None

    eat_lambda: float = 0.0
    eat_sigma: float = 1e-4
    eat_layers: EatLayers = "activations"
    eat_normalization: EatNormalization = "numel"
    eat_warmup_epochs: int = 0
    eat_penalize_eval: bool = False
    estimate_mode: EstimateMode = "reference"

    estimate_batch_size: int = 512
    estimate_max_batches: int | None = None
    meter_interval_s: float = 0.1
    gpu_indices: list[int] | None = None
    out: str | None = None
    log: list[str] = field(default_factory=list)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    finetune: FineTune = "full"
    finetune_blocks: int = 1
    attribution: str = "process"
    threads: int | None = None

    def validate(self) -> TrainConfig:
        """Check every value; raise :class:`ConfigError` naming the first bad one. Returns ``self``."""
        for f in fields(self):
            _check_type(f.name, f.type, getattr(self, f.name))
        for f in fields(self):
            literal = _literal_choices(f.type)
            value = getattr(self, f.name)
            if literal and value not in literal:
                raise ConfigError(f"{f.name} must be one of {', '.join(literal)}, not {value!r}")
        positive_ints = ("epochs", "batch_size", "lr_step_epochs", "finetune_blocks")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        for name in ("eval_batch_size", "subset", "test_subset", "image_size", "estimate_max_batches", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        if self.estimate_batch_size < 0 or self.workers < 0 or self.eat_warmup_epochs < 0:
            raise ConfigError("estimate_batch_size, workers and eat_warmup_epochs must not be negative")
        if not (_finite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, not {self.lr!r}")
        for name in ("momentum", "weight_decay", "eat_lambda"):
            value = getattr(self, name)
            if not (_finite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number >= 0, not {value!r}")
        if not (_finite(self.lr_gamma) and 0 < self.lr_gamma <= 1):
            raise ConfigError(f"lr_gamma must be in (0, 1], not {self.lr_gamma!r}")
        if not (_finite(self.eat_sigma) and self.eat_sigma > 0):
            raise ConfigError(f"eat_sigma must be a positive number, not {self.eat_sigma!r}")
        if self.target_accuracy is not None and not (0 < self.target_accuracy <= 1):
            raise ConfigError(f"target_accuracy must be in (0, 1], not {self.target_accuracy!r}")
        if self.stop_at_target and self.target_accuracy is None:
            raise ConfigError("stop_at_target needs target_accuracy")
        if self.energy_budget_j is not None and not (_finite(self.energy_budget_j) and self.energy_budget_j > 0):
            raise ConfigError(f"energy_budget_j must be a positive number of joules, not {self.energy_budget_j!r}")
        if not (_finite(self.meter_interval_s) and self.meter_interval_s > 0):
            raise ConfigError(f"meter_interval_s must be positive, not {self.meter_interval_s!r}")
        if self.nesterov and self.optimizer == "sgd" and self.momentum == 0:
            raise ConfigError("nesterov SGD needs momentum > 0 (set --momentum or --no-nesterov)")
        self.carbon_settings()
        if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from.strip()):
            raise ConfigError(f"init_from must be a run directory or a weights file, not {self.init_from!r}")
        word = self.attribution
        if not (word in ("process", "machine", "cgroup") or (word.startswith("cgroup:") and len(word) > 7)):
            raise ConfigError(f"attribution must be process, cgroup, cgroup:PATH or machine, not {word!r}")
        if not (self.device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:[0-9]+", self.device)):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, not {self.device!r}")
        if self.log:
            from powertrain.integrations.trackers._fanout import parse_spec

            for spec in self.log:
                parse_spec(spec)
        return self

    def carbon_settings(self) -> CarbonSettings:
        """The validated :class:`~powertrain.carbon.CarbonSettings` of the run (country or region, PUE, intensity)."""
        return CarbonSettings(
            country=self.country, region=self.region, pue=self.pue, intensity_g_per_kwh=self.intensity_g_per_kwh
        ).validate()

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, YAML- and JSON-safe."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys raise ConfigError with the close matches."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {unknown[0]!r}{hint}")
        return cls(**data)



def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML config file (safely; ``1e-3`` is a number); a ``train:`` section is used when present.

    Keys beside a ``train:`` section are refused rather than ignored (a study config is not a train config).
    """
    path = Path(path)
    data = read_yaml(path)
    if isinstance(data, dict) and isinstance(data.get("train"), dict):
        beside = sorted(str(k) for k in data if k != "train")
        if beside:
            raise ConfigError(
                f"config file {path} has keys beside its train: section ({', '.join(beside)}), which `train` would "
                "ignore; move them into train: or remove them (is this a study config?)"
            )
        data = data["train"]
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option: value")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    return TrainConfig.from_dict(data)


_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}
_TYPE_WORDS = {"str": "text", "int": "an integer", "float": "a number", "bool": "true or false"}


def _check_type(name: str, annotation: object, value: object) -> None:
    """Refuse a value of the wrong kind, in one line: a number where a name belongs, text where a mapping does."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    if _literal_choices(annotation):
        text = text.replace(str(annotation), "str") if isinstance(annotation, str) else "str"
    parts = [p.strip() for p in text.split("|")]
    if value is None:
        if "None" in parts:
            return
        raise ConfigError(f"{name} needs a value, not null")
    expected: list[str] = []
    for part in parts:
        if part == "None":
            continue
        base = part.split("[", 1)[0]
        if base in _SIMPLE_TYPES:
            expected.append(_TYPE_WORDS[base])
            ok = isinstance(value, _SIMPLE_TYPES[base]) and (base == "bool" or not isinstance(value, bool))
        elif base == "dict":
            expected.append("a mapping of key: value")
            ok = isinstance(value, dict)
        elif base == "list":
            expected.append("a list" + (" of integers" if part == "list[int]" else ""))
            ok = isinstance(value, (list, tuple)) and (
                part != "list[int]" or all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            )
        else:
            return  # a type this check does not know: leave it to the value checks
        if ok:
            return
    if expected:
        raise ConfigError(f"{name} must be {' or '.join(expected)}, not {value!r} ({type(value).__name__})")


def _literal_choices(annotation: object) -> tuple[str, ...]:
    if isinstance(annotation, str):  # postponed annotations: resolve our own aliases by name
        annotation = globals().get(annotation, annotation)
    args = get_args(annotation)
    return tuple(a for a in args if isinstance(a, str))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
