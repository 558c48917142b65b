"""powertrain inside other people's training code: Lightning, Hugging Face, Optuna, hand-written and DDP loops.

- :class:`powertrain.integrations.lightning.EnergyCallback` and ``EATCallback`` / ``EATMixin`` (needs the
  ``lightning`` extra);
- :class:`powertrain.integrations.huggingface.EnergyCallback`, a ``transformers.TrainerCallback`` (the
  ``huggingface`` extra);
- :mod:`powertrain.integrations.optuna`: energy per trial as user attributes, and the energy-aware pruner;
- :class:`EnergyTracker`: the framework-neutral bookkeeping under both callbacks, for any loop, including
  ``torchrun`` jobs where each rank measures only the devices it owns (:mod:`powertrain.integrations.distributed`).

Importing this package imports neither Lightning nor transformers; each submodule imports its library and
raises :class:`~powertrain.errors.ConfigError` with the ``pip install`` line when it is missing. Quickstarts:
docs/integrations.md.
"""

from typing import TYPE_CHECKING

from powertrain._lazy import lazy_exports

if TYPE_CHECKING:
    from powertrain.integrations._carbon import Carbon, CarbonHook
    from powertrain.integrations.distributed import claim_sensors, host_id, sensor_identity
    from powertrain.integrations.tracker import EnergyTracker, Segment

__all__ = ["Carbon", "CarbonHook", "EnergyTracker", "Segment", "claim_sensors", "host_id", "sensor_identity"]

# imported on first use: `powertrain.integrations.prometheus` (served by `measure --serve`) and the trackers need none
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Carbon": "powertrain.integrations._carbon",
        "CarbonHook": "powertrain.integrations._carbon",
        "claim_sensors": "powertrain.integrations.distributed",
        "host_id": "powertrain.integrations.distributed",
        "sensor_identity": "powertrain.integrations.distributed",
        "EnergyTracker": "powertrain.integrations.tracker",
        "Segment": "powertrain.integrations.tracker",
    },
    globals(),
)
