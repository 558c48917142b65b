"""The main job through its Python API at toy size (synthetic data, an MLP): every step, the figures, the reuse.

The real-size demo (LeNet-5 on Fashion-MNIST) is timed by hand: docs/benchmarks.md.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from powertrain.carbon import CarbonSettings
from powertrain.cli import main
from powertrain.cli.demo import print_demo
from powertrain.demo import DemoConfig, run_demo
from powertrain.study.engine import loop as _trial

TOY = DemoConfig(
    dataset="synthetic", model="mlp", lrs=(0.05, 0.3), batch_sizes=(32,), sweep_epochs=2, target_accuracy=0.3,
    eat_epochs=2, eat_lambda=1.0, eat_warmup_epochs=1, eat_batch_size=32, estimate_batch_size=64,
    inference_seconds=0.05, inference_rounds=1, device="cpu", threads=1,
    dataset_options={"num_classes": 4, "train_size": 256, "test_size": 64}, carbon=CarbonSettings(country="FRA"),
)  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    lines: list[str] = []
    out = tmp_path_factory.mktemp("demo") / "d"
    return run_demo(TOY, out=out, notify=lines.append), lines


def test_the_demo_runs_sweep_eat_and_report_on_the_engines(demo):
    result, lines = demo
    assert [line[:5] for line in lines if line.startswith("[")] == ["[1/3]", "[2/3]", "[3/3]"]
    sweep = result.sweep
    setups = sorted(t.get("run_name") for t in sweep.trials if t.state != "paused")  # rounds fold into their setup
    assert setups == ["lr=0.05_batch_size=32", "lr=0.3_batch_size=32"]
    assert (result.out / "sweep" / "study.db").exists() and (result.out / "sweep" / "results.json").exists()
    rows = {row.setting: row for row in result.eat.tables["mlp"].rows}
    std, eat = rows["standard"], rows["sigma1e-4_lambda1"]
    assert std.energy_ratio is not None and eat.energy_ratio is not None
    assert eat.decrease_pct == pytest.approx(100 * (1 - eat.energy_ratio / std.energy_ratio))
    saved = json.loads((result.out / "demo.json").read_text())
    assert saved["eat"]["eat"]["decrease_pct"] == pytest.approx(eat.decrease_pct)
    assert saved["dataset"]["name"] == "synthetic" and saved["dataset"]["fallback"] is False
    # the carbon figures count every joule of both studies once, with the country asked for
    eat_j = sum(r.train_energy_j for r in result.eat.records)
    assert saved["carbon"]["energy_j"] == pytest.approx(sweep.energy["total_j"] + eat_j)
    assert saved["carbon"]["operational_kg_co2e"] > 0 and saved["carbon"]["embodied_kg_co2e"] > 0
    page = result.html.read_text()
    for title in ("Energy-to-target by learning rate and batch size", "Standard against EAT: accelerator energy ratio",
                  "Operational and embodied CO2e"):  # fmt: skip
        assert title in page
    assert "FRA" in result.report.markdown.read_text()
    shown = io.StringIO()
    print_demo(result, Console(file=shown, width=200))
    text = shown.getvalue()
    assert "what the search cost" in text and f"report: {result.html}" in text
    assert f"{eat.decrease_pct:.1f}% lower" in text
    # the best setup's forecast after its first epoch against what it measured (or: it needed no forecast)
    first = saved["sweep"]["best"]["forecast_after_epoch_1"]
    assert "its forecast after epoch 1 vs measured" in text
    assert (first is None and "reached the target in epoch 1" in text) or (
        first["epochs_seen"] == 1 and f"{first['probability']:.0%} likely" in text)  # fmt: skip


def test_a_second_run_with_the_same_out_reuses_every_finished_run(demo, mocker):
    result, _ = demo
    train = mocker.spy(_trial, "train")
    lines: list[str] = []
    again = run_demo(TOY, out=result.out, notify=lines.append)
    assert train.call_count == 0
    sweep_line = next(line for line in lines if line.startswith("[1/3]"))
    assert "2 finished trial(s) reused" in sweep_line and any("2 finished run(s) reused" in line for line in lines)
    assert again.summary["sweep"] == json.loads(json.dumps(result.summary["sweep"]))
    assert [r.action for r in again.eat.records] == ["reused", "reused"]


def test_without_fashion_mnist_the_demo_says_loudly_it_uses_synthetic_data(tmp_path, monkeypatch):
    from powertrain.data import _idx
    from powertrain.demo import _resolve_dataset

    monkeypatch.setattr(_idx, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "nowhere")
    lines: list[str] = []
    config, why = _resolve_dataset(DemoConfig(data_dir=str(tmp_path)), lines.append)
    assert config.dataset == "synthetic" and config.dataset_options["num_classes"] == 10
    assert "Fashion-MNIST not found" in why
    assert any("SYNTHETIC" in line for line in lines)


def test_on_a_busy_cpu_the_demo_trains_with_one_thread(monkeypatch, tmp_path):
    import torch

    from powertrain import demo as demo_module

    monkeypatch.setattr(demo_module.os, "cpu_count", lambda: 2)
    lines: list[str] = []
    monkeypatch.setattr(demo_module.os, "getloadavg", lambda: (7.5, 7.0, 6.0))
    assert demo_module._threads(DemoConfig(device="cpu"), lines.append) == 1
    assert "load average 7.5 on 2 cores" in lines[0]
    monkeypatch.setattr(demo_module.os, "getloadavg", lambda: (0.2, 0.1, 0.1))
    assert demo_module._threads(DemoConfig(device="cpu"), lines.append) == torch.get_num_threads()
    assert demo_module._threads(DemoConfig(device="cpu", threads=2), lines.append) == 2
    assert len(lines) == 1
    # the demo's sweep records the threads the demo chose, so its trials do not take cores / 1 workers instead
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert demo_module.demo_sweep_config(DemoConfig(device="cpu"), tmp_path).threads_per_trial == 1
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--country", "Frnace"], "France"), (["--pue", "0.5"], "pue"), (["--subset", "0"], "subset"),
     (["--threads", "0"], "threads"), (["--out", "FILE/demo"], "cannot write the demo")],
)  # fmt: skip
def test_bad_demo_input_is_one_line_and_exit_2(tmp_path, capsys, args, words):
    blocker = tmp_path / "FILE"
    blocker.write_text("a file, not a folder")
    args = [a.replace("FILE", str(blocker)) for a in args]
    assert main(["demo", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
