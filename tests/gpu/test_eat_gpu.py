"""EAT on CUDA: the estimator gives the CPU's numbers; the penalty works (and is exact) under bf16 autocast."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import powertrain.accel._counter as counter
import powertrain.sparsity.functional as functional
from powertrain.accel import estimate_dataset, estimate_energy
from powertrain.sparsity import EATPenalty, l0_density

pytestmark = pytest.mark.gpu


def cnn(dtype=torch.float64):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 10),
    )  # fmt: skip
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return net.to(dtype).eval()


@pytest.mark.parametrize("mode", ["reference", "layerwise"])
@pytest.mark.parametrize("backend", ["eager", "compile"])
def test_estimator_on_cuda_equals_cpu(mode, backend):
    model = cnn()
    x = torch.randn(8, 3, 16, 16, dtype=torch.float64)
    cpu = estimate_dataset(model, [x[:5], x[5:]], mode=mode, backend="eager")
    model.cuda()
    gpu = estimate_dataset(model, [x[:5].cuda(), x[5:].cuda()], mode=mode, backend=backend)
    assert gpu.batch_ratios == pytest.approx(cpu.batch_ratios, rel=1e-12)
    assert gpu.per_sample_ratios == pytest.approx(cpu.per_sample_ratios, rel=1e-12)
    assert [r.output_nonzero for r in gpu.layers] == [r.output_nonzero for r in cpu.layers]
    assert not (counter._ROWS.failed or counter._ALL.failed)  # the fused path really ran
    single = estimate_energy(model, x.cuda(), mode=mode)
    assert single.ratio == pytest.approx(estimate_energy(model.cpu(), x, mode=mode).ratio, rel=1e-12)


@pytest.mark.parametrize("backend", ["eager", "compile"])
def test_penalty_under_bf16_autocast(backend):
    torch.manual_seed(0)
    model = cnn(torch.float32).train().cuda()
    x, y = torch.randn(32, 3, 16, 16, device="cuda"), torch.randint(0, 10, (32,), device="cuda")
    penalty = EATPenalty(model, lam=2.0, sigma=1e-4, backend=backend)
    with penalty:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y) + penalty.value()
        loss.backward()
        bf16_density = penalty.last_density
        model(x)
        penalty.value()
        fp32_density = penalty.last_density
    assert bf16_density.dtype == torch.float32 and bf16_density.is_cuda
    assert float(bf16_density) == pytest.approx(float(fp32_density), rel=0.05)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_compiled_density_equals_eager_on_cuda():
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(64, 32, 8, 8, device="cuda", dtype=dtype).to(memory_format=torch.channels_last)
        x.requires_grad_(True)
        d_c = l0_density(x, 1e-3, backend="compile")
        (g_c,) = torch.autograd.grad(d_c, x)
        d_e = l0_density(x, 1e-3, backend="eager")
        (g_e,) = torch.autograd.grad(d_e, x)
        torch.testing.assert_close(d_c, d_e, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g_c.float(), g_e.float(), rtol=2e-2, atol=1e-8)
        assert g_c.stride() == x.stride()
    assert not (functional._SUM.failed or functional._GRAD.failed)  # the compiled kernels really ran


def test_penalty_peak_memory_stays_close_to_plain():
    from powertrain.models import create_model

    def peak(with_penalty: bool) -> int:
        torch.manual_seed(0)
        model = create_model("resnet18", num_classes=10, in_channels=3, image_size=32).cuda()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = torch.randn(128, 3, 32, 32, device="cuda"), torch.randint(0, 10, (128,), device="cuda")
        penalty = EATPenalty(model, lam=1.0)
        for step in range(3):
            if step == 2:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            with penalty if with_penalty else torch.enable_grad():
                loss = F.cross_entropy(model(x), y) + (penalty.value() if with_penalty else 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()

    plain, eat = peak(False), peak(True)
    assert eat <= 1.1 * plain, (eat, plain)
