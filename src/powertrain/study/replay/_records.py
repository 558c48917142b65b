"""A recorded sweep's trials (:class:`~powertrain.study.engine.trials.TrialRecord`) as a trace to replay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from powertrain.errors import ConfigError
from powertrain.study.engine.trials import TrialRecord
from powertrain.study.replay._trace import Run, Trace, check_setups

__all__ = ["trace_from_records"]


def trace_from_records(
    trials: Iterable[TrialRecord], target_accuracy: float | None, target: str, *, unfinished: bool = False
) -> Trace:
    """Every finished configuration of a full sweep, with its stored per-epoch curve (``target``: where it is from).

    A sweep run in breadth-first rounds is read from the last round of each configuration (its curve holds every
    epoch). A sweep that pruned a configuration cannot be replayed as a full grid, nor one with nothing finished.
    """
    trials = list(trials)
    pruned = [t for t in trials if t.state == "pruned"]
    if pruned:
        raise ConfigError(
            f"{target}: a pruned sweep ({len(pruned)} configuration(s) stopped early) cannot be replayed as a full "
            "grid: their curves stop where pruning cut them; replay the same grid run without a pruner"
        )
    running = [t for t in trials if t.state in ("running", "waiting")]
    if running and not unfinished:
        raise ConfigError(
            f"{target}: the sweep is not finished ({len(running)} trial(s) running or waiting): replay a finished "
            "grid, or finish it first (run the same sweep command again)"
        )
    runs: list[Run] = []
    params: dict[str, dict[str, Any]] = {}
    planned = 0
    stopped_at_target = False
    for t in sorted(trials, key=lambda t: t.number):
        if t.state != "complete" or not t.get("curve"):
            continue
        config = t.get("config") or {}
        planned = max(planned, int(config.get("epochs") or 0))
        stopped_at_target = stopped_at_target or bool(config.get("stop_at_target"))
        setup_params = {k: v for k, v in t.params.items() if k != "seed"}
        label = "_".join(f"{k}={v}" for k, v in setup_params.items()) or str(t.get("run_name") or t.number)
        seed = str(t.params.get("seed", config.get("seed", 0)))
        params.setdefault(label, setup_params)
        curve = [list(p) for p in t.get("curve")]
        cum_j = [float(p[1]) for p in curve]
        cum_s = [float(p[2]) for p in curve]
        accuracy = tuple(_accuracy(p[3]) for p in curve)
        status = str(t.get("train_status") or "")
        runs.append(Run(
            setup=label, seed=seed, hardware=str(t.get("hardware") or "unknown"), accuracy=accuracy,
            energy_j=tuple(_steps(cum_j)), seconds=tuple(_steps(cum_s)),
            ended=status not in ("completed", "reached_target"),
        ))  # fmt: skip
    if not runs:
        raise ConfigError(f"{target}: no finished trial with a per-epoch curve to replay")
    trace = Trace(str(target), runs, target_accuracy, planned, params, [], stopped_at_target)
    check_setups(trace)
    return trace




def _steps(cumulative: list[float]) -> list[float]:
    out, before = [], 0.0
    for value in cumulative:
        out.append(max(0.0, value - before))
        before = value
    return out


def _accuracy(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # a diverged epoch has no accuracy (NaN)
