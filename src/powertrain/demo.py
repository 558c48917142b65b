"""The main job: the whole energy study, end to end, on the embedded default dataset (Fashion-MNIST).

:func:`run_demo` runs three steps into one folder, each on the project's own engines (no runner of its own):

1. ``sweep/``: a learning-rate x batch-size grid on the study engine (:func:`powertrain.study.sweep`), ranked by
   energy-to-target-accuracy, with energy-aware pruning (a trial stops once it has spent more than the best
   energy-to-target so far without reaching the target).
2. ``eat/``: standard training against EAT's l0 activation penalty on the EAT study preset
   (:func:`powertrain.study.run_eat_study`, itself a sweep): accuracy, EAT's accelerator energy ratio and the measured
   inference energy.
3. ``report/``: the HTML report and its Markdown summary (:func:`powertrain.report.build_report`), with operational
   and embodied CO2e beside the energy.

``demo.json`` holds the headline figures. Every step keeps what it finished: run the demo again with the same ``out``
and finished trials are reused, an interrupted one continues from its checkpoint. When Fashion-MNIST cannot be had, the
demo says so loudly and runs on synthetic images instead (``demo.json`` ``dataset.fallback``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from powertrain._files import json_safe, write_atomic
from powertrain._units import format_joules as _joules
from powertrain.carbon import CarbonSettings
from powertrain.errors import ConfigError, DataNotFoundError
from powertrain.training import TrainConfig
from powertrain.training.progress import ProgressReporter

__all__ = ["DemoConfig", "DemoResult", "run_demo"]

log = logging.getLogger(__name__)

Notify = Callable[[str], None]

#: Synthetic stand-in for Fashion-MNIST when no copy can be had: the same shape (28x28x1, 10 classes), a smaller split.
SYNTHETIC_FALLBACK = {"num_classes": 10, "train_size": 12_000, "test_size": 2_000}


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; the defaults are sized for a 2-core CPU (well under 10 minutes, see docs/benchmarks.md).

    Attributes:
        dataset: Dataset of every run (default: the embedded Fashion-MNIST).
        model: Model of every run.
        lrs: Learning rates of the sweep's grid.
        batch_sizes: Batch sizes of the sweep's grid.
        sweep_epochs: Most epochs of a sweep trial (a trial stops at the target, or when pruned).
        target_accuracy: Validation accuracy of energy-to-target.
        eat_epochs: Epochs of the standard and EAT runs.
        eat_lambda: EAT's penalty weight (warmed up over ``eat_warmup_epochs``).
        eat_sigma: EAT's smoothing constant.
        eat_warmup_epochs: Epochs of linear lambda warm-up (LeNet-5 has no BatchNorm and needs one).
        eat_lr: Learning rate of the standard and EAT runs.
        eat_batch_size: Their batch size.
        estimate_batch_size: Batch size of EAT's accelerator energy ratio (EAT: 512).
        inference_seconds: Shortest metered window of the inference energy measurement.
        inference_rounds: Inference measurements per trained model (their spread shows the noise).
        subset: Train on only this many samples (a seeded random subset; None: the whole training split, 60,000 for
            Fashion-MNIST). The default keeps the study within 10 minutes on a busy 2-core CPU.
        test_subset: Evaluate on only this many samples (None: the whole test split).
        device: ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``.
        threads: PyTorch's CPU threads during the demo; None: one thread when the CPU is busy (load average at least
            the core count: oversubscribed intra-op threads spin, measured 8x slower for LeNet-5 on 2 shared cores),
            else PyTorch's default.
        data_dir: Where the dataset files are, if not in their default place.
        dataset_options: Options of the dataset (for ``synthetic``, its sizes).
        carbon: Where the electricity comes from (country, region, PUE, intensity); default: world average.
    """

    dataset: str = "fashion-mnist"
    model: str = "lenet5"
    lrs: tuple[float, ...] = (0.01, 0.05, 0.2)
    batch_sizes: tuple[int, ...] = (64, 256)
    sweep_epochs: int = 4
    target_accuracy: float = 0.8
    eat_epochs: int = 4
    eat_lambda: float = 2.0
    eat_sigma: float = 1e-4
    eat_warmup_epochs: int = 1
    eat_lr: float = 0.05
    eat_batch_size: int = 128
    estimate_batch_size: int = 512
    inference_seconds: float = 1.0
    inference_rounds: int = 2
    subset: int | None = 10_000
    test_subset: int | None = 5_000
    device: str = "auto"
    threads: int | None = None
    data_dir: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    carbon: CarbonSettings = field(default_factory=CarbonSettings)

    def base(self) -> TrainConfig:
        """The training config every run starts from."""
        carbon = self.carbon.validate()
        return TrainConfig(
            dataset=self.dataset, model=self.model, data_dir=self.data_dir, subset=self.subset,
            test_subset=self.test_subset, dataset_options=dict(self.dataset_options), image_size=28, channels=1,
            augment=False,  # short runs learn faster without random crops (measured, LeNet-5, 10,000 images, lr 0.05,
            # batch 64: 0.81 accuracy after 2 epochs without them, 0.76 after 4 with them)
            device=self.device, target_accuracy=self.target_accuracy, country=carbon.country, region=carbon.region,
            pue=carbon.pue, intensity_g_per_kwh=carbon.intensity_g_per_kwh,
        )  # fmt: skip


