"""The idx file format (MNIST family) and the Fashion-MNIST dataset.

Fashion-MNIST is looked for, in order: in ``data_dir`` (flat, ``fashion-mnist/`` or torchvision's
``FashionMNIST/raw/``, gzipped or not); in the files of the Debian package ``dataset-fashion-mnist``;
then, with ``download=True``, through torchvision.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import torch

from powertrain.data._load import default_data_root, register_dataset
from powertrain.data._types import DatasetRequest, TensorData
from powertrain.errors import ConfigError, DataNotFoundError

__all__ = ["DEBIAN_FASHION_MNIST_DIR", "FASHION_MNIST_CLASSES", "read_idx"]

log = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where ``apt-get install dataset-fashion-mnist`` puts the files."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (gzipped when its name ends in ``.gz``) into a numpy array.

    The format: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
    dimension, then the values in C order.

    Raises:
        ConfigError: The file is not a well-formed idx file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ConfigError(f"{path} is not an idx file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(shape))
    if len(data) - header != count * dtype.itemsize:
        raise ConfigError(f"{path}: header says {shape} but the file holds {len(data) - header} bytes of data")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)


def _find_idx_files(folder: Path) -> list[Path] | None:
    found = []
    for stem in _STEMS:
        candidates = [folder / f"{stem}.gz", folder / stem]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found


def load_idx_splits(files: list[Path]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train images, train labels, test images, test labels from the four idx files, as tensors."""
    arrays = [read_idx(f) for f in files]
    for images, labels in ((arrays[0], arrays[1]), (arrays[2], arrays[3])):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ConfigError(f"idx files {files} disagree: images {images.shape}, labels {labels.shape}")
    tr_x, tr_y, te_x, te_y = (torch.from_numpy(a.copy()) for a in arrays)
    return tr_x[:, None], tr_y.long(), te_x[:, None], te_y.long()


@register_dataset("fashion-mnist")
def fashion_mnist(request: DatasetRequest) -> TensorData:
    """Zalando's Fashion-MNIST: 60,000/10,000 grey 28x28 images of 10 kinds of clothing."""
    folders = []
    if request.data_dir is not None:
        d = request.data_dir
        folders += [d, d / "fashion-mnist", d / "FashionMNIST" / "raw"]
    folders.append(DEBIAN_FASHION_MNIST_DIR)
    for folder in folders:
        files = _find_idx_files(folder)
        if files is not None:
            log.info("fashion-mnist: reading %s", folder)
            break
    else:
        files = _download_fashion_mnist(request) if request.download else None
    if files is None:
        looked = ", ".join(str(f) for f in folders)
        raise DataNotFoundError(
            f"Fashion-MNIST not found (looked in {looked}). Get it one of three ways: pass --data-dir DIR "
            "(data_dir=) holding train-images-idx3-ubyte.gz and the three other idx files; "
            "`apt-get install dataset-fashion-mnist`; or --download (download=True, needs internet)"
        )
    tr_x, tr_y, te_x, te_y = load_idx_splits(files)
    return TensorData(tr_x, tr_y, te_x, te_y, num_classes=10, class_names=FASHION_MNIST_CLASSES, crop=True)


def _download_fashion_mnist(request: DatasetRequest) -> list[Path] | None:
    from torchvision.datasets import FashionMNIST

    root = request.data_dir or default_data_root()
    try:
        FashionMNIST(str(root), train=True, download=True)
        FashionMNIST(str(root), train=False, download=True)
    except (RuntimeError, OSError) as e:  # URLError is an OSError
        log.warning("fashion-mnist download failed: %s", e)
        return None
    return _find_idx_files(root / "FashionMNIST" / "raw")
