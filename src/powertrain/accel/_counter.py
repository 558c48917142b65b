"""Forward hooks that count values and nonzeros of every leaf call on the device, without host syncs.

One :class:`Recorder` per model, mode and spec. :meth:`Recorder.run` attaches a forward hook to every leaf
module, runs the model once and returns a :class:`BatchCounts`: host-side shapes and operation counts per call,
plus ONE device tensor with every nonzero count of the pass. Nothing is copied to the host here; the caller
syncs once for as many passes as it likes.

Counting: a tensor's nonzeros are counted once even when it is the output of one call and the input of the
next (a cache keyed by the tensor and its version counter). Modules that work in place (``inplace=True``)
have their inputs counted by a pre-hook, before they are overwritten.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from powertrain.accel._rules import Mode, Rule, Terms, rule_for
from powertrain.accel.spec import AcceleratorSpec
from powertrain.sparsity._layers import leaf_modules
from powertrain.sparsity.functional import FallbackKernel, flat_view

__all__ = ["BatchCounts", "Call", "ModuleInfo", "Recorder"]

# A counted tensor: (has a batch dimension, row in the batched or scalar counts, numel, numel per sample).
_Slot = tuple[bool, int, int, int]


def _rows_nonzero(x2d: Tensor, threshold: float) -> Tensor:
    return (x2d.abs() > threshold).sum(dim=1)  # compiled: one fused pass


def _all_nonzero(x1d: Tensor, threshold: float) -> Tensor:
    return (x1d.abs() > threshold).sum(dtype=torch.int32 if x1d.numel() < 2**31 else torch.int64).long()


# Eager on CUDA: hardshrink (x where |x| > threshold, else 0) then count_nonzero is two kernels instead of three.
# Eager on the CPU: the plain ``(x.abs() > t).sum(dtype=int32)`` makes three tensor-sized temporaries (abs,
# bool, the bool->int32 copy inside sum); above glibc's mmap threshold each is a fresh mapping that page-faults
# on every call, which cost more than the arithmetic (1.4-1.6x of plain inference, measured, torch 2.14). So
# the CPU kernel works in blocks of _BLOCK elements through one small scratch buffer that stays in cache: abs
# into the buffer, ``gt`` in place (1.0 / 0.0 in x's dtype), a float32 row sum. The comparison is the same
# operation on the same dtype as before (so are the counts: a block's sum of 0/1 is exact below 2^24), and
# the memory traffic is one read of x.
_BLOCK = 1 << 18
_EXACT_FLOAT_SUM = 1 << 24  # float32 sums of 0/1 values are exact up to here


def _rows_nonzero_cpu(x2d: Tensor, threshold: float) -> Tensor:
    rows, cols = x2d.shape
    if cols >= _EXACT_FLOAT_SUM or x2d.numel() == 0:
        return (x2d.abs() > threshold).sum(dim=1, dtype=torch.int64)
    per_block = max(1, _BLOCK // max(cols, 1))
    scratch = torch.empty(min(rows, per_block) * cols, dtype=x2d.dtype)
    acc = None if x2d.dtype == torch.float64 else torch.float32
    parts = []
    for block in x2d.split(per_block):
        buf = scratch[: block.numel()].view(block.shape)
        torch.abs(block, out=buf)
        torch.gt(buf, threshold, out=buf)
        parts.append(buf.sum(dim=1, dtype=acc))
    return (parts[0] if len(parts) == 1 else torch.cat(parts)).long()


def _all_nonzero_cpu(x1d: Tensor, threshold: float) -> Tensor:
    n = x1d.numel()
    whole = n - n % _BLOCK
    counts = []
    if whole:
        counts.append(_rows_nonzero_cpu(x1d[:whole].view(-1, _BLOCK), threshold).sum())
    if n > whole:
        counts.append(_rows_nonzero_cpu(x1d[whole:].view(1, -1), threshold).sum())
    if not counts:
        return torch.zeros((), dtype=torch.int64)
    return counts[0] if len(counts) == 1 else counts[0] + counts[1]


def _rows_nonzero_eager(x2d: Tensor, threshold: float) -> Tensor:
    if x2d.is_cuda:
        return torch.count_nonzero(torch.nn.functional.hardshrink(x2d, threshold), dim=1)
    if x2d.device.type == "cpu":
        return _rows_nonzero_cpu(x2d, threshold)
    small = x2d.shape[1] < 2**31
    return (x2d.abs() > threshold).sum(dim=1, dtype=torch.int32 if small else torch.int64).long()


def _all_nonzero_eager(x1d: Tensor, threshold: float) -> Tensor:
    if x1d.is_cuda:
        return torch.count_nonzero(torch.nn.functional.hardshrink(x1d, threshold))
    if x1d.device.type == "cpu":
        return _all_nonzero_cpu(x1d, threshold)
    return (x1d.abs() > threshold).sum(dtype=torch.int32 if x1d.numel() < 2**31 else torch.int64).long()


_ROWS = FallbackKernel(_rows_nonzero, _rows_nonzero_eager)
_ALL = FallbackKernel(_all_nonzero, _all_nonzero_eager)


@dataclass
class ModuleInfo:
    """Static facts of one leaf module: its rule and where its weight counts sit in ``Recorder.weights``."""

    name: str
    type_name: str
    rule: Rule
    inplace: bool
    w_total: int = 0  # parameters and buffers read per call (mode-dependent, see Recorder)
    w_slot: int = -1
    weight_total: int = 0  # the ``weight`` tensor alone (layerwise d_W)
    weight_slot: int = -1
    bias_total: int = 0
    bias_slot: int = -1


@dataclass
class Call:
    """One call of one leaf module: totals from shapes (host) and rows of its nonzero counts (device)."""

    module: int
    in_total: int
    in_total_sample: int
    out_total: int
    out_total_sample: int
    in_rows: list[tuple[bool, int]]
    out_rows: list[tuple[bool, int]]
    ops: Terms
    ops_sample: Terms


@dataclass
class BatchCounts:
    """Everything counted in one forward pass; ``counts`` is ``[batched rows (n_batched x B) | scalars]``."""

    batch_size: int
    calls: list[Call]
    n_batched: int
    n_scalar: int
    counts: Tensor
    unmodelled: set[str] = field(default_factory=set)


def _tensors(obj: Any) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


class Recorder:
    """Counts one forward pass at a time; see the module docstring.

    Weights (``W``) per call: ``reference`` counts every parameter and buffer of the module, and BatchNorm2d's
    running mean and variance a second time (``2 * num_features``), as the Sponge Examples code; ``layerwise``
    counts parameters and floating-point buffers once (not ``num_batches_tracked``) and nothing for modules
    without memory traffic (views, dropout).

    Args:
        model: The network (weights are counted once, at the first :meth:`run`; make a new Recorder after
            changing them).
        mode: ``"reference"`` or ``"layerwise"``.
        hardware: Supplies the zero threshold.
        per_sample: Count nonzeros per sample (along every dimension but the first) for tensors whose first
            dimension is the batch size; otherwise one count per tensor.
        use_compile: Count with a ``torch.compile``-fused kernel (one pass per tensor).
    """

    def __init__(
        self, model: nn.Module, *, mode: Mode, hardware: AcceleratorSpec, per_sample: bool, use_compile: bool
    ) -> None:
        self.model, self.mode, self.per_sample, self.use_compile = model, mode, per_sample, use_compile
        self.threshold = float(hardware.zero_threshold)
        self.leaves = leaf_modules(model)
        self.infos = [
            ModuleInfo(name, type(m).__name__, rule_for(m, mode), bool(getattr(m, "inplace", False)))
            for name, m in self.leaves
        ]
        self.weights: Tensor | None = None  # nonzero counts of weights, one device vector
        self._batch = 1
        self._batched: list[Tensor] = []
        self._scalar: list[Tensor] = []
        self._calls: list[Call] = []
        self._cache: dict[int, tuple[weakref.ReferenceType[Tensor], int, _Slot]] = {}
        self._pending: dict[int, list[_Slot]] = {}
        self._unmodelled: set[str] = set()
        self._handles: list[Any] = []

    # -- weights ---------------------------------------------------------------------------------------------
    def _count_weights(self) -> None:
        counts: list[Tensor] = []

        def slot(tensors: Sequence[Tensor]) -> tuple[int, int]:
            if not tensors:
                return 0, -1
            counts.append(torch.stack([self._nonzero_all(t).to(tensors[0].device) for t in tensors]).sum())
            return sum(t.numel() for t in tensors), len(counts) - 1

        for info, (_, m) in zip(self.infos, self.leaves, strict=True):
            params, buffers = list(m.parameters()), list(m.buffers())
            if self.mode == "reference":
                read = params + buffers
                if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
                    read += [m.running_mean, m.running_var]  # counted again, as the reference code does
            elif info.rule.traffic:
                read = params + [b for b in buffers if b.is_floating_point()]
            else:
                read = []
            info.w_total, info.w_slot = slot([t.detach() for t in read])
            weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
            if isinstance(weight, Tensor):
                info.weight_total, info.weight_slot = slot([weight.detach()])
            if isinstance(bias, Tensor):
                info.bias_total, info.bias_slot = slot([bias.detach()])
        if counts:
            device = counts[0].device
            self.weights = torch.stack([c.to(device) for c in counts])
        else:
            self.weights = torch.zeros(0, dtype=torch.int64)

    # -- counting --------------------------------------------------------------------------------------------
    def _nonzero_all(self, t: Tensor) -> Tensor:
        if t.is_complex():
            t = t.abs()
        if not t.is_floating_point():
            return torch.count_nonzero(t)
        flat = flat_view(t)
        if flat is not None:
            return _ALL(self.use_compile, flat, self.threshold)
        return _ALL(False, t.reshape(-1), self.threshold)

    def _nonzero_rows(self, t: Tensor) -> Tensor:
        rows = t.shape[0]
        if t.is_complex():
            t = t.abs()
        if not t.is_floating_point():
            return torch.count_nonzero(t.reshape(rows, -1), dim=1)
        flat = flat_view(t)  # contiguous and channels-last tensors keep each sample in one block
        if flat is not None:
            return _ROWS(self.use_compile, flat.view(rows, -1), self.threshold)
        return _ROWS(False, t.reshape(rows, -1), self.threshold)

    def _count(self, t: Tensor) -> _Slot:
        key = id(t)
        hit = self._cache.get(key)
        if hit is not None and hit[0]() is t and hit[1] == t._version:
            return hit[2]
        numel = t.numel()
        if self.per_sample and t.dim() > 0 and t.shape[0] == self._batch:
            self._batched.append(self._nonzero_rows(t))
            slot: _Slot = (True, len(self._batched) - 1, numel, numel // self._batch)
        else:
            self._scalar.append(self._nonzero_all(t))
            slot = (False, len(self._scalar) - 1, numel, numel)
        self._cache[key] = (weakref.ref(t), t._version, slot)
        return slot

    def _sample_shape(self, t: Tensor) -> torch.Size:
        if self.per_sample and t.dim() > 0 and t.shape[0] == self._batch:
            return torch.Size((1, *t.shape[1:]))
        return t.shape

    def _pre_hook(self, index: int) -> Callable[[nn.Module, Any], None]:
        def hook(module: nn.Module, args: Any) -> None:
            self._pending[index] = [self._count(t) for t in _tensors(args)]

        return hook

    def _hook(self, index: int) -> Callable[[nn.Module, Any, Any], None]:
        info = self.infos[index]

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            ins, outs = _tensors(args), _tensors(output)
            in_slots = self._pending.pop(index, None) if info.inplace else None
            if in_slots is None:
                in_slots = [self._count(t) for t in ins]
            out_slots = [self._count(t) for t in outs]
            ops = info.rule.ops(module, [t.shape for t in ins], [t.shape for t in outs])
            ops_sample = ops
            if self.per_sample and self._batch != 1:
                ops_sample = info.rule.ops(
                    module, [self._sample_shape(t) for t in ins], [self._sample_shape(t) for t in outs]
                )
            if not info.rule.modelled:
                self._unmodelled.add(info.type_name)
            self._calls.append(
                Call(
                    module=index,
                    in_total=sum(s[2] for s in in_slots),
                    in_total_sample=sum(s[3] for s in in_slots),
                    out_total=sum(s[2] for s in out_slots),
                    out_total_sample=sum(s[3] for s in out_slots),
                    in_rows=[(s[0], s[1]) for s in in_slots],
                    out_rows=[(s[0], s[1]) for s in out_slots],
                    ops=ops,
                    ops_sample=ops_sample,
                )
            )

        return hook

    # -- one pass --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """Keep the hooks attached for several :meth:`run` calls (they attach per call otherwise)."""
        if self._handles:
            yield
            return
        for index, (_, m) in enumerate(self.leaves):
            if self.infos[index].inplace:
                self._handles.append(m.register_forward_pre_hook(self._pre_hook(index)))
            self._handles.append(m.register_forward_hook(self._hook(index)))
        try:
            yield
        finally:
            for h in self._handles:
                h.remove()
            self._handles = []

    def run(self, args: tuple[Any, ...]) -> tuple[Any, BatchCounts]:
        """Run ``model(*args)`` with the hooks attached; returns its output and the pass's counts."""
        if self.weights is None:
            self._count_weights()
        first = next((t for t in _tensors(args) if t.dim() > 0), None)
        self._batch = first.shape[0] if first is not None else 1
        try:
            with self.attached():
                output = self.model(*args)
        except BaseException:
            self._clear()
            raise
        batched, scalar = self._batched, self._scalar
        parts = [torch.stack(batched).reshape(-1)] if batched else []
        if scalar:
            parts.append(torch.stack(scalar))
        device = parts[0].device if parts else torch.device("cpu")
        counts = torch.cat([p.to(device) for p in parts]) if parts else torch.zeros(0, dtype=torch.int64)
        result = BatchCounts(self._batch, self._calls, len(batched), len(scalar), counts, self._unmodelled)
        self._clear()
        return output, result

    def _clear(self) -> None:
        self._batched, self._scalar, self._calls, self._cache, self._pending = [], [], [], {}, {}
        self._unmodelled = set()
