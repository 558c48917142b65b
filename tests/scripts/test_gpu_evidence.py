"""scripts/gpu-evidence.sh: the dry run writes the same eight files as the GPU run, with every step's figures;
the runner records a failed or timed-out step and goes on."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from tests.support.waiting import DEADLINE_S, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-evidence.sh"
STEP_FILES = ["pytest", "meter", "train", "eat", "eat-study", "sweep", "inference"]


def _runner():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_evidence
        import gpu_evidence_steps
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return gpu_evidence, gpu_evidence_steps


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": f"{src}{os.pathsep}{path}" if path else src}


def test_dry_run_writes_every_step_and_its_figures(tmp_path):
    out = tmp_path / "evidence"
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(out)], env=_env(), capture_output=True, text=True,
                          timeout=DEADLINE_S)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{s}.json" for s in STEP_FILES), "summary.md"])
    steps = {name: json.loads((out / f"{name}.json").read_text()) for name in STEP_FILES}
    assert steps["pytest"]["status"] == "skipped: no GPU"
    gpu_limits = {"meter": 130, "train": 60, "eat": 80, "eat-study": 70, "sweep": 35, "inference": 15}
    for name in STEP_FILES[1:]:
        assert steps[name]["status"] == "ok", (name, steps[name].get("error"))
        assert steps[name]["limit_s"] == 3 * gpu_limits[name]  # the dry run's room for a busy CPU
        assert all(c["status"] == "ok" and c["duration_s"] <= c["limit_s"] for c in steps[name]["commands"])

    meter = {row[0]: row for row in steps["meter"]["figures"]["tables"][0]["rows"]}
    assert set(meter) == {"baseline", "pt-step", "pt-loop", "zeus-step", "codecarbon-1", "codecarbon-15"}
    assert float(meter["pt-step"][1]) > 0  # ms per step
    assert meter["zeus-step"][1].startswith("skipped:")  # Zeus needs a GPU
    if importlib.util.find_spec("codecarbon") is None:
        assert meter["codecarbon-1"][1] == "skipped: not installed"
    short = {row[0]: row for row in steps["meter"]["figures"]["tables"][1]["rows"]}  # bench/meter.py's short windows
    assert set(short) == {"loose", "chained"}
    assert abs(float(short["chained"][1]) - 1) < 1e-6  # chained windows: their durations add up to the span
    assert 0 < float(short["loose"][1]) < 1  # loose windows leave the moments between them to no window
    assert any(note.startswith("one sample() after 200,000 windows") and note.endswith(" ms")
               for note in steps["meter"]["figures"]["notes"])  # fmt: skip
    shared = steps["meter"]["figures"]["tables"][2]  # bench/shared_device.py: two jobs at once against one alone
    assert shared["title"] == "two jobs on one device (attribution)" and len(shared["rows"]) == 1
    alone_j, together_j, ratio = float(shared["rows"][0][1]), shared["rows"][0][3].split(" + "), shared["rows"][0][5]
    assert alone_j > 0 and len(together_j) == 2 and all(float(j) > 0 for j in together_j)  # never 0 J
    assert float(ratio) == pytest.approx(sum(map(float, together_j)) / (2 * alone_j), rel=0.01)  # shown to 0.1 J
    targets = {t["what"]: t for name in STEP_FILES for t in steps[name].get("figures", {}).get("targets", [])}
    chained = targets["meter: 1,000 chained 0.5 ms windows, |sum of energies / span - 1|"]
    assert chained["value"] is not None and chained["met"] == (chained["value"] <= 1e-6)
    step_time = targets["meter: per-step windows, step time x no meter"]
    assert step_time["value"] > 0 and step_time["met"] == (step_time["value"] <= 1.02)
    assert targets["meter: per-step windows, |energy / NVML counter - 1|"]["met"] is None  # no counter on a CPU
    shared_target = targets["attribution: two jobs on one device at once, |together / 2 x alone - 1|"]
    assert shared_target["value"] is not None and shared_target["met"] == (shared_target["value"] <= 0.25)
    assert targets["train: lenet5 images/s x plain loop"]["value"] > 0
    assert targets["EAT penalty: lenet5 fp32, peak memory x plain"]["met"] is None  # CUDA only
    assert any(what.startswith("estimator: lenet5") for what in targets)

    study = steps["eat-study"]["figures"]["tables"][0]["rows"]
    assert [r[1] for r in study] == ["standard", "sigma1e-4_lambda1", "sigma1e-4_lambda4"]
    assert all(r[4] == "completed" and 0 <= float(r[5]) <= 1 for r in study)
    inference = steps["inference"]["figures"]["tables"][0]["rows"]
    assert len(inference) == 3 and all(float(r[4]) > 0 for r in inference)  # J per 1000 images, measured
    assert all(0 < float(r[3]) <= 1 for r in inference)  # the ops-mode ratio of each trained model
    trials = steps["sweep"]["figures"]["tables"][0]["rows"]
    assert sorted(r[2] for r in trials) == [32, 64]
    assert all(r[3] == "complete" and r[4] is True and float(r[5]) > 0 for r in trials)  # energy to target, J
    assert all(r[11] == "process" and float(r[10]) >= float(r[9]) > 0 for r in trials)  # the run's J, the machine's
    assert all(r[12] == "-" for r in trials)  # reached in epoch 1: no forecast was needed

    summary = (out / "summary.md").read_text()
    assert "DRY RUN" in summary and f"scripts/gpu-evidence.sh --dry-run {out}" in summary
    assert "## Hardware" in summary and "## Targets" in summary and "(dry run)" in summary
    assert all(f"## {name}:" in summary for name in STEP_FILES)
    assert "| pytest | pytest -m gpu | skipped: no GPU |" in summary
    assert "measured inference energy" in summary and "sweep trials" in summary


def _fake_steps(steps_module, work_note: Path):
    Step, Command = steps_module.Step, steps_module.Command
    py = sys.executable
    sleeper = f"import os, time; open({str(work_note)!r}, 'w').write(str(os.getpid())); time.sleep(60)"

    def commands(argv_list, limit):
        return lambda ctx: [Command(f"c{i}", argv, limit) for i, argv in enumerate(argv_list)]

    def no_figures(commands, ctx):
        return {"targets": [steps_module.target("made-up ratio", 1.5, 1.2)]}

    return [
        Step("fails", "exits 3", 20, commands([[py, "-c", "import sys; print('bad input'); sys.exit(3)"]], 20),
             no_figures),
        Step("hangs", "sleeps past its limit", 2, commands([[py, "-c", sleeper]], 30), no_figures),
        Step("works", "runs after both", 20, commands([[py, "-c", "print('fine')"]], 20), no_figures),
        Step("gpu-only", "needs a GPU", 20, commands([[py, "-c", "pass"]], 20), no_figures, needs_gpu=True),
    ]  # fmt: skip


def test_a_failed_or_timed_out_step_is_recorded_and_the_next_one_runs(tmp_path, monkeypatch):
    runner, steps_module = _runner()
    pid_file = tmp_path / "sleeper.pid"
    monkeypatch.setattr(runner, "STEPS", _fake_steps(steps_module, pid_file))
    monkeypatch.setattr(runner, "probe_hardware", lambda ctx: {"gpu_count": 0, "gpus": []})
    monkeypatch.setattr(runner, "KILL_GRACE_S", 1.0)
    monkeypatch.setattr(runner, "DRY_LIMIT_FACTOR", 1.0)  # the GPU run's limits
    out = tmp_path / "out"
    start = time.monotonic()
    assert runner.main([str(out), "--dry-run", "--work", str(tmp_path / "work")]) == 1
    assert time.monotonic() - start < 60  # the sleeper was cut at its limit: its own 60 s never ran out
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert records["fails"]["status"] == "failed"
    assert records["fails"]["error"] == "c0: exit status 3: bad input"
    assert records["hangs"]["status"] == "timeout" and 2 <= records["hangs"]["duration_s"] < 60  # limit 2 s
    assert records["works"]["status"] == "ok" and "fine" in records["works"]["commands"][0]["output_tail"]
    assert records["gpu-only"]["status"] == "skipped: no GPU"
    # the timed-out command's process is gone (found by its command line: on a busy machine it may be stopped at its
    # limit before it has even written its pid)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(pid_file) in " ".join(p.info["cmdline"] or ())]
    summary = (out / "summary.md").read_text()
    assert "| fails | exits 3 | failed |" in summary and "| hangs | sleeps past its limit | timeout |" in summary
    assert "| made-up ratio | 1.500 | <= 1.2 | NOT MET (dry run) |" in summary
    assert "bad input" in summary  # the end of a failed command's output


def test_without_a_gpu_the_real_run_refuses_with_one_line(tmp_path, monkeypatch, capsys):
    runner, _ = _runner()
    monkeypatch.setattr(runner, "probe_hardware", lambda ctx: {"gpu_count": 0, "gpus": []})
    assert runner.main([str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        "gpu-evidence: no NVIDIA GPU found here; --dry-run runs the CPU version of every step"
    )
    assert runner.main([str(tmp_path / "out"), "--only", "meter,nope"]) == 2
    assert "unknown step nope" in capsys.readouterr().err


def test_the_script_refuses_a_missing_outdir():
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=DEADLINE_S)
    assert proc.returncode == 2 and "OUTDIR" in proc.stderr


def test_pytest_outcomes_are_read_from_the_output_when_pytest_was_stopped(tmp_path):
    _, steps_module = _runner()
    ctx = steps_module.Context(python=sys.executable, work=tmp_path, dry=False, root=ROOT)
    (tmp_path / "pytest-gpu.log").write_text(
        "tests/gpu/test_a.py::test_one PASSED [ 33%]\n"
        "tests/gpu/test_a.py::test_two[compile] FAILED [ 66%]\n"
        "tests/gpu/test_b.py::test_three PASSED [100%]\n"
    )
    figures = steps_module.pytest_figures([], ctx)
    assert figures["counts"] == {"passed": 2, "failed": 1}
    assert figures["tables"][0]["rows"] == [["tests/gpu/test_a.py::test_two[compile]", "failed", ""]]


CHECK_GPU_COMMANDS = r"""
import argparse, json, runpy, sys
from powertrain.study import load_eat_study_config, load_sweep_config

