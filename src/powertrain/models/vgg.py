"""``vgg16``: the CIFAR-style VGG-16 with batch norm EAT used for 32x32 inputs."""

from __future__ import annotations

import torch
from torch import nn

from powertrain.models._registry import register_model

__all__ = ["VGG16", "VGG16_CFG"]

VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


class VGG16(nn.Module):
    """CIFAR-style VGG-16 with batch norm: conv3x3-BN-ReLU blocks, five 2x2 max-pools, one linear layer.

    At 32x32 the features end at 512x1x1 and the classifier is a single ``Linear(512, num_classes)``,
    as in EAT (about 14.7M parameters for 10 classes). Other sizes: the pools use ``ceil_mode=True``
    (identical at multiples of 32, and sizes down to 8 still reach 1x1), and when the features end
    larger than 1x1 an ``AdaptiveAvgPool2d(1)`` is added before the classifier; at 32x32 there is no
    extra module, so energy estimates match the reference architecture.
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = in_channels, image_size
        for item in VGG16_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                side = -(-side // 2)
            else:
                assert isinstance(item, int)
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.BatchNorm2d(item), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.pool: nn.Module | None = nn.AdaptiveAvgPool2d(1) if side > 1 else None
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C, H, W)``."""
        out = self.features(x)
        if self.pool is not None:
            out = self.pool(out)
        return self.classifier(torch.flatten(out, 1))


@register_model("vgg16")
def vgg16(*, num_classes: int, in_channels: int, image_size: int) -> VGG16:
    """CIFAR-style VGG-16 with batch norm and one linear classifier."""
    return VGG16(in_channels, image_size, num_classes)
