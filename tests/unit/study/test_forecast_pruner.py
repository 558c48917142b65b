"""The forecast pruner on plain in-memory Optuna studies, as a user's own Optuna code (or the engine) drives it."""

import optuna
import pytest

from powertrain.forecast import calibrated_tail
from powertrain.study import report_energy
from powertrain.study.forecast_pruner import ForecastPruner, probability_below

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _epochs(study, curve, *, name, joules=100.0, target=0.85):
    """Report ``curve`` epoch by epoch; returns the epoch the pruner stopped it at (None: never)."""
    trial = study.ask()
    trial.set_user_attr("run_name", name)
    trial.set_user_attr("config", {"epochs": 10, "target_accuracy": target})
    stored = []
    for epoch, accuracy in enumerate(curve, start=1):
        stored.append([epoch, joules * epoch, float(epoch), accuracy])
        trial.set_user_attr("curve", stored)
        report_energy(trial, epoch, accuracy=accuracy, energy_j=joules * epoch, target_accuracy=target)
        if accuracy >= target:
            break
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return epoch
    study.tell(trial, trial.user_attrs.get("energy_to_target_j", float("inf")))
    return None


def test_a_flat_curve_far_below_the_target_is_stopped_and_a_rising_one_is_not():
    pruner = ForecastPruner(risk=0.1)
    study = optuna.create_study(pruner=pruner)
    assert _epochs(study, [0.70, 0.78, 0.82, 0.84, 0.86], name="rising") is None
    stopped = _epochs(study, [0.40, 0.41, 0.405, 0.41, 0.41, 0.41], name="flat")
    assert stopped is not None and stopped <= 3
    decision = pruner.decisions[1]
    assert decision["rule"] in ("not likely to reach the target", "forecast above the best energy-to-target")
    # the chance it was wrong, in the draws: below the calibrated share that stands for a risk of 0.1
    chance = decision.get("probability", decision["forecast"]["probability"])
    assert chance < calibrated_tail(0.1) == decision["draws_below"]


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_setup_forecast_to_cost_far_more_than_the_best_known_is_stopped_before_it_spends_that_much(calibrated):
    pruner = ForecastPruner(risk=0.1, calibrated=calibrated)
    study = optuna.create_study(pruner=pruner)
    assert _epochs(study, [0.80, 0.86], name="cheap") is None  # 200 J to target
    # rising slowly: it may reach 0.85 within 10 epochs, but not for less than 200 J
    stopped = _epochs(study, [0.60, 0.66, 0.70, 0.73, 0.76, 0.78, 0.80, 0.82, 0.84, 0.86], name="slow")
    assert stopped == 1  # after its first epoch, 100 J: reaching 0.85 in its second is out of reach
    # the draws' own risk compares with the best; calibrated, the rule before it (reaching it at all) already stops it
    expected = ["forecast above the best energy-to-target"] + (["not likely to reach the target"] if calibrated else [])
    assert pruner.decisions[1]["rule"] in expected


def test_against_forecast_also_compares_with_the_other_running_setups():
    pruner = ForecastPruner(risk=0.1, against="forecast")
    study = optuna.create_study(pruner=pruner)
    running = study.ask()  # another worker's setup, well on its way
    running.set_user_attr("run_name", "good")
    running.set_user_attr("config", {"epochs": 10, "target_accuracy": 0.85})
    running.set_user_attr("curve", [[1, 100.0, 1.0, 0.80], [2, 200.0, 2.0, 0.83], [3, 300.0, 3.0, 0.84]])
    known = ForecastPruner(risk=0.1)
    alone = optuna.create_study(pruner=known)
    curve = [0.30, 0.45, 0.55, 0.62]
    assert _epochs(alone, curve, name="poor", target=0.85) is None or known.decisions[0]["rule"] != (
        "forecast above another setup's forecast")  # fmt: skip
    stopped = _epochs(study, curve, name="poor", target=0.85)
    assert stopped is not None and stopped <= 3
    assert pruner.decisions[1]["rule"] in ("forecast above another setup's forecast", "not likely to reach the target")


def test_bad_settings_are_value_errors():
    for kwargs, message in (({"risk": 0.0}, "risk"), ({"risk": 0.7}, "risk"), ({"against": "all"}, "against"),
                            ({"min_epochs": 0}, "min_epochs"), ({"margin": -1.0}, "margin")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            ForecastPruner(**kwargs)


def test_probability_below_counts_never_reaching_as_infinitely_expensive():
    import numpy as np

    inf = float("inf")
    assert probability_below(np.array([1.0, 2.0]), np.array([3.0])) == 1.0
    assert probability_below(np.array([inf, inf]), np.array([3.0])) == 0.0
    assert probability_below(np.array([inf]), np.array([inf])) == 0.0
    assert probability_below(np.array([1.0, 5.0]), np.array([3.0])) == 0.5
