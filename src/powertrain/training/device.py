"""Where a run computes and how it repeats itself: the device, mixed precision, and the random number generators.

Every room that runs a model (the training loop, the objective's evaluation, a study's inference measurement, a
restored run) takes its device and autocast from here, so ``amp`` and ``device`` mean the same thing everywhere.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import torch

from powertrain.errors import ConfigError

__all__ = ["autocast", "resolve_device", "restore_rng", "rng_state", "seed_everything"]


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` means: ``auto`` is CUDA when available, else the CPU.

    Raises:
        ConfigError: CUDA asked for where it is not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name} asked for, but CUDA is not available here; use --device cpu")
    return device


@contextlib.contextmanager
def autocast(device: torch.device, amp: str) -> Iterator[None]:
    """Mixed precision on ``device`` as ``amp`` names it: ``off``, ``bf16`` or ``fp16``."""
    if amp == "off":
        yield
        return
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's generators (torch seeds every CUDA device too)."""
    random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The generators' states, for a checkpoint (plain containers: loadable with ``weights_only=True``)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the generators' states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
