"""The ``vit`` model: the EAT penalty reads exactly its MLP activations, and the ``ops`` mode sees its attention."""

import pytest
import torch

from powertrain.accel import estimate_energy
from powertrain.errors import ConfigError
from powertrain.models import create_model
from powertrain.sparsity import EATPenalty


def test_penalty_on_the_mlp_activations_and_ops_mode_sees_attention():
    torch.manual_seed(0)
    model = create_model("vit", num_classes=3, in_channels=1, image_size=12, dim=8, depth=2, heads=2)
    penalty = EATPenalty(model, lam=1.0)
    with penalty:
        model(torch.randn(2, 1, 12, 12))
        assert [e.name for e in penalty._entries] == ["blocks.0.act", "blocks.1.act"]
        penalty.value().backward()
    assert model.blocks[0].fc1.weight.grad.abs().sum() > 0
    x = torch.randn(2, 1, 12, 12)
    ops, layerwise = estimate_energy(model, x, mode="ops"), estimate_energy(model, x, mode="layerwise")
    rows = {layer.name: layer for layer in ops.layers}
    assert rows["blocks.0.attn"].ops > 0 and "blocks.0.attn" not in {layer.name for layer in layerwise.layers}
    assert ops.ops > layerwise.ops and ops.unmodelled_types == ()
    with pytest.raises(ConfigError, match="must divide"):
        create_model("vit", num_classes=3, in_channels=1, image_size=12, patch_size=5)
