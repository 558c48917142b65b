"""The ``ops`` mode: networks counted by hand (attention, a residual block, a gather), agreement with
``layerwise`` on CNNs, what it cannot model, by name, and no host copies while counting."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from powertrain.accel import EnergyAccumulator, estimate_dataset, estimate_energy
from powertrain.models import BasicBlock, create_model

DRAM, OP = 1950.0, 3.7


def nz(t: torch.Tensor) -> int:
    return int((t != 0).sum())


class Residual(nn.Module):
    """conv (no bias) -> functional ReLU -> out + x -> functional ReLU: only the conv is a module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)

    def forward(self, x):
        return F.relu(F.relu(self.conv(x)) + x)


def test_residual_block_by_hand():
    torch.manual_seed(0)
    net = Residual()
    with torch.no_grad():
        net.conv.weight.mul_((torch.rand_like(net.conv.weight) > 0.5).float())
    x = torch.relu(torch.randn(1, 2, 4, 4))
    est = estimate_energy(net, x, mode="ops")
    c = net.conv(x)
    r1 = torch.relu(c)
    s = r1 + x
    n, w = x.numel(), net.conv.weight
    d = {k: nz(t) / n for k, t in {"x": x, "c": c, "r1": r1, "s": s}.items()}
    d_w = nz(w) / w.numel()
    ops = n * 9 * 2 + n + n + n  # conv MACs (out * k*k * C_in), relu, add, relu
    kept = n * 18 * d_w * d["x"] + n * d["c"] + n * (1 - (1 - d["r1"]) * (1 - d["x"])) + n * d["s"]
    mem_dense = (w.numel() + n + n) + (n + n) + (n + n + n) + (n + n)
    out = torch.relu(s)
    mem_sparse = (nz(w) + nz(x) + nz(c)) + (nz(c) + nz(r1)) + (nz(r1) + nz(x) + nz(s)) + (nz(s) + nz(out))
    assert est.ops == ops and est.ops_executed == pytest.approx(kept)
    assert est.memory_accesses_dense == mem_dense and est.memory_accesses_sparse == mem_sparse
    assert est.dense_pj == pytest.approx(DRAM * mem_dense + OP * ops)
    assert est.sparse_pj == pytest.approx(DRAM * mem_sparse + OP * kept)
    rows = {layer.name: layer for layer in est.layers}
    assert rows["conv"].ops == n * 18 and rows[""].ops == 3 * n  # the functional work is the root's
    assert est.unmodelled_types == ()
    lw = estimate_energy(net, x, mode="layerwise")
    assert lw.ops == n * 18  # the hooks see only the convolution


def test_attention_by_hand():
    torch.manual_seed(0)
    e, heads, length, batch = 8, 2, 5, 3
    net = nn.Sequential(nn.MultiheadAttention(e, heads, batch_first=True))

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = net[0]

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    model = SelfAttention()
    x = torch.randn(batch, length, e)
    est = estimate_energy(model, x, mode="ops")
    tokens, hd = batch * length, e // heads
    scores = batch * heads * length * length
    ops = (
        tokens * e * 3 * e + tokens * 3 * e  # in_proj: MACs and bias
        + scores * hd + scores + 3 * scores + scores * hd  # q k^T, scale, softmax, attention x values
        + tokens * e * e + tokens * e  # out_proj (never called as a module)
    )  # fmt: skip
    assert est.ops == ops
    row = next(layer for layer in est.layers if layer.name == "attn")
    assert row.weight_values == 4 * e * e + 4 * e  # in_proj weight and bias, out_proj weight and bias
    assert row.ops == ops and est.unmodelled_types == ()
    lw = estimate_energy(model, x, mode="layerwise")
    assert lw.ops == 0 and lw.layers == ()  # its only leaf, out_proj, is never called: silently nothing
    assert torch.backends.mha.get_fastpath_enabled()  # restored after the pass


def test_scaled_dot_product_attention_and_gelu_by_hand():
    class Block(nn.Module):
        def forward(self, q):
            return F.gelu(F.scaled_dot_product_attention(q, q, q))

    q = torch.randn(2, 3, 4, 6)  # batch, heads, length, head dim
    est = estimate_energy(Block(), q, mode="ops")
    scores = 2 * 3 * 4 * 4
    assert est.ops == scores * 6 * 2 + 4 * scores + 5 * q.numel()  # GELU: 5 operations per element


