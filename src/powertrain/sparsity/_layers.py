"""Which modules count as activations, and which leaf modules a penalty or estimator visits."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from powertrain.errors import ConfigError

__all__ = ["ACTIVATION_TYPES", "DROPOUT_TYPES", "LayerSelector", "leaf_modules", "select_layers"]

#: Elementwise activation modules. ``layers="activations"`` penalises their outputs; the accelerator model's
#: ``layerwise`` mode charges them one operation per element.
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Hardshrink,
    nn.Softshrink,
    nn.Tanhshrink,
    nn.Threshold,
    nn.Tanh,
    nn.Sigmoid,
    nn.LogSigmoid,
    nn.Softplus,
    nn.Softsign,
)

#: Dropout modules: no memory traffic or operations at inference in the accelerator model's ``layerwise`` mode.
#: The penalty's ``layers="all"`` skips only ``nn.Dropout`` (and its subclasses), as the reference code does.
DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)

#: A custom layer choice: ``fn(qualified_name, module) -> bool`` over the model's leaf modules.
LayerSelector = Callable[[str, nn.Module], bool]


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of every module without children, in registration order.

    A module registered under several names is listed once (the first name). The root is ``""`` when the
    model itself is a leaf.
    """
    return [(name, module) for name, module in model.named_modules() if next(module.children(), None) is None]


def select_layers(model: nn.Module, layers: str | LayerSelector) -> list[tuple[str, nn.Module]]:
    """The leaf modules whose outputs a penalty reads.

    Args:
        model: The network.
        layers: ``"activations"`` (leaf modules that are an :data:`ACTIVATION_TYPES`), ``"all"`` (every leaf
            module except ``nn.Dropout``, exactly as EAT's reference code: ``Dropout1d/2d/3d`` and
            ``AlphaDropout`` are penalised) or a :data:`LayerSelector`.
    """
    leaves = leaf_modules(model)
    if layers == "activations":
        return [(n, m) for n, m in leaves if isinstance(m, ACTIVATION_TYPES)]
    if layers == "all":
        return [(n, m) for n, m in leaves if not isinstance(m, nn.Dropout)]
    if callable(layers):
        return [(n, m) for n, m in leaves if layers(n, m)]
    raise ConfigError(f"layers must be 'activations', 'all' or a callable, not {layers!r}")
