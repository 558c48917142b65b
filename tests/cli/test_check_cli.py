"""``powertrain check``: exit 0 within tolerance, 1 when energy grew, 2 for bad input; real measure JSON files."""

from __future__ import annotations

import json
import sys

from powertrain.cli import main


def _measure(tmp_path, name, seconds):
    out = tmp_path / f"{name}.json"
    code = main(["measure", "--out", str(out), "--", sys.executable, "-c",
                 f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"])  # fmt: skip
    assert code == 0
    return out


def test_gate_passes_within_tolerance_and_fails_with_the_growth_when_energy_grew(tmp_path, capsys):
    short = _measure(tmp_path, "short", 0.5)
    assert main(["check", str(short), "--baseline", str(short)]) == 0
    out = capsys.readouterr().out
    assert "ok   energy +0.0%" in out and "energy gate: passed" in out
    long = _measure(tmp_path, "long", 2.0)
    capsys.readouterr()
    assert main(["check", str(long), "--baseline", str(short), "--max-increase", "10%",
                 "--json", str(tmp_path / "verdict.json")]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("FAIL energy grew +") and "energy gate: FAILED" in out
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["passed"] is False and verdict["changes"]["energy"] > 0.1
    assert verdict["result_j"] == json.loads(long.read_text())["measurement"]["energy_j"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    missing = str(tmp_path / "missing.json")
    for args, message in (
        (["check", missing, "--baseline", missing], "does not exist"),
        (["check", missing], "missing --baseline"),
        (["check", missing, "-b", missing, "--max-increase", "lots"], "--max-increase takes a percentage"),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
