"""The forecast of a run: at which epoch, for how many joules and seconds it reaches its target, and how likely.

:func:`forecast` joins the two models: sampled futures of the learning curve (``_curve``) and sampled costs of the
coming epochs (``_energy``). For every sample, the first future epoch whose accuracy reaches the target gives the
epoch, the cumulative energy and the time to target; a sample that does not reach it within the planned epochs counts
as "not within the planned epochs" (infinite), so the probability, the median and the interval all come from the same
draws and mean what they say.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from powertrain.forecast._curve import CurvePrior, sample_curves
from powertrain.forecast._energy import EpochCostPrior, sample_epoch_costs

__all__ = ["TAIL_SCALE", "Forecast", "Interval", "calibrated_tail", "forecast", "forecast_curve"]

MODEL = "curve-ensemble/2"
"""Name and version of the forecasting model (stored with every forecast, so a later model can be told apart).
Version 2: intervals and the pruner's risk use the calibrated tails (:data:`TAIL_SCALE`)."""

TAIL_SCALE = 2.75
"""How much heavier the draws' tails are than the outcomes': an ``L`` interval is the central ``1 - (1 - L) x 2.75``
of the draws (the 80 % interval: their 22.5th to 77.5th percentile), and a chance ``p`` of the draws stands for
``p / 2.75`` of the outcomes' (the forecast pruner's risk).

Chosen held out by ``bench/forecast_calibration.py`` (docs/forecast.md, "Calibration"): of the scales 1 to 4 by 0.25,
the one whose 80 % intervals held the measured energy-to-target closest to 80 % of the forecasts on the three recorded
``lr-batch-grid.yaml`` grids (training seeds 0-2); on the three ``lr-batch-grid-long.yaml`` grids, never used to choose
it, its intervals hold 86 % (uncalibrated: 96 %). The reverse fold (chosen on the long grids: 3.5) held only 65 % of
the short grids' forecasts, so the scale is not universal: it reflects the noise prior's heavy levels (up to 6
accuracy points) against these LeNet-5 curves, and a few whole epochs as the possible outcomes.
"""


def calibrated_tail(probability: float) -> float:
    """The share of the draws that stands for an outcomes' ``probability`` in one tail (capped below one half)."""
    return min(0.499, probability * TAIL_SCALE)


@dataclass(frozen=True)
class Interval:
    """A forecast figure: median and interval; ``math.inf`` means "not within the planned epochs".

    Median and interval are taken over every draw, those that never reach the target counted as infinitely late (so a
    high end of ``inf`` says that reaching it is not certain enough to bound). The interval is calibrated: the draws'
    central ``1 - (1 - level) x TAIL_SCALE`` (:data:`TAIL_SCALE`), which held the measured outcomes of recorded grids
    about ``level`` of the time. When reaching it is less likely than not, the median is that of the draws that do
    reach it ("when, if it does"; ``inf`` when none does).
    """

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray, level: float, *, tail_scale: float | None = None) -> Interval:
        """Median and calibrated ``level`` interval of draws ``values`` (``inf``: never); the class says the median.

        The interval runs from the draws' ``calibrated_tail((1 - level) / 2)`` quantile to the same from the top
        (:data:`TAIL_SCALE`; ``tail_scale=1`` gives the draws' own central ``level`` interval).
        """
        tail = calibrated_tail((1.0 - level) / 2.0) if tail_scale is None else min(0.499, (1 - level) / 2 * tail_scale)
        q = np.quantile(values, [0.5, tail, 1.0 - tail], method="inverted_cdf")
        median = float(q[0])
        if not math.isfinite(median):  # not likely: the median of the draws that do get there, if any
            finite = values[np.isfinite(values)]
            median = float(np.quantile(finite, 0.5, method="inverted_cdf")) if finite.size else math.inf
        return cls(median, float(q[1]), float(q[2]))

    @classmethod
    def exact(cls, value: float) -> Interval:
        """A figure already measured."""
        return cls(value, value, value)

    def contains(self, value: float) -> bool:
        """True when ``value`` (``inf`` for "not reached") lies within the interval."""
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float | None]:
        """JSON: ``None`` stands for "not within the planned epochs"."""
        return {k: (v if math.isfinite(v) else None) for k, v in vars(self).items()}


