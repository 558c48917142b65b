"""Real inference energy of a trained model, measured with an :class:`~powertrain.meters.EnergyMeter`.

The accelerator ratio of EAT is a model of hardware that skips zeros; this module measures what the hardware at hand
spends. Dense GPU kernels multiply zeros like any other value, so on a GPU sparse activations are not expected to save
energy: the measurement is there to show what actually happens.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from powertrain.meters import EnergyMeter, Measurement
from powertrain.training.device import autocast

__all__ = ["InferenceEnergy", "measure_inference_energy", "summarize_rounds"]


@dataclass(frozen=True)
class InferenceEnergy:
    """Energy of repeated inference passes over a test split, in one meter window.

    Attributes:
        energy_j: Joules of the counted component(s) over the window.
        duration_s: Window length, seconds (CUDA synchronised at both edges).
        images: Images inferred in the window (passes x test images).
        passes: Full passes over the test split.
        batch_size: Inference batch size.
        component: What ``energy_j`` counts: ``gpu:N`` (the model's GPU alone) or ``all`` (every metered device).
        source: How it was obtained: ``counter``, ``integrated``, ``estimated`` (joined with ``+`` when mixed), or
            ``none`` when nothing was metered.
        warnings: The measurement's warnings (a counter that did not move, a failed sensor...).
    """

    energy_j: float
    duration_s: float
    images: int
    passes: int
    batch_size: int
    component: str
    source: str
    warnings: tuple[str, ...] = ()

    @property
    def j_per_1k_images(self) -> float:
        """Joules per 1000 images."""
        return 1000 * self.energy_j / self.images if self.images else math.nan

    @property
    def avg_power_w(self) -> float:
        """Average power of the counted component(s), watts."""
        return self.energy_j / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def images_per_s(self) -> float:
        """Throughput, images per second."""
        return self.images / self.duration_s if self.duration_s > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived figures."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        data.update(j_per_1k_images=self.j_per_1k_images, avg_power_w=self.avg_power_w, images_per_s=self.images_per_s)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InferenceEnergy:
        """Inverse of :meth:`to_dict` (derived figures are recomputed)."""
        return cls(
            energy_j=float(data["energy_j"]),
            duration_s=float(data["duration_s"]),
            images=int(data["images"]),
            passes=int(data["passes"]),
            batch_size=int(data["batch_size"]),
            component=str(data["component"]),
            source=str(data["source"]),
            warnings=tuple(data.get("warnings", ())),
        )


def measure_inference_energy(
    model: nn.Module,
    batches: Sequence[Tensor],
    *,
    meter: EnergyMeter,
    device: torch.device,
    amp: str = "off",
    min_seconds: float = 5.0,
    repeats: int = 1,
    warmup_passes: int = 1,
    name: str = "inference",
) -> InferenceEnergy:
    """Run ``model`` over ``batches`` until ``repeats`` passes and ``min_seconds`` are done, inside one meter window.

    Args:
        model: The trained network, already on ``device``.
        batches: Input batches on ``device`` (the test split, prepared once so that loading costs nothing here).
        meter: A started meter; open it with ``sync_cuda=True`` on a GPU so the window's edges see finished work.
        device: Where the model runs; on CUDA only that GPU's energy is counted when it is metered.
        amp: ``off``, ``bf16`` or ``fp16`` autocast, as in training.
        min_seconds: Shortest window, seconds.
        repeats: Fewest passes in the window.
        warmup_passes: Unmetered passes first (kernel selection, caches, clocks).
        name: The meter window's name.

    Returns:
        An :class:`InferenceEnergy`.
    """
    model.eval()
    images_per_pass = sum(int(x.shape[0]) for x in batches)
    with torch.inference_mode():
        for _ in range(warmup_passes):
            _one_pass(model, batches, device, amp)
        passes = 0
        meter.begin(name)
        started = time.monotonic()
        while passes < repeats or time.monotonic() - started < min_seconds:
            _one_pass(model, batches, device, amp)
            passes += 1
        measurement = meter.end(name)
    component, energy_j, source = _counted(measurement, device)
    return InferenceEnergy(
        energy_j=energy_j,
        duration_s=measurement.duration_s,
        images=passes * images_per_pass,
        passes=passes,
        batch_size=int(batches[0].shape[0]) if batches else 0,
        component=component,
        source=source,
        warnings=tuple(measurement.warnings) + tuple(f"{d} failed: {r}" for d, r in measurement.failed_sensors.items()),
    )


def summarize_rounds(rounds: Sequence[InferenceEnergy]) -> dict[str, Any]:
    """Mean and spread over rounds: ``j_per_1k_images`` (and ``_std``), ``avg_power_w``, ``images_per_s``..."""
    if not rounds:
        return {}
    per_1k = [r.j_per_1k_images for r in rounds]
    sources = sorted({r.source for r in rounds})
    return {
        "rounds": len(rounds),
        "j_per_1k_images": statistics.fmean(per_1k),
        "j_per_1k_images_std": statistics.stdev(per_1k) if len(per_1k) > 1 else None,
        "avg_power_w": statistics.fmean(r.avg_power_w for r in rounds),
        "images_per_s": statistics.fmean(r.images_per_s for r in rounds),
        "duration_s": sum(r.duration_s for r in rounds),
        "component": rounds[0].component,
        "source": "+".join(sources),
    }


def _one_pass(model: nn.Module, batches: Sequence[Tensor], device: torch.device, amp: str) -> None:
    with autocast(device, amp):
        for x in batches:
            model(x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the loop's clock must see finished work, not queued launches


def _counted(m: Measurement, device: torch.device) -> tuple[str, float, str]:
    """On CUDA, the model's GPU alone when it is metered; else every metered device."""
    if device.type == "cuda":
        label = f"gpu:{device.index if device.index is not None else torch.cuda.current_device()}"
        if label in m.energy_by_device_j:
            return label, m.energy_by_device_j[label], m.source_by_device.get(label, "none")
    sources = sorted(set(m.source_by_device.values()))
    return "all", m.energy_j, "+".join(sources) or "none"
