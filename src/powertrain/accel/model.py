"""Energy of one forward pass on a zero-skipping accelerator: :func:`estimate_energy`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from powertrain.accel._counter import ModuleInfo, Recorder
from powertrain.accel._energy import BatchEnergy, LayerSum, evaluate_batch
from powertrain.accel._ops import OpsModule, OpsRecorder
from powertrain.accel._ops_energy import evaluate_ops
from powertrain.accel._rules import Mode
from powertrain.accel.spec import AcceleratorSpec
from powertrain.errors import ConfigError
from powertrain.sparsity.functional import Backend, use_compiled_kernels

__all__ = ["EnergyEstimate", "LayerEnergy", "estimate_energy"]


@dataclass(frozen=True)
class LayerEnergy:
    """One leaf module, summed over its calls (and batches).

    Attributes:
        name: Qualified module name (``""`` for a model that is itself a leaf).
        type: Module class name.
        calls: Number of calls.
        output_firing_rate: Nonzero fraction of its outputs (None without tensor outputs).
        input_values, input_nonzero, output_values, output_nonzero: Activation values read and written, and how
            many of them are nonzero.
        weight_values, weight_nonzero: Weight values read (parameters and buffers, see the mode).
        memory_accesses_dense, memory_accesses_sparse: DRAM accesses charged on dense and on zero-skipping
            hardware.
        ops: Operations on dense hardware; ops_executed: after zero skipping.
        dense_pj, sparse_pj: Energy on dense and on zero-skipping hardware, pJ.
    """

    name: str
    type: str
    calls: int
    output_firing_rate: float | None
    input_values: int
    input_nonzero: int
    output_values: int
    output_nonzero: int
    weight_values: int
    weight_nonzero: int
    memory_accesses_dense: int
    memory_accesses_sparse: int
    ops: int
    ops_executed: float
    dense_pj: float
    sparse_pj: float

    @classmethod
    def from_sum(cls, info: ModuleInfo, s: LayerSum) -> LayerEnergy:
        """Freeze a running sum."""
        rate = s.output_nonzero / s.output_values if s.output_values else None
        values = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
        return cls(name=info.name, type=info.type_name, output_firing_rate=rate, **values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EnergyEstimate:
    """Modelled energy of one forward pass of one batch.

    Attributes:
        mode: ``"reference"``, ``"layerwise"`` or ``"ops"`` (docs/eat.md, section 3).
        hardware: The accelerator spec used.
        batch_size: Samples in the pass. Weights are read once per pass, so ``ratio`` depends on it.
        dense_pj: Energy without zero skipping, pJ.
        sparse_pj: Energy with zero skipping, pJ.
        ratio: ``sparse_pj / dense_pj`` (<= 1).
        ops, ops_executed: Operations on dense hardware and after zero skipping.
        memory_accesses_dense, memory_accesses_sparse: DRAM accesses on each.
        layers: Per leaf module, in order of first call.
        unmodelled_types: Called module types without an operation rule (charged memory only).
    """

    mode: Mode
    hardware: AcceleratorSpec
    batch_size: int
    dense_pj: float
    sparse_pj: float
    ratio: float
    ops: int
    ops_executed: float
    memory_accesses_dense: int
    memory_accesses_sparse: int
    layers: tuple[LayerEnergy, ...]
    unmodelled_types: tuple[str, ...]

    @property
    def firing_rates(self) -> dict[str, float | None]:
        """Output firing rate per layer name."""
        return {layer.name: layer.output_firing_rate for layer in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (hardware and layers as nested dicts)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["hardware"] = self.hardware.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        out["unmodelled_types"] = list(self.unmodelled_types)
        return out


def check_mode(mode: str) -> Mode:
    """Validate a mode name."""
    if mode not in ("reference", "layerwise", "ops"):
        raise ConfigError(f"mode must be 'reference', 'layerwise' or 'ops', not {mode!r}")
    return mode  # type: ignore[return-value]


def make_recorder(
    model: nn.Module, mode: Mode, hardware: AcceleratorSpec, *, per_sample: bool, use_compile: bool
) -> Recorder | OpsRecorder:
    """The counter of ``mode``: module hooks (``reference``, ``layerwise``) or the operator counter (``ops``)."""
    if mode == "ops":
        return OpsRecorder(model, threshold=hardware.zero_threshold)
    return Recorder(model, mode=mode, hardware=hardware, per_sample=per_sample, use_compile=use_compile)


def evaluate(
    recorder: Recorder | OpsRecorder,
    batch: Any,
    counts: np.ndarray,
    weights: np.ndarray,
    *,
    mode: Mode,
    hardware: AcceleratorSpec,
    per_sample: bool,
) -> BatchEnergy:
    """Energy of one recorded pass from its host-side counts (per-sample counts are not made in ``ops`` mode)."""
    if isinstance(recorder, OpsRecorder):
        return evaluate_ops(batch, counts, weights, hardware)
    return evaluate_batch(batch, counts, weights, recorder.infos, mode=mode, hardware=hardware, per_sample=per_sample)


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode and no grad for the duration; every module's training flag is restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in flags:
            m.training = flag


def as_args(inputs: Any) -> tuple[Any, ...]:
    """Positional arguments of the model from a tensor or a tuple/list of arguments."""
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def layer_rows(infos: list[ModuleInfo], sums: dict[int, LayerSum]) -> tuple[LayerEnergy, ...]:
    """Per-layer results in order of first call."""
    return tuple(LayerEnergy.from_sum(infos[i], s) for i, s in sums.items())


def summarize(
    energy: BatchEnergy,
    infos: list[ModuleInfo] | list[OpsModule],
    mode: Mode,
    hardware: AcceleratorSpec,
    unmodelled: set[str],
) -> EnergyEstimate:
    """An EnergyEstimate from one evaluated pass."""
    layers = layer_rows(infos, energy.layers)
    return EnergyEstimate(
        mode=mode,
        hardware=hardware,
        batch_size=energy.batch_size,
        dense_pj=energy.dense_pj,
        sparse_pj=energy.sparse_pj,
        ratio=energy.sparse_pj / energy.dense_pj if energy.dense_pj > 0 else 1.0,
        ops=sum(r.ops for r in layers),
        ops_executed=sum(r.ops_executed for r in layers),
        memory_accesses_dense=sum(r.memory_accesses_dense for r in layers),
        memory_accesses_sparse=sum(r.memory_accesses_sparse for r in layers),
        layers=layers,
        unmodelled_types=tuple(sorted(unmodelled)),
    )


def to_host(weights: Tensor, counts: list[Tensor]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Copy the weight counts and every pass's counts to the host in ONE transfer (one sync)."""
    device = weights.device if weights.numel() else (counts[0].device if counts else torch.device("cpu"))
    parts = [weights.to(device)] + [c.to(device) for c in counts]
    host = torch.cat(parts).cpu().numpy() if parts else np.zeros(0, dtype=np.int64)
    out, start = [], weights.numel()
    w = host[:start]
    for c in counts:
        out.append(host[start : start + c.numel()])
        start += c.numel()
    return w, out


