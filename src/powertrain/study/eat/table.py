"""The EAT study's table (like EAT's Table 1), the selection rule and the goal check, as data, text and markdown."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from powertrain._units import format_joules as _joules
from powertrain.study.eat.config import EatSetting, format_sigma
from powertrain.study.eat.inference import InferenceEnergy, summarize_rounds

__all__ = [
    "EAT_CIFAR10_TABLE1",
    "ModelTable",
    "RunRecord",
    "StudyRow",
    "build_table",
    "row_cells",
    "sources_caption",
    "table_columns",
]

#: EAT's Table 1 on CIFAR-10 (Lazzaro et al., ICIAP 2023, arXiv 2307.00368), standard -> EAT:
#: (accuracy, energy ratio at batch 512), with sigma/lambda chosen within 3 points of standard accuracy.
EAT_CIFAR10_TABLE1: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "resnet18": ((0.92, 0.73), (0.90, 0.61)),
    "vgg16": ((0.91, 0.67), (0.88, 0.53)),
}

_EPS = 1e-9  # accuracies are ratios of integers: compare them with a little slack


@dataclass
class RunRecord:
    """The facts of one run of the study, read from its run directory and the inference measurements.

    Attributes:
        model, setting: Which run.
        run_dir: Its directory.
        action: ``trained``, ``resumed`` or ``reused`` in this invocation.
        status: The run's final status (``completed``, ``diverged``...).
        epochs_completed: Epochs in the run.
        final_accuracy, best_accuracy: Validation accuracy at the last epoch, and the best one.
        energy_ratio: Accelerator energy ratio (EAT's ``mean_ratio``) of the final model; None without an estimate.
        ratio_batch_size: The batch size of that estimate.
        train_energy_j: Measured energy of the whole run (training and per-epoch evaluation), joules.
        train_energy_sources: Its sources (``counter``, ``integrated``, ``estimated``).
        version: The run summary's ``updated_at``: inference rounds of an older version are measured again.
        inference: Inference energy rounds measured so far.
    """

    model: str
    setting: EatSetting
    run_dir: str
    action: str
    status: str
    epochs_completed: int
    final_accuracy: float | None
    best_accuracy: float | None
    energy_ratio: float | None
    ratio_batch_size: int | None
    train_energy_j: float | None
    train_energy_sources: list[str]
    version: str
    inference: list[InferenceEnergy] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["setting"] = self.setting.to_dict()
        data["inference"] = [r.to_dict() for r in self.inference]
        return data


@dataclass(frozen=True)
class StudyRow:
    """One line of a model's table; ``None`` where a figure does not exist (diverged run, no standard run...)."""

    setting: str
    sigma: float | None
    lam: float
    status: str
    accuracy: float | None
    accuracy_change_points: float | None
    energy_ratio: float | None
    ratio_batch_size: int | None
    decrease_pct: float | None
    train_energy_j: float | None
    train_energy_source: str
    inference: dict[str, Any]
    inference_diff_pct: float | None
    within_tolerance: bool
    selected: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``lam`` is written as ``lambda``)."""
        data = asdict(self)
        data["lambda"] = data.pop("lam")
        return data


@dataclass(frozen=True)
class ModelTable:
    """A model's table, the setting the selection rule picks and whether the goal is met.

    Attributes:
        model: The model.
        rows: Standard training first, then the settings in config order.
        selected: The setting with the lowest energy ratio within the accuracy tolerance of standard training (may be
            ``standard`` itself); None without a usable standard run.
        goal: ``met`` (None when undecidable), and the best setting within the goal's accuracy drop: its ``setting``,
            ``decrease_pct`` and ``accuracy_change_points``.
    """

    model: str
    rows: tuple[StudyRow, ...]
    selected: str | None
    goal: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "model": self.model,
            "rows": [r.to_dict() for r in self.rows],
            "selected": self.selected,
            "goal": self.goal,
        }


def build_table(
    model: str,
    records: list[RunRecord],
    *,
    accuracy_tolerance: float,
    goal_decrease_pct: float,
    goal_max_accuracy_drop: float,
) -> ModelTable:
    """The table of ``model`` from its runs (standard first), with selection and goal.

    Decrease % is ``100 * (1 - ratio / standard ratio)``; accuracy change is in points (``100 * (acc - standard)``).
    """
    standard = next((r for r in records if r.setting.is_standard), None)
    base_acc = standard.final_accuracy if standard else None
    base_ratio = standard.energy_ratio if standard else None
    base_inference = summarize_rounds(standard.inference).get("j_per_1k_images") if standard else None

    def usable(r: RunRecord) -> bool:
        return r.final_accuracy is not None and r.energy_ratio is not None and r.status != "diverged"

    def drop(r: RunRecord) -> float:
        return (base_acc or 0.0) - (r.final_accuracy or 0.0)

    known = base_acc is not None and base_ratio is not None and standard is not None and usable(standard)
    candidates = [r for r in records if known and usable(r) and drop(r) <= accuracy_tolerance + _EPS]
    chosen = min(candidates, key=lambda r: r.energy_ratio or math.inf, default=None)
    rows = []
    for r in records:
        inference = summarize_rounds(r.inference)
        per_1k = inference.get("j_per_1k_images")
        rows.append(
            StudyRow(
                setting=r.setting.name,
                sigma=None if r.setting.is_standard else r.setting.sigma,
                lam=r.setting.lam,
                status=r.status,
                accuracy=r.final_accuracy,
                accuracy_change_points=(
                    100 * (r.final_accuracy - base_acc)
                    if r.final_accuracy is not None and base_acc is not None and not r.setting.is_standard
                    else None
                ),
                energy_ratio=r.energy_ratio,
                ratio_batch_size=r.ratio_batch_size,
                decrease_pct=(
                    100 * (1 - r.energy_ratio / base_ratio)
                    if r.energy_ratio is not None and base_ratio and not r.setting.is_standard
                    else None
                ),
                train_energy_j=r.train_energy_j,
                train_energy_source="+".join(r.train_energy_sources) or "none",
                inference=inference,
                inference_diff_pct=(
                    100 * (per_1k / base_inference - 1)
                    if per_1k is not None and base_inference and not r.setting.is_standard
                    else None
                ),
                within_tolerance=any(r is c for c in candidates),
                selected=r is chosen,
            )
        )
    goal: dict[str, Any] = {"met": None, "setting": None, "decrease_pct": None, "accuracy_change_points": None}
    if known:
        eligible = [row for row in rows if row.decrease_pct is not None and row.accuracy_change_points is not None]
        eligible = [row for row in eligible if -row.accuracy_change_points <= 100 * goal_max_accuracy_drop + _EPS]
        best = max(eligible, key=lambda row: row.decrease_pct or -math.inf, default=None)
        goal["met"] = best is not None and (best.decrease_pct or 0.0) >= goal_decrease_pct - _EPS
        if best is not None:
            goal.update(
                setting=best.setting, decrease_pct=best.decrease_pct, accuracy_change_points=best.accuracy_change_points
            )
    return ModelTable(model=model, rows=tuple(rows), selected=chosen.setting.name if chosen else None, goal=goal)


def table_columns(table: ModelTable, *, compact: bool = False) -> list[str]:
    """Column titles of :func:`row_cells`; ``compact`` is the terminal's narrow view (sources go in a caption)."""
    batch = next((r.ratio_batch_size for r in table.rows if r.ratio_batch_size), None)
    if compact:
        return [
            "setting",
            "acc",
            "Δ acc",
            f"ratio b{batch}" if batch else "ratio",
            "decr.",
            "train",
            "J/1k img",
            "vs std",
        ]
    return [
        "setting", "sigma", "lambda", "accuracy", "Δ acc (points)", f"energy ratio (batch {batch})" if batch else
        "energy ratio", "decrease", "training energy", "inference J/1k img", "vs standard", "inference W", "img/s",
        "inference source",
    ]  # fmt: skip


