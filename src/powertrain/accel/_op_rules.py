"""Operation counts per ATen operator, for the accelerator model's ``ops`` mode.

A rule maps one executed operator call ``(args, outputs)`` to an :class:`OpCost`: its operation terms, which
outputs are written, and the exceptions to "every tensor argument is read". Each term is ``(operations, kind,
operands)``; on zero-skipping hardware it keeps the fraction

- ``"product"``: ``d_a * d_b`` (multiply-accumulates, skipped when either operand is zero),
- ``"input"``: ``d_a`` (per-element work whose result for a zero input is a constant known in advance),
- ``"union"``: ``1 - (1 - d_a)(1 - d_b)`` (additions, skipped only when both operands are zero),
- ``"none"``: 1 (never skipped),

where ``d_x`` is the nonzero fraction of operand ``x`` in this call (zeros assumed independent, as in the
``layerwise`` mode). Transcendental functions (exp, log, erf, tanh) count as one operation, like a multiply.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

__all__ = ["ACTIVATION_OPS", "CREATION", "OpCost", "OpRule", "VIEWS", "rule_for_op"]

TermKind = Literal["product", "input", "union", "none"]
Term = tuple[int, TermKind, tuple[Tensor, ...]]


@dataclass
class OpCost:
    """What one operator call costs.

    Attributes:
        terms: Operation terms ``(operations, kind, operands)``.
        outputs: The outputs written (default: every tensor output).
        skip_inputs: Tensor arguments not read (for example the table of a gather).
        gathered: ``(table, output)`` of a gather: reads ``output.numel()`` values of the table, whose
            nonzeros are the output's.
        dense_inputs: Tensor arguments read in full whatever their values (indices).
    """

    terms: list[Term] = field(default_factory=list)
    outputs: list[Tensor] | None = None
    skip_inputs: tuple[Tensor, ...] = ()
    gathered: tuple[Tensor, Tensor] | None = None
    dense_inputs: tuple[Tensor, ...] = ()


OpRule = Callable[[Sequence[Any], list[Tensor]], OpCost]

#: Operators that only reinterpret memory (no traffic, no operations).
VIEWS = frozenset(
    "view _unsafe_view reshape _reshape_alias t transpose permute expand unsqueeze squeeze select slice split "
    "split_with_sizes chunk unbind narrow alias detach as_strided flatten unflatten diagonal view_as movedim "
    "numpy_T mT lift_fresh _local_scalar_dense sym_size sym_stride sym_numel dim size stride".split()
)
#: Operators that create tensors from nothing read (constants, masks, random numbers): not charged.
CREATION = frozenset(
    "empty empty_like empty_strided zeros zeros_like ones ones_like full full_like arange rand randn randint "
    "rand_like randn_like scalar_tensor new_empty new_zeros new_ones new_full tril_indices triu_indices "
    "bernoulli uniform_ normal_ fill_ zero_".split()
)
#: Operators that move data without arithmetic: read and write charged, no operations.
COPIES = frozenset(
    "clone contiguous _to_copy copy_ cat stack index_select gather repeat expand_copy constant_pad_nd "
    "pad masked_select roll flip".split()
)

#: Operations per element of elementwise activations (ATen names). A transcendental function counts as one
#: operation: GELU ``x * 0.5 * (1 + erf(x / sqrt 2))`` is 5; its tanh form 9; SiLU ``x * sigmoid(x)`` is 5 with
#: sigmoid ``1 / (1 + exp(-x))`` 4; Mish ``x * tanh(log(1 + exp(x)))`` is 5. All are skipped for a zero input
#: (their value there is a known constant).
ACTIVATION_OPS: dict[str, int] = {
    "relu": 1, "relu_": 1, "threshold": 1, "leaky_relu": 2, "leaky_relu_": 2, "prelu": 2, "_prelu_kernel": 2,
    "rrelu": 2, "rrelu_with_noise": 2, "hardtanh": 2, "hardtanh_": 2, "relu6": 2, "elu": 4, "elu_": 4,
    "selu": 5, "celu": 5, "gelu": 5, "silu": 5, "silu_": 5, "mish": 5, "hardswish": 5, "hardswish_": 5,
    "hardsigmoid": 4, "hardshrink": 2, "softshrink": 3, "sigmoid": 4, "sigmoid_": 4, "tanh": 1, "tanh_": 1,
    "log_sigmoid_forward": 4, "softplus": 3, "exp": 1, "log": 1, "sqrt": 1, "rsqrt": 1, "erf": 1, "neg": 1,
    "abs": 1, "reciprocal": 1, "sin": 1, "cos": 1, "pow": 1, "clamp": 2, "clamp_min": 1, "clamp_max": 1,
    "square": 1, "sign": 1, "log1p": 1, "expm1": 1, "floor": 1, "round": 1,
}  # fmt: skip


def _numel(x: Tensor | torch.Size | Sequence[int]) -> int:
    return x.numel() if isinstance(x, Tensor) else math.prod(x)


def _tensor(x: Any) -> Tensor | None:
    return x if isinstance(x, Tensor) else None


def _conv(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    x, w, b = args[0], args[1], _tensor(args[2]) if len(args) > 2 else None
    transposed = bool(args[6]) if len(args) > 6 else False
    per = w[0].numel()  # (C_out, C_in/g, *k) or, transposed, (C_in, C_out/g, *k)
    macs = (x.numel() if transposed else outs[0].numel()) * per
    terms: list[Term] = [(macs, "product", (x, w))]
    if b is not None:
        terms.append((outs[0].numel(), "input", (b,)))
    return OpCost(terms)


def _matmul(with_bias: bool) -> OpRule:
    def rule(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
        bias, a, b = (args[0], args[1], args[2]) if with_bias else (None, args[0], args[1])
        out = outs[0]
        macs = out.numel() * a.shape[-1]  # every output value is a dot product of length K
        terms: list[Term] = [(macs, "product", (a, b))]
        if isinstance(bias, Tensor):
            terms.append((out.numel(), "input", (bias,)))
        return OpCost(terms)

    return rule


def _attention(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    """Fused attention ``softmax(q k^T * scale + mask) v``: two products, scale and softmax on the scores."""
    q, k, v = args[0], args[1], args[2]
    length, e = q.shape[-2], q.shape[-1]
    s, ev = k.shape[-2], v.shape[-1]
    batch = q.numel() // max(1, length * e)
    scores = batch * length * s
    return OpCost(
        [
            (scores * e, "product", (q, k)),
            (scores, "none", ()),  # scale (and an additive mask)
            (3 * scores, "none", ()),  # softmax: exp, sum, divide
            (scores * ev, "input", (v,)),  # probabilities are never exactly zero: v's zeros are skipped
        ],
        outputs=outs[:1],  # logsumexp and the like are kept for a backward pass only
    )


def _per_element(per: int, kind: TermKind, *, first_output_only: bool = False) -> OpRule:
    def rule(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
        x = args[0]
        operands = (x,) if kind != "none" else ()
        return OpCost([(per * x.numel(), kind, operands)], outputs=outs[:1] if first_output_only else None)

    return rule


def _batch_norm(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    # native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps); the
    # _legit_no_training variant has no ``training`` flag (inference).
    x = args[0]
    training = bool(args[5]) if len(args) > 5 and isinstance(args[5], bool) else False
    if training:  # statistics of this input (InstanceNorm, or BatchNorm in train mode): no skipping
        return OpCost([(6 * x.numel(), "none", ())], outputs=outs[:1])
    return OpCost([(4 * x.numel(), "input", (x,))], outputs=outs[:1])


def _pool(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    kernel = args[1]
    window = math.prod(kernel) if isinstance(kernel, (list, tuple)) else int(kernel)
    if isinstance(kernel, (list, tuple)) and len(kernel) == 1:
        window = kernel[0] ** (args[0].dim() - 2)
    return OpCost([(outs[0].numel() * window, "input", (args[0],))], outputs=outs[:1])


def _binary(kind: TermKind) -> OpRule:
    def rule(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
        a, b = args[0], args[1] if len(args) > 1 else None
        n = outs[0].numel() if outs else _numel(a)
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return OpCost([(n, kind, (a, b))])
        x = a if isinstance(a, Tensor) else b
        return OpCost([(n, "input", (x,))])  # a scalar operand: the result for a zero is known

    return rule


def _divide(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    a = args[0]
    return OpCost([(outs[0].numel(), "input", (a,))])  # 0 / x = 0


def _embedding(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    table, indices = args[0], args[1]
    return OpCost([], skip_inputs=(table,), gathered=(table, outs[0]), dense_inputs=(indices,))


def _no_ops(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
    return OpCost([])


def _dense(per: int) -> OpRule:
    def rule(args: Sequence[Any], outs: list[Tensor]) -> OpCost:
        return OpCost([(per * outs[0].numel(), "none", ())])

    return rule


_RULES: dict[str, OpRule] = {
    "convolution": _conv,
    "_convolution": _conv,
    "mm": _matmul(False),
    "bmm": _matmul(False),
    "addmm": _matmul(True),
    "baddbmm": _matmul(True),
    "_scaled_dot_product_flash_attention_for_cpu": _attention,
    "_scaled_dot_product_flash_attention": _attention,
    "_scaled_dot_product_efficient_attention": _attention,
    "_scaled_dot_product_cudnn_attention": _attention,
    "_scaled_dot_product_fused_attention_overrideable": _attention,
    "_softmax": _per_element(3, "none"),
    "_log_softmax": _per_element(3, "none"),
    "softmax": _per_element(3, "none"),
    "log_softmax": _per_element(3, "none"),
    "native_batch_norm": _batch_norm,
    "_native_batch_norm_legit": _batch_norm,
    "_native_batch_norm_legit_no_training": _batch_norm,
    "native_layer_norm": _per_element(6, "none", first_output_only=True),
    "native_group_norm": _per_element(6, "none", first_output_only=True),
    "_fused_rms_norm": _per_element(4, "none", first_output_only=True),
    "max_pool1d": _pool,
    "max_pool2d": _pool,
    "max_pool3d": _pool,
    "max_pool2d_with_indices": _pool,
    "max_pool3d_with_indices": _pool,
    "avg_pool1d": _pool,
    "avg_pool2d": _pool,
    "avg_pool3d": _pool,
    "_adaptive_avg_pool2d": _per_element(1, "input"),
    "_adaptive_avg_pool3d": _per_element(1, "input"),
    "adaptive_max_pool2d": _per_element(1, "input", first_output_only=True),
    "adaptive_max_pool3d": _per_element(1, "input", first_output_only=True),
    "mean": _per_element(1, "input"),
    "sum": _per_element(1, "input"),
    "amax": _per_element(1, "input"),
    "amin": _per_element(1, "input"),
    "max": _per_element(1, "input", first_output_only=True),
    "var": _per_element(2, "none"),
    "std": _per_element(2, "none"),
    "add": _binary("union"),
    "add_": _binary("union"),
    "sub": _binary("union"),
    "sub_": _binary("union"),
    "rsub": _binary("union"),
    "mul": _binary("product"),
    "mul_": _binary("product"),
    "div": _divide,
    "div_": _divide,
    "where": _dense(1),
    "masked_fill": _dense(1),
    "masked_fill_": _dense(1),
    "eq": _dense(1),
    "ne": _dense(1),
    "gt": _dense(1),
    "lt": _dense(1),
    "ge": _dense(1),
    "le": _dense(1),
    "embedding": _embedding,
    "dropout": _no_ops,
    "native_dropout": _no_ops,
}
for _name in COPIES:
    _RULES[_name] = _no_ops
for _name, _per in ACTIVATION_OPS.items():
    _RULES[_name] = _per_element(_per, "input")


def rule_for_op(name: str) -> OpRule | None:
    """The rule of the ATen operator ``name`` (its packet name, e.g. ``"addmm"``), or None when unmodelled."""
    return _RULES.get(name)
