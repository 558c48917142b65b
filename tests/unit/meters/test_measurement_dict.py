"""Measurement JSON round trip."""

from __future__ import annotations

import json

import pytest

from powertrain.meters import EnergyMeter, Measurement
from powertrain.meters.testing import FakeClock, ScriptedCounterSensor, ScriptedPowerSensor


def test_to_dict_and_from_dict_round_trip_through_json():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 100.0 * t, clock=clock, fail_after=3)
    cpu = ScriptedPowerSensor([10.0, 30.0], clock=clock, device="cpu:estimate", component="cpu", source="estimated")
    with EnergyMeter([gpu, cpu], sample_period_s=None, clock=clock) as meter:
        with meter.window("epoch-1") as w:
            for _ in range(4):
                clock.advance(0.5)
                meter.sample()
    original = w.measurement
    assert original.failed_sensors and original.timeline and original.estimated
    data = json.loads(json.dumps(original.to_dict()))
    assert isinstance(data["timeline"], list) and isinstance(data["total_includes"], list)
    assert Measurement.from_dict(data) == original


def test_from_dict_rejects_a_foreign_dict():
    with pytest.raises(ValueError, match="missing"):
        Measurement.from_dict({"name": "x"})
