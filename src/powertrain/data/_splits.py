"""Train/test split objects and the one-time preprocessing of tensor-backed data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from powertrain.data._augment import BatchTransform

__all__ = [
    "FolderSplit",
    "ImageSplit",
    "TensorSplit",
    "pixel_stats",
    "resize_images",
    "select_indices",
    "to_channels",
]

# ITU-R BT.601 luma weights, the ones PIL's convert("L") uses.
_LUMA = (0.299, 0.587, 0.114)


class ImageSplit(Dataset[tuple[torch.Tensor, int]]):
    """One split of a dataset.

    Indexing gives ``(float image (C, H, W) normalised, int label)`` without augmentation; the loaders
    read the raw uint8 images through :meth:`raw` and do the rest per batch on the device.

    Attributes:
        mean: Per-channel mean used for normalisation (pixel values in [0, 1]).
        std: Per-channel standard deviation used for normalisation.
        channels: Channels of the images this split yields.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        """The uint8 image ``(C', H, W)`` and label; ``C'`` may be 1 when ``channels`` is 3."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.raw(index)
        transform = self.__dict__.get("_eval_transform")
        if transform is None:
            transform = BatchTransform(self.mean, self.std, self.channels, 0, False, torch.device("cpu"))
            self._eval_transform = transform
        return transform(image[None])[0], label


class TensorSplit(ImageSplit):
    """A split held as tensors: uint8 images ``(N, C', H, W)`` and int64 labels ``(N,)``.

    Single-channel images that should be seen with 3 channels stay single-channel in memory; the loader
    repeats the channel per batch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        channels: int,
    ) -> None:
        self.images = images
        self.labels = labels
        self.mean, self.std, self.channels = tuple(mean), tuple(std), channels
        self._on: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    @property
    def nbytes(self) -> int:
        """Bytes of the image and label tensors."""
        return self.images.numel() * self.images.element_size() + self.labels.numel() * 8

    def tensors_on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels on ``device``, copied once and cached for later loaders."""
        key = str(device)
        if key not in self._on:
            if self.images.device == device:
                self._on[key] = (self.images, self.labels)
            else:
                self._on[key] = (self.images.to(device), self.labels.to(device))
        return self._on[key]


class FolderSplit(ImageSplit):
    """A split read image by image from a dataset yielding ``(uint8 (C, H, W), int)``, maybe subset."""

    def __init__(
        self,
        base: Dataset[tuple[torch.Tensor, int]],
        indices: torch.Tensor | None,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        channels: int,
    ) -> None:
        self.base = base
        self.indices = indices
        self.mean, self.std, self.channels = tuple(mean), tuple(std), channels

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.base)  # type: ignore[arg-type]

    def raw(self, index: int) -> tuple[torch.Tensor, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a split of {len(self)} samples")
        real = int(self.indices[index]) if self.indices is not None else index
        image, label = self.base[real]
        return image, int(label)


def select_indices(total: int, count: int | None, mode: Literal["first", "random"], seed: int) -> torch.Tensor | None:
    """Indices of a subset of ``count`` out of ``total`` samples, or None for all of them.

    ``mode="first"`` keeps the first ``count``; ``"random"`` draws them without replacement with ``seed``
    and keeps them in ascending order, so the subset is a set and its order stays the dataset's.
    """
    if count is None or count >= total:
        return None
    if mode == "first":
        return torch.arange(count)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=gen)[:count].sort().values


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 images to 1 channel by luminance; 1 -> 3 is left to the loader (a cheap expand)."""
    if channels == 1 and images.shape[1] == 3:
        weights = torch.tensor(_LUMA).view(1, 3, 1, 1)
        out = torch.empty((images.shape[0], 1, *images.shape[2:]), dtype=torch.uint8)
        for start in range(0, images.shape[0], 4096):
            chunk = images[start : start + 4096].float()
            out[start : start + 4096] = (chunk * weights).sum(1, keepdim=True).round_().clamp_(0, 255)
        return out
    return images


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 ``(N, C, H, W)`` images to ``size`` x ``size`` (bilinear, antialiased), in chunks."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], 2048):
        chunk = images[start : start + 2048].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + 2048] = resized.round_().clamp_(0, 255)
    return out


def pixel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std of uint8 images, with values scaled to [0, 1].

    Uses a 256-bin histogram per channel, so it needs no float copy of the data.
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / n
        means.append(float(mean))
        stds.append(max(float(var.sqrt()), 1e-6))
    return tuple(means), tuple(stds)
