"""The fault-injection harness of the study engine: kill or fill the disk at a kill point, rerun, check invariants.

A scenario runs a tiny real sweep (or merge) in a worker process that the code itself stops at a named kill point
(``powertrain/_killpoints.py``): SIGKILL, SIGTERM, or a pause during which the harness fills the small tmpfs that holds
the study and run folders, so that the next write fails with ENOSPC. Then the disk is freed, the same command is run
again, and :func:`check_invariants` checks what the issue promises (docs/reliability.md):

- the study's total energy equals the sum of its runs' own totals, each filed under the state its configuration ended
  in (``complete_j``, ``pruned_j``, ...); results.json says the same as the storage;
- every configuration ended (nothing left running, waiting, paused or failed) and every epoch was trained once (each
  run's metrics.csv holds epochs 1..n, and no process trained an epoch after it was checkpointed: the trace);
- no failed or interrupted run is counted as a complete trial;
- operational and embodied CO2e come from differenced energies and durations: the study's figures equal the sum of
  the runs' own.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PATHS", "Scenario", "check_invariants", "check_merge", "mounted_tmpfs", "run_scenario", "tmpfs_allowed"]

DEADLINE_S = 600.0  # a generous deadline for any one process: a hang still fails, a loaded machine does not

TRAIN = {
    "dataset": "synthetic", "model": "mlp", "epochs": 2, "batch_size": 32, "lr": 0.2, "device": "cpu",
    "estimate_batch_size": 0, "image_size": 8, "channels": 1, "meter_interval_s": 0.02,
    "dataset_options": {"num_classes": 4, "train_size": 512, "test_size": 64},
}  # fmt: skip

#: the three paths of the engine: a grid of configurations, sampled trials, breadth-first rounds with energy pruning
PATHS: dict[str, dict[str, Any]] = {
    "grid": {"space": {"seed": [0, 1]}, "objective": "energy"},
    "sampled": {"space": {"lr": {"low": 0.01, "high": 0.2, "log": True}}, "sampler": "random", "n_trials": 2,
                "objective": "energy"},  # fmt: skip
    "rounds": {"space": {"lr": [1e-7, 0.2]}, "round_epochs": 1, "pruner": "energy", "objective": "energy_to_target",
               "train": {"epochs": 3, "target_accuracy": 0.5}},  # fmt: skip
}
#: ``R`` of the trial points: the round whose window matters (round 2: the issue's SIGKILL between claim and energy)
ROUND = {"grid": 1, "sampled": 1, "rounds": 2}


@dataclass
class Scenario:
    """One fault: ``path`` (grid, sampled, rounds), ``storage`` (sqlite, postgresql), ``point`` (a kill point,
    ``POINT:N`` or ``POINT:N@PLACE``) and ``action`` (SIGKILL, SIGTERM, full)."""

    path: str
    storage: str
    point: str
    action: str
    study: str = field(default_factory=lambda: f"f{uuid.uuid4().hex[:10]}")

    @property
    def id(self) -> str:
        return f"{self.path}-{self.storage}-{self.point}-{self.action}"


@dataclass
class Outcome:
    """What the faulted process did, and the folder and storage the rerun finished."""

    returncode: int
    stderr: str
    out: Path
    url: str
    trace: Path
    config: Path


def sweep_yaml(path: str, study: str) -> str:
    import yaml

    spec = dict(PATHS[path])
    train = {**TRAIN, **spec.pop("train", {})}
    doc = {"train": train, **spec, "study": study, "heartbeat_s": 1, "grace_s": 2}
    return yaml.safe_dump(doc, sort_keys=False)


def tmpfs_allowed() -> bool:
    """True when this process may mount a tmpfs (root where mount works): the disk-full scenarios need it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(f"/tmp/powertrain-tmpfs-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
        if done.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True, capture_output=True)
        return True
    finally:
        probe.rmdir()


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size_mb: int = 48) -> Iterator[Path]:
    """A small tmpfs at ``folder`` (the study and run folders go there), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system of ``disk`` to the last byte; returns the filler file (delete it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def _env(trace: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTRAIN_KILL")}
    env["POWERTRAIN_TRACE"] = str(trace)
    env.update(extra)
    return env


def _run(
    cmd: list[str], env: dict[str, str], *, marker: Path | None = None, disk: Path | None = None
) -> tuple[int, str]:
    """Run ``cmd``; with ``marker``, fill ``disk`` when the process pauses at its kill point, then let it go on."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    filler = None
    try:
        if marker is not None:
            deadline = time.monotonic() + DEADLINE_S
            while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)  # waiting for a condition (the marker), with a deadline: not for luck
            if marker.exists():
                filler = fill(disk)  # type: ignore[arg-type]
                marker.unlink()
        _, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if filler is not None:
            filler.unlink(missing_ok=True)  # the disk is freed before the rerun
    return proc.returncode, err