@dataclass
class DemoResult:
    """What :func:`run_demo` returns; ``demo.json`` in ``out`` holds the same headline figures.

    Attributes:
        out: The demo folder.
        config: The config it ran (with the fallback dataset when there was one).
        sweep: The sweep's results (:class:`~powertrain.study.SweepResult`).
        eat: The EAT study's results (:class:`~powertrain.study.EatStudyResult`).
        report: The report (:class:`~powertrain.report.ReportResult`); ``report.html`` is the page.
        summary: The headline figures (``demo.json``).
        fallback: Why the demo ran on synthetic data, or None.
    """

    out: Path
    config: DemoConfig
    sweep: Any
    eat: Any
    report: Any
    summary: dict[str, Any]
    fallback: str | None = None

    @property
    def html(self) -> Path:
        """The HTML report."""
        return Path(self.report.html)


def run_demo(
    config: DemoConfig | None = None,
    *,
    out: str | Path = "runs/demo",
    reporter: ProgressReporter | None = None,
    notify: Notify | None = None,
) -> DemoResult:
    """Run the whole study into ``out`` (or continue it there), then write the report.

    Args:
        config: What to run; default :class:`DemoConfig` (the CPU-sized study on Fashion-MNIST).
        out: The demo folder; run again with the same folder to reuse every finished trial.
        reporter: Live display of each training run.
        notify: Called with one line per step and per trial (progress for a CLI); default: the log.

    Returns:
        A :class:`DemoResult`.

    Raises:
        ConfigError: A bad config, an ``out`` that cannot be written, or an ``out`` holding a demo of other settings.
        DataNotFoundError: A dataset other than the default that cannot be found (the default falls back).
    """
    say = notify or (lambda line: log.info("%s", line))
    config = config or DemoConfig()
    config.base().validate()
    if config.threads is not None and config.threads < 1:
        raise ConfigError(f"threads must be at least 1, not {config.threads}")
    root = Path(out)
    _make_folder(root)
    config, fallback = _resolve_dataset(config, say)
    threads = torch.get_num_threads()
    torch.set_num_threads(_threads(config, say))
    try:
        return _run(config, root, fallback, reporter, say)
    finally:
        torch.set_num_threads(threads)


