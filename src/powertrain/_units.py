"""Human-readable units for the tables and live lines (the JSON keeps plain joules)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["format_joules"]


def format_joules(value: Any) -> str:
    """Joules as J, kJ from 1 kJ, kWh from 1 kWh; ``-`` for a missing or non-finite value."""
    if value is None:
        return "-"
    energy_j = float(value)
    if not math.isfinite(energy_j):
        return "-"
    if abs(energy_j) >= 3.6e6:
        return f"{energy_j / 3.6e6:.3f} kWh"
    if abs(energy_j) >= 1e3:
        return f"{energy_j / 1e3:.2f} kJ"
    return f"{energy_j:.1f} J"
