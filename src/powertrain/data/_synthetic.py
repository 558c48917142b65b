"""``synthetic``: seeded, learnable random images of any shape and class count, for tests and benchmarks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from powertrain.data._augment import derive_seed
from powertrain.data._load import register_dataset
from powertrain.data._types import DatasetRequest, TensorData
from powertrain.errors import ConfigError

__all__ = ["make_synthetic"]


def make_synthetic(
    *,
    num_classes: int,
    count: int,
    image_size: int,
    channels: int,
    signal: float,
    noise: float,
    seed: int,
    stream: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``mid-grey + signal * prototype[label] + noise * N(0, 1)`` quantised to uint8.

    Each class has a smooth prototype (a random 4x4 pattern per channel, upsampled), fixed by ``seed``,
    so the class is visible to a model and survives small crops; ``stream`` draws independent samples
    (train and test) around the same prototypes. Labels are balanced (``i % num_classes``, shuffled).

    Returns:
        uint8 images ``(count, channels, image_size, image_size)`` and int64 labels ``(count,)``.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, 0, 0))
    coarse = torch.rand(num_classes, channels, 4, 4, generator=gen) * 2 - 1
    protos = F.interpolate(coarse, size=(image_size, image_size), mode="bicubic", align_corners=False)
    protos = protos / protos.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    gen.manual_seed(derive_seed(seed, stream, 1))
    labels = (torch.arange(count) % num_classes)[torch.randperm(count, generator=gen)]
    images = torch.empty((count, channels, image_size, image_size), dtype=torch.uint8)
    for start in range(0, count, 4096):
        y = labels[start : start + 4096]
        x = 0.5 + signal * protos[y] + noise * torch.randn((len(y), channels, image_size, image_size), generator=gen)
        images[start : start + 4096] = (x * 255).round_().clamp_(0, 255)
    return images, labels


@register_dataset("synthetic")
def synthetic(request: DatasetRequest) -> TensorData:
    """Seeded random images with a class-dependent pattern.

    Options: ``num_classes`` (10), ``train_size`` (2048), ``test_size`` (512), ``signal`` (0.25) and
    ``noise`` (0.25), both in units of the pixel range; ``image_size`` default 32, ``channels`` default 3.
    Augmentation is off by default (``crop_padding`` / ``hflip`` turn it on).
    """
    num_classes = request.option("num_classes", 10)
    train_size = request.option("train_size", 2048)
    test_size = request.option("test_size", 512)
    signal = float(request.option("signal", 0.25))
    noise = float(request.option("noise", 0.25))
    for key, value, low in (
        ("num_classes", num_classes, 2),
        ("train_size", train_size, 1),
        ("test_size", test_size, 1),
    ):
        if not isinstance(value, int) or value < low:
            raise ConfigError(f"synthetic {key} must be an integer >= {low}, got {value!r}")
    if signal < 0 or noise < 0:
        raise ConfigError(f"synthetic signal and noise must be >= 0, got {signal} and {noise}")
    common = {
        "num_classes": num_classes,
        "image_size": request.image_size or 32,
        "channels": request.channels or 3,
        "signal": signal,
        "noise": noise,
        "seed": request.seed,
    }
    tr_x, tr_y = make_synthetic(count=train_size, stream=1, **common)
    te_x, te_y = make_synthetic(count=test_size, stream=2, **common)
    names = tuple(f"class{i}" for i in range(num_classes))
    return TensorData(tr_x, tr_y, te_x, te_y, num_classes=num_classes, class_names=names, crop=False, hflip=False)