class Parsed(Exception):
    pass

original = argparse.ArgumentParser.parse_args

def parse_then_stop(self, args=None, namespace=None):
    original(self, args, namespace)  # an unknown flag or a bad choice exits with status 2 here
    raise Parsed

argparse.ArgumentParser.parse_args = parse_then_stop
commands, study, sweep = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
for argv in commands:
    sys.argv = argv[1:]
    try:
        runpy.run_path(argv[1], run_name="__main__")
    except Parsed:
        print("parsed", argv[1])
load_eat_study_config(study).validate()
load_sweep_config(sweep)
print("configs valid")
"""


def test_the_gpu_commands_are_accepted_by_the_benchmarks_and_commands_they_call(tmp_path):
    # The GPU run cannot be rehearsed here, but its arguments and configs can: each bench's own parser
    # takes the GPU-size argv (then stops), and the generated study and sweep configs load.
    _, steps_module = _runner()
    ctx = steps_module.Context(python=sys.executable, work=tmp_path, dry=False, root=ROOT, has_gpu=True)
    steps = ("meter", "train", "eat", "inference")
    benches = [c.argv for name in steps for c in steps_module.STEP_BY_NAME[name].commands(ctx)]
    assert [a[1] for a in benches] == ["bench/meter.py", "bench/shared_device.py", "bench/train.py", "bench/train.py",
                                       "bench/eat.py", "bench/eat.py", "scripts/gpu_evidence_ops.py"]  # fmt: skip
    study = steps_module.STEP_BY_NAME["eat-study"].commands(ctx)[0].argv[5]
    sweep = steps_module.STEP_BY_NAME["sweep"].commands(ctx)[0].argv[5]
    proc = subprocess.run([sys.executable, "-c", CHECK_GPU_COMMANDS, json.dumps(benches), study, sweep], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=DEADLINE_S)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("parsed bench/") == 6 and "parsed scripts/gpu_evidence_ops.py" in proc.stdout
    assert "configs valid" in proc.stdout


STOPPED_RUN = r"""
import sys
sys.path.insert(0, sys.argv[1])
import gpu_evidence as runner, gpu_evidence_steps as s

