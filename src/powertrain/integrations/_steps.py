"""Per-step energy of :class:`~powertrain.integrations.EnergyTracker`: step windows that cost two timestamps each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from powertrain.integrations._segments import all_reduce_sum

if TYPE_CHECKING:
    from powertrain.integrations.distributed import Ranks
    from powertrain.meters import EnergyMeter
    from powertrain.meters.window import Window

__all__ = ["StepWindows"]


class StepWindows:
    """The tracker's step windows: opened and closed around each training step, resolved in one batch.

    A subclass sets ``_meter`` (the running meter, None before start), ``ranks``, ``_steps`` (an empty list),
    ``_step_scope`` (None) and ``_step_count`` (0).
    """

    _meter: EnergyMeter | None
    ranks: Ranks
    _steps: list[tuple[int, Window]]
    _step_scope: Any
    _step_count: int

    def step(self) -> _StepScope:
        """Measure one training step as a window (``with tracker.step():``); costs two timestamps."""
        return _StepScope(self)

    def step_begin(self, label: int | None = None) -> None:
        """Open the current step's window (pair with :meth:`step_end`).

        Args:
            label: The step's number in results (default: steps counted from 1), e.g. the optimizer step a
                training batch belongs to under gradient accumulation.
        """
        if self._meter is None:
            raise RuntimeError("EnergyTracker.step_begin() before start()")
        if self._step_scope is not None:
            self.step_end()
        self._step_count += 1
        self._step_scope = self._meter.window("powertrain-step")
        self._steps.append((self._step_count if label is None else label, self._step_scope.__enter__()))

    def step_end(self) -> None:
        """Close the current step's window (no sensor is read)."""
        if self._step_scope is not None:
            self._step_scope.__exit__(None, None, None)
            self._step_scope = None

    @property
    def pending_steps(self) -> int:
        """Closed step windows not yet returned by :meth:`flush_steps`."""
        return len(self._steps) - (self._step_scope is not None)

    def flush_steps(self) -> list[tuple[int, float, float]]:
        """``(step label, joules over every rank, seconds)`` of every closed step since the last flush.

        Collective: the ranks' step energies are summed with one ``all_reduce``. Reads the sensors at most once.
        """
        open_step = self._steps[-1:] if self._step_scope is not None else []
        closed = self._steps[: len(self._steps) - len(open_step)]
        self._steps = open_step
        energies = [w.measurement.energy_j for _, w in closed]
        durations = [w.measurement.duration_s for _, w in closed]
        if self.ranks.active and self.ranks.world_size > 1:
            energies = all_reduce_sum(energies)
        return [(n, e, d) for (n, _), e, d in zip(closed, energies, durations, strict=True)]


class _StepScope:
    __slots__ = ("_tracker",)

    def __init__(self, tracker: StepWindows) -> None:
        self._tracker = tracker

    def __enter__(self) -> None:
        self._tracker.step_begin()

    def __exit__(self, *exc: object) -> None:
        self._tracker.step_end()
