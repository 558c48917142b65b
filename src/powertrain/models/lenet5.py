"""``lenet5``: LeNet-5 with ReLU and max-pooling."""

from __future__ import annotations

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.models._registry import register_model

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling.

    conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> fc 120 -> fc 84 -> fc classes. The first conv pads
    by 2 for images smaller than 32 (so 28x28 MNIST gives the classic 16x5x5 features, like 32x32 without
    padding); the first fully connected layer is sized from ``image_size``.
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__()
        pad = 2 if image_size < 32 else 0
        side = ((image_size + 2 * pad - 4) // 2 - 4) // 2
        if side < 1:
            raise ConfigError(f"lenet5 needs image_size >= 12, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C, H, W)``."""
        return self.classifier(self.features(x))


@register_model("lenet5")
def lenet5(*, num_classes: int, in_channels: int, image_size: int) -> LeNet5:
    """LeNet-5 with ReLU and max-pooling, sized for ``image_size`` (>= 12)."""
    return LeNet5(in_channels, image_size, num_classes)
