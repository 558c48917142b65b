"""How a sweep looks on screen: the live status while it runs, and the results table (grouped by hardware)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from powertrain._units import format_joules as _j
from powertrain.carbon import format_kg
from powertrain.study.engine.results import SweepResult, TrialRecord

__all__ = ["SweepDisplay", "compare_lines", "print_result", "trial_table"]


def _acc(value: Any) -> str:
    return "-" if value is None or not math.isfinite(float(value)) else f"{float(value):.4f}"


def format_objective(name: str, value: Any) -> str:
    """An objective value with its unit: joules, seconds, an accuracy fraction or an energy ratio."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    if name in ("energy_to_target", "energy"):
        return _j(float(value))
    if name in ("time_to_target", "time"):
        return f"{float(value):.1f} s"
    if name == "energy_ratio":
        return f"{float(value):.3f} (accelerator energy / dense)"
    return f"{float(value):.4f} (accuracy)"


def trial_table(result: SweepResult, trials: list[TrialRecord], title: str) -> Table:
    """One row per trial: its parameters, state, energy/time/epochs to target, accuracies and energy spent."""
    best = result.best
    table = Table(title=title)
    for name in ("#", "trial", "state", "energy to target", "time to target", "epochs", "final acc", "best acc",
                 "run energy", "spent"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("trial", "state") else "right")
    shown = [t for t in trials if t.state != "paused"]  # breadth-first rounds count in their run's row
    ranked = sorted(shown, key=lambda t: (t.get("energy_to_target_j") is None, t.get("energy_to_target_j") or 0))
    no_target = "not reached" if result.target_accuracy is not None else "- (no target)"
    for t in ranked:
        ttt = t.get("time_to_target_s")
        table.add_row(
            str(t.number),
            str(t.get("run_name") or t.params),
            _state(t),
            _j(t.get("energy_to_target_j")) if t.get("energy_to_target_j") is not None else no_target,
            "-" if ttt is None else f"{float(ttt):.1f} s",
            str(t.get("epochs_to_target") or "-"),
            _acc(t.get("final_accuracy")),
            _acc(t.get("best_accuracy")),
            _j(t.get("energy_j")),
            _j(result.run_spent_j(t)),
            style="bold" if best is not None and t.number == best.number else None,
        )
    return table


def _state(t: TrialRecord) -> str:
    """The trial's state, with how its run ended when that says more (``pruned (diverged)``, ``fail (interrupted)``)."""
    status = t.get("train_status")
    if t.state == "complete" and t.get("reached_target") and status in ("budget_exhausted", "reached_target"):
        return "complete (reached target)"  # an energy budget that ran out after the target adds nothing here
    return t.state + (f" ({status})" if status not in (None, "completed", t.state) else "")


def summary_lines(result: SweepResult) -> list[str]:
    """The conclusions: best setup, spread, and what the search itself cost."""
    lines = []
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()) if s != "paused")
    best = result.best
    if best is not None:
        lines.append(
            f"best: {best.get('run_name')} {best.params} -> {result.objective[0]} "
            f"{format_objective(result.objective[0], best.values[0] if best.values else None)}"
            + (
                f" (energy to target {_j(best.get('energy_to_target_j'))})"
                if best.get("energy_to_target_j") and result.objective[0] != "energy_to_target"
                else ""
            )
        )
    elif len(result.objective) > 1:
        lines.append(f"Pareto front ({' vs '.join(result.objective)}): trials {[t.number for t in result.pareto]}")
    else:
        lines.append("best: none yet (no finished trial reached the target)" if result.target_accuracy else "best: -")
    spread = result.spread
    if spread["ratio"] is not None:
        lines.append(
            f"spread of energy to target over {spread['trials']} trials that reached it: worst/best = "
            f"{spread['ratio']:.2f}x ({_j(spread['worst_j'])} / {_j(spread['best_j'])})"
        )
    pruning = result.pruning
    if pruning["pruned_trials"]:
        by_forecast = (f"; by their forecasts, {_j(pruning['not_spent_forecast_j'])} more for the "
                       f"{pruning['forecast_trials']} with one") if pruning["not_spent_forecast_j"] else ""  # fmt: skip
        lines.append(
            f"pruning stopped {pruning['pruned_trials']} trials after {_j(pruning['pruned_spent_j'])}; running them to "
            f"their last epoch would have cost up to {_j(pruning['not_spent_upper_j'])} more{by_forecast}"
            + (f" ({pruning['skipped_trials']} skipped before training: no figures of their own)"
               if pruning.get("skipped_trials") else "")
        )  # fmt: skip
    for t in result.by_state("pruned"):
        decision = t.get("pruned_on_forecast")
        if decision and not decision.get("forecast"):  # the prior's: before it trained
            lines.append(f"stopped on a forecast: {t.get('run_name')}: {decision['rule']} (before training: "
                         f"{100 * decision.get('probability', 0.0):.1f} % likely cheaper than the prior's best, "
                         f"{decision.get('prior_best')})")  # fmt: skip
        elif decision:
            lines.append(f"stopped on a forecast: {t.get('run_name')}: {decision['rule']} (after epoch "
                         f"{decision['forecast']['epochs_seen']}: {forecast_text(decision['forecast'])})")  # fmt: skip
    lines.extend(_ranking_lines(result))
    energy = result.energy
    lines.append(
        f"the search itself spent {_j(energy['total_j'])} ({counts}; finished {_j(energy['complete_j'])}, "
        f"pruned {_j(energy['pruned_j'])}, failed/lost {_j(energy['fail_j'])})"
    )
    if result.counts.get("paused"):
        waiting = f"; {_j(energy['paused_j'])} in rounds whose next round has not run yet" if energy["paused_j"] else ""
        lines.append(
            f"breadth-first: {result.counts['paused']} rounds handed their runs on to the next round (their energy "
            f"counts once, in their runs' rows{waiting})"
        )
    lines.extend(_attribution_lines(result))
    carbon = result.carbon
    if carbon["trials"]:
        where = "; ".join(
            f"{loc['intensity_g_per_kwh']:g} gCO2e/kWh ({_origin(loc['intensity_provenance'])}) x PUE {loc['pue']:g}"
            for loc in carbon["locations"]
        )
        lines.append(
            f"CO2e of the search: operational {format_kg(carbon['operational_kg_co2e'])} ({where}); embodied "
            f"{format_kg(carbon['embodied_kg_co2e'])} (hardware share, shown beside, not included)"
        )
    return lines


