"""The fast estimator against slow paths: a per-tensor Python loop, and each sample run alone."""

import json

import pytest
import torch
from torch import nn

from powertrain.accel import EnergyAccumulator, estimate_dataset, estimate_energy
from powertrain.errors import ConfigError

THRESHOLD = 2.0**-126


def random_cnn(seed: int, *, inplace: bool = False, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=inplace), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=inplace), nn.AvgPool2d(2),
        nn.Dropout(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 4),
    )  # fmt: skip
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
            if isinstance(m, nn.Conv2d):
                m.weight.mul_((torch.rand_like(m.weight) > 0.3).float())  # ~30% zero weights
    return net.to(dtype).eval()


def slow_reference(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """Sponge Examples' ASIC model written plainly: every count through .tolist(), every call by hand."""

    def nnz(t):
        return sum(1 for v in t.detach().flatten().tolist() if abs(v) > THRESHOLD)

    s = dict(w=0, w_nz=0, a_in=0, a_in_nz=0, a_out=0, a_out_nz=0, ops=0)
    seen_inputs = {}

    def pre(m, args):
        seen_inputs[id(m)] = [(t.numel(), nnz(t)) for t in args if isinstance(t, torch.Tensor)]

    def post(m, args, out):
        for numel, nonzero in seen_inputs.pop(id(m)):
            s["a_in"] += numel
            s["a_in_nz"] += nonzero
        s["a_out"] += out.numel()
        s["a_out_nz"] += nnz(out)
        for t in list(m.buffers()) + list(m.parameters()):
            s["w"] += t.numel()
            s["w_nz"] += nnz(t)
        x_in = args[0]
        if isinstance(m, nn.AdaptiveAvgPool2d):
            s["ops"] += x_in.numel()
        elif isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else None
            s["ops"] += out.numel() * (k * k if k else m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, nn.Conv2d):
            s["ops"] += out.numel() * m.kernel_size[0] * m.kernel_size[1] * x_in.shape[1]
        elif isinstance(m, nn.Linear):
            s["ops"] += m.weight.numel() * (x_in.numel() // x_in.shape[-1])
        elif isinstance(m, nn.BatchNorm2d):
            s["w"] += 2 * m.num_features
            s["w_nz"] += nnz(m.running_mean) + nnz(m.running_var)
            s["ops"] += 4 * x_in.numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(pre) for m in leaves] + [m.register_forward_hook(post) for m in leaves]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    dense = 1950 * (s["w"] + s["a_in"] + s["a_out"]) + 3.7 * s["ops"]
    f = (s["w_nz"] / s["w"]) * (s["a_in_nz"] / s["a_in"])
    sparse = 1950 * (s["w_nz"] + s["a_in_nz"] + s["a_out_nz"]) + 3.7 * s["ops"] * f
    return dense, sparse


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_equals_slow_loop_on_random_networks(seed):
    model = random_cnn(seed)
    x = torch.randn(3, 3, 8, 8)
    est = estimate_energy(model, x, mode="reference")
    dense, sparse = slow_reference(model, x)
    assert est.dense_pj == pytest.approx(dense, rel=1e-12)
    assert est.sparse_pj == pytest.approx(sparse, rel=1e-12)
    assert est.ratio < 1.0


def test_inplace_relu_counts_its_true_input():
    x = torch.randn(2, 3, 8, 8)
    a = estimate_energy(random_cnn(0, inplace=False), x)
    b = estimate_energy(random_cnn(0, inplace=True), x)
    assert b.dense_pj == pytest.approx(a.dense_pj) and b.sparse_pj == pytest.approx(a.sparse_pj)


def test_shared_module_called_twice_counts_each_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act = nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            return self.act(self.lin(self.act(self.lin(x))))

    torch.manual_seed(0)
    est = estimate_energy(Twice(), torch.randn(2, 4))
    lin = est.layers[0]
    assert lin.calls == 2 and lin.weight_values == 2 * 20 and lin.ops == 2 * 16 * 2


@pytest.mark.parametrize("mode", ["reference", "layerwise"])
def test_ratio_falls_as_activations_get_sparser(mode):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    x = torch.randn(16, 8)
    ratios = []
    for shift in (1.0, 0.0, -1.0, -2.0):
        with torch.no_grad():
            net[0].bias.fill_(shift)
        ratios.append(estimate_energy(net, x, mode=mode).ratio)
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False)), ratios


