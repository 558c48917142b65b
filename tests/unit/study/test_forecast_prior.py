"""The forecast pruner's prior (an earlier recorded grid of the same setups): skip a setup before it trains when the
prior says it will not be the cheapest; in a real sweep, in a replay, and its bad input."""

import math

import pytest

from powertrain.cli import main
from powertrain.errors import ConfigError
from powertrain.study import load_sweep
from powertrain.study.forecast_prior import load_prior, setup_label
from powertrain.study.forecast_pruner import ForecastPruner
from powertrain.study.replay import parse_rule, read_trace, replay


def _trace(path, rows):
    lines = ["setup,epoch,accuracy,energy_j"] + [f"{s},{e},{a},{j}" for s, e, a, j in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _grid(path, *, slow_j=10.0):
    """'fast' reaches 0.9 at epoch 2 (20 J), 'slow' at epoch 4 (4 x slow_j), 'stuck' never (60 J in 6 epochs)."""
    rows = [("fast", 1, 0.8, 10), ("fast", 2, 0.92, 10)]
    rows += [("slow", e, a, slow_j) for e, a in enumerate((0.6, 0.7, 0.8, 0.91), start=1)]
    rows += [("stuck", e, 0.3, 10) for e in range(1, 7)]
    return _trace(path, rows)


def test_the_chance_of_being_cheaper_than_the_priors_best_follows_the_ratio_of_their_energies(tmp_path):
    prior = load_prior(_grid(tmp_path / "prior.csv"), 0.9)
    assert prior.best == "fast"
    assert prior.chance_cheapest("fast") == 1.0
    slow, stuck = prior.chance_cheapest("slow"), prior.chance_cheapest("stuck")
    assert stuck < slow < 0.5  # 60 J (a lower bound: it never got there) and 40 J against 20 J
    assert slow == pytest.approx(0.5 * math.erfc(math.log(2.0) / (0.33 * math.sqrt(2.0)) / math.sqrt(2.0)))
    assert prior.chance_cheapest("slow", sd=2.0) > slow  # a wider spread: less sure
    assert prior.chance_cheapest("unknown") is None
    assert setup_label({"lr": 0.03, "batch_size": 64, "seed": 1}) == "lr=0.03_batch_size=64"


def test_a_replay_with_a_prior_skips_the_setups_it_rules_out_and_keeps_the_best(tmp_path):
    prior = _grid(tmp_path / "prior.csv")
    trace = read_trace(_grid(tmp_path / "grid.csv", slow_j=12.0))
    result = replay(trace, [parse_rule("forecast"), parse_rule(f"forecast:prior={prior}")], target_accuracy=0.9,
                    orders=20)  # fmt: skip
    plain, with_prior = result.to_dict()["rules"].values()
    assert with_prior["same_best"] and with_prior["best_setup"] == "fast"
    assert with_prior["spent_j"] == pytest.approx(20.0)  # only the prior's best trained: the others spent nothing
    total = result.to_dict()["total_j"]  # 20 + 48 + 60 J
    assert with_prior["spent_on"] == pytest.approx({"best_setup": 20.0 / total, "first_epochs_of_others": 0.0,
                                                    "later_epochs_of_others": 0.0})  # fmt: skip
    full = replay(trace, [parse_rule("none")], target_accuracy=0.9, orders=5).to_dict()["rules"]["none"]["spent_on"]
    assert full == pytest.approx({"best_setup": 20.0 / total, "first_epochs_of_others": 22.0 / total,
                                  "later_epochs_of_others": 86.0 / total})  # fmt: skip
    assert plain["spent_j"] > with_prior["spent_j"]
    loose = replay(trace, [parse_rule(f"forecast:prior={prior},risk=0.001")], target_accuracy=0.9, orders=20)
    assert next(iter(loose.to_dict()["rules"].values()))["spent_j"] > 20.0  # a smaller risk skips less


def test_a_prior_that_cannot_be_read_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        parse_rule(f"forecast:prior={tmp_path / 'missing.csv'}")
    with pytest.raises(ValueError, match="prior_sd"):
        ForecastPruner(prior_sd=0.0)
    grid = tmp_path / "grid.csv"
    _grid(grid)
    assert main(["sweep", "replay", str(grid), "--target", "0.9", "-p", f"forecast:prior={tmp_path / 'nope'}"]) == 2


CONFIG = """
train:
  dataset: synthetic
  model: mlp
  epochs: 6
  batch_size: 32
  device: cpu
  estimate_batch_size: 0
  image_size: 8
  channels: 1
  meter_interval_s: 0.02
  target_accuracy: 0.9
  stop_at_target: true
  dataset_options: {num_classes: 4, train_size: 256, test_size: 128}
trials:
  - {name: stuck, lr: 0.0000001}
  - {name: fast, lr: 0.2}
"""


@pytest.mark.parametrize("rounds", [None, 1])
def test_a_sweep_with_a_prior_skips_a_setup_before_it_trains(tmp_path, capsys, rounds):
    prior = _grid(tmp_path / "prior.csv")
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG + f"pruner: {{name: forecast, risk: 0.1, prior: {prior}}}\n"
                    + (f"round_epochs: {rounds}\n" if rounds else ""))  # fmt: skip
    out = tmp_path / "study"
    assert main(["sweep", "run", str(path), "--out", str(out), "-q"]) == 0
    result = load_sweep(out)
    final = {t.get("run_name"): t for t in result.trials}
    assert final["fast"].state == "complete" and final["fast"].get("energy_to_target_j") is not None
    stuck = final["stuck"]
    assert stuck.state == "pruned" and not stuck.get("curve") and stuck.spent_j == 0.0
    decision = stuck.get("pruned_on_forecast")
    assert decision["rule"].startswith("prior") and decision["probability"] < 0.1 and decision["prior_best"] == "fast"
    assert not (out / "runs" / "stuck" / "summary.json").exists()  # it never trained
    exported = {t["run_name"]: t for t in result.to_dict()["trials"]}
    assert exported["stuck"]["spent_j"] == 0.0 and exported["stuck"]["pruned_on_forecast"]["rule"] == decision["rule"]
    assert stuck.get("energy_j") is None  # it measured nothing: no attribution of its own to mix with the others'
    assert main(["sweep", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "stuck: prior: not the cheapest in an earlier grid (before training" in shown
    assert "1 skipped before training" in shown and "attributed differently" not in shown


def test_a_sweep_file_whose_prior_cannot_be_read_is_refused_before_anything_is_made(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG + f"pruner: {{name: forecast, prior: {tmp_path / 'missing'}}}\n")
    out = tmp_path / "study"
    assert main(["sweep", "run", str(path), "--out", str(out), "-q"]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err and not out.exists()


def test_a_study_folder_is_a_prior_and_a_storage_url_is_refused(tmp_path):
    import optuna
    from optuna.distributions import CategoricalDistribution

    folder = tmp_path / "grid"
    folder.mkdir()
    study = optuna.create_study(study_name="g", storage=f"sqlite:///{folder / 'study.db'}")
    study.set_user_attr("powertrain:config", {"objective": ["energy_to_target"], "target_accuracy": 0.9})
    lr = CategoricalDistribution([0.01, 0.1])
    for value, curve in ((0.1, [[1, 10.0, 1.0, 0.95]]), (0.01, [[1, 10.0, 1.0, 0.5], [2, 20.0, 2.0, 0.6]])):
        attrs = {"run_name": f"lr={value}", "curve": curve, "config": {"epochs": 2, "stop_at_target": True},
                 "train_status": "completed", "hardware": "cpu"}  # fmt: skip
        study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.COMPLETE, values=[1.0], params={"lr": value},
                                            distributions={"lr": lr}, user_attrs=attrs))  # fmt: skip
    prior = load_prior(folder, 0.9)
    assert prior.best == "lr=0.1" and prior.chance_cheapest("lr=0.01") < 0.1
    with pytest.raises(ConfigError, match="stopped at 0.9"):
        load_prior(folder, 0.95)
    with pytest.raises(ConfigError, match="storage URL cannot be a prior"):
        load_prior(tmp_path, 0.9)  # a folder without a study.db
