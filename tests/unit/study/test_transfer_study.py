"""Transfer and multitask studies on the sweep engine: stages, break-even, per-task energy, rerun, kill, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from tests.support.waiting import DEADLINE_S

from powertrain.cli import main
from powertrain.errors import ConfigError
from powertrain.meters.testing import ScriptedCounterSensor
from powertrain.models import create_model
from powertrain.study import load_sweep, load_transfer_study_config, run_transfer_study
from powertrain.study.engine.results import TrialRecord
from powertrain.study.staged.stage import seed_spread
from powertrain.study.transfer import break_even
from powertrain.training import RunDir

TRAIN = {
    "model": "mlp", "model_options": {"hidden_sizes": [32]}, "image_size": 8, "channels": 1, "epochs": 2,
    "batch_size": 32, "lr": 0.05, "device": "cpu", "estimate_batch_size": 0, "target_accuracy": 0.6,
    "stop_at_target": True, "meter_interval_s": 0.05,
}  # fmt: skip
SYNTH = {"num_classes": 5, "train_size": 160, "test_size": 80}


def write(tmp_path: Path, data: dict, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def figures(name, *, reached, e2t=None, energy=10.0, ok=True):
    """A stage's trial as the engine stores it (only the user attributes a study reads)."""
    attrs = {
        "run_name": name, "run_dir": "/r", "train_status": "completed", "energy_j": energy, "reached_target": reached,
        "energy_to_target_j": e2t, "epochs_completed": 3,
    }  # fmt: skip
    if not ok:
        attrs = {"run_name": name, "run_dir": "/r", "error": "boom"}
    return TrialRecord(0, "complete" if ok else "fail", {"run": name}, [energy] if ok else None, attrs)


def test_break_even_per_seed_and_every_way_there_is_none():
    ft, sc = figures("ft", reached=True, e2t=4.0), figures("sc", reached=True, e2t=14.0)
    assert break_even(30.0, ft, sc) == {"saved_j": 10.0, "break_even_tasks": 3.0, "note": None}
    never = break_even(30.0, figures("ft", reached=False), sc)
    assert never["break_even_tasks"] is None and "never reached the target in 3 epochs: no break-even" in never["note"]
    dearer = break_even(30.0, figures("ft", reached=True, e2t=20.0), sc)
    assert dearer["saved_j"] == -6.0 and dearer["break_even_tasks"] is None and "never pays off" in dearer["note"]
    unknown = break_even(None, ft, sc)
    assert unknown["saved_j"] == 10.0 and unknown["break_even_tasks"] is None and "unknown" in unknown["note"]
    slow = break_even(30.0, ft, figures("sc", reached=False, energy=19.0))
    assert slow["saved_at_least_j"] == 15.0 and slow["break_even_tasks_at_most"] == 2.0
    assert slow["break_even_tasks"] is None
    assert "failed: boom" in break_even(30.0, figures("ft", reached=False, ok=False), sc)["note"]
    assert seed_spread([1.0, None, 3.0]) == {"mean": 2.0, "std": pytest.approx(2**0.5), "min": 1.0, "max": 3.0, "n": 2}
    assert seed_spread([None]) is None


def transfer_config(tmp_path, **more):
    return write(
        tmp_path,
        {
            "out": str(tmp_path / "out"), "seeds": [0, 1], "train": TRAIN,
            "pretrain": {"name": "first", "dataset": "synthetic", "dataset_options": {**SYNTH, "classes": [0, 1]}},
            "targets": [{"name": "second", "dataset": "synthetic", "classes": [2, 3, 4], "dataset_options": SYNTH}],
            **more,
        },
    )  # fmt: skip


@pytest.fixture(scope="module")
def transfer_study(tmp_path_factory):
    """A finished transfer study: 2 seeds, every fine-tuning mode (run once for this module's tests)."""
    tmp_path = tmp_path_factory.mktemp("transfer")
    config = transfer_config(tmp_path, finetune=["full", "head", {"finetune": "last_blocks", "finetune_blocks": 1}])
    # a steady 20 W scripted CPU estimate: every run's energy is its duration x 20 W (> 0), labelled estimated like
    # the real estimate, which can read 0 J for a run shorter than its 10 ms CPU-time ticks on a busy machine
    cpu = ScriptedCounterSensor(lambda t: 20.0 * t, device="cpu:estimate", component="cpu", source="estimated")
    return config, run_transfer_study(config, sensors=[cpu])