def test_embedding_is_a_gather():
    table = nn.Embedding(1000, 8)
    ids = torch.tensor([[1, 2, 3, 0, 7]])
    est = estimate_energy(nn.Sequential(table), ids, mode="ops")
    assert est.ops == 0
    row = est.layers[0]
    assert row.weight_values == 5 * 8  # the rows read, not the 8000 values of the table
    assert row.input_values == 5 and row.input_nonzero == 5  # token ids are read in full (id 0 included)
    assert row.output_values == 5 * 8


@pytest.mark.parametrize("name", ["lenet5", "mlp", "small-cnn"])
def test_agrees_with_layerwise_where_both_see_everything(name):
    torch.manual_seed(0)
    if name == "small-cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.GELU(), nn.MaxPool2d(2), nn.Dropout2d(0.2),
            nn.Conv2d(4, 4, 3, groups=2), nn.GroupNorm(2, 4), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 3), nn.Softmax(-1),
        )  # fmt: skip
        model[1].running_mean.uniform_(-1, 1)
    else:
        model = (
            create_model(name, num_classes=10, in_channels=1, image_size=16, hidden_sizes=(32,))
            if name == "mlp"
            else create_model(name, num_classes=10, in_channels=1, image_size=16)
        )
    with torch.no_grad():
        for p in model.parameters():
            p.mul_((torch.rand_like(p) > 0.3).float())
    x = torch.relu(torch.randn(3, 1, 16, 16))
    lw, ops = estimate_energy(model, x, mode="layerwise"), estimate_energy(model, x, mode="ops")
    # Equal up to float rounding: the same memory, operations and zeros, counted by two routes.
    assert ops.dense_pj == pytest.approx(lw.dense_pj, rel=1e-9)
    assert ops.sparse_pj == pytest.approx(lw.sparse_pj, rel=1e-9)
    assert ops.ops == lw.ops and ops.memory_accesses_sparse == lw.memory_accesses_sparse
    by_name = {layer.name: layer for layer in ops.layers}
    for layer in lw.layers:
        if layer.ops or layer.memory_accesses_dense:
            assert by_name[layer.name].sparse_pj == pytest.approx(layer.sparse_pj, rel=1e-9), layer.name
    assert ops.unmodelled_types == lw.unmodelled_types == ()


def test_sees_the_residual_additions_layerwise_misses():
    torch.manual_seed(0)
    block = BasicBlock(4, 4)
    x = torch.relu(torch.randn(2, 4, 6, 6))
    lw, ops = estimate_energy(block, x, mode="layerwise"), estimate_energy(block, x, mode="ops")
    n = x.numel()
    assert ops.ops - lw.ops == n  # out + shortcut(x): one addition per element
    assert ops.dense_pj - lw.dense_pj == pytest.approx(DRAM * 3 * n + OP * n)  # two reads and a write
    assert next(layer for layer in ops.layers if layer.name == "").ops == n


def test_unmodelled_operators_are_listed_by_name_and_dataset_path():
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return torch.cumsum(self.lin(x), dim=1)

    model = Odd()
    est = estimate_energy(model, torch.randn(2, 4), mode="ops")
    assert est.unmodelled_types == ("aten.cumsum",)
    batches = [torch.randn(5, 4), torch.randn(5, 4), torch.randn(3, 4)]
    res = estimate_dataset(model, batches, mode="ops", per_sample=False)
    singles = [estimate_energy(model, b, mode="ops").ratio for b in batches]
    assert res.batch_ratios == pytest.approx(singles) and res.num_samples == 13
    assert res.unmodelled_types == ("aten.cumsum",)
    assert [layer.calls for layer in res.layers] == [3, 3]  # root and lin, once per batch


def test_counts_stay_on_the_device_until_compute(monkeypatch):
    torch.manual_seed(0)
    model = create_model("vit", num_classes=10, in_channels=1, image_size=8, patch_size=4, dim=8, depth=1, heads=2)
    batches = [torch.randn(3, 1, 8, 8), torch.randn(2, 1, 8, 8)]
    expected = [estimate_energy(model, b, mode="ops").ratio for b in batches]
    acc = EnergyAccumulator(model, mode="ops")

    def host_copy(*args, **kwargs):
        raise AssertionError("a count was copied to the host during update()")

    with monkeypatch.context() as patched:
        for name in ("item", "tolist", "numpy", "__int__", "__float__", "__bool__", "__index__"):
            patched.setattr(torch.Tensor, name, host_copy)
        for b in batches:
            acc.update(b)
    assert acc.compute().batch_ratios == pytest.approx(expected)
