"""The steps of the GPU evidence run (scripts/gpu_evidence.py).

Each step has its commands at GPU and dry-run sizes, its limit, and reads its figures and target verdicts from
what its commands wrote.

The step types live in gpu_evidence_base.py; the meter step's second command (two jobs sharing the device, the
meter's attribution) in gpu_evidence_shared.py. Sizes are chosen so that each step should end in about two thirds
of its limit on one H100/H200 (estimates: no GPU was at hand when they were set; the JSON of each step records its
real duration so the next run can retune them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gpu_evidence_base import Command, Context, Figures, Step, _fmt, _median, _results, target
from gpu_evidence_shared import shared_device_commands, shared_device_figures

__all__ = ["STEPS", "STEP_BY_NAME", "Command", "Context", "Figures", "Step", "target"]

# The issue's targets.
METER_STEP_MAX, METER_ENERGY_ERROR_MAX = 1.02, 0.01
TRAIN_RATIO_MIN = 0.95
EAT_TIME_MAX, EAT_MEMORY_MAX = 1.15, 1.10
ESTIMATOR_MAX = 1.50


# -- pytest -m gpu --------------------------------------------------------------------------------------------
def pytest_commands(ctx: Context) -> list[Command]:
    """The command `pytest -m gpu` over every test folder, verbose (read if killed), with a JUnit report."""
    xml = ctx.work / "pytest-gpu.xml"
    argv = [ctx.python, "-m", "pytest", "-v", "-m", "gpu", "tests", "-p", "no:cacheprovider", "-o", "timeout=30",
            "--continue-on-collection-errors", "--durations=5", f"--junitxml={xml}"]  # fmt: skip
    return [Command("pytest-gpu", argv, 60, result=None)]


_OUTCOME = re.compile(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", re.MULTILINE)


def pytest_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Counts of the JUnit report (or, when pytest was stopped before writing it, of its verbose output)."""
    path = ctx.work / "pytest-gpu.xml"
    if not path.exists():
        log = ctx.work / "pytest-gpu.log"
        outcomes = _OUTCOME.findall(log.read_text(errors="replace")) if log.exists() else []
        counts: dict[str, int] = {}
        for _, outcome in outcomes:
            counts[outcome.lower()] = counts.get(outcome.lower(), 0) + 1
        rows = [[test, outcome.lower(), ""] for test, outcome in outcomes if outcome in ("FAILED", "ERROR")]
        note = "no JUnit report (pytest was stopped); outcomes read from its output: " + (
            ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
        )
        return {
            "counts": counts,
            "notes": [note],
            "tables": [{"title": "tests not passed", "columns": ["test", "outcome", "message"], "rows": rows}],
        }
    import xml.etree.ElementTree as ET  # our own pytest's report, not outside input

    rows, counts = [], {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    message = (node.get("message") or "").splitlines()[0][:160] if node.get("message") else ""
                    rows.append([f"{case.get('classname')}::{case.get('name')}", kind, message])
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["passed"] = passed
    table = {"title": "tests not passed", "columns": ["test", "outcome", "message"], "rows": rows}
    return {"counts": counts, "tables": [table] if rows else [],
            "notes": [f"{passed} passed, {counts['failures']} failed, {counts['errors']} errors, "
                      f"{counts['skipped']} skipped"]}  # fmt: skip


# -- bench/meter.py -------------------------------------------------------------------------------------------
SHORT_WINDOW_FIGURES = ("duration_sum_over_span", "energy_sum_over_span", "energy_sum_over_whole")
SHORT_WINDOW_ERROR_MAX = 1e-6  # chained windows add up to the span exactly (floating point only)
METER_CONFIGS = ["baseline", "pt-step", "pt-loop", "zeus-step", "codecarbon-1", "codecarbon-15"]


def meter_commands(ctx: Context) -> list[Command]:
    """bench/meter.py at GPU (ResNet18, batch 256, 300 steps, 2 rounds) or dry-run sizes; then a shared device.

    The second command runs two jobs on the device at once (the meter's attribution, gpu_evidence_shared.py).
    """
    out = ctx.work / "meter.json"
    if ctx.dry:
        sizes = ["--device", "cpu", "--steps", "1", "--batch-size", "1", "--warmup", "1", "--repeats", "1"]
    else:
        sizes = ["--device", "cuda", "--steps", "300", "--batch-size", "256", "--warmup", "30", "--repeats", "2"]
    argv = [ctx.python, "bench/meter.py", *sizes, "--configs", *METER_CONFIGS, "--out", str(out)]
    return [Command("meter", argv, 85, result=out), *shared_device_commands(ctx)]


def _clock(result: dict[str, Any]) -> str:
    """The harness's headline clock: wall time on CUDA, process CPU time on the CPU."""
    return "wall" if str(result.get("device", "")).startswith("cuda") else "cpu"


def meter_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Step time and energy against the NVML counter per configuration; the meter targets; the shared device."""
    rows, targets, notes = [], [], []
    meter = [c for c in commands if c.get("label") == "meter"]
    for _, result in _results(meter):
        clock, steps = _clock(result), (result.get("settings") or {}).get("steps") or 1
        hot = result.get("hot_path_us_per_window") or {}
        notes.append("one window: " + ", ".join(f"{k} {_fmt(v, '.2f')} us" for k, v in hot.items()))
        notes.append(f"step-time ratios by {clock} time, median over rounds (min-max in brackets)")
        for config, note in (result.get("unavailable") or {}).items():
            rows.append([config, f"skipped: {note}", "", "", "", ""])
        for comparison in result.get("comparisons") or []:
            for config, v in (comparison.get("variants") or {}).items():
                ratio = (v.get(f"{clock}_ratio") or {}).get("median")
                spread = v.get(f"{clock}_ratio") or {}
                reported = [e.get("reported_j") for e in v.get("extra") or []]
                counter = [e.get("counter_j") for e in v.get("extra") or []]
                shares = [a / b for a, b in zip(reported, counter, strict=False) if a is not None and b]
                share = _median(shares)
                step_ms = _median(v.get("wall_s"))
                low, high = _fmt(spread.get("min"), ".3f"), _fmt(spread.get("max"), ".3f")
                ms = _fmt(step_ms and step_ms / steps * 1e3, ".2f")
                rows.append([config, ms, f"{_fmt(ratio, '.4f')} ({low}-{high})",
                             _fmt(_median(reported), ".1f"), _fmt(_median(counter), ".1f"),
                             _fmt(share, ".4f")])  # fmt: skip
                error = None if share is None else abs(share - 1)
                if config == "pt-step":
                    targets.append(target("meter: per-step windows, step time x no meter", ratio, METER_STEP_MAX))
                    targets.append(target("meter: per-step windows, |energy / NVML counter - 1|", error,
                                          METER_ENERGY_ERROR_MAX, fmt=".4f"))  # fmt: skip
                if config == "pt-loop":
                    targets.append(target("meter: one window, |energy / NVML counter - 1|", error,
                                          METER_ENERGY_ERROR_MAX, fmt=".4f"))  # fmt: skip
    columns = ["config", "ms/step (wall)", "x no meter", "reported J", "counter J", "/ counter"]
    tables = [{"title": "meter overhead and accuracy (median over rounds)", "columns": columns, "rows": rows}]
    for _, result in _results(meter):
        short = result.get("short_windows") or {}
        if not short:
            continue
        tables.append(short_windows_table(short))
        chained = short.get("chained_energy_sum_over_span")
        targets.append(target("meter: 1,000 chained 0.5 ms windows, |sum of energies / span - 1|",
                              None if chained is None else abs(chained - 1), SHORT_WINDOW_ERROR_MAX, fmt=".2e"))
        notes.append(f"one sample() after 200,000 windows without the sampler: "
                     f"{_fmt(short.get('sample_after_200k_windows_ms'), '.2f')} ms")  # fmt: skip
    shared = shared_device_figures(commands, ctx)
    return {"tables": [*tables, *shared["tables"]], "targets": [*targets, *shared["targets"]],
            "notes": [*notes, *shared["notes"]]}  # fmt: skip


def short_windows_table(short: dict[str, Any]) -> dict[str, Any]:
    """bench/meter.py's short windows: loose and chained windows against the whole span (real clock)."""
    rows = [
        [kind, *(_fmt(short.get(f"{kind}_{figure}"), ".6f") for figure in SHORT_WINDOW_FIGURES)]
        for kind in ("loose", "chained")
    ]
    columns = ["1,000 x 0.5 ms windows", "sum of durations / span", "sum of energies / span", "/ whole window"]
    return {"title": "short windows, real clock", "columns": columns, "rows": rows}


# -- bench/train.py -------------------------------------------------------------------------------------------
def train_commands(ctx: Context) -> list[Command]:
    """bench/train.py once per model (ResNet18 and VGG16 on a GPU, LeNet-5 in a dry run)."""
    if ctx.dry:  # LeNet-5 at its native 28x28x1: the smallest model that exercises the same code
        sizes = ["--image-size", "28", "--channels", "1", "--batch-size", "32", "--subset", "64", "--test-subset",
                 "64", "--device", "cpu", "--repeats", "1"]  # fmt: skip
        models = ["lenet5"]
    else:
        sizes = ["--image-size", "32", "--channels", "3", "--batch-size", "256", "--subset", "30000",
                 "--test-subset", "2000", "--device", "cuda", "--repeats", "3"]  # fmt: skip
        models = ["resnet18", "vgg16"]
    commands = []
    for model in models:
        out = ctx.work / f"train-{model}.json"
        argv = [ctx.python, "bench/train.py", "--model", model, "--dataset", "fashion-mnist", *sizes, "--out", str(out)]
        commands.append(Command(f"train-{model}", argv, 30 if not ctx.dry else 60, result=out))
    return commands


def train_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Images per second of each model, plain loop against powertrain.train; the throughput target."""
    rows, targets = [], []
    for label, r in _results(commands):
        settings = r.get("settings") or {}
        model = settings.get("model") or label.removeprefix("train-")
        # the training epoch alone, per round: plain seconds / powertrain seconds = throughput ratio
        per_round = [1 / x for x in r.get("epoch_time_ratios") or [] if x]
        ratio = _median(per_round)
        energy = [e.get("train_energy_j") for c in r.get("comparisons") or []
                  for e in ((c.get("variants") or {}).get("powertrain") or {}).get("extra") or []]  # fmt: skip
        plain, measured = _fmt(r.get("plain_images_per_s"), ",.0f"), _fmt(r.get("powertrain_images_per_s"), ",.0f")
        rows.append([model, settings.get("batch_size"), settings.get("subset"), plain, measured, _fmt(ratio),
                     f"{_fmt(min(per_round, default=None))}-{_fmt(max(per_round, default=None))}",
                     _fmt(_median(energy), ".1f")])  # fmt: skip
        targets.append(target(f"train: {model} images/s x plain loop", ratio, TRAIN_RATIO_MIN, at_most=False))
    columns = ["model", "batch", "images", "plain img/s", "powertrain img/s", "ratio", "min-max", "epoch energy J"]
    return {"tables": [{"title": "training throughput, the training epoch alone (median over rounds)",
                        "columns": columns, "rows": rows}], "targets": targets}  # fmt: skip


# -- bench/eat.py ---------------------------------------------------------------------------------------------
def eat_commands(ctx: Context) -> list[Command]:
    """bench/eat.py: the penalty and the estimator as two commands on a GPU (one in a dry run)."""
    if ctx.dry:
        out = ctx.work / "eat.json"
        argv = [ctx.python, "bench/eat.py", "--device", "cpu", "--models", "lenet5", "--image-size", "28",
                "--amp", "fp32", "--variants", "plain,eat", "--batch-size", "8", "--steps", "1", "--warmup", "1",
                "--repeats", "1", "--estimate-models", "lenet5", "--estimate-batch-size", "64", "--test-subset", "128",
                "--out", str(out)]  # fmt: skip
        return [Command("eat", argv, 80, result=out)]
    steps, estimator = ctx.work / "eat-steps.json", ctx.work / "eat-estimator.json"
    return [
        Command("eat-steps", [ctx.python, "bench/eat.py", "--device", "cuda", "--models", "resnet18,vgg16",
                              "--amp", "fp32,bf16", "--variants", "plain,eat,eat-eager", "--batch-size", "512",
                              "--steps", "20", "--warmup", "5", "--repeats", "3", "--skip-estimator",
                              "--out", str(steps)], 50, result=steps),
        Command("eat-estimator", [ctx.python, "bench/eat.py", "--device", "cuda", "--skip-steps",
                                  "--estimate-models", "lenet5,resnet18", "--repeats", "3", "--out", str(estimator)],
                30, result=estimator),
    ]  # fmt: skip


def eat_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Step time and memory of each penalty variant; estimator cost; their targets."""
    steps, estimates, targets = [], [], []
    for _, result in _results(commands):
        steps += result.get("steps") or []
        estimates += result.get("estimator") or []
    step_rows = []
    for r in steps:
        step_rows.append([r["model"], r["amp"], r["batch_size"], r["variant"], _fmt(r["step_ms"], ".2f"),
                          _fmt(r["step_ratio"]), _fmt(r.get("peak_mib"), ".0f"), _fmt(r.get("memory_ratio")),
                          _fmt(r.get("saved_ratio"))])  # fmt: skip
        if r["variant"] == "eat":
            name = f"EAT penalty: {r['model']} {r['amp']}"
            targets.append(target(f"{name}, step time x plain", r["step_ratio"], EAT_TIME_MAX))
            targets.append(target(f"{name}, peak memory x plain", r.get("memory_ratio"), EAT_MEMORY_MAX))
    estimate_rows = []
    for r in estimates:
        estimate_rows.append([r["model"], r["backend"], r["per_sample"], r["samples"], _fmt(r["plain_s"]),
                              _fmt(r["estimate_s"]), _fmt(r["cost_ratio"]), _fmt(r.get("first_call_s"), ".2f"),
                              _fmt(r.get("mean_ratio"))])  # fmt: skip
        where = f"estimator: {r['model']} {r['backend']}{' per-sample' if r['per_sample'] else ''}"
        targets.append(target(f"{where}, time x plain inference", r["cost_ratio"], ESTIMATOR_MAX))
    tables = [
        {"title": "EAT penalty: training step against plain (peak memory: CUDA only)",
         "columns": ["model", "amp", "batch", "variant", "step ms", "time x", "peak MiB", "memory x", "saved x"],
         "rows": step_rows},
        {"title": "accelerator estimator against plain inference",
         "columns": ["model", "backend", "per sample", "samples", "plain s", "estimate s", "cost x", "first call s",
                     "energy ratio"], "rows": estimate_rows},
    ]  # fmt: skip
    notes = [f"estimator data: {estimates[0].get('data')}"] if estimates else []
    return {"tables": tables, "targets": targets, "notes": notes}


# -- the EAT study and its inference energy -------------------------------------------------------------------
EAT_SETTINGS = [{"sigma": 1.0e-4, "lambda": 1.0}, {"sigma": 1.0e-4, "lambda": 4.0}]


def eat_study_config(ctx: Context) -> dict[str, Any]:
    """ResNet18 on Fashion-MNIST 32x32x3, standard against two EAT settings (the GPU experiment, shortened)."""
    train: dict[str, Any] = {
        "dataset": "fashion-mnist", "image_size": 32, "channels": 3, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
        "nesterov": True, "weight_decay": 5.0e-4, "lr_schedule": "exponential", "lr_gamma": 0.71,
        "eat_layers": "activations",
    }  # fmt: skip
    model = "resnet18"
    if ctx.dry:  # LeNet-5 at 28x28x1 on 64 images: the same code paths in seconds
        train.update(image_size=28, channels=1, epochs=1, batch_size=32, subset=64, test_subset=64, device="cpu",
                     amp="off")  # fmt: skip
        energy = {"enabled": True, "batch_size": 64, "min_seconds": 0.1, "rounds": 1, "warmup_passes": 0}
        estimate_batch, model = 32, "lenet5"
    else:
        train.update(epochs=3, batch_size=512, subset=20000, device="cuda", amp="bf16")
        energy = {"enabled": True, "batch_size": 512, "min_seconds": 2.5, "rounds": 2, "warmup_passes": 1}
        estimate_batch = 512
    return {"train": train, "models": [model], "settings": EAT_SETTINGS, "seed": 0,
            "accuracy_tolerance": 0.01, "estimate_batch_size": estimate_batch, "inference_energy": energy,
            "out": str(ctx.work / "eat-study")}  # fmt: skip


def study_commands(ctx: Context) -> list[Command]:
    """The command `powertrain study eat`: each run is trained, then its inference energy measured right away."""
    config = ctx.work / "eat-study.yaml"
    config.write_text(json.dumps(eat_study_config(ctx), indent=1))  # JSON is YAML
    argv = [ctx.python, "-m", "powertrain", "study", "eat", str(config), "--quiet"]
    return [Command("eat-study", argv, 70, result=ctx.work / "eat-study" / "results.json")]


def inference_commands(ctx: Context) -> list[Command]:
    """The ops-mode ratio of the study's trained models (the study measures their energy right after each run)."""
    out = ctx.work / "ops-ratio.json"
    batch, batches, device = ("32", "2", "cpu") if ctx.dry else ("512", "2", "cuda")
    argv = [ctx.python, "scripts/gpu_evidence_ops.py", str(ctx.work / "eat-study" / "results.json"), str(out),
            "--batch-size", batch, "--max-batches", batches, "--device", device]  # fmt: skip
    return [Command("ops-ratio", argv, 15, result=out)]


def study_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Accuracy, modelled energy ratio and training energy of every run, and the study's results.md."""
    rows = []
    for _, result in _results(commands):
        for model, table in (result.get("tables") or {}).items():
            for r in table.get("rows", []):
                rows.append([model, r.get("setting"), _fmt(r.get("sigma"), "g"), _fmt(r.get("lambda"), "g"),
                             r.get("status"), _fmt(r.get("accuracy"), ".4f"), _fmt(r.get("energy_ratio")),
                             _fmt(r.get("decrease_pct"), ".1f"), _fmt(r.get("train_energy_j"), ".1f"),
                             r.get("train_energy_source")])  # fmt: skip
    md = ctx.work / "eat-study" / "results.md"
    columns = ["model", "setting", "sigma", "lambda", "status", "accuracy", "energy ratio", "decrease %",
               "training J", "source"]  # fmt: skip
    return {"tables": [{"title": "EAT study (accelerator energy ratio: modelled)", "columns": columns, "rows": rows}],
            "markdown": md.read_text() if md.exists() else ""}  # fmt: skip


def inference_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Measured inference energy per model and setting, against standard training (from the study's results)."""
    result = _read(ctx.work / "eat-study" / "results.json")
    ops = {(r.get("model"), r.get("setting")): r for r in (_read(ctx.work / "ops-ratio.json") or {}).get("runs", [])}
    rows, notes = [], []
    for model, table in ((result or {}).get("tables") or {}).items():
        for r in table.get("rows", []):
            inf = r.get("inference") or {}
            if inf.get("j_per_1k_images") is None:
                continue
            op = ops.get((model, r.get("setting"))) or {}
            if op.get("error"):
                notes.append(f"ops ratio of {model} {r.get('setting')}: {op['error']}")
            rows.append([model, r.get("setting"), _fmt(r.get("energy_ratio")), _fmt(op.get("mean_ratio")),
                         _fmt(inf.get("j_per_1k_images")),
                         _fmt(inf.get("j_per_1k_images_std")), _fmt(r.get("inference_diff_pct"), "+.1f"),
                         _fmt(inf.get("avg_power_w"), ".1f"), _fmt(inf.get("images_per_s"), ",.0f"),
                         inf.get("rounds"), f"{inf.get('source', '-')} ({inf.get('component', '-')})"])  # fmt: skip
    columns = ["model", "setting", "modelled ratio", "ops ratio", "J/1k img", "± (rounds)", "vs standard %", "W",
               "img/s", "rounds", "source"]  # fmt: skip
    ops_batch = next((o.get("batch_size") for o in ops.values() if o.get("batch_size")), None)
    figures: Figures = {
        "tables": [{"title": "measured inference energy", "columns": columns, "rows": rows}],
        "notes": ["measured by the eat-study step, right after each run (within its limit); modelled ratio: the "
                  "study's (reference mode); ops ratio: every executed ATen operator counted (docs/eat.md), "
                  f"batch {ops_batch or '-'}, mean over at most 2 test batches", *notes],
    }  # fmt: skip
    if not rows:
        figures["missing"] = "the eat-study step measured no inference energy (see eat-study.json)"
    return figures


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# -- the learning-rate x batch-size sweep ---------------------------------------------------------------------
def sweep_config(ctx: Context) -> dict[str, Any]:
    """A learning rate x batch size grid ranked by energy to a target (examples/sweeps/ holds the long ones)."""
    train: dict[str, Any] = {
        "dataset": "fashion-mnist", "lr_schedule": "cosine", "estimate_batch_size": 0, "stop_at_target": True,
    }  # fmt: skip
    if ctx.dry:  # 64 images, one epoch: any model reaches 1 %
        train.update(model="lenet5", image_size=28, channels=1, epochs=1, subset=64, test_subset=64, device="cpu",
                     target_accuracy=0.01)  # fmt: skip
        space = {"lr": [0.05], "batch_size": [32, 64]}
    else:  # 4 trials of at most 3 epochs over 7,500 images: about 1.5 s an epoch on one H100/H200 (an estimate)
        train.update(model="resnet18", image_size=32, channels=3, epochs=3, subset=7500, device="cuda", amp="bf16",
                     data_on_device=True, target_accuracy=0.8)  # fmt: skip
        space = {"lr": [0.05, 0.2], "batch_size": [256, 512]}
    return {"train": train, "space": space, "sampler": "grid", "objective": "energy_to_target", "seed": 0,
            "out": str(ctx.work / "sweep")}  # fmt: skip


def sweep_commands(ctx: Context) -> list[Command]:
    """The command `powertrain sweep` over a generated config."""
    config = ctx.work / "sweep.yaml"
    config.write_text(json.dumps(sweep_config(ctx), indent=1))  # JSON is YAML
    argv = [ctx.python, "-m", "powertrain", "sweep", "run", str(config), "--out", str(ctx.work / "sweep"), "--quiet"]
    return [Command("sweep", argv, 35, result=ctx.work / "sweep" / "results.json")]


def _first_forecast_j(run: Path) -> float | None:
    """The median energy-to-target forecast a run made after its first epoch (its summary.json), if it made one."""
    summary = _read(run / "summary.json") or {}
    for made in summary.get("forecasts") or []:
        if made.get("epochs_seen") == 1 and not made.get("reached"):
            return (made.get("energy_j") or {}).get("median")
    return None


def sweep_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Energy and time to target of every trial, its attribution and first forecast, the best one and the spread."""
    rows, notes, errors = [], [], []
    for _, result in _results(commands):
        for t in result.get("trials") or []:
            params = t.get("params") or {}
            first = _first_forecast_j(ctx.work / "sweep" / "runs" / str(t.get("run_name")))
            if first is not None and t.get("reached_target") and (t.get("epochs_to_target") or 0) > 1:
                errors.append(abs(first / t["energy_to_target_j"] - 1))
            rows.append([t.get("number"), params.get("lr"), params.get("batch_size"), t.get("state"),
                         t.get("reached_target"), _fmt(t.get("energy_to_target_j"), ".1f"),
                         _fmt(t.get("time_to_target_s"), ".1f"), t.get("epochs_to_target"),
                         _fmt(t.get("final_accuracy"), ".4f"), _fmt(t.get("energy_j"), ".1f"),
                         _fmt(t.get("machine_energy_j"), ".1f"), t.get("attribution"),
                         _fmt(first, ".1f")])  # fmt: skip
        notes.append(f"forecast of the energy to target after epoch 1 against the measured one, over "
                     f"{len(errors)} trials that reached it later: median relative error "
                     f"{_fmt(_median(errors), '.3f')}")  # fmt: skip
        spread = result.get("spread") or {}
        best = result.get("best") or {}
        notes.append(f"target accuracy {result.get('target_accuracy')}; best trial {best.get('number', '-')} "
                     f"({_fmt(result.get('best_energy_to_target_j'), '.1f')} J to target); worst/best energy to "
                     f"target {_fmt(spread.get('ratio'), '.2f')} over {spread.get('trials', 0)} trials that reached "
                     f"it; all trials {_fmt((result.get('energy') or {}).get('total_j'), '.1f')} J")  # fmt: skip
    columns = ["trial", "lr", "batch", "state", "reached", "J to target", "s to target", "epochs to target",
               "final accuracy", "energy J", "machine J", "attribution", "forecast after epoch 1, J"]  # fmt: skip
    return {"tables": [{"title": "sweep trials", "columns": columns, "rows": rows}], "notes": notes}


STEPS = [
    Step("pytest", "pytest -m gpu", 60, pytest_commands, pytest_figures, needs_gpu=True),
    Step("meter", "meter against Zeus, CodeCarbon and the NVML counter (bench/meter.py); two jobs sharing the device",
         130, meter_commands, meter_figures),
    Step("train", "training throughput against a plain loop (bench/train.py)", 60, train_commands, train_figures),
    Step("eat", "EAT penalty and estimator cost (bench/eat.py)", 80, eat_commands, eat_figures),
    Step("eat-study", "EAT study: ResNet18, Fashion-MNIST 32x32x3, and its inference energy", 70, study_commands,
         study_figures),
    Step("sweep", "learning rate x batch size, energy to target", 35, sweep_commands, sweep_figures),
    Step("inference", "measured inference energy of the standard and sparse models; their ops-mode ratio", 15,
         inference_commands, inference_figures, after=("eat-study",)),
]  # fmt: skip
STEP_BY_NAME = {step.name: step for step in STEPS}
