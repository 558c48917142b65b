"""The penalty designs bench/eat.py times beside powertrain's own: EAT's reference path and two kernel variants.

``NaivePenalty`` is EAT's reference code path (hooks keep a copy of every activation, the penalty is a second pass);
:func:`kernels_of` swaps in, for one step variant, the eager kernels as they were before issue #14
(``-unfused``) or the value-and-derivative-in-forward design issue #14 proposed (``-together``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from powertrain.sparsity import select_layers

__all__ = ["DensityWithDerivative", "NaivePenalty", "derivative_in_forward", "kernels_of", "legacy_kernels"]


class NaivePenalty:
    """EAT's reference path: hooks keep a copy of each activation; the penalty is a second pass over them."""

    def __init__(self, model: nn.Module, lam: float, sigma: float) -> None:
        self.lam, self.sigma, self.kept = lam, sigma, []
        self.handles = [
            m.register_forward_hook(lambda m, a, out: self.kept.append(out.clone()))
            for _, m in select_layers(model, "activations")
        ]

    def value(self) -> torch.Tensor:
        terms = [(a.float() ** 2 / (a.float() ** 2 + self.sigma)).sum() / a.numel() for a in self.kept]
        self.kept = []
        return self.lam * torch.stack(terms).mean()

    def close(self) -> None:
        for h in self.handles:
            h.remove()


@contextlib.contextmanager
def legacy_kernels(on: bool) -> Iterator[None]:
    """With ``on``: the eager penalty and counting kernels as they were before the CPU work of issue #14.

    The penalty's eager kernels were the plain expressions (a fresh tensor per operation; today they are the
    compiled path's source); the estimator's CPU count was ``(x.abs() > t).sum(dtype=int32)``. For side-by-side
    before/after figures in one process (variants ``eat-eager-unfused`` and ``eager-unblocked``).
    """
    if not on:
        yield
        return
    from powertrain.accel import _counter
    from powertrain.sparsity import functional

    def rows(x2d: torch.Tensor, threshold: float) -> torch.Tensor:
        return (x2d.abs() > threshold).sum(dim=1, dtype=torch.int32).long()

    def whole(x1d: torch.Tensor, threshold: float) -> torch.Tensor:
        return (x1d.abs() > threshold).sum(dtype=torch.int32).long()

    kernels = [(functional._SUM, functional._density_sum), (functional._GRAD, functional._density_grad),
               (_counter._ROWS, rows), (_counter._ALL, whole)]  # fmt: skip
    saved = [k.eager for k, _ in kernels]
    for kernel, fn in kernels:
        kernel.eager = fn
    try:
        yield
    finally:
        for (kernel, _), fn in zip(kernels, saved, strict=True):
            kernel.eager = fn


class DensityWithDerivative(torch.autograd.Function):
    """The penalty as issue #14 first proposed it: value and derivative computed together in the forward pass.

    One pass forms ``x^2 + sigma``, one ``x / (x^2 + sigma)``, a dot product with ``x`` gives the value, one more
    division gives the derivative, which is saved for the backward pass (one multiplication there). Fewer passes
    in all than powertrain's L0Density (which recomputes the derivative from ``x`` in the backward pass), but an
    activation-sized tensor per penalised layer is kept until the backward pass. Timed as ``eat-eager-together``
    to choose between the two designs; not used by powertrain.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, sigma: torch.Tensor, scale: float, use_compile: bool, copy: bool) -> Any:
        xf = x.float().reshape(-1)
        den = torch.addcmul(sigma, xf, xf)
        q = torch.div(xf, den)
        value = torch.dot(q, xf)
        q.div_(den).mul_(sigma * (2.0 * scale))  # d value / dx, already scaled
        ctx.save_for_backward(q)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return value * scale

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, None, None, None, None]:
        (q,) = ctx.saved_tensors
        return (q * grad).view(ctx.shape).to(ctx.dtype), None, None, None, None


@contextlib.contextmanager
def derivative_in_forward(on: bool) -> Iterator[None]:
    """With ``on``: EATPenalty uses :class:`DensityWithDerivative` instead of L0Density."""
    if not on:
        yield
        return
    from powertrain.sparsity import penalty

    saved = penalty.L0Density
    penalty.L0Density = DensityWithDerivative  # type: ignore[misc]
    try:
        yield
    finally:
        penalty.L0Density = saved  # type: ignore[misc]


@contextlib.contextmanager
def kernels_of(variant: str) -> Iterator[None]:
    """The penalty kernels a step variant runs with (the library's, or one of the designs compared with them)."""
    with legacy_kernels(variant.endswith("-unfused")), derivative_in_forward(variant.endswith("-together")):
        yield
