"""Live display of a training run: a rich progress bar with loss, accuracy, watts and joules, or nothing (quiet)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from powertrain._units import format_joules as _joules

if TYPE_CHECKING:
    from powertrain.training.rundir import EpochRecord

__all__ = ["ProgressReporter", "QuietReporter", "RichReporter", "make_reporter"]


class ProgressReporter(Protocol):
    """What the training loop tells a display. Calls are cheap and made at most every few steps.

    A reporter may also have ``forecast(forecast)``: after every epoch of a run with a target accuracy that has not
    reached it, the loop passes the run's new :class:`~powertrain.forecast.Forecast` (reporters without it get none).
    """

    def start(self, *, total_epochs: int, first_epoch: int) -> None:
        """The run begins (``first_epoch`` > 0 when resumed)."""

    def start_epoch(self, epoch: int, steps: int) -> None:
        """Epoch ``epoch`` (counted from 1) of ``steps`` batches begins."""

    def update(self, step: int, *, loss: float, accuracy: float, power_w: float, energy_j: float) -> None:
        """Running figures after ``step`` batches; ``energy_j`` is the run's total so far."""

    def end_epoch(self, record: EpochRecord) -> None:
        """An epoch finished."""

    def stop(self) -> None:
        """The run ended."""


class QuietReporter:
    """Shows nothing (``--quiet``)."""

    def start(self, *, total_epochs: int, first_epoch: int) -> None:
        """No-op."""

    def start_epoch(self, epoch: int, steps: int) -> None:
        """No-op."""

    def update(self, step: int, *, loss: float, accuracy: float, power_w: float, energy_j: float) -> None:
        """No-op."""

    def end_epoch(self, record: EpochRecord) -> None:
        """No-op."""

    def forecast(self, forecast: Any) -> None:
        """No-op."""

    def stop(self) -> None:
        """No-op."""


class RichReporter:
    """An epoch bar and a step bar with live loss, accuracy, power and energy, plus one line per finished epoch.

    Args:
        console: Where to draw; default stderr, so stdout stays clean for scripts.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        self._epochs: int | None = None
        self._steps: int | None = None
        self._total_epochs = 0
        self._first: list[tuple[int, float]] | None = None  # (step, energy_j) in a fresh run's first epoch
        self._steps_per_epoch = 0

    def start(self, *, total_epochs: int, first_epoch: int) -> None:
        """Open the display."""
        self._progress.start()
        self._epochs = self._progress.add_task("epochs", total=total_epochs, completed=first_epoch, status="")
        self._total_epochs = total_epochs
        self._first = [] if first_epoch == 0 else None

    def start_epoch(self, epoch: int, steps: int) -> None:
        """Reset the step bar for ``epoch`` (counted from 1)."""
        if self._steps is not None:
            self._progress.remove_task(self._steps)
        self._steps = self._progress.add_task(f"epoch {epoch}", total=steps, status="")
        self._steps_per_epoch = steps
        if epoch > 1:
            self._first = None

    def update(self, step: int, *, loss: float, accuracy: float, power_w: float, energy_j: float) -> None:
        """Move the step bar to ``step`` and show the running figures (in the first epoch: the planned run's)."""
        if self._steps is not None:
            status = f"loss {loss:.4f}  acc {accuracy:.3f}  {power_w:7.1f} W  {_joules(energy_j)}"
            self._progress.update(self._steps, completed=step, status=status + self._planned(step, energy_j))

    def _planned(self, step: int, energy_j: float) -> str:
        """Before the first epoch ends: the planned run's training energy from its steps so far."""
        if self._first is None or step >= self._steps_per_epoch:
            return ""
        self._first.append((step, energy_j))
        points = [(0, 0.0), *self._first]
        windows = [(b[0] - a[0], b[1] - a[1], 0.0) for a, b in zip(points, points[1:], strict=False) if b[0] > a[0]]
        if len(windows) < 3:
            return ""
        from powertrain.forecast import estimate_from_steps

        est = estimate_from_steps(windows, steps_per_epoch=self._steps_per_epoch, epochs=self._total_epochs)
        return f"  planned run ~{_joules(est.energy_j[1])} ({_joules(est.energy_j[0])}-{_joules(est.energy_j[2])})"

    def end_epoch(self, record: EpochRecord) -> None:
        """Print the epoch's line and advance the epoch bar."""
        if self._epochs is not None:
            self._progress.update(self._epochs, advance=1, status=f"{_joules(record.energy_j)} so far")
        density = "" if record.eat_density != record.eat_density else f"  density {record.eat_density:.3f}"
        self._progress.console.print(
            f"epoch {record.epoch}: val acc {record.val_accuracy:.4f}  loss {record.train_loss:.4f}  "
            f"train {_joules(record.train_energy_j)} + eval {_joules(record.eval_energy_j)} "
            f"({record.avg_power_w:.1f} W, {record.energy_source})  {record.images_per_s:,.0f} img/s{density}"
        )

    def forecast(self, forecast: Any) -> None:
        """Print where the run is heading, under the epoch's line."""
        self._progress.console.print(f"  forecast: {forecast.line()}", highlight=False, markup=False)

    def stop(self) -> None:
        """Close the display."""
        self._progress.stop()


def make_reporter(*, quiet: bool) -> ProgressReporter:
    """The reporter for the CLI's ``--quiet`` flag."""
    return QuietReporter() if quiet else RichReporter()
