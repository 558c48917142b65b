"""What EAT costs: the l0 penalty's training-step overhead, and the accelerator estimator against plain inference.

Examples:
    # these 2-core machines: a tiny CPU run that proves the script works (numbers are not the targets' setting)
    python bench/eat.py --tiny --out bench/results/eat-cpu-tiny.json
    # GPU machine: ResNet18 and VGG16 at batch 512, fp32 and bf16; estimator over the Fashion-MNIST test set
    python bench/eat.py --device cuda --out bench/results/eat-gpu.json

Part 1, training steps (synthetic 32x32x3 batches, SGD): ``plain`` (cross-entropy only); ``eat`` (EATPenalty,
backend auto: torch.compile-fused kernels on CUDA); ``eat-eager`` (eager kernels); ``eat-all`` (layers="all":
every leaf output, as the reference code, to choose the default); ``eat-eager-unfused`` (the eager kernels
as they were before issue #14, for before/after figures in one run); ``eat-eager-together`` (value and
derivative computed together in the forward pass, the derivative kept for the backward pass: the design
issue #14 proposed, timed against the library's recompute-in-backward); ``naive`` (hooks
that keep a copy of every activation and compute the penalty in a second pass, as EAT's reference code).
Reported, as ratios to ``plain``: step time (wall time on CUDA, this process's CPU time on the CPU), the median
of per-round ratios with min and max (bench/_harness.py: variants interleaved, order rotated every round;
--repeats is the number of rounds, --threads pins torch threads, default 1 on the CPU), peak memory of
one step with only that variant's model resident (torch.cuda.max_memory_allocated; CUDA only) and the bytes
autograd keeps for the backward pass (distinct storages seen by saved_tensors_hooks; any device).
Targets on the GPU: eat <= 1.15x step time and <= 1.1x peak memory (fp32 and bf16).

Part 2, estimator: ``estimate_dataset`` over the Fashion-MNIST test set (28x28x1 for lenet5 and mlp, resized to
32x32x3 for the CNNs; synthetic data of the same shape when the files are missing, which the output says)
against plain inference over the same loader, for ``per_sample`` off and on and both counting backends. The
first call (which compiles) is timed apart.
Target on the GPU: <= 1.5x plain inference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eat_variants import NaivePenalty, kernels_of, legacy_kernels  # noqa: E402
from _harness import (  # noqa: E402
    Comparison,
    Stopwatch,
    compare,
    headline_clock,
    pin_threads,
    spread,
    write_report,
)
from powertrain.accel import estimate_dataset  # noqa: E402
from powertrain.sparsity import EATPenalty  # noqa: E402

STEP_TIME_TARGET, MEMORY_TARGET, ESTIMATE_TARGET = 1.15, 1.10, 1.50


def make_model(name: str, *, in_channels: int, image_size: int) -> nn.Module:
    try:
        from powertrain.models import create_model
    except ImportError:  # models.py not there yet: torchvision's (inplace ReLUs, ImageNet stem)
        import torchvision

        factory = {"resnet18": torchvision.models.resnet18, "vgg16": torchvision.models.vgg16_bn}[name]
        return factory(num_classes=10)
    return create_model(name, num_classes=10, in_channels=in_channels, image_size=image_size)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- part 1: training steps -------------------------------------------------------------------------------------
def make_step(variant: str, model: nn.Module, amp: str, device: torch.device) -> tuple[Callable[..., None], Any]:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    dtype = torch.bfloat16 if amp == "bf16" else None
    penalty: Any = None
    if variant == "eat":
        penalty = EATPenalty(model, lam=2.0, sigma=1e-4, backend="auto").attach()
    elif variant in ("eat-eager", "eat-eager-unfused", "eat-eager-together"):
        penalty = EATPenalty(model, lam=2.0, sigma=1e-4, backend="eager").attach()
    elif variant == "eat-all":
        penalty = EATPenalty(model, lam=2.0, sigma=1e-4, layers="all", backend="auto").attach()
    elif variant == "naive":
        penalty = NaivePenalty(model, lam=2.0, sigma=1e-4)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(x), y)
            if penalty is not None:
                loss = loss + penalty.value()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, penalty


def saved_bytes(step: Callable[..., None], x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward pass of one step (device independent)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step(x, y)
    return sum(storages.values())


def bench_steps(
    model_name: str,
    amp: str,
    variants: list[str],
    args: argparse.Namespace,
    device: torch.device,
    comparisons: list[Comparison],
) -> list[dict[str, Any]]:
    """Per variant alone: warm-up, peak memory of one step, saved bytes; then interleaved timing rounds."""
    size, batch = args.image_size, args.batch_size
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def build(variant: str) -> tuple[Callable[..., None], Any]:
        torch.manual_seed(0)
        model = make_model(model_name, in_channels=3, image_size=size).to(device).train()
        return make_step(variant, model, amp, device)

    facts: dict[str, dict[str, Any]] = {}
    for variant in variants:  # memory, measured with only this variant's model resident
        step, penalty = build(variant)
        with kernels_of(variant):
            start = time.perf_counter()
            for _ in range(args.warmup):
                step(x, y)
            sync(device)
            facts[variant] = {"warmup_s": time.perf_counter() - start, "saved_bytes": saved_bytes(step, x, y)}
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                step(x, y)
                sync(device)
                facts[variant]["peak_bytes"] = torch.cuda.max_memory_allocated(device)
        close(penalty)
        del step, penalty
        if device.type == "cuda":
            torch.cuda.empty_cache()
    steps = {v: build(v) for v in variants}  # timing: the harness interleaves the variants, ratios per round

    def run(variant: str) -> None:
        step = steps[variant][0]
        with kernels_of(variant):
            for _ in range(args.steps):
                step(x, y)

    result = compare(
        {v: (lambda v=v: run(v)) for v in variants}, rounds=args.repeats, baseline="plain", device=device,
        name=f"{model_name} {amp} steps", work={v: args.steps * batch for v in variants},
    )  # fmt: skip
    comparisons.append(result)
    for _, penalty in steps.values():
        close(penalty)
    steps.clear()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    clock = headline_clock(device)
    plain = facts["plain"]
    rows = []
    for variant in variants:
        f = facts[variant]
        peak = f.get("peak_bytes")
        rows.append(
            {
                "model": model_name,
                "amp": amp,
                "variant": variant,
                "batch_size": batch,
                "step_ms": 1e3 * statistics.median(result.seconds(variant, clock)) / args.steps,
                "step_ms_all": [1e3 * t / args.steps for t in result.seconds(variant, clock)],
                "step_ratio": statistics.median(result.ratios(variant, clock)),
                "step_ratio_spread": spread(result.ratios(variant, clock)),
                "step_ratio_wall": spread(result.ratios(variant, "wall")),
                "peak_mib": None if peak is None else peak / 2**20,
                "memory_ratio": None if peak is None else peak / plain["peak_bytes"],
                "saved_mib": f["saved_bytes"] / 2**20,
                "saved_ratio": f["saved_bytes"] / plain["saved_bytes"],
                "warmup_s": f["warmup_s"],
            }
        )
    return rows


def close(penalty: Any) -> None:
    if isinstance(penalty, EATPenalty):
        penalty.detach()
    elif isinstance(penalty, NaivePenalty):
        penalty.close()


# -- part 2: estimator -----------------------------------------------------------------------------------------
def estimator_shape(model_name: str) -> tuple[int, int]:
    """(image size, channels) of the estimator benchmark: 28x28x1 for lenet5/mlp, 32x32x3 for the CNNs."""
    return (28, 1) if model_name in ("lenet5", "mlp") else (32, 3)


def test_loader(model_name: str, args: argparse.Namespace, device: torch.device) -> tuple[Iterable[Any], str]:
    from powertrain.errors import DataNotFoundError

    size, channels = estimator_shape(model_name)
    try:
        from powertrain.data import load_dataset

        bundle = load_dataset(
            "fashion-mnist", test_subset=args.test_subset, data_dir=args.data_dir, image_size=size, channels=channels
        )
        _, test = bundle.loaders(batch_size=args.estimate_batch_size, device=device, augment=False)
        return test, f"fashion-mnist test split at {size}x{size}x{channels}"
    except (ImportError, DataNotFoundError) as exc:
        n = args.test_subset or 10_000
        g = torch.Generator().manual_seed(0)
        xs = torch.randn(n, channels, size, size, generator=g).to(device)
        b = args.estimate_batch_size
        batches = [(xs[i : i + b], None) for i in range(0, n, b)]
        return batches, f"synthetic {size}x{size}x{channels} ({type(exc).__name__}: Fashion-MNIST missing)"


def bench_estimator(
    model_name: str, args: argparse.Namespace, device: torch.device, comparisons: list[Comparison]
) -> list[dict[str, Any]]:
    loader, source = test_loader(model_name, args, device)
    size, channels = estimator_shape(model_name)
    torch.manual_seed(0)
    model = make_model(model_name, in_channels=channels, image_size=size).to(device).eval()

    def plain() -> None:
        with torch.no_grad():
            for x, _ in loader:
                model(x)

    backends = ["eager", "compile"] if device.type == "cuda" else ["eager"]
    variants: dict[str, Callable[[], Any]] = {"plain": plain}
    results: dict[str, Any] = {}
    for backend in backends:
        for per_sample in (False, True):
            for legacy in (False, True) if backend == "eager" and args.legacy else (False,):
                key = f"{backend}{'-unblocked' if legacy else ''}{'-per-sample' if per_sample else ''}"

                def estimate(backend: str = backend, per_sample: bool = per_sample, key: str = key) -> None:
                    with legacy_kernels(key.startswith("eager-unblocked")):
                        results[key] = estimate_dataset(model, loader, per_sample=per_sample, backend=backend)  # type: ignore[arg-type]

                variants[key] = estimate
    first_s = {}
    for name, fn in variants.items():  # warm-up; the first call of a compiled backend compiles, timed apart
        with Stopwatch(device) as sw:
            fn()
        first_s[name] = sw.sample.wall_s
    comparison = compare(
        variants, rounds=args.repeats, baseline="plain", device=device, name=f"{model_name} estimator",
        warmup=False,
    )  # fmt: skip
    comparisons.append(comparison)
    clock = headline_clock(device)
    rows = []
    for name in variants:
        if name == "plain":
            continue
        result = results[name]
        per_sample = name.endswith("per-sample")
        rows.append(
            {
                "model": model_name,
                "data": source,
                "backend": name.removesuffix("-per-sample"),
                "per_sample": per_sample,
                "batch_size": result.batch_size,
                "samples": result.num_samples,
                "plain_s": statistics.median(comparison.seconds("plain", clock)),
                "estimate_s": statistics.median(comparison.seconds(name, clock)),
                "first_call_s": first_s[name],
                "cost_ratio": statistics.median(comparison.ratios(name, clock)),
                "cost_ratio_spread": spread(comparison.ratios(name, clock)),
                "cost_ratio_wall": spread(comparison.ratios(name, "wall")),
                "mean_ratio": result.mean_ratio,
                "per_sample_mean_ratio": result.per_sample_mean_ratio if per_sample else None,
            }
        )
    return rows


# -- report ----------------------------------------------------------------------------------------------------
def _ratio(median: float, s: dict[str, float | None]) -> str:
    return f"{median:.3f} [{s['min']:.3f}-{s['max']:.3f}]"


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_tables(console: Console, steps: list[dict[str, Any]], estimates: list[dict[str, Any]]) -> None:
    t = Table(title=f"EAT training step (targets: eat <= {STEP_TIME_TARGET}x time, <= {MEMORY_TARGET}x memory; "
              "time x: median of per-round ratios \\[min-max])")  # fmt: skip
    for col in ("model", "amp", "batch", "variant", "step ms", "time x", "peak MiB", "memory x", "saved MiB",
                "saved x", "warm-up s"):  # fmt: skip
        t.add_column(col, justify="right" if col not in ("model", "amp", "variant") else "left")
    for r in steps:
        t.add_row(
            r["model"], r["amp"], str(r["batch_size"]), r["variant"], fmt(r["step_ms"], ".1f"), _ratio(r["step_ratio"],
            r["step_ratio_spread"]),
            fmt(r["peak_mib"], ".0f"), fmt(r["memory_ratio"]), fmt(r["saved_mib"], ".1f"), fmt(r["saved_ratio"]),
            fmt(r["warmup_s"], ".1f"),
        )  # fmt: skip
    if steps:
        console.print(t)
    if not estimates:
        return
    t = Table(title=f"Accelerator estimator vs plain inference (target <= {ESTIMATE_TARGET}x)")
    for col in ("model", "backend", "per sample", "batch", "samples", "plain s", "estimate s", "cost x",
                "first call s", "energy ratio"):  # fmt: skip
        t.add_column(col)
    for r in estimates:
        t.add_row(
            r["model"], r["backend"], str(r["per_sample"]), str(r["batch_size"]), str(r["samples"]),
            fmt(r["plain_s"]), fmt(r["estimate_s"]), _ratio(r["cost_ratio"], r["cost_ratio_spread"]),
            fmt(r["first_call_s"], ".2f"),
            fmt(r["mean_ratio"]),
        )  # fmt: skip
    console.print(t)
    console.print(f"estimator data: {estimates[0]['data']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="resnet18,vgg16")
    parser.add_argument("--amp", default="fp32,bf16", help="comma list of fp32, bf16")
    parser.add_argument("--variants", default="plain,eat,eat-eager,eat-all,naive")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed call")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (each runs every variant once)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on the CPU)")
    parser.add_argument("--estimate-models", default="lenet5,resnet18")
    parser.add_argument("--estimate-batch-size", type=int, default=512)
    parser.add_argument("--test-subset", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--legacy", action="store_true",
        help="also time the estimator's CPU count as it was before issue #14 (eager-unblocked); for the penalty "
        "add the variant eat-eager-unfused to --variants",
    )  # fmt: skip
    parser.add_argument("--skip-steps", action="store_true")
    parser.add_argument("--skip-estimator", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="small CPU-sized run: batch 16, 16x16, few steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.tiny:
        args.batch_size, args.image_size, args.steps, args.warmup, args.repeats = 16, 16, 3, 1, 3
        args.estimate_models, args.estimate_batch_size, args.test_subset = "lenet5", 256, 2048
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    threads = pin_threads(args.threads, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    variants = args.variants.split(",")
    if "plain" not in variants:
        variants.insert(0, "plain")
    comparisons: list[Comparison] = []
    steps: list[dict[str, Any]] = []
    if not args.skip_steps:
        for model_name in args.models.split(","):
            for amp in args.amp.split(","):
                steps += bench_steps(model_name, amp, variants, args, device, comparisons)
    estimates: list[dict[str, Any]] = []
    if not args.skip_estimator:
        for model_name in args.estimate_models.split(","):
            estimates += bench_estimator(model_name, args, device, comparisons)
    console = Console(width=160)
    console.print(f"[bold]device[/bold]: {device}, {threads} thread(s), ratios by {headline_clock(device)} time")
    print_tables(console, steps, estimates)
    write_report(
        args.out, bench="eat", device=device, settings={**vars(args), "threads": threads}, comparisons=comparisons,
        timer=headline_clock(device),
        targets={"step_ratio": STEP_TIME_TARGET, "memory_ratio": MEMORY_TARGET, "cost_ratio": ESTIMATE_TARGET},
        steps=steps, estimator=estimates,
    )  # fmt: skip
    if args.out:
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
