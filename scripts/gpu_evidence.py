"""The GPU evidence run: every GPU figure of powertrain from one command, each step under its own time limit.

Called by ``scripts/gpu-evidence.sh OUTDIR [--dry-run]`` (which first installs the wheel bundle of
``scripts/gpu-bundle.sh`` on the GPU machine); see docs/gpu-evidence.md. Directly:

    python scripts/gpu_evidence.py OUTDIR              # on a machine with an NVIDIA GPU
    python scripts/gpu_evidence.py OUTDIR --dry-run    # anywhere: CPU, tiny sizes, same steps, same files

Budget: the limits below add up to 450 s; the steps get at most what gpu-evidence.sh's set-up (about 10 s) left of
480 s, so the whole run stays under 8 minutes of wall time on one H100 or H200 (the GPU machine's command may run
10). A step that reaches
its limit is stopped (SIGTERM to its process group, SIGKILL 10 s later) and recorded as ``timeout``; one that fails
is recorded with its exit status and the end of its output; the next step runs either way.

| step      | limit | what                                                                       |
| --------- | ----- | -------------------------------------------------------------------------- |
| pytest    |  60 s | ``pytest -m gpu tests``                                                    |
| meter     | 130 s | bench/meter.py: powertrain per-step and whole-loop windows, Zeus, CodeCarbon |
|           |       | (85 s); bench/shared_device.py: two jobs on the GPU at once, attributed (45 s) |
| train     |  60 s | bench/train.py: ResNet18 and VGG16 against a plain loop (30 s each)        |
| eat       |  80 s | bench/eat.py: penalty time and peak memory, fp32 and bf16 (50 s); estimator (30 s) |
| eat-study |  70 s | ResNet18, Fashion-MNIST 32x32x3, standard against two EAT settings, and the |
|           |       | inference energy of each trained model, measured right after its run       |
| sweep     |  35 s | learning rate x batch size with energy-to-target                           |
| inference |  15 s | the study's measured inference energy, read back; each model's ops-mode ratio |

OUTDIR receives exactly eight files (the GPU machine returns at most eight): one JSON per step, named after it, and
``summary.md``, rewritten after every step so that a run killed from outside still leaves its figures behind.
This file uses the standard library only, so that it works even where powertrain does not import.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_evidence_report import render_summary, write_atomic  # noqa: E402
from gpu_evidence_steps import STEPS, Command, Context  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOTAL_LIMIT_S = 450
# The dry run's limits are the GPU limits times this: its tiny steps take seconds of CPU each, but a test suite on a
# busy shared CPU can stretch their wall time severalfold, and a dry run stopped at a GPU limit would prove nothing.
DRY_LIMIT_FACTOR = 3.0
# Steps run one at a time on the GPU (they measure). The dry run measures nothing and its steps are single-threaded
# CPU programs, so two run side by side (a step that reads another's results waits for it): on a 2-core machine that
# keeps its minute of CPU time near half a minute of wall time.
DRY_LANES = 2
_LIVE: set[subprocess.Popen] = set()  # the commands running now, to stop when the runner is stopped
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()
TAIL_CHARS = 6000
KILL_GRACE_S = 10.0


class Stopped(Exception):
    """The runner itself was asked to stop (SIGTERM, SIGINT)."""


def _on_signal(signum: int, _frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def run_command(cmd: Command, ctx: Context, deadline: float) -> dict[str, Any]:
    """Run one command in its own process group until it ends or ``deadline``; never raises for its failure."""
    log_path = ctx.work / f"{cmd.label}.log"
    limit_s = max(0.0, min(cmd.limit_s * ctx.limit_factor, deadline - time.monotonic()))
    record: dict[str, Any] = {"label": cmd.label, "argv": cmd.argv, "limit_s": round(limit_s, 1)}
    start = time.monotonic()
    env = {**os.environ, **ctx.env, **cmd.env, "PYTHONUNBUFFERED": "1"}
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd.argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )  # fmt: skip
            with _LIVE_LOCK:
                _LIVE.add(proc)
            try:
                record["exit_code"] = proc.wait(timeout=limit_s)
                record["status"] = "ok" if record["exit_code"] == 0 else "failed"
            except subprocess.TimeoutExpired:
                record["status"], record["exit_code"] = "timeout", None
                _stop_group(proc)
            except BaseException:
                _stop_group(proc)
                raise
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(proc)
    except OSError as exc:  # the program itself is missing
        record.update(status="failed", exit_code=None, error=f"{type(exc).__name__}: {exc}")
    record["duration_s"] = round(time.monotonic() - start, 2)
    tail = log_path.read_bytes()[-TAIL_CHARS:].decode(errors="replace") if log_path.exists() else ""
    record["output_tail"] = tail
    if record["status"] != "ok" and "error" not in record:
        record["error"] = _error_line(tail, record)
    if cmd.result is not None:
        record["result_file"] = cmd.result.name
        record["result"] = _read_json(cmd.result)
    return record


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _error_line(tail: str, record: dict[str, Any]) -> str:
    if record["status"] == "timeout":
        return f"stopped at its limit of {record['limit_s']} s"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return f"exit status {record['exit_code']}: " + (lines[-1] if lines else "no output")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_step(step: Any, ctx: Context, deadline: float) -> dict[str, Any]:
    """Run every command of ``step`` (each under its own limit, all under the step's); return the step's record."""
    limit_s = step.limit_s * ctx.limit_factor
    record: dict[str, Any] = {"step": step.name, "title": step.title, "limit_s": limit_s, "dry_run": ctx.dry}
    reason = step.skip_reason(ctx)
    if reason:
        record.update(status=f"skipped: {reason}", duration_s=0.0, commands=[])
        return record
    start = time.monotonic()
    step_deadline = min(deadline, start + limit_s)
    commands = []
    for cmd in step.commands(ctx):
        if _STOPPING.is_set():
            commands.append({"label": cmd.label, "argv": cmd.argv, "status": "failed", "error": "runner stopped"})
            continue
        if time.monotonic() >= step_deadline:
            commands.append({"label": cmd.label, "argv": cmd.argv, "status": "timeout", "error": "no time left"})
            continue
        commands.append(run_command(cmd, ctx, step_deadline))
    record["duration_s"] = round(time.monotonic() - start, 2)
    record["commands"] = commands
    statuses = {c["status"] for c in commands}
    record["status"] = "timeout" if "timeout" in statuses else "failed" if "failed" in statuses else "ok"
    if record["status"] != "ok":
        record["error"] = "; ".join(f"{c['label']}: {c['error']}" for c in commands if c.get("error"))
    try:
        record["figures"] = step.figures(commands, ctx)
    except Exception as exc:  # noqa: BLE001 - a result in an unexpected shape must not end the run
        record["figures"] = {"error": f"could not read the figures: {type(exc).__name__}: {exc}"}
    missing = record["figures"].get("missing")
    if missing and record["status"] == "ok":  # a step that reads another's results and found none
        record.update(status="failed", error=missing)
    return record


def probe_hardware(ctx: Context) -> dict[str, Any]:
    """describe_hardware() in a subprocess (it imports torch), plus the GPU's clocks and driver from nvidia-smi."""
    code = "import json; from powertrain.hardware import describe_hardware as d; print(json.dumps(d()))"
    hardware: dict[str, Any] = {}
    try:
        out = subprocess.run([ctx.python, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, **ctx.env})  # fmt: skip
        hardware = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {"error": out.stderr}
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        hardware = {"error": f"{type(exc).__name__}: {exc}"}
    smi = shutil.which("nvidia-smi")
    if smi:
        query = "name,memory.total,driver_version,power.limit,clocks.max.sm,pstate,temperature.gpu"
        try:
            out = subprocess.run([smi, f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=20)  # fmt: skip
            hardware["nvidia_smi"] = {"query": query, "rows": out.stdout.strip().splitlines()}
        except (OSError, subprocess.TimeoutExpired) as exc:
            hardware["nvidia_smi"] = {"error": str(exc)}
    return hardware


def git_commit() -> str | None:
    """The commit of the working tree (``+dirty`` with local changes); None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    """Run the steps named by the arguments; 0 when none failed, 1 when one did, 2 for a usage mistake."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: proves every step works")
    parser.add_argument("--only", default=None, help="comma list of steps to run (the others are not written)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--command", default=None, help="the command line to record in summary.md")
    parser.add_argument("--budget-s", type=float, default=TOTAL_LIMIT_S, help="seconds for all the steps together")
    parser.add_argument("--setup-log", type=Path, default=None, help="gpu-evidence.sh's set-up output, for summary.md")
    args = parser.parse_args(argv)
    names = [s.name for s in STEPS]
    only = args.only.split(",") if args.only else names
    unknown = sorted(set(only) - set(names))
    if unknown:
        print(f"gpu-evidence: unknown step {', '.join(unknown)} (steps: {', '.join(names)})", file=sys.stderr)
        return 2
    args.outdir.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-evidence-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(python=os.environ.get("PYTHON", sys.executable), work=work, dry=args.dry_run, root=ROOT,
                  limit_factor=DRY_LIMIT_FACTOR if args.dry_run else 1.0)  # fmt: skip
    signal.signal(signal.SIGTERM, _on_signal)
    started = time.time()
    budget_s = min(args.budget_s, TOTAL_LIMIT_S) * ctx.limit_factor
    deadline = time.monotonic() + budget_s
    meta = {
        "command": args.command or " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "commit": git_commit(),
        "dry_run": args.dry_run,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "total_limit_s": budget_s,
    }
    if args.setup_log is not None and args.setup_log.exists():
        meta["setup"] = args.setup_log.read_text(errors="replace")[-TAIL_CHARS:]
    # The probe imports PyTorch (seconds of CPU). The GPU run needs its answer before the first step; the dry run,
    # which runs no step on a GPU, lets it overlap the first step and reads it before the first summary.
    probe = ThreadPoolExecutor(max_workers=1).submit(probe_hardware, ctx)

    def hardware() -> dict[str, Any]:
        if "hardware" not in meta:
            meta["hardware"] = probe.result()
            smi_rows = (meta["hardware"].get("nvidia_smi") or {}).get("rows")
            ctx.has_gpu = bool(meta["hardware"].get("gpu_count") or smi_rows)
        return meta["hardware"]

    if not args.dry_run:
        hardware()
        if not ctx.has_gpu:
            print("gpu-evidence: no NVIDIA GPU found here; --dry-run runs the CPU version of every step",
                  file=sys.stderr)  # fmt: skip
            return 2
    records: list[dict[str, Any]] = []
    order = {step.name: i for i, step in enumerate(STEPS)}
    chosen = [step for step in STEPS if step.name in only]
    futures: dict[str, Future] = {}

    def job(step: Any) -> dict[str, Any] | None:
        for name in step.after:  # a step that reads another's results waits for it (dry run: two lanes)
            if name in futures:
                futures[name].exception()
        if _STOPPING.is_set():
            return None
        limit = step.limit_s * ctx.limit_factor
        print(f"gpu-evidence: {step.name} (limit {limit:g} s)", file=sys.stderr, flush=True)
        return run_step(step, ctx, deadline)

    pool = ThreadPoolExecutor(max_workers=DRY_LANES if args.dry_run else 1, thread_name_prefix="step")
    try:
        for step in chosen:  # in order: with one lane, each step starts when the one before it has ended
            futures[step.name] = pool.submit(job, step)
        for future in as_completed(futures.values()):
            record = future.result()
            if record is None:
                continue
            records.append(record)
            records.sort(key=lambda r: order[r["step"]])
            write_atomic(args.outdir / f"{record['step']}.json", json.dumps(record, indent=1, default=str) + "\n")
            meta["elapsed_s"] = round(time.time() - started, 1)
            hardware()
            write_atomic(args.outdir / "summary.md", render_summary(meta, records, STEPS))
            print(f"gpu-evidence: {record['step']}: {record['status']} in {record['duration_s']} s", file=sys.stderr)
    except (Stopped, KeyboardInterrupt) as exc:
        _STOPPING.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with _LIVE_LOCK:
            live = list(_LIVE)
        for proc in live:
            _stop_group(proc)
        pool.shutdown(wait=True)
        meta["stopped"] = f"the runner was stopped ({exc or 'SIGINT'}) after {len(records)} step(s)"
        meta["elapsed_s"] = round(time.time() - started, 1)
        meta.setdefault("hardware", {"error": "stopped before the probe answered"})
        write_atomic(args.outdir / "summary.md", render_summary(meta, records, STEPS))
        return 130
    finally:
        pool.shutdown(wait=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    bad = [r["step"] for r in records if r["status"] in ("failed", "timeout")]
    verdict = "failed: " + ", ".join(bad) if bad else "none failed"
    print(f"gpu-evidence: {len(records)} steps in {meta['elapsed_s']} s; {verdict}; wrote {args.outdir}/",
          file=sys.stderr)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
