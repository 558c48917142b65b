"""The penalty as the reference code computes it: first-step gradients of outputs changed in place, dropout
exclusion, modules in eval mode; and the per-step lambda ramp."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from powertrain.errors import ConfigError
from powertrain.sparsity import EATPenalty, select_layers


class Block(nn.Module):
    """A residual block that adds its shortcut in place, after an in-place ReLU (torchvision's style)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))  # bn1's output is overwritten by relu1
        out = self.bn2(self.conv2(out))
        out += x  # bn2's output is overwritten by the shortcut addition
        return self.relu2(out)


def net():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), Block(), nn.Flatten(), nn.Linear(3 * 36, 4))


def clone_reference(model, x, sigma):
    """The reference code: each hook keeps ``output.clone()``; the penalty is the mean density of the copies."""
    kept = []
    handles = [
        m.register_forward_hook(lambda m, a, out: kept.append(out.clone())) for _, m in select_layers(model, "all")
    ]
    out = model(x)
    for h in handles:
        h.remove()
    return out, torch.stack([(o**2 / (o**2 + sigma)).sum() / o.numel() for o in kept]).mean()


def test_first_step_keeps_the_gradient_of_outputs_changed_in_place():
    torch.manual_seed(0)
    model = net()
    x, y = torch.randn(5, 2, 6, 6), torch.randint(0, 4, (5,))
    params = list(model.parameters())
    out, e_hat = clone_reference(model, x, 1e-2)
    expected = torch.autograd.grad(F.cross_entropy(out, y) + 3.0 * e_hat, params)
    penalty = EATPenalty(model, lam=3.0, sigma=1e-2, layers="all")
    for step in range(2):  # first step: every output copied while probing; second: only the modified ones
        with penalty, warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = F.cross_entropy(model(x), y) + penalty.value()
        got = torch.autograd.grad(loss, params)
        # float32 sums in another order differ by ~1e-7; dropping bn1's and bn2's penalty moves every
        # parameter's gradient by at least 9e-3
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        if step == 0:
            names = {penalty._names[site[0]] for site in penalty._copy_sites}
            assert names == {"1.bn1", "1.bn2"}  # only the outputs modified in place stay copied


def test_all_excludes_only_nn_dropout_as_the_reference():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout2d(0.5), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5))
    names = [type(m).__name__ for _, m in select_layers(model, "all")]
    assert names == ["Conv2d", "Dropout2d", "ReLU", "Flatten"]


def test_modules_in_eval_mode_penalised_only_on_request():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    model[1].eval()  # a frozen part of the network, as when fine-tuning
    x = torch.randn(3, 4)
    default, faithful = EATPenalty(model), EATPenalty(model, penalize_eval=True)
    with default:
        model(x)
        assert [e.name for e in default._entries] == ["3"]
        default.value()
    with faithful:
        model(x)
        assert [e.name for e in faithful._entries] == ["1", "3"]
        faithful.value().backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0
    model.eval()
    with faithful, torch.no_grad():  # evaluation still costs nothing
        model(x)
        assert faithful._entries == []


def test_lambda_ramps_linearly_per_step():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    p = EATPenalty(model, lam=2.0, lam_warmup_epochs=2, steps_per_epoch=4)
    seen = []
    for epoch in range(3):
        p.set_epoch(epoch)
        for _ in range(4):
            seen.append(p.current_lam)
            with p:
                model(torch.randn(2, 4))
                p.value()
    assert seen == pytest.approx([2.0 * k / 8 for k in range(8)] + [2.0] * 4)
    p.set_epoch(1, steps_per_epoch=2)  # resumed at epoch 1 with another loader length
    assert p.current_lam == pytest.approx(1.0)
    model.eval()
    with p:  # an evaluation pass (nothing penalised) does not advance the ramp
        model(torch.randn(2, 4))
        p.value()
    assert p.current_lam == pytest.approx(1.0)
    per_epoch = EATPenalty(model, lam=2.0, lam_warmup_epochs=2)  # steps unknown: once per epoch
    per_epoch.set_epoch(1)
    assert per_epoch.current_lam == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        EATPenalty(model, steps_per_epoch=0)
