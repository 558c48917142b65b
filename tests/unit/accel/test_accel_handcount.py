"""The estimator against networks counted by hand from the formulas (DESIGN.md, docs/eat.md)."""

import math

import pytest
import torch
from torch import nn

from powertrain.accel import AcceleratorSpec, estimate_energy

DRAM, OP = 1950.0, 3.7


def conv_net() -> tuple[nn.Module, torch.Tensor]:
    """conv(1->2, 2x2, no bias) - ReLU - maxpool 2 - flatten - linear(2->3)."""
    conv = nn.Conv2d(1, 2, 2, bias=False)
    lin = nn.Linear(2, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.0, 0.0], [0.0, -1.0]]]]))  # 3 of 8 nonzero
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))  # 2 of 6
        lin.bias.copy_(torch.tensor([0.0, 1.0, 0.0]))  # 1 of 3
    net = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), lin)
    x = torch.tensor([[[[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [4.0, 0.0, 5.0]]]])  # 5 of 9 nonzero
    # conv out: ch0 = [4, 0, 0, 8], ch1 = [-3, 0, 0, -5]  -> 4 of 8;  relu -> [4, 0, 0, 8, 0, 0, 0, 0]: 2 of 8
    # maxpool -> [8, 0]: 1 of 2;  flatten: 1 of 2;  linear -> [8, 1, 0]: 2 of 3
    return net, x


def test_reference_mode_by_hand():
    net, x = conv_net()
    est = estimate_energy(net, x, mode="reference")
    w_tot, w_nz = 8 + 9, 3 + 3  # conv weight; linear weight + bias
    in_tot, in_nz = 9 + 8 + 8 + 2 + 2, 5 + 4 + 2 + 1 + 1  # conv, relu, pool, flatten, linear inputs
    out_tot, out_nz = 8 + 8 + 2 + 2 + 3, 4 + 2 + 1 + 1 + 2
    ops = 8 * 2 * 2 * 1 + 0 + 2 * 4 + 0 + 6 * 1  # conv out*kh*kw*Cin; pool out*window; linear W*rows
    f = (w_nz / w_tot) * (in_nz / in_tot)
    dense = DRAM * (w_tot + in_tot + out_tot) + OP * ops
    sparse = DRAM * (w_nz + in_nz + out_nz) + OP * ops * f
    assert est.dense_pj == pytest.approx(dense, rel=1e-12)
    assert est.sparse_pj == pytest.approx(sparse, rel=1e-12)
    assert est.ratio == pytest.approx(sparse / dense, rel=1e-12)
    assert est.ops == ops and est.batch_size == 1
    rates = [layer.output_firing_rate for layer in est.layers]
    assert rates == pytest.approx([4 / 8, 2 / 8, 1 / 2, 1 / 2, 2 / 3])
    assert [layer.type for layer in est.layers] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert sum(layer.dense_pj for layer in est.layers) == pytest.approx(dense, rel=1e-12)
    assert sum(layer.sparse_pj for layer in est.layers) == pytest.approx(sparse, rel=1e-12)


def test_layerwise_mode_by_hand():
    net, x = conv_net()
    est = estimate_energy(net, x, mode="layerwise")
    # memory (total/nonzero): conv W 8/3 in 9/5 out 8/4; relu in 8/4 out 8/2; pool in 8/2 out 2/1;
    # flatten: none (a view); linear W 9/3 in 2/1 out 3/2
    mem_dense = (8 + 9 + 8) + (8 + 8) + (8 + 2) + (9 + 2 + 3)
    mem_sparse = (3 + 5 + 4) + (4 + 2) + (2 + 1) + (3 + 1 + 2)
    ops = 32 + 8 + 8 + 6 + 3  # conv MACs, relu 1/element, pool out*window, linear MACs, linear bias adds
    kept = 32 * (3 / 8) * (5 / 9) + 8 * (4 / 8) + 8 * (2 / 8) + 6 * (2 / 6) * (1 / 2) + 3 * (1 / 3)
    assert est.memory_accesses_dense == mem_dense and est.memory_accesses_sparse == mem_sparse
    assert est.ops == ops and est.ops_executed == pytest.approx(kept)
    assert est.dense_pj == pytest.approx(DRAM * mem_dense + OP * ops, rel=1e-12)
    assert est.sparse_pj == pytest.approx(DRAM * mem_sparse + OP * kept, rel=1e-12)
    assert est.layers[3].type == "Flatten" and est.layers[3].memory_accesses_dense == 0
    assert est.layers[3].output_firing_rate == pytest.approx(1 / 2)


def bn_net() -> tuple[nn.Module, torch.Tensor]:
    bn = nn.BatchNorm2d(2)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 0.0]))
        bn.bias.zero_()
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)  # num_batches_tracked stays 0
    x = torch.tensor([[[[1.0, 0.0]], [[2.0, 3.0]]]])  # 3 of 4 nonzero; BN out = [1/sqrt(1+eps), 0, 0, 0]
    return nn.Sequential(bn, nn.AdaptiveAvgPool2d(1)), x


