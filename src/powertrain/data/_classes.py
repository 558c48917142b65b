"""Class splits: keep some classes of any dataset and number them ``0 .. k-1``.

``load_dataset(name, classes=[5, 6, 7, 8, 9])`` (``dataset_options: {classes: [...]}`` in a run config) keeps
only the samples of those classes, in both splits, and relabels them in the order given: class ``classes[i]``
becomes label ``i``. A split that would leave the train or the test split without a sample of some class is
refused with a :class:`~powertrain.errors.ConfigError`, so a task is never silently empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from powertrain.data._types import FolderData, TensorData
from powertrain.errors import ConfigError

__all__ = ["RelabelledSubset", "check_classes", "split_classes"]


def check_classes(classes: Any, num_classes: int, dataset: str) -> tuple[int, ...]:
    """Validate a class list against a dataset with ``num_classes`` classes; returns it as a tuple of ints."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes:
        raise ConfigError(f"classes must be a non-empty list of class numbers of {dataset}, got {classes!r}")
    out = []
    for c in classes:
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < num_classes:
            raise ConfigError(f"classes: {c!r} is not a class of {dataset} (it has classes 0..{num_classes - 1})")
        out.append(c)
    if len(set(out)) != len(out):
        raise ConfigError(f"classes lists a class twice: {list(out)}")
    return tuple(out)


def _relabel(labels: torch.Tensor, classes: tuple[int, ...], num_classes: int) -> torch.Tensor:
    """A lookup ``old label -> new label`` (-1 for dropped classes) applied to ``labels``."""
    table = torch.full((num_classes,), -1, dtype=torch.long)
    table[list(classes)] = torch.arange(len(classes))
    return table[labels.long()]


def _check_not_empty(new_labels: torch.Tensor, classes: tuple[int, ...], split: str, dataset: str) -> None:
    counts = torch.bincount(new_labels[new_labels >= 0], minlength=len(classes))
    empty = [classes[i] for i in range(len(classes)) if counts[i] == 0]
    if empty:
        raise ConfigError(
            f"class split of {dataset} leaves its {split} split without samples of class(es) {empty}; "
            "pick classes that the data holds (or a larger subset)"
        )


def split_classes(data: TensorData | FolderData, classes: Any, dataset: str) -> TensorData | FolderData:
    """Keep only ``classes`` of ``data``, relabelled ``0 .. k-1`` in the order given.

    Raises:
        ConfigError: ``classes`` is malformed, names a class the dataset lacks, or leaves a split without
            samples of one of them.
    """
    kept = check_classes(classes, data.num_classes, dataset)
    names = tuple(data.class_names[c] for c in kept) if data.class_names else None
    if isinstance(data, TensorData):
        out = []
        for split, images, labels in (
            ("train", data.train_images, data.train_labels),
            ("test", data.test_images, data.test_labels),
        ):
            new = _relabel(labels, kept, data.num_classes)
            _check_not_empty(new, kept, split, dataset)
            mask = new >= 0
            out += [images[mask].contiguous(), new[mask]]
        return TensorData(*out, num_classes=len(kept), class_names=names, crop=data.crop, hflip=data.hflip)
    splits = []
    for split, base in (("train", data.train), ("test", data.test)):
        new = _relabel(_folder_labels(base), kept, data.num_classes)
        _check_not_empty(new, kept, split, dataset)
        splits.append(RelabelledSubset(base, torch.nonzero(new >= 0).flatten(), new))
    return FolderData(
        splits[0], splits[1], num_classes=len(kept), image_size=data.image_size, channels=data.channels,
        class_names=names, crop=data.crop, hflip=data.hflip,
    )  # fmt: skip


class RelabelledSubset(Dataset[tuple[torch.Tensor, int]]):
    """The samples ``indices`` of ``base`` with labels looked up in ``labels`` (indexed by the base's index)."""

    def __init__(self, base: Dataset[tuple[torch.Tensor, int]], indices: torch.Tensor, labels: torch.Tensor) -> None:
        self.base, self.indices, self.labels = base, indices, labels

    def __len__(self) -> int:
        return int(self.indices.numel())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        real = int(self.indices[index])
        image, _ = self.base[real]
        return image, int(self.labels[real])


def _folder_labels(base: Any) -> torch.Tensor:
    """Every label of a file-backed split, read from its index when it has one (no image is decoded then)."""
    for attr in ("targets", "_samples", "samples"):
        value = getattr(base, attr, None)
        if value is None:
            continue
        if attr == "targets":
            return torch.as_tensor(value).long()
        return torch.tensor([int(label) for _, label in value], dtype=torch.long)
    attr = getattr(base, "attr", None)  # CelebA: the class comes from the attribute vector
    if isinstance(attr, torch.Tensor) and base.target_transform is not None:
        return torch.tensor([base.target_transform(row) for row in attr], dtype=torch.long)
    return torch.tensor([int(base[i][1]) for i in range(len(base))], dtype=torch.long)
