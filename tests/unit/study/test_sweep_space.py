"""Search spaces and sweep configs: parsing, grids, and bad input as one ConfigError line."""

from pathlib import Path

import pytest

from powertrain.errors import ConfigError
from powertrain.study import SearchSpace, TrialSpec, sweep_config_from_dict
from powertrain.training import TrainConfig

BASE = {"dataset": "synthetic", "model": "mlp", "epochs": 2, "target_accuracy": 0.5, "device": "cpu"}


def test_grid_crosses_lists_stepped_ranges_and_explicit_trials_with_stable_names():
    space = SearchSpace.parse(
        {"lr": [0.01, 0.1], "batch_size": {"low": 16, "high": 48, "step": 16}},
        [{"name": "plain"}, {"name": "eat", "eat_lambda": 1.0}],
    )
    points = space.grid()
    assert len(points) == 2 * 2 * 3
    assert points[0].name == "plain_lr=0.01_batch_size=16"
    assert points[-1].params == {"lr": 0.1, "batch_size": 48, "run": "eat"}
    config = space.config_for(TrainConfig(**BASE), points[-1].params)
    assert (config.lr, config.batch_size, config.eat_lambda) == (0.1, 48, 1.0)
    assert [p.name for p in space.grid()] == [p.name for p in points]  # stable across calls and workers


def test_option_keys_set_one_option_and_keep_the_others():
    space = SearchSpace.parse({"dataset_options.noise": [0.1, 0.5], "model_options.hidden": [8]})
    base = TrainConfig(**BASE, dataset_options={"num_classes": 4, "noise": 0.0})
    config = space.config_for(base, space.grid()[1].params)
    assert config.dataset_options == {"num_classes": 4, "noise": 0.5} and config.model_options == {"hidden": 8}
    assert base.dataset_options["noise"] == 0.0  # the base is not modified


def test_explicit_trials_alone_are_a_study():
    space = SearchSpace.parse(None, [TrialSpec("a", {"lr": 0.1}), TrialSpec("b", {"optimizer": "adam"})])
    assert [p.name for p in space.grid()] == ["a", "b"]


@pytest.mark.parametrize(
    ("space", "trials", "message"),
    [
        ({"lrr": [0.1]}, None, "unknown TrainConfig field 'lrr' (did you mean 'lr'?)"),
        ({"lr": []}, None, "the list of choices is empty"),
        (None, None, "empty search space"),
        ({"lr": {"low": 1.0, "high": 0.1}}, None, "needs finite low <= high"),
        ({"lr": {"low": 0, "high": 1, "log": True}}, None, "a log range needs low > 0"),
        ({"lr": {"low": 0.1, "hgh": 1}}, None, "unknown range key 'hgh'"),
        (None, [{"name": "a"}, {"name": "a"}], "trial names must be unique"),
        (None, [{"name": "a", "optimiser": "sgd"}], "unknown TrainConfig field 'optimiser'"),
    ],
)
def test_bad_spaces_are_one_line_config_errors(space, trials, message):
    with pytest.raises(ConfigError) as info:
        SearchSpace.parse(space, trials)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"space": {"lr": [0.1, -1.0]}}, "space lr=-1.0: lr must be a positive number"),
        ({"space": {"optimizer": ["sgd", "lbfgs"]}}, "optimizer must be one of"),
        ({"space": {"lr": {"low": 0.01, "high": 0.1}}}, "grid sampler: lr is a continuous range"),
        ({"sampler": "tpe"}, "sampler tpe needs n_trials"),
        ({"sampler": "annealing"}, "sampler must be one of"),
        ({"objective": "joules"}, "objective must be one of"),
        ({"objective": ["accuracy", "energy"], "pruner": "energy"}, "pruning needs a single objective"),
        ({"train": {**BASE, "target_accuracy": None}}, "need train.target_accuracy"),
        ({"pruner": {"name": "energy", "margin": -1}}, "pruner energy: margin must be a positive number"),
        ({"sampler": "nsga2", "n_trials": 4}, "nsga2 is multi-objective"),
        ({"colour": 1}, "unknown sweep config key 'colour'"),
        ({"round_epochs": 0}, "round_epochs must be a whole number of epochs >= 1"),
        ({"round_epochs": 1.5}, "round_epochs must be a whole number, not 1.5"),
        ({"round_epochs": True}, "round_epochs must be a whole number"),
        ({"round_epochs": 1, "sampler": "tpe", "n_trials": 4}, "(breadth-first rounds) needs sampler grid"),
    ],
)
def test_impossible_sweep_configs_are_refused_before_anything_runs(changes, message, tmp_path):
    from powertrain.study import make_pruner

    data = {"train": BASE, "space": {"lr": [0.1]}, "out": str(tmp_path), **changes}
    with pytest.raises(ConfigError) as info:
        config = sweep_config_from_dict(data).validate()
        make_pruner(config)
    assert message in str(info.value)
    assert not any(tmp_path.iterdir())  # nothing was created


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "sweeps"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_sweeps_are_valid(path):
    from powertrain.study import load_sweep_config

    config = load_sweep_config(path)
    config.replace(train=config.train.replace(device="cpu")).validate()  # GPU examples validate here too
    assert config.study == path.stem and config.out.endswith(path.stem)


def test_unknown_model_in_a_space_names_the_close_match():
    from powertrain.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean 'resnet18'"):
        sweep_config_from_dict({"train": BASE, "space": {"model": ["mlp", "resnt18"]}}).validate()
