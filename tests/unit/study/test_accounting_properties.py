"""Property tests (Hypothesis) of a sweep's accounting: however a configuration's trials went (rounds, kills before or
after a trial stored its figures, retries), its trials' shares add up to its run's own energy and duration, and the
study files them under the state the configuration ended in.

The trials are built the way the engine writes them: a copy (retry or next round) records the run's figures so far as
its base when it is created (``enqueue_copy``); a trial stores the run's cumulative figures when its run ends, or
nothing when it is killed before that.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from powertrain.study.engine.results import SweepResult
from powertrain.study.engine.trials import TrialRecord

#: one trial of a configuration: the work its run did (joules, seconds), whether it stored its figures before it
#: ended, and how it ended (the last trial's outcome is drawn separately)
step = st.tuples(
    st.floats(0.0, 1e4, allow_nan=False),
    st.floats(0.0, 1e3, allow_nan=False),
    st.booleans(),
    st.sampled_from(["paused", "fail"]),
)
last_state = st.sampled_from(["complete", "pruned", "fail"])
chain = st.tuples(st.lists(step, max_size=6), st.floats(0.0, 1e4, allow_nan=False), last_state)


def _build(name: str, spec: tuple, first: int) -> tuple[list[TrialRecord], float, float]:
    """The trials of one configuration, numbered from ``first``; returns them and the run's energy and duration."""
    steps, last_j, state = spec
    run_j = run_s = 0.0
    attrs: dict = {"run_name": name}
    trials = []
    for i, (work_j, work_s, stored, ended) in enumerate([*steps, (last_j, 1.0, True, state)]):
        if i:  # a copy of the trial before: it records what the run had spent as its base, as it is created
            attrs = {**attrs, "base_energy_j": attrs.get("energy_j") or 0.0,
                     "base_duration_s": attrs.get("duration_s") or 0.0}  # fmt: skip
        run_j, run_s = run_j + work_j, run_s + work_s  # the run's own account (a resume counts a killed epoch once)
        if stored or ended == "paused":  # a paused round always stored its figures before it was told
            attrs = {**attrs, "energy_j": run_j, "duration_s": run_s}
        values = [1.0] if ended == "complete" else None
        trials.append(TrialRecord(first + i, ended, {}, values, dict(attrs)))
    return trials, run_j, run_s


@settings(max_examples=200, deadline=None)
@given(st.lists(chain, min_size=1, max_size=4))
def test_every_configuration_s_trials_add_up_to_its_run_and_count_under_its_last_state(chains):
    trials: list[TrialRecord] = []
    runs = {}
    for k, spec in enumerate(chains):
        built, run_j, run_s = _build(f"setup-{k}", spec, len(trials))
        trials += built
        runs[f"setup-{k}"] = (run_j, run_s, built[-1])
    result = SweepResult("s", "", ["energy"], ["minimize"], None, trials)
    energy = result.energy
    assert math.isclose(energy["total_j"], sum(j for j, _, _ in runs.values()), rel_tol=1e-9, abs_tol=1e-6)
    for state in ("complete", "pruned", "fail"):
        expected = sum(j for j, _, last in runs.values() if last.state == state)
        assert math.isclose(energy[f"{state}_j"], expected, rel_tol=1e-9, abs_tol=1e-6), (state, energy)
    for name, (run_j, run_s, last) in runs.items():
        mine = [t for t in trials if t.get("run_name") == name]
        assert math.isclose(sum(t.spent_j for t in mine), run_j, rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(sum(t.spent_s for t in mine), run_s, rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(result.run_spent_j(last), run_j, rel_tol=1e-9, abs_tol=1e-6)  # the row of its last trial
        assert all(result.run_spent_j(t) == 0.0 for t in mine if t is not last)
    carbon = result.carbon  # operational and embodied CO2e from the differenced energies and durations
    assert math.isclose(carbon["energy_j"], energy["total_j"], rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(carbon["duration_s"], sum(s for _, s, _ in runs.values()), rel_tol=1e-9, abs_tol=1e-6)
