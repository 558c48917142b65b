"""Replay of recorded grids: reading and validating traces, each rule's spend against hand-computed figures, the real
pruner classes on the in-memory stand-in against a real Optuna study, and every bad input refused with one line."""

import csv
import json
import math
from contextlib import closing

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from powertrain.errors import ConfigError
from powertrain.study import EnergyAwarePruner, EnergySuccessiveHalvingPruner, report_energy
from powertrain.study.replay import Rule, parse_rule, read_trace, replay
from powertrain.study.replay._rules import replay_order

optuna.logging.set_verbosity(optuna.logging.WARNING)

# setup -> per-epoch (accuracy, energy_j); target 0.85. "fast" reaches it after 2 epochs (200 J), "slow" after 4
# (440 J), "never" stays below it for 4 epochs (480 J), "costly" reaches it after 3 epochs of 150 J (450 J).
GRID = {
    "fast": [(0.80, 100.0), (0.86, 100.0)],
    "slow": [(0.70, 110.0), (0.78, 110.0), (0.83, 110.0), (0.851, 110.0)],
    "never": [(0.50, 120.0), (0.55, 120.0), (0.58, 120.0), (0.60, 120.0)],
    "costly": [(0.75, 150.0), (0.80, 150.0), (0.86, 150.0)],
}


def _write(path, grid=GRID, *, extra=None, header=("setup", "epoch", "accuracy", "energy_j")):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*header, *(extra or {})])
        for setup, points in grid.items():
            for epoch, (acc, joules) in enumerate(points, start=1):
                row = {"setup": setup, "epoch": epoch, "accuracy": acc, "energy_j": joules}
                writer.writerow([row.get(h, "") for h in header] + [v(setup, epoch) for v in (extra or {}).values()])
    return path


def test_a_csv_trace_is_read_per_setup_with_its_parameters(tmp_path):
    path = _write(tmp_path / "t.csv", extra={"lr": lambda s, e: {"fast": 0.1}.get(s, 0.01)})
    trace = read_trace(path)
    assert trace.setups == ["fast", "slow", "never", "costly"] and trace.planned_epochs == 4
    assert trace.params["fast"] == {"lr": "0.1"}
    fast = trace.by_setup()["fast"][0]
    assert fast.cumulative_j == [100.0, 200.0] and fast.energy_to_target_j(0.85) == 200.0


def test_no_rule_spends_the_whole_grid_and_the_energy_rule_in_rounds_stops_at_the_best(tmp_path):
    trace = read_trace(_write(tmp_path / "t.csv"))
    result = replay(trace, [Rule("none"), Rule("energy")], target_accuracy=0.85, round_epochs=1, orders=20).to_dict()
    full = 200.0 + 440.0 + 480.0 + 450.0
    assert result["total_j"] == full and result["best_setup"] == "fast"
    assert result["rules"]["none"]["spent_j"] == full and result["rules"]["none"]["share"] == 1.0
    energy = result["rules"]["energy"]
    assert 800.0 <= energy["spent_j"] <= 960.0 and energy["same_best"] is True and energy["best_setup"] == "fast"
    assert result["safe_floor"] == {"spent_j": pytest.approx(800.0), "share": pytest.approx(800.0 / full)}
    runs = {s: r[0] for s, r in trace.by_setup().items()}
    # rounds of one epoch: "fast" first reaches the target in round 2 at 200 J; every setup after it stops at 200 J
    first = replay_order(runs, ["fast", "slow", "never", "costly"], EnergyAwarePruner, target=0.85, planned_epochs=4,
                         round_epochs=1)  # fmt: skip
    assert first.spent_j == pytest.approx(800.0) and first.best == "fast" and first.pruned == 3
    # "fast" last: the others run round 2 in full (300 + 240 + 220 J), then stop untrained in round 3
    last = replay_order(runs, ["costly", "never", "slow", "fast"], EnergyAwarePruner, target=0.85, planned_epochs=4,
                        round_epochs=1)  # fmt: skip
    assert last.spent_j == pytest.approx(300.0 + 240.0 + 220.0 + 200.0) and last.best == "fast"


