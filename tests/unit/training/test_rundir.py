import json
import math

import pytest
import torch

from powertrain.errors import ConfigError
from powertrain.training import EpochRecord, RunDir


def _record(epoch: int, energy_j: float) -> EpochRecord:
    return EpochRecord(
        epoch=epoch, complete=True, train_loss=1.0, train_accuracy=0.5, val_loss=1.1, val_accuracy=0.4 + epoch / 10,
        lr=0.1, train_energy_j=energy_j, eval_energy_j=1.0, energy_j=(energy_j + 1.0) * (epoch + 1), train_time_s=2.0,
        eval_time_s=0.5, elapsed_s=2.5 * (epoch + 1), avg_power_w=4.0, images_per_s=100.0, eat_density=float("nan"),
        energy_source="estimated",
    )  # fmt: skip


def test_metrics_csv_has_one_row_per_epoch_and_round_trips(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create()
    run.write_metrics([_record(0, 10.0), _record(1, 12.0)])
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert float(rows[1]["train_energy_j"]) == 12.0
    assert rows[0]["eat_density"] == ""  # NaN is written as an empty field
    assert list(rows[0]) == EpochRecord.columns()


def test_metrics_csv_keeps_every_bit_of_small_figures(tmp_path):
    # a tiny run's joules (0.0425125211 J) must read back as the trackers and summary.json got them, not rounded to
    # six decimals (a 1e-5 relative error there once made the tracker tests fail on a fast machine)
    run = RunDir(tmp_path / "run")
    run.create()
    tiny = 0.042512521147727966
    run.write_metrics([_record(0, tiny)])
    assert float(run.read_metrics()[0]["train_energy_j"]) == tiny


def test_checkpoint_round_trips_with_weights_only(tmp_path):
    run = RunDir(tmp_path)
    state = {"epoch": 2, "model": {"w": torch.ones(3)}, "rng": {"python": (3, (1, 2), None)}, "history": []}
    run.save_checkpoint(state)
    loaded = run.load_checkpoint()
    assert loaded["epoch"] == 2 and torch.equal(loaded["model"]["w"], torch.ones(3))


def test_summary_writes_nan_as_null(tmp_path):
    run = RunDir(tmp_path)
    run.write_summary({"a": float("nan"), "b": [1.0, float("inf")]})
    assert json.loads(run.summary_path.read_text()) == {"a": None, "b": [1.0, None]}


def test_create_refuses_a_directory_holding_a_run(tmp_path):
    run = RunDir(tmp_path)
    run.create()
    run.write_summary({"status": "completed"})
    with pytest.raises(ConfigError, match="already holds a run; continue it with --resume"):
        RunDir(tmp_path).create()


def test_heartbeat_and_missing_files(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_heartbeat() is None
    run.write_heartbeat(epoch=3, energy_j=5.5, duration_s=1.0)
    assert run.read_heartbeat() == {
        "epoch": 3, "energy_j": 5.5, "duration_s": 1.0, "by_device_j": {}, "machine_energy_j": 5.5
    }  # fmt: skip  (a heartbeat without the machine's figure was written before attribution: machine-wide)
    run.heartbeat_path.write_text("{half")  # torn file: ignored, not fatal
    assert run.read_heartbeat() is None
    with pytest.raises(ConfigError, match="not a powertrain run directory"):
        run.read_config()
    with pytest.raises(ConfigError, match="no checkpoint.pt"):
        run.load_checkpoint()


def test_no_temporary_files_left_behind(tmp_path):
    run = RunDir(tmp_path)
    run.write_metrics([_record(0, 1.0)])
    run.write_summary({"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "summary.json"]
    assert math.isclose(float(run.read_metrics()[0]["energy_j"]), 2.0)