py, pid_file, out = sys.executable, sys.argv[2], sys.argv[3]
sleeper = f"import os, time; open({pid_file!r}, 'w').write(str(os.getpid())); time.sleep(120)"
def commands(argv):
    return lambda ctx: [s.Command("c0", argv, 200)]
def figures(commands, ctx):
    return {"notes": ["read"]}
runner.STEPS = [
    s.Step("quick", "ends at once", 200, commands([py, "-c", "print('done')"]), figures),
    s.Step("long", "runs until stopped", 200, commands([py, "-c", sleeper]), figures, after=("quick",)),
    s.Step("later", "never starts", 200, commands([py, "-c", "pass"]), figures, after=("long",)),
]
runner.probe_hardware = lambda ctx: {"gpu_count": 0, "gpus": []}
sys.exit(runner.main([out, "--dry-run"]))
"""


def test_a_stopped_runner_stops_its_commands_and_keeps_the_finished_steps(tmp_path):
    pid_file, out = tmp_path / "sleeper.pid", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", STOPPED_RUN, str(ROOT / "scripts"), str(pid_file), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), "the sleeping step to start", proc=proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    with pytest.raises(ProcessLookupError):  # the running command's process group was stopped with the runner
        os.kill(int(pid_file.read_text()), 0)
    assert sorted(p.name for p in out.iterdir()) == ["quick.json", "summary.md"]  # the finished step is kept
    assert json.loads((out / "quick.json").read_text())["status"] == "ok"
    summary = (out / "summary.md").read_text()
    assert "the runner was stopped (SIGTERM) after 1 step(s)" in summary
    assert "| later | never starts | not run |" in summary
