"""An analytical zero-skipping accelerator: how much inference energy do sparse activations save?

Entry points: :func:`estimate_energy` for one batch, :func:`estimate_dataset` over a loader::

    from powertrain.accel import AcceleratorSpec, estimate_dataset, estimate_energy

    est = estimate_energy(model, x)                      # reference mode: Sponge Examples' ASIC model
    est.ratio, est.batch_size                            # E(zero-skipping) / E(dense), at this batch size
    est.layers[0].output_firing_rate

    res = estimate_dataset(model, test_loader, mode="layerwise", hardware=AcceleratorSpec.for_bits(16))
    res.mean_ratio, res.per_sample_mean_ratio, res.firing_rates

``reference`` mode reproduces the model of Shumailov et al. (Sponge Examples, EuroS&P 2021) that EAT
(Lazzaro et al., ICIAP 2023) reports; ``layerwise`` mode is a documented refinement (per-layer skip
fractions, grouped and transposed convolutions, more layer types). Formulas, constants and their sources:
docs/eat.md and :class:`AcceleratorSpec`.

Contract: the model runs in eval mode under ``torch.no_grad`` and every module's mode is restored after.
Nonzeros are counted on the device and copied to the host once per estimate. Errors: bad options raise
:class:`~powertrain.errors.ConfigError`.
"""

from __future__ import annotations

from powertrain.accel.dataset import DatasetEnergyEstimate, EnergyAccumulator, estimate_dataset
from powertrain.accel.model import EnergyEstimate, LayerEnergy, estimate_energy
from powertrain.accel.spec import ZERO_THRESHOLDS, AcceleratorSpec

__all__ = [
    "ZERO_THRESHOLDS",
    "AcceleratorSpec",
    "DatasetEnergyEstimate",
    "EnergyAccumulator",
    "EnergyEstimate",
    "LayerEnergy",
    "estimate_dataset",
    "estimate_energy",
]
