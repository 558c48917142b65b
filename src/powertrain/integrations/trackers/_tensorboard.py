"""TensorBoard: event files in a log dir, one folder per run; a sweep's trials in sub-folders of the sweep's.

The log dir is ``tensorboard:DIR``, else ``<run folder>/tensorboard`` (``./tensorboard/<name>`` without a run folder).
Point ``tensorboard --logdir`` at it: metrics are scalars (``energy/epoch_j``...) at the epoch as global step; the
parameters are a text summary (``params``) and, at the end, an HPARAMS session with the final value of every metric,
so TensorBoard's HPARAMS tab compares a sweep's trials. Artifacts are copied into ``artifacts/`` beside the events
(TensorBoard has no artifact store); a JSON file (``summary.json``) is also shown as text. A continued run writes
a new event file into the same folder, which TensorBoard reads as one run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powertrain.integrations._optional import require
from powertrain.integrations.trackers._base import Axis, RunInfo, Status, TrackerRun, flat_params, safe_name

__all__ = ["TensorBoardRun"]

_TEXT_LIMIT = 64_000  # bytes of a JSON artifact shown as text


class TensorBoardRun(TrackerRun):
    """A run as a folder of TensorBoard event files (see the module docstring)."""

    backend = "tensorboard"

    def __init__(self, logdir: Path, info: RunInfo) -> None:
        require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.logdir, self.info = logdir, info
        self.writer = SummaryWriter(log_dir=str(logdir))
        self._params: dict[str, Any] = {}
        self._last: dict[str, float] = {}

    @classmethod
    def start(cls, info: RunInfo, *, option: str | None = None, parent: TensorBoardRun | None = None) -> TensorBoardRun:
        """Open (or reopen) the run's log folder."""
        if parent is not None:
            logdir = parent.logdir / safe_name(info.name)
        elif option:
            logdir = Path(option)
        elif info.folder is not None:
            logdir = Path(info.folder) / "tensorboard"
        else:
            logdir = Path("tensorboard") / safe_name(info.name)
        run = cls(logdir, info)
        run.log_params(info.params)
        return run

    def log_params(self, params: Mapping[str, Any]) -> None:
        """A Markdown table as the text summary ``params``; also kept for the HPARAMS session at the end."""
        flat = flat_params(params)
        if not flat:
            return
        self._params.update(flat)
        rows = "\n".join(f"| {k} | {str(v).replace('|', '/')} |" for k, v in sorted(self._params.items()))
        self.writer.add_text("params", f"| parameter | value |\n| --- | --- |\n{rows}", global_step=0)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int, axis: Axis = "epoch") -> None:
        """Each metric as a scalar at global step ``step``."""
        for key, value in metrics.items():
            self.writer.add_scalar(key, float(value), global_step=int(step))
            self._last[key] = float(value)
        self.writer.flush()

    def log_artifact(self, path: Path) -> None:
        """Copy into ``artifacts/``; a small JSON file is also shown as text."""
        target = self.logdir / "artifacts" / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        if path.suffix == ".json" and path.stat().st_size <= _TEXT_LIMIT:
            text = json.dumps(json.loads(path.read_text()), indent=2)
            self.writer.add_text(f"artifacts/{path.name}", "\n".join("    " + line for line in text.splitlines()))
            self.writer.flush()

    def child(self, info: RunInfo) -> TensorBoardRun:
        """A sub-folder named after the trial."""
        return type(self).start(info, parent=self)

    def finish(self, status: Status = "completed") -> None:
        """Write the HPARAMS session (parameters and final metric values, status as ``status``) and close."""
        from torch.utils.tensorboard.summary import hparams

        if self._params:
            values = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in self._params.items()}
            values["status"] = status
            experiment, start, end = hparams(values, dict(self._last))
            for summary in (experiment, start, end):
                self.writer.file_writer.add_summary(summary)  # type: ignore[union-attr]
        self.writer.add_text("status", status)
        self.writer.close()

    @property
    def location(self) -> str:
        """The log folder."""
        return str(self.logdir)
