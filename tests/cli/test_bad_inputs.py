"""Every hostile file or argument the CLI reads ends in one line on stderr and exit status 2, never a traceback.

docs/reliability.md lists what each case gives. Cases run in-process through ``main`` and stop before any training.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import yaml

from powertrain.cli import main
from powertrain.training import TrainConfig

SMALL = {
    "dataset": "synthetic", "model": "mlp", "epochs": 1, "batch_size": 16, "device": "cpu", "image_size": 8,
    "channels": 1, "estimate_batch_size": 0, "dataset_options": {"num_classes": 2, "train_size": 32, "test_size": 16},
}  # fmt: skip


def fake_run(folder: Path, *, checkpoint: bytes | None = None, model: bytes | None = None, config=None) -> Path:
    """A run directory as train writes it, with chosen (damaged) files."""
    folder.mkdir(parents=True, exist_ok=True)
    text = config if config is not None else yaml.safe_dump(TrainConfig(**SMALL, out=str(folder)).to_dict())
    (folder / "config.yaml").write_text(text)
    if checkpoint is not None:
        (folder / "checkpoint.pt").write_bytes(checkpoint)
    if model is not None:
        (folder / "model.pt").write_bytes(model)
    return folder


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def small_yaml(tmp: Path, **changes) -> Path:
    return write(tmp / "small.yaml", yaml.safe_dump({**SMALL, **changes}))


CASES = {
    # config files
    "config is a folder": (lambda t: ["train", "-c", str(t)], "is a folder"),
    "config is not UTF-8": (lambda t: ["train", "-c", str(write(t / "c.yaml", b"lr: \xff\xfe\n"))], "not UTF-8"),
    "config missing": (lambda t: ["train", "-c", str(t / "nope.yaml")], "not found"),
    "config not YAML": (lambda t: ["train", "-c", str(write(t / "c.yaml", "a: [1\n"))], "not valid YAML"),
    "config a list": (lambda t: ["train", "-c", str(write(t / "c.yaml", "- 1\n"))], "mapping"),
    "number where a name belongs": (lambda t: ["train", "-c", str(small_yaml(t, model=5))], "model must be text"),
    "text where a mapping belongs": (
        lambda t: ["train", "-c", str(small_yaml(t, dataset_options="big"))],
        "dataset_options must be a mapping",
    ),
    "keys beside train:": (
        lambda t: ["train", "-c", str(write(t / "c.yaml", "train: {epochs: 1}\nseeds: [1, 2]\n"))],
        "beside",
    ),
    "unknown key": (lambda t: ["train", "-c", str(write(t / "c.yaml", "epoch: 3\n"))], "did you mean 'epochs'"),
    "data-dir nowhere": (
        lambda t: ["train", "-c", str(small_yaml(t)), "--data-dir", str(t / "nowhere"), "--out", str(t / "r")],
        "does not exist",
    ),
    # --out
    "train --out is a file": (
        lambda t: ["train", "-c", str(small_yaml(t)), "--out", str(write(t / "f", "x"))],
        "is a file",
    ),
    "measure --out is a folder": (lambda t: ["measure", "--out", str(t), "--", "true"], "is a folder"),
    "measure --out under a file": (
        lambda t: ["measure", "--out", str(write(t / "f", "x") / "e.json"), "--", "true"],
        "cannot create folder",
    ),
    "measure --interval nan": (lambda t: ["measure", "--interval", "nan", "--", "true"], "--interval"),
    "estimate --out is a folder": (lambda t: ["estimate", str(fake_run(t / "r")), "--out", str(t)], "is a folder"),
    # --resume
    "resume a file": (lambda t: ["train", "--resume", str(write(t / "f", "x"))], "is a file"),
    "resume nowhere": (lambda t: ["train", "--resume", str(t / "nope")], "does not exist"),
    "device cuda:x": (lambda t: ["train", "-c", str(small_yaml(t)), "--device", "cuda:x"], "cuda:N, not 'cuda:x'"),
    "measure an empty command": (lambda t: ["measure", "--", ""], "missing COMMAND"),
    "resume a folder without config": (lambda t: ["train", "--resume", str(t)], "not a powertrain run"),
    "resume with -c": (lambda t: ["train", "--resume", str(fake_run(t / "r")), "-c", str(small_yaml(t))], "drop -c"),
    "resume with --out": (lambda t: ["train", "--resume", str(fake_run(t / "r")), "--out", str(t / "x")], "drop --out"),
    "resume malformed config.yaml": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", config="a: [1\n"))],
        "not valid YAML",
    ),
    "resume config.yaml not a mapping": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", config="7\n"))],
        "damaged",
    ),
    "resume empty checkpoint": (lambda t: ["train", "--resume", str(fake_run(t / "r", checkpoint=b""))], "damaged"),
    "resume truncated checkpoint": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", checkpoint=_real_checkpoint()[:300]))],
        "damaged",
    ),
    "resume random checkpoint": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", checkpoint=os.urandom(4096)))],
        "damaged",
    ),
    "resume foreign checkpoint": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", checkpoint=_torch_file([1])))],
        "not a powertrain checkpoint",
    ),
    # estimate
    "estimate corrupt model.pt": (lambda t: ["estimate", str(fake_run(t / "r", model=b"PK\x03\x04junk"))], "damaged"),
    "estimate a file": (lambda t: ["estimate", str(write(t / "f", "x"))], "is a file"),
    # study eat (its deprecated alias eat-study adds a note: tests/unit/study/test_eat_study_cli.py)
    "study eat config is a folder": (lambda t: ["study", "eat", str(t)], "is a folder"),
    "study eat config not UTF-8": (lambda t: ["study", "eat", str(write(t / "s.yaml", b"\xff"))], "not UTF-8"),
    # YAML that would be read wrongly, or forever (issue #24)
    "config with a duplicate key": (
        lambda t: ["train", "-c", str(write(t / "c.yaml", "epochs: 1\nlr: 0.1\nlr: 0.2\n"))],
        "duplicate key 'lr' (lines 2 and 3)",
    ),
    "config an alias bomb": (lambda t: ["train", "-c", str(write(t / "c.yaml", BOMB))], "alias bomb"),
    "sweep config an alias bomb": (lambda t: ["sweep", "run", str(write(t / "s.yaml", BOMB)), "-q"], "alias bomb"),
    "config empty": (lambda t: ["train", "-c", str(write(t / "c.yaml", "# nothing\n"))], "is empty"),
    "config of 3 MiB": (lambda t: ["train", "-c", str(write(t / "c.yaml", "a: 1\n" * 700_000))], "up to 2 MiB"),
    # sweeps: outputs, storages and numbers, checked before anything is created
    "sweep --out a file": (
        lambda t: ["sweep", "run", str(sweep_yaml(t)), "--out", str(write(t / "f", "x"))],
        "is a file",
    ),
    "sweep --storage foo://": (
        lambda t: ["sweep", "run", str(sweep_yaml(t)), "--storage", "foo://x", "--out", str(t / "s")],
        "unknown kind 'foo'",
    ),
    "sweep --storage a folder": (
        lambda t: ["sweep", "run", str(sweep_yaml(t)), "--storage", f"sqlite:///{t}", "--out", str(t / "s")],
        "is a folder",
    ),
    "sweep seed: abc": (lambda t: ["sweep", "run", str(sweep_yaml(t, "seed: abc")), "-q"], "seed must be a whole"),
    "sweep grace_s: abc": (lambda t: ["sweep", "run", str(sweep_yaml(t, "grace_s: abc")), "-q"], "grace_s must be"),
    "sweep show an unknown flag": (lambda t: ["sweep", "show", str(t), "--trials", "3"], "No such option: --trials"),
    # files powertrain reads back, damaged: named with the file and the field
    "report a summary total_j of 'lots'": (
        lambda t: ["report", str(damaged_run(t, total_j="lots")), "--out", str(t / "rep")],
        "energy.total_j must be a number, not 'lots' (str)",
    ),
    "report a summary config of 5": (
        lambda t: ["report", str(damaged_run(t, config=5)), "--out", str(t / "rep")],
        "config must be an object, not 5 (int)",
    ),
    "report a summary of random bytes": (
        lambda t: ["report", str(damaged_run(t, summary=os.urandom(512) + b"\xff")), "--out", str(t / "rep")],
        "summary.json",
    ),
    "report a garbage metrics.csv": (
        lambda t: ["report", str(damaged_run(t, metrics="a,b\n1,2\n")), "--out", str(t / "rep")],
        "metrics.csv",
    ),
    "report a metrics.csv cell": (
        lambda t: ["report", str(damaged_run(t, metrics=METRICS.replace(",0.5,", ",half,"))), "--out", str(t / "r")],
        "line 2, val_accuracy must be a number, not 'half'",
    ),
    "report results.json of wrong types": (
        lambda t: ["report", str(sweep_export(t, {"energy_j": "x"})), "--out", str(t / "rep")],
        "trials[0].energy_j must be a number or null, not 'x' (str)",
    ),
    "measure a file that is not a program": (lambda t: ["measure", "--", str(not_a_program(t))], "not a program"),
    "resume a checkpoint whose epoch is text": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", checkpoint=_torch_file({"epoch": "two", "model": {},
                                                                                     "history": []})))],
        "is damaged: epoch must be a whole number, not 'two' (str)",
    ),
    "resume a checkpoint that would run code": (
        lambda t: ["train", "--resume", str(fake_run(t / "r", checkpoint=_evil_checkpoint()))],
        "refused as unsafe: loading it would call posix.system",
    ),
}

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)  # nine levels of nine aliases: 387,420,489 strings from 90 nodes
METRICS = "epoch,complete,val_accuracy,energy_j,elapsed_s,train_energy_j,eval_energy_j\n1,1,0.5,2.0,1.0,1.5,0.5\n"


def sweep_yaml(tmp: Path, extra: str = "") -> Path:
    text = yaml.safe_dump({"train": SMALL, "space": {"lr": [0.1]}, "objective": "energy"})
    return write(tmp / "s.yaml", text + extra)


def damaged_run(tmp: Path, *, total_j=1.0, config=None, summary=None, metrics=METRICS) -> Path:
    """A finished run directory whose summary.json or metrics.csv is damaged as asked."""
    folder = fake_run(tmp / "run")
    data = {"status": "completed", "final": True, "config": config if config is not None else {}, "epochs_completed": 1,
            "energy": {"total_j": total_j}, "duration_s": 1.0}  # fmt: skip
    write(folder / "summary.json", summary if summary is not None else json.dumps(data))
    write(folder / "metrics.csv", metrics)
    return folder


def sweep_export(tmp: Path, trial: dict) -> Path:
    folder = tmp / "export"
    folder.mkdir()
    write(folder / "results.json", json.dumps({"objective": ["energy"], "trials": [{"number": 0, **trial}]}))
    return folder


def not_a_program(tmp: Path) -> Path:
    path = write(tmp / "notes.txt", "hello, no #! line here\n")
    path.chmod(0o755)
    return path


def _evil_checkpoint() -> bytes:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo this must never run",))

    return _torch_file({"epoch": 1, "model": {}, "history": [], "x": Evil()})


def _torch_file(obj) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _real_checkpoint() -> bytes:
    import torch

    return _torch_file({"epoch": 1, "model": {"w": torch.ones(64)}, "history": []})


@pytest.mark.parametrize("case", list(CASES))
def test_one_line_and_status_2(case, tmp_path, capsys, monkeypatch):
    make_args, expected = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    args = make_args(work)
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.chdir(work)  # a default output folder (./runs, ./studies) would appear here
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("powertrain: error: ") and expected in lines[0], lines[0]
    assert sorted(tmp_path.rglob("*")) == before, "a command that exits 2 left something behind"


def test_read_only_or_full_output_is_one_line(tmp_path, capsys, monkeypatch):
    """Root ignores file modes, so the refusal of the file system is simulated where the temporary file is made."""
    import tempfile

    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):  # noqa: A002 - mkstemp's own name
        if str(dir).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system")
        if str(dir).startswith(str(tmp_path / "full")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    for folder, message in (("ro", "Read-only file system"), ("full", "No space left on device")):
        (tmp_path / folder).mkdir()
        assert main(["measure", "--out", str(tmp_path / folder / "e.json"), "--", "true"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err and err.startswith("powertrain: error: --out")


def test_a_broken_image_in_an_image_folder_is_one_line(tmp_path, capsys):
    from PIL import Image

    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            Image.new("RGB", (8, 8), color=(10, 200, 30)).save(folder / "ok.png")
    write(tmp_path / "images" / "train" / "b" / "broken.png", b"\x89PNG\r\n\x1a\nnot really")
    args = [
        "train",
        "--dataset",
        f"imagefolder:{tmp_path / 'images'}",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "-q",
        "--image-size",
        "8",
        "--device",
        "cpu",
        "--estimate-batch-size",
        "0",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.png cannot be read" in err, err


def test_scientific_notation_is_a_number(tmp_path):
    from powertrain.training import load_config

    path = write(tmp_path / "c.yaml", "lr: 1e-3\nweight_decay: 5E-4\nenergy_budget_j: 2e6\n")
    config = load_config(path).validate()
    assert (config.lr, config.weight_decay, config.energy_budget_j) == (0.001, 0.0005, 2e6)
