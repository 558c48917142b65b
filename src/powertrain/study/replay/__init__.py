"""Replay a recorded grid under pruning rules: what would pruning have spent, and would it keep the best setup?

Entry point: :func:`replay` (CLI: ``powertrain sweep replay PATH``)::

    from powertrain.study.replay import parse_rule, read_trace, replay

    trace = read_trace("studies/lr-batch-grid")          # a full sweep's folder, or a CSV trace
    result = replay(trace, [parse_rule("energy"), parse_rule("forecast:risk=0.1")], round_epochs=1, orders=1000)
    result.to_dict()["rules"]["forecast:risk=0.1"]["share"]   # median share of the full grid's energy

No training runs: the recorded joules are re-added, epoch by epoch, as the sweep engine would have run the setups, in
many orders, with the real pruner classes deciding. A CSV trace has one row per setup and epoch (``setup``, ``epoch``,
``accuracy``, ``energy_j``; optional ``seconds``, ``hardware``, ``seed``; other columns are parameters).

Errors: :class:`~powertrain.errors.ConfigError` (one line) for a trace a replay cannot use (see
:func:`read_trace`), an unknown rule, no target, or a target no setup reaches.
"""

from powertrain.study.replay._replay import RULES, ReplayResult, Rule, parse_rule, replay
from powertrain.study.replay._study import read_trace
from powertrain.study.replay._trace import Run, Trace

__all__ = ["RULES", "ReplayResult", "Rule", "Run", "Trace", "parse_rule", "read_trace", "replay"]
