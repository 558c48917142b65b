"""The torch.compile-fused counting path gives the eager path's numbers (plumbing checked with aot_eager)."""

import pytest
import torch
from torch import nn

import powertrain.accel._counter as counter
import powertrain.sparsity.functional as functional
from powertrain.accel import estimate_dataset, estimate_energy


@pytest.fixture
def compile_backend(monkeypatch):
    def use(backend):
        monkeypatch.setattr(functional, "_COMPILE_BACKEND", backend)
        for kernel in (counter._ROWS, counter._ALL):
            monkeypatch.setattr(kernel, "_compiled", None)
            monkeypatch.setattr(kernel, "failed", False)

    yield use
    torch._dynamo.reset()


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()


def test_compiled_counting_equals_eager(compile_backend):
    compile_backend("aot_eager")
    model, x = net(), torch.randn(4, 3, 8, 8)
    for mode in ("reference", "layerwise"):
        fast = estimate_dataset(model, [x, x[:2]], mode=mode, backend="compile")
        slow = estimate_dataset(model, [x, x[:2]], mode=mode, backend="eager")
        assert fast.per_sample_ratios == pytest.approx(slow.per_sample_ratios, rel=1e-12)
        assert fast.mean_ratio == pytest.approx(slow.mean_ratio, rel=1e-12)
    assert not counter._ROWS.failed and not counter._ALL.failed


def test_failed_compilation_falls_back_with_a_warning(compile_backend):
    compile_backend("no-such-backend")
    model, x = net(), torch.randn(2, 3, 8, 8)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        est = estimate_energy(model, x, backend="compile")
    assert est.ratio == pytest.approx(estimate_energy(model, x).ratio)


@pytest.mark.slow
def test_inductor_counting_equals_eager(compile_backend):
    compile_backend("inductor")
    model, x = net(), torch.randn(4, 3, 8, 8)
    fast = estimate_dataset(model, [x], backend="compile")
    assert fast.per_sample_ratios == pytest.approx(estimate_dataset(model, [x], backend="eager").per_sample_ratios)
    assert not counter._ROWS.failed
