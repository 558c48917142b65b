"""Energy-to-target forecasts on curves whose future is known: synthetic learning curves, exact energies."""

import json
import math

import numpy as np
import pytest

from powertrain.forecast import (
    TAIL_SCALE,
    Forecast,
    Interval,
    calibrated_tail,
    estimate_from_steps,
    forecast,
    sample_curves,
    sample_epoch_costs,
)


def _power_curve(a, b, c, epochs, *, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1)
    return np.clip(a - b * t**-c + noise * rng.standard_normal(epochs), 0, 1)


def test_a_run_that_reached_the_target_has_its_measured_figures():
    f = forecast([0.80, 0.86, 0.87], [100.0, 200.0, 300.0], target_accuracy=0.85, planned_epochs=10,
                 elapsed_s=[10.0, 20.0, 30.0])  # fmt: skip
    assert f.reached and f.probability == 1.0
    assert (f.epoch.median, f.energy_j.median, f.time_s.median) == (2.0, 200.0, 20.0)
    assert f.energy_j.low == f.energy_j.high == 200.0
    assert "reached at epoch 2" in f.line()


def test_a_rising_curve_is_forecast_to_reach_the_target_where_it_really_does():
    truth = _power_curve(0.92, 0.12, 0.8, 12, noise=0.002)
    target = 0.893
    true_epoch = int(np.argmax(truth >= target)) + 1
    assert 4 < true_epoch < 12
    energy = [100.0 * e for e in range(1, 13)]
    f = forecast(truth[:3], energy[:3], target_accuracy=target, planned_epochs=12)
    assert not f.reached and f.probability > 0.5
    assert f.epoch.low <= true_epoch <= f.epoch.high
    assert f.energy_j.low <= 100.0 * true_epoch <= f.energy_j.high
    assert abs(f.energy_j.median - 100.0 * true_epoch) <= 0.35 * 100.0 * true_epoch


def test_a_flat_curve_far_below_the_target_is_not_likely_to_reach_it():
    f = forecast([0.60, 0.61, 0.605, 0.61, 0.608], [50.0 * e for e in range(1, 6)], target_accuracy=0.9,
                 planned_epochs=10)  # fmt: skip
    assert f.probability < 0.05
    assert math.isinf(f.epoch.median) and math.isinf(f.energy_j.high)
    assert "not likely" in f.line()


def test_a_falling_curve_is_less_likely_to_reach_the_target_than_a_rising_one():
    rising = forecast([0.80, 0.82, 0.83, 0.835], [1.0, 2.0, 3.0, 4.0], target_accuracy=0.85, planned_epochs=12)
    falling = forecast([0.83, 0.835, 0.83, 0.82], [1.0, 2.0, 3.0, 4.0], target_accuracy=0.85, planned_epochs=12)
    assert falling.probability < rising.probability


def test_a_higher_target_is_less_likely_and_costs_more():
    acc, energy = [0.70, 0.78, 0.81], [100.0, 200.0, 300.0]
    low = forecast(acc, energy, target_accuracy=0.83, planned_epochs=20)
    high = forecast(acc, energy, target_accuracy=0.86, planned_epochs=20)
    assert high.probability <= low.probability
    assert high.energy_j.median >= low.energy_j.median


def test_the_first_epochs_extra_cost_is_not_carried_into_later_epochs():
    """Epoch 1 cost 180 J (warm-up), the next ones 100 J: the run's forecast counts 100 J per coming epoch."""
    f = forecast([0.5, 0.6, 0.65], [180.0, 280.0, 380.0], target_accuracy=0.99, planned_epochs=10, stop_at_target=False)
    assert f.run_energy_j.median == pytest.approx(380.0 + 7 * 100.0, rel=0.05)
    costs = sample_epoch_costs([180.0, 100.0, 100.0, 100.0], future=5, samples=4000)
    assert np.median(costs) == pytest.approx(100.0, rel=0.03)
    only_first = sample_epoch_costs([180.0], future=5, samples=4000)
    assert np.median(only_first) < 180.0


def test_forecasts_are_reproducible_and_serialise_to_strict_json():
    a = forecast([0.70, 0.75], [10.0, 20.0], target_accuracy=0.9, planned_epochs=6, elapsed_s=[1.0, 2.0])
    b = forecast([0.70, 0.75], [10.0, 20.0], target_accuracy=0.9, planned_epochs=6, elapsed_s=[1.0, 2.0])
    assert a == b
    data = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert set(data) >= {"probability", "epoch", "energy_j", "time_s", "run_energy_j", "model", "epochs_seen"}
    assert data["energy_j"]["high"] is None or data["energy_j"]["high"] >= data["energy_j"]["median"]


