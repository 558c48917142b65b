import pytest

from powertrain.errors import ConfigError
from powertrain.training import TrainConfig, load_config


def test_defaults_follow_eat_recipe():
    cfg = TrainConfig().validate()
    assert (cfg.optimizer, cfg.momentum, cfg.nesterov, cfg.weight_decay) == ("sgd", 0.9, True, 5e-4)
    assert (cfg.lr, cfg.lr_schedule, cfg.lr_gamma, cfg.estimate_batch_size) == (0.1, "exponential", 0.95, 512)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": -0.1}, "lr must be a positive number"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be an integer, not 2.5"),
        ({"optimizer": "lion"}, "optimizer must be one of sgd, adam, adamw"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"target_accuracy": 1.5}, "target_accuracy must be in (0, 1]"),
        ({"stop_at_target": True}, "stop_at_target needs target_accuracy"),
        ({"energy_budget_j": -1.0}, "energy_budget_j must be a positive number"),
        ({"eat_sigma": 0.0}, "eat_sigma must be a positive number"),
        ({"device": "tpu"}, "device must be auto, cpu, cuda or cuda:N"),
        ({"subset": 0}, "subset must be a positive integer"),
    ],
)
def test_validate_names_the_bad_field(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        TrainConfig(**change).validate()


def test_replace_ignores_none_values():
    cfg = TrainConfig(epochs=3).replace(epochs=None, lr=0.5)
    assert (cfg.epochs, cfg.lr) == (3, 0.5)


def test_load_config_reads_yaml_with_train_section_and_dashes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  model: resnet18\n  batch-size: 512\n  eat_lambda: 2.0\n")
    cfg = load_config(path)
    assert (cfg.model, cfg.batch_size, cfg.eat_lambda) == ("resnet18", 512, 2.0)


def test_load_config_unknown_key_suggests_close_match(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'epochz' \(did you mean 'epochs'\?\)"):
        load_config(path)


def test_load_config_refuses_unsafe_yaml_and_missing_files(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
