"""The report's subtitle says whose energy its figures are, and says a mix loudly."""

from __future__ import annotations

from types import SimpleNamespace

from powertrain.report.build import _attribution_line


def _report(*scopes, trials=()):
    """A loaded report whose runs' summaries carry ``scopes`` (None: a summary written before attribution)."""

    def summary(scope):
        energy = {"total_j": 1.0} if scope is None else {"total_j": 1.0, "attribution": {"scope": scope}}
        return {"energy": energy}

    runs = [SimpleNamespace(summary=summary(s)) for s in scopes]
    made = [SimpleNamespace(run=SimpleNamespace(summary=summary(s)) if s != "waiting" else None) for s in trials]
    return SimpleNamespace(runs=runs, all_trials=lambda: made)


def test_runs_attributed_alike_are_labelled_with_their_scope():
    assert _attribution_line(_report("process", trials=["process", "waiting"])) == (
        "energy attributed to each run (process)"
    )
    assert _attribution_line(_report("machine")) == "energy of the whole machine (not attributed to the runs)"
    assert _attribution_line(_report()) == "attribution unknown"


def test_a_mix_of_machine_wide_and_attributed_figures_is_said_loudly():
    line = _attribution_line(_report("process", trials=["machine"]))
    assert line.startswith("MIXED attribution (machine and process)") and "do not compare" in line


def test_a_summary_from_before_attribution_counts_as_machine_wide():
    line = _attribution_line(_report(None, "process"))
    assert line.startswith("MIXED attribution (machine and process)")