@pytest.mark.parametrize("mode", ["reference", "layerwise"])
def test_per_sample_ratios_equal_each_sample_run_alone(mode):
    model = random_cnn(3, dtype=torch.float64)
    x = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    res = estimate_dataset(model, [(x, torch.zeros(5))], mode=mode, per_sample=True)
    alone = [estimate_energy(model, x[i : i + 1], mode=mode).ratio for i in range(5)]
    assert res.per_sample_ratios == pytest.approx(alone, rel=1e-12)
    assert res.per_sample_mean_ratio == pytest.approx(sum(alone) / 5)
    assert res.mean_ratio == pytest.approx(estimate_energy(model, x, mode=mode).ratio, rel=1e-12)


def test_dataset_mean_over_batches_and_pooled_firing_rates():
    model = random_cnn(4)
    batches = [torch.randn(4, 3, 8, 8) for _ in range(3)] + [torch.randn(2, 3, 8, 8)]
    res = estimate_dataset(model, batches, per_sample=False)
    singles = [estimate_energy(model, b) for b in batches]
    assert res.batch_size == 4 and res.num_batches == 4 and res.num_samples == 14
    assert res.batch_ratios == pytest.approx([e.ratio for e in singles], rel=1e-12)
    assert res.mean_ratio == pytest.approx(sum(e.ratio for e in singles) / 4, rel=1e-12)
    assert res.dense_pj == pytest.approx(sum(e.dense_pj for e in singles), rel=1e-12)
    assert res.per_sample_ratios is None
    name = res.layers[2].name  # the first ReLU
    nz = sum(e.layers[2].output_nonzero for e in singles)
    total = sum(e.layers[2].output_values for e in singles)
    assert res.firing_rates[name] == pytest.approx(nz / total)
    json.dumps(res.to_dict())
    json.dumps(singles[0].to_dict())


def test_dataset_options_and_errors():
    model = random_cnn(5)
    loader = [(torch.randn(2, 3, 8, 8), torch.zeros(2)) for _ in range(5)]
    assert estimate_dataset(model, loader, max_batches=2).num_batches == 2
    with pytest.raises(ConfigError):
        estimate_dataset(model, [])
    with pytest.raises(ConfigError):
        estimate_dataset(model, loader, max_batches=-1)
    with pytest.raises(ConfigError):
        estimate_dataset(model, loader, mode="exact")
    with pytest.raises(ConfigError):
        estimate_dataset(model, ["not a tensor"])


def test_modes_and_running_stats_are_restored():
    model = random_cnn(6).train()
    model[8].eval()  # a mixed state must come back as it was
    bn_mean = model[1].running_mean.clone()
    acc = EnergyAccumulator(model)
    out = acc.update(torch.randn(2, 3, 8, 8))
    assert not out.requires_grad
    assert model.training and model[1].training and not model[8].training
    assert torch.equal(model[1].running_mean, bn_mean)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_accumulator_update_compute_reset():
    model = random_cnn(7)
    acc = EnergyAccumulator(model, mode="layerwise", per_sample=True)
    xs = [torch.randn(3, 3, 8, 8) for _ in range(2)]
    for x in xs:
        acc.update(x)
    first = acc.compute()
    assert acc.num_batches == 2 and len(first.per_sample_ratios) == 6
    acc.reset()
    assert acc.num_batches == 0
    with pytest.raises(ConfigError):
        acc.compute()
    for x in xs:
        acc.update(x)
    assert acc.compute().mean_ratio == pytest.approx(first.mean_ratio)


def test_unmodelled_types_are_reported():
    net = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Upsample(scale_factor=2))
    x = torch.randn(1, 2, 4)
    assert estimate_energy(net, x, mode="reference").unmodelled_types == ("GELU", "Upsample")
    assert estimate_energy(net, x, mode="layerwise").unmodelled_types == ("Upsample",)


def test_channels_last_and_non_contiguous_inputs_count_the_same():
    model = random_cnn(8)
    x = torch.randn(2, 3, 8, 8)
    a = estimate_dataset(model, [x], per_sample=True)
    b = estimate_dataset(model.to(memory_format=torch.channels_last), [x.to(memory_format=torch.channels_last)])
    assert b.per_sample_ratios == pytest.approx(a.per_sample_ratios)
    x_nc = torch.randn(8, 8, 3, 2).permute(3, 2, 0, 1)  # (2, 3, 8, 8), neither layout
    assert not x_nc.is_contiguous()
    c = estimate_dataset(random_cnn(8), [x_nc])
    d = estimate_dataset(random_cnn(8), [x_nc.contiguous()])
    assert c.per_sample_ratios == pytest.approx(d.per_sample_ratios)
