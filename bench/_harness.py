"""The method every benchmark in bench/ shares: interleaved variants, ratios inside one round, noise made visible.

A shared machine (other tenants, frequency changes, a noisy neighbour's burst) moves absolute times by factors
of two, so a ratio of two medians taken minutes apart means little. The harness therefore:

1. pins the intra-op thread count (:func:`pin_threads`; default 1 on the CPU) and reports it;
2. runs every variant once untimed (warm-up), then ``rounds`` rounds; round ``r`` runs the variants in the
   order rotated by ``r``, so no variant always runs first or right after another;
3. times each call with the wall clock AND this process's CPU time (``time.process_time``; other tenants do
   not count in it), synchronising CUDA around the call;
4. takes each ratio *inside one round* (variant / baseline of the same round, for wall and CPU time), and
   reports min / median / max over rounds, so the spread shows how far a figure can be trusted;
5. records the 1-minute load average before and after, and writes JSON with the hardware.

Usage::

    from _harness import compare, pin_threads, print_comparison, write_report

    threads = pin_threads(args.threads, device)
    result = compare({"plain": run_plain, "ours": run_ours}, rounds=5, baseline="plain", device=device)
    print_comparison(console, result, title="...")
    write_report(args.out, bench="mine", device=device, settings=vars(args), comparisons=[result])

A variant is a callable taking no argument. It may return a :class:`Sample` (for example when it times only
its inner loop, leaving its set-up out); otherwise the harness times the whole call. ``work`` (images, steps)
turns seconds into a rate for the table.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "Comparison",
    "Sample",
    "Stopwatch",
    "compare",
    "hardware",
    "headline_clock",
    "load_average",
    "pin_threads",
    "print_comparison",
    "spread",
    "write_report",
]

METHOD = (
    "variants interleaved in one process, order rotated every round, one untimed warm-up call each; "
    "ratios taken inside each round (variant / baseline, wall and process CPU time); min/median/max over rounds"
)


@dataclass
class Sample:
    """One timed call: wall seconds, this process's CPU seconds, and anything else the variant reports."""

    wall_s: float
    cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)


class Stopwatch:
    """``with Stopwatch(device) as sw: ...`` then ``sw.sample``: wall and CPU time, CUDA synchronised at both ends."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.sample = Sample(0.0, 0.0)

    def __enter__(self) -> Stopwatch:
        _sync(self.device)
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        _sync(self.device)
        self.sample = Sample(time.perf_counter() - self._wall, time.process_time() - self._cpu)


@dataclass
class Comparison:
    """Samples of every variant over the rounds, and the per-round ratios to the baseline."""

    name: str
    baseline: str
    variants: list[str]
    samples: dict[str, list[Sample]]
    work: dict[str, float]
    orders: list[list[str]]
    load_before: float
    load_after: float

    def ratios(self, variant: str, clock: str = "cpu") -> list[float]:
        """``variant / baseline`` in each round, by ``"cpu"`` or ``"wall"`` time."""
        attr = "cpu_s" if clock == "cpu" else "wall_s"
        pairs = zip(self.samples[variant], self.samples[self.baseline], strict=True)
        return [getattr(a, attr) / getattr(b, attr) for a, b in pairs if getattr(b, attr) > 0]

    def seconds(self, variant: str, clock: str = "wall") -> list[float]:
        attr = "cpu_s" if clock == "cpu" else "wall_s"
        return [getattr(s, attr) for s in self.samples[variant]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: raw samples, ratio spreads, the orders run and the load average."""
        out: dict[str, Any] = {
            "name": self.name,
            "baseline": self.baseline,
            "rounds": len(self.orders),
            "orders": self.orders,
            "load_average_1m": {"before": self.load_before, "after": self.load_after},
            "variants": {},
        }
        for v in self.variants:
            out["variants"][v] = {
                "work_per_call": self.work.get(v),
                "wall_s": self.seconds(v, "wall"),
                "cpu_s": self.seconds(v, "cpu"),
                "extra": [s.extra for s in self.samples[v]],
                "wall_ratio": spread(self.ratios(v, "wall")),
                "cpu_ratio": spread(self.ratios(v, "cpu")),
                "wall_ratios": self.ratios(v, "wall"),
                "cpu_ratios": self.ratios(v, "cpu"),
            }
        return out


def spread(values: Iterable[float]) -> dict[str, float | None]:
    """``{"min", "median", "max"}`` of ``values`` (None each when empty)."""
    vals = list(values)
    if not vals:
        return {"min": None, "median": None, "max": None}
    return {"min": min(vals), "median": statistics.median(vals), "max": max(vals)}