def estimate_energy(
    model: nn.Module,
    inputs: Tensor | tuple[Any, ...] | list[Any],
    *,
    mode: Literal["reference", "layerwise", "ops"] = "reference",
    hardware: AcceleratorSpec | None = None,
    backend: Backend = "eager",
) -> EnergyEstimate:
    """Modelled inference energy of ``model(inputs)`` on dense and zero-skipping hardware.

    ``reference`` mode is the ASIC model of Shumailov et al. (Sponge Examples, EuroS&P 2021) that EAT used;
    ``layerwise`` mode applies each layer's own skip fraction and covers more layer types (docs/eat.md).
    The model runs once in eval mode under ``torch.no_grad`` (every module's mode is restored after); counts
    stay on the device until one host copy at the end.

    Args:
        model: The network.
        inputs: The input batch (a tensor, or a tuple/list of positional arguments), on the model's device.
        mode: ``"reference"``, ``"layerwise"`` or ``"ops"`` (docs/eat.md, section 3).
        hardware: Accelerator constants; default :class:`AcceleratorSpec` (45 nm, 32-bit).
        backend: Counting kernels: ``"eager"`` (default: no compilation delay for a single pass), ``"auto"``
            or ``"compile"`` (``torch.compile``-fused counting).

    Returns:
        An :class:`EnergyEstimate`; its ``batch_size`` is the first dimension of the first input tensor.

    Raises:
        ConfigError: An unknown mode or backend.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> est = estimate_energy(net, torch.randn(16, 4))
        >>> est.batch_size, 0 < est.ratio <= 1
        (16, True)
    """
    mode = check_mode(mode)
    spec = hardware if hardware is not None else AcceleratorSpec()
    args = as_args(inputs)
    first = next((t for t in args if isinstance(t, Tensor)), None)
    device = first.device if first is not None else torch.device("cpu")
    recorder = make_recorder(model, mode, spec, per_sample=False, use_compile=use_compiled_kernels(backend, device))
    with inference(model):
        _, batch = recorder.run(args)
    assert recorder.weights is not None
    weights, (counts,) = to_host(recorder.weights, [batch.counts])
    energy = evaluate(recorder, batch, counts, weights, mode=mode, hardware=spec, per_sample=False)
    return summarize(energy, recorder.infos, mode, spec, batch.unmodelled)
