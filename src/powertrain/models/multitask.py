"""``multitask``: any registered model (the trunk) whose classifier is replaced by a :class:`MultiHead`.

A :class:`MultiHead` is one linear head per task, their logits concatenated in task order; the training objective
(:mod:`powertrain.training.objective`) scores each sample against its own task's head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.models._registry import create_model, register_model
from powertrain.models.blocks import model_blocks

__all__ = ["MultiHead", "find_multihead"]


class MultiHead(nn.Module):
    """One linear head per task on shared features; the output concatenates the heads' logits in task order.

    Args:
        in_features: Width of the shared features.
        heads: Number of classes of each task.
    """

    whole_block = True  #: :func:`~powertrain.models.model_blocks` takes every task's head as one block

    def __init__(self, in_features: int, heads: Sequence[int]) -> None:
        super().__init__()
        self.classes = tuple(int(h) for h in heads)
        self.heads = nn.ModuleList(nn.Linear(in_features, h) for h in self.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, sum(classes))``: task ``t``'s after those of the tasks before it."""
        return torch.cat([head(x) for head in self.heads], dim=1)


def find_multihead(model: nn.Module) -> MultiHead | None:
    """The model's :class:`MultiHead`, or None for a single-task model."""
    return next((m for m in model.modules() if isinstance(m, MultiHead)), None)


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
