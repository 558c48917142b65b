"""The dataset registry, :func:`load_dataset` and :class:`DatasetBundle`."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import torch

from powertrain.data._augment import BatchTransform
from powertrain.data._classes import split_classes
from powertrain.data._loaders import FolderLoader, TensorLoader
from powertrain.data._splits import (
    FolderSplit,
    ImageSplit,
    TensorSplit,
    pixel_stats,
    resize_images,
    select_indices,
    to_channels,
)
from powertrain.data._types import DatasetInfo, DatasetRequest, FolderData, Loader, TensorData
from powertrain.errors import ConfigError
from powertrain.registry import Registry

__all__ = [
    "DEVICE_MEMORY_FRACTION",
    "DatasetBundle",
    "default_data_root",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]

log = logging.getLogger(__name__)

DatasetFactory = Callable[[DatasetRequest], "TensorData | FolderData"]
_REGISTRY: Registry[DatasetFactory] = Registry("dataset")

DEVICE_MEMORY_FRACTION = 0.25
"""Tensor-backed datasets go onto an accelerator when they take less than this share of its free memory."""

_STATS_SAMPLES = 256  # images read to estimate mean/std of a folder dataset


def register_dataset(name: str) -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator registering ``fn(request: DatasetRequest) -> TensorData | FolderData`` as ``name``.

    A duplicate name raises ValueError.
    """
    return _REGISTRY.register(name)


def list_datasets() -> list[str]:
    """Registered dataset names, sorted (``imagefolder`` is used as ``imagefolder:PATH``)."""
    return _REGISTRY.names()


def default_data_root() -> Path:
    """Where datasets are looked for and downloaded without ``data_dir``.

    ``$POWERTRAIN_DATA_DIR`` if set, else ``~/.cache/powertrain/datasets``.
    """
    env = os.environ.get("POWERTRAIN_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "powertrain" / "datasets"


class DatasetBundle:
    """A loaded dataset: its info, train and test splits, and a factory for loaders.

    Attributes:
        info: Sizes and classes.
        train: Train split; indexing gives normalised float images without augmentation.
        test: Test split, likewise.
        crop_padding: Padding of the training random crop (0: no crop).
        hflip: Whether training augmentation flips horizontally.
    """

    def __init__(self, info: DatasetInfo, train: ImageSplit, test: ImageSplit, *, crop_padding: int, hflip: bool):
        self.info, self.train, self.test = info, train, test
        self.crop_padding, self.hflip = crop_padding, hflip

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel mean used for normalisation (pixel values in [0, 1])."""
        return self.train.mean

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviation used for normalisation."""
        return self.train.std

    @property
    def tensor_backed(self) -> bool:
        """True when the splits are tensors (they can live on the device)."""
        return isinstance(self.train, TensorSplit)

    def loaders(
        self,
        *,
        batch_size: int,
        device: torch.device | str = "cpu",
        workers: int = 0,
        on_device: bool | None = None,
        eval_batch_size: int | None = None,
        seed: int = 0,
        augment: bool = True,
    ) -> tuple[Loader, Loader]:
        """Train and test loaders yielding ``(x float normalised NCHW, y int64)`` on ``device``.

        Args:
            batch_size: Train batch size; the last batch of an epoch may be smaller.
            device: Where batches are delivered (and augmented).
            workers: DataLoader workers for folder datasets; tensor-backed datasets need none.
            on_device: Keep a tensor-backed dataset in the device's memory. None decides: yes on the CPU,
                yes on an accelerator when it takes less than ``DEVICE_MEMORY_FRACTION`` of its free
                memory. True for a folder dataset is a ConfigError.
            eval_batch_size: Test batch size, default ``batch_size``.
            seed: Base seed of the train loader's shuffle order and augmentation.
            augment: Random crop/flip on the train loader (the test loader never augments).

        Returns:
            ``(train_loader, test_loader)``; the train loader shuffles, the test loader keeps order.

        Raises:
            ConfigError: A non-positive batch size, negative workers or seed, or ``on_device=True``
                for a folder dataset.
        """
        eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        if not (_is_int(batch_size) and _is_int(eval_batch_size)) or batch_size < 1 or eval_batch_size < 1:
            raise ConfigError(f"batch sizes must be >= 1, got {batch_size} and {eval_batch_size}")
        if not (_is_int(workers) and _is_int(seed)) or workers < 0 or seed < 0:
            raise ConfigError(f"workers and seed must be integers >= 0, got {workers!r} and {seed!r}")
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())

        def transform(split: ImageSplit, train: bool) -> BatchTransform:
            pad = self.crop_padding if train else 0
            return BatchTransform(split.mean, split.std, split.channels, pad, self.hflip and train, dev)

        if isinstance(self.train, TensorSplit) and isinstance(self.test, TensorSplit):
            storage = dev if self._fits_on(dev, on_device) else torch.device("cpu")
            common: dict[str, Any] = {"storage": storage, "seed": seed}
            train = TensorLoader(
                self.train, transform(self.train, True), batch_size=batch_size, shuffle=True, augment=augment,
                **common,
            )  # fmt: skip
            test = TensorLoader(
                self.test, transform(self.test, False), batch_size=eval_batch_size, shuffle=False, augment=False,
                **common,
            )  # fmt: skip
            return train, test
        if on_device:
            raise ConfigError(
                f"{self.info.name} is read from image files and cannot be held on the device; "
                "leave on_device unset (or False)"
            )
        assert isinstance(self.train, FolderSplit) and isinstance(self.test, FolderSplit)
        train_f = FolderLoader(
            self.train, transform(self.train, True), batch_size=batch_size, workers=workers, shuffle=True,
            augment=augment, seed=seed,
        )  # fmt: skip
        test_f = FolderLoader(
            self.test, transform(self.test, False), batch_size=eval_batch_size, workers=workers, shuffle=False,
            augment=False, seed=seed,
        )  # fmt: skip
        return train_f, test_f

    def _fits_on(self, device: torch.device, on_device: bool | None) -> bool:
        if on_device is not None or device.type == "cpu":
            return True if on_device is None else on_device
        assert isinstance(self.train, TensorSplit) and isinstance(self.test, TensorSplit)
        need = self.train.nbytes + self.test.nbytes
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
        else:
            free = psutil.virtual_memory().available
        fits = need < DEVICE_MEMORY_FRACTION * free
        log.info("dataset %s: %.1f MB, %s on %s", self.info.name, need / 1e6, "kept" if fits else "not", device)
        return fits

    def __repr__(self) -> str:
        return f"DatasetBundle({self.info})"


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_options(
    image_size: int | None, channels: int | None, subset: int | None, test_subset: int | None, seed: int
) -> None:
    if image_size is not None and (not _is_int(image_size) or image_size < 8):
        raise ConfigError(f"image_size must be an integer >= 8, got {image_size!r}")
    if channels is not None and channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")
    for key, value in (("subset", subset), ("test_subset", test_subset)):
        if value is not None and (not _is_int(value) or value < 1):
            raise ConfigError(f"{key} must be a positive integer (or None for all), got {value!r}")
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")