def row_cells(row: StudyRow, *, compact: bool = False) -> list[str]:
    """The row as text cells, in :func:`table_columns` order. The selected setting is marked ``*``."""
    inf = row.inference
    per_1k = inf.get("j_per_1k_images")
    spread = inf.get("j_per_1k_images_std")
    name = ("* " if row.selected else "") + row.setting + ("" if row.status == "completed" else f" ({row.status})")
    head = [
        name,
        _fmt(row.accuracy, "{:.4f}"),
        _fmt(row.accuracy_change_points, "{:+.2f}"),
        _fmt(row.energy_ratio, "{:.3f}"),
        _fmt(row.decrease_pct, "{:.1f}%"),
    ]
    if compact:
        return [*head, _joules(row.train_energy_j), _fmt(per_1k, "{:.3f}"), _fmt(row.inference_diff_pct, "{:+.1f}%")]
    return [
        head[0],
        "-" if row.sigma is None else format_sigma(row.sigma),
        f"{row.lam:g}",
        *head[1:],
        _joules(row.train_energy_j) + f" ({row.train_energy_source})",
        _fmt(per_1k, "{:.3f}") + (f" ± {spread:.3f}" if spread is not None else ""),
        _fmt(row.inference_diff_pct, "{:+.1f}%"),
        _fmt(inf.get("avg_power_w"), "{:.1f}"),
        _fmt(inf.get("images_per_s"), "{:,.0f}"),
        f"{inf['source']} ({inf['component']})" if inf else "-",
    ]


def sources_caption(table: ModelTable) -> str:
    """Where the energies of ``table`` come from, for a table caption."""
    training = sorted({row.train_energy_source for row in table.rows})
    inference = sorted(
        {f"{row.inference['source']} ({row.inference['component']})" for row in table.rows if row.inference}
    )
    return f"training energy: {', '.join(training) or '-'}; inference energy: {', '.join(inference) or 'not measured'}"


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)