def test_one_setup_after_another_the_spend_depends_on_the_order(tmp_path):
    trace = read_trace(_write(tmp_path / "t.csv"))
    runs = {s: r[0] for s, r in trace.by_setup().items()}
    first = replay_order(runs, ["fast", "slow", "never", "costly"], EnergyAwarePruner, target=0.85, planned_epochs=4)
    last = replay_order(runs, ["slow", "never", "costly", "fast"], EnergyAwarePruner, target=0.85, planned_epochs=4)
    assert first.spent_j == pytest.approx(800.0) and first.best == "fast"  # every later setup stops at 200 J
    # "slow" runs to 440 J; then "never" is stopped at that budget, "costly" reaches it at 450 J (> 440: stopped)
    assert last.spent_j == pytest.approx(440.0 + 440.0 + 440.0 + 200.0) and last.best == "fast"


def _real_optuna_replay(runs, order, pruner, target):
    """The same replay on a real in-memory Optuna study (no budget: epoch-end decisions only)."""
    study = optuna.create_study(direction="minimize", pruner=pruner)
    spent = 0.0
    for name in order:
        trial = study.ask()
        run = runs[name]
        rungs = pruner.rungs_j(study) if isinstance(pruner, EnergySuccessiveHalvingPruner) else None
        for epoch, (acc, energy) in enumerate(zip(run.accuracy, run.cumulative_j, strict=True), start=1):
            if epoch == 1:
                trial.set_user_attr("first_epoch_energy_j", energy)
            report_energy(trial, epoch, accuracy=acc, energy_j=energy, target_accuracy=target, rung_energies_j=rungs)
            used = energy
            if acc >= target or trial.should_prune():
                break
        spent += used
        study.tell(trial, trial.user_attrs.get("energy_to_target_j", math.inf))
    return spent


def test_the_stand_in_study_gives_the_same_answers_as_a_real_optuna_study(tmp_path):
    trace = read_trace(_write(tmp_path / "t.csv"))
    runs = {s: r[0] for s, r in trace.by_setup().items()}
    for order in (["slow", "never", "costly", "fast"], ["never", "fast", "costly", "slow"]):
        sm2 = replay_order(runs, order, lambda: EnergySuccessiveHalvingPruner(min_trials=2), target=0.85,
                           planned_epochs=4)  # fmt: skip
        assert sm2.spent_j == pytest.approx(
            _real_optuna_replay(runs, order, EnergySuccessiveHalvingPruner(min_trials=2), 0.85)
        )


def test_several_seeds_are_drawn_one_per_setup_and_several_hardware_are_replayed_apart(tmp_path):
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["setup", "epoch", "accuracy", "energy_j", "seed", "hardware"])
        for hw in ("cpu", "gpu"):
            for seed, joules in ((0, 80.0), (1, 300.0), (2, 300.0)):
                w.writerow(["a", 1, 0.9, joules, seed, hw])
                w.writerows([["b", 1, 0.5, 50.0, seed, hw], ["b", 2, 0.95, 50.0, seed, hw]])
    result = replay(read_trace(path), [Rule("none")], target_accuracy=0.85, orders=200).to_dict()
    assert set(result["by_hardware"]) == {"cpu", "gpu"}
    cpu = result["by_hardware"]["cpu"]
    assert cpu["seeds"] == 3 and cpu["best_setup"] == "b"  # b (100 J) beats a in the draws where a costs 300 J
    assert 0.5 < cpu["best_setup_share"] < 0.8  # a (80 J) wins the draws of its seed 0, about a third
    assert 100.0 + 80.0 <= cpu["total_j"] <= 100.0 + 300.0