def _normalisation(
    request: DatasetRequest, computed: Callable[[], tuple[Sequence[float], Sequence[float]]]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean, std = request.option("mean", None), request.option("std", None)
    if mean is None or std is None:
        auto_mean, auto_std = computed()
        mean = auto_mean if mean is None else mean
        std = auto_std if std is None else std
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    subset: int | None = None,
    test_subset: int | None = None,
    download: bool = False,
    seed: int = 0,
    **options: Any,
) -> DatasetBundle:
    """Load a registered dataset by name.

    Args:
        name: A name from :func:`list_datasets`, or ``"imagefolder:PATH"``.
        data_dir: Root folder holding the files (default :func:`default_data_root`).
        image_size: Resize images to this square size (>= 8); default the dataset's own.
        channels: 1 or 3; grey images are repeated to 3 channels, colour reduced to 1 by luminance.
        subset: Keep only this many train samples (see ``subset_mode``).
        test_subset: Keep only this many test samples.
        download: Allow downloading missing files (torchvision datasets; needs a network).
        seed: Seed of the random subset and of synthetic data.
        **options: ``classes`` (keep these classes, relabelled ``0 .. k-1`` in the order given),
            ``subset_mode`` (``"random"`` (default, seeded) or ``"first"``), ``crop_padding`` (int,
            default ``image_size // 8`` where the dataset crops), ``hflip`` (bool), ``mean`` and ``std``
            (per-channel overrides of the computed normalisation), plus dataset-specific ones
            (docs/data-and-models.md).

    Returns:
        A :class:`DatasetBundle`.

    Raises:
        UnknownNameError: ``name`` is not registered (the message suggests close names).
        DataNotFoundError: The files are missing and cannot be downloaded.
        ConfigError: An option is out of range or unknown.
    """
    _check_options(image_size, channels, subset, test_subset, seed)
    display = name
    if name.startswith("imagefolder:"):
        name, options = "imagefolder", {**options, "path": name.split(":", 1)[1]}
    factory = _REGISTRY.get(name)
    request = DatasetRequest(
        name=name,
        data_dir=Path(data_dir).expanduser() if data_dir is not None else None,
        download=download,
        image_size=image_size,
        channels=channels,
        seed=seed,
        options=dict(options),
    )
    data = _keep_classes(factory(request), request, name)
    subset_mode = request.option("subset_mode", "random")
    if subset_mode not in ("random", "first"):
        raise ConfigError(f"subset_mode must be 'random' or 'first', got {subset_mode!r}")
    if isinstance(data, TensorData):
        train, test, size = _tensor_splits(data, request, subset, test_subset, subset_mode)
    else:
        train, test, size = _folder_splits(data, request, subset, test_subset, subset_mode)
    crop_padding, hflip = _augmentation(data, request, size)
    if name == "imagefolder" and display == name and request.data_dir is not None:
        display = f"imagefolder:{request.data_dir}"
    unused = request.unused_options()
    if unused:
        raise ConfigError(f"unknown option(s) {', '.join(unused)} for dataset {name!r}")
    info = DatasetInfo(
        name=display,
        num_classes=data.num_classes,
        in_channels=train.channels,
        image_size=size,
        train_size=len(train),
        test_size=len(test),
        class_names=data.class_names,
        tasks=getattr(data, "tasks", None),
    )
    return DatasetBundle(info, train, test, crop_padding=crop_padding, hflip=hflip)


