"""The results of a sweep, read back from its Optuna storage: per-trial records, the best, the spread, the cost.

Everything here is computed from the storage alone, so ``powertrain sweep show`` works from any machine that can
reach it. :meth:`SweepResult.to_dict` is the JSON export (extend it by adding keys; readers ignore unknown ones).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from powertrain import _killpoints as killpoints
from powertrain._files import json_safe, write_atomic
from powertrain.carbon import CarbonSettings, sum_footprints
from powertrain.errors import ConfigError
from powertrain.meters.measurement import RESULTS_SCHEMA
from powertrain.study.engine.attribution import LEGACY, conditions_note, study_scope, trial_scope
from powertrain.study.engine.trials import CSV_COLUMNS, TrialRecord, chains, head
from powertrain.study.ranking import rank_sweep

__all__ = ["SweepResult", "TrialRecord", "load_sweep", "resolve_storage"]


@dataclass
class SweepResult:
    """A sweep's results: every trial, the best one, the spread among trials that reached the target, the cost.

    Attributes:
        study: The study's name.
        storage: Its storage URL (password hidden).
        objective: The objective names; ``directions`` their Optuna directions.
        target_accuracy: The target of energy-to-target.
        trials: Every trial, in order.
        out: The study folder on this machine (None when only a URL was given).
        carbon_settings: Where the electricity came from, for every trial's CO2e figures; None: each trial's own
            run config (``country``, ``region``, ``pue``, ``intensity_g_per_kwh``; default the world average).
        scope: The study's attribution (``process``, ``cgroup``, ``machine``, or machine before attribution).
    """

    study: str
    storage: str
    objective: list[str]
    directions: list[str]
    target_accuracy: float | None
    trials: list[TrialRecord]
    out: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    carbon_settings: CarbonSettings | None = None
    scope: str = LEGACY

    @property
    def attribution(self) -> dict[str, Any]:
        """The study's attribution, its trials' (one kind unless a merge mixed them) and a note on their conditions."""
        scopes = sorted({trial_scope(t.attrs) for t in self.trials if t.get("energy_j") is not None})
        note = conditions_note(t.attrs for t in self.trials if t.state not in ("waiting", "paused"))
        return {"scope": self.scope, "trials": scopes, "mixed": len(scopes) > 1, "conditions_note": note}

    def by_state(self, state: str) -> list[TrialRecord]:
        """Trials in ``state`` (complete, pruned, fail, running, waiting)."""
        return [t for t in self.trials if t.state == state]

    def run_spent_j(self, trial: TrialRecord) -> float:
        """What ``trial``'s configuration spent, shown on the trial it stands at (0 on its earlier attempts and rounds).

        A configuration's lost attempts, retries and breadth-first rounds are one run: their energy is folded into its
        last trial that is not waiting (a paused round whose next round has not started keeps its own).
        """
        return self._folded.get(trial.number, trial.spent_j)

    @functools.cached_property
    def _chains(self) -> dict[tuple[str, str], list[TrialRecord]]:
        return chains(self.trials)

    @functools.cached_property
    def _folded(self) -> dict[int, float]:
        """Trial number -> spent energy with the configuration's other trials folded in; computed once."""
        folded: dict[int, float] = {}
        for chain in self._chains.values():
            for t in chain:
                folded[t.number] = 0.0
            last = head(chain)
            if last is not None:
                folded[last.number] = sum(t.spent_j for t in chain)
        return folded
    @property
    def counts(self) -> dict[str, int]:
        """How many trials are in each state."""
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    @property
    def reached(self) -> list[TrialRecord]:
        """Trials (any state, one per configuration: its last) whose run reached the target, by energy-to-target."""
        heads = [last for chain in self._chains.values() if (last := head(chain)) is not None]  # one per setup
        hits = [t for t in heads if t.get("energy_to_target_j") is not None and t.state != "paused"]
        return sorted(hits, key=lambda t: float(t.get("energy_to_target_j")))

    @property
    def best(self) -> TrialRecord | None:
        """The best finished trial for a single objective (None when none finished or for several objectives).

        With a target accuracy, only a trial whose run reached it can be the best (a short run that spent the fewest
        joules, ``objective: energy``, is not the best setup if it never got there).
        """
        if len(self.objective) != 1:
            return None
        done = [t for t in self.by_state("complete") if t.values and math.isfinite(t.values[0])]
        if self.target_accuracy is not None:
            done = [t for t in done if t.get("reached_target") is not False]
        if not done:
            return None
        sign = 1 if self.directions[0] == "minimize" else -1
        return min(done, key=lambda t: sign * t.values[0])  # type: ignore[index]

    @property
    def pareto(self) -> list[TrialRecord]:
        """The finished trials no other finished trial beats on every objective."""
        done = [t for t in self.by_state("complete") if t.values and all(math.isfinite(v) for v in t.values)]
        signs = [1 if d == "minimize" else -1 for d in self.directions]

        def beats(a: TrialRecord, b: TrialRecord) -> bool:
            pa = [s * v for s, v in zip(signs, a.values or [], strict=False)]
            pb = [s * v for s, v in zip(signs, b.values or [], strict=False)]
            return all(x <= y for x, y in zip(pa, pb, strict=True)) and pa != pb

        return [t for t in done if not any(beats(o, t) for o in done)]

    @property
    def spread(self) -> dict[str, Any]:
        """Worst over best energy-to-target among the trials that reached the target (the paper's "up to 5x")."""
        hits = self.reached
        if not hits:
            return {"best_j": None, "worst_j": None, "ratio": None, "trials": 0}
        best, worst = float(hits[0].get("energy_to_target_j")), float(hits[-1].get("energy_to_target_j"))
        return {
            "best_j": best,
            "worst_j": worst,
            "ratio": worst / best if best > 0 else None,
            "best_trial": hits[0].get("run_name"),
            "worst_trial": hits[-1].get("run_name"),
            "trials": len(hits),
        }

    @property
    def energy(self) -> dict[str, float]:
        """The search's own cost: energy spent in all, and by the state each configuration ended in (joules).

        A configuration's attempts and rounds count under the state of its last trial (a retry that completed files
        its lost attempt's joules under ``complete_j``, a breadth-first setup that ended pruned its rounds under
        ``pruned_j``); ``paused_j``: setups whose next round has not started; ``fail_j``: failed for good, or lost
        and not yet retried. ``lost_j``: joules of interrupted epochs, part of the others.
        """
        out = {"total_j": 0.0, "complete_j": 0.0, "pruned_j": 0.0, "paused_j": 0.0, "fail_j": 0.0, "running_j": 0.0,
               "lost_j": 0.0}  # fmt: skip
        for chain in self._chains.values():
            last = head(chain)
            if last is None:
                continue
            spent = sum(t.spent_j for t in chain)
            out["total_j"] += spent
            key = f"{last.state}_j"
            if key in out:
                out[key] += spent
            # the run's lost energy is cumulative: the trial that stored the run's figures last holds all of it
            out["lost_j"] += max((float(t.get("lost_energy_j") or 0.0) for t in chain), default=0.0)
        return out

    @property
    def pruning(self) -> dict[str, Any]:
        """What pruning cut: the pruned trials' energy, and an estimate of what running them on would have cost.

        ``not_spent_upper_j`` extrapolates each pruned trial's measured joules per finished epoch over all its planned
        epochs, minus what it spent (an upper bound: a trial that would have reached the target would have stopped
        earlier). A trial stopped mid-epoch by an energy budget counts only its complete epochs in the rate.
        ``not_spent_forecast_j``: the same from each pruned trial's last forecast (its whole planned run's median
        energy, up to the target where the run stops there), for the trials that have one (``forecast_trials``).
        ``skipped_trials``: those stopped before they trained (the forecast pruner's prior): no figure of their own.
        """
        pruned = self.by_state("pruned")
        not_spent = forecast_j = 0.0
        forecasts = [t for t in pruned if (t.get("forecast") or {}).get("run_energy_j")]
        for t in forecasts:
            forecast_j += max(0.0, float(t.get("forecast")["run_energy_j"]["median"] or 0.0) - float(t.spent_j))
        for t in pruned:
            finished = list(t.get("curve") or [])
            if t.get("epochs_completed") is not None:  # a budget may have cut the last epoch short
                finished = finished[: int(t.get("epochs_completed"))]
            planned = int((t.get("config") or {}).get("epochs") or len(finished))
            if finished and t.get("energy_j") is not None:
                per_epoch = float(finished[-1][1]) / len(finished)
                not_spent += max(0.0, per_epoch * planned - float(t.get("energy_j")))
        return {
            "pruned_trials": len(pruned),
            "pruned_spent_j": sum(self.run_spent_j(t) for t in pruned),
            "not_spent_upper_j": not_spent,
            "provenance": "measured joules per epoch of each pruned trial x its epochs left",
            "not_spent_forecast_j": forecast_j if forecasts else None,
            "forecast_trials": len(forecasts),
            "skipped_trials": sum(1 for t in pruned if t.get("train_status") == "skipped"),
        }

    @property
    def carbon(self) -> dict[str, Any]:
        """The search's CO2e: operational and embodied totals over every trial's spent energy, never summed together.

        Each trial is counted with its own run's carbon settings unless :attr:`carbon_settings` overrides them; the
        distinct intensities and PUEs used are listed with their provenance.
        """
        footprints = [fp for t in self.trials if (fp := t.carbon(self.carbon_settings)) is not None]
        total = sum_footprints(footprints)
        used: dict[str, dict[str, Any]] = {}
        for fp in footprints:
            op = fp["operational"]
            key = json.dumps([fp["settings"], op["intensity_g_per_kwh"], op["pue"]], sort_keys=True, default=str)
            used.setdefault(
                key,
                {
                    "settings": fp["settings"],
                    "intensity_g_per_kwh": op["intensity_g_per_kwh"],
                    "intensity_provenance": op["intensity_provenance"],
                    "pue": op["pue"],
                    "pue_provenance": op["pue_provenance"],
                },
            )
        return {
            "operational_kg_co2e": total["operational_kg_co2e"],
            "embodied_kg_co2e": total["embodied_kg_co2e"],
            "energy_j": total["energy_j"],
            "duration_s": total["duration_s"],
            "trials": total["count"],
            "locations": list(used.values()),
            "method": "sum over trials of powertrain.carbon.carbon_footprint(spent energy, run time, hardware); "
            "operational and embodied are separate figures, never added together",
        }

    def compare(self, other: SweepResult) -> dict[str, Any]:
        """This sweep against ``other`` (e.g. the same grid without pruning): energy of both, and the same best?

        Studies whose energy is attributed differently are not compared: ``comparable`` is False and ``reason`` says
        why (machine-wide joules against a run's own joules would make the ratio mean nothing).
        """
        mine, theirs = self.best, other.best
        scopes = {*self.attribution["trials"], *other.attribution["trials"]}
        if len(scopes) > 1:
            return {"comparable": False, "reason": f"energy attributed differently: {' and '.join(sorted(scopes))}"}
        return {
            "comparable": True,
            "energy_j": self.energy["total_j"],
            "other_energy_j": other.energy["total_j"],
            "energy_ratio": self.energy["total_j"] / other.energy["total_j"] if other.energy["total_j"] else None,
            "best": mine.get("run_name") if mine else None,
            "other_best": theirs.get("run_name") if theirs else None,
            "same_best": mine is not None and theirs is not None and mine.params == theirs.params,
            "best_energy_to_target_j": mine.get("energy_to_target_j") if mine else None,
            "other_best_energy_to_target_j": theirs.get("energy_to_target_j") if theirs else None,
        }

    def by_hardware(self) -> dict[str, list[TrialRecord]]:
        """Trials grouped by their hardware tag (for studies spanning several machines)."""
        groups: dict[str, list[TrialRecord]] = {}
        for t in self.trials:
            groups.setdefault(str(t.get("hardware") or "unknown"), []).append(t)
        return groups

    def to_dict(self) -> dict[str, Any]:
        """The JSON export: the study, its cost, best trial, spread, per-hardware bests and every trial."""
        best = self.best
        per_hw = {}
        for tag, trials in self.by_hardware().items():
            part = SweepResult(
                self.study, self.storage, self.objective, self.directions, self.target_accuracy, trials,
                carbon_settings=self.carbon_settings,
            )  # fmt: skip
            part_best = part.best
            per_hw[tag] = {
                "trials": len(trials),
                "best_trial": part_best.number if part_best else None,
                "best_energy_to_target_j": part_best.get("energy_to_target_j") if part_best else None,
                "spread": part.spread,
                "energy": part.energy,
                "carbon": {k: part.carbon[k] for k in ("operational_kg_co2e", "embodied_kg_co2e")},
            }
        return {
            "schema_version": RESULTS_SCHEMA,
            "study": self.study,
            "storage": self.storage,
            "objective": self.objective,
            "directions": self.directions,
            "target_accuracy": self.target_accuracy,
            "counts": self.counts,
            "attribution": self.attribution,
            "energy": self.energy,
            "carbon": self.carbon,
            "best": best.to_dict(self.carbon_settings) if best else None,
            "best_energy_to_target_j": best.get("energy_to_target_j") if best else None,
            "spread": self.spread,
            "pruning": self.pruning,
            "pareto": [t.number for t in self.pareto] if len(self.objective) > 1 else None,
            "ranking": rank_sweep(self).to_dict() if self.target_accuracy is not None else None,
            "by_hardware": per_hw,
            **self.extra,
            "trials": [{**t.to_dict(self.carbon_settings), "run_spent_j": self.run_spent_j(t)} for t in self.trials],
        }

    def to_csv(self) -> str:
        """One row per trial (params and curve as JSON strings)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for t in self.trials:
            row = t.to_dict(self.carbon_settings)
            row["params"] = json.dumps(t.params, sort_keys=True)
            row["curve"] = json.dumps(t.get("curve") or [])
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS})
        return buffer.getvalue()

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``results.json`` and ``results.csv`` into ``folder`` (atomically); returns both paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = folder / "results.json", folder / "results.csv"
        killpoints.reached("export", 1, folder)  # fault tests only (inert)
        write_atomic(json_path, json.dumps(json_safe(self.to_dict()), indent=2) + "\n")
        killpoints.reached("export", 2, folder)
        write_atomic(csv_path, self.to_csv())
        return json_path, csv_path


def resolve_storage(target: str | Path) -> tuple[str, Path | None]:
    """A study folder (holding ``study.db``) or a storage URL -> (URL, folder or None)."""
    text = str(target)
    if "://" in text:
        return text, None
    folder = Path(text)
    db = folder / "study.db"
    if not db.exists():
        raise ConfigError(f"{folder} is not a sweep folder (no study.db); give the folder or a storage URL")
    return f"sqlite:///{db.resolve()}", folder


def load_sweep(target: str | Path, *, study: str | None = None) -> SweepResult:
    """Read a sweep's results from its folder or storage URL; ``study`` is needed when the storage holds several."""
    from powertrain.study.engine.storage import open_storage

    url, folder = resolve_storage(target)
    storage = open_storage(url, heartbeat_s=None, grace_s=None, create=False)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if study is None:
        if len(names) != 1:
            raise ConfigError(f"the storage holds {len(names)} studies ({', '.join(names) or 'none'}); pass --study")
        study = names[0]
    if study not in names:
        raise ConfigError(f"no study {study!r} in that storage (it has: {', '.join(names) or 'none'})")
    loaded = optuna.load_study(study_name=study, storage=storage)
    return from_study(loaded, out=folder)


def from_study(study: optuna.Study, *, out: Path | None = None) -> SweepResult:
    """The :class:`SweepResult` of an open Optuna study."""
    from sqlalchemy.engine import make_url

    described = study.user_attrs.get("powertrain:config") or {}
    objective = list(described.get("objective") or ["value"] * len(study.directions))
    backend = getattr(study._storage, "_backend", study._storage)
    storage = str(getattr(backend, "url", ""))
    return SweepResult(
        study=study.study_name,
        storage=make_url(storage).render_as_string(hide_password=True) if storage else "",
        objective=objective,
        directions=[d.name.lower() for d in study.directions],
        target_accuracy=described.get("target_accuracy"),
        trials=[TrialRecord.from_frozen(t) for t in study.get_trials(deepcopy=False)],
        out=out,
        scope=study_scope(study.user_attrs),
    )
