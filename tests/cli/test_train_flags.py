"""Every TrainConfig field is a `powertrain train` flag, generated from the dataclass; the generator's types."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import typer

from powertrain.cli import app, main
from powertrain.cli._config_flags import NULL, apply_flags, config_flags, with_flags
from powertrain.training.config import TrainConfig


def _option_names(command_name: str) -> set[str]:
    command = typer.main.get_command(app).commands[command_name]  # type: ignore[attr-defined]
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def test_every_train_config_field_has_a_flag():
    names = _option_names("train")
    for f in dataclasses.fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in names, f"TrainConfig.{f.name} has no flag"
    # names kept from the hand-written flags
    assert {"-o", "--energy-budget", "--no-augment", "-c", "--resume", "-q"} <= names


def test_flags_reach_the_run(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        "train: {dataset: synthetic, model: mlp, epochs: 1, batch_size: 32, device: cpu, estimate_batch_size: 0,"
        " image_size: 8, channels: 1, subset: 64, dataset_options: {num_classes: 3, train_size: 96, test_size: 48}}"
    )
    out = tmp_path / "run"
    argv = [
        "train", "-c", str(config), "-o", str(out), "-q", "--no-augment", "--eval-batch-size", "16",
        "--lr-schedule", "step", "--lr-step-epochs", "2", "--no-data-on-device", "--meter-interval-s", "0.05",
        "--gpu-indices", "none", "--subset", "none", "--eat-normalization", "params",
        "--dataset-option", "num_classes=4", "--model-options", "hidden_sizes=[16, 8]",
    ]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    cfg = json.loads((out / "summary.json").read_text())["config"]
    assert cfg["augment"] is False and cfg["eval_batch_size"] == 16 and cfg["lr_step_epochs"] == 2
    assert cfg["lr_schedule"] == "step" and cfg["data_on_device"] is False and cfg["meter_interval_s"] == 0.05
    assert cfg["gpu_indices"] is None and cfg["subset"] is None and cfg["eat_normalization"] == "params"
    assert cfg["dataset_options"] == {"num_classes": 4, "train_size": 96, "test_size": 48}  # merged
    assert cfg["model_options"] == {"hidden_sizes": [16, 8]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset-option", "num_classes"], "'num_classes' is not KEY=VALUE"),
        (["--gpu-indices", "0,x"], "Invalid value for '--gpu-indices'"),
        (["--augment", "yes"], "Got unexpected extra argument"),
        (["--eat-normalization", "sum"], "eat_normalization must be one of numel, params"),
    ],
)
def test_bad_flag_values_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert main(["train", "--dataset", "synthetic", "-o", str(tmp_path / "r"), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("powertrain: error:") and err.count("\n") == 1 and message in err


@dataclass
class _Config:
    """A config with every kind of field a new TrainConfig field might have.

    Attributes:
        names: Some names.
        weights: Per-key weights.
    """

    names: list[str] = field(default_factory=list)
    sizes: tuple[int, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)
    mode: Literal["a", "b"] = "a"
    scale: float | None = 1.0
    flag: bool | None = None
    count: int = 1
    anything: Any = None


def _run(argv: list[str]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    sub = typer.Typer()

    @sub.command()
    @with_flags(config_flags(_Config))
    def go(verbose: bool = False, *, flags: dict[str, Any]) -> None:
        got.update(flags)

    @sub.callback()
    def _root() -> None:
        pass

    sub(["go", *argv], standalone_mode=False)
    return got


def test_generator_handles_list_tuple_dict_literal_optional_and_any():
    flags = _run([
        "--names", "x,y", "--sizes", "[1, 2]", "--weights", "a=0.5", "--weights", "b=2", "--mode", "b",
        "--scale", "none", "--flag", "--count", "3", "--anything", "{k: [1, 2]}",
    ])  # fmt: skip
    assert flags["names"] == ["x", "y"] and flags["sizes"] == (1, 2) and flags["mode"] == "b"
    assert flags["scale"] is NULL and flags["flag"] is True and flags["count"] == 3
    assert flags["anything"] == {"k": [1, 2]}
    cfg = apply_flags(_Config(weights={"c": 1.0, "a": 9.0}), flags)
    assert cfg.weights == {"c": 1.0, "a": 0.5, "b": 2.0} and cfg.scale is None and cfg.sizes == (1, 2)
    assert _run([]) == {}  # nothing given, nothing changed
    assert _run(["--no-flag"]) == {"flag": False}
    help_text = {f.field: f.help for f in config_flags(_Config)}
    assert help_text["names"].startswith("Some names.") and "One of: a, b" in help_text["mode"]
