"""CO2e of a run measured by an integration: powertrain.carbon's tables, or the user's own function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from powertrain.errors import ConfigError

if TYPE_CHECKING:
    from powertrain.carbon import CarbonSettings

__all__ = ["Carbon", "CarbonAccount", "CarbonHook"]

CarbonHook = Callable[[float, float], Mapping[str, Any]]
"""``(energy_j, duration_s) -> figures`` such as ``{"co2e_kg": ...}``: the user's own emission model."""

Carbon = Union["CarbonSettings", CarbonHook, bool, None]
"""What the integrations accept as ``carbon=``: True (powertrain.carbon's defaults: world-average grid intensity,
industry-average PUE), a :class:`~powertrain.carbon.CarbonSettings` (country, cloud region, PUE, intensity), a
:data:`CarbonHook`, or False/None (no CO2e)."""


class CarbonAccount:
    """Operational CO2e for log lines and the carbon block of the summary.

    Log lines get ``co2e_kg``: the operational emissions (energy x PUE x grid intensity) of the energy so far. The
    summary gets powertrain.carbon's footprint (operational and embodied, separate, each with its provenance), its
    embodied share summed over every host of the job; with a hook, whatever the hook returns.

    Raises:
        ConfigError: ``carbon`` is none of the accepted kinds, or its settings are invalid (unknown country...).
    """

    def __init__(self, carbon: Carbon) -> None:
        self.hook: CarbonHook | None = None
        self.settings: CarbonSettings | None = None
        if carbon is None or carbon is False:
            return
        if callable(carbon) and not isinstance(carbon, bool):
            self.hook = carbon
            return
        from powertrain.carbon import CarbonSettings

        if carbon is True:
            self.settings = CarbonSettings().validate()
        elif isinstance(carbon, CarbonSettings):
            self.settings = carbon.validate()
        else:
            raise ConfigError(f"carbon must be True/False, a CarbonSettings or a function, not {carbon!r}")

    @property
    def enabled(self) -> bool:
        """Whether CO2e is computed at all."""
        return self.hook is not None or self.settings is not None

    def figures(self, energy_j: float, duration_s: float) -> dict[str, Any]:
        """The log-line figures of ``energy_j`` joules over ``duration_s`` seconds (``co2e_kg``, ...)."""
        if self.hook is not None:
            return {str(k): v for k, v in self.hook(energy_j, duration_s).items()}
        if self.settings is not None:
            from powertrain.carbon import operational_emissions

            return {"co2e_kg": operational_emissions(energy_j, self.settings)["kg_co2e"]}
        return {}

    def summary(
        self,
        energy_j: float,
        duration_s: float,
        *,
        hosts: Sequence[Mapping[str, Any]],
        sources: Sequence[str],
        estimated: bool,
    ) -> dict[str, Any] | None:
        """The summary's ``carbon`` block (None when disabled).

        Args:
            energy_j: The whole job's energy.
            duration_s: Its wall time.
            hosts: The hardware tag of every distinct host of the job (rank 0's first).
            sources: The energy sources (``counter``, ``integrated``, ``estimated``).
            estimated: Whether any part of the energy is estimated.
        """
        if self.hook is not None:
            return self.figures(energy_j, duration_s)
        if self.settings is None:
            return None
        from powertrain.carbon import carbon_footprint, embodied_emissions, energy_provenance

        footprint = carbon_footprint(
            energy_j=energy_j,
            duration_s=duration_s,
            hardware=hosts[0] if hosts else {},
            settings=self.settings,
            energy_provenance=energy_provenance(sources, estimated=estimated),
        )
        if len(hosts) > 1:
            per_host = [embodied_emissions(hw, duration_s) for hw in hosts]
            footprint["embodied"] = {
                "kg_co2e": sum(e["kg_co2e"] for e in per_host),
                "duration_s": duration_s,
                "hosts": [{"hostname": hw.get("hostname"), **e} for hw, e in zip(hosts, per_host, strict=True)],
                "method": per_host[0]["method"] + "; summed over the job's hosts",
            }
            footprint["embodied_kg_co2e"] = footprint["embodied"]["kg_co2e"]
        return {"co2e_kg": footprint["operational_kg_co2e"], **footprint}
