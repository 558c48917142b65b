"""Value types shared by the dataset factories, the splits and the loaders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils.data import Dataset

from powertrain.errors import ConfigError

__all__ = ["DatasetInfo", "DatasetRequest", "FolderData", "Loader", "TensorData"]

_MISSING = object()


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a loaded dataset.

    Attributes:
        name: The name it was loaded by (``"imagefolder:PATH"`` keeps its path).
        num_classes: Number of classes; labels are ``0 .. num_classes - 1``.
        in_channels: Channels of the images the loaders yield (1 or 3).
        image_size: Height and width of the images the loaders yield, in pixels.
        train_size: Samples in the train split after ``subset``.
        test_size: Samples in the test split after ``test_subset``.
        class_names: Human names of the classes, or None when the dataset has none.
        tasks: For a multitask dataset, each task's name and number of classes, in label order (task ``t``
            owns the labels after those of the tasks before it); None for a single task.
    """

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    train_size: int
    test_size: int
    class_names: tuple[str, ...] | None
    tasks: tuple[tuple[str, int], ...] | None = None


@dataclass
class DatasetRequest:
    """What :func:`~powertrain.data.load_dataset` asks of a dataset factory.

    A factory reads its own options with :meth:`option`; options nobody read are reported to the user as
    unknown, so a typo never passes silently.

    Attributes:
        name: The registered name.
        data_dir: Root folder given by the user, or None.
        download: Whether the factory may download missing files.
        image_size: Requested image size, or None for the dataset's own.
        channels: Requested channels (1 or 3), or None for the dataset's own.
        seed: Seed for anything random the factory does (synthetic data).
        options: The remaining keyword options.
    """

    name: str
    data_dir: Path | None
    download: bool
    image_size: int | None
    channels: int | None
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set, repr=False)

    def option(self, key: str, default: Any = _MISSING) -> Any:
        """Return option ``key`` (or ``default``) and mark it as understood."""
        self._used.add(key)
        if key in self.options:
            return self.options[key]
        if default is _MISSING:
            raise ConfigError(f"dataset {self.name!r} needs the option {key!r}")
        return default

    def unused_options(self) -> list[str]:
        """Options given by the user that no code read."""
        return sorted(set(self.options) - self._used)


@dataclass
class TensorData:
    """A dataset small enough to hold as tensors: what a tensor-backed factory returns.

    Images are uint8 ``(N, C, H, W)`` with values 0..255 at the dataset's native size and channels;
    :func:`~powertrain.data.load_dataset` resizes and converts them once, up front.

    Attributes:
        train_images: uint8 tensor ``(N, C, H, W)``.
        train_labels: int64 tensor ``(N,)``.
        test_images: uint8 tensor ``(M, C, H, W)``.
        test_labels: int64 tensor ``(M,)``.
        num_classes: Number of classes.
        class_names: Class names, or None.
        crop: Whether training augmentation random-crops (padding ``image_size // 8``) by default.
        hflip: Whether training augmentation flips horizontally by default.
        tasks: Each task's name and class count for a multitask dataset (labels numbered task after task).
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...] | None = None
    crop: bool = True
    hflip: bool = False
    tasks: tuple[tuple[str, int], ...] | None = None


@dataclass
class FolderData:
    """A dataset read image by image from disk through a torch DataLoader.

    Each split yields ``(uint8 tensor (C, H, W) already at the requested size and channels, int label)``.

    Attributes:
        train: Train split.
        test: Test split.
        num_classes: Number of classes.
        image_size: Size of the images the splits yield.
        channels: Channels of the images the splits yield.
        class_names: Class names, or None.
        crop: Whether training augmentation random-crops by default.
        hflip: Whether training augmentation flips horizontally by default.
    """

    train: Dataset[tuple[torch.Tensor, int]]
    test: Dataset[tuple[torch.Tensor, int]]
    num_classes: int
    image_size: int
    channels: int
    class_names: tuple[str, ...] | None = None
    crop: bool = True
    hflip: bool = True


@runtime_checkable
class Loader(Protocol):
    """An iterable of ``(x, y)`` batches: both loader kinds follow it.

    ``x`` is a float tensor ``(B, C, H, W)``, normalised, and ``y`` an int64 tensor ``(B,)``, both already
    on the loader's device. ``len(loader)`` is the number of batches per epoch (the last one may be short).

    Shuffle order and augmentation are a function of ``(seed, epoch)``: ``set_epoch(e)`` makes the next
    iteration epoch ``e``; each iteration then advances the epoch by one, so a loop that never calls
    ``set_epoch`` still sees a new order every epoch and a resumed run that does sees the same batches.
    """

    batch_size: int
    num_samples: int

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def __len__(self) -> int: ...

    def set_epoch(self, epoch: int) -> None: ...
