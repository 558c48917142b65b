"""Models by name: ``mlp``, ``lenet5``, ``resnet18`` / ``vgg16`` as EAT used them for 32x32 inputs, and ``vit``.

Also ``digit-cnn`` (the pretrained CNN of PyPI's digit-recognizer-py) and ``multitask`` (any of them as a trunk
with one head per task), from :mod:`powertrain._models_transfer`.

Entry point::

    model = create_model("resnet18", num_classes=10, in_channels=3, image_size=32)

Contract for the EAT sparsity and accelerator code: every ReLU is its own ``nn.ReLU(inplace=False)``
module, called exactly once per forward pass, and no activation uses ``torch.nn.functional``; so a
forward hook on each ReLU sees each activation once. An unknown name raises
:class:`~powertrain.errors.UnknownNameError` with the closest names; bad sizes raise
:class:`~powertrain.errors.ConfigError`. Details: docs/data-and-models.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.registry import Registry

__all__ = ["BasicBlock", "LeNet5", "MLP", "ResNet18", "VGG16", "create_model", "list_models", "register_model"]

ModelFactory = Callable[..., nn.Module]
_REGISTRY: Registry[ModelFactory] = Registry("model")

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


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering ``fn(*, num_classes, in_channels, image_size, **kw) -> nn.Module`` as ``name``."""
    return _REGISTRY.register(name)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return _REGISTRY.names()


def create_model(
    name: str, *, num_classes: int, in_channels: int = 3, image_size: int = 32, **kwargs: Any
) -> nn.Module:
    """Build a registered model.

    Args:
        name: A name from :func:`list_models`.
        num_classes: Outputs of the classifier (>= 1).
        in_channels: Channels of the input images (>= 1).
        image_size: Height and width of the input images in pixels (>= 8).
        **kwargs: Model options (``hidden_sizes`` for ``mlp``); None values are dropped.

    Raises:
        UnknownNameError: ``name`` is not registered.
        ConfigError: A size is out of range or an option is unknown to the model.
    """
    factory = _REGISTRY.get(name)
    for key, value, low in (
        ("num_classes", num_classes, 1),
        ("in_channels", in_channels, 1),
        ("image_size", image_size, 8),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    accepted = [
        p for p in inspect.signature(factory).parameters if p not in ("num_classes", "in_channels", "image_size")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"model {name!r} does not take {unknown}; it takes {accepted or 'no options'}")
    return factory(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)


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


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (two ReLU modules)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output for ``x`` ``(B, C, H, W)``."""
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: 3x3 stride-1 stem, no max-pool, BasicBlock [2, 2, 2, 2] at 64-128-256-512.

    Then adaptive average pooling to 1x1 and one linear layer. About 11.2M parameters for 10 classes.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        stages, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, C, H, W)``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.avgpool(out), 1))


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


@register_model("mlp")
def mlp(*, num_classes: int, in_channels: int, image_size: int, hidden_sizes: Sequence[int] = (512, 256)) -> MLP:
    """Multi-layer perceptron on the flattened image; ``hidden_sizes`` default (512, 256)."""
    sizes = tuple(hidden_sizes)
    if any(not isinstance(h, int) or h < 1 for h in sizes):
        raise ConfigError(f"mlp hidden_sizes must be positive integers, got {hidden_sizes!r}")
    return MLP(in_channels * image_size * image_size, sizes, num_classes)


@register_model("lenet5")
def lenet5(*, num_classes: int, in_channels: int, image_size: int) -> LeNet5:
    """LeNet-5 with ReLU and max-pooling, sized for ``image_size`` (>= 12)."""
    return LeNet5(in_channels, image_size, num_classes)


@register_model("resnet18")
def resnet18(*, num_classes: int, in_channels: int, image_size: int) -> ResNet18:
    """CIFAR-style ResNet-18 (works at any ``image_size``; designed for 32)."""
    del image_size  # the adaptive pool makes it size-agnostic
    return ResNet18(in_channels, num_classes)


@register_model("vgg16")
def vgg16(*, num_classes: int, in_channels: int, image_size: int) -> VGG16:
    """CIFAR-style VGG-16 with batch norm and one linear classifier."""
    return VGG16(in_channels, image_size, num_classes)


# -- transformers (powertrain.vit) ------------------------------------------------------------------------------
@register_model("vit")
def vit(
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    patch_size: int | None = None,
    dim: int = 64,
    depth: int = 2,
    heads: int = 4,
    mlp_dim: int | None = None,
    activation: str = "relu",
) -> nn.Module:
    """A small vision transformer (:mod:`powertrain.vit`), ReLU MLP activations (``activation="gelu"`` for GELU).

    ``patch_size`` defaults to ``image_size // 4`` (16 patches), ``mlp_dim`` to ``2 * dim``.
    """
    from powertrain.vit import VisionTransformer

    return VisionTransformer(
        in_channels=in_channels,
        image_size=image_size,
        num_classes=num_classes,
        patch_size=patch_size if patch_size is not None else max(1, image_size // 4),
        dim=dim,
        depth=depth,
        heads=heads,
        mlp_dim=mlp_dim if mlp_dim is not None else 2 * dim,
        activation=activation,  # type: ignore[arg-type]
    )


# Transfer and multitask models register themselves; imported last because they build on the registry above.
from powertrain._models_transfer import DigitCNN, MultiHead, model_blocks  # noqa: E402

__all__ += ["DigitCNN", "MultiHead", "model_blocks"]
