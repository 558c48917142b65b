"""A study's attribution and threads: recorded once, the same for every worker; a mix is refused or labelled."""

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from powertrain.cli import main
from powertrain.errors import ConfigError
from powertrain.meters.testing import ScriptedPowerSensor
from powertrain.study import SearchSpace, SweepConfig, TrialSpec, load_sweep, merge_sweeps, sweep
from powertrain.study.engine.attribution import STUDY_ATTRIBUTION, STUDY_THREADS, conditions_note, threads_per_trial
from powertrain.training import TrainConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)
LR = CategoricalDistribution([0.01, 0.1])


def _config(tmp_path, **changes):
    train = TrainConfig(
        dataset="synthetic", model="mlp", epochs=1, batch_size=32, device="cpu", estimate_batch_size=0,
        image_size=8, channels=1, meter_interval_s=0.02,
        dataset_options={"num_classes": 4, "train_size": 128, "test_size": 32},
    )  # fmt: skip
    space = SearchSpace.parse(None, [TrialSpec("a", {"lr": 0.1}), TrialSpec("b", {"lr": 0.01})])
    base = {"train": train, "space": space, "objective": ["energy"], "study": "s", "out": str(tmp_path / "s")}
    return SweepConfig(**{**base, **changes})


def _sensor():
    return ScriptedPowerSensor([30.0], device="cpu:package-0", component="cpu")


def test_the_study_records_its_attribution_and_threads_and_every_trial_uses_them(tmp_path):
    result = sweep(_config(tmp_path, workers_per_host=2), sensors=[_sensor()])
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert study.user_attrs[STUDY_ATTRIBUTION] == "process"
    assert study.user_attrs[STUDY_THREADS] == threads_per_trial(2)  # the host's cores shared by two workers
    for trial in result.trials:
        assert trial.get("config")["threads"] == study.user_attrs[STUDY_THREADS]
        assert trial.get("attribution") == "process" and trial.get("machine_energy_j") >= trial.get("energy_j")
        assert trial.get("others_load") is not None
    assert result.to_dict()["attribution"]["scope"] == "process"


def test_threads_per_trial_divides_the_cores_among_the_workers():
    assert threads_per_trial(1, cores=16) == 16 and threads_per_trial(3, cores=16) == 5
    assert threads_per_trial(4, cores=2) == 1 and threads_per_trial(2, threads=3, cores=16) == 3


def test_a_worker_with_another_attribution_is_refused_and_the_study_keeps_its_threads(tmp_path):
    sweep(_config(tmp_path, threads_per_trial=1), sensors=[_sensor()])
    with pytest.raises(ConfigError, match="give --attribution process"):
        config = _config(tmp_path)
        sweep(config.replace(train=config.train.replace(attribution="machine")), sensors=[_sensor()])
    again = sweep(_config(tmp_path, threads_per_trial=2), sensors=[_sensor()])  # joins: the recorded 1 thread
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert study.user_attrs[STUDY_THREADS] == 1 and len(again.trials) == 2


def _legacy_study(folder, name, attribution=None, energy=100.0):
    folder.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}", direction="minimize")
    study.set_user_attr("powertrain:config", {"objective": ["energy"], "target_accuracy": None})
    if attribution is not None:
        study.set_user_attr(STUDY_ATTRIBUTION, attribution)
    attrs = {"run_name": "x", "energy_j": energy, "base_energy_j": 0.0, "hardware": "cpu", "config": {"epochs": 1}}
    if attribution is not None:
        attrs["attribution"] = attribution
    study.add_trial(optuna.create_trial(state=TrialState.COMPLETE, values=[energy], params={"lr": 0.1},
                                        distributions={"lr": LR}, user_attrs=attrs))  # fmt: skip
    return folder


def test_merge_refuses_and_compare_labels_a_mix_of_machine_wide_and_attributed_studies(tmp_path, capsys):
    old = _legacy_study(tmp_path / "old", "old")  # created before attribution: machine-wide figures
    new = _legacy_study(tmp_path / "new", "new", attribution="process", energy=30.0)
    with pytest.raises(ConfigError, match="attributed differently"):
        merge_sweeps(tmp_path / "merged", [old, new], study="both")
    compared = load_sweep(new).compare(load_sweep(old))
    assert compared == {"comparable": False, "reason": "energy attributed differently: machine and process"}
    assert main(["sweep", "show", str(new), "--compare", str(old)]) == 0
    printed = capsys.readouterr().out
    assert "not compared with old" in printed and "energy attributed to each run's own process tree" in printed


def test_a_study_made_before_attribution_continues_only_machine_wide(tmp_path):
    config = _config(tmp_path)
    sweep(config.replace(train=config.train.replace(attribution="machine")), sensors=[_sensor()])
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    study.set_user_attr(STUDY_ATTRIBUTION, None)  # as a study written before attribution existed
    with pytest.raises(ConfigError, match="machine-wide, before attribution existed"):
        sweep(config, sensors=[_sensor()])
    sweep(config.replace(train=config.train.replace(attribution="machine")), sensors=[_sensor()])


def test_a_study_says_when_its_trials_ran_under_very_different_loads():
    assert conditions_note([{"others_load": 0.1, "threads": 2}, {"others_load": 0.3, "threads": 2}]) is None
    note = conditions_note([{"others_load": 0.1, "threads": 1}, {"others_load": 1.8, "threads": 2}])
    assert "0.1 to 1.8 CPUs" in note and "different thread counts (1, 2)" in note


def test_sweep_show_warns_about_trials_attributed_differently_and_very_different_conditions():
    from types import SimpleNamespace

    from powertrain.cli._sweep_view import _attribution_lines

    note = "trials ran with different thread counts (1, 2)"
    mixed = SimpleNamespace(attribution={"scope": "process", "trials": ["machine", "process"], "mixed": True,
                                         "conditions_note": note})  # fmt: skip
    lines = _attribution_lines(mixed)
    assert lines[0] == "energy attributed to each run's own process tree"
    assert lines[1] == "WARNING: trials attributed differently (machine, process): do not compare their joules"
    assert lines[2] == "note: trials ran with different thread counts (1, 2)"
    legacy = SimpleNamespace(attribution={"scope": "machine", "trials": ["machine"], "mixed": False,
                                          "conditions_note": None})  # fmt: skip
    assert _attribution_lines(legacy) == ["energy attributed to the whole machine (every joule of every sensor, "
                                          "not the runs' own)"]  # fmt: skip
