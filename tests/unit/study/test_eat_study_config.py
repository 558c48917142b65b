from pathlib import Path

import pytest
import yaml

from powertrain.errors import ConfigError, UnknownNameError
from powertrain.study import EatStudyConfig, load_eat_study_config

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

BASE = """
train:
  dataset: synthetic
  epochs: 2
  lr: 5e-2
  image_size: 8
  channels: 1
models: [mlp, lenet5]
settings:
  - {sigma: 1e-4, lambda: 1}
  - {sigma: 1e-3, lambda: 2.5, name: strong}
seed: 3
"""


def base():
    return yaml.safe_load(BASE)


def test_yaml_file_becomes_a_typed_config_with_standard_first(tmp_path):
    path = tmp_path / "my-study.yaml"
    path.write_text(BASE)
    config = load_eat_study_config(path)
    assert [s.name for s in config.all_settings] == ["standard", "sigma1e-4_lambda1", "strong"]
    assert [s.lam for s in config.all_settings] == [0.0, 1.0, 2.5]
    assert config.settings[0].sigma == 1e-4  # YAML 1.1 reads 1e-4 as text: parsed as a number
    assert config.train.lr == 0.05 and config.train.batch_size == 512  # study defaults: EAT's batch
    assert config.out == str(Path("runs") / "my-study")  # reruns of the same file land in the same folder
    run = config.run_config("lenet5", config.settings[1])
    assert (run.model, run.eat_lambda, run.eat_sigma, run.seed) == ("lenet5", 2.5, 1e-3, 3)
    assert Path(run.out) == Path("runs") / "my-study" / "runs" / "lenet5" / "strong"
    assert EatStudyConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_cli_overrides_replace_the_file_values():
    config = EatStudyConfig.from_dict(base()).replace(out="elsewhere", epochs=7, device="cpu")
    assert (config.out, config.train.epochs, config.train.device) == ("elsewhere", 7, "cpu")
    same = EatStudyConfig.from_dict(base()).replace()
    assert same.train.epochs == 2


def edit(path, value):
    data = base()
    *parents, last = path
    node = data
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("setings",), [], "unknown key 'setings' (did you mean 'settings'?)"),
        (("train", "lrr"), 0.1, "train: unknown key 'lrr' (did you mean 'lr'?)"),
        (("settings", 0, "lamda"), 1, "settings[0]: unknown key 'lamda' (did you mean 'lambda'?)"),
        (("inference_energy", "min_second"), 3, "did you mean 'min_seconds'?"),
        (("train", "model"), "mlp", "train: model is set by the study; use models: instead"),
        (("train", "eat_lambda"), 1.0, "use settings: instead"),
        (("train", "lr"), -1, "train: lr must be a positive number"),
        (("settings", 0, "sigma"), 0, "settings[0].sigma must be > 0"),
        (("settings", 0, "lambda"), "lots", "settings[0].lambda must be a number"),
        (("settings", 1, "lambda"), 0, "lambda 0 is standard training"),
        (("settings", 1, "name"), "sigma1e-4_lambda1", "two settings are named 'sigma1e-4_lambda1'"),
        (("settings", 1, "name"), "a/b", "name 'a/b' must be letters"),
        (("accuracy_tolerance",), 2, "accuracy_tolerance must be a fraction in [0, 1]"),
        (("goal_decrease_pct",), 120, "goal_decrease_pct must be a percentage"),
        (("estimate_batch_size",), 0, "estimate_batch_size must be an integer >= 1"),
        (("inference_energy", "rounds"), 0, "inference_energy.rounds must be an integer >= 1"),
        (("inference_energy", "min_seconds"), -1, "inference_energy.min_seconds must be a number >= 0"),
        (("models",), [], "models must list at least one model"),
        (("models",), ["mlp", "mlp"], "models lists a model twice"),
        (("settings",), {"sigma": 1}, "settings must be a list"),
    ],
)
def test_bad_values_are_one_line_config_errors(path, value, message):
    with pytest.raises(ConfigError) as info:
        EatStudyConfig.from_dict(edit(path, value))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_setting_needs_sigma_and_lambda():
    with pytest.raises(ConfigError, match=r"settings\[0\] needs lambda"):
        EatStudyConfig.from_dict(edit(("settings", 0), {"sigma": 1e-4}))


def test_unknown_model_and_dataset_suggest_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet18'"):
        EatStudyConfig.from_dict(edit(("models",), ["resnet81"]))
    with pytest.raises(UnknownNameError, match="Did you mean 'fashion-mnist'"):
        EatStudyConfig.from_dict(edit(("train", "dataset"), "fashion-mnst"))


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_eat_study_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_eat_study_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_eat_study_config(scalar)


@pytest.mark.parametrize("name", ["eat-quick.yaml", "eat-fashion-mnist.yaml"])
def test_shipped_examples_are_valid(name):
    config = load_eat_study_config(EXAMPLES / name)
    assert config.all_settings[0].is_standard and len(config.all_settings) >= 3
    assert config.estimate_batch_size == 512