@pytest.fixture(scope="module")
def multitask_study(tmp_path_factory):
    """A finished multitask study of two synthetic tasks, through the CLI."""
    tmp_path = tmp_path_factory.mktemp("multitask")
    tasks = [
        {"name": "a", "dataset": "synthetic", "dataset_options": {"num_classes": 3, "train_size": 96, "test_size": 48}},
        {"name": "b", "dataset": "synthetic", "dataset_options": {"num_classes": 2, "train_size": 96, "test_size": 48}},
    ]
    config = write(tmp_path, {"out": str(tmp_path / "mt"), "seeds": [0], "train": TRAIN, "tasks": tasks})
    assert main(["study", "multitask", str(config), "--quiet"]) == 0
    return tmp_path / "mt"


def test_transfer_study_every_mode_from_the_same_seeds_pretraining(transfer_study):
    config, result = transfer_study
    out = config.parent / "out"
    data = json.loads(result.results_json.read_text())
    assert data["kind"] == "transfer" and data["schema_version"] == 1 and data["seeds"] == [0, 1]
    assert [(c["target"], c["mode"]) for c in data["comparisons"]] == [
        ("second", "full"), ("second", "head"), ("second", "last1")
    ]  # fmt: skip
    pre_runs = {r["seed"]: r for r in data["pretrain"]["runs"]}
    for comp in data["comparisons"]:
        assert len(comp["rows"]) == 2 and comp["mode_config"]["finetune"] in ("full", "head", "last_blocks")
        for row in comp["rows"]:
            pre = pre_runs[row["seed"]]
            summary = json.loads((Path(pre["run_dir"]) / "summary.json").read_text())
            assert row["pretrain_energy_j"] == summary["energy"]["total_j"] > 0
            tuned = yaml.safe_load((Path(row["finetune"]["run_dir"]) / "config.yaml").read_text())
            assert tuned["init_from"] == pre["run_dir"] and tuned["seed"] == row["seed"]  # same seed's pretraining
            assert tuned["finetune"] == comp["mode_config"]["finetune"]
            assert tuned["dataset_options"]["classes"] == [2, 3, 4]  # 3 classes after 2: a new head
            scratch = yaml.safe_load((Path(row["scratch"]["run_dir"]) / "config.yaml").read_text())
            assert scratch["init_from"] is None and scratch["finetune"] == "full"
            ft, sc = row["finetune"], row["scratch"]
            if ft["reached_target"] and sc["reached_target"]:
                assert row["saved_j"] == pytest.approx(sc["energy_to_target_j"] - ft["energy_to_target_j"])
                if row["saved_j"] > 0:
                    assert row["break_even_tasks"] == pytest.approx(row["pretrain_energy_j"] / row["saved_j"])
            else:
                assert row["break_even_tasks"] is None and row["note"]
                if not ft["reached_target"]:
                    assert "no break-even" in row["note"] and "no break-even" in comp["verdict"]
        be = [r["break_even_tasks"] for r in comp["rows"] if r["break_even_tasks"] is not None]
        assert comp["summary"]["break_even_tasks"] == seed_spread(be)
    # the head-only fine-tune kept the pretrained body: its weights equal the pretraining's
    head_row = data["comparisons"][1]["rows"][0]
    body = torch.load(Path(pre_runs[0]["run_dir"]) / "model.pt", weights_only=True)
    probe = torch.load(Path(head_row["finetune"]["run_dir"]) / "model.pt", weights_only=True)
    assert torch.equal(body["net.1.weight"], probe["net.1.weight"])
    assert probe["net.3.weight"].shape[0] == 3 and body["net.3.weight"].shape[0] == 2
    # each stage is an ordinary sweep: its own storage and export, readable with the sweep tools
    stage = load_sweep(out / "finetune")
    assert stage.counts == {"complete": 6} and (out / "finetune" / "results.csv").exists()
    assert data["total_energy_j"] == pytest.approx(
        sum(load_sweep(out / s).energy["total_j"] for s in ("pretrain", "finetune", "scratch"))
    )
    assert "estimated" in data["energy_sources"] and "| second | head |" in result.results_md.read_text()


def test_a_finished_transfer_study_run_again_trains_and_counts_nothing(transfer_study):
    config, first = transfer_study
    again = run_transfer_study(config)
    assert again.results["total_energy_j"] == first.results["total_energy_j"]
    for stage, runs in (("pretrain", 2), ("finetune", 6), ("scratch", 2)):
        assert load_sweep(config.parent / "out" / stage).counts == {"complete": runs}
    assert [r["saved_j"] for c in again.results["comparisons"] for r in c["rows"]] == [
        r["saved_j"] for c in first.results["comparisons"] for r in c["rows"]
    ]


