"""powertrain: measure, predict and cut the energy of training and running deep networks in PyTorch.

Measure the energy of any block of code::

    from powertrain import EnergyMeter

    with EnergyMeter() as meter:
        with meter.window("train") as w:
            train()
    print(w.measurement.energy_j, w.measurement.energy_by_device_j)

Train a model and account for its energy per epoch, to a target accuracy, resumably::

    from powertrain import TrainConfig, train

    result = train(TrainConfig(dataset="fashion-mnist", model="lenet5", epochs=2, target_accuracy=0.85))
    result.summary["energy_to_target_j"], result.history[-1].val_accuracy

Make activations sparse with EAT's penalty and estimate the inference energy a zero-skipping accelerator saves:
``TrainConfig(eat_lambda=1.0)``, :class:`powertrain.sparsity.EATPenalty` in any loop, and
:func:`powertrain.accel.estimate_energy`.

Sweep hyperparameters for the fewest joules to a target accuracy, on Optuna (one machine or many)::

    result = powertrain.sweep("examples/sweeps/lr-batch-grid.yaml")
    result.best.get("energy_to_target_j"), result.spread["ratio"], result.energy["total_j"]

From the shell: ``powertrain measure -- python train.py``, ``powertrain info``, ``powertrain train``,
``powertrain estimate RUN_DIR`` and ``powertrain demo``.

Every error powertrain raises on purpose derives from :class:`powertrain.errors.PowertrainError` and
says how to fix the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from powertrain._lazy import lazy_exports

if TYPE_CHECKING:
    from powertrain.meters import EnergyMeter, Measurement
    from powertrain.study import sweep
    from powertrain.training import TrainConfig, TrainResult, train

__all__ = ["EnergyMeter", "Measurement", "TrainConfig", "TrainResult", "sweep", "train"]

# Imported on first use, so that `import powertrain` (and the CLI's fast commands) does not load torch.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EnergyMeter": "powertrain.meters",
        "Measurement": "powertrain.meters",
        "TrainConfig": "powertrain.training",
        "TrainResult": "powertrain.training",
        "train": "powertrain.training",
        "sweep": "powertrain.study",
    },
    globals(),
)
