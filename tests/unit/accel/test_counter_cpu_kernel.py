"""The CPU counting kernel (blocks through one scratch buffer) gives exactly the counts of ``(|x| > t).sum()``."""

from __future__ import annotations

import pytest
import torch

from powertrain.accel import _counter

T = 2.0**-126


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("block", [7, 64, 1 << 18])
def test_block_counts_equal_the_plain_expression(monkeypatch, dtype, block):
    monkeypatch.setattr(_counter, "_BLOCK", block)
    g = torch.Generator().manual_seed(0)
    for shape in [(1, 1), (3, 5), (13, 31), (40, 3), (2, 200)]:
        x = torch.relu(torch.randn(shape, generator=g)).to(dtype)
        flat = x.view(-1)
        flat[0] = float("nan")  # |nan| > t is False: not counted, as before
        flat[-1] = -1.0
        if dtype in (torch.float32, torch.float64):
            flat[1 % flat.numel()] = 2.0**-130  # subnormal, below the threshold
            flat[2 % flat.numel()] = T  # exactly the threshold: not counted
        rows = _counter._rows_nonzero_eager(x, T)
        assert rows.dtype == torch.int64
        assert torch.equal(rows, (x.abs() > T).sum(dim=1))
        for n in (0, 1, flat.numel() // 2, flat.numel()):
            whole = _counter._all_nonzero_eager(flat[:n], T)
            assert whole.dtype == torch.int64 and whole.dim() == 0
            assert int(whole) == int((flat[:n].abs() > T).sum())


def test_rows_wider_than_exact_float_sums_fall_back(monkeypatch):
    monkeypatch.setattr(_counter, "_EXACT_FLOAT_SUM", 8)
    x = torch.tensor([[0.0, 1.0] * 8, [1.0] * 16])
    assert _counter._rows_nonzero_eager(x, T).tolist() == [8, 16]