def pin_threads(threads: int | None, device: torch.device | str = "cpu") -> int:
    """Set torch's intra-op thread count (default: 1 on the CPU, torch's own on CUDA); return the count in use."""
    device = torch.device(device)
    if threads is None and device.type == "cpu":
        threads = 1
    if threads is not None:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def headline_clock(device: torch.device | str) -> str:
    """The clock a headline ratio uses: process CPU time on the CPU (tenants don't count), wall time on CUDA."""
    return "wall" if torch.device(device).type == "cuda" else "cpu"


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def compare(
    variants: Mapping[str, Callable[[], Sample | None]],
    *,
    rounds: int,
    baseline: str,
    device: torch.device | str = "cpu",
    name: str = "",
    work: Mapping[str, float] | None = None,
    warmup: bool = True,
    on_round: Callable[[int, dict[str, Sample]], None] | None = None,
) -> Comparison:
    """Run ``variants`` interleaved for ``rounds`` rounds (order rotated each round); see the module docstring.

    Args:
        variants: Name -> callable; a returned :class:`Sample` replaces the harness's own timing of the call.
        rounds: Timed rounds (at least 1).
        baseline: The variant every ratio divides by.
        device: CUDA work is synchronised around each call.
        name: Label of this comparison in tables and JSON.
        work: Units of work per call of each variant (images, steps), for rates.
        warmup: Call each variant once, untimed, first.
        on_round: Called after each round with that round's samples (progress lines).
    """
    if baseline not in variants:
        raise ValueError(f"baseline {baseline!r} is not one of the variants {list(variants)}")
    names = list(variants)
    device = torch.device(device)
    if warmup:
        for v in names:
            variants[v]()
    samples: dict[str, list[Sample]] = {v: [] for v in names}
    orders: list[list[str]] = []
    before = load_average()
    for r in range(max(1, rounds)):
        k = r % len(names)
        order = names[k:] + names[:k]
        orders.append(order)
        this_round: dict[str, Sample] = {}
        for v in order:
            with Stopwatch(device) as sw:
                returned = variants[v]()
            this_round[v] = returned if isinstance(returned, Sample) else sw.sample
        for v in names:
            samples[v].append(this_round[v])
        if on_round is not None:
            on_round(r, this_round)
    return Comparison(
        name, baseline, names, samples, dict(work or {}), orders, before or 0.0, load_average() or 0.0
    )


def print_comparison(console: Any, result: Comparison, *, title: str, unit: str = "img/s") -> None:
    """A Rich table: per variant, median seconds per call, rate, and wall/CPU ratios (min / median / max)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    rates = bool(result.work)
    for col in ("variant", "wall s (median)", *((unit,) if rates else ()), "wall x (min/med/max)",
                "CPU x (min/med/max)"):  # fmt: skip
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in result.variants:
        wall = statistics.median(result.seconds(v, "wall"))
        rate = result.work.get(v)
        cells = [v + (" (baseline)" if v == result.baseline else ""), f"{wall:.4g}"]
        if rates:
            cells.append(f"{rate / wall:,.0f}" if rate and wall > 0 else "-")
        cells += [_fmt_spread(result.ratios(v, "wall")), _fmt_spread(result.ratios(v, "cpu"))]
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"{len(result.orders)} rounds, {torch.get_num_threads()} thread(s), "
        f"load average {result.load_before:.2f} -> {result.load_after:.2f}"
    )


def _fmt_spread(values: list[float]) -> str:
    s = spread(values)
    if s["median"] is None:
        return "-"
    return f"{s['min']:.3f} / {s['median']:.3f} / {s['max']:.3f}"


def hardware(device: torch.device | str = "cpu") -> dict[str, Any]:
    """:func:`powertrain.hardware.describe_hardware` plus the device, torch threads and load averages."""
    from powertrain.hardware import describe_hardware

    device = torch.device(device)
    hw = describe_hardware()
    hw["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else hw.get("cpu_model", "cpu")
    hw["torch_threads"] = torch.get_num_threads()
    try:
        hw["load_average"] = list(os.getloadavg())
    except (OSError, AttributeError):
        hw["load_average"] = None
    return hw


def write_report(
    path: Path | str | None,
    *,
    bench: str,
    device: torch.device | str,
    settings: Mapping[str, Any],
    comparisons: Iterable[Comparison] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Build the JSON report (method, hardware, settings, comparisons, ``extra``) and write it to ``path``."""
    report: dict[str, Any] = {
        "bench": bench,
        "method": METHOD,
        "device": str(device),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hardware": hardware(device),
        "settings": {k: (v if isinstance(v, (int, float, bool, str, type(None), list)) else str(v))
                     for k, v in settings.items()},  # fmt: skip
        "comparisons": [c.to_dict() for c in comparisons],
        **extra,
    }
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from powertrain._files import json_safe, write_atomic

        write_atomic(path, json.dumps(json_safe(report), indent=2) + "\n")
    return report


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
