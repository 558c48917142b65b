"""EAT's differentiable l0 density of a tensor, with a memory-free backward.

For a tensor ``x`` with ``n`` elements and a smoothing constant ``sigma > 0``::

    l0_hat(x)  = sum_j x_j^2 / (x_j^2 + sigma)          (-> the number of nonzeros as sigma -> 0)
    density(x) = l0_hat(x) / n                          (a number in [0, 1])
    d density / d x_j = 2 * sigma * x_j / (x_j^2 + sigma)^2 / n

The approximation is Sponge Poisoning's (Cinà et al., 2022), used by EAT (Lazzaro et al., ICIAP 2023) as a
training penalty. :class:`L0Density` evaluates it in one reduction and recomputes the gradient from ``x`` in
the backward pass, so it keeps no activation-sized tensor of its own (``x`` itself is normally kept for the
neighbouring layers' backward anyway). Sums are taken in float32 (float64 for float64 inputs), also under
``torch.autocast``.

On CUDA the two elementwise kernels are compiled with ``torch.compile`` (one fused pass each) when Triton is
available; elsewhere, or when compilation fails (a warning says so once), they run eagerly.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from powertrain.errors import ConfigError

__all__ = ["Backend", "L0Density", "l0_density", "use_compiled_kernels"]

logger = logging.getLogger(__name__)

#: ``"auto"``: compiled kernels for CUDA tensors when Triton is installed, eager otherwise.
Backend = Literal["auto", "eager", "compile"]

# torch.compile backend of the fused kernels; tests swap in "aot_eager" to exercise the plumbing quickly.
_COMPILE_BACKEND = "inductor"


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for 16- and 32-bit floats, float64 for float64."""
    return torch.promote_types(dtype, torch.float32)


def _density_sum(x: Tensor, sigma: Tensor) -> Tensor:
    xf = x.to(accumulation_dtype(x.dtype))
    x2 = xf * xf
    return (x2 / (x2 + sigma)).sum()


def _density_grad(x: Tensor, sigma: Tensor, coef: Tensor) -> Tensor:
    xf = x.to(accumulation_dtype(x.dtype))
    den = xf * xf + sigma
    return (coef * sigma * xf / (den * den)).to(x.dtype)


# Eager kernels: the expressions above written with ONE activation-sized temporary each, updated in place
# (fused multiply-add for x^2 + sigma, then in-place division and multiplication). Each fresh temporary of a
# large activation is a new memory mapping that page-faults on every step, which on the CPU cost more than the
# arithmetic: the penalty went from 1.11-1.20x of a LeNet-5 step to about 1.0x (bench/eat.py, docs/benchmarks.md).
# The results equal the expressions above to rounding (x / den * x instead of x^2 / den).
def _density_sum_eager(x: Tensor, sigma: Tensor) -> Tensor:
    xf = x.to(accumulation_dtype(x.dtype))
    t = torch.addcmul(sigma, xf, xf)  # x^2 + sigma
    torch.div(xf, t, out=t)  # x / (x^2 + sigma)
    return t.mul_(xf).sum()  # x^2 / (x^2 + sigma), summed


def _density_grad_eager(x: Tensor, sigma: Tensor, coef: Tensor) -> Tensor:
    xf = x.to(accumulation_dtype(x.dtype))
    t = torch.addcmul(sigma, xf, xf)
    t.square_()
    torch.div(xf, t, out=t)  # x / (x^2 + sigma)^2
    t.mul_(coef * sigma)
    return t if t.dtype == x.dtype else t.to(x.dtype)


