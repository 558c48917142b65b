"""Rankings with their uncertainty: means over seeds, Student-t intervals, setups within each other's noise."""

import pytest

from powertrain.study.ranking import rank_setups


def test_two_setups_whose_seeds_overlap_are_within_each_others_noise_and_a_third_stands_apart():
    runs = [("a", 100.0), ("a", 110.0), ("a", 90.0), ("b", 105.0), ("b", 95.0), ("b", 115.0),
            ("c", 300.0), ("c", 310.0), ("c", 290.0)]  # fmt: skip
    ranking = rank_setups(runs)
    assert [r.setup for r in ranking.rows] == ["a", "b", "c"]
    assert ranking.rows[0].mean_j == pytest.approx(100.0)
    # 80 % t interval of a mean of 3 runs with sd 10: 100 +- 1.886 * 10 / sqrt(3)
    assert ranking.rows[0].high_j == pytest.approx(100.0 + 1.8856 * 10 / 3**0.5, rel=1e-3)
    assert ranking.tied == ["a", "b"]
    assert "2 setups are within each other's noise" in ranking.verdict() and "a, b" in ranking.verdict()


def test_a_clear_winner_is_named_and_a_setup_that_missed_the_target_in_a_seed_ranks_last():
    runs = [("a", 100.0), ("a", 101.0), ("b", 200.0), ("b", 201.0), ("c", 50.0), ("c", None)]
    ranking = rank_setups(runs)
    assert [r.setup for r in ranking.rows] == ["a", "b", "c"]
    assert ranking.rows[2].reached == 1 and ranking.rows[2].seeds == 2
    assert ranking.tied == ["a"] and ranking.verdict().startswith("best: a, outside")


def test_one_run_per_setup_says_there_is_no_noise_to_compare_with_and_none_reached_says_so():
    single = rank_setups([("a", 100.0), ("b", 120.0)])
    assert single.tied == ["a"] and "no noise" in single.note
    assert rank_setups([("a", None), ("b", None)]).verdict() == "no setup reached the target"


def test_sweep_show_of_a_sweep_with_seeds_says_which_setups_are_within_each_others_noise(tmp_path, capsys):
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    from powertrain.cli import main

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {"lr": CategoricalDistribution([0.01, 0.1, 0.3]), "seed": CategoricalDistribution([0, 1, 2])}
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}", direction="minimize")
    study.set_user_attr("powertrain:config", {"objective": ["energy_to_target"], "target_accuracy": 0.9})
    for lr, etts in ((0.01, (100.0, 110.0, 90.0)), (0.1, (105.0, 95.0, 115.0)), (0.3, (300.0, 310.0, 290.0))):
        for seed, ett in enumerate(etts):
            attrs = {"run_name": f"lr={lr}_seed={seed}", "energy_j": ett, "energy_to_target_j": ett, "hardware": "cpu"}
            params = {"lr": lr, "seed": seed}
            study.add_trial(optuna.create_trial(state=TrialState.COMPLETE, values=[ett], params=params,
                                                distributions=dists, user_attrs=attrs))  # fmt: skip
    assert main(["sweep", "show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 setups are within each other's noise" in out and "lr=0.01, lr=0.1" in out
    assert "lr=0.01: 100.0 J" in out and "3 of 3 seeds" in out
