"""The ``ops`` mode: counts every executed ATen operator (a ``TorchDispatchMode``), grouped under module names.

:class:`OpsRecorder` has the interface of the hook-based ``Recorder`` (``run``, ``attached``, ``weights``,
``infos``): one forward pass at a time, nonzero counts stay on the device in one tensor per pass, nothing is
copied to the host until the caller evaluates. Each operator call is charged to the innermost module running
when it executes (a pre- and post-hook on every module keeps the stack), so residual additions, functional
activations and attention arithmetic land in the rows of the modules whose ``forward`` does them.

Memory traffic per call: every tensor argument read (views and constants excepted), every output written;
arguments that are parameters or buffers of the model are weights. Operations and their zero skipping come from
:mod:`powertrain.accel._op_rules`; an operator without a rule is charged memory only and listed by name.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from powertrain.accel._op_rules import CREATION, VIEWS, OpCost, TermKind, rule_for_op

__all__ = ["OpCall", "OpsBatch", "OpsModule", "OpsRecorder"]

# A counted tensor: (is a weight, index into the weight counts or this pass's counts, numel).
Slot = tuple[bool, int, int]


@dataclass
class OpsModule:
    """A module that rows are grouped under (every module, not only leaves)."""

    name: str
    type_name: str


@dataclass
class OpCall:
    """One operator call: its module, the slots it read and wrote, and its operation terms."""

    module: int
    op: str
    reads: list[Slot]
    dense_reads: int  # values read whatever they are (indices)
    writes: list[Slot]
    gathered: tuple[int, Slot] | None  # (table values read, slot whose nonzeros they have)
    terms: list[tuple[int, TermKind, tuple[Slot, ...]]]


@dataclass
class OpsBatch:
    """One forward pass: the calls, and ONE device tensor with every activation nonzero count of the pass."""

    batch_size: int
    calls: list[OpCall]
    counts: Tensor
    calls_per_module: dict[int, int]
    unmodelled: set[str] = field(default_factory=set)


def _nonzero(t: Tensor, threshold: float) -> Tensor:
    if t.is_complex():
        t = t.abs()
    if not t.is_floating_point():
        return torch.count_nonzero(t).long()
    if t.is_cuda:
        return torch.count_nonzero(torch.nn.functional.hardshrink(t, threshold)).long()
    return (t.abs() > threshold).sum(dtype=torch.int64)


class _Mode(TorchDispatchMode):
    def __init__(self, recorder: OpsRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return self.recorder.dispatch(func, args, kwargs or {})


class OpsRecorder:
    """Counts the operators of one forward pass at a time; see the module docstring.

    Args:
        model: The network. Its parameters and buffers are the weights; their nonzeros are counted once, at
            first use (make a new recorder after changing them).
        threshold: A value is nonzero when ``|x| > threshold``.
    """

    def __init__(self, model: nn.Module, *, threshold: float) -> None:
        self.model, self.threshold = model, float(threshold)
        modules = list(model.named_modules())
        self.infos = [OpsModule(name, type(m).__name__) for name, m in modules]
        self._index = {id(m): i for i, (_, m) in enumerate(modules)}
        self._weight_storages = {
            t.untyped_storage().data_ptr()
            for t in [*model.parameters(), *model.buffers()]
            if t.numel() and t.device.type != "meta"
        }
        self._weight_counts: list[Tensor] = []
        self._weight_slots: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], Slot] = {}
        self._stack: list[int] = []
        self._handles: list[Any] = []
        self._reset_pass()

    def _reset_pass(self) -> None:
        self._counts: list[Tensor] = []
        self._cache: dict[int, tuple[weakref.ReferenceType[Tensor], int, Slot]] = {}
        self._calls: list[OpCall] = []
        self._module_calls: dict[int, int] = {}
        self._unmodelled: set[str] = set()

    @property
    def weights(self) -> Tensor:
        """Nonzero counts of every weight view read so far (one device vector)."""
        if not self._weight_counts:
            return torch.zeros(0, dtype=torch.int64)
        device = self._weight_counts[0].device
        return torch.stack([c.to(device) for c in self._weight_counts])

    # -- counting --------------------------------------------------------------------------------------------
    def _is_weight(self, t: Tensor) -> bool:
        return t.device.type != "meta" and t.untyped_storage().data_ptr() in self._weight_storages

    def _slot(self, t: Tensor) -> Slot:
        if self._is_weight(t):
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
            slot = self._weight_slots.get(key)
            if slot is None:
                self._weight_counts.append(_nonzero(t, self.threshold))
                slot = self._weight_slots[key] = (True, len(self._weight_counts) - 1, t.numel())
            return slot
        hit = self._cache.get(id(t))
        if hit is not None and hit[0]() is t and hit[1] == t._version:
            return hit[2]
        self._counts.append(_nonzero(t, self.threshold))
        slot = (False, len(self._counts) - 1, t.numel())
        self._cache[id(t)] = (weakref.ref(t), t._version, slot)
        return slot

    def dispatch(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """Run one operator and record it (called by the dispatch mode)."""
        name = func.overloadpacket.__name__
        if name in VIEWS or name in CREATION:
            return func(*args, **kwargs)
        flat, _ = tree_flatten((args, kwargs))
        inputs = [t for t in flat if isinstance(t, Tensor)]
        rule = rule_for_op(name)
        # Inputs are counted before the call: an in-place operator overwrites them.
        in_slots = {id(t): self._slot(t) for t in inputs if t.numel()}
        out = func(*args, **kwargs)
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, Tensor)]
        if rule is None:
            self._unmodelled.add(f"aten.{name}")
            cost = OpCost()
        else:
            cost = rule(args, outs)
        skip = {id(t) for t in cost.skip_inputs}
        dense = {id(t) for t in cost.dense_inputs}
        reads, dense_reads = [], 0
        for t in inputs:
            if id(t) in skip or not t.numel():
                continue
            if id(t) in dense:
                dense_reads += t.numel()
            else:
                reads.append(in_slots[id(t)])
        written = outs if cost.outputs is None else cost.outputs
        writes = [self._slot(t) for t in written if t.numel()]
        gathered = None
        if cost.gathered is not None:
            table, rows = cost.gathered
            gathered = (rows.numel(), self._slot(rows))

        def slot_of(t: Tensor) -> Slot:
            return in_slots[id(t)] if id(t) in in_slots else self._slot(t)

        terms = [(n, kind, tuple(slot_of(t) for t in operands)) for n, kind, operands in cost.terms]
        module = self._stack[-1] if self._stack else 0
        self._calls.append(OpCall(module, name, reads, dense_reads, writes, gathered, terms))
        return out

    # -- module stack ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """Keep the module hooks attached for several :meth:`run` calls (they attach per call otherwise)."""
        if self._handles:
            yield
            return
        for module in self.model.modules():
            index = self._index[id(module)]
            self._handles.append(module.register_forward_pre_hook(self._enter(index)))
            self._handles.append(module.register_forward_hook(self._exit(index), always_call=True))
        try:
            yield
        finally:
            for h in self._handles:
                h.remove()
            self._handles = []

    def _enter(self, index: int) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            self._stack.append(index)
            self._module_calls[index] = self._module_calls.get(index, 0) + 1

        return hook

    def _exit(self, index: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self._stack and self._stack[-1] == index:
                self._stack.pop()

        return hook

    def run(self, args: tuple[Any, ...]) -> tuple[Any, OpsBatch]:
        """Run ``model(*args)`` under the dispatch mode; returns its output and the pass's counts.

        ``nn.MultiheadAttention``'s fused inference path is switched off for the pass, so that its projections,
        products and softmax run (and are counted) as separate operators.
        """
        first = next((t for t in tree_flatten(args)[0] if isinstance(t, Tensor) and t.dim() > 0), None)
        batch = first.shape[0] if first is not None else 1
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with self.attached(), _Mode(self):
                output = self.model(*args)
        except BaseException:
            self._reset_pass()
            raise
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
            self._stack = []
        counts = torch.stack(self._counts) if self._counts else torch.zeros(0, dtype=torch.int64)
        result = OpsBatch(batch, self._calls, counts, self._module_calls, self._unmodelled)
        self._reset_pass()
        return output, result
