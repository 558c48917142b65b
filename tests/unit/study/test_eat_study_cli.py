import json

from powertrain.cli import main

CONFIG = """
train:
  dataset: synthetic
  epochs: 3
  batch_size: 32
  device: cpu
  image_size: 8
  channels: 1
  meter_interval_s: 0.02
  dataset_options: {num_classes: 3, train_size: 96, test_size: 48}
models: [mlp]
settings:
  - {sigma: 1e-4, lambda: 2}
estimate_batch_size: 24
inference_energy: {batch_size: 24, min_seconds: 0.05}
"""


def test_eat_study_command_runs_the_study_with_flag_overrides(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["eat-study", str(path), "--out", str(out), "--epochs", "1", "--device", "cpu", "-q"]) == 0
    printed, err = capsys.readouterr()
    assert "`eat-study` is an alias of `powertrain study eat`" in err  # the old name still works, and says so
    assert "standard" in printed and "sigma1e-4_lambda2" in printed and "results:" in printed
    summary = json.loads((out / "runs" / "mlp" / "standard" / "summary.json").read_text())
    assert summary["epochs_completed"] == 1  # --epochs beat the file's 3
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] and len(results["runs"]) == 2
    assert results["tables"]["mlp"]["rows"][0]["inference"]["source"]  # measured, with its source
    assert (out / "results.md").read_text().startswith("## EAT study: synthetic 8x8x1")


def test_bad_key_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG.replace("models:", "modles:"))
    assert main(["study", "eat", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("powertrain: error:") and err.count("\n") == 1
    assert "unknown key 'modles' (did you mean 'models'?)" in err


def test_missing_file_and_bad_flag_exit_2(tmp_path, capsys):
    assert main(["study", "eat", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG)
    assert main(["study", "eat", str(path), "--device", "tpu", "-q"]) == 2
    assert "device must be auto, cpu, cuda or cuda:N" in capsys.readouterr().err
