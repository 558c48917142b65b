"""Chained windows, finish(), and the bound on window edges waiting for a sample."""

from __future__ import annotations

import pytest

from powertrain.meters import EnergyMeter
from powertrain.meters.testing import FakeClock, ScriptedCounterSensor, ScriptedPowerSensor


def test_chained_windows_sum_to_the_whole_with_the_real_clock():
    # a real clock advances between one window's end and the next one's begin; chaining shares the edge
    sensor = ScriptedPowerSensor([100.0])
    with EnergyMeter([sensor], sample_period_s=None) as meter:
        whole = meter.begin("whole")
        chained, loose, w = [], [], None
        for _ in range(300):
            with meter.window("step", after=w) as w:
                pass
            chained.append(w)
        meter.sample()
        for _ in range(300):
            with meter.window("loose") as lw:
                pass
            loose.append(lw)
        last = meter.finish("whole")
        meter.sample()
    assert chained[0].start_s > whole.start_s
    for a, b in zip(chained, chained[1:], strict=False):
        assert b.start_s == a.end_s
    span = chained[-1].end_s - chained[0].start_s
    assert sum(x.measurement.duration_s for x in chained) == pytest.approx(span, rel=1e-12, abs=1e-15)
    assert sum(x.measurement.energy_j for x in chained) == pytest.approx(100.0 * span, rel=1e-9)
    loose_span = loose[-1].end_s - loose[0].start_s
    assert sum(x.measurement.duration_s for x in loose) < loose_span  # the gaps the chain closes
    assert last is whole and whole.measurement.energy_j > 0


def test_chaining_needs_an_ended_window_of_the_same_meter():
    clock = FakeClock()
    with EnergyMeter([ScriptedPowerSensor([1.0], clock=clock)], sample_period_s=None, clock=clock) as meter:
        w = meter.begin("a")
        with pytest.raises(ValueError, match="still open"):
            meter.begin("b", after=w)
        meter.finish("a")
        with EnergyMeter([ScriptedPowerSensor([1.0], clock=clock)], sample_period_s=None, clock=clock) as other:
            with pytest.raises(ValueError, match="another EnergyMeter"):
                other.begin("b", after=w)
        clock.advance(2.0)
        b = meter.begin("b", after=w)
        clock.advance(1.0)
        m = meter.end("b")
    assert b.start_s == w.end_s == 0.0 and m.duration_s == 3.0 and m.energy_j == pytest.approx(3.0)


def test_finish_reads_no_sensor_and_end_does():
    clock = FakeClock()
    gpu = ScriptedCounterSensor([0.0, 10.0, 30.0], clock=clock)
    with EnergyMeter([gpu], sample_period_s=None, clock=clock) as meter:
        reads = gpu.reads
        meter.begin("a")
        clock.advance(1.0)
        w = meter.finish("a")
        assert gpu.reads == reads and not w.ready
        meter.begin("b")
        clock.advance(1.0)
        m = meter.end("b")
        assert gpu.reads == reads + 1 and w.ready
    # E(t) is 0 at t=0 and 10 at t=2 (the read end() took), linear between
    assert w.measurement.energy_j == pytest.approx(5.0) and m.energy_j == pytest.approx(5.0)


def test_pending_edges_are_bounded_without_the_sampler():
    clock = FakeClock()
    gpu = ScriptedCounterSensor([float(i) for i in range(1000)], clock=clock)
    with EnergyMeter([gpu], sample_period_s=None, clock=clock, max_pending_edges=50) as meter:
        track = meter._tracks[0]
        reads = gpu.reads
        windows, w = [], None
        for _ in range(1000):
            clock.advance(0.001)
            with meter.window("s", after=w) as w:
                clock.advance(0.001)
            windows.append(w)
            assert len(track.pending) < 50
        assert gpu.reads - reads == 1001 // 50  # 1,001 edges (chained windows share one): a read per 50
        pending = len(track.pending)
        meter.sample()
        assert pending < 50 and not track.pending  # one sample() has at most the bound's edges to pin
    whole = windows[-1].end_s - windows[0].start_s
    assert sum(x.measurement.duration_s for x in windows) == pytest.approx(whole)
