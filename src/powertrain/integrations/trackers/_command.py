"""``powertrain measure --log NAME -- CMD``: one command's measurement as a tracker run."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powertrain.integrations.trackers._base import RunInfo, safe_name
from powertrain.integrations.trackers._fanout import Trackers, TrackerSpec
from powertrain.meters import Measurement

__all__ = ["log_command"]


def log_command(
    specs: Sequence[str | TrackerSpec],
    *,
    argv: Sequence[str],
    measurement: Measurement,
    exit_code: int,
    interrupted: bool,
    started_at: str,
    carbon: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    artifact: Path | None = None,
) -> Trackers:
    """Log a finished command: its parameters, its figures at step 0, the JSON result, and how it ended.

    Metrics: ``energy/total_j`` (the command's own energy, as attributed), ``energy/machine_total_j`` (the machine's,
    beside it), ``energy/unattributed_j``, ``energy/power_w`` (average), ``time/total_s``, ``energy/<component>_j`` per
    component, ``energy/total_co2e_kg`` (operational) and ``exit_code``; the ``attribution`` scope is a parameter.
    Status: completed (exit 0), interrupted (Ctrl-C, SIGTERM) or failed.
    """
    command = shlex.join(argv)
    given = {"command": command, "attribution": measurement.attribution.get("scope"), **dict(params or {})}
    info = RunInfo(name=safe_name(Path(argv[0]).name + " " + " ".join(argv[1:2]), limit=60),
                   key=f"measure:{started_at}:{command}", params=given,
                   folder=artifact.parent if artifact is not None else None)  # fmt: skip
    trackers = Trackers.start(specs, info)
    metrics: dict[str, Any] = {
        "energy/total_j": measurement.energy_j,
        "energy/machine_total_j": measurement.machine_total_j,
        "energy/unattributed_j": measurement.unattributed_j,
        "energy/power_w": measurement.avg_power_w,
        "time/total_s": measurement.duration_s,
        "exit_code": exit_code,
        **{f"energy/{component}_j": joules for component, joules in measurement.energy_by_component_j.items()},
    }
    if carbon and carbon.get("operational_kg_co2e") is not None:
        metrics["energy/total_co2e_kg"] = carbon["operational_kg_co2e"]
    trackers.log_metrics(metrics, step=0)
    if artifact is not None:
        trackers.log_artifact(artifact)
    trackers.finish("interrupted" if interrupted else ("completed" if exit_code == 0 else "failed"))
    return trackers
