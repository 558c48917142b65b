"""The meter's private series and tracks: interpolation, trimming, stale counter readings."""

from __future__ import annotations

import pytest

from powertrain.meters._timeline import Boundary, Series, Track
from powertrain.meters.base import Reading
from powertrain.meters.testing import ScriptedCounterSensor


def test_series_interpolates_and_clamps():
    series = Series(max_points=100)
    assert series.value_at(3.0) == 0.0
    for t, e in [(1.0, 0.0), (2.0, 10.0), (4.0, 50.0)]:
        series.append(t, e)
    assert series.value_at(0.0) == 0.0
    assert series.value_at(1.5) == pytest.approx(5.0)
    assert series.value_at(3.0) == pytest.approx(30.0)
    assert series.value_at(9.0) == 50.0
    assert series.count_between(1.0, 4.0) == 1
    assert list(series.knots_between(0.0, 5.0)) == [1.0, 2.0, 4.0]


def test_trim_keeps_the_newest_knot_and_exact_values_at_kept_knots():
    series = Series(max_points=10)
    for i in range(11):
        series.append(float(i), float(i * i))
    series.trim()
    assert len(series) <= 10
    assert series.t[-1] == 10.0 and series.e[-1] == 100.0
    assert all(e == t * t for t, e in zip(series.t, series.e, strict=True))


def test_series_ignores_a_clock_that_goes_backwards():
    series = Series(max_points=10)
    series.append(2.0, 1.0)
    series.append(1.0, 3.0)
    assert list(series.t) == [2.0, 2.0]


def test_track_skips_unchanged_counter_readings_until_they_are_stale():
    track = Track(ScriptedCounterSensor([0.0]), max_points=100)
    assert track.add(0.0, Reading(0.0, energy_j=7.0), skip_stale_s=1.0) == (True, None)
    assert track.add(0.1, Reading(0.1, energy_j=7.0), skip_stale_s=1.0)[0] is False  # not updated yet
    assert track.add(0.2, Reading(0.2, energy_j=9.0), skip_stale_s=1.0)[0] is True
    assert track.add(1.5, Reading(1.5, energy_j=9.0), skip_stale_s=1.0)[0] is True  # stale: keep it
    assert track.add(1.6, Reading(1.6, energy_j=9.0), skip_stale_s=None)[0] is True  # forced samples always count
    assert list(track.series.e) == [0.0, 2.0, 2.0, 2.0]


def test_track_pins_boundaries_once_covered():
    track = Track(ScriptedCounterSensor([0.0]), max_points=100)
    track.add(0.0, Reading(0.0, energy_j=0.0), skip_stale_s=None)
    boundary = Boundary(0.5, waiting=1)
    track.pending.append(boundary)
    track.add(0.4, Reading(0.4, energy_j=4.0), skip_stale_s=None)
    assert not boundary.pinned
    track.add(1.0, Reading(1.0, energy_j=10.0), skip_stale_s=None)
    assert boundary.pinned and boundary.values["gpu:0"][0] == pytest.approx(5.0)
    assert track.pending == []
