import json
import subprocess
import sys

import pytest
from tests.support.waiting import DEADLINE_S

from powertrain.cli import main

CONFIG = """
train:
  dataset: synthetic
  model: mlp
  epochs: 1
  batch_size: 32
  device: cpu
  estimate_batch_size: 64
  dataset_options: {num_classes: 3, train_size: 96, test_size: 48}
  image_size: 8
  channels: 1
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG)
    return path


def test_train_from_config_file_with_flag_overrides(config_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "-c", str(config_file), "--epochs", "2", "--lr", "0.02", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["config"]["lr"] == 0.02
    assert "completed" in capsys.readouterr().out


def test_resume_through_the_cli_extends_the_run(config_file, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "-c", str(config_file), "--out", str(out), "-q"]) == 0
    assert main(["train", "--resume", str(out), "--epochs", "2", "-q"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs_completed"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet81"], "unknown model 'resnet81'. Did you mean 'resnet18'"),
        (["--lr", "-1"], "lr must be a positive number"),
        (["--optimizer", "lion"], "optimizer must be one of sgd, adam, adamw"),
        (["--bogus"], "No such option: --bogus"),
        (["--epochs", "many"], "Invalid value for '--epochs'"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(config_file, tmp_path, capsys, args, message):
    code = main(["train", "-c", str(config_file), "--out", str(tmp_path / "r"), "-q", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("powertrain: error:") and err.count("\n") == 1
    assert message in err


def test_missing_resume_directory_and_missing_config_file(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nope"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "-c", str(tmp_path / "none.yaml"), "-q"]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_real_entry_point_exit_code_for_missing_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "powertrain", "train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "-q",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=DEADLINE_S,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
