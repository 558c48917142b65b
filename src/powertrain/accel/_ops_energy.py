"""Host-side energy of one ``ops``-mode pass, from its operator calls and counts (numpy, no torch).

Per operator call, as in the other modes (constants in :class:`AcceleratorSpec`)::

    E = dram_pj_per_access * (W + A_in + A_out) + op_pj * sum_k ops_k * f_k          [pJ]

dense: totals and ``f_k = 1``; zero-skipping: nonzero counts where the ``compress_*`` flags say so, and ``f_k``
from the nonzero fractions of term k's own operands (see :mod:`powertrain.accel._op_rules`).
"""

from __future__ import annotations

import numpy as np

from powertrain.accel._energy import BatchEnergy, LayerSum
from powertrain.accel._ops import OpsBatch, Slot
from powertrain.accel.spec import AcceleratorSpec

__all__ = ["evaluate_ops"]


def evaluate_ops(batch: OpsBatch, counts: np.ndarray, weights: np.ndarray, hardware: AcceleratorSpec) -> BatchEnergy:
    """Energy of one pass, per module, from its host-side ``counts`` and the weight counts."""
    hw = hardware
    dram, op = hw.dram_pj_per_access, hw.op_pj
    counts = counts.astype(np.float64)
    weights = weights.astype(np.float64)

    def nnz(slot: Slot) -> float:
        is_weight, index, _ = slot
        return float(weights[index] if is_weight else counts[index])

    def density(slot: Slot) -> float:
        is_weight, _, total = slot
        if not (hw.skip_zero_weights if is_weight else hw.skip_zero_activations) or total == 0:
            return 1.0
        return nnz(slot) / total

    layers: dict[int, LayerSum] = {}
    dense_pj = sparse_pj = 0.0
    for call in batch.calls:
        w_tot = w_nz = a_in = a_in_nz = a_out = a_out_nz = 0.0
        for slot in call.reads:
            if slot[0]:
                w_tot, w_nz = w_tot + slot[2], w_nz + nnz(slot)
            else:
                a_in, a_in_nz = a_in + slot[2], a_in_nz + nnz(slot)
        a_in += call.dense_reads
        a_in_nz += call.dense_reads
        if call.gathered is not None:
            rows, slot = call.gathered
            w_tot, w_nz = w_tot + rows, w_nz + nnz(slot)
        for slot in call.writes:
            a_out, a_out_nz = a_out + slot[2], a_out_nz + nnz(slot)
        ops = executed = 0.0
        for n, kind, operands in call.terms:
            ops += n
            if kind == "product":
                f = density(operands[0]) * density(operands[1])
            elif kind == "union":
                f = 1.0 - (1.0 - density(operands[0])) * (1.0 - density(operands[1]))
            elif kind == "input":
                f = density(operands[0])
            else:
                f = 1.0
            executed += n * f
        mem_dense = w_tot + a_in + a_out
        mem_sparse = (w_nz if hw.compress_zero_weights else w_tot) + (
            a_in_nz + a_out_nz if hw.compress_zero_activations else a_in + a_out
        )
        row = LayerSum(
            input_values=int(a_in),
            input_nonzero=int(a_in_nz),
            output_values=int(a_out),
            output_nonzero=int(a_out_nz),
            weight_values=int(w_tot),
            weight_nonzero=int(w_nz),
            memory_accesses_dense=int(mem_dense),
            memory_accesses_sparse=int(mem_sparse),
            ops=int(ops),
            ops_executed=float(executed),
            dense_pj=float(dram * mem_dense + op * ops),
            sparse_pj=float(dram * mem_sparse + op * executed),
        )
        dense_pj += row.dense_pj
        sparse_pj += row.sparse_pj
        layers.setdefault(call.module, LayerSum()).add(row)
    for index, row in layers.items():
        row.calls = batch.calls_per_module.get(index, 0)
    return BatchEnergy(batch.batch_size, dense_pj, sparse_pj, layers, None, None)