def test_the_forecast_rule_keeps_the_best_and_spends_less_than_the_energy_rule_on_a_grid_of_hopeless_setups(tmp_path):
    grid = {"good": [(0.70, 100.0), (0.80, 100.0), (0.84, 100.0), (0.86, 100.0)]}
    for i in range(5):  # flat curves far below the target: the forecast stops them after a few epochs
        grid[f"flat{i}"] = [(0.50 + 0.01 * i + 0.002 * e, 100.0) for e in range(6)]
    trace = read_trace(_write(tmp_path / "t.csv", grid))
    result = replay(trace, [parse_rule("energy"), parse_rule("forecast")], target_accuracy=0.85, orders=30).to_dict()
    energy, fc = result["rules"]["energy"], result["rules"]["forecast"]
    assert fc["same_best"] is True and fc["best_setup"] == "good"
    assert fc["spent_j"] < energy["spent_j"] and fc["stopped_on_forecast"] >= 1


BAD = [
    ("setup,epoch,accuracy\na,1,0.5\n", "missing column.*energy_j"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,10\na,3,0.6,10\nb,1,0.5,10\n", "skips to 3"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,10\na,1,0.6,10\nb,1,0.5,10\n", "repeats"),
    ("setup,epoch,accuracy,energy_j\na,1,1.5,10\nb,1,-0.5,10\n", r"outside \[0, 1\]"),
    ("setup,epoch,accuracy,energy_j\na,1,150,10\nb,1,50,10\n", r"outside \[0, 1\]"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,-10\nb,1,0.5,10\n", "negative energy_j"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,ten\nb,1,0.5,10\n", "'ten' is not a number"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,10\na,2,0.6,10\n", "only one setup"),
    ("setup,epoch,accuracy,energy_j\n", "no rows"),
    ("setup,epoch,accuracy,energy_j\na,1.5,0.5,10\nb,1,0.5,10\n", "not a whole number"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_trace_a_replay_cannot_use_is_refused_with_one_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        read_trace(path)
    assert "\n" not in str(info.value)


def test_accuracies_in_percent_are_read_as_such_and_the_trace_says_so(tmp_path):
    path = tmp_path / "pct.csv"
    path.write_text("setup,epoch,accuracy,energy_j\na,1,80,10\na,2,90,10\nb,1,70,10\nb,2,75,10\n")
    trace = read_trace(path)
    assert trace.by_setup()["a"][0].accuracy == (0.8, 0.9) and "percent" in trace.notes[0]


def test_a_target_no_setup_reaches_or_no_target_at_all_is_one_clear_line(tmp_path):
    trace = read_trace(_write(tmp_path / "t.csv"))
    with pytest.raises(ConfigError, match="no setup reaches 0.99.*best accuracy recorded is 0.86"):
        replay(trace, target_accuracy=0.99)
    with pytest.raises(ConfigError, match="give --target"):
        replay(trace)
    with pytest.raises(ConfigError, match="--orders"):
        replay(trace, target_accuracy=0.85, orders=0)


@pytest.mark.parametrize(("text", "message"), [
    ("median", "unknown pruning rule 'median'"), ("forecast:risk", "KEY=VALUE"), ("forecast:risk=0.9", "risk"),
    ("energy:margin=-1", "margin"), ("forecast:colour=red", "colour"),
])  # fmt: skip
def test_a_bad_rule_is_one_line(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_rule(text)


LR = CategoricalDistribution([0.01, 0.1, 0.3])


def _stored_study(folder, states):
    folder.mkdir()
    study = optuna.create_study(study_name="g", storage=f"sqlite:///{folder / 'study.db'}", direction="minimize")
    study.set_user_attr("powertrain:config", {"objective": ["energy_to_target"], "target_accuracy": 0.85})
    for lr, state, curve in states:
        attrs = {"run_name": f"lr={lr}", "hardware": "cpu", "curve": curve, "energy_j": curve[-1][1],
                 "config": {"epochs": 3, "stop_at_target": True}, "train_status": "completed"}  # fmt: skip
        values = [math.inf] if state == TrialState.COMPLETE else None
        study.add_trial(optuna.create_trial(state=state, values=values, params={"lr": lr}, distributions={"lr": LR},
                                            user_attrs=attrs))  # fmt: skip
    return folder


def test_a_full_study_folder_is_replayed_from_its_stored_curves_and_a_pruned_one_is_refused(tmp_path):
    curves = {0.01: [[1, 50.0, 5.0, 0.7], [2, 100.0, 10.0, 0.8], [3, 150.0, 15.0, 0.84]],
              0.1: [[1, 60.0, 6.0, 0.8], [2, 120.0, 12.0, 0.86]], 0.3: [[1, 40.0, 4.0, 0.5]]}  # fmt: skip
    full = _stored_study(tmp_path / "full", [(lr, TrialState.COMPLETE, c) for lr, c in curves.items()])
    trace = read_trace(full)
    assert trace.target_accuracy == 0.85 and trace.planned_epochs == 3 and trace.stopped_at_target
    assert trace.by_setup()["lr=0.1"][0].energy_j == (60.0, 60.0)
    result = replay(trace, [Rule("none")], orders=5).to_dict()
    assert result["total_j"] == pytest.approx(150.0 + 120.0 + 40.0) and result["best_setup"] == "lr=0.1"
    with pytest.raises(ConfigError, match="stopped at 0.85"):
        replay(trace, target_accuracy=0.9)
    pruned = _stored_study(tmp_path / "pruned", [(0.01, TrialState.COMPLETE, curves[0.01]),
                                                 (0.1, TrialState.PRUNED, curves[0.1][:1])])  # fmt: skip
    with pytest.raises(ConfigError, match="pruned sweep .* cannot be replayed as a full grid"):
        read_trace(pruned)
    running = _stored_study(tmp_path / "running", [(0.01, TrialState.COMPLETE, curves[0.01]),
                                                   (0.1, TrialState.RUNNING, curves[0.1][:1])])  # fmt: skip
    with pytest.raises(ConfigError, match="not finished"):
        read_trace(running)


def test_a_study_folder_read_straight_from_sqlite_equals_optunas_read_and_falls_back_when_it_cannot(tmp_path):
    import sqlite3

    from powertrain.study.engine.results import load_sweep
    from powertrain.study.replay._sqlite import read_sqlite_trials

    curves = {0.01: [[1, 50.0, 5.0, 0.7]], 0.1: [[1, 60.0, 6.0, 0.8], [2, 120.0, 12.0, float("nan")]]}
    folder = _stored_study(tmp_path / "s", [(0.01, TrialState.COMPLETE, curves[0.01]),
                                            (0.1, TrialState.PRUNED, curves[0.1])])  # fmt: skip
    fast, target = read_sqlite_trials(folder / "study.db")
    assert sorted(p.name for p in folder.iterdir()) == ["study.db"]  # read only, nothing left behind
    slow = load_sweep(folder)
    assert target == slow.target_accuracy == 0.85

    def key(t):
        return (t.number, t.state, t.params, t.values, t.origin, json.dumps(t.attrs, sort_keys=True))

    assert sorted(map(key, fast)) == sorted(map(key, slow.trials))  # params in their external form, inf values
    optuna.create_study(study_name="other", storage=f"sqlite:///{folder / 'study.db'}")
    assert read_sqlite_trials(folder / "study.db") is None  # two studies in one file: Optuna's storage reads it
    with pytest.raises(ConfigError, match="holds 2 studies"):
        read_trace(folder)
    with closing(sqlite3.connect(folder / "study.db")) as conn, conn:
        conn.execute("UPDATE version_info SET schema_version = 99")
    assert read_sqlite_trials(folder / "study.db") is None  # a schema it does not know