def _run(
    config: DemoConfig, root: Path, fallback: str | None, reporter: ProgressReporter | None, say: Notify
) -> DemoResult:
    from powertrain.report import build_report
    from powertrain.study import run_eat_study, sweep

    sweep_config = demo_sweep_config(config, root / "sweep")
    grid = len(config.lrs) * len(config.batch_sizes)
    reused = _finished_trials(root / "sweep")
    say(f"[1/3] sweep: {grid} trials (learning rate x batch size) of {config.model} on {config.dataset}, up to "
        f"{config.sweep_epochs} epochs, energy to {config.target_accuracy:.0%} accuracy, energy-aware pruning in "
        "breadth-first rounds of 1 epoch"
        + (f"; {reused} finished trial(s) reused" if reused else ""))  # fmt: skip
    started: list[int] = []

    def trial_started(_study: Any, trial: Any) -> None:
        started.append(trial.number)
        say(f"  sweep: {trial.user_attrs.get('run_name')}, round {trial.user_attrs.get('round') or 1} (one epoch)")

    def trial_done(result: Any, number: int, state: str) -> None:
        t = next(t for t in result.trials if t.number == number)
        ett = t.get("energy_to_target_j")
        if t.state == "paused":  # this round ended; the setup goes on in the next one
            say(f"    round done: accuracy {_fmt(t.get('final_accuracy'), '.4f')}, spent so far "
                f"{_joules(t.get('energy_j'))}; continues next round")  # fmt: skip
            return
        spent = result.run_spent_j(t)  # with the setup's earlier rounds
        say(f"    {t.state}: accuracy {_fmt(t.get('final_accuracy'), '.4f')}, energy to target "
            f"{_joules(ett) if ett is not None else 'not reached'}, spent {_joules(spent)}")  # fmt: skip

    swept = sweep(sweep_config, reporter=reporter, on_start=trial_started, on_trial=trial_done)

    eat_config = demo_eat_config(config, root / "eat")
    say(f"[2/3] standard training against EAT (lambda {config.eat_lambda:g}, sigma {config.eat_sigma:g}), "
        f"{config.eat_epochs} epochs each: accuracy, accelerator energy ratio (batch {config.estimate_batch_size}), "
        "measured inference energy")  # fmt: skip
    eat = run_eat_study(eat_config, reporter=reporter, notify=lambda line: say(f"  {line}"))
    reused_eat = sum(r.action == "reused" for r in eat.records)
    if reused_eat:
        say(f"  {reused_eat} finished run(s) reused")

    say("[3/3] report: plots, carbon and embodied figures")
    title = f"powertrain demo: {config.model} on {config.dataset}" + (" (SYNTHETIC DATA)" if fallback else "")
    report = build_report([root / "sweep", root / "eat"], out=root / "report", title=title)
    summary = _summary(config, swept, eat, report, fallback)
    write_atomic(root / "demo.json", json.dumps(json_safe(summary), indent=2) + "\n")
    return DemoResult(root, config, swept, eat, report, summary, fallback)


def demo_sweep_config(config: DemoConfig, out: Path) -> Any:
    """The demo's sweep: the lr x batch-size grid, energy-to-target, energy-aware pruning in breadth-first rounds."""
    from powertrain.study import SearchSpace, SweepConfig

    train = config.base().replace(
        epochs=config.sweep_epochs, lr_schedule="constant", stop_at_target=True, estimate_batch_size=0
    )
    return SweepConfig(
        train=train,
        space=SearchSpace.parse({"lr": list(config.lrs), "batch_size": list(config.batch_sizes)}),
        sampler="grid",
        objective=["energy_to_target"],
        pruner="energy",
        round_epochs=1,
        study="demo-sweep",
        out=str(out),
        threads_per_trial=torch.get_num_threads(),  # the demo's choice (one thread on a busy CPU), not cores / 1
    )


def demo_eat_config(config: DemoConfig, out: Path) -> Any:
    """The demo's EAT study: standard training and one EAT setting, same seed and epochs."""
    from powertrain.study.eat.config import EatSetting, EatStudyConfig, InferenceEnergyConfig

    train = config.base().replace(
        epochs=config.eat_epochs, batch_size=config.eat_batch_size, lr=config.eat_lr, lr_schedule="exponential",
        lr_gamma=0.95, eat_warmup_epochs=config.eat_warmup_epochs, eat_sigma=config.eat_sigma,
    )  # fmt: skip
    return EatStudyConfig(
        train=train,
        models=(config.model,),
        settings=(EatSetting.make(config.eat_sigma, config.eat_lambda),),
        estimate_batch_size=config.estimate_batch_size,
        inference_energy=InferenceEnergyConfig(
            batch_size=config.estimate_batch_size, min_seconds=config.inference_seconds, rounds=config.inference_rounds
        ),
        out=str(out),
    ).validate()


def _threads(config: DemoConfig, say: Notify) -> int:
    """PyTorch's CPU thread count for the demo (see :attr:`DemoConfig.threads`)."""
    if config.threads is not None:
        return config.threads
    from powertrain.training.device import resolve_device

    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if resolve_device(config.device).type == "cpu" and cores > 1 and busy >= cores:
        say(f"the CPU is busy (load average {busy:.1f} on {cores} cores): training with 1 thread (--threads N to "
            "choose)")  # fmt: skip
        return 1
    return torch.get_num_threads()


