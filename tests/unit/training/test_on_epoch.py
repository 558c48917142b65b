"""The epoch callback of train(): it sees every finished epoch, and True stops the run as "pruned"."""

import json

from powertrain.training import RunDir, train


def test_on_epoch_sees_each_checkpointed_epoch_and_true_prunes(small_config):
    seen = []

    def on_epoch(record, totals):
        seen.append((record.epoch, record.energy_j, totals.energy_j))
        return len(seen) == 2

    result = train(small_config(epochs=5, estimate_batch_size=0), on_epoch=on_epoch)
    assert result.status == "pruned"
    assert len(seen) == 2 and len(result.history) == 2  # stopped right after the second epoch
    assert seen[-1][1] == result.history[-1].energy_j == seen[-1][2]  # the record's running total is the run's
    run = RunDir(result.run_dir)
    summary = json.loads(run.summary_path.read_text())
    assert summary["status"] == "pruned" and summary["final"] is True
    assert summary["epochs_completed"] == 2 and summary["energy"]["total_j"] == result.history[-1].energy_j
    assert len(run.read_metrics()) == 2 and run.model_path.exists()
    # a pruned run can still be continued with more epochs: nothing is counted twice
    more = train(small_config(epochs=3, estimate_batch_size=0), resume=result.run_dir)
    assert more.status == "completed" and len(more.history) == 3
    assert more.history[1].energy_j == result.history[-1].energy_j


def test_on_epoch_returning_none_or_false_keeps_training(small_config):
    calls = []
    result = train(small_config(epochs=2, estimate_batch_size=0), on_epoch=lambda r, t: calls.append(r) or None)
    assert result.status == "completed" and len(calls) == 2


def test_on_epoch_is_not_called_for_the_epoch_that_ends_the_run(small_config):
    calls = []
    config = small_config(epochs=4, estimate_batch_size=0, target_accuracy=0.01, stop_at_target=True)
    result = train(config, on_epoch=lambda r, t: calls.append(r))
    assert result.status == "reached_target" and calls == []
