"""Host-side energy arithmetic over the counts of one forward pass (pure numpy, no torch).

Formulas (Shumailov et al., Sponge Examples, EuroS&P 2021; constants in :class:`AcceleratorSpec`)::

    E = dram_pj_per_access * (W + A_in + A_out) + op_pj * ops * f          [pJ]

dense: W, A totals and f = 1. Zero-skipping, ``reference``: W, A nonzero counts and one fraction for the pass,
``f = (nnz_W / tot_W) * (nnz_in / tot_in)`` summed over every call. Zero-skipping, ``layerwise``: the same
memory terms and, per call k and operation term, ``f_k`` from that call's own operands (see ``_rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from powertrain.accel._counter import BatchCounts, ModuleInfo
from powertrain.accel._rules import Mode, SkipKind
from powertrain.accel.spec import AcceleratorSpec

__all__ = ["BatchEnergy", "LayerSum", "evaluate_batch"]


@dataclass
class LayerSum:
    """Running sums of one leaf module's calls (see ``LayerEnergy`` for the meaning of each field)."""

    calls: int = 0
    input_values: int = 0
    input_nonzero: int = 0
    output_values: int = 0
    output_nonzero: int = 0
    weight_values: int = 0
    weight_nonzero: int = 0
    memory_accesses_dense: int = 0
    memory_accesses_sparse: int = 0
    ops: int = 0
    ops_executed: float = 0.0
    dense_pj: float = 0.0
    sparse_pj: float = 0.0

    def add(self, other: LayerSum) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class BatchEnergy:
    """Energy of one forward pass, per layer, and (when counted per sample) of each sample alone."""

    batch_size: int
    dense_pj: float
    sparse_pj: float
    layers: dict[int, LayerSum]
    sample_dense_pj: np.ndarray | None
    sample_sparse_pj: np.ndarray | None


def _frac(nonzero: float | np.ndarray, total: float) -> float | np.ndarray:
    return nonzero / total if total > 0 else 1.0


def evaluate_batch(
    batch: BatchCounts,
    counts: np.ndarray,
    weights: np.ndarray,
    infos: list[ModuleInfo],
    *,
    mode: Mode,
    hardware: AcceleratorSpec,
    per_sample: bool,
) -> BatchEnergy:
    """Energy of one pass from its host-side ``counts`` (this batch's slice) and the weight counts."""
    b, hw = batch.batch_size, hardware
    weights = weights.astype(np.float64)
    per_sample = per_sample and batch.n_batched > 0
    calls = _gather(batch, counts, weights, infos, mode=mode, per_sample=per_sample)
    tot, tot_s = calls.tot, calls.tot_s
    w_frac = _frac(tot["w_nz"], tot["w"]) if hw.skip_zero_weights else 1.0
    global_f = w_frac * (_frac(tot["in_nz"], tot["in"]) if hw.skip_zero_activations else 1.0)
    sample_f = w_frac * (_frac(calls.in_i, tot_s["in"]) if hw.skip_zero_activations else 1.0) if per_sample else None
    layers, dense, sparse, s_kept = _layer_sums(calls, weights, mode=mode, hw=hw, global_f=global_f, batch_size=b)
    s_dense = s_sparse = None
    if per_sample:
        dram, op = hw.dram_pj_per_access, hw.op_pj
        w_mem = tot["w_nz"] if hw.compress_zero_weights else tot["w"]
        a_mem = (calls.in_i + calls.out_i) if hw.compress_zero_activations else np.full(b, tot_s["in"] + tot_s["out"])
        s_dense = np.full(b, dram * (tot["w"] + tot_s["in"] + tot_s["out"]) + op * tot_s["ops"])
        executed = tot_s["ops"] * sample_f if mode == "reference" else s_kept
        s_sparse = dram * (w_mem + a_mem) + op * executed
    return BatchEnergy(b, dense, sparse, layers, s_dense, s_sparse)


@dataclass
class _Calls:
    """Every call of one pass with its nonzero counts, and the totals over the calls that move data."""

    prepared: list[tuple]  # per call: (call, info, traffic, in_nnz, out_nnz, in_nnz_i, out_nnz_i, w_nnz)
    tot: dict[str, float]
    tot_s: dict[str, float]
    in_i: np.ndarray | None
    out_i: np.ndarray | None