@dataclass(frozen=True)
class Forecast:
    """Where a run is heading, made after ``epochs_seen`` epochs.

    Attributes:
        target_accuracy: The target validation accuracy.
        planned_epochs: The epochs the run may train.
        epochs_seen: Epochs finished when the forecast was made.
        reached: True when the run has already reached the target (the figures are then measured).
        probability: Probability of reaching the target within the planned epochs.
        epoch: Epoch at which it first reaches the target.
        energy_j: Its cumulative energy then (joules, the run's own meter's figures).
        time_s: Its cumulative training and evaluation time then (seconds), when times were given.
        run_energy_j: Energy of the whole planned run (until the target when ``stop_at_target``), joules.
        level: The probability of each interval (0.8; calibrated: the draws' 22.5th to 77.5th percentile).
        model: The forecasting model.
    """

    target_accuracy: float
    planned_epochs: int
    epochs_seen: int
    reached: bool
    probability: float
    epoch: Interval
    energy_j: Interval
    time_s: Interval | None
    run_energy_j: Interval
    level: float = 0.8
    model: str = MODEL
    energy_samples_j: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``summary.json``, sweep results, ``--json``); samples are left out."""
        return {
            "epochs_seen": self.epochs_seen,
            "target_accuracy": self.target_accuracy,
            "planned_epochs": self.planned_epochs,
            "reached": self.reached,
            "probability": round(self.probability, 4),
            "epoch": self.epoch.to_dict(),
            "energy_j": self.energy_j.to_dict(),
            "time_s": self.time_s.to_dict() if self.time_s else None,
            "run_energy_j": self.run_energy_j.to_dict(),
            "level": self.level,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Forecast:
        """A stored forecast (:meth:`to_dict`) back, without its draws (for display)."""

        def interval(value: Any) -> Interval:
            value = value or {}
            return Interval(*(math.inf if value.get(k) is None else float(value[k]) for k in ("median", "low", "high")))

        return cls(
            float(data["target_accuracy"]), int(data["planned_epochs"]), int(data["epochs_seen"]),
            bool(data["reached"]), float(data["probability"]), interval(data.get("epoch")),
            interval(data.get("energy_j")), interval(data["time_s"]) if data.get("time_s") else None,
            interval(data.get("run_energy_j")),
            float(data.get("level", 0.8)), str(data.get("model", MODEL)),
        )  # fmt: skip

    def line(self) -> str:
        """One line for a live display: ``85 % at epoch 4 (3-6), 212 J (160-300 J), 80 % likely within 10 epochs``.

        With a probability below one half, the line says how unlikely it is, and when and for how much if it does.
        """
        from powertrain._units import format_joules

        target = f"{self.target_accuracy * 100:g} %"
        if self.reached:
            return f"{target} reached at epoch {self.epoch.median:.0f}, {format_joules(self.energy_j.median)}"
        likely = f"{self.probability * 100:.0f} % likely within {self.planned_epochs} epochs"
        if not math.isfinite(self.epoch.median):
            return f"{target} not likely: {likely}"
        if self.probability < 0.5:
            when = f"epoch {self.epoch.median:.0f}, {format_joules(self.energy_j.median)}"
            return f"{target} not likely: {likely} (if it gets there: {when})"

        def span(iv: Interval, fmt: Any) -> str:
            high = fmt(iv.high) if math.isfinite(iv.high) else "beyond"
            return f"{fmt(iv.median)} ({fmt(iv.low)}-{high})"

        epoch = span(self.epoch, lambda v: f"{v:.0f}")
        energy = span(self.energy_j, format_joules)
        return f"{target} at epoch {epoch}, {energy}, {likely}"


def forecast(
    accuracy: Sequence[float],
    energy_j: Sequence[float],
    *,
    target_accuracy: float,
    planned_epochs: int,
    elapsed_s: Sequence[float] | None = None,
    stop_at_target: bool = True,
    level: float = 0.8,
    samples: int = 2000,
    curve_prior: CurvePrior | None = None,
    cost_prior: EpochCostPrior | None = None,
    seed: int = 0,
) -> Forecast:
    """Forecast when a run reaches ``target_accuracy``, from its epochs so far.

    Args:
        accuracy: Validation accuracy after each finished epoch (epoch 1 first), in [0, 1].
        energy_j: The run's cumulative energy after each of those epochs (joules).
        target_accuracy: The target.
        planned_epochs: The epochs the run may train in all.
        elapsed_s: Cumulative training and evaluation seconds after each epoch, for the time figures.
        stop_at_target: The run stops at the target (its planned energy ends there).
        level: Probability of the intervals.
        samples: Draws behind the figures.
        curve_prior: Prior of the learning-curve ensemble.
        cost_prior: Prior of the per-epoch cost model.
        seed: Seed of the draws.

    Raises:
        ValueError: No epoch yet, lists of different lengths, or an accuracy outside [0, 1].

    Example:
        >>> f = forecast([0.80, 0.83], [100.0, 190.0], target_accuracy=0.85, planned_epochs=10)
        >>> 0.0 < f.probability <= 1.0 and f.energy_j.median > 190.0
        True
    """
    acc = np.asarray(accuracy, dtype=float)
    cum = np.asarray(energy_j, dtype=float)
    if acc.size == 0 or acc.size != cum.size or (elapsed_s is not None and len(elapsed_s) != acc.size):
        raise ValueError("forecast needs one accuracy, energy (and time) per finished epoch, at least one epoch")
    if not np.all(np.isfinite(acc)) or acc.min() < 0.0 or acc.max() > 1.0:
        raise ValueError("accuracies must be finite and in [0, 1]")
    seen = int(acc.size)
    times = None if elapsed_s is None else np.asarray(elapsed_s, dtype=float)
    hits = np.nonzero(acc >= target_accuracy)[0]
    if hits.size:
        return _reached(target_accuracy, planned_epochs, cum, times, int(hits[0]), stop_at_target, level)
    future = max(0, planned_epochs - seen)
    if future == 0:
        return _hopeless(target_accuracy, planned_epochs, seen, float(cum[-1]), level)
    curves = sample_curves(
        np.arange(1, seen + 1), acc, horizon=planned_epochs, samples=samples, prior=curve_prior, seed=seed
    )
    per_epoch = np.diff(cum, prepend=0.0)
    energy = cum[-1] + np.cumsum(sample_epoch_costs(per_epoch, future=future, samples=samples, prior=cost_prior,
                                                    seed=seed + 1), axis=1)  # fmt: skip
    hit = curves.accuracy >= target_accuracy
    reaches = hit.any(axis=1)
    index = np.where(reaches, hit.argmax(axis=1), future - 1)
    rows = np.arange(samples)
    epoch_s = np.where(reaches, seen + 1.0 + index, math.inf)
    energy_s = np.where(reaches, energy[rows, index], math.inf)
    run_s = energy[rows, index] if stop_at_target else energy[:, -1]
    time_iv = None
    if times is not None:
        elapsed = times[-1] + np.cumsum(
            sample_epoch_costs(np.diff(times, prepend=0.0), future=future, samples=samples, prior=cost_prior,
                               seed=seed + 2), axis=1)  # fmt: skip
        time_iv = Interval.of(np.where(reaches, elapsed[rows, index], math.inf), level)
    return Forecast(
        target_accuracy, planned_epochs, seen, False, float(reaches.mean()), Interval.of(epoch_s, level),
        Interval.of(energy_s, level), time_iv, Interval.of(run_s, level), level, energy_samples_j=energy_s,
    )  # fmt: skip


def _reached(
    target: float, planned: int, cum: np.ndarray, times: np.ndarray | None, first: int, stop: bool, level: float
) -> Forecast:
    """The forecast of a run that has reached the target: every figure measured."""
    exact_t = Interval.exact(float(times[first])) if times is not None else None
    run_j = float(cum[first] if stop else cum[-1])
    return Forecast(
        target, planned, int(cum.size), True, 1.0, Interval.exact(first + 1.0), Interval.exact(float(cum[first])),
        exact_t, Interval.exact(run_j), level, energy_samples_j=np.full(1, float(cum[first])),
    )  # fmt: skip


def _hopeless(target: float, planned: int, seen: int, spent_j: float, level: float) -> Forecast:
    """The forecast of a run that ended its planned epochs without reaching the target."""
    never = Interval(math.inf, math.inf, math.inf)
    return Forecast(target, planned, seen, False, 0.0, never, never, None, Interval.exact(spent_j), level,
                    energy_samples_j=np.full(1, math.inf))  # fmt: skip


def forecast_curve(
    curve: Sequence[Sequence[float]],
    *,
    target_accuracy: float,
    planned_epochs: int,
    stop_at_target: bool = True,
    samples: int = 1000,
) -> Forecast | None:
    """The forecast of a stored curve (per epoch ``[epoch, energy_j, elapsed_s, val_accuracy]``), cached.

    This is what a sweep trial stores as its ``curve`` user attribute and what a run's history holds; a NaN accuracy
    (a diverged epoch) counts as 0. Forecasts are pure functions of the curve, so the run's live line, the sweep
    engine, the pruner and a replay that ask again get the same object back. None for an empty curve.
    """
    if not curve:
        return None
    accuracy = tuple(float(p[3]) if math.isfinite(float(p[3])) else 0.0 for p in curve)
    energy = tuple(float(p[1]) for p in curve)
    elapsed = tuple(float(p[2]) for p in curve)
    return _cached(accuracy, energy, elapsed, float(target_accuracy), int(planned_epochs), stop_at_target, samples)


@functools.lru_cache(maxsize=4096)
def _cached(
    accuracy: tuple[float, ...], energy: tuple[float, ...], elapsed: tuple[float, ...], target: float, planned: int,
    stop: bool, samples: int,
) -> Forecast:  # fmt: skip
    return forecast(accuracy, energy, elapsed_s=elapsed, target_accuracy=target, planned_epochs=planned,
                    stop_at_target=stop, samples=samples)  # fmt: skip
