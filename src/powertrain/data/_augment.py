"""Batch-wise augmentation and normalisation on the device, vectorised (no Python loop per image)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["BatchTransform", "derive_seed", "random_crop", "random_hflip"]


def derive_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed that depends on ``(seed, epoch, stream)`` with no collisions between neighbours.

    ``stream`` separates independent random streams of the same epoch (shuffle order, augmentation).
    """
    state = np.random.SeedSequence([seed, epoch, stream]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad every image by ``padding`` zeros on each side, then crop it back at a random offset.

    The same as torchvision's ``RandomCrop(size, padding=padding)`` applied image by image, done with
    two gathers for the whole batch.

    Args:
        x: Batch ``(B, C, H, W)``, any dtype. Zero padding means black in raw pixel space, so call this
            before normalising.
        padding: Pixels added on each side; 0 returns ``x``.
        generator: Random generator on ``x.device``.

    Returns:
        A new batch of the same shape.
    """
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator, device=x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (B, W)
    # Two gathers (rows, then columns) are about twice as fast as one 4-D advanced index.
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * padding))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


@dataclass
class BatchTransform:
    """Turns a raw uint8 batch into the float, normalised (and optionally augmented) batch a model eats.

    Steps, all on ``device``: move, convert to float, repeat a single channel to ``channels``, random crop
    with ``crop_padding`` and random horizontal flip (train only), then ``(x / 255 - mean) / std``.

    Attributes:
        mean: Per-channel mean of pixel values scaled to [0, 1].
        std: Per-channel standard deviation of pixel values scaled to [0, 1].
        channels: Channels of the output.
        crop_padding: Padding of the random crop; 0 disables it.
        hflip: Whether to flip horizontally at random.
        device: Where the work happens.
    """

    mean: Sequence[float]
    std: Sequence[float]
    channels: int
    crop_padding: int
    hflip: bool
    device: torch.device

    def __post_init__(self) -> None:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale = 1.0 / (255.0 * std)
        self._shift = -mean / std

    def new_generator(self, seed: int) -> torch.Generator:
        """A generator on this transform's device, seeded with ``seed``."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        return gen

    def __call__(self, raw: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform one batch; augment only when ``generator`` is given.

        Args:
            raw: uint8 (or float in 0..255) batch ``(B, C, H, W)`` on any device.
            generator: Random generator on the device; None means no augmentation (evaluation).

        Returns:
            float32 batch ``(B, channels, H, W)`` on the device.
        """
        x = raw.to(self.device, non_blocking=True).float()
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1)
        if generator is not None:
            x = random_crop(x, self.crop_padding, generator)
            if self.hflip:
                x = random_hflip(x, generator)
        return x * self._scale + self._shift
