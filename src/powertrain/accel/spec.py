"""The hardware constants of the zero-skipping accelerator model, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from powertrain.errors import ConfigError

__all__ = ["ZERO_THRESHOLDS", "AcceleratorSpec"]

#: Smallest magnitude that counts as nonzero, by bit width (the Sponge Examples code's
#: ``bitwidth_to_minvalue``): 2^-126 is the smallest normal float32.
ZERO_THRESHOLDS: dict[int, float] = {32: 2.0**-126, 16: 2.0**-30, 8: 2.0**-14}


@dataclass(frozen=True)
class AcceleratorSpec:
    """An ASIC that may skip zeros, as modelled by Shumailov et al. (Sponge Examples, EuroS&P 2021).

    Energy of a forward pass in pJ: ``dram_pj_per_access * (W + A_in + A_out) + op_pj * ops * f``, where W
    counts weight (parameter and buffer) reads and A_in/A_out activation reads and writes, each value one
    DRAM access. On *dense* hardware W and A are totals and f = 1; on this *zero-skipping* hardware the
    ``compress_*`` flags make W and A count only nonzero values, and the ``skip_*`` flags scale the operations
    by the nonzero fraction of the weights and of the input activations. The dense reference always has every
    flag off.

    Defaults are the reference model's: 45 nm figures from Horowitz, "Computing's energy problem (and what we
    can do about it)", ISSCC 2014: 1950 pJ per 32-bit DRAM access (the reference code's
    ``ASICModel.memory_cost``) and 3.7 pJ per 32-bit float multiply (``compute_cost``), every operation costing
    the same. Override any field with :func:`dataclasses.replace` or the constructor.

    Attributes:
        name: A label carried into results.
        dram_pj_per_access: Energy of one DRAM read or write of one value, pJ.
        op_pj: Energy of one arithmetic operation, pJ.
        bits: Bit width of the values (informational, and the key of :data:`ZERO_THRESHOLDS`).
        zero_threshold: A value counts as nonzero when ``abs(x) > zero_threshold``.
        compress_zero_weights: Zero weights are not read from memory.
        compress_zero_activations: Zero activations are not read or written.
        skip_zero_weights: Operations on zero weights are skipped.
        skip_zero_activations: Operations on zero input activations are skipped.
    """

    name: str = "asic-45nm-fp32"
    dram_pj_per_access: float = 1950.0
    op_pj: float = 3.7
    bits: int = 32
    zero_threshold: float = ZERO_THRESHOLDS[32]
    compress_zero_weights: bool = True
    compress_zero_activations: bool = True
    skip_zero_weights: bool = True
    skip_zero_activations: bool = True

    def __post_init__(self) -> None:
        for field in ("dram_pj_per_access", "op_pj"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"AcceleratorSpec.{field} must be a finite number >= 0 (pJ), not {value!r}")
        t = self.zero_threshold
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
            raise ConfigError(f"AcceleratorSpec.zero_threshold must be a finite number >= 0, not {t!r}")

    @classmethod
    def for_bits(cls, bits: int, **overrides: Any) -> AcceleratorSpec:
        """The reference spec with the zero threshold of ``bits``-bit values (32, 16 or 8).

        As in the reference code only the threshold changes; pass ``op_pj`` / ``dram_pj_per_access`` to
        model narrower arithmetic (Horowitz 2014 lists e.g. 1.1 pJ for a 16-bit float multiply).

        Raises:
            ConfigError: ``bits`` is not 32, 16 or 8.
        """
        if bits not in ZERO_THRESHOLDS:
            raise ConfigError(f"bits must be one of {sorted(ZERO_THRESHOLDS)}, not {bits!r}")
        fields: dict[str, Any] = {"name": f"asic-45nm-{bits}bit", "bits": bits, "zero_threshold": ZERO_THRESHOLDS[bits]}
        fields.update(overrides)
        return cls(**fields)

    def dense(self) -> AcceleratorSpec:
        """The same hardware without any zero skipping (the ratio's denominator)."""
        return dataclasses.replace(
            self,
            compress_zero_weights=False,
            compress_zero_activations=False,
            skip_zero_weights=False,
            skip_zero_activations=False,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)