def test_killed_study_continues_without_redoing_finished_stages(tmp_path):
    """SIGKILL while a fine-tune is training; the same command again finishes the study from the checkpoint."""
    train = {**TRAIN, "epochs": 3, "batch_size": 16, "stop_at_target": False, "target_accuracy": 0.99}
    config = transfer_config(
        tmp_path,
        seeds=[0],
        train=train,
        targets=[{"name": "second", "dataset": "synthetic", "classes": [2, 3, 4],
                  "dataset_options": {**SYNTH, "train_size": 1600}}],
    )  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "powertrain", "study", "transfer", str(config), "-q"]
    # the study SIGKILLs itself in epoch 2 of the fine-tune, after its first epoch was checkpointed and right after a
    # heartbeat with epoch 2's energy (powertrain/_killpoints.py): no race between a check here and the kill
    env = {**os.environ, "POWERTRAIN_KILL_AT": "heartbeat:2@/finetune/runs/"}
    killed = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            timeout=DEADLINE_S)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (victim,) = (out / "finetune" / "runs").iterdir()
    assert RunDir(victim).load_checkpoint()["epoch"] == 1 and not (victim / "model.pt").exists()
    pretrain_db = f"sqlite:///{out / 'pretrain' / 'study.db'}"
    pretrained = optuna.load_study(study_name="study-pretrain", storage=pretrain_db).trials
    before = [(t.number, t.state, dict(t.user_attrs)) for t in pretrained]
    assert [s for _, s, _ in before] == [optuna.trial.TrialState.COMPLETE]
    assert not (out / "results.json").exists()

    assert main(["study", "transfer", str(config), "-q"]) == 0
    after = optuna.load_study(study_name="study-pretrain", storage=pretrain_db).trials
    assert [(t.number, t.state, dict(t.user_attrs)) for t in after] == before  # pretraining untouched
    tuned = load_sweep(out / "finetune")
    assert tuned.counts == {"fail": 1, "complete": 1}  # the killed attempt, and its retry that finished it
    retry = tuned.by_state("complete")[0]
    assert retry.get("run_dir") == str(victim.resolve())
    assert [int(r["epoch"]) for r in RunDir(victim).read_metrics()] == [1, 2, 3]  # each epoch once
    data = json.loads((out / "results.json").read_text())
    row = data["comparisons"][0]["rows"][0]
    assert row["finetune"]["energy_j"] == retry.get("energy_j") and row["finetune"]["epochs_completed"] == 3


def test_multitask_study_compares_one_shared_model_with_one_model_per_task(multitask_study):
    mt = multitask_study
    data = json.loads((mt / "results.json").read_text())
    assert data["kind"] == "multitask" and data["tasks"] == ["a", "b"] and data["trunk"] == "mlp"
    (row,) = data["rows"]
    shared = yaml.safe_load((Path(row["multitask"]["run_dir"]) / "config.yaml").read_text())
    assert shared["model"] == "multitask" and shared["model_options"]["trunk"] == "mlp"
    assert [t["name"] for t in shared["dataset_options"]["tasks"]] == ["a", "b"]
    summary = json.loads((Path(row["multitask"]["run_dir"]) / "summary.json").read_text())
    assert row["multitask"]["tasks"] == summary["tasks"] and set(summary["tasks"]) == {"a", "b"}
    assert row["multitask"]["energy_j"] == summary["energy"]["total_j"]
    for name in ("a", "b"):
        alone = yaml.safe_load((Path(row["single"][name]["run_dir"]) / "config.yaml").read_text())
        assert alone["model"] == "mlp" and alone["dataset"] == "synthetic"
    alone = [row["single"][n]["energy_to_target_j"] for n in ("a", "b")]
    if None not in alone and row["multitask_energy_to_target_j"] is not None:
        assert row["separate_energy_to_target_j"] == pytest.approx(sum(alone))
        assert row["ratio"] == pytest.approx(row["multitask_energy_to_target_j"] / sum(alone))
    else:
        assert row["ratio"] is None and row["note"] and data["verdict"].startswith("no comparison")
    assert data["per_task"]["a"]["single_energy_to_target_j"] == seed_spread([alone[0]])
    assert load_sweep(mt / "multitask").counts == {"complete": 1}
    assert load_sweep(mt / "single").counts == {"complete": 2}
    assert "one multitask model" in (mt / "results.md").read_text()