def forecast_text(data: dict[str, Any]) -> str:
    """A stored forecast as its live line."""
    from powertrain.forecast import Forecast

    return Forecast.from_dict(data).line()


def _ranking_lines(result: SweepResult) -> list[str]:
    """With repeated seeds: which of the best setups the runs cannot tell apart."""
    if result.target_accuracy is None or not any("seed" in t.params for t in result.trials):
        return []
    from powertrain.study.ranking import rank_sweep

    ranking = rank_sweep(result)
    lines = [f"over the seeds: {ranking.verdict()}"]
    for row in ranking.rows[: max(3, len(ranking.tied))]:
        if row.mean_j is not None:
            interval = f" ({_j(row.low_j)}-{_j(row.high_j)})" if row.low_j is not None else ""
            lines.append(f"  {row.setup}: {_j(row.mean_j)}{interval} to target, {row.reached} of {row.seeds} seeds")
    return lines


def _attribution_lines(result: SweepResult) -> list[str]:
    """How the study's joules were attributed; a mix of attributions, and very different conditions, stand out."""
    attribution = result.attribution
    scope = {"process": "each run's own process tree", "cgroup": "each run's cgroup"}.get(
        attribution["scope"], "the whole machine (every joule of every sensor, not the runs' own)"
    )
    lines = [f"energy attributed to {scope}"]
    if attribution["mixed"]:
        kinds = ", ".join(attribution["trials"])
        lines.append(f"WARNING: trials attributed differently ({kinds}): do not compare their joules")
    if attribution["conditions_note"]:
        lines.append(f"note: {attribution['conditions_note']}")
    return lines


def _origin(provenance: dict[str, Any]) -> str:
    return str(provenance.get("row") or provenance["kind"])


def compare_lines(result: SweepResult, other: SweepResult) -> list[str]:
    """This sweep against another of the same space (pruned against full grid)."""
    c = result.compare(other)
    if not c["comparable"]:
        return [f"not compared with {other.study}: {c['reason']} (machine-wide and attributed joules do not compare)"]
    ratio = "-" if c["energy_ratio"] is None else f"{c['energy_ratio']:.2f}x"
    return [
        f"{result.study}: {_j(c['energy_j'])} in all, {other.study}: {_j(c['other_energy_j'])} ({ratio})",
        f"best: {c['best']} ({_j(c['best_energy_to_target_j'])}) vs {c['other_best']} "
        f"({_j(c['other_best_energy_to_target_j'])}): {'the same setup' if c['same_best'] else 'DIFFERENT setups'}",
    ]


def print_result(result: SweepResult, console: Console) -> None:
    """The results table (one per hardware when the study spans several) and the summary lines."""
    groups = result.by_hardware()
    for tag, trials in groups.items():
        title = f"{result.study}: {sum(t.state != 'paused' for t in trials)} trials on {tag}"
        if result.target_accuracy is not None:
            title += f", target accuracy {result.target_accuracy}"
        console.print(trial_table(result, trials, title))
    for line in summary_lines(result):
        console.print(line, markup=False, highlight=False)


