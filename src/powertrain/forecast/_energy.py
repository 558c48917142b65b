"""What each coming epoch will cost: energy (or time) per epoch from the epochs so far, or from a run's first steps.

The first epoch often costs more than the next ones (data loading, allocator and kernel warm-up, a cold cache), so
the later epochs are forecast from the epochs after the first when there are any, and from the first epoch times a
prior ratio when it is the only one. The level of the coming epochs is uncertain (log-normal, narrowing with every
epoch seen) and each epoch varies around it (the spread of the epochs seen, with a floor), so sums over many epochs
get an honest interval. carbontracker's forecast is the mean epoch energy x the planned epochs, with no interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EpochCostPrior", "StepsEstimate", "estimate_from_steps", "sample_epoch_costs"]


@dataclass(frozen=True)
class EpochCostPrior:
    """Prior of the per-epoch cost model (defaults chosen on development runs; docs/forecast.md).

    Attributes:
        later_over_first: Median cost of a later epoch over the first one's, when only the first was seen.
        later_over_first_sd: Log standard deviation of that ratio.
        epoch_sd: Floor of the log standard deviation of one epoch around the level.
        level_sd: Floor of the log standard deviation of the level itself.
    """

    later_over_first: float = 0.95
    later_over_first_sd: float = 0.12
    epoch_sd: float = 0.04
    level_sd: float = 0.03


def sample_epoch_costs(
    per_epoch: Sequence[float],
    *,
    future: int,
    samples: int = 2000,
    prior: EpochCostPrior | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Sample the cost (joules or seconds) of each of the next ``future`` epochs.

    Args:
        per_epoch: The cost of every epoch so far (not cumulative), first epoch first; at least one.
        future: How many coming epochs to sample.
        samples: How many draws.
        prior: The model's prior; default :class:`EpochCostPrior`.
        seed: Seed of the draws.

    Returns:
        ``(samples, future)`` costs, each row one plausible sequence of coming epochs.
    """
    prior = prior or EpochCostPrior()
    costs = np.maximum(np.asarray(per_epoch, dtype=float), 1e-12)
    if costs.size == 0:
        raise ValueError("sample_epoch_costs needs the cost of at least one epoch")
    rng = np.random.default_rng(seed)
    if costs.size == 1:
        level = np.log(costs[0] * prior.later_over_first)
        level_sd = float(np.hypot(prior.later_over_first_sd, prior.level_sd))
        epoch_sd = prior.epoch_sd
    else:
        logs = np.log(costs[1:])
        level = float(logs.mean())
        # how much epochs vary: the later epochs around their level, and the first one around the level it predicts
        # (on a machine shared with other jobs, two epochs of one run can differ by a factor of three)
        residuals = np.append(logs - level, np.log(costs[0] * prior.later_over_first) - level)
        spread = float(np.sqrt(np.sum(residuals**2) / max(1, residuals.size - 1)))
        epoch_sd = max(prior.epoch_sd, spread)
        level_sd = max(prior.level_sd, epoch_sd / np.sqrt(logs.size))
    levels = level + level_sd * rng.standard_normal((samples, 1))
    return np.exp(levels + epoch_sd * rng.standard_normal((samples, future)))


@dataclass(frozen=True)
class StepsEstimate:
    """A planned run's cost forecast from its first steps (before its first epoch ends).

    Attributes:
        epochs: The planned epochs the figures are for.
        energy_j: (low, median, high) energy of the whole planned run, joules.
        duration_s: (low, median, high) its duration, seconds.
        epoch_energy_j: The median energy of one epoch (training and evaluation), joules.
        steps_seen: Steps measured; ``steps_per_epoch`` in one epoch.
        level: The interval's probability (0.8: the 10th to the 90th percentile).
    """

    epochs: int
    energy_j: tuple[float, float, float]
    duration_s: tuple[float, float, float]
    epoch_energy_j: float
    steps_seen: int
    steps_per_epoch: int
    level: float = 0.8


def estimate_from_steps(
    windows: Sequence[tuple[int, float, float]],
    *,
    steps_per_epoch: int,
    epochs: int,
    eval_energy_j: float = 0.0,
    eval_time_s: float = 0.0,
    level: float = 0.8,
) -> StepsEstimate:
    """The energy and time of a planned run from its first steps, measured as consecutive windows.

    The first window carries the warm-up (allocations, kernel selection, cold caches), so with two or more windows
    the rate per step comes from the later ones; the interval widens with how much the later windows' rates differ
    and with how little of an epoch was seen.

    Args:
        windows: Consecutive ``(steps, energy_j, seconds)`` of training, first steps first (one per step also works).
        steps_per_epoch: Training steps in one epoch.
        epochs: Planned epochs.
        eval_energy_j: Energy of one evaluation pass (joules; measured or estimated), added once per epoch.
        eval_time_s: Its duration (seconds).
        level: The interval's probability.
    """
    if not windows or any(n < 1 or j < 0 or t < 0 for n, j, t in windows):
        raise ValueError("estimate_from_steps needs at least one window of steps with non-negative energy and time")
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError("steps_per_epoch and epochs must be at least 1")
    steady = list(windows[1:]) if len(windows) >= 2 else list(windows)
    steps = sum(n for n, _, _ in steady)
    rate_j = sum(j for _, j, _ in steady) / steps
    rate_s = sum(t for _, _, t in steady) / steps
    rates = np.array([j / n for n, j, _ in steady])
    spread = float(np.std(rates) / max(np.mean(rates), 1e-12)) if rates.size >= 2 else 0.2
    seen_share = min(1.0, sum(n for n, _, _ in windows) / steps_per_epoch)
    rel_sd = max(0.05, spread + 0.1 * (1.0 - seen_share))
    z = _z(level)
    epoch_j = rate_j * steps_per_epoch + eval_energy_j
    epoch_s = rate_s * steps_per_epoch + eval_time_s
    total_j, total_s = epoch_j * epochs, epoch_s * epochs
    lo, hi = float(np.exp(-z * rel_sd)), float(np.exp(z * rel_sd))
    return StepsEstimate(
        epochs=epochs,
        energy_j=(total_j * lo, total_j, total_j * hi),
        duration_s=(total_s * lo, total_s, total_s * hi),
        epoch_energy_j=epoch_j,
        steps_seen=sum(n for n, _, _ in windows),
        steps_per_epoch=steps_per_epoch,
        level=level,
    )


def _z(level: float) -> float:
    """The standard normal quantile of ``(1 + level) / 2``."""
    from statistics import NormalDist

    return NormalDist().inv_cdf((1.0 + level) / 2.0)
