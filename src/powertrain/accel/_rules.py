"""Operation counts per layer type, for the ``reference`` and ``layerwise`` modes, computed from shapes.

A rule maps ``(module, input shapes, output shapes)`` to a list of ``(operations, skip)`` terms; ``skip``
says which zeros let a zero-skipping accelerator drop those operations in ``layerwise`` mode:

- ``"weight_input"``: multiply-accumulates, skipped when the weight or the input value is zero
  (fraction kept ``f = d_W * d_in``);
- ``"input"``: per-element work (pooling, normalisation, activation), skipped for zero inputs, whose result is
  a constant known in advance (``f = d_in``);
- ``"bias"``: bias additions, skipped for zero biases (``f = d_bias``);
- ``"none"``: never skipped; ``"global"``: the reference mode's single fraction over the whole pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from powertrain.sparsity._layers import ACTIVATION_TYPES, DROPOUT_TYPES

__all__ = ["ACTIVATION_COSTS", "Mode", "Rule", "SkipKind", "rule_for"]

Mode = Literal["reference", "layerwise", "ops"]
SkipKind = Literal["weight_input", "input", "bias", "none", "global"]
Shapes = Sequence[torch.Size]
Terms = list[tuple[int, SkipKind]]
OpsFn = Callable[[nn.Module, Shapes, Shapes], Terms]


@dataclass(frozen=True)
class Rule:
    """How one layer type is charged.

    Attributes:
        ops: Operation terms from the shapes of one call.
        traffic: Whether the call's activations and weights are memory accesses (``layerwise`` sets False for
            views and no-ops such as Flatten, Identity and Dropout at inference).
        modelled: False for a type without a rule (charged memory only); listed in the result.
    """

    ops: OpsFn
    traffic: bool = True
    modelled: bool = True


def _numel(shape: torch.Size) -> int:
    return math.prod(shape)


def _window(kernel_size: int | Sequence[int], dims: int) -> int:
    if isinstance(kernel_size, int):
        return kernel_size**dims
    return math.prod(kernel_size)


def _no_ops(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    return []


# -- reference: Sponge Examples' ASIC model, type by type as its hook ----------------------------------------
def _ref_adaptive_avg(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    return [(_numel(ins[0]), "global")]  # one operation per input value


def _ref_pool2d(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    return [(_numel(outs[0]) * _window(m.kernel_size, 2), "global")]  # type: ignore[arg-type]


def _ref_conv2d(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    kh, kw = m.kernel_size  # type: ignore[misc]
    return [(_numel(outs[0]) * kh * kw * ins[0][-3], "global")]  # groups are ignored, as in the reference


def _ref_linear(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    rows = _numel(ins[0]) // ins[0][-1] if ins[0][-1] else 0
    return [(m.weight.numel() * rows, "global")]  # type: ignore[union-attr,operator]


def _ref_batchnorm2d(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    return [(4 * _numel(ins[0]), "global")]


_REFERENCE: list[tuple[tuple[type[nn.Module], ...], Rule]] = [
    ((nn.AdaptiveAvgPool2d,), Rule(_ref_adaptive_avg)),
    ((nn.AvgPool2d, nn.MaxPool2d), Rule(_ref_pool2d)),
    ((nn.Conv2d,), Rule(_ref_conv2d)),
    ((nn.Linear,), Rule(_ref_linear)),
    ((nn.BatchNorm2d,), Rule(_ref_batchnorm2d)),
    ((nn.ReLU, nn.ReLU6, nn.LayerNorm, nn.Flatten, nn.Identity, *DROPOUT_TYPES), Rule(_no_ops)),
]


# -- layerwise ------------------------------------------------------------------------------------------------
def _lw_conv(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    c: nn.modules.conv._ConvNd = m  # type: ignore[assignment]
    out = _numel(outs[0])
    terms: Terms = [(out * math.prod(c.kernel_size) * (c.in_channels // c.groups), "weight_input")]
    if c.bias is not None:
        terms.append((out, "bias"))
    return terms


def _lw_conv_transpose(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    c: nn.modules.conv._ConvNd = m  # type: ignore[assignment]
    macs = _numel(ins[0]) * math.prod(c.kernel_size) * (c.out_channels // c.groups)  # each input scatters a kernel
    terms: Terms = [(macs, "weight_input")]
    if c.bias is not None:
        terms.append((_numel(outs[0]), "bias"))
    return terms


def _lw_linear(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    lin: nn.Linear = m  # type: ignore[assignment]
    rows = _numel(ins[0]) // ins[0][-1] if ins[0][-1] else 0
    terms: Terms = [(lin.in_features * lin.out_features * rows, "weight_input")]
    if lin.bias is not None:
        terms.append((_numel(outs[0]), "bias"))
    return terms


def _lw_pool(dims: int) -> OpsFn:
    def ops(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
        return [(_numel(outs[0]) * _window(m.kernel_size, dims), "input")]  # type: ignore[arg-type]

    return ops


#: Operations per element of each activation module (a transcendental function counts as one operation, as a
#: multiply; the same figures as the ``ops`` mode's ATen table): GELU ``x * 0.5 * (1 + erf(x / sqrt 2))`` 5, SiLU
#: ``x * sigmoid(x)`` 5, Mish ``x * tanh(log(1 + exp(x)))`` 5. Types not listed cost 1.
ACTIVATION_COSTS: tuple[tuple[type[nn.Module], int], ...] = (
    (nn.ReLU6, 2), (nn.LeakyReLU, 2), (nn.PReLU, 2), (nn.RReLU, 2), (nn.ELU, 4), (nn.SELU, 5), (nn.CELU, 5),
    (nn.GELU, 5), (nn.SiLU, 5), (nn.Mish, 5), (nn.Hardswish, 5), (nn.Hardsigmoid, 4), (nn.Hardtanh, 2),
    (nn.Hardshrink, 2), (nn.Softshrink, 3), (nn.Tanhshrink, 2), (nn.Sigmoid, 4), (nn.LogSigmoid, 4),
    (nn.Softplus, 3), (nn.Softsign, 3),
)  # fmt: skip


def _lw_activation(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
    per = next((cost for types, cost in ACTIVATION_COSTS if isinstance(m, types)), 1)
    return [(per * _numel(ins[0]), "input")] if ins else []


def _lw_per_element(per_element: int, skip: SkipKind) -> OpsFn:
    def ops(m: nn.Module, ins: Shapes, outs: Shapes) -> Terms:
        return [(per_element * _numel(ins[0]), skip)] if ins else []

    return ops


_LAYERWISE: list[tuple[tuple[type[nn.Module], ...], Rule]] = [
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), Rule(_lw_conv)),
    ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), Rule(_lw_conv_transpose)),
    ((nn.Linear,), Rule(_lw_linear)),
    ((nn.MaxPool1d, nn.AvgPool1d, nn.LPPool1d), Rule(_lw_pool(1))),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d), Rule(_lw_pool(2))),
    ((nn.MaxPool3d, nn.AvgPool3d), Rule(_lw_pool(3))),
    (
        (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
        + (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d),
        Rule(_lw_per_element(1, "input")),
    ),
    # Inference BatchNorm: (x - mean) / std * gamma + beta, statistics precomputed (as the reference).
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm), Rule(_lw_per_element(4, "input"))),
    # Normalisations that compute their statistics at inference: 4 as BatchNorm + 2 (sum, sum of squares).
    # Never skipped: the output for a zero input, -mean / std, depends on this sample's statistics.
    (
        (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d),
        Rule(_lw_per_element(6, "none")),
    ),
    (ACTIVATION_TYPES, Rule(_lw_activation)),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmin), Rule(_lw_per_element(3, "none"))),  # exp, sum, divide
    ((nn.Identity, nn.Flatten, nn.Unflatten, *DROPOUT_TYPES), Rule(_no_ops, traffic=False)),
]

_UNMODELLED = Rule(_no_ops, modelled=False)


def rule_for(module: nn.Module, mode: Mode) -> Rule:
    """The first rule whose types ``module`` is an instance of; an unmodelled rule otherwise."""
    table = _REFERENCE if mode == "reference" else _LAYERWISE
    for types, rule in table:
        if isinstance(module, types):
            return rule
    return _UNMODELLED