def run_scenario(scenario: Scenario, work: Path, disk: Path | None, postgres_url: str | None) -> Outcome:
    """Run the sweep of ``scenario`` until its fault, then run it again to the end; returns both runs' outcome."""
    out = (disk or work) / "study"
    config = work / "sweep.yaml"
    config.write_text(sweep_yaml(scenario.path, scenario.study))
    url = postgres_url if scenario.storage == "postgresql" else f"sqlite:///{out / 'study.db'}"
    cmd = [sys.executable, "-m", "powertrain", "sweep", "run", str(config), "--out", str(out), "-q"]
    if scenario.storage == "postgresql":
        cmd += ["--storage", str(postgres_url)]
    trace, marker = work / "trace", work / "paused"
    if scenario.action == "full":
        env = _env(trace, POWERTRAIN_KILL_AT=scenario.point, POWERTRAIN_KILL_WITH="pause",
                   POWERTRAIN_KILL_MARKER=str(marker))  # fmt: skip
        code, err = _run(cmd, env, marker=marker, disk=disk)
    else:
        code, err = _run(cmd, _env(trace, POWERTRAIN_KILL_AT=scenario.point, POWERTRAIN_KILL_WITH=scenario.action))
    again, again_err = _run(cmd, _env(trace))
    assert again == 0, f"the rerun after {scenario.id} failed ({again}): {again_err[-2000:]}"
    return Outcome(code, err, out, url, trace, config)


def check_fault(scenario: Scenario, outcome: Outcome) -> None:
    """The faulted process ended as its fault says: killed, terminated (143), or one line and exit 2 (full disk)."""
    name, number = scenario.point.split("@")[0].split(":")
    reached = [line.split() for line in outcome.trace.read_text().splitlines()]
    assert any(p[0] == name and (number == "*" or p[1] == number) for p in reached), f"{scenario.point} never reached"
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    if scenario.action == "SIGKILL":
        assert outcome.returncode == -9, (outcome.returncode, outcome.stderr[-2000:])
    elif scenario.action == "SIGTERM":
        assert outcome.returncode == 143, (outcome.returncode, outcome.stderr[-2000:])
    else:  # a full disk: one line naming what could not be written (or the run went on where nothing more was written)
        errors = [line for line in lines if line.startswith("powertrain: error:")]
        assert outcome.returncode == 2 and len(errors) == 1, (outcome.returncode, outcome.stderr[-2000:])
        assert "No space left" in errors[0] or "full" in errors[0], errors[0]


def _runs_of(out: Path) -> dict[str, dict[str, Any]]:
    from powertrain._records import read_summary

    return {p.name: read_summary(p / "summary.json") for p in sorted((out / "runs").iterdir()) if p.is_dir()}


