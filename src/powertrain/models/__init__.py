"""Models by name: ``mlp``, ``lenet5``, ``resnet18``, ``vgg16``, ``vit``, ``digit-cnn`` and ``multitask``.

``resnet18`` and ``vgg16`` are the CIFAR-style networks EAT used for 32x32 inputs; ``digit-cnn`` the pretrained CNN of
PyPI's digit-recognizer-py; ``multitask`` any of them as a trunk with one head per task.

Entry point::

    model = create_model("resnet18", num_classes=10, in_channels=3, image_size=32)

Layout (as :mod:`powertrain.data`): the registry at the bottom (``_registry.py``), one module per family that
registers itself (``mlp``, ``lenet5``, ``resnet``, ``vgg``, ``vit``, ``digit_cnn``, ``multitask``), and
:func:`model_blocks` (``blocks.py``) to cut any model into blocks. A new family is a new module with a
``@register_model("name")`` factory, added to the import list below.

Contract for the EAT sparsity and accelerator code: every ReLU is its own ``nn.ReLU(inplace=False)``
module, called exactly once per forward pass, and no activation uses ``torch.nn.functional``; so a
forward hook on each ReLU sees each activation once. An unknown name raises
:class:`~powertrain.errors.UnknownNameError` with the closest names; bad sizes raise
:class:`~powertrain.errors.ConfigError`. Details: docs/data-and-models.md.
"""

from __future__ import annotations

# Each family below registers its models on import; the list is explicit on purpose.
from powertrain.models._registry import create_model, list_models, register_model
from powertrain.models.blocks import model_blocks
from powertrain.models.digit_cnn import DigitCNN
from powertrain.models.lenet5 import LeNet5
from powertrain.models.mlp import MLP
from powertrain.models.multitask import MultiHead, find_multihead
from powertrain.models.resnet import BasicBlock, ResNet18
from powertrain.models.vgg import VGG16
from powertrain.models.vit import EncoderBlock, VisionTransformer

__all__ = [
    "MLP",
    "VGG16",
    "BasicBlock",
    "DigitCNN",
    "EncoderBlock",
    "LeNet5",
    "MultiHead",
    "ResNet18",
    "VisionTransformer",
    "create_model",
    "find_multihead",
    "list_models",
    "model_blocks",
    "register_model",
]
