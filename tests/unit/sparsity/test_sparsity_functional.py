"""l0_density: value by hand, gradient by gradcheck and against plain autograd, no extra saved memory."""

import pytest
import torch

import powertrain.sparsity.functional as functional
from powertrain.errors import ConfigError
from powertrain.sparsity import l0_density


def plain(x: torch.Tensor, sigma: float) -> torch.Tensor:
    x = x.float() if x.dtype != torch.float64 else x
    return (x**2 / (x**2 + sigma)).sum() / x.numel()


def test_value_by_hand():
    x = torch.tensor([0.0, 1.0, -2.0, 0.5])
    expected = (0 + 1 / 1.25 + 4 / 4.25 + 0.25 / 0.5) / 4
    assert float(l0_density(x, sigma=0.25)) == pytest.approx(expected, rel=1e-6)
    assert float(l0_density(torch.zeros(3, 3))) == 0.0
    assert float(l0_density(torch.full((5,), 1e3))) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(3, 4, dtype=torch.float64),
        lambda: torch.randn(2, 3, 4, 5, dtype=torch.float64).to(memory_format=torch.channels_last),
        lambda: torch.randn(4, 6, dtype=torch.float64).t(),  # not contiguous
    ],
)
def test_gradcheck_float64(make):
    x = (make() * 0.05).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: l0_density(t, sigma=1e-3), (x,))


def test_gradient_equals_plain_autograd():
    torch.manual_seed(0)
    x = torch.randn(8, 16, requires_grad=True)
    g_fast = torch.autograd.grad(3.0 * l0_density(x, 1e-2), x)[0]
    g_plain = torch.autograd.grad(3.0 * plain(x, 1e-2), x)[0]
    torch.testing.assert_close(g_fast, g_plain, rtol=1e-5, atol=1e-7)


def test_bfloat16_input_accumulates_in_float32():
    torch.manual_seed(0)
    x = torch.randn(64, 64).bfloat16().requires_grad_(True)
    d = l0_density(x, 1e-2)
    assert d.dtype == torch.float32
    assert float(d.detach()) == pytest.approx(float(plain(x.detach(), 1e-2)), rel=1e-5)
    (g,) = torch.autograd.grad(d, x)
    assert g.dtype == torch.bfloat16
    torch.testing.assert_close(g.float(), torch.autograd.grad(plain(x, 1e-2), x)[0].float(), rtol=2e-2, atol=1e-6)


def test_backward_keeps_only_the_input():
    x = torch.randn(4, 5, requires_grad=True)
    y = x * 2
    d = l0_density(y)
    saved = d.grad_fn.saved_tensors
    assert saved[0].data_ptr() == y.data_ptr()  # the activation itself, no copy
    assert all(t.numel() <= 1 for t in saved[1:])


def test_bad_arguments():
    with pytest.raises(ConfigError):
        l0_density(torch.ones(3), sigma=0.0)
    with pytest.raises(ConfigError):
        l0_density(torch.ones(0))
    with pytest.raises(ConfigError):
        l0_density(torch.ones(3, dtype=torch.int64))
    with pytest.raises(ConfigError):
        l0_density(torch.ones(3), backend="fast")


def test_compiled_kernels_equal_eager(monkeypatch):
    monkeypatch.setattr(functional, "_COMPILE_BACKEND", "aot_eager")
    for kernel in (functional._SUM, functional._GRAD):
        monkeypatch.setattr(kernel, "_compiled", None)
        monkeypatch.setattr(kernel, "failed", False)
    torch.manual_seed(0)
    for shape in ((6, 7), (2, 3, 4, 5)):
        x = torch.randn(*shape, requires_grad=True)
        d_c = l0_density(x, 1e-2, backend="compile")
        (g_c,) = torch.autograd.grad(d_c, x)
        d_e = l0_density(x, 1e-2, backend="eager")
        (g_e,) = torch.autograd.grad(d_e, x)
        torch.testing.assert_close(d_c, d_e)
        torch.testing.assert_close(g_c, g_e)
    assert not functional._SUM.failed and not functional._GRAD.failed
    torch._dynamo.reset()


@pytest.mark.slow
def test_inductor_kernels_equal_eager(monkeypatch):
    monkeypatch.setattr(functional, "_COMPILE_BACKEND", "inductor")
    for kernel in (functional._SUM, functional._GRAD):
        monkeypatch.setattr(kernel, "_compiled", None)
        monkeypatch.setattr(kernel, "failed", False)
    torch.manual_seed(0)
    x = torch.randn(3, 8, 5, 5).to(memory_format=torch.channels_last).requires_grad_(True)
    d_c = l0_density(x, 1e-2, backend="compile")
    (g_c,) = torch.autograd.grad(d_c, x)
    d_e = l0_density(x, 1e-2, backend="eager")
    (g_e,) = torch.autograd.grad(d_e, x)
    torch.testing.assert_close(d_c, d_e)
    torch.testing.assert_close(g_c, g_e)
    assert not functional._SUM.failed and not functional._GRAD.failed
    torch._dynamo.reset()
