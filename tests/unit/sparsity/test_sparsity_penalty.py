"""EATPenalty against a slow reference that stores every activation (EAT's reference code), and its options."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from powertrain.errors import ConfigError
from powertrain.sparsity import EATPenalty, select_layers


def mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 8), nn.GELU(), nn.Linear(8, 3))


def cnn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 3),
    )  # fmt: skip


def slow_penalty(model, x, *, sigma, layers, normalization="numel"):
    """Keep every selected output (as the reference code's hooks), then apply the formula."""
    kept = []
    handles = [m.register_forward_hook(lambda m, a, out: kept.append(out)) for _, m in select_layers(model, layers)]
    out = model(x)
    for h in handles:
        h.remove()
    sums = [(o.float() ** 2 / (o.float() ** 2 + sigma)).sum() for o in kept]
    if normalization == "numel":
        e_hat = torch.stack([s / o.numel() for s, o in zip(sums, kept, strict=True)]).mean()
    else:
        n_params = sum(p.numel() for p in model.parameters())
        e_hat = torch.stack([s / (o.shape[0] * n_params) for s, o in zip(sums, kept, strict=True)]).sum()
    return out, e_hat


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("layers", ["activations", "all"])
@pytest.mark.parametrize("normalization", ["numel", "params"])
def test_value_and_gradients_equal_slow_reference(make, layers, normalization):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(5, 6) if make is mlp else torch.randn(5, 2, 8, 8)
    y = torch.randint(0, 3, (5,))
    penalty = EATPenalty(model, lam=2.5, sigma=1e-2, layers=layers, normalization=normalization)
    with penalty:
        out = model(x)
        value = penalty.value()
        loss = F.cross_entropy(out, y) + value
    fast = torch.autograd.grad(loss, list(model.parameters()))

    out, e_hat = slow_penalty(model, x, sigma=1e-2, layers=layers, normalization=normalization)
    ref_loss = F.cross_entropy(out, y) + 2.5 * e_hat
    slow = torch.autograd.grad(ref_loss, list(model.parameters()))
    torch.testing.assert_close(value, 2.5 * e_hat)
    torch.testing.assert_close(penalty.last_density, e_hat.detach())
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_layer_selection():
    model = mlp()
    assert [type(m).__name__ for _, m in select_layers(model, "activations")] == ["ReLU", "GELU"]
    assert [type(m).__name__ for _, m in select_layers(model, "all")] == ["Linear", "ReLU", "Linear", "GELU", "Linear"]
    chosen = select_layers(model, lambda name, m: name == "3")
    assert [n for n, _ in chosen] == ["3"]
    penalty = EATPenalty(model, layers=lambda name, m: name == "1")
    with penalty:
        model(torch.randn(2, 6))
        assert len(penalty._entries) == 1
        penalty.value()
    with pytest.raises(ConfigError, match="no module to penalise"):
        EATPenalty(nn.Sequential(nn.Linear(2, 2)))


def test_nothing_accumulates_in_eval_or_without_grad():
    model = mlp()
    penalty = EATPenalty(model)
    with penalty:
        model.eval()
        model(torch.randn(3, 6))
        model.train()
        with torch.no_grad():
            model(torch.randn(3, 6))
        assert penalty._entries == []
        value = penalty.value()
    assert float(value) == 0.0 and not value.requires_grad and float(penalty.last_density) == 0.0


def test_hooks_detach_on_exit_and_value_clears():
    model = mlp()
    penalty = EATPenalty(model, lam=1.0)
    with penalty:
        with penalty:  # re-entrant
            assert penalty.attached
        assert penalty.attached
        model(torch.randn(2, 6))
    assert not penalty.attached
    assert not any(m._forward_hooks for m in model.modules())
    first = penalty.value()  # values survive the exit
    assert first.requires_grad and penalty.value().item() == 0.0
    penalty.attach()
    model(torch.randn(2, 6))
    model(torch.randn(2, 6))
    assert len(penalty._entries) == 4  # two forwards, two activations each
    penalty.reset()
    assert penalty._entries == []
    penalty.detach()


def test_lambda_warmup_and_sigma_schedules():
    model = mlp()
    p = EATPenalty(model, lam=4.0, lam_warmup_epochs=4)
    assert p.current_lam == 0.0
    p.set_epoch(1)
    assert p.current_lam == pytest.approx(1.0)
    p.set_epoch(10)
    assert p.current_lam == pytest.approx(4.0)
    lin = EATPenalty(model, sigma=1e-2, sigma_schedule="linear", sigma_final=1e-4, total_epochs=5)
    exp = EATPenalty(model, sigma=1e-2, sigma_schedule="exponential", sigma_final=1e-4, total_epochs=5)
    for epoch, s_lin, s_exp in [(0, 1e-2, 1e-2), (2, (1e-2 + 1e-4) / 2, 1e-3), (4, 1e-4, 1e-4), (9, 1e-4, 1e-4)]:
        lin.set_epoch(epoch)
        exp.set_epoch(epoch)
        assert lin.current_sigma == pytest.approx(s_lin) and exp.current_sigma == pytest.approx(s_exp)
    with pytest.raises(ConfigError):
        p.set_epoch(-1)


def test_schedule_changes_the_value():
    torch.manual_seed(0)
    model = mlp()
    x = torch.randn(4, 6)
    p = EATPenalty(model, lam=1.0, sigma=1.0, sigma_schedule="exponential", sigma_final=1e-4, total_epochs=2)
    with p:
        model(x)
        early = p.value().item()
        p.set_epoch(1)
        model(x)
        late = p.value().item()
    assert late > early  # smaller sigma -> closer to the l0 norm -> larger density


def test_warmup_epoch_zero_logs_density_without_gradient():
    model = mlp()
    p = EATPenalty(model, lam=1.0, lam_warmup_epochs=2)
    with p:
        model(torch.randn(3, 6))
        value = p.value()
    assert float(value) == 0.0 and float(p.last_density) > 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lam": -1.0},
        {"sigma": 0.0},
        {"normalization": "mean"},
        {"layers": "convs"},
        {"lam_warmup_epochs": -2},
        {"sigma_schedule": "cosine"},
        {"sigma_schedule": "linear", "total_epochs": 3},
        {"sigma_schedule": "linear", "sigma_final": 1e-5},
        {"backend": "triton"},
    ],
)
def test_bad_options(kwargs):
    with pytest.raises(ConfigError):
        EATPenalty(mlp(), **kwargs)