def _make_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".powertrain-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write the demo into {root}: {exc.strerror or exc}") from None


def _resolve_dataset(config: DemoConfig, say: Notify) -> tuple[DemoConfig, str | None]:
    """The config to run, falling back to synthetic images (loudly) when the default Fashion-MNIST is missing."""
    if config.dataset != "fashion-mnist":
        return config, None
    from powertrain.data import load_dataset

    try:
        load_dataset("fashion-mnist", data_dir=config.data_dir, subset=1, test_subset=1)
    except DataNotFoundError as exc:
        reason = str(exc)
    else:
        return config, None
    say("!" * 100)
    say("!! Fashion-MNIST CANNOT BE FOUND: THIS DEMO RUNS ON SYNTHETIC IMAGES INSTEAD (28x28, 10 classes).")
    say("!! Its accuracies and energies say NOTHING about Fashion-MNIST. To get the real study:")
    say("!!   apt-get install dataset-fashion-mnist, or powertrain demo --data-dir DIR with the four idx files.")
    say("!" * 100)
    fallback = dataclasses.replace(config, dataset="synthetic", dataset_options=dict(SYNTHETIC_FALLBACK))
    return fallback, reason


def _finished_trials(folder: Path) -> int:
    if not (folder / "study.db").exists():
        return 0
    from powertrain.study import load_sweep

    try:
        return sum(t.state in ("complete", "pruned") for t in load_sweep(folder).trials)
    except ConfigError:
        return 0


def _summary(config: DemoConfig, swept: Any, eat: Any, report: Any, fallback: str | None) -> dict[str, Any]:
    best = swept.best
    table = eat.tables.get(config.model)
    rows = {row.setting: row for row in table.rows} if table else {}
    standard = rows.get("standard")
    eat_row = next((r for name, r in rows.items() if name != "standard"), None)
    carbon = report.carbon
    return {
        "dataset": {
            "name": config.dataset,
            "train_samples": config.subset,
            "test_samples": config.test_subset,
            "fallback": fallback is not None,
            "why": fallback,
        },
        "model": config.model,
        "hardware": eat.hardware,
        "torch_threads": torch.get_num_threads(),
        "sweep": {
            "folder": str(swept.out),
            "trials": sum(t.state != "paused" for t in swept.trials),
            "counts": swept.counts,
            "target_accuracy": config.target_accuracy,
            "best": {
                "trial": best.get("run_name"),
                "params": best.params,
                "energy_to_target_j": best.get("energy_to_target_j"),
                "final_accuracy": best.get("final_accuracy"),
                "forecast_after_epoch_1": _first_forecast(best.get("run_dir")),
            }
            if best
            else None,  # fmt: skip
            "spread": swept.spread,
            "energy_j": swept.energy,
            "pruning": swept.pruning,
        },
        "eat": {
            "folder": str(eat.out),
            "standard": _eat_row(standard),
            "eat": _eat_row(eat_row),
            "selected": table.selected if table else None,
        },
        "carbon": {
            "operational_kg_co2e": carbon["operational_kg_co2e"],
            "embodied_kg_co2e": carbon["embodied_kg_co2e"],
            "energy_j": carbon["energy_j"],
            "note": "operational and embodied are separate figures (docs/carbon.md); provenance in the report",
        },
        "report": {"html": str(report.html), "markdown": str(report.markdown)},
    }


def _first_forecast(run_dir: Any) -> dict[str, Any] | None:
    """The forecast the best setup's run made after its first epoch (None: it had reached the target already)."""
    try:
        made = json.loads((Path(str(run_dir)) / "summary.json").read_text()).get("forecasts") or []
    except (OSError, ValueError):
        return None
    first = made[0] if made else None
    return first if first and not first.get("reached") and "energy_j" in first else None


def _eat_row(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    inference = row.inference or {}
    return {
        "setting": row.setting,
        "lambda": row.lam,
        "accuracy": row.accuracy,
        "energy_ratio": row.energy_ratio,
        "ratio_batch_size": row.ratio_batch_size,
        "decrease_pct": row.decrease_pct,
        "train_energy_j": row.train_energy_j,
        "train_energy_source": row.train_energy_source,
        "inference_j_per_1k_images": inference.get("j_per_1k_images"),
        "inference_source": inference.get("source"),
    }


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or not math.isfinite(float(value)) else format(float(value), spec)