def _keep_classes(data: Any, request: DatasetRequest, name: str) -> Any:
    """The dataset restricted to option ``classes`` (relabelled in the order given), or as it is."""
    classes = request.option("classes", None)
    if classes is None:
        return data
    if getattr(data, "tasks", None):
        raise ConfigError("a multitask dataset takes classes inside each task, not for the whole")
    return split_classes(data, classes, name)


def _augmentation(data: Any, request: DatasetRequest, size: int) -> tuple[int, bool]:
    """Options ``crop_padding`` (default ``size // 8`` where the dataset crops) and ``hflip``, checked."""
    crop_padding = request.option("crop_padding", size // 8 if data.crop else 0)
    hflip = request.option("hflip", data.hflip)
    if not _is_int(crop_padding) or crop_padding < 0:
        raise ConfigError(f"crop_padding must be an integer >= 0, got {crop_padding!r}")
    if not isinstance(hflip, bool):
        raise ConfigError(f"hflip must be True or False, got {hflip!r}")
    return crop_padding, hflip


def _tensor_splits(
    data: TensorData, request: DatasetRequest, subset: int | None, test_subset: int | None, mode: Any
) -> tuple[TensorSplit, TensorSplit, int]:
    size = request.image_size or int(data.train_images.shape[-1])
    channels = request.channels or int(data.train_images.shape[1])
    train_images = to_channels(data.train_images, channels)
    # Statistics of the whole train split at its native size: the same for every subset and image size.
    mean, std = _normalisation(request, lambda: pixel_stats(train_images))
    if channels == 3 and train_images.shape[1] == 1:
        mean, std = (mean * 3 if len(mean) == 1 else mean), (std * 3 if len(std) == 1 else std)
    _check_stats(mean, std, channels)
    splits = []
    for images, labels, count in (
        (train_images, data.train_labels, subset),
        (data.test_images, data.test_labels, test_subset),
    ):
        idx = select_indices(len(labels), count, mode, request.seed)
        if idx is not None:
            images, labels = images[idx], labels[idx]
        images = resize_images(to_channels(images, channels), size).contiguous()
        splits.append(TensorSplit(images, labels.long().contiguous(), mean=mean, std=std, channels=channels))
    return splits[0], splits[1], size


def _folder_splits(
    data: FolderData, request: DatasetRequest, subset: int | None, test_subset: int | None, mode: Any
) -> tuple[FolderSplit, FolderSplit, int]:
    train_idx = select_indices(len(data.train), subset, mode, request.seed)  # type: ignore[arg-type]
    test_idx = select_indices(len(data.test), test_subset, mode, request.seed)  # type: ignore[arg-type]

    def estimate() -> tuple[tuple[float, ...], tuple[float, ...]]:
        n = len(data.train)  # type: ignore[arg-type]
        picks = select_indices(n, _STATS_SAMPLES, "random", request.seed)
        picks_list = range(n) if picks is None else picks.tolist()
        images = torch.stack([data.train[int(i)][0] for i in picks_list])
        return pixel_stats(images)

    mean, std = _normalisation(request, estimate)
    _check_stats(mean, std, data.channels)
    train = FolderSplit(data.train, train_idx, mean=mean, std=std, channels=data.channels)
    test = FolderSplit(data.test, test_idx, mean=mean, std=std, channels=data.channels)
    return train, test, data.image_size


def _check_stats(mean: Sequence[float], std: Sequence[float], channels: int) -> None:
    if len(mean) != channels or len(std) != channels or min(std) <= 0:
        raise ConfigError(f"mean and std need {channels} values each and std > 0, got {mean} and {std}")
