"""Validate, then act: a command that exits 2 leaves nothing behind; and what commands print reads well in a pipe.

Issue #24's "promises broken, things left behind" and "friction" lists, each through the real entry point.
"""

from __future__ import annotations

import errno
import json
import tempfile
from pathlib import Path

import pytest
import yaml

from powertrain.cli import main

TINY = {
    "dataset": "synthetic", "model": "mlp", "epochs": 1, "batch_size": 32, "device": "cpu", "image_size": 8,
    "channels": 1, "estimate_batch_size": 0, "meter_interval_s": 0.02,
    "dataset_options": {"num_classes": 4, "train_size": 64, "test_size": 32},
}  # fmt: skip


def _sweep(tmp: Path, **extra) -> Path:
    path = tmp / "sweep.yaml"
    path.write_text(yaml.safe_dump({"train": TINY, "space": {"lr": [0.1]}, "objective": "energy", **extra}))
    return path


def _transfer(tmp: Path) -> Path:
    path = tmp / "transfer.yaml"
    path.write_text(yaml.safe_dump({
        "seeds": [0], "train": {**TINY, "target_accuracy": 0.5}, "pretrain": {"name": "a", "classes": [0, 1]},
        "targets": [{"name": "b", "classes": [2, 3]}],
        "finetune": [{"name": "deep", "finetune": "last_blocks", "finetune_blocks": 50}],
    }))  # fmt: skip
    return path


def _damaged_run(tmp: Path) -> Path:
    run = tmp / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(TINY))
    (run / "summary.json").write_text(json.dumps({"status": "completed", "energy": {"total_j": "lots"}}))
    return run


def _studies(tmp: Path) -> tuple[Path, Path]:
    import optuna

    folders = []
    for name, objective in (("a", "energy"), ("b", "time")):
        folder = tmp / name
        folder.mkdir()
        study = optuna.create_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
        study.set_user_attr("powertrain:config", {"objective": [objective]})
        folders.append(folder)
    return folders[0], folders[1]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

#: command -> (arguments, given the work folder and the output path that must not appear)
LEFT_BEHIND = {
    "train --dataset-option num_classes=abc": lambda t, o: [
        "train", "--dataset", "synthetic", "--model", "mlp", "--dataset-option", "num_classes=abc", "--out", o],
    "train --model-option hidden=5": lambda t, o: [
        "train", "--dataset", "synthetic", "--model", "mlp", "--model-option", "hidden=5", "--out", o],
    "sweep --storage foo://": lambda t, o: ["sweep", "run", str(_sweep(t)), "--storage", "foo://x", "--out", o],
    "sweep --storage a folder": lambda t, o: ["sweep", "run", str(_sweep(t)), "--storage", f"sqlite:///{t}",
                                              "--out", o],
    "sweep --storage an unreachable server": lambda t, o: [
        "sweep", "run", str(_sweep(t)), "--storage", "postgresql://nobody@127.0.0.1:1/x", "--out", o, "-q"],
    "sweep config an alias bomb under dataset_options": lambda t, o: [
        "sweep", "run", str(_bomb(t)), "--out", o, "-q"],
    "study transfer finetune_blocks: 50": lambda t, o: ["study", "transfer", str(_transfer(t)), "--out", o],
    "sweep merge of an incompatible source": lambda t, o: ["sweep", "merge", o, *map(str, _studies(t))],
    "report on a damaged run": lambda t, o: ["report", str(_damaged_run(t)), "--out", o],
}  # fmt: skip


def _bomb(tmp: Path) -> Path:
    path = tmp / "bomb.yaml"
    indented = "".join(f"    {line}\n" for line in BOMB.splitlines())
    path.write_text(f"train:\n  dataset: synthetic\n  dataset_options:\n{indented}space: {{lr: [0.1]}}\n")
    return path


@pytest.mark.parametrize("case", list(LEFT_BEHIND))
def test_nothing_is_created_by_a_command_that_exits_2(case, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out" / "here"
    assert main(LEFT_BEHIND[case](work, str(out))) == 2
    err = capsys.readouterr().err
    assert err.startswith("powertrain: error: ") and err.count("\n") == 1, err
    assert not out.exists() and not (tmp_path / "out").exists()  # not a folder, a study.db, a .lock, a config.yaml


def test_a_report_on_a_full_disk_leaves_no_report_folder(report_inputs, tmp_path, capsys, monkeypatch):
    real = tempfile.mkstemp
    full = tmp_path / "full"

    def no_space(*args, dir=None, **kwargs):  # noqa: A002 - mkstemp's own name
        if str(dir).startswith(str(full)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", no_space)
    run = report_inputs["runs"][0].run_dir
    assert main(["report", str(run), "--out", str(full / "report")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and err.count("\n") == 1
    assert not full.exists()


def test_study_without_out_keeps_the_config_file_s_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = _sweep(tmp_path, out="mine")
    assert main(["sweep", "run", str(config), "--study", "named", "-q"]) == 0
    assert (tmp_path / "mine" / "study.db").is_file() and not (tmp_path / "studies").exists()
    # and the "already exists with another space" check applies there
    config.write_text(config.read_text().replace("- 0.1", "- 0.2"))
    assert main(["sweep", "run", str(config), "--study", "named", "-q"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_in_a_pipe_progress_lines_are_ended_and_optuna_speaks_in_powertrain_s_words(tmp_path, capsys):
    config = _sweep(tmp_path, sampler="random", n_trials=2)
    config.write_text(config.read_text().replace("- 0.1", "{low: 0.01, high: 0.2}").replace("lr:\n  ", "lr: "))
    assert main(["sweep", "run", str(config), "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "now: opening study sweep (sqlite)"  # its own line, ended
    assert "Warning" not in err and "Heartbeat of storage" not in err  # Optuna's UserWarning, 3 times before
    assert main(["sweep", "merge", str(tmp_path / "merged"), str(tmp_path / "s")]) == 0
    merged = capsys.readouterr()
    assert "A new study created" not in merged.err + merged.out and "[I " not in merged.err  # Optuna's INFO lines
    assert main(["sweep", "run", str(config), "--storage", "postgresql://nobody@127.0.0.1:1/x",
                 "--out", str(tmp_path / "pg")]) == 2  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "now: opening study sweep (postgresql)" and lines[1].startswith("powertrain: error: ")


def test_estimate_in_ops_mode_prints_no_nan(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--model", "mlp", "--epochs", "1", "--device", "cpu",
                 "--image-size", "8", "--channels", "1", "--estimate-batch-size", "0", "--dataset-option",
                 "train_size=64", "--dataset-option", "test_size=32", "--out", str(run), "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["estimate", str(run), "--mode", "ops", "--batch-size", "16", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "energy ratio" in out and "nan" not in out
