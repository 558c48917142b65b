"""Replay a recorded grid under pruning rules over many orders: what each rule spends and whether it keeps the best.

For every order (a random permutation of the setups, and with several seeds a random draw of one recorded run per
setup) each rule runs the grid as the engine would (``_rules``). Per rule the result gives the median energy spent
and its share of the full grid (the same draw, every setup run to its target or last epoch), how often it kept the
full grid's best setup, and when it did not how much worse its pick was; beside them the safe floor: the least any
rule sure to keep the best can spend (every setup runs until it reaches the target or has spent the best
energy-to-target).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from powertrain.errors import ConfigError
from powertrain.study.ranking import rank_setups
from powertrain.study.replay._rules import Outcome, replay_order
from powertrain.study.replay._trace import Run, Trace

__all__ = ["RULES", "ReplayResult", "Rule", "parse_rule", "replay"]


@dataclass(frozen=True)
class Rule:
    """A pruning rule to replay: its name and options (``forecast:risk=0.05`` -> ``("forecast", {"risk": 0.05})``)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name`` or ``name:key=value,...``."""
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name}:{extra}" if extra else self.name

    def factory(self, target: float, planned_epochs: int) -> Callable[[], optuna.pruners.BasePruner]:
        """A maker of fresh pruners for this rule (one per order: pruners keep state)."""
        from powertrain.study.forecast_pruner import ForecastPruner
        from powertrain.study.pruners import EnergyAwarePruner, EnergySuccessiveHalvingPruner

        options = dict(self.options)
        if self.name == "none":
            return optuna.pruners.NopPruner
        if self.name == "energy":
            return lambda: EnergyAwarePruner(**options)
        if self.name == "sm2":
            return lambda: EnergySuccessiveHalvingPruner(**options)
        return lambda: ForecastPruner(target_accuracy=target, planned_epochs=planned_epochs, **options)


RULES = ("none", "energy", "sm2", "forecast")


def parse_rule(text: str) -> Rule:
    """``NAME[:KEY=VALUE,...]`` -> :class:`Rule`; one-line ConfigError for an unknown name or a malformed option."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in RULES:
        raise ConfigError(f"unknown pruning rule {name!r}; choose from {', '.join(RULES)}")
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(f"rule {text!r}: options are KEY=VALUE, not {part!r}")
        options[key.strip()] = _value(value.strip())
    try:  # validate the options now, with the pruner's own checks
        rule = Rule(name, options)
        rule.factory(0.5, 1)()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"rule {text!r}: {exc}") from None
    return rule


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass
class ReplayResult:
    """What :func:`replay` found, per hardware (a trace measured on several machines is replayed per machine)."""

    source: str
    target_accuracy: float
    orders: int
    round_epochs: int | None
    notes: list[str]
    by_hardware: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: with one hardware its figures at the top (``total_j``, ``best_setup``, ``rules``)."""
        out: dict[str, Any] = {
            "source": self.source, "target_accuracy": self.target_accuracy, "orders": self.orders,
            "round_epochs": self.round_epochs, "notes": self.notes,
        }  # fmt: skip
        if len(self.by_hardware) == 1:
            ((hardware, figures),) = self.by_hardware.items()
            return {**out, "hardware": hardware, **figures}
        return {**out, "by_hardware": self.by_hardware}


def replay(
    trace: Trace,
    rules: Sequence[Rule] | None = None,
    *,
    target_accuracy: float | None = None,
    round_epochs: int | None = None,
    orders: int = 100,
    seed: int = 0,
) -> ReplayResult:
    """Replay ``trace`` under ``rules`` (default: every rule) over ``orders`` random orders.

    Raises:
        ConfigError: No target (a CSV trace needs one), a target above one the runs stopped at, a target no setup
            reaches, fewer than one order, a round of fewer than one epoch.
    """
    target = target_accuracy if target_accuracy is not None else trace.target_accuracy
    if target is None:
        raise ConfigError(f"{trace.source}: give --target (the accuracy every rule's best setup must reach)")
    if not 0.0 < target <= 1.0:
        raise ConfigError(f"target accuracy {target:g} must be in (0, 1]")
    if trace.stopped_at_target and trace.target_accuracy is not None and target > trace.target_accuracy:
        raise ConfigError(
            f"{trace.source}: its runs stopped at {trace.target_accuracy:g} (stop_at_target), so a replay cannot tell "
            f"when they would have reached {target:g}; give --target {trace.target_accuracy:g} or lower"
        )
    if orders < 1:
        raise ConfigError(f"--orders must be at least 1, not {orders}")
    if round_epochs is not None and round_epochs < 1:
        raise ConfigError(f"--round-epochs must be at least 1, not {round_epochs}")
    rules = list(rules) if rules else [Rule(name) for name in RULES]
    by_hardware = {}
    for hardware in trace.hardware:
        part = trace.on(hardware)
        by_hardware[hardware] = _replay_part(part, rules, target, round_epochs, orders, seed)
    notes = list(trace.notes)
    short = sorted({r.setup for r in trace.runs if r.ended and r.energy_to_target_j(target) is None})
    if short:
        notes.append(f"{len(short)} setup(s) ended before their planned epochs without reaching the target "
                     f"(diverged, failed or shorter rows): charged what they spent: {', '.join(short)}")  # fmt: skip
    return ReplayResult(trace.source, target, orders, round_epochs, notes, by_hardware)


def _replay_part(
    trace: Trace, rules: list[Rule], target: float, round_epochs: int | None, orders: int, seed: int
) -> dict[str, Any]:
    setups = trace.by_setup()
    reachers = {s: min((r.energy_to_target_j(target) or float("inf")) for r in runs) for s, runs in setups.items()}
    if all(v == float("inf") for v in reachers.values()):
        top = max(trace.runs, key=lambda r: max(r.accuracy))
        raise ConfigError(
            f"{trace.source}: no setup reaches {target:g} (the best accuracy recorded is {max(top.accuracy):.4g}, "
            f"{top.setup}): no best to keep; give a lower --target"
        )
    rng = random.Random(seed)
    names = list(setups)
    draws = []
    for _ in range(orders):
        order = rng.sample(names, len(names))
        draws.append((order, {s: rng.choice(setups[s]) for s in names}))
    fulls = [_full(runs, target) for _, runs in draws]
    rows = {}
    for rule in rules:
        make = rule.factory(target, trace.planned_epochs)
        outcomes = [replay_order(runs, order, make, target=target, planned_epochs=trace.planned_epochs,
                                 round_epochs=round_epochs) for order, runs in draws]  # fmt: skip
        rows[rule.label] = _summarise(outcomes, fulls, [runs for _, runs in draws], target)
    full_best = Counter(f["best_setup"] for f in fulls).most_common(1)[0][0]
    floor = [f["floor_j"] / f["total_j"] for f in fulls]
    return {
        "setups": len(names),
        "seeds": max(len(v) for v in setups.values()),
        "planned_epochs": trace.planned_epochs,
        "total_j": statistics.median(f["total_j"] for f in fulls),
        "best_setup": full_best,
        "best_energy_to_target_j": statistics.median(f["best_j"] for f in fulls if f["best_setup"] == full_best),
        "best_setup_share": sum(f["best_setup"] == full_best for f in fulls) / len(fulls),
        "safe_floor": {"spent_j": statistics.median(f["floor_j"] for f in fulls), "share": statistics.median(floor)},
        "rules": rows,
        "ranking": rank_setups([(r.setup, r.energy_to_target_j(target)) for r in trace.runs]).to_dict(),
    }


def _full(runs: dict[str, Run], target: float) -> dict[str, Any]:
    """The full grid of one draw: its total, its best setup and the safe floor."""
    ett = {s: r.energy_to_target_j(target) for s, r in runs.items()}
    reached = {s: v for s, v in ett.items() if v is not None}
    best = min(reached, key=lambda s: reached[s]) if reached else None
    best_j = reached[best] if best else None
    total = sum(r.spent_j(target) for r in runs.values())
    floor = sum(min(r.spent_j(target), best_j) if best_j is not None else r.spent_j(target) for r in runs.values())
    return {"total_j": total, "best_setup": best, "best_j": best_j, "floor_j": floor, "ett": ett}


def _summarise(
    outcomes: list[Outcome], fulls: list[dict[str, Any]], draws: list[dict[str, Run]], target: float
) -> dict[str, Any]:
    shares = sorted(o.spent_j / f["total_j"] for o, f in zip(outcomes, fulls, strict=True))
    same = [o.best == f["best_setup"] for o, f in zip(outcomes, fulls, strict=True)]
    worse = []
    for o, f, same_best in zip(outcomes, fulls, same, strict=True):
        if not same_best:
            picked = f["ett"].get(o.best) if o.best else None
            worse.append(picked / f["best_j"] - 1.0 if picked and f["best_j"] else float("inf"))
    pick = Counter(o.best for o in outcomes).most_common(1)[0][0]
    return {
        "spent_j": statistics.median(o.spent_j for o in outcomes),
        "share": statistics.median(shares),
        "share_p10": shares[int(0.1 * (len(shares) - 1))],
        "share_p90": shares[int(0.9 * (len(shares) - 1))],
        "same_best": all(same),
        "same_best_share": sum(same) / len(same),
        "best_setup": pick,
        "worse_by": statistics.median(worse) if worse else 0.0,
        "worse_by_max": max(worse) if worse else 0.0,
        "pruned": statistics.median(o.pruned for o in outcomes),
        "stopped_on_forecast": statistics.median(o.on_forecast for o in outcomes),
        "spent_on": _spent_on(outcomes, fulls, draws),
    }


def _spent_on(outcomes: list[Outcome], fulls: list[dict[str, Any]], draws: list[dict[str, Run]]) -> dict[str, float]:
    """Where a rule's energy went, as median shares of the full grid.

    The full grid's best setup, the other setups' first epochs (a rule deciding at epoch ends cannot avoid them), and
    their later epochs.
    """
    parts: dict[str, list[float]] = {"best_setup": [], "first_epochs_of_others": [], "later_epochs_of_others": []}
    for o, f, runs in zip(outcomes, fulls, draws, strict=True):
        best = f["best_setup"]
        first = sum(min(j, runs[s].energy_j[0]) for s, j in o.by_setup.items() if s != best)
        on_best = o.by_setup.get(best, 0.0)
        parts["best_setup"].append(on_best / f["total_j"])
        parts["first_epochs_of_others"].append(first / f["total_j"])
        parts["later_epochs_of_others"].append((o.spent_j - on_best - first) / f["total_j"])
    return {k: statistics.median(v) for k, v in parts.items()}
