"""Folder datasets: the PIL-to-uint8 image transform and ``imagefolder:PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torchvision import datasets
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from powertrain.data._load import register_dataset
from powertrain.data._types import DatasetRequest, FolderData
from powertrain.errors import ConfigError, DataNotFoundError

__all__ = ["ImageTransform"]


class ImageTransform:
    """PIL image -> uint8 tensor ``(channels, size, size)``; picklable, so DataLoader workers can run it.

    Args:
        size: Output height and width.
        channels: 1 (luminance) or 3 (RGB).
        resize: ``"crop"`` scales the short side to ``size`` and centre-crops (keeps the aspect ratio);
            ``"stretch"`` scales both sides to ``size``.
    """

    def __init__(self, size: int, channels: int, resize: Literal["crop", "stretch"] = "crop") -> None:
        if resize not in ("crop", "stretch"):
            raise ConfigError(f"resize must be 'crop' or 'stretch', got {resize!r}")
        self.size, self.channels, self.resize = size, channels, resize

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image.convert("L" if self.channels == 1 else "RGB")
        bilinear = InterpolationMode.BILINEAR
        if self.resize == "stretch":
            image = TF.resize(image, [self.size, self.size], interpolation=bilinear)
        else:
            image = TF.center_crop(TF.resize(image, self.size, interpolation=bilinear), [self.size, self.size])
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


class _Folder(datasets.ImageFolder):
    """ImageFolder whose class list is fixed by the caller, so train and test agree on label numbers."""

    def __init__(self, root: Path, classes: list[str], transform: ImageTransform, allow_empty: bool) -> None:
        self._fixed = classes
        super().__init__(str(root), transform=transform, loader=_load_image, allow_empty=allow_empty)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        present = sorted(e.name for e in Path(directory).iterdir() if e.is_dir())
        unknown = sorted(set(present) - set(self._fixed))
        if unknown:
            raise ConfigError(f"{directory} has classes {unknown} that the train folder does not have")
        return self._fixed, {c: i for i, c in enumerate(self._fixed)}


def _load_image(path: str) -> Image.Image:
    """Open an image file; a truncated or non-image file is one ConfigError line naming it."""
    try:
        with open(path, "rb") as fh:
            image = Image.open(fh)
            image.load()
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"image {path} cannot be read ({reason}); replace or remove it") from None


@register_dataset("imagefolder")
def imagefolder(request: DatasetRequest) -> FolderData:
    """Your own images: ``PATH/train/CLASS/*`` and ``PATH/test/CLASS/*`` (any size, resized; default 32).

    Class numbers follow the sorted class folder names of ``train``. Options: ``path`` (or give it as
    ``imagefolder:PATH`` or ``data_dir``), ``resize`` (``"crop"`` default or ``"stretch"``).
    """
    path = request.option("path", None)
    if path is None:
        if request.data_dir is None:
            raise ConfigError("imagefolder needs a folder: use the name 'imagefolder:PATH' (or data_dir=PATH)")
        path = request.data_dir
    root = Path(path).expanduser()
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir() or not test_dir.is_dir():
        raise DataNotFoundError(
            f"imagefolder: {root} must hold train/CLASS/* and test/CLASS/* image folders; "
            f"missing {train_dir if not train_dir.is_dir() else test_dir}"
        )
    classes = sorted(e.name for e in train_dir.iterdir() if e.is_dir())
    if not classes:
        raise DataNotFoundError(f"imagefolder: {train_dir} has no class folders")
    size = request.image_size or 32
    channels = request.channels or 3
    transform = ImageTransform(size, channels, request.option("resize", "crop"))
    try:
        train = _Folder(train_dir, classes, transform, allow_empty=False)
        test = _Folder(test_dir, classes, transform, allow_empty=True)  # a test set may lack a class
    except FileNotFoundError as e:  # torchvision: a class folder without images
        raise DataNotFoundError(f"imagefolder: {e}") from e
    if len(test) == 0:
        raise DataNotFoundError(f"imagefolder: {test_dir} holds no images")
    return FolderData(
        train, test, num_classes=len(classes), image_size=size, channels=channels, class_names=tuple(classes),
        crop=True, hflip=True,
    )  # fmt: skip
