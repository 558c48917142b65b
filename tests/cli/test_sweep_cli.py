"""``powertrain sweep``: a real (tiny) grid sweep on SQLite, rerun as a no-op, shown, exported; bad input exits 2."""

import csv
import json
import math

import optuna
import pytest

from powertrain.cli import main

CONFIG = """
train:
  dataset: synthetic
  model: mlp
  epochs: 2
  batch_size: 32
  device: cpu
  estimate_batch_size: 0
  image_size: 8
  channels: 1
  meter_interval_s: 0.02
  target_accuracy: 0.5
  stop_at_target: true
  dataset_options: {num_classes: 4, train_size: 128, test_size: 64}
space:
  lr: [0.0001, 0.2]
"""


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(CONFIG)
    return path


def test_grid_sweep_runs_every_point_once_and_a_rerun_keeps_them(grid, tmp_path, capsys, steady_cpu_estimate):
    out = tmp_path / "study"
    assert main(["sweep", str(grid), "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "grid: 2 trials on" in printed and "the search itself spent" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["counts"] == {"complete": 2}
    trials = {t["run_name"]: t for t in results["trials"]}
    assert set(trials) == {"lr=0.0001", "lr=0.2"}
    fast, slow = trials["lr=0.2"], trials["lr=0.0001"]
    assert fast["reached_target"] and fast["energy_to_target_j"] > 0
    assert fast["curve"][-1]["epoch"] == fast["epochs_to_target"]  # the curve holds every epoch, from 1
    assert fast["energy_to_target_j"] == fast["curve"][-1]["energy_j"]
    assert results["energy"]["total_j"] == pytest.approx(fast["energy_j"] + slow["energy_j"])
    if not slow["reached_target"]:  # never reached: no made-up figure, ranked last (+inf)
        assert slow["energy_to_target_j"] is None and slow["values"] == [None]  # strict JSON: +inf is null
        study = optuna.load_study(study_name="grid", storage=f"sqlite:///{out / 'study.db'}")
        assert [t.values for t in study.trials if t.params["lr"] == 0.0001] == [[math.inf]]
    assert results["best"]["run_name"] == results["spread"]["best_trial"]
    assert (out / "runs" / "lr=0.2" / "summary.json").exists()

    # the same command again (with the live display): the study is finished, nothing is rerun or lost
    before = (out / "runs" / "lr=0.2" / "summary.json").read_text()
    assert main(["sweep", str(grid), "--out", str(out)]) == 0
    assert (out / "runs" / "lr=0.2" / "summary.json").read_text() == before
    assert json.loads((out / "results.json").read_text())["counts"] == {"complete": 2}
    live = capsys.readouterr().err
    assert "trials: 2 done, 0 running, 0 pruned, 0 failed" in live and "study energy so far" in live

    csv_path, json_path = tmp_path / "t.csv", tmp_path / "t.json"
    assert main(["sweep", "show", str(out), "--csv", str(csv_path), "--json", str(json_path)]) == 0
    assert "lr=0.2" in capsys.readouterr().out
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 2 and {"energy_to_target_j", "hardware", "curve", "params"} <= set(rows[0])
    assert json.loads(json_path.read_text())["spread"]["trials"] >= 1

    # the same study name with another space: refused, stored trials untouched
    grid.write_text(CONFIG.replace("[0.0001, 0.2]", "[0.0001, 0.3]"))
    assert main(["sweep", str(grid), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "another search space" in err and err.count("\n") == 1
    study = optuna.load_study(study_name="grid", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage", "not a url"], "malformed storage URL"),
        (["--storage", "postgresql://nobody@127.0.0.1:1/none"], "cannot open the study storage"),
    ],
)
def test_unusable_storage_exits_2_with_one_line(grid, tmp_path, capsys, args, message):
    assert main(["sweep", str(grid), "--out", str(tmp_path / "s"), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_field_and_empty_grid_exit_2(grid, capsys):
    grid.write_text(CONFIG.replace("lr: [0.0001, 0.2]", "learning_rate: [0.1]"))
    assert main(["sweep", str(grid), "-q"]) == 2
    assert "unknown TrainConfig field 'learning_rate'" in capsys.readouterr().err
    grid.write_text(CONFIG.replace("lr: [0.0001, 0.2]", "lr: []"))
    assert main(["sweep", str(grid), "-q"]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["sweep", "show"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "run", "{grid}", "--storage", "not a url"],
        ["sweep", "{grid}", "--storage", "not a url"],
        ["sweep", "--storage", "not a url", "{grid}"],
    ],
)
def test_sweep_run_and_the_bare_form_are_the_same_command(grid, capsys, argv):
    assert main([a.replace("{grid}", str(grid)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "malformed storage URL" in err and err.count("\n") == 1


def test_each_sweep_subcommand_explains_itself(capsys):
    assert main(["sweep", "show", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "powertrain sweep show" in shown and "--compare" in shown and "--storage" not in shown
    assert main(["sweep", "merge", "--help"]) == 0
    assert "powertrain sweep merge" in capsys.readouterr().out
    assert main(["sweep", "--help"]) == 0
    assert "short for `powertrain sweep run CONFIG.yaml`" in " ".join(capsys.readouterr().out.split())
