"""Cutting a model into blocks: what fine-tuning modes freeze and what ``init_from``'s new-head rule replaces.

:func:`model_blocks` works on any model (:mod:`powertrain.training.transfer` uses it). A module whose class sets
``whole_block = True`` (the multitask :class:`~powertrain.models.MultiHead`) is one block with everything inside it.
"""

from __future__ import annotations

from torch import nn

__all__ = ["model_blocks"]

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)


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
        if getattr(module, "whole_block", False):
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
