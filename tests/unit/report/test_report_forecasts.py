"""The report's forecast views: each epoch's forecast against what the run did, pruned setups in the heatmap (what
they reached and where they were heading), EAT's accuracy against the accelerator energy ratio."""

from __future__ import annotations

import json

from powertrain.report import build_report
from powertrain.report._model import Trial
from powertrain.report._plots_runs import format_energy
from powertrain.report._plots_studies import _pruned_text
from powertrain.training import TrainConfig, train


def test_a_run_with_forecasts_gets_the_forecast_against_what_happened(tmp_path):
    config = TrainConfig(dataset="synthetic", model="mlp", epochs=3, batch_size=32, lr=0.05, device="cpu", image_size=8,
                         channels=1, dataset_options={"num_classes": 4, "train_size": 128, "test_size": 64},
                         estimate_batch_size=0, target_accuracy=0.999, meter_interval_s=0.05,
                         out=str(tmp_path / "run"))  # fmt: skip
    run = train(config)
    assert len(json.loads((run.run_dir / "summary.json").read_text())["forecasts"]) == 3
    result = build_report([run.run_dir], out=tmp_path / "report")
    titles = {p.title for s in result.sections for p in s.plots}
    assert "Forecast after each epoch against what happened" in titles


def test_a_pruned_cell_says_what_the_setup_reached_and_where_it_was_heading():
    base = dict(name="lr=0.1", status="pruned", params={}, final_accuracy=0.61, energy_j=50.0, spent_j=50.0,
                energy_to_target_j=None, duration_s=5.0, hardware="cpu", curve=[(1, 50.0, 5.0, 0.61)])  # fmt: skip
    forecast = {"reached": False, "probability": 0.4, "energy_j": {"median": 412.0, "low": 300.0, "high": None}}
    heading = f"-> {format_energy(412.0)}, 40% likely"
    assert _pruned_text(Trial(**base, extra={"forecast": forecast})) == f"pruned at 61.0%\n{heading}"
    assert _pruned_text(Trial(**base)) == "pruned at 61.0%"
    hopeless = {**forecast, "probability": 0.0, "energy_j": {"median": None, "low": None, "high": None}}
    assert _pruned_text(Trial(**base, extra={"forecast": hopeless})) == "pruned at 61.0%\n-> unlikely"


def test_an_eat_study_plots_accuracy_against_the_accelerator_energy_ratio(full_report):
    eat = next(s for s in full_report.sections if "EAT" in s.title)
    titles = [p.title for p in eat.plots]
    assert "Accuracy against accelerator energy ratio" in titles and "Accuracy-energy Pareto front" not in titles