def test_reference_batchnorm_counts_running_stats_twice():
    net, x = bn_net()
    est = estimate_energy(net, x, mode="reference")
    # params weight 2 (1 nonzero), bias 2 (0); buffers mean 2 (0), var 2 (2), num_batches_tracked 1 (0);
    # then running mean and var again: 2 * num_features = 4 values, 2 nonzero
    w_tot, w_nz = 2 + 2 + 2 + 2 + 1 + 4, 1 + 0 + 0 + 2 + 0 + 2
    in_tot, in_nz = 4 + 4, 3 + 1  # bn, avgpool
    out_tot, out_nz = 4 + 2, 1 + 1
    ops = 4 * 4 + 4  # BN 4 per input value; adaptive avg pool one per input value
    f = (w_nz / w_tot) * (in_nz / in_tot)
    assert est.dense_pj == pytest.approx(DRAM * (w_tot + in_tot + out_tot) + OP * ops, rel=1e-12)
    assert est.sparse_pj == pytest.approx(DRAM * (w_nz + in_nz + out_nz) + OP * ops * f, rel=1e-12)
    assert est.layers[0].weight_values == w_tot and est.layers[0].weight_nonzero == w_nz


def test_layerwise_batchnorm_counts_floating_buffers_once():
    net, x = bn_net()
    est = estimate_energy(net, x, mode="layerwise")
    w_tot, w_nz = 2 + 2 + 2 + 2, 1 + 0 + 0 + 2  # no num_batches_tracked, no second count
    bn = est.layers[0]
    assert (bn.weight_values, bn.weight_nonzero) == (w_tot, w_nz)
    assert bn.ops == 16 and bn.ops_executed == pytest.approx(16 * 3 / 4)  # skipped for zero inputs
    pool = est.layers[1]
    assert pool.ops == 4 and pool.ops_executed == pytest.approx(4 * 1 / 4)


def test_grouped_conv_ops_differ_between_modes():
    conv = nn.Conv2d(4, 4, 3, groups=4, bias=False)
    x = torch.ones(1, 4, 5, 5)
    ref = estimate_energy(conv, x, mode="reference")
    lw = estimate_energy(conv, x, mode="layerwise")
    assert ref.ops == 36 * 9 * 4  # the reference ignores groups: out.numel * kh * kw * C_in
    assert lw.ops == 36 * 9 * 1  # out.numel * kh * kw * C_in / groups


def test_layerwise_conv_transpose_and_nd_linear():
    convt = nn.ConvTranspose2d(2, 3, 2, stride=2)
    est = estimate_energy(convt, torch.ones(1, 2, 2, 2), mode="layerwise")
    assert est.ops == 8 * 4 * 3 + 48  # each input value times a 2x2x3 kernel; bias on 3x4x4 outputs
    lin = nn.Linear(4, 3, bias=False)
    x = torch.ones(2, 5, 4)
    assert estimate_energy(lin, x, mode="layerwise").ops == 4 * 3 * 10
    assert estimate_energy(lin, x, mode="reference").ops == 12 * 10


def test_layerwise_per_layer_skip_fraction_differs_from_global():
    net, x = conv_net()
    ref = estimate_energy(net, x, mode="reference")
    lw = estimate_energy(net, x, mode="layerwise")
    f_ref = {layer.ops_executed / layer.ops for layer in ref.layers if layer.ops}
    f_lw = {round(layer.ops_executed / layer.ops, 9) for layer in lw.layers if layer.ops}
    assert len(f_ref) == 1 and len(f_lw) > 1


def test_ratio_is_one_without_zeros():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Sigmoid())
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(0.1, 1.0)
    x = torch.rand(4, 6) + 0.1
    for mode in ("reference", "layerwise"):
        est = estimate_energy(net, x, mode=mode)
        assert est.ratio == pytest.approx(1.0, abs=1e-12)
        assert est.sparse_pj <= est.dense_pj * (1 + 1e-12)


def test_zero_threshold_follows_bit_width():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    x = torch.tensor([[1e-10]])  # nonzero at 32 bits (> 2^-126), zero at 16 bits (<= 2^-30)
    e32 = estimate_energy(lin, x, hardware=AcceleratorSpec.for_bits(32))
    e16 = estimate_energy(lin, x, hardware=AcceleratorSpec.for_bits(16))
    assert e32.layers[0].input_nonzero == 1 and e16.layers[0].input_nonzero == 0
    denormal = torch.tensor([[1e-40]])  # a float32 subnormal: below 2^-126, zero even at 32 bits
    assert estimate_energy(lin, denormal).layers[0].input_nonzero == 0


def test_hardware_constants_and_flags_are_used():
    net, x = conv_net()
    spec = AcceleratorSpec(dram_pj_per_access=1.0, op_pj=0.0)
    est = estimate_energy(net, x, hardware=spec)
    assert est.dense_pj == pytest.approx(17 + 29 + 23) and est.sparse_pj == pytest.approx(6 + 13 + 10)
    dense_hw = estimate_energy(net, x, hardware=AcceleratorSpec().dense())
    assert dense_hw.ratio == pytest.approx(1.0)
    no_compress = AcceleratorSpec(compress_zero_activations=False, compress_zero_weights=False)
    only_skip = estimate_energy(net, x, hardware=no_compress)
    assert only_skip.sparse_pj == pytest.approx(DRAM * 69 + OP * 46 * (6 / 17) * (13 / 29))
    assert math.isclose(est.ratio, estimate_energy(net, x).ratio) is False
