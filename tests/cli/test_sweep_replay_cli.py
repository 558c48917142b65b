"""``powertrain sweep replay``: a recorded grid replayed from the command line; bad input is one line and exit 2."""

import json

import pytest

from powertrain.cli import main

TRACE = """setup,epoch,accuracy,energy_j,seconds,lr
fast,1,0.80,100,10,0.1
fast,2,0.86,100,10,0.1
slow,1,0.70,110,11,0.01
slow,2,0.78,110,11,0.01
slow,3,0.83,110,11,0.01
slow,4,0.851,110,11,0.01
never,1,0.50,120,12,0.001
never,2,0.55,120,12,0.001
never,3,0.58,120,12,0.001
never,4,0.60,120,12,0.001
"""


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text(TRACE)
    return path


def test_replay_prints_every_rule_and_writes_the_json_the_issue_names(trace, tmp_path, capsys):
    out = tmp_path / "replay.json"
    assert main(["sweep", "replay", str(trace), "--target", "0.85", "--orders", "20", "--round-epochs", "1",
                 "--json", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    for rule in ("none", "energy", "sm2", "forecast"):
        assert rule in printed
    assert "safe floor" in printed
    data = json.loads(out.read_text())
    assert data["total_j"] == 200 + 440 + 480 and data["best_setup"] == "fast"
    for row in data["rules"].values():
        assert {"spent_j", "share", "same_best", "best_setup"} <= set(row)
    assert data["rules"]["none"]["share"] == 1.0 and data["rules"]["energy"]["same_best"] is True
    assert data["round_epochs"] == 1 and data["orders"] == 20


def test_replay_runs_only_the_rules_asked_for_with_their_options(trace, tmp_path):
    out = tmp_path / "r.json"
    assert main(["sweep", "replay", str(trace), "--target", "0.85", "--orders", "5", "-p", "energy",
                 "--pruner", "forecast:risk=0.05", "--json", str(out)]) == 0  # fmt: skip
    assert sorted(json.loads(out.read_text())["rules"]) == ["energy", "forecast:risk=0.05"]


@pytest.mark.parametrize(("args", "message"), [
    (["--orders", "0"], "--orders must be at least 1"),
    (["--round-epochs", "0"], "--round-epochs must be at least 1"),
    (["-p", "median"], "unknown pruning rule 'median'"),
    (["--target", "0.99"], "no setup reaches 0.99"),
])  # fmt: skip
def test_bad_options_are_one_line_and_exit_2(trace, capsys, args, message):
    extra = [] if "--target" in args else ["--target", "0.85"]
    assert main(["sweep", "replay", str(trace), *extra, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("setup,epoch,accuracy\na,1,0.5\nb,1,0.5\n", "missing column(s) energy_j"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,10\na,3,0.6,10\nb,1,0.5,10\n", "skips to 3"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,10\na,1,0.6,10\nb,1,0.5,10\n", "repeats"),
    ("setup,epoch,accuracy,energy_j\na,1,1.5,10\nb,1,-0.5,10\n", "outside [0, 1]"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,-10\nb,1,0.5,10\n", "negative energy_j"),
    ("setup,epoch,accuracy,energy_j\na,1,0.5,10\na,2,0.6,10\n", "only one setup"),
])  # fmt: skip
def test_a_bad_trace_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert main(["sweep", "replay", str(path), "--target", "0.5"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_trace_in_percent_is_replayed_and_says_so(tmp_path, capsys):
    path = tmp_path / "pct.csv"
    path.write_text("setup,epoch,accuracy,energy_j\na,1,80,10\na,2,90,10\nb,1,70,10\nb,2,75,10\n")
    assert main(["sweep", "replay", str(path), "--target", "0.85", "--orders", "3"]) == 0
    assert "accuracies read as percent" in capsys.readouterr().out


def test_a_missing_path_is_one_line(tmp_path, capsys):
    assert main(["sweep", "replay", str(tmp_path / "nope.csv"), "--target", "0.5"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
