"""EnergyMeter overhead and accuracy on ResNet18 training steps, side by side with Zeus and CodeCarbon.

Examples:
    # GPU machine (the real figures): 600 steps of CIFAR-shaped ResNet18, batch 256
    python bench/meter.py --out bench/results/meter-gpu.json
    # any CPU machine (proves the script works; energy is only estimated there)
    python bench/meter.py --device cpu --steps 20 --batch-size 16 --repeats 2

Configurations, interleaved by bench/_harness.py (order rotated every round, ratios inside each round, wall and
process CPU time of the timed loop; --repeats is the number of rounds; --threads pins torch threads, default 1 on
the CPU):
    baseline          no meter
    pt-step           powertrain, one window per step (the hot path costs a timestamp)
    pt-step-sync      the same with sync_cuda=True (a CUDA synchronise at every window edge)
    pt-loop           powertrain, one window over the whole loop
    zeus-step         Zeus 0.16 ZeusMonitor begin_window/end_window every step (if installed)
    codecarbon-1/15   CodeCarbon OfflineEmissionsTracker, measure_power_secs 1 and 15 (if installed)

For each: step time relative to the baseline of the same round (min/median/max over rounds), and the GPU energy
it reports divided by the NVML energy counter read around the loop. The counter reference is read at
counter updates (the loop starts right after one, and the end value is the first update after the loop),
so its own ~100 ms update granularity does not blur the reference. Targets: per-step windows <= 1.02 of
the baseline step time, energies within 1 % of the counter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    Comparison,
    Sample,
    Stopwatch,
    compare,
    headline_clock,
    pin_threads,
    print_comparison,
    write_report,
)  # noqa: E402
from powertrain.meters import EnergyMeter  # noqa: E402

CONFIGS = ["baseline", "pt-step", "pt-step-sync", "pt-loop", "zeus-step", "codecarbon-1", "codecarbon-15"]
STEP_TARGET = 1.02
ENERGY_TARGET = 0.01


class Counter:
    """The NVML energy counter of one GPU, read at its update instants (None on the CPU)."""

    def __init__(self, device: torch.device, cuda_index: int) -> None:
        self.nv = self.handle = None
        if device.type != "cuda":
            return
        from powertrain.meters.nvml import nvml_session, visible_gpus

        self._session = nvml_session()
        self.nv = self._session.__enter__()
        nvml_index = dict((c, n) for c, n, _ in visible_gpus())[cuda_index]
        self.handle = self.nv.nvmlDeviceGetHandleByIndex(nvml_index)

    def fresh_j(self) -> float | None:
        """Spin until the counter updates and return the new value in joules (the update is 'now')."""
        if self.nv is None:
            return None
        first = self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            value = self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            if value != first:
                return value / 1000.0
        return first / 1000.0


def make_step(device: torch.device, batch_size: int) -> Callable[[], None]:
    try:
        from powertrain.models import create_model

        model = create_model("resnet18", num_classes=10, in_channels=3, image_size=32)
    except ImportError:  # pragma: no cover - models land separately
        import torchvision

        model = torchvision.models.resnet18(num_classes=10)
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gpu_or_total_j(measurement, device: torch.device) -> float:
    if device.type == "cuda":
        return measurement.energy_by_component_j.get("gpu", 0.0)
    return measurement.energy_j


class Instrument:
    """No meter: the baseline. Subclasses measure the loop one way each."""

    def __init__(self, device: torch.device, gpu: int) -> None:
        self.device, self.gpu = device, gpu

    def start(self) -> None:
        """Called just before the timed loop."""

    def run_step(self, step: Callable[[], None], last: bool) -> None:
        step()
        if last:
            sync(self.device)

    def stop(self) -> None:
        """Called after the loop (after the closing synchronise)."""

    def reported_j(self) -> float | None:
        return None


class PowertrainSteps(Instrument):
    def __init__(self, device: torch.device, gpu: int, *, sync_cuda: bool) -> None:
        super().__init__(device, gpu)
        kwargs = {"gpu_indices": [gpu]} if device.type == "cuda" else {}
        self.meter = EnergyMeter(sync_cuda=sync_cuda, **kwargs).start()
        self.windows: list = []

    def run_step(self, step: Callable[[], None], last: bool) -> None:
        with self.meter.window("step") as w:
            step()
            if last:
                sync(self.device)  # the loop edge: the last window covers the queued GPU work
        self.windows.append(w)

    def stop(self) -> None:
        self.meter.close()

    def reported_j(self) -> float:
        return sum(gpu_or_total_j(w.measurement, self.device) for w in self.windows)


class PowertrainLoop(PowertrainSteps):
    def __init__(self, device: torch.device, gpu: int) -> None:
        super().__init__(device, gpu, sync_cuda=False)

    def start(self) -> None:
        self.window = self.meter.begin("loop")

    def run_step(self, step: Callable[[], None], last: bool) -> None:
        Instrument.run_step(self, step, last)

    def stop(self) -> None:
        self.meter.end("loop")
        self.meter.close()

    def reported_j(self) -> float:
        return gpu_or_total_j(self.window.measurement, self.device)


class ZeusSteps(Instrument):
    def __init__(self, device: torch.device, gpu: int) -> None:
        super().__init__(device, gpu)
        from zeus.monitor import ZeusMonitor

        self.monitor = ZeusMonitor(gpu_indices=[gpu])
        self.energy_j = 0.0

    def run_step(self, step: Callable[[], None], last: bool) -> None:
        self.monitor.begin_window("step")  # Zeus synchronises CUDA at both edges by default
        step()
        self.energy_j += sum(self.monitor.end_window("step").gpu_energy.values())

    def reported_j(self) -> float:
        return self.energy_j


class CodeCarbon(Instrument):
    def __init__(self, device: torch.device, gpu: int, *, period_s: int) -> None:
        super().__init__(device, gpu)
        from codecarbon import OfflineEmissionsTracker

        kwargs = dict(country_iso_code="USA", measure_power_secs=period_s, save_to_file=False, log_level="error")
        kwargs["gpu_ids"] = [gpu] if device.type == "cuda" else None
        try:
            self.tracker = OfflineEmissionsTracker(allow_multiple_runs=True, **kwargs)
        except TypeError:  # older codecarbon
            self.tracker = OfflineEmissionsTracker(**kwargs)

    def start(self) -> None:
        self.tracker.start()

    def stop(self) -> None:
        self.tracker.stop()

    def reported_j(self) -> float:
        data = self.tracker.final_emissions_data
        kwh = data.gpu_energy if self.device.type == "cuda" else data.energy_consumed
        return float(kwh) * 3.6e6  # kWh -> J


def make_instrument(config: str, device: torch.device, gpu: int) -> Instrument:
    if config == "pt-step":
        return PowertrainSteps(device, gpu, sync_cuda=False)
    if config == "pt-step-sync":
        return PowertrainSteps(device, gpu, sync_cuda=True)
    if config == "pt-loop":
        return PowertrainLoop(device, gpu)
    if config == "zeus-step":
        return ZeusSteps(device, gpu)
    if config.startswith("codecarbon-"):
        return CodeCarbon(device, gpu, period_s=int(config.split("-")[1]))
    return Instrument(device, gpu)


def run_once(config: str, step, steps: int, device: torch.device, gpu: int, counter: Counter) -> Sample:
    """Run ``steps`` training steps under ``config``; the loop's wall and CPU time, reported and counter joules."""
    instrument = make_instrument(config, device, gpu)
    for _ in range(5):  # settle after setup, untimed
        step()
    sync(device)
    start_j = counter.fresh_j()
    instrument.start()
    with Stopwatch(device) as sw:
        for i in range(steps):
            instrument.run_step(step, last=i == steps - 1)
    instrument.stop()
    end_j = counter.fresh_j()
    counter_j = None if start_j is None or end_j is None else end_j - start_j
    sample = sw.sample
    sample.extra = {"reported_j": instrument.reported_j(), "counter_j": counter_j}
    return sample