def test_output_modified_in_place_only_later_warns_then_copies():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    x, y = torch.randn(6, 4), torch.randint(0, 2, (6,))
    p = EATPenalty(model, lam=1.0, sigma=1e-2, layers="all")
    with p:
        F.cross_entropy(model(x), y).add(p.value()).backward()  # first step: nothing is modified in place
        model[2].inplace = True  # from now on the BatchNorm output is overwritten
        model.zero_grad()
        with pytest.warns(RuntimeWarning, match="modified in place"):
            loss = F.cross_entropy(model(x), y) + p.value()
        loss.backward()  # no autograd error: the stale output adds no gradient this step
        model.zero_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = F.cross_entropy(model(x), y) + p.value()  # copied now: no warning, full gradient
        fast = torch.autograd.grad(loss, list(model.parameters()))
    model[2].inplace = False
    out, e_hat = slow_penalty(model, x, sigma=1e-2, layers="all")
    slow = torch.autograd.grad(F.cross_entropy(out, y) + e_hat, list(model.parameters()))
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_bf16_autocast_on_cpu():
    torch.manual_seed(0)
    model = cnn()
    x, y = torch.randn(4, 2, 8, 8), torch.randint(0, 3, (4,))
    p = EATPenalty(model, lam=1.0, sigma=1e-2)
    with p, torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x), y) + p.value()
    loss.backward()
    assert p.last_density.dtype == torch.float32
    with p:
        model(x)
        full = p.value()
    assert float(p.last_density) == pytest.approx(float(full.detach()), rel=0.05)
    assert all(q.grad is not None and torch.isfinite(q.grad).all() for q in model.parameters())


def test_works_inside_a_compiled_model():
    torch.manual_seed(0)
    model = cnn()
    x, y = torch.randn(4, 2, 8, 8), torch.randint(0, 3, (4,))
    penalty = EATPenalty(model, lam=1.0, sigma=1e-2).attach()
    expected = F.cross_entropy(model(x), y) + penalty.value()
    grads = torch.autograd.grad(expected, list(model.parameters()))
    compiled = torch.compile(model, backend="aot_eager")
    loss = F.cross_entropy(compiled(x), y) + penalty.value()
    torch.testing.assert_close(loss, expected)
    for a, b in zip(torch.autograd.grad(loss, list(model.parameters())), grads, strict=True):
        torch.testing.assert_close(a, b)
    penalty.detach()
    torch._dynamo.reset()
