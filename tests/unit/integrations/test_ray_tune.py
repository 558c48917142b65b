"""Ray Tune: a local Ray (two CPUs) runs two trials at once, each reporting its energy; the energy stopper."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: run `make test`")

from powertrain.integrations.ray import EnergyBudgetStopper, trial_figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local Ray cluster with two CPUs (no dashboard), shut down with everything it started."""
    path = os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
             _temp_dir=str(tmp_path_factory.mktemp("ray")))  # fmt: skip
    try:
        yield tmp_path_factory.mktemp("ray-results")
    finally:
        ray.shutdown()


def _fit(storage, name, *, stop=None, scheduler=None, epochs=3, lrs=(0.2, 0.3), together=None):
    from ray import tune
    from tests.support.ray_trainables import trainable

    tuner = tune.Tuner(
        trainable,
        param_space={"lr": tune.grid_search(list(lrs)), "epochs": epochs, "epoch_s": 0.2, "target": 0.5,
                     "together": together},
        tune_config=tune.TuneConfig(metric="accuracy", mode="max", scheduler=scheduler, max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(storage), name=name, stop=stop, verbose=0),
    )
    return tuner.fit()


def test_two_trials_at_once_report_their_energy_to_tune_and_into_their_folders(local_ray, tmp_path):
    from ray.tune.schedulers import ASHAScheduler

    asha = ASHAScheduler(time_attr="training_iteration", max_t=10, grace_period=5)
    results = _fit(local_ray, "asha", scheduler=asha, together=str(tmp_path))
    assert not results.errors and len(results) == 2
    frames = [r.metrics_dataframe for r in results]
    pids = {str(f["pid"].iloc[0]) for f in frames}
    # two worker processes, each of which waited until the other had started: they ran at the same time
    assert len(pids) == 2 and {p.name for p in tmp_path.iterdir()} == pids
    for result, frame in zip(results, frames, strict=True):
        assert list(frame["epoch"]) == [1, 2, 3]
        energy = list(frame["energy_j"])
        assert all(b > a > 0 for a, b in zip(energy, energy[1:], strict=False))
        assert list(frame["epoch_energy_j"].cumsum()) == pytest.approx(energy)
        assert set(frame["energy_sources"]) <= {"estimated", "integrated", "counter"} and frame["co2e_kg"].iloc[-1] > 0
        # each trial's own share of the host (its process tree), the machine's beside it and never below it
        assert set(frame["energy_attribution"]) == {"process"}
        assert all(m >= e * (1 - 1e-9) for m, e in zip(frame["machine_energy_j"], energy, strict=True))
        reached = frame["energy_to_target_j"].dropna()
        first = frame.index[frame["accuracy"] >= 0.5][0]
        assert reached.iloc[0] == energy[first]  # energy up to the report that first reached the target
        summary = json.loads((Path(result.path) / "energy_summary.json").read_text())
        assert summary["status"] == "completed" and summary["framework"] == "ray-tune"
        assert summary["energy_j"] >= energy[-1] and [e["epoch"] for e in summary["epochs"]] == [1, 2, 3]


@pytest.mark.slow
def test_the_energy_budget_stops_every_trial_at_its_first_report(local_ray):
    results = _fit(local_ray, "budget", stop=EnergyBudgetStopper(budget_j=1e-9), epochs=5)
    assert not results.errors
    for result in results:
        assert result.metrics["training_iteration"] == 1 and result.metrics["energy_j"] > 0
        summary = json.loads((Path(result.path) / "energy_summary.json").read_text())
        assert summary["status"] in ("stopped", "reported")  # stopped by Tune inside its first report
        assert summary["epochs"][0]["energy_j"] == result.metrics["energy_j"] <= summary["energy_j"]


def test_a_result_names_its_attribution_and_carries_the_machine_energy_beside_the_trials():
    figures = {"energy_j": 12.0, "epoch": 2, "epoch_energy_j": 5.0, "epoch_power_w": 2.5, "duration_s": 4.8}
    summary = {"attribution": {"scope": "process", "method": "cpu-time share"}, "machine_total_j": 30.0,
               "sources": {"cpu": "estimated"}, "estimated": True}  # fmt: skip
    result = trial_figures(figures, summary)
    assert result["energy_j"] == 12.0 and result["machine_energy_j"] == 30.0
    assert result["energy_attribution"] == "process"
    assert trial_figures(figures, summary, "machine")["energy_attribution"] == "machine"
    legacy = trial_figures(figures, {"sources": {}})  # a summary without attribution: nothing made up
    assert "machine_energy_j" not in legacy and "energy_attribution" not in legacy


def test_stopper_rules_budget_pruning_and_total():
    stopper = EnergyBudgetStopper(budget_j=100.0, total_budget_j=250.0)
    assert stopper("a", {"energy_j": 40.0}) is False
    assert stopper("b", {"energy_j": 30.0, "energy_to_target_j": 30.0}) is False  # b reached the target with 30 J
    assert stopper("a", {"energy_j": 45.0}) is True and "without reaching the target" in stopper.stopped["a"]
    assert stopper("b", {"energy_j": 100.0, "energy_to_target_j": 30.0}) is True  # its budget, reached or not
    assert stopper.stop_all() is False
    assert stopper("c", {"energy_j": 25.0}) is False and stopper("c", {"energy_j": 105.0}) is True
    assert stopper.stop_all() is True  # 45 + 100 + 105 J
    assert EnergyBudgetStopper(prune=False)("x", {"energy_j": 1e9}) is False
    with pytest.raises(ValueError, match="budget_j must be a positive number"):
        EnergyBudgetStopper(budget_j=-1)