def test_intervals_hold_most_curves_of_a_known_process_and_narrow_with_every_epoch_seen():
    """40 synthetic runs (power-law curves with random shapes, noisy measurements), forecast after 2 and 4 epochs.

    The draws' own central 80 % (``tail_scale=1``) is checked here: the shipped calibration (TAIL_SCALE) was fitted on
    recorded LeNet-5 grids, whose curves are noisier than this process's 0.004 (measured: it holds 95 % after 2
    epochs and 55 % after 4 here); the calibrated interval always lies within the draws' own.
    """
    rng = np.random.default_rng(7)
    held, widths = {2: 0, 4: 0}, {2: [], 4: []}
    for i in range(40):
        a, b, c = rng.uniform(0.86, 0.95), rng.uniform(0.1, 0.3), rng.uniform(0.4, 1.5)
        curve = _power_curve(a, b, c, 12, noise=0.004, seed=i)
        target = float(rng.uniform(curve[3] + 0.005, curve[3] + 0.03))
        reached = np.nonzero(curve >= target)[0]
        truth = 10.0 * (reached[0] + 1) if reached.size else math.inf
        for seen in (2, 4):
            f = forecast(curve[:seen], [10.0 * e for e in range(1, seen + 1)], target_accuracy=target,
                         planned_epochs=12)  # fmt: skip
            raw = Interval.of(f.energy_samples_j, 0.8, tail_scale=1.0)
            assert raw.low <= f.energy_j.low <= f.energy_j.high <= raw.high
            held[seen] += raw.low <= truth <= raw.high
            widths[seen].append(min(raw.high, 130.0) - raw.low)
    assert held[2] >= 0.7 * 40 and held[4] >= 0.7 * 40
    assert np.mean(widths[4]) < np.mean(widths[2])


def test_calibrated_intervals_are_the_draws_central_share_given_by_the_tail_scale():
    draws = np.arange(1, 1001, dtype=float)  # the 1st ... 1000th joule: quantiles are exact
    iv = Interval.of(draws, 0.8)
    tail = calibrated_tail(0.1)
    assert tail == pytest.approx(0.1 * TAIL_SCALE)
    assert iv.low == pytest.approx(1000 * tail, abs=1) and iv.high == pytest.approx(1000 * (1 - tail), abs=1)
    raw = Interval.of(draws, 0.8, tail_scale=1.0)
    assert (raw.low, raw.high) == (100.0, 900.0)
    assert calibrated_tail(0.4) < 0.5  # never past the median


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="at least one"):
        forecast([], [], target_accuracy=0.9, planned_epochs=3)
    with pytest.raises(ValueError, match="one accuracy"):
        forecast([0.5, 0.6], [1.0], target_accuracy=0.9, planned_epochs=3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        forecast([55.0], [1.0], target_accuracy=0.9, planned_epochs=3)


def test_a_run_that_used_up_its_epochs_without_reaching_the_target_has_probability_zero():
    f = forecast([0.5, 0.6, 0.7], [1.0, 2.0, 3.0], target_accuracy=0.9, planned_epochs=3)
    assert isinstance(f, Forecast) and f.probability == 0.0 and math.isinf(f.energy_j.median)


def test_sampled_futures_start_after_the_last_epoch_seen():
    s = sample_curves([1, 2, 3], [0.5, 0.6, 0.65], horizon=8, samples=100)
    assert s.epochs.tolist() == [4, 5, 6, 7, 8] and s.accuracy.shape == (100, 5)
    assert ((s.accuracy >= 0) & (s.accuracy <= 1)).all()
    assert sum(s.family_weights.values()) == pytest.approx(1.0)


def test_a_planned_runs_cost_from_its_first_steps_leaves_out_the_warm_up():
    """10 warm-up steps at 5 J each, then 2 x 15 steps at 2 J: the rate comes from the later windows."""
    est = estimate_from_steps([(10, 50.0, 2.0), (15, 30.0, 1.5), (15, 30.0, 1.5)], steps_per_epoch=100, epochs=3,
                              eval_energy_j=20.0, eval_time_s=1.0)  # fmt: skip
    assert est.epoch_energy_j == pytest.approx(2.0 * 100 + 20.0)
    assert est.energy_j[1] == pytest.approx(3 * 220.0)
    assert est.energy_j[0] < est.energy_j[1] < est.energy_j[2]
    assert est.duration_s[1] == pytest.approx(3 * (0.1 * 100 + 1.0))
    assert est.steps_seen == 40
    rough = estimate_from_steps([(10, 50.0, 2.0), (15, 15.0, 1.5), (15, 45.0, 1.5)], steps_per_epoch=100, epochs=3)
    assert rough.energy_j[2] / rough.energy_j[1] > est.energy_j[2] / est.energy_j[1]  # uneven steps: wider
    with pytest.raises(ValueError, match="at least one window"):
        estimate_from_steps([], steps_per_epoch=10, epochs=1)