def test_report_shows_the_transfer_break_even_and_the_multitask_totals(transfer_study, multitask_study, tmp_path):
    """powertrain report on both study folders: each is one study (not a folder of stage sweeps), with its views."""
    from powertrain.report import build_report, load_inputs

    config, result = transfer_study
    loaded = load_inputs([config.parent / "out", multitask_study])
    assert [(s.kind, len(s.trials)) for s in loaded.studies] == [("transfer", 10), ("multitask", 3)]
    names = {t.name for t in loaded.studies[0].trials}
    assert {"pretrain/pretrain-s0", "finetune/head-second-s1", "scratch/scratch-second-s0"} <= names
    spent = sum(t.spent_j for t in loaded.studies[0].trials)
    assert spent == pytest.approx(result.results["total_energy_j"])  # every joule of the study, once
    assert main(["report", str(config.parent / "out"), str(multitask_study), "--out", str(tmp_path / "rep")]) == 0
    report = build_report([config.parent / "out", multitask_study], out=tmp_path / "rep2")
    titles = [p.title for s in report.sections for p in s.plots]
    assert ["Break-even: second / full", "Break-even: second / head", "Break-even: second / last1"] == [
        t for t in titles if t.startswith("Break-even")
    ]
    assert "Energy to target" in titles and "Multitask: energy until every task is on target" in titles
    html, md = report.html.read_text(), report.markdown.read_text()
    for table in ("Transfer: fine-tuning against training from scratch", "Multitask: per task"):
        assert table in html and table in md
    for comp in result.results["comparisons"]:
        assert comp["verdict"] in md


def one_line_exit_2(capsys, argv, expect):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0], err


def test_bad_study_configs_are_one_line_exit_2_before_anything_runs(tmp_path, capsys):
    base = {"train": TRAIN, "out": str(tmp_path / "never"), "targets": [{"name": "t", "dataset": "synthetic"}]}
    with pytest.raises(ConfigError, match="one of pretrain"):
        load_transfer_study_config(write(tmp_path, base)).validate()
    with pytest.raises(ConfigError, match="unknown study config key 'target'"):
        load_transfer_study_config(write(tmp_path, {"train": TRAIN, "target": []}))
    bad = {**base, "pretrained": "x.pt", "finetune": ["full", {"finetune": "full"}]}
    with pytest.raises(ConfigError, match="fine-tune mode names must be unique"):
        load_transfer_study_config(write(tmp_path, bad)).validate()
    no_target = {**base, "pretrained": "x.pt", "train": {**TRAIN, "target_accuracy": None, "stop_at_target": False}}
    with pytest.raises(ConfigError, match="needs a target_accuracy"):
        load_transfer_study_config(write(tmp_path, no_target)).validate()
    # missing pretrained weights
    path = write(tmp_path, {**base, "pretrained": str(tmp_path / "missing.pt")})
    one_line_exit_2(capsys, ["study", "transfer", str(path)], "no such weights file")
    # a state dict that does not fit the model
    other = {f"net.{i}.{p}": torch.zeros(3, 3) for i in (1, 3) for p in ("weight",)}
    torch.save(other, tmp_path / "other.pt")
    path = write(tmp_path, {**base, "pretrained": str(tmp_path / "other.pt")})
    one_line_exit_2(capsys, ["study", "transfer", str(path)], "does not fit model")
    # a class split that leaves the target's test split empty (2 test images: classes 0 and 1 only)
    split = {"dataset": "synthetic", "classes": [3], "dataset_options": {"num_classes": 4, "test_size": 2}}
    empty = {**base, "pretrained": str(tmp_path / "other.pt"), "targets": [{"name": "t", **split}]}
    one_line_exit_2(capsys, ["study", "transfer", str(write(tmp_path, empty))], "leaves its test split without")
    # last_blocks asking for more blocks than the model has (weights that fit: the same mlp)
    fits = create_model("mlp", num_classes=4, in_channels=1, image_size=8, hidden_sizes=[32]).state_dict()
    torch.save(fits, tmp_path / "fits.pt")
    too_deep = [{"finetune": "last_blocks", "finetune_blocks": 5}]
    deep = {**base, "pretrained": str(tmp_path / "fits.pt"), "finetune": too_deep}
    one_line_exit_2(capsys, ["study", "transfer", str(write(tmp_path, deep))], "blocks below its head")
    path = write(tmp_path, {"train": TRAIN, "tasks": [{"name": "a", "dataset": "synthetic"}]})
    one_line_exit_2(capsys, ["study", "multitask", str(path)], "at least two tasks")
    one_line_exit_2(capsys, ["study", "transfer", str(tmp_path / "nope.yaml")], "nope.yaml")
    assert not (tmp_path / "never").exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[3].joinpath("examples", "studies").glob("*.yaml")))
def test_example_studies_are_valid(path):
    from powertrain.study import load_multitask_study_config

    load = load_multitask_study_config if "multitask" in path.name else load_transfer_study_config
    config = load(path).validate()
    assert config.seeds == [0, 1, 2]