def hot_path_us(device: torch.device, gpu: int, pairs: int = 20000) -> dict[str, float]:
    """Microseconds per window with the real sensors and the sampler running, for each way to write one."""
    kwargs = {"gpu_indices": [gpu]} if device.type == "cuda" else {}
    out: dict[str, float] = {}
    with EnergyMeter(**kwargs) as meter:
        t0 = time.perf_counter()
        for _ in range(pairs):
            with meter.window("w"):
                pass
        out["context_manager"] = (time.perf_counter() - t0) / pairs * 1e6
        t0 = time.perf_counter()
        w = None
        for _ in range(pairs):
            with meter.window("w", after=w) as w:
                pass
        out["chained_context_manager"] = (time.perf_counter() - t0) / pairs * 1e6
        t0 = time.perf_counter()
        for _ in range(pairs):
            meter.begin("w")
            meter.finish("w")
        out["begin_finish"] = (time.perf_counter() - t0) / pairs * 1e6
        n = max(1, pairs // 20)  # end() reads the sensors unless the sampler already passed the end
        t0 = time.perf_counter()
        for _ in range(n):
            meter.begin("w")
            meter.end("w")
        out["begin_end"] = (time.perf_counter() - t0) / n * 1e6
    return out


def _run_j(boundary) -> float:
    """The run's cumulative joules at a window edge (dynamic + static columns; ``@cpu`` is the CPU account)."""
    return sum(v[1] + v[2] for device, v in boundary.values.items() if not device.startswith("@"))


def short_windows(device: torch.device, gpu: int, windows: int = 1000, length_s: float = 0.0005) -> dict[str, float]:
    """Back-to-back windows of ``length_s`` busy-waiting, loose and chained: their sum against one whole window.

    Also the cost of one ``sample()`` after many window edges without the sampler thread (bounded by
    ``max_pending_edges``).
    """
    kwargs = {"gpu_indices": [gpu]} if device.type == "cuda" else {}
    out: dict[str, float] = {}
    for chained in (False, True):
        with EnergyMeter(**kwargs) as meter:
            whole = meter.begin("whole")
            parts, w = [], None
            for _ in range(windows):
                with meter.window("w", after=w if chained else None) as w:
                    end = time.perf_counter() + length_s
                    while time.perf_counter() < end:
                        pass
                parts.append(w)
            meter.finish("whole")
            total_s = sum(p.measurement.duration_s for p in parts)
            span_s = parts[-1].end_s - parts[0].start_s
            key = "chained" if chained else "loose"
            out[f"{key}_duration_sum_over_span"] = total_s / span_s
            energy = sum(p.measurement.energy_j for p in parts)
            parts[-1].measurement  # noqa: B018 - resolves the edges
            # one window over exactly the same span: the run's cumulative joules at the last end minus the first start
            span_j = _run_j(parts[-1]._end) - _run_j(parts[0]._start)
            out[f"{key}_energy_sum_over_span"] = energy / span_j if span_j else float("nan")
            out[f"{key}_energy_sum_over_whole"] = energy / whole.measurement.energy_j
    with EnergyMeter(sample_period_s=None, **kwargs) as meter:
        w = None
        for _ in range(200_000):
            with meter.window("w", after=w) as w:
                pass
        t0 = time.perf_counter()
        meter.sample()
        out["sample_after_200k_windows_ms"] = (time.perf_counter() - t0) * 1e3
    return out


def available(config: str, device: torch.device) -> str:
    """Empty when ``config`` can run here, else why not."""
    if config == "pt-step-sync" and device.type != "cuda":
        return "needs a GPU"
    try:
        if config == "zeus-step":
            import zeus.monitor  # noqa: F401

            if device.type != "cuda":
                return "needs a GPU"
        if config.startswith("codecarbon"):
            import codecarbon  # noqa: F401
    except ImportError:
        return "not installed"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--gpu", type=int, default=0, help="CUDA index of the GPU")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (each runs every config once)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on the CPU)")
    parser.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device(f"cuda:{args.gpu}" if args.device == "cuda" else args.device)
    threads = pin_threads(args.threads, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    console = Console(width=140)
    step = make_step(device, args.batch_size)
    for _ in range(args.warmup):
        step()
    sync(device)
    counter = Counter(device, args.gpu)
    configs = ["baseline", *[c for c in args.configs if c != "baseline"]]
    notes = {c: available(c, device) for c in configs}
    runnable = [c for c in configs if not notes[c]]

    def report_round(r: int, samples: dict[str, Sample]) -> None:
        line = ", ".join(f"{c} {s.wall_s / args.steps * 1e3:.2f}" for c, s in samples.items())
        console.print(f"round {r + 1}/{args.repeats} (ms/step): {line}")

    result = compare(
        {c: (lambda c=c: run_once(c, step, args.steps, device, args.gpu, counter)) for c in runnable},
        rounds=args.repeats, baseline="baseline", device=device, name="meter overhead",
        work={c: args.steps for c in runnable}, warmup=False, on_round=report_round,
    )  # fmt: skip
    hot_us = hot_path_us(device, args.gpu)
    short = short_windows(device, args.gpu)
    print_comparison(console, result, title=f"meter overhead on {device}, {args.steps} steps per call", unit="steps/s")
    print_energy(console, result, notes, hot_us, device)
    console.print(
        "short windows (1,000 x 0.5 ms, real clock): sum of durations / span: loose "
        f"{short['loose_duration_sum_over_span']:.5f}, chained {short['chained_duration_sum_over_span']:.6f}; "
        f"sum of energies / the same span: loose {short['loose_energy_sum_over_span']:.5f}, chained "
        f"{short['chained_energy_sum_over_span']:.6f}; one sample() after 200,000 windows without the sampler: "
        f"{short['sample_after_200k_windows_ms']:.2f} ms"
    )
    write_report(
        args.out, bench="meter", device=device, settings={**vars(args), "threads": threads}, comparisons=[result],
        hot_path_us_per_window=hot_us, short_windows=short, unavailable={c: n for c, n in notes.items() if n},
        targets={"step_time_ratio_max": STEP_TARGET, "energy_error_max": ENERGY_TARGET},
    )  # fmt: skip
    if args.out:
        console.print(f"wrote {args.out}")


def print_energy(
    console: Console, result: Comparison, notes: dict[str, str], hot_us: dict[str, float], device: torch.device
) -> None:
    """Targets and energies: step-time ratio of the powertrain configs, reported joules against the counter."""
    what = "GPU J" if device.type == "cuda" else "J (estimated)"
    table = Table(title="targets and energy (median over rounds)", title_justify="left")
    clock = headline_clock(device)
    for column in ("config", f"x baseline ({clock})", "target", f"reported {what}", "counter J", "/ counter"):
        table.add_column(column, justify="left" if column == "config" else "right")
    for config, note in notes.items():
        if note:
            table.add_row(config, note, "", "", "", "")
            continue
        ratio = statistics.median(result.ratios(config, headline_clock(device)))
        target = f"<= {STEP_TARGET}" if config.startswith("pt-step") and config != "pt-step-sync" else ""
        if target:
            target += " ok" if ratio <= STEP_TARGET else " MISSED"
        reported_j = [s.extra["reported_j"] for s in result.samples[config] if s.extra["reported_j"] is not None]
        counter_j = [s.extra["counter_j"] for s in result.samples[config] if s.extra["counter_j"] is not None]
        reported = f"{statistics.median(reported_j):.1f}" if reported_j else "-"
        counter = f"{statistics.median(counter_j):.1f}" if counter_j else "n/a"
        share = "n/a"
        shares = [
            s.extra["reported_j"] / s.extra["counter_j"]
            for s in result.samples[config]
            if s.extra["reported_j"] is not None and s.extra["counter_j"]
        ]
        if shares:
            share = f"{statistics.median(shares):.4f}"
            if config.startswith("pt-"):
                share += " ok" if abs(statistics.median(shares) - 1) <= ENERGY_TARGET else " MISSED"
        table.add_row(config, f"{ratio:.4f}", target, reported, counter, share)
    console.print(table)
    console.print(
        "hot path per window: "
        + ", ".join(f"{k.replace('_', ' ')} {v:.2f} us" for k, v in hot_us.items())
        + " (target: no sensor read per window)"
    )
    console.print("known peers on an H100 (600 steps): Zeus per-step 2.0-2.15x step time, 0.95-0.98 of energy;")
    console.print("CodeCarbon@15s 0.80-0.98 of energy")


if __name__ == "__main__":
    main()