class SweepDisplay:
    """The live view of a running sweep: trials done, running, pruned, failed; best so far; energy so far.

    On a terminal it is one live block, redrawn in place. Written to a pipe or a log, it is plain lines, each ended:
    one when the sweep opens its study, one when a trial starts or ends, and the whole block at the end.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.result: SweepResult | None = None
        self.current = ""
        self.epoch_line = ""
        self.live_j = 0.0  # energy of this worker's running trial, not yet in the storage
        self.trial_number = -1
        self._printed = ""

    def begin(self, config: Any) -> None:
        """Start the live view."""
        self.current = f"opening study {config.study} ({config.storage_url.split('://')[0]})"
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()
        else:
            self._refresh()

    def end(self, result: SweepResult | None = None) -> None:
        """Stop the live view (its last state stays on screen), showing ``result`` when the sweep returned one."""
        if result is not None:
            self.result, self.current, self.epoch_line, self.live_j = result, "study finished", "", 0.0
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
            self.live = None
        elif result is not None:
            self.console.print(self._render(), markup=False, highlight=False)

    def trial_started(self, study: Any, trial: Any) -> None:
        """This worker claimed a trial."""
        from powertrain.study.engine.results import from_study

        self.result = from_study(study)
        self.current = f"trial {trial.number} {trial.user_attrs.get('run_name') or ''}".strip()
        self.epoch_line = ""
        self.live_j = 0.0
        self.trial_number = trial.number
        self._refresh()

    def trial_done(self, result: SweepResult, number: int, state: str) -> None:
        """A trial of this worker ended."""
        self.result = result
        self.current = f"trial {number} {state}"
        self.epoch_line = ""
        self.live_j = 0.0
        self._refresh()

    def reporter(self) -> _EpochReporter:
        """A training-run reporter that feeds the current trial's line."""
        return _EpochReporter(self)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
        elif not self.console.is_terminal and self.current != self._printed:  # a pipe: one ended line per change
            self._printed = self.current
            self.console.print(f"now: {self.current}", markup=False, highlight=False)

    def _render(self) -> Group:
        r = self.result
        parts = [Text(f"now: {self.current} {self.epoch_line}".rstrip())]
        if r is not None:
            c = r.counts
            parts.append(
                Text(
                    f"trials: {c.get('complete', 0)} done, {c.get('running', 0)} running, {c.get('pruned', 0)} pruned,"
                    f" {c.get('fail', 0)} failed, {c.get('waiting', 0)} waiting"
                    + (f" ({c['paused']} rounds handed on)" if c.get("paused") else "")
                )
            )
            best = r.best
            best_txt = "-"
            if best is not None:
                objective = r.objective[0] if r.objective else "value"
                best_txt = (
                    f"{best.get('run_name')}: {format_objective(objective, best.values[0])}" if best.values else "-"
                )
            mine = next((t for t in r.trials if t.number == self.trial_number and t.state == "running"), None)
            stored = float(mine.get("energy_j") or 0.0) if mine is not None else 0.0
            so_far = r.energy["total_j"] + max(0.0, self.live_j - stored)
            parts.append(Text(f"best so far: {best_txt}   study energy so far: {_j(so_far)}"))
            for t in r.trials:  # the other workers' setups: where each is heading
                if t.state == "running" and t.number != self.trial_number and t.get("forecast"):
                    parts.append(Text(f"  {t.get('run_name')}: forecast: {forecast_text(t.get('forecast'))}"))
        return Group(*parts)


class _EpochReporter:
    """Implements the training loop's ProgressReporter by updating the sweep's live line."""

    def __init__(self, display: SweepDisplay) -> None:
        self.display = display
        self.total = 0
        self.epoch = 0

    def start(self, *, total_epochs: int, first_epoch: int) -> None:
        self.total = total_epochs

    def start_epoch(self, epoch: int, steps: int) -> None:
        self.epoch = epoch  # counted from 1, like every epoch a user sees

    def update(self, step: int, *, loss: float, accuracy: float, power_w: float, energy_j: float) -> None:
        self.display.epoch_line = f"| epoch {self.epoch}/{self.total} loss {loss:.3f} {_j(energy_j)}"
        self.display.live_j = energy_j
        self.display._refresh()

    def end_epoch(self, record: Any) -> None:
        self.display.epoch_line = f"| epoch {self.epoch}/{self.total} val acc {_acc(record.val_accuracy)}"
        self.display._refresh()

    def forecast(self, forecast: Any) -> None:
        self.display.epoch_line += f" | forecast: {forecast.line()}"
        self.display._refresh()

    def stop(self) -> None:
        pass
