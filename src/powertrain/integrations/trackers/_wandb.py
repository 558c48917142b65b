"""Weights & Biases: one W&B run per powertrain run; a sweep's trials grouped under the study's name.

W&B has no nested runs, so a sweep is a group (``group=<study>``): one run per trial (``job_type="trial"``) and the
sweep's own run (``job_type="sweep"``), which is opened only briefly when the sweep finishes, with what was logged on
it (W&B writes a run's files only once no other run of the process is open, so the two never overlap). Run ids are
derived from the project and ``RunInfo.key``, and runs start with ``resume="allow"``, so a retried trial continues its
run and workers on several machines fill one group. The project
is ``wandb:PROJECT``, else ``WANDB_PROJECT``, else ``powertrain``; everything else follows W&B's environment
(``WANDB_MODE=offline`` writes run files to sync later, ``WANDB_DIR``, ``WANDB_API_KEY``...). Without ``WANDB_DIR``
the files go into the run folder. Metrics are plotted against ``epoch`` (or ``step`` for per-step metrics), not W&B's
internal step, so a continued run adds to the same curves.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powertrain.integrations._optional import require
from powertrain.integrations.trackers._base import Axis, RunInfo, Status, TrackerRun, flat_params

__all__ = ["WandbRun", "run_id"]

_EXIT = {"completed": 0, "failed": 1, "interrupted": 255}


def run_id(project: str, key: str) -> str:
    """The W&B run id of ``key`` in ``project``: stable, 24 hex characters."""
    return hashlib.sha256(f"{project}\0{key}".encode()).hexdigest()[:24]


class WandbRun(TrackerRun):
    """A W&B run (see the module docstring)."""

    backend = "wandb"

    def __init__(self, run: Any, project: str, group: str | None, info: RunInfo) -> None:
        self.run, self.project, self.group, self.info = run, project, group, info
        self._pending: list[tuple[str, Any]] = []  # calls on a sweep's run, replayed when it finishes

    @classmethod
    def start(cls, info: RunInfo, *, option: str | None = None, parent: WandbRun | None = None) -> WandbRun:
        """``wandb.init`` with a stable id (``resume="allow"``); a sweep's run is only opened when it finishes."""
        require("wandb", "wandb")
        project = parent.project if parent else (option or os.environ.get("WANDB_PROJECT") or "powertrain")
        group = parent.group if parent else (info.name if info.kind == "sweep" else None)
        if info.kind == "sweep":
            return cls(None, project, group, info)
        return cls(cls._init(info, project, group), project, group, info)

    @staticmethod
    def _init(info: RunInfo, project: str, group: str | None) -> Any:
        import wandb

        # WANDB_DIR is read here, at each run, and passed on: W&B's process-wide settings keep the value of the first
        # run otherwise, so a later run in the same process (a notebook, a second study) would write to the old folder.
        folder = Path(os.environ["WANDB_DIR"]) if os.environ.get("WANDB_DIR") else info.folder
        if folder is not None:
            folder = Path(folder)
            folder.mkdir(parents=True, exist_ok=True)
        run = wandb.init(
            project=project,
            name=info.name,
            id=run_id(project, info.key),
            group=group,
            job_type=info.kind,
            config=flat_params(info.params),
            tags=[f"{k}:{v}"[:64] for k, v in info.tags.items()] or None,
            dir=str(folder) if folder is not None else None,
            resume="allow",
            reinit="create_new",
        )
        run.define_metric("epoch")
        run.define_metric("step")
        run.define_metric("step/*", step_metric="step")
        run.define_metric("*", step_metric="epoch")
        return run

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Update the run's config (a continued run may change a value: W&B keeps the latest)."""
        flat = flat_params(params)
        if flat and self.run is None:
            self._pending.append(("params", flat))
        elif flat:
            self.run.config.update(flat, allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int, axis: Axis = "epoch") -> None:
        """One ``run.log`` with the epoch (or, for ``axis="step"``, the step) as the x-axis value."""
        if self.run is None:
            self._pending.append(("metrics", (dict(metrics), step, axis)))
        elif axis == "step":
            self.run.log({**{f"step/{k}": v for k, v in metrics.items()}, "step": int(step)})
        else:
            self.run.log({**metrics, "epoch": int(step)})

    def log_artifact(self, path: Path) -> None:
        """Save a file (or every file of a folder) with the run (``run.save``, uploaded now or at sync)."""
        if self.run is None:
            self._pending.append(("artifact", path))
            return
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        base = path.parent
        for file in files:
            self.run.save(str(file), base_path=str(base), policy="now")

    def child(self, info: RunInfo) -> WandbRun:
        """A trial's run in this sweep's group."""
        return type(self).start(info, parent=self)

    def finish(self, status: Status = "completed") -> None:
        """``run.finish`` with exit code 0 (completed), 1 (failed) or 255 (interrupted)."""
        if self.run is None:  # a sweep: open its run now and replay what was logged on it
            self.run = self._init(self.info, self.project, self.group)
            for what, value in self._pending:
                if what == "params":
                    self.log_params(value)
                elif what == "metrics":
                    self.log_metrics(value[0], step=value[1], axis=value[2])
                else:
                    self.log_artifact(value)
            self._pending = []
        self.run.finish(exit_code=_EXIT[status])

    @property
    def location(self) -> str:
        """The run's page, or its offline folder."""
        if self.run is None:
            return f"{self.project} group {self.group}"
        url = getattr(self.run, "url", None)
        return str(url) if url else f"{self.project}/{self.run.id} ({getattr(self.run, 'dir', '')})"