def _gather(
    batch: BatchCounts, counts: np.ndarray, weights: np.ndarray, infos: list[ModuleInfo], *, mode: Mode,
    per_sample: bool,
) -> _Calls:  # fmt: skip
    b = batch.batch_size
    n_rows = batch.n_batched * b
    rows = counts[:n_rows].reshape(batch.n_batched, b).astype(np.float64)
    row_sums = rows.sum(axis=1)
    scalars = counts[n_rows:].astype(np.float64)
    prepared = []
    tot = {"w": 0.0, "w_nz": 0.0, "in": 0.0, "in_nz": 0.0, "out": 0.0, "out_nz": 0.0, "ops": 0.0}
    tot_s = {"in": 0.0, "out": 0.0, "ops": 0.0}
    in_i = np.zeros(b) if per_sample else None
    out_i = np.zeros(b) if per_sample else None
    for call in batch.calls:
        info = infos[call.module]
        in_nnz = float(sum(row_sums[r] if batched else scalars[r] for batched, r in call.in_rows))
        out_nnz = float(sum(row_sums[r] if batched else scalars[r] for batched, r in call.out_rows))
        in_nnz_i = out_nnz_i = None
        if per_sample:
            in_nnz_i = sum((rows[r] if batched else scalars[r] for batched, r in call.in_rows), np.zeros(b))
            out_nnz_i = sum((rows[r] if batched else scalars[r] for batched, r in call.out_rows), np.zeros(b))
        traffic = info.rule.traffic or mode == "reference"
        w_nz = _nz(weights, info.w_slot)
        prepared.append((call, info, traffic, in_nnz, out_nnz, in_nnz_i, out_nnz_i, w_nz))
        if traffic:
            tot["w"] += info.w_total
            tot["w_nz"] += w_nz
            tot["in"] += call.in_total
            tot["in_nz"] += in_nnz
            tot["out"] += call.out_total
            tot["out_nz"] += out_nnz
            tot_s["in"] += call.in_total_sample
            tot_s["out"] += call.out_total_sample
            if per_sample:
                in_i += in_nnz_i
                out_i += out_nnz_i
        tot["ops"] += sum(n for n, _ in call.ops)
        tot_s["ops"] += sum(n for n, _ in call.ops_sample)
    return _Calls(prepared, tot, tot_s, in_i, out_i)


def _layer_sums(
    calls: _Calls, weights: np.ndarray, *, mode: Mode, hw: AcceleratorSpec, global_f: float, batch_size: int
) -> tuple[dict[int, LayerSum], float, float, np.ndarray | None]:
    """Each leaf module's memory, operations and energy; the pass's dense and sparse pJ; per-sample kept ops."""
    dram, op = hw.dram_pj_per_access, hw.op_pj
    per_sample = calls.in_i is not None
    layers: dict[int, LayerSum] = {}
    dense = sparse = 0.0
    s_kept = np.zeros(batch_size) if per_sample else None
    for call, info, traffic, in_nnz, out_nnz, in_nnz_i, _, w_nz in calls.prepared:
        ops = sum(n for n, _ in call.ops)
        if mode == "reference":
            ops_exec = ops * global_f
        else:
            ops_exec = float(_kept(call.ops, info, _frac(in_nnz, call.in_total), weights, hw))
            if per_sample:
                s_kept += _kept(call.ops_sample, info, _frac(in_nnz_i, call.in_total_sample), weights, hw)
        mem_dense = (info.w_total + call.in_total + call.out_total) if traffic else 0
        w_mem = w_nz if hw.compress_zero_weights else info.w_total
        a_mem = (in_nnz + out_nnz) if hw.compress_zero_activations else (call.in_total + call.out_total)
        mem_sparse = float(w_mem + a_mem) if traffic else 0.0
        row = LayerSum(
            calls=1,
            input_values=call.in_total,
            input_nonzero=int(in_nnz),
            output_values=call.out_total,
            output_nonzero=int(out_nnz),
            weight_values=info.w_total,
            weight_nonzero=int(w_nz),
            memory_accesses_dense=int(mem_dense),
            memory_accesses_sparse=int(mem_sparse),
            ops=ops,
            ops_executed=float(ops_exec),
            dense_pj=float(dram * mem_dense + op * ops),
            sparse_pj=float(dram * mem_sparse + op * float(ops_exec)),
        )
        dense += row.dense_pj
        sparse += row.sparse_pj
        layers.setdefault(call.module, LayerSum()).add(row)
    return layers, dense, sparse, s_kept


def _kept(
    terms: list[tuple[int, SkipKind]], info: ModuleInfo, d_in: float | np.ndarray, weights: np.ndarray,
    hw: AcceleratorSpec,
) -> float | np.ndarray:  # fmt: skip
    """The operations of ``terms`` a zero-skipping accelerator still executes (``layerwise`` and ``ops`` modes)."""
    total: float | np.ndarray = 0.0
    for n, kind in terms:
        if kind == "weight_input":
            f = _frac(_nz(weights, info.weight_slot), info.weight_total) if hw.skip_zero_weights else 1.0
            f = f * (d_in if hw.skip_zero_activations else 1.0)
        elif kind == "input":
            f = d_in if hw.skip_zero_activations else 1.0
        elif kind == "bias":
            f = _frac(_nz(weights, info.bias_slot), info.bias_total) if hw.skip_zero_weights else 1.0
        else:
            f = 1.0
        total = total + n * f
    return total


def _nz(weights: np.ndarray, slot: int) -> float:
    return float(weights[slot]) if slot >= 0 else 0.0
