"""``mlp``: a multi-layer perceptron on the flattened image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.models._registry import register_model

__all__ = ["MLP"]


class MLP(nn.Module):
    """Flatten, then ``Linear -> ReLU`` per hidden size, then a linear classifier."""

    def __init__(self, in_features: int, hidden_sizes: Sequence[int], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C, H, W)``."""
        return self.net(x)


@register_model("mlp")
def mlp(*, num_classes: int, in_channels: int, image_size: int, hidden_sizes: Sequence[int] = (512, 256)) -> MLP:
    """Multi-layer perceptron on the flattened image; ``hidden_sizes`` default (512, 256)."""
    sizes = tuple(hidden_sizes)
    if any(not isinstance(h, int) or h < 1 for h in sizes):
        raise ConfigError(f"mlp hidden_sizes must be positive integers, got {hidden_sizes!r}")
    return MLP(in_channels * image_size * image_size, sizes, num_classes)
