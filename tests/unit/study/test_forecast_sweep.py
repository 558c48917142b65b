"""``pruner: forecast`` in a real (tiny) sweep, one trial after another and in breadth-first rounds: a setup that does
not learn is stopped on its forecast, the results say so and what the forecast was, the best setup is kept."""

import pytest

from powertrain.cli import main
from powertrain.study import load_sweep

CONFIG = """
train:
  dataset: synthetic
  model: mlp
  epochs: 6
  batch_size: 32
  device: cpu
  estimate_batch_size: 0
  image_size: 8
  channels: 1
  meter_interval_s: 0.02
  target_accuracy: 0.9
  stop_at_target: true
  dataset_options: {num_classes: 4, train_size: 256, test_size: 128}
trials:                 # in this order (a trial list keeps it): no best is known while "stuck" runs
  - {name: stuck, lr: 0.0000001}
  - {name: learns, lr: 0.2}
pruner: {name: forecast, risk: 0.2}
"""


@pytest.mark.parametrize("rounds", [None, 1])
def test_a_setup_that_does_not_learn_is_stopped_on_its_forecast(tmp_path, capsys, rounds):
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG + (f"round_epochs: {rounds}\n" if rounds else ""))
    out = tmp_path / "study"
    assert main(["sweep", "run", str(path), "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    result = load_sweep(out)
    final = {t.get("run_name"): t for t in result.trials if t.state in ("complete", "pruned")}
    assert final["learns"].state == "complete" and final["learns"].get("energy_to_target_j") is not None
    stuck = final["stuck"]
    assert stuck.state == "pruned" and len(stuck.get("curve")) < 6
    decision = stuck.get("pruned_on_forecast")
    assert decision["rule"] in ("not likely to reach the target", "forecast above the best energy-to-target")
    assert decision["forecast"]["probability"] < 0.2 or decision["probability"] < 0.2
    assert "stopped on a forecast: stuck" in printed
    exported = {t["run_name"]: t for t in result.to_dict()["trials"] if t["state"] == "pruned"}
    assert exported["stuck"]["pruned_on_forecast"]["rule"] == decision["rule"]
    assert exported["stuck"]["forecast"]["epochs_seen"] == len(stuck.get("curve"))
