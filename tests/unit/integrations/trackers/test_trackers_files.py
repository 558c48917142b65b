"""TensorBoard event files read back with TensorBoard's own reader; W&B offline run files read back record by record."""

from __future__ import annotations

import json

import pytest
from tests.support.scripted_run import scripted_epochs

from powertrain.integrations.trackers import RunInfo, Trackers, tracker_metrics


def _accumulator(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_tensorboard_scalars_params_and_summary_in_the_run_folder(tmp_path):
    pytest.importorskip("tensorboard", reason="the trackers extra is not installed: run `make test`")
    epochs, summary, path = scripted_epochs(tmp_path)
    info = RunInfo(name="a", key="a", params={"lr": 0.1, "model": "lenet5"}, folder=tmp_path)
    with Trackers.start(["tensorboard"], info) as trackers:
        for figures in epochs:
            trackers.log_metrics(tracker_metrics(figures), step=figures["epoch"])
        trackers.log_artifact(path)
    acc = _accumulator(tmp_path / "tensorboard")
    scalars = [(e.step, e.value) for e in acc.Scalars("energy/total_j")]
    assert scalars == [(e["epoch"], pytest.approx(e["energy_j"])) for e in epochs]
    assert [e.value for e in acc.Scalars("energy/to_target_j")] == [600.0]
    texts = {tag: acc.Tensors(tag)[-1].tensor_proto.string_val[0].decode() for tag in acc.Tags()["tensors"]
             if tag.endswith("text_summary")}  # fmt: skip
    assert "| lr | 0.1 |" in texts["params/text_summary"]
    assert json.loads((tmp_path / "tensorboard" / "artifacts" / "summary.json").read_text()) == json.loads(
        path.read_text()
    )
    assert '"energy_j": 600.0' in texts["artifacts/summary.json/text_summary"]
    assert texts["status/text_summary"] == "completed"


def test_tensorboard_sweep_trials_are_sub_folders_and_a_retry_adds_to_the_same_curve(tmp_path):
    pytest.importorskip("tensorboard", reason="the trackers extra is not installed: run `make test`")
    epochs, _, _ = scripted_epochs(tmp_path)
    sweep = Trackers.start([f"tensorboard:{tmp_path / 'tb'}"], RunInfo(name="grid", key="study:grid", kind="sweep"))
    for attempt in (epochs[:2], epochs[2:]):  # a retried trial continues where the first attempt stopped
        with sweep.child(RunInfo(name="trial 0", key="runs/trial-0", kind="trial", params={"lr": 0.1})) as child:
            for figures in attempt:
                child.log_metrics(tracker_metrics(figures), step=figures["epoch"])
    sweep.finish()
    acc = _accumulator(tmp_path / "tb" / "trial-0")
    assert [(e.step, e.value) for e in acc.Scalars("energy/epoch_j")] == [(1, 200.0), (2, 200.0), (3, 200.0)]


def test_wandb_offline_run_files_hold_config_epoch_metrics_group_and_summary(wandb_offline, tmp_path):
    from tests.support.wandb_records import finished_offline_run

    from powertrain.integrations.trackers._wandb import run_id

    epochs, summary, path = scripted_epochs(tmp_path)
    sweep = Trackers.start(["wandb:energy"], RunInfo(name="grid", key="study:grid", kind="sweep"))
    trial_id = run_id("energy", "runs/trial-0")
    attempts = []
    for attempt in (epochs[:2], epochs[2:]):  # a retried trial continues its W&B run (same id, resume="allow")
        with sweep.child(RunInfo(name="trial-0", key="runs/trial-0", kind="trial", params={"lr": 0.1})) as child:
            for figures in attempt:
                child.log_metrics(tracker_metrics(figures), step=figures["epoch"])
            child.log_artifact(path)
        file, run = finished_offline_run(wandb_offline, trial_id)
        attempts.append(run)
        file.unlink()  # keep the attempts apart (a second attempt within the same second goes to a '-1' folder)
    sweep.finish()
    first = attempts[0]
    assert (first.project, first.group, first.name, first.job_type) == ("energy", "grid", "trial-0", "trial")
    assert first.config["lr"] == 0.1 and first.exit_code == 0 and "summary.json" in first.files
    assert {a.run_id for a in attempts} == {trial_id}
    rows = [r for a in attempts for r in a.history if "energy/total_j" in r]
    assert [(r["epoch"], r["energy/total_j"]) for r in rows] == [(e["epoch"], e["energy_j"]) for e in epochs]
    assert attempts[1].summary["energy/to_target_j"] == summary["target"]["energy_to_target_j"]
    _, parent = finished_offline_run(wandb_offline, run_id("energy", "study:grid"))
    assert (parent.group, parent.job_type) == ("grid", "sweep")