def check_invariants(scenario: Scenario, outcome: Outcome) -> None:
    """Every invariant of the module docstring, on the finished study of ``scenario``."""
    import optuna

    from powertrain._records import read_metrics, read_results
    from powertrain.study import load_sweep
    from powertrain.study.engine.figures import ENDED_STATUSES
    from powertrain.study.engine.trials import chains, head

    result = load_sweep(outcome.url if scenario.storage == "postgresql" else outcome.out, study=scenario.study)
    stored = optuna.load_study(study_name=scenario.study, storage=outcome.url)
    states = [t.state.name for t in stored.get_trials(deepcopy=False)]
    assert "RUNNING" not in states and "WAITING" not in states, states
    runs = _runs_of(outcome.out)
    by_chain = chains(result.trials)
    expected = 2  # every path has two configurations
    assert len(by_chain) == expected == len(runs), (sorted(k[1] for k in by_chain), sorted(runs))
    totals = {"complete_j": 0.0, "pruned_j": 0.0}
    operational = embodied = 0.0
    for (_, name), chain in by_chain.items():
        last = head(chain)
        summary = runs[name]
        assert last is not None and last.state in ("complete", "pruned"), (name, [t.state for t in chain])
        assert summary["final"] and summary["status"] in ENDED_STATUSES, (name, summary["status"])
        assert last.get("train_status") in ENDED_STATUSES, (name, last.get("train_status"))  # never failed as complete
        for t in chain:
            if t.state == "complete":
                assert t.get("train_status") in ENDED_STATUSES and t.get("train_status") == summary["status"]
        total_j, duration_s = float(summary["energy"]["total_j"]), float(summary["duration_s"])
        assert math.isclose(sum(t.spent_j for t in chain), total_j, rel_tol=1e-9, abs_tol=1e-9), (
            name, [(t.number, t.state, t.spent_j) for t in chain], total_j)  # fmt: skip
        assert math.isclose(sum(t.spent_s for t in chain), duration_s, rel_tol=1e-9, abs_tol=1e-9), (
            name, [(t.number, t.spent_s) for t in chain], duration_s)  # fmt: skip
        totals[f"{last.state}_j"] += total_j
        operational += summary["carbon"]["operational_kg_co2e"]
        embodied += summary["carbon"]["embodied_kg_co2e"]
        rows = read_metrics(outcome.out / "runs" / name / "metrics.csv")
        epochs = [r["epoch"] for r in rows]
        assert epochs == list(range(1, len(epochs) + 1)) and epochs, (name, epochs)
        assert sum(r["complete"] == 1 for r in rows) == summary["epochs_completed"]  # a budget may cut the last short
        curve = [p[0] for p in last.get("curve") or []]
        assert curve == epochs, (name, curve, epochs)
    energy = result.energy
    assert math.isclose(energy["total_j"], sum(s["energy"]["total_j"] for s in runs.values()), rel_tol=1e-9)
    for key, value in totals.items():
        assert math.isclose(energy[key], value, rel_tol=1e-9, abs_tol=1e-9), (key, energy, totals)
    assert energy["fail_j"] == energy["paused_j"] == energy["running_j"] == 0.0, energy
    carbon = result.carbon
    assert math.isclose(carbon["operational_kg_co2e"], operational, rel_tol=1e-6), (carbon, operational)
    assert math.isclose(carbon["embodied_kg_co2e"], embodied, rel_tol=1e-6), (carbon, embodied)
    exported = read_results(outcome.out / "results.json")  # the rerun's export says what the storage says
    assert math.isclose(exported["energy"]["total_j"], energy["total_j"], rel_tol=1e-9)
    assert exported["counts"] == result.counts
    _check_trace(outcome.trace, outcome.out)


def _check_trace(trace: Path, out: Path) -> None:
    """No process trained an epoch of a run after that epoch was checkpointed; each checkpoint is written once."""
    done: dict[tuple[str, int], int] = {}
    for line in trace.read_text().splitlines():
        point, number, place, _ = line.split(" ")
        if not place.startswith(str((out / "runs").resolve())):
            continue
        key = (place, int(number))
        if point == "checkpoint":
            assert key not in done, f"epoch {number} of {place} was checkpointed twice"
            done[key] = 1
        elif point == "epoch":
            assert key not in done, f"epoch {number} of {place} was trained again after its checkpoint"


def check_merge(dest: Path | str, sources: list[Path], study: str | None = None) -> None:
    """The merged study holds each ended trial of every source exactly once, and their energy once."""
    from powertrain.study import load_sweep

    merged = load_sweep(dest, study=study)
    expected = [load_sweep(s) for s in sources]
    assert len(merged.trials) == sum(len(e.trials) for e in expected), [len(e.trials) for e in (merged, *expected)]
    assert math.isclose(merged.energy["total_j"], sum(e.energy["total_j"] for e in expected), rel_tol=1e-9)
    origins = [t.origin for t in merged.trials]
    assert len(set(zip(origins, [t.number for t in merged.trials], strict=True))) == len(origins)
    assert json.dumps(sorted(merged.counts.items())) == json.dumps(
        sorted({k: sum(e.counts.get(k, 0) for e in expected) for k in merged.counts}.items())
    )
