"""The one formatter of joules that every table and live line uses."""

import math

import pytest

from powertrain._units import format_joules


@pytest.mark.parametrize(
    ("joules", "text"),
    [(None, "-"), (math.nan, "-"), (math.inf, "-"), (0.0, "0.0 J"), (999.94, "999.9 J"), (1000.0, "1.00 kJ"),
     (1258.0, "1.26 kJ"), (3.6e6, "1.000 kWh"), (36e6, "10.000 kWh")],
)  # fmt: skip
def test_format_joules_picks_the_unit_and_hides_missing_values(joules, text):
    assert format_joules(joules) == text
