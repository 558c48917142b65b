"""What a run minimises and how it scores: cross-entropy, or per-task cross-entropy for a multitask model.

A single-task model is scored as usual (cross-entropy, argmax accuracy). A model with a
:class:`~powertrain.models.MultiHead` is scored per task: labels are global (task ``t``'s classes follow those of
the tasks before it, as the ``multitask`` dataset numbers them), and each sample's loss and prediction use only its
own task's head (the other heads' logits are masked out). The run's ``val_accuracy`` is then its *worst* task's
accuracy, so ``target_accuracy`` is reached when every task reaches it; each epoch record also keeps every task's
loss and accuracy (``tasks``), and the summary each task's energy-, time- and epochs-to-target.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from powertrain.errors import ConfigError
from powertrain.training.device import autocast
from powertrain.training.rundir import EpochRecord

__all__ = ["Evaluation", "Objective"]


@dataclass
class Evaluation:
    """One pass over a test loader: mean loss, accuracy (worst task's for multitask) and per-task figures."""

    loss: float
    accuracy: float
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)


class Objective:
    """Loss, correct count and evaluation for ``model``; per task when it has a ``MultiHead``.

    Args:
        model: The model being trained.
        task_names: Names of the data's tasks in label order (``DatasetInfo.tasks``), or None.
        task_classes: Class count of each of those tasks, to check against the model's heads.

    Raises:
        ConfigError: The data has several tasks but the model has not one head per task.
    """

    def __init__(
        self,
        model: nn.Module,
        task_names: Sequence[str] | None = None,
        task_classes: Sequence[int] | None = None,
    ) -> None:
        from powertrain.models import MultiHead

        head = next((m for m in model.modules() if isinstance(m, MultiHead)), None)
        classes = head.classes if head is not None else None
        if task_classes is not None and len(task_classes) > 1 and tuple(task_classes) != classes:
            raise ConfigError(
                f"the data has {len(task_classes)} tasks with {list(task_classes)} classes; train it with "
                f"model: multitask (any registered model as its trunk), whose heads match, not {type(model).__name__}"
            )
        self.classes: tuple[int, ...] | None = classes if classes is not None and len(classes) > 1 else None
        self.names = list(task_names or [])
        if self.classes is not None and len(self.names) != len(self.classes):
            self.names = [f"task{i + 1}" for i in range(len(self.classes))]
        self._class_task: dict[torch.device, torch.Tensor] = {}

    @property
    def multitask(self) -> bool:
        """True when each sample is scored against its own task's head."""
        return self.classes is not None

    def _task_of_class(self, device: torch.device) -> torch.Tensor:
        if device not in self._class_task:
            assert self.classes is not None
            sizes = torch.tensor(self.classes)
            self._class_task[device] = torch.repeat_interleave(torch.arange(len(self.classes)), sizes).to(device)
        return self._class_task[device]

    def task_logits(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``out`` with every logit outside each sample's own task set to minus infinity."""
        if self.classes is None:
            return out
        class_task = self._task_of_class(out.device)
        own = class_task[y]
        return out.masked_fill(class_task[None, :] != own[:, None], float("-inf"))

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy of each sample against its own task's classes."""
        return F.cross_entropy(self.task_logits(out, y), y, reduction=reduction)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Number of right predictions (each within its own task), a device tensor."""
        return (self.task_logits(out, y).argmax(1) == y).sum()

    def evaluate(self, model: nn.Module, loader: Any, *, amp: str = "off") -> Evaluation:
        """Mean loss and accuracy over ``loader`` (per task too), with one host sync at the end."""
        model.eval()
        n_tasks = len(self.classes) if self.classes else 1
        loss_sum = torch.zeros(n_tasks, dtype=torch.float64)
        correct = torch.zeros(n_tasks, dtype=torch.int64)
        seen = torch.zeros(n_tasks, dtype=torch.int64)
        with torch.inference_mode():
            for i, (x, y) in enumerate(loader):
                if i == 0:
                    loss_sum, correct, seen = loss_sum.to(x.device), correct.to(x.device), seen.to(x.device)
                with autocast(x.device, amp):
                    out = model(x)
                logits = self.task_logits(out.float(), y)
                task = self._task_of_class(y.device)[y] if self.classes else torch.zeros_like(y)
                loss_sum.index_add_(0, task, F.cross_entropy(logits, y, reduction="none").double())
                correct.index_add_(0, task, (logits.argmax(1) == y).long())
                seen.index_add_(0, task, torch.ones_like(y))
        loss_sum, correct, seen = loss_sum.cpu(), correct.cpu(), seen.cpu()
        total = int(seen.sum())
        if total == 0:
            return Evaluation(float("nan"), float("nan"))
        mean_loss = float(loss_sum.sum()) / total
        if self.classes is None:
            return Evaluation(mean_loss, int(correct.sum()) / total)
        tasks = {
            name: {
                "val_loss": float(loss_sum[t]) / int(seen[t]) if seen[t] else float("nan"),
                "val_accuracy": int(correct[t]) / int(seen[t]) if seen[t] else float("nan"),
            }
            for t, name in enumerate(self.names)
        }
        worst = min((v["val_accuracy"] for v in tasks.values()), default=float("nan"))
        return Evaluation(mean_loss, worst, tasks)

    def annotate(self, record: EpochRecord, evaluation: Evaluation) -> EpochRecord:
        """``record`` with the per-task figures of ``evaluation`` (unchanged for a single task)."""
        return dataclasses.replace(record, tasks=evaluation.tasks) if evaluation.tasks else record

    def summary(self, history: Sequence[EpochRecord], target: float | None) -> dict[str, Any]:
        """``{"tasks": {name: {final/best accuracy, energy-, time- and epochs-to-target}}}``; empty for one task."""
        if self.classes is None:
            return {}
        out: dict[str, Any] = {}
        for name in self.names:
            rows = [(r, r.tasks[name]["val_accuracy"]) for r in history if name in r.tasks]
            rows = [(r, a) for r, a in rows if math.isfinite(a)]
            hit = next((r for r, a in rows if target is not None and a >= target), None)
            out[name] = {
                "final_accuracy": rows[-1][1] if rows else None,
                "best_accuracy": max((a for _, a in rows), default=None),
                "reached_target": hit is not None,
                "energy_to_target_j": hit.energy_j if hit else None,
                "time_to_target_s": hit.elapsed_s if hit else None,
                "epochs_to_target": hit.epoch if hit else None,  # epochs count from 1
            }
        return {"tasks": out}
