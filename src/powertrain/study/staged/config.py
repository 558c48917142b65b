"""Configurations of the transfer and multitask studies, read from YAML (``yaml.safe_load``).

Both share: ``train`` (the base :class:`~powertrain.training.TrainConfig` of every run, a mapping or the path of a
training YAML), ``seeds`` (default ``[0, 1, 2]``), ``study`` (default: the file's stem), ``out`` (default
``studies/<study>``) and ``storage`` (default: a SQLite file per stage in the study folder; a SQLAlchemy URL shares
the stages among workers). A *task* is a mapping of TrainConfig fields (``dataset``, ``dataset_options``, ``epochs``,
``target_accuracy``...) applied over ``train``, plus a ``name``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain._config import Replaceable
from powertrain._files import read_yaml
from powertrain.errors import ConfigError
from powertrain.training import TrainConfig, load_config

__all__ = [
    "FinetuneMode",
    "MultitaskStudyConfig",
    "StudyTask",
    "TransferStudyConfig",
    "load_multitask_study_config",
    "load_transfer_study_config",
]

_COMMON = {"train", "seeds", "study", "out", "storage"}
_TRANSFER_KEYS = _COMMON | {"pretrain", "pretrained", "pretrain_energy_j", "targets", "finetune"}
_MULTITASK_KEYS = _COMMON | {"tasks", "trunk"}


@dataclass(frozen=True)
class StudyTask:
    """A task of a study: a ``name`` and the TrainConfig fields it sets over the base."""

    name: str
    overrides: dict[str, Any]

    def config(self, base: TrainConfig) -> TrainConfig:
        """The base with this task's fields (``dataset_options`` / ``model_options`` replace the base's)."""
        return base.replace(**self.overrides)


@dataclass(frozen=True)
class FinetuneMode:
    """One way to fine-tune: ``finetune`` (``full``, ``head``, ``last_blocks``), its blocks, any other fields."""

    name: str
    overrides: dict[str, Any]


class _StagedStudy(Replaceable):
    """What the transfer and multitask configs share: the base config, seeds, name, folder and storage."""

    train: TrainConfig
    seeds: list[int]
    study: str
    out: str
    storage: str | None

    def _common_dict(self) -> dict[str, Any]:
        return {
            "study": self.study, "out": self.out, "storage": self.storage, "seeds": list(self.seeds),
            "train": self.train.to_dict(),
        }  # fmt: skip


@dataclass
class TransferStudyConfig(_StagedStudy):
    """Pretrain once per seed, then fine-tune on each target and train each target from scratch.

    Attributes:
        train: Base config of every run.
        pretrain: The source task (None when ``pretrained`` names weights trained elsewhere).
        pretrained: ``init_from`` of the fine-tunes when the pretraining is not part of the study (a file,
            a run directory or ``pkg:PACKAGE/PATH``).
        pretrain_energy_j: The energy of that outside pretraining, when known (else no break-even).
        targets: The downstream tasks; each needs a ``target_accuracy`` (its own or the base's).
        finetune: The fine-tuning modes to compare (default: ``full`` only).
        seeds: One pretraining, fine-tune and from-scratch run per seed and target.
        study, out, storage: Name, folder, and storage URL (None: SQLite files in ``out``).
    """

    train: TrainConfig
    targets: list[StudyTask]
    pretrain: StudyTask | None = None
    pretrained: str | None = None
    pretrain_energy_j: float | None = None
    finetune: list[FinetuneMode] = field(default_factory=lambda: [FinetuneMode("full", {"finetune": "full"})])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    study: str = "transfer"
    out: str = "studies/transfer"
    storage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (what ``load_transfer_study_config`` reads back)."""
        return {
            **self._common_dict(),
            "pretrain": {"name": self.pretrain.name, **self.pretrain.overrides} if self.pretrain else None,
            "pretrained": self.pretrained, "pretrain_energy_j": self.pretrain_energy_j,
            "targets": [{"name": t.name, **t.overrides} for t in self.targets],
            "finetune": [{"name": m.name, **m.overrides} for m in self.finetune],
        }  # fmt: skip

    def validate(self) -> TransferStudyConfig:
        """Check the study and every run config it implies; raise :class:`ConfigError`. Returns ``self``."""
        _check_common(self.train, self.seeds, self.study)
        if (self.pretrain is None) == (self.pretrained is None):
            raise ConfigError(
                "a transfer study needs exactly one of pretrain: (a source task) or pretrained: (weights)"
            )
        if self.pretrain_energy_j is not None and (self.pretrained is None or self.pretrain_energy_j <= 0):
            raise ConfigError("pretrain_energy_j is the positive energy of outside pretraining (with pretrained:)")
        if not self.targets:
            raise ConfigError("a transfer study needs at least one task in targets:")
        _unique([t.name for t in self.targets], "target")
        _unique([m.name for m in self.finetune], "fine-tune mode")
        if {"scratch", "pretrain"} & {m.name for m in self.finetune}:
            raise ConfigError("a fine-tune mode cannot be named scratch or pretrain")
        if self.pretrain is not None:
            self.pretrain.config(self.train).validate()
        for target in self.targets:
            config = target.config(self.train)
            if config.target_accuracy is None:
                raise ConfigError(f"target {target.name}: needs a target_accuracy (its own or train's)")
            for mode in self.finetune:
                config.replace(**mode.overrides).validate()
            config.validate()
        return self


@dataclass
class MultitaskStudyConfig(_StagedStudy):
    """One multitask model (a shared trunk, one head per task) against one model per task, per seed.

    Attributes:
        train: Base config of every run; its ``model`` is the trunk (or give ``trunk``), its ``target_accuracy``
            the target every task must reach.
        tasks: The tasks (at least two): each a name, a ``dataset`` and its options (``dataset_options``,
            ``classes``, ``subset``, ``test_subset``).
        trunk: The registered model shared by the tasks (default ``train.model``).
        seeds, study, out, storage: As in :class:`TransferStudyConfig`.
    """

    train: TrainConfig
    tasks: list[StudyTask]
    trunk: str | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    study: str = "multitask"
    out: str = "studies/multitask"
    storage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (what ``load_multitask_study_config`` reads back)."""
        return {
            **self._common_dict(),
            "trunk": self.trunk,
            "tasks": [{"name": t.name, **t.overrides} for t in self.tasks],
        }

    def validate(self) -> MultitaskStudyConfig:
        """Check the study; raise :class:`ConfigError`. Returns ``self``."""
        _check_common(self.train, self.seeds, self.study)
        if len(self.tasks) < 2:
            raise ConfigError("a multitask study needs at least two tasks")
        _unique([t.name for t in self.tasks], "task")
        if self.train.target_accuracy is None:
            raise ConfigError("a multitask study needs train.target_accuracy (every task must reach it)")
        for task in self.tasks:
            unknown = set(task.overrides) - {"dataset", "dataset_options", "subset", "test_subset", "data_dir"}
            if unknown or "dataset" not in task.overrides:
                raise ConfigError(
                    f"task {task.name}: give dataset: and optionally dataset_options, subset, test_subset "
                    f"(train settings are shared), not {sorted(unknown)}"
                )
            task.config(self.train).validate()
        return self


def load_transfer_study_config(path: str | Path) -> TransferStudyConfig:
    """Read a transfer study YAML (see docs/transfer.md)."""
    path = Path(path)
    data = _read(path, _TRANSFER_KEYS)
    finetune = data.get("finetune") or ["full"]
    if not isinstance(finetune, list):
        finetune = [finetune]
    modes = [_mode(m) for m in finetune]
    pretrain = data.get("pretrain")
    energy = data.get("pretrain_energy_j")
    return TransferStudyConfig(
        train=_train(data, path),
        targets=_tasks(data.get("targets"), "targets"),
        pretrain=_task("pretrain", pretrain) if pretrain is not None else None,
        pretrained=str(data["pretrained"]) if data.get("pretrained") is not None else None,
        pretrain_energy_j=float(energy) if energy is not None else None,
        finetune=modes,
        **_common(data, path),
    )


def load_multitask_study_config(path: str | Path) -> MultitaskStudyConfig:
    """Read a multitask study YAML (see docs/transfer.md)."""
    path = Path(path)
    data = _read(path, _MULTITASK_KEYS)
    return MultitaskStudyConfig(
        train=_train(data, path),
        tasks=_tasks(data.get("tasks"), "tasks"),
        trunk=str(data["trunk"]) if data.get("trunk") else None,
        **_common(data, path),
    )


def _read(path: Path, keys: set[str]) -> dict[str, Any]:
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"study config {path} must hold a mapping")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - keys)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(keys), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown study config key {unknown[0]!r}{hint}")
    return data


def _train(data: Mapping[str, Any], path: Path) -> TrainConfig:
    train = data.get("train") or {}
    if isinstance(train, str):
        return load_config(path.parent / train)
    if not isinstance(train, Mapping):
        raise ConfigError("train must be a mapping of TrainConfig fields or the path of a training config")
    return TrainConfig.from_dict({str(k).replace("-", "_"): v for k, v in train.items()})


def _common(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    seeds = data.get("seeds", [0, 1, 2])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    study = str(data.get("study") or path.stem)
    return {
        "seeds": list(seeds) if isinstance(seeds, list) else seeds,
        "study": study,
        "out": str(data.get("out") or Path("studies") / study),
        "storage": data.get("storage"),
    }


def _task(default_name: str, spec: Any) -> StudyTask:
    if isinstance(spec, str):
        spec = {"dataset": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{default_name}: a task is a mapping of TrainConfig fields, not {spec!r}")
    overrides = {str(k).replace("-", "_"): v for k, v in spec.items() if k != "name"}
    if "classes" in overrides:  # shorthand for dataset_options.classes
        overrides["dataset_options"] = {**(overrides.get("dataset_options") or {}), "classes": overrides.pop("classes")}
    name = str(spec.get("name") or default_name)
    if not re.fullmatch(r"[A-Za-z0-9._+-]+", name):
        raise ConfigError(f"task name {name!r}: use letters, digits and . _ + - only")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"task {name}: unknown TrainConfig field {unknown[0]!r}")
    return StudyTask(name, overrides)


def _tasks(specs: Any, key: str) -> list[StudyTask]:
    if not isinstance(specs, list):
        raise ConfigError(f"{key} must be a list of tasks (mappings with a name and TrainConfig fields)")
    tasks = []
    for i, spec in enumerate(specs):
        default = spec.get("dataset", f"task{i + 1}") if isinstance(spec, Mapping) else str(spec)
        tasks.append(_task(str(default), spec))
    return tasks


def _mode(spec: Any) -> FinetuneMode:
    if isinstance(spec, str):
        spec = {"finetune": spec}
    if not isinstance(spec, Mapping) or "finetune" not in spec:
        raise ConfigError(f"finetune: each mode is full, head, last_blocks or a mapping with finetune:, not {spec!r}")
    overrides = {str(k): v for k, v in spec.items() if k != "name"}
    default = str(spec["finetune"])
    if spec["finetune"] == "last_blocks":
        default = f"last{spec.get('finetune_blocks', 1)}"
    return FinetuneMode(str(spec.get("name") or default), overrides)


def _unique(names: list[str], what: str) -> None:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{what} names must be unique (give name:), repeated: {twice}")


def _check_common(train: TrainConfig, seeds: Any, study: str) -> None:
    train.replace(stop_at_target=False).validate()  # the runs' own configs (base + task) are checked in full
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ConfigError(f"seeds must be a non-empty list of distinct integers >= 0, not {seeds!r}")
    if not study or "/" in study:
        raise ConfigError(f"study name must be non-empty without '/', not {study!r}")
