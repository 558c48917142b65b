"""EAT's energy-aware training penalty: a differentiable l0 density of the activations.

Entry points: :class:`EATPenalty` for a training loop, :func:`l0_density` for one tensor::

    from powertrain.sparsity import EATPenalty

    penalty = EATPenalty(model, lam=2.0, sigma=1e-4)        # layers="activations" (ReLU etc.) by default
    with penalty:
        out = model(x)
        loss = F.cross_entropy(out, y) + penalty.value()    # lambda * mean density of this forward pass
    loss.backward()

The density is computed in the same forward pass by a hook per penalised module, and its gradient is
recomputed from the activation in the backward pass: no activation is stored twice. Evaluation (eval mode or
``torch.no_grad``) costs nothing. Details and the formulas: docs/eat.md.

Errors: bad options raise :class:`~powertrain.errors.ConfigError`, so does a model without any module to
penalise (activations called through ``torch.nn.functional`` are invisible to hooks).
"""

from __future__ import annotations

from powertrain.sparsity._layers import ACTIVATION_TYPES, DROPOUT_TYPES, LayerSelector, leaf_modules, select_layers
from powertrain.sparsity.functional import Backend, L0Density, l0_density
from powertrain.sparsity.penalty import EATPenalty, Normalization, SigmaSchedule

__all__ = [
    "ACTIVATION_TYPES",
    "DROPOUT_TYPES",
    "Backend",
    "EATPenalty",
    "L0Density",
    "LayerSelector",
    "Normalization",
    "SigmaSchedule",
    "l0_density",
    "leaf_modules",
    "select_layers",
]