class FallbackKernel:
    """``fn`` compiled lazily on request, else ``eager`` (default ``fn``); a failed compilation falls back for good."""

    def __init__(self, fn: Callable[..., Tensor], eager: Callable[..., Tensor] | None = None) -> None:
        self.fn, self.eager = fn, eager if eager is not None else fn
        self._compiled: Callable[..., Tensor] | None = None
        self.failed = False

    def __call__(self, use_compile: bool, *args: Any) -> Tensor:
        if use_compile and not self.failed:
            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self.fn, dynamic=True, fullgraph=True, backend=_COMPILE_BACKEND)
                return self._compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
                self.failed = True
                warnings.warn(
                    f"powertrain: torch.compile of {self.fn.__name__} failed ({type(exc).__name__}: {exc}); "
                    "running it eagerly (slower, same result)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.eager(*args)


_SUM = FallbackKernel(_density_sum, _density_sum_eager)
_GRAD = FallbackKernel(_density_grad, _density_grad_eager)


@functools.cache
def _triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def use_compiled_kernels(backend: Backend, device: torch.device) -> bool:
    """Whether ``backend`` means compiled kernels for tensors on ``device``."""
    if backend == "eager":
        return False
    if backend == "compile":
        return True
    if backend == "auto":
        return device.type == "cuda" and _triton_available()
    raise ConfigError(f"backend must be 'auto', 'eager' or 'compile', not {backend!r}")


def flat_view(x: Tensor) -> Tensor | None:
    """A 1-D view over ``x``'s elements in memory order, or None when ``x`` is not dense in memory.

    Works for contiguous and channels-last tensors; a gradient computed on the view goes back with
    ``g.as_strided(x.shape, x.stride())``.
    """
    if x.is_contiguous():
        return x.view(-1)
    if (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)) or (
        x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d)
    ):
        return x.as_strided((x.numel(),), (1,))
    return None


class L0Density(torch.autograd.Function):
    """``scale * l0_hat(x)`` as an autograd Function whose backward recomputes from ``x``.

    ``apply(x, sigma, scale, use_compile, copy)``: ``sigma`` is a 0-d tensor on ``x``'s device; ``scale`` a
    float (``1 / x.numel()`` gives the density); ``copy=True`` saves a copy of ``x`` instead of ``x``
    itself, for tensors that are modified in place after this call. Returns a 0-d float32 (float64) tensor.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, sigma: Tensor, scale: float, use_compile: bool, copy: bool) -> Tensor:
        """One reduction over ``x``; saves ``x`` (or its copy) and ``sigma`` for the backward pass."""
        flat = flat_view(x)
        total = _SUM(use_compile, flat, sigma) if flat is not None else _SUM(False, x, sigma)
        ctx.save_for_backward(x.clone() if copy else x, sigma)
        ctx.scale, ctx.use_compile = scale, use_compile
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None, None, None]:
        """``grad * scale * 2 sigma x / (x^2 + sigma)^2``, recomputed from the saved ``x``."""
        x, sigma = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        coef = grad * (2.0 * ctx.scale)
        flat = flat_view(x)
        if flat is not None:
            g = _GRAD(ctx.use_compile, flat, sigma, coef).as_strided(x.shape, x.stride())
        else:
            g = _GRAD(False, x, sigma, coef)
        return g, None, None, None, None


def sigma_tensor(sigma: float, like: Tensor) -> Tensor:
    """``sigma`` as a 0-d tensor of ``like``'s accumulation dtype and device (a fill, no host copy)."""
    return torch.full((), sigma, dtype=accumulation_dtype(like.dtype), device=like.device)


def l0_density(x: Tensor, sigma: float = 1e-4, *, backend: Backend = "auto") -> Tensor:
    """EAT's differentiable density of nonzeros: ``sum_j x_j^2 / (x_j^2 + sigma) / x.numel()``.

    Args:
        x: A floating-point tensor with at least one element (any shape, dtype and device).
        sigma: Smoothing constant > 0; smaller is closer to the l0 norm and less stable (EAT: 1e-4).
        backend: Kernels: ``"auto"`` (compiled on CUDA when Triton is installed), ``"eager"`` or ``"compile"``.

    Returns:
        A 0-d float32 tensor (float64 for float64 ``x``) in [0, 1]. Its gradient is computed from ``x`` in the
        backward pass; no extra activation memory is kept.

    Raises:
        ConfigError: ``sigma`` is not positive, or ``x`` is empty or not floating point.

    Example:
        >>> x = torch.tensor([0.0, 1.0, -2.0, 0.0])
        >>> round(float(l0_density(x, sigma=1e-4)), 4)
        0.5
    """
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ConfigError(f"sigma must be a positive number, not {sigma!r}")
    if not x.is_floating_point() or x.numel() == 0:
        raise ConfigError(
            f"l0_density needs a non-empty floating-point tensor, got {x.dtype} of shape {tuple(x.shape)}"
        )
    use_compile = use_compiled_kernels(backend, x.device)
    return L0Density.apply(x, sigma_tensor(float(sigma), x), 1.0 / x.numel(), use_compile, False)
