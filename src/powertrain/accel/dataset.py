"""Energy over a dataset: per batch (as EAT reports it) and per sample (as Sponge Examples does)."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from powertrain._files import json_safe
from powertrain.accel._counter import BatchCounts, Recorder
from powertrain.accel._energy import LayerSum
from powertrain.accel._ops import OpsBatch, OpsRecorder
from powertrain.accel._rules import Mode
from powertrain.accel.model import (
    LayerEnergy,
    as_args,
    check_mode,
    evaluate,
    inference,
    layer_rows,
    make_recorder,
    to_host,
)
from powertrain.accel.spec import AcceleratorSpec
from powertrain.errors import ConfigError
from powertrain.sparsity.functional import Backend, use_compiled_kernels

__all__ = ["DatasetEnergyEstimate", "EnergyAccumulator", "estimate_dataset"]


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std())


@dataclass(frozen=True)
class DatasetEnergyEstimate:
    """Modelled energy over many batches.

    Attributes:
        mode, hardware: As in :class:`~powertrain.accel.EnergyEstimate`.
        batch_size: Size of the first batch (the loader's batch size; the last batch may be smaller).
        num_batches, num_samples: What was estimated.
        mean_ratio, std_ratio: Mean and standard deviation over batches of the per-batch energy ratio, EAT's
            figure. It depends on the batch size (weights are read once per pass): report it with the ratio.
        batch_ratios: Each batch's ratio.
        dense_pj, sparse_pj: Energies summed over the batches, pJ; pooled_ratio = sparse_pj / dense_pj.
        per_sample_ratios: Each sample's ratio when run alone (batch size 1, Sponge Examples' view), in loader
            order; None unless counted per sample.
        per_sample_mean_ratio, per_sample_std_ratio: Their mean and standard deviation (NaN when not counted).
        layers: Per leaf module, summed over every batch; ``output_firing_rate`` is the dataset mean.
        unmodelled_types: Called module types without an operation rule.
    """

    mode: Mode
    hardware: AcceleratorSpec
    batch_size: int
    num_batches: int
    num_samples: int
    mean_ratio: float
    std_ratio: float
    batch_ratios: tuple[float, ...]
    dense_pj: float
    sparse_pj: float
    pooled_ratio: float
    per_sample_ratios: tuple[float, ...] | None
    per_sample_mean_ratio: float
    per_sample_std_ratio: float
    layers: tuple[LayerEnergy, ...]
    unmodelled_types: tuple[str, ...]

    @property
    def firing_rates(self) -> dict[str, float | None]:
        """Mean output firing rate per layer name."""
        return {layer.name: layer.output_firing_rate for layer in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["hardware"] = self.hardware.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        result: dict[str, Any] = json_safe(out)  # NaN -> None, tuples -> lists
        return result


class EnergyAccumulator:
    """Accumulates modelled energy batch by batch; a torchmetrics-style ``update`` / ``compute`` / ``reset``.

    State (defaults restored by :meth:`reset`): the device-side counts of every batch since the last reset,
    and the weight counts (taken at the first update: reset after changing the weights). :meth:`update` runs
    the model on a batch in eval mode without grad and never syncs with the host; :meth:`compute` copies all
    counts to the host in one transfer.

    Args:
        model: The network.
        mode: ``"reference"``, ``"layerwise"`` or ``"ops"`` (no per-sample counts in ``"ops"``).
        hardware: Accelerator constants; default :class:`AcceleratorSpec`.
        per_sample: Also count each sample's nonzeros, for the per-sample ratios.
        backend: Counting kernels: ``"auto"`` (``torch.compile``-fused on CUDA), ``"eager"`` or ``"compile"``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        mode: Literal["reference", "layerwise", "ops"] = "reference",
        hardware: AcceleratorSpec | None = None,
        per_sample: bool = True,
        backend: Backend = "auto",
    ) -> None:
        self.model, self.mode = model, check_mode(mode)
        self.hardware = hardware if hardware is not None else AcceleratorSpec()
        self.per_sample, self.backend = per_sample, backend
        use_compiled_kernels(backend, torch.device("cpu"))  # validates the name
        self._defaults: dict[str, Any] = {"batches": [], "recorder": None}
        self._in_session = False
        self.reset()

    def reset(self) -> None:
        """Forget every batch and the weight counts."""
        self._batches: list[BatchCounts | OpsBatch] = list(self._defaults["batches"])
        self._recorder: Recorder | OpsRecorder | None = self._defaults["recorder"]

    @property
    def num_batches(self) -> int:
        """Batches accumulated since the last reset."""
        return len(self._batches)

    def update(self, inputs: Tensor | tuple[Any, ...] | list[Any]) -> Any:
        """Run the model on one batch (a tensor or a tuple of positional arguments) and keep its counts.

        Returns:
            The model's output.
        """
        if self._in_session:
            return self._update(as_args(inputs))
        with inference(self.model):
            return self._update(as_args(inputs))

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Eval mode, no grad and hooks attached once for many :meth:`update` calls (faster for small models)."""
        with inference(self.model), self._recorder_for(None).attached():
            self._in_session = True
            try:
                yield
            finally:
                self._in_session = False

    def _recorder_for(self, args: tuple[Any, ...] | None) -> Recorder | OpsRecorder:
        if self._recorder is None:
            first = next((t for t in args or () if isinstance(t, Tensor)), None)
            if first is None:
                param = next(self.model.parameters(), None)
                device = param.device if param is not None else torch.device("cpu")
            else:
                device = first.device
            self._recorder = make_recorder(
                self.model,
                self.mode,
                self.hardware,
                per_sample=self.per_sample,
                use_compile=use_compiled_kernels(self.backend, device),
            )
        return self._recorder

    def _update(self, args: tuple[Any, ...]) -> Any:
        output, counts = self._recorder_for(args).run(args)
        self._batches.append(counts)
        return output

    def compute(self) -> DatasetEnergyEstimate:
        """Evaluate every accumulated batch (one host sync).

        Raises:
            ConfigError: No batch was accumulated.
        """
        if not self._batches or self._recorder is None or self._recorder.weights is None:
            raise ConfigError("no batch to estimate: the loader was empty (or max_batches=0)")
        recorder = self._recorder
        weights, counts = to_host(recorder.weights, [b.counts for b in self._batches])
        sums: dict[int, LayerSum] = {}
        ratios, dense, sparse, sample_ratios = [], 0.0, 0.0, []
        unmodelled: set[str] = set()
        for batch, host in zip(self._batches, counts, strict=True):
            energy = evaluate(
                recorder, batch, host, weights, mode=self.mode, hardware=self.hardware, per_sample=self.per_sample
            )
            ratios.append(energy.sparse_pj / energy.dense_pj if energy.dense_pj > 0 else 1.0)
            dense += energy.dense_pj
            sparse += energy.sparse_pj
            if energy.sample_dense_pj is not None and energy.sample_sparse_pj is not None:
                sample_ratios.append(energy.sample_sparse_pj / energy.sample_dense_pj)
            for index, s in energy.layers.items():
                sums.setdefault(index, LayerSum()).add(s)
            unmodelled |= batch.unmodelled
        batch_ratios = np.asarray(ratios)
        per_sample = np.concatenate(sample_ratios) if sample_ratios else None
        mean, std = _mean_std(batch_ratios)
        s_mean, s_std = _mean_std(per_sample if per_sample is not None else np.zeros(0))
        return DatasetEnergyEstimate(
            mode=self.mode,
            hardware=self.hardware,
            batch_size=self._batches[0].batch_size,
            num_batches=len(self._batches),
            num_samples=sum(b.batch_size for b in self._batches),
            mean_ratio=mean,
            std_ratio=std,
            batch_ratios=tuple(float(r) for r in batch_ratios),
            dense_pj=dense,
            sparse_pj=sparse,
            pooled_ratio=sparse / dense if dense > 0 else 1.0,
            per_sample_ratios=None if per_sample is None else tuple(float(r) for r in per_sample),
            per_sample_mean_ratio=s_mean,
            per_sample_std_ratio=s_std,
            layers=layer_rows(recorder.infos, sums),
            unmodelled_types=tuple(sorted(unmodelled)),
        )


def _batch_inputs(item: Any) -> Any:
    """The model input of one loader item: ``x`` of ``(x, y, ...)``, or the tensor itself."""
    if isinstance(item, Tensor):
        return item
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], Tensor):
        return item[0]
    if isinstance(item, dict):
        for key in ("x", "input", "inputs", "image", "images"):
            if key in item:
                return item[key]
    raise ConfigError(
        f"cannot find the model input in a loader item of type {type(item).__name__}; yield tensors or (x, y) tuples"
    )


def estimate_dataset(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    mode: Literal["reference", "layerwise", "ops"] = "reference",
    hardware: AcceleratorSpec | None = None,
    max_batches: int | None = None,
    per_sample: bool = True,
    backend: Backend = "auto",
) -> DatasetEnergyEstimate:
    """Modelled energy of ``model`` over the batches of ``loader``.

    The mean of the per-batch ratios is EAT's figure (at the loader's batch size, reported with it); with
    ``per_sample=True`` each sample's ratio as if it ran alone (batch size 1, Sponge Examples' view) comes
    from the same batched pass, by counting nonzeros per sample, with the weights charged once per sample.
    Per-sample counting assumes eval-mode independence of the samples (true for BatchNorm in eval mode) and
    treats every tensor whose first dimension equals the batch size as batched.

    Args:
        model: The network.
        loader: Yields ``(x, y, ...)`` tuples or tensors, already on the model's device (moved if not).
        mode: ``"reference"``, ``"layerwise"`` or ``"ops"`` (no per-sample counts in ``"ops"``).
        hardware: Accelerator constants; default :class:`AcceleratorSpec`.
        max_batches: Stop after this many batches (None: all).
        per_sample: Also compute the per-sample ratios (one extra reduction per tensor, no extra pass).
        backend: Counting kernels: ``"auto"`` (``torch.compile``-fused on CUDA), ``"eager"`` or ``"compile"``.

    Raises:
        ConfigError: A bad option, an empty loader, or items without an input tensor.
    """
    if max_batches is not None and (
        isinstance(max_batches, bool) or not isinstance(max_batches, int) or max_batches < 0
    ):
        raise ConfigError(f"max_batches must be None or an integer >= 0, not {max_batches!r}")
    acc = EnergyAccumulator(model, mode=mode, hardware=hardware, per_sample=per_sample, backend=backend)
    param = next(model.parameters(), None)
    device = param.device if param is not None else None
    with acc.session():
        for item in itertools.islice(loader, max_batches):
            x = _batch_inputs(item)
            if device is not None and isinstance(x, Tensor) and x.device != device:
                x = x.to(device, non_blocking=True)
            acc.update(x)
    return acc.compute()
