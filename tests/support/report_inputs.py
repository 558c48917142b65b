"""Report inputs made by the real code: two tiny training runs, plus a sweep and an EAT study pointing at them.

The fixtures ``report_inputs`` and ``full_report`` (tests/conftest.py) call :func:`make_report_inputs` and
:func:`make_full_report` once per session.

The study files follow the formats their writers produce (``SweepResult.to_dict()``, the EAT study's
``results.json``); only their trials' figures are chosen here, so the plots have something to show.
"""

from __future__ import annotations

import json

from powertrain.meters.testing import ScriptedPowerSensor
from powertrain.training import TrainConfig, train


def _run(root, name, **changes):
    config = TrainConfig(
        dataset="synthetic", model="mlp", epochs=2, batch_size=32, lr=0.05, device="cpu", image_size=8, channels=1,
        dataset_options={"num_classes": 4, "train_size": 192, "test_size": 64}, estimate_batch_size=64,
        target_accuracy=0.5, meter_interval_s=0.05, out=str(root / name), country="FRA",
    ).replace(**changes)  # fmt: skip
    # a steady 20 W scripted CPU estimate: the runs' joules are their durations x 20 W (> 0, so every trial has a
    # figure to rank and plot), labelled estimated as this machine's real estimate, which can read 0 J for a tiny run
    cpu = ScriptedPowerSensor([20.0], device="cpu:estimate", component="cpu", source="estimated")
    return train(config, sensors=[cpu])


def _trial(number, run, *, lr, batch_size, state="complete", to_target=None, spent=None):
    s = run.summary
    return {
        "number": number, "state": state, "params": {"lr": lr, "batch_size": batch_size}, "values": [to_target],
        "run_name": run.run_dir.name, "run_dir": str(run.run_dir), "train_status": s["status"],
        "hardware": "AMD EPYC (2 threads)", "energy_to_target_j": to_target, "final_accuracy": s["final_accuracy"],
        "energy_j": s["energy"]["total_j"], "spent_j": spent if spent is not None else s["energy"]["total_j"],
        "duration_s": s["duration_s"], "curve": [{"epoch": r.epoch, "energy_j": r.energy_j, "elapsed_s": r.elapsed_s,
                                                  "val_accuracy": r.val_accuracy} for r in run.history],
        "hardware_info": s["hardware"],
    }  # fmt: skip


def make_report_inputs(root):
    """Train two tiny runs under ``root`` and write a sweep export and an EAT study's results.json around them."""
    standard = _run(root / "eat" / "runs" / "mlp", "standard")
    eat = _run(root / "eat" / "runs" / "mlp", "sigma1e-4_lambda2", eat_lambda=2.0)
    sweep = root / "sweep"
    sweep.mkdir()
    e1, e2 = standard.summary["energy"]["total_j"], eat.summary["energy"]["total_j"]
    trials = [
        _trial(0, standard, lr=0.05, batch_size=32, to_target=e1 * 0.5),
        _trial(1, eat, lr=0.05, batch_size=64, to_target=e2 * 0.9),
        _trial(2, standard, lr=0.2, batch_size=32, to_target=e1 * 1.7),
        _trial(3, eat, lr=0.2, batch_size=64, state="pruned", spent=e2 * 0.6),
    ]
    (sweep / "results.json").write_text(json.dumps({
        "study": "lr-bs", "storage": "sqlite:///x", "objective": ["energy_to_target_j"], "directions": ["minimize"],
        "target_accuracy": 0.5, "counts": {"complete": 3, "pruned": 1}, "trials": trials,
    }))  # fmt: skip
    layers = lambda r: r.summary["accelerator"]["layers"]  # noqa: E731
    (root / "eat" / "results.json").write_text(json.dumps({
        "study": "eat", "complete": True, "hardware": standard.summary["hardware"],
        "runs": [
            {"model": "mlp", "setting": {"name": "standard", "sigma": 1e-4, "lambda": 0},
             "run_dir": str(standard.run_dir),
             "status": "completed", "final_accuracy": standard.summary["final_accuracy"],
             "energy_ratio": standard.summary["accelerator"]["mean_ratio"], "ratio_batch_size": 64,
             "train_energy_j": e1, "train_energy_sources": ["estimated"], "inference": []},
            {"model": "mlp", "setting": {"name": "sigma1e-4_lambda2", "sigma": 1e-4, "lambda": 2},
             "run_dir": str(eat.run_dir), "status": "completed", "final_accuracy": eat.summary["final_accuracy"],
             "energy_ratio": eat.summary["accelerator"]["mean_ratio"], "ratio_batch_size": 64,
             "train_energy_j": e2, "train_energy_sources": ["estimated"], "inference": []},
        ],
        "tables": {"mlp": {"rows": [{"setting": "standard"}, {"setting": "sigma1e-4_lambda2", "decrease_pct": 12.5,
                                                               "selected": True}], "selected": "sigma1e-4_lambda2"}},
    }))  # fmt: skip
    assert layers(standard)
    return {"root": root, "runs": [standard, eat], "sweep": sweep, "eat": root / "eat", "trials": trials}


def make_full_report(report_inputs):
    """One report of the sweep, the EAT study and a run (built once: the browser test opens the same file)."""
    from powertrain.report import build_report

    inputs = [report_inputs["sweep"], report_inputs["eat"], report_inputs["runs"][0].run_dir]
    return build_report(inputs, out=report_inputs["root"] / "report")
