"""The per-epoch forecasts a run keeps for its live line and summary.json, and what a resume reuses."""

import math

from powertrain.training.forecasts import RunForecasts
from powertrain.training.rundir import EpochRecord


def _record(epoch, accuracy, energy_j):
    return EpochRecord(epoch=epoch, complete=True, train_loss=0.5, train_accuracy=accuracy, val_loss=0.5,
                       val_accuracy=accuracy, lr=0.01, train_energy_j=energy_j * 0.9, eval_energy_j=energy_j * 0.1,
                       energy_j=energy_j, train_time_s=1.0, eval_time_s=0.1, elapsed_s=1.1 * epoch, avg_power_w=10.0,
                       images_per_s=100.0, eat_density=math.nan, energy_source="cpu:estimate")  # fmt: skip


def test_one_forecast_per_epoch_made_from_the_epochs_up_to_it_and_reused_on_resume():
    history = [_record(1, 0.70, 100.0), _record(2, 0.78, 200.0), _record(3, 0.82, 300.0)]
    forecasts = RunForecasts(0.85, 10, stop_at_target=True)
    latest = forecasts.update(history[:1])
    assert latest is not None and latest.epochs_seen == 1
    forecasts.update(history)
    made = forecasts.to_list()
    assert [f["epochs_seen"] for f in made] == [1, 2, 3]
    assert made[2]["energy_j"]["median"] > 300.0 and 0.0 < made[2]["probability"] <= 1.0
    again = RunForecasts(0.85, 10, stop_at_target=True, saved=made[:2])  # a resumed run: epochs 1-2 were saved
    again.made[0]["marker"] = True
    again.update(history)
    assert [f["epochs_seen"] for f in again.to_list()] == [1, 2, 3] and again.to_list()[0]["marker"]
    assert RunForecasts(0.85, 12, saved=made).to_list() == []  # other planned epochs: made again


def test_no_target_no_forecast_and_a_diverged_epoch_is_skipped_not_raised():
    assert RunForecasts(None, 5).update([_record(1, 0.5, 1.0)]) is None
    forecasts = RunForecasts(0.9, 5)
    assert forecasts.update([_record(1, float("nan"), 1.0)]) is None
    assert forecasts.to_list() == [{"epochs_seen": 1, "skipped": "no finite validation accuracy"}]
