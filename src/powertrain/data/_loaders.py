"""The two loader kinds: batches gathered from tensors, and a torch DataLoader over image files."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from powertrain.data._augment import BatchTransform, derive_seed
from powertrain.data._splits import FolderSplit, TensorSplit

__all__ = ["FolderLoader", "TensorLoader"]

_SHUFFLE, _AUGMENT = 0, 1


class _EpochState:
    """Epoch bookkeeping shared by both loaders: ``set_epoch`` pins the next one, iteration advances it."""

    def __init__(self, *, batch_size: int, num_samples: int, shuffle: bool, augment: bool, seed: int) -> None:
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (shuffle and augmentation depend on seed and epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def _next_epoch(self) -> int:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return epoch

    def _order(self, epoch: int) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        gen = torch.Generator().manual_seed(derive_seed(self.seed, epoch, _SHUFFLE))
        return torch.randperm(self.num_samples, generator=gen)


class TensorLoader(_EpochState):
    """Batches gathered by index from uint8 image tensors, transformed on the device.

    The tensors live on ``storage`` (the compute device when they fit there, else the CPU); each batch is
    gathered there, moved, then augmented and normalised on ``transform.device``.

    Args:
        split: The tensors.
        transform: Per-batch augmentation and normalisation.
        batch_size: Samples per batch; the last batch of an epoch may be smaller.
        storage: Device that holds the tensors.
        shuffle: Shuffle every epoch (train).
        augment: Apply random crop/flip (train).
        seed: Base seed of shuffle order and augmentation.
    """

    def __init__(
        self,
        split: TensorSplit,
        transform: BatchTransform,
        *,
        batch_size: int,
        storage: torch.device,
        shuffle: bool,
        augment: bool,
        seed: int,
    ) -> None:
        super().__init__(batch_size=batch_size, num_samples=len(split), shuffle=shuffle, augment=augment, seed=seed)
        self.transform = transform
        self.images, self.labels = split.tensors_on(storage)
        self.device = transform.device

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self._next_epoch()
        order = self._order(epoch)
        if order is not None:
            order = order.to(self.images.device)
        gen = self.transform.new_generator(derive_seed(self.seed, epoch, _AUGMENT)) if self.augment else None
        for start in range(0, self.num_samples, self.batch_size):
            if order is None:
                images = self.images[start : start + self.batch_size]
                labels = self.labels[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                images, labels = self.images[idx], self.labels[idx]
            yield self.transform(images, generator=gen), labels.to(self.device, non_blocking=True)


class _EpochSampler(Sampler[int]):
    def __init__(self, state: _EpochState) -> None:
        self.state = state
        self.order: torch.Tensor | None = None

    def __iter__(self) -> Iterator[int]:
        if self.order is None:
            return iter(range(self.state.num_samples))
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return self.state.num_samples


class _RawView(Dataset[tuple[torch.Tensor, int]]):
    """The uint8 view of a folder split, what DataLoader workers read."""

    def __init__(self, split: FolderSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.split.raw(index)


class FolderLoader(_EpochState):
    """Batches decoded by a torch DataLoader, then augmented and normalised on the device.

    ``workers`` processes decode and resize images to uint8 tensors; the rest happens per batch on the
    device, as in :class:`TensorLoader`.

    Args:
        split: The split to read.
        transform: Per-batch augmentation and normalisation.
        batch_size: Samples per batch; the last batch may be smaller.
        workers: DataLoader worker processes (0 reads in the main process).
        shuffle: Shuffle every epoch (train).
        augment: Apply random crop/flip (train).
        seed: Base seed of shuffle order and augmentation.
    """

    def __init__(
        self,
        split: FolderSplit,
        transform: BatchTransform,
        *,
        batch_size: int,
        workers: int,
        shuffle: bool,
        augment: bool,
        seed: int,
    ) -> None:
        super().__init__(batch_size=batch_size, num_samples=len(split), shuffle=shuffle, augment=augment, seed=seed)
        self.transform = transform
        self.device = transform.device
        self._sampler = _EpochSampler(self)
        self.dataloader = DataLoader(
            _RawView(split),
            batch_size=batch_size,
            sampler=self._sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            drop_last=False,
            persistent_workers=workers > 0,
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self._next_epoch()
        self._sampler.order = self._order(epoch)
        gen = self.transform.new_generator(derive_seed(self.seed, epoch, _AUGMENT)) if self.augment else None
        for images, labels in self.dataloader:
            yield self.transform(images, generator=gen), labels.to(self.device, non_blocking=True)
