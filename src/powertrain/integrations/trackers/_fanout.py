"""Several trackers as one: every call goes to each, and a tracker that fails is reported once and dropped.

Training never stops because a tracker is unreachable or fails mid-run: the failure is logged as one warning line
(``powertrain: warning: mlflow tracker failed ...`` in the CLI), the tracker receives nothing more, and the figures
are still in the run folder. :attr:`Trackers.failures` keeps the reasons for the run's summary.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from powertrain.errors import ConfigError, PowertrainError
from powertrain.integrations.trackers._base import Axis, RunInfo, Status, TrackerRun, numeric_metrics

__all__ = ["BACKENDS", "TrackerSpec", "Trackers", "check_installed", "parse_spec"]

logger = logging.getLogger(__name__)

# name -> (module, class): imported only when asked for, so powertrain runs without any tracker installed
BACKENDS: dict[str, tuple[str, str]] = {
    "mlflow": ("powertrain.integrations.trackers._mlflow", "MlflowRun"),
    "tensorboard": ("powertrain.integrations.trackers._tensorboard", "TensorBoardRun"),
    "wandb": ("powertrain.integrations.trackers._wandb", "WandbRun"),
}


class TrackerSpec:
    """A parsed ``--log`` value: ``NAME`` or ``NAME:OPTION``.

    The option is MLflow's tracking URI, TensorBoard's log dir or W&B's project.
    """

    __slots__ = ("name", "option")

    def __init__(self, name: str, option: str | None = None) -> None:
        self.name, self.option = name, option

    def __repr__(self) -> str:
        return self.name if self.option is None else f"{self.name}:{self.option}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrackerSpec) and (self.name, self.option) == (other.name, other.option)

    def __hash__(self) -> int:
        return hash((self.name, self.option))

    def start(self, info: RunInfo) -> TrackerRun:
        """Start (or continue, by key) the run in this tracker.

        Raises:
            ConfigError: The tracker's library is not installed (one line with the ``pip install``).
        """
        module, cls = BACKENDS[self.name]
        backend = getattr(importlib.import_module(module), cls)
        return backend.start(info, option=self.option)


def parse_spec(text: str | TrackerSpec) -> TrackerSpec:
    """``"mlflow"``, ``"mlflow:http://host:5000"``, ``"tensorboard:logs/tb"``, ``"wandb:my-project"`` -> a spec.

    Raises:
        ConfigError: An unknown tracker name (with the closest known one) or an empty option.
    """
    if isinstance(text, TrackerSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"a tracker is one of {', '.join(BACKENDS)} (optionally NAME:OPTION), not {text!r}")
    name, sep, option = text.strip().partition(":")
    name = name.strip().lower()
    if name not in BACKENDS:
        import difflib

        close = difflib.get_close_matches(name, list(BACKENDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown tracker {name!r}: use {', '.join(BACKENDS)}{hint}")
    if sep and not option.strip():
        raise ConfigError(f"tracker {text!r}: nothing after ':' (give {name}:OPTION or just {name})")
    return TrackerSpec(name, option.strip() or None)


def check_installed(specs: Sequence[str | TrackerSpec]) -> list[TrackerSpec]:
    """Parse ``specs`` and check that each tracker's library is installed, without importing it.

    Raises:
        ConfigError: An unknown name, or a missing library (one line with the ``pip install``).
    """
    import importlib.util

    parsed = [parse_spec(s) for s in specs]
    for spec in parsed:
        if importlib.util.find_spec(spec.name) is None:
            raise ConfigError(f"{spec.name} is not installed: pip install 'powertrain[{spec.name}]' to log to it")
    return parsed


class Trackers:
    """The runs of one piece of work in every requested tracker (possibly none: then every call does nothing).

    Build with :meth:`start`; ``with Trackers.start(...) as trackers:`` finishes them with ``failed`` (or
    ``interrupted`` on Ctrl-C) when the block raises.
    """

    def __init__(self, runs: Iterable[TrackerRun] = (), failures: Mapping[str, str] | None = None) -> None:
        self.runs: list[TrackerRun] = list(runs)
        self.failures: dict[str, str] = dict(failures or {})
        self._finished = False

    @classmethod
    def start(cls, specs: Sequence[str | TrackerSpec], info: RunInfo) -> Trackers:
        """Start ``info``'s run in every tracker of ``specs``; one that cannot start is reported and left out.

        Raises:
            ConfigError: An unknown tracker name, or a tracker whose library is not installed (asked for explicitly,
                so that is a user mistake, raised before any work).
        """
        parsed = list(dict.fromkeys(parse_spec(s) for s in specs))
        trackers = cls()
        for spec in parsed:
            try:
                trackers.runs.append(spec.start(info))
            except PowertrainError:
                raise
            except Exception as exc:  # an unreachable server, a bad URI: the work goes on without this tracker
                trackers._failed(spec.name, "start", exc)
        return trackers

    def __bool__(self) -> bool:
        return bool(self.runs)

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.finish("completed")
        else:
            self.finish("interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed")

    # -- calls ---------------------------------------------------------------------------------------------
    def _each(self, what: str, call: Callable[[TrackerRun], Any]) -> None:
        for run in list(self.runs):
            try:
                call(run)
            except Exception as exc:  # reported once, then this tracker gets nothing more
                self.runs.remove(run)
                self._failed(run.backend, what, exc)

    def _failed(self, name: str, what: str, exc: BaseException) -> None:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        self.failures[name] = f"{what}: {reason}"
        logger.warning("%s tracker failed (%s: %s); the work goes on without it and its figures stay in the run "
                       "folder", name, what, reason)  # fmt: skip

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the run's parameters in every tracker."""
        if params:
            self._each("params", lambda run: run.log_params(params))

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int, axis: Axis = "epoch") -> None:
        """Record the finite numbers of ``metrics`` at ``step`` (non-numbers are left out)."""
        numbers = numeric_metrics(metrics)
        if numbers:
            self._each("metrics", lambda run: run.log_metrics(numbers, step=step, axis=axis))

    def log_artifact(self, path: Path | str) -> None:
        """Attach a file or folder that exists (a missing one is skipped)."""
        target = Path(path)
        if target.exists():
            self._each("artifact", lambda run: run.log_artifact(target))

    def child(self, info: RunInfo) -> Trackers:
        """The nested run ``info`` (a sweep's trial) in every tracker that is still working."""
        children = Trackers(failures=self.failures)
        for run in list(self.runs):
            try:
                children.runs.append(run.child(info))
            except Exception as exc:
                children._failed(run.backend, "child run", exc)
        return children

    def finish(self, status: Status = "completed") -> None:
        """End every run with ``status`` (once; later calls do nothing)."""
        if self._finished:
            return
        self._finished = True
        self._each("finish", lambda run: run.finish(status))

    @property
    def locations(self) -> dict[str, str]:
        """Tracker name -> where its run is (for a closing message)."""
        return {run.backend: run.location for run in self.runs}
