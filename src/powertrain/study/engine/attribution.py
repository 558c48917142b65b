"""A study's attribution and threads: fixed when it is created, the same for every worker and every resume.

A study records, as Optuna study user attributes, how its trials' energy is attributed (``powertrain:attribution``:
``process``, ``cgroup`` or ``machine``) and how many PyTorch threads each trial uses (``powertrain:threads_per_trial``,
by default the host's cores divided among the workers the user says share it, ``workers_per_host``). A worker that
joins or resumes the study uses the stored threads, and one with another attribution is refused: a study never mixes
machine-wide and attributed figures. A study created before attribution existed holds machine-wide figures and can
only be continued with ``attribution: machine``.

Results read the same facts back (:func:`trial_scope`, :func:`conditions_note`): ``sweep show --compare``,
``sweep merge`` and the report refuse or label a mix, and a study says when its trials ran under very different
loads from other processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import optuna

from powertrain.errors import ConfigError

__all__ = [
    "STUDY_ATTRIBUTION",
    "STUDY_THREADS",
    "check_same_scope",
    "conditions_note",
    "scope_word",
    "setup_study",
    "study_scope",
    "threads_per_trial",
    "trial_scope",
]

log = logging.getLogger(__name__)

STUDY_ATTRIBUTION = "powertrain:attribution"
STUDY_THREADS = "powertrain:threads_per_trial"
LEGACY = "machine (recorded before attribution)"
_LOAD_SPREAD_CPUS = 0.5  # other processes' load differing by more than this many busy CPUs is "very different"


def scope_word(attribution: str) -> str:
    """``cgroup:/path`` -> ``cgroup``: the kind of a TrainConfig attribution."""
    return attribution.split(":", 1)[0]


def threads_per_trial(workers_per_host: int, threads: int | None = None, cores: int | None = None) -> int:
    """The threads each trial uses: ``threads`` when given, else the host's cores shared by its workers (>= 1)."""
    if threads is not None:
        return threads
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers_per_host))


def setup_study(study: optuna.Study, *, attribution: str, threads: int, created: bool) -> int:
    """Record (created) or check (joined) the study's attribution; return the threads per trial it uses.

    Raises:
        ConfigError: The study measures energy with another attribution than this worker's config.
    """
    kind = scope_word(attribution)
    if created:
        study.set_user_attr(STUDY_ATTRIBUTION, kind)
        study.set_user_attr(STUDY_THREADS, threads)
        return threads
    stored = study_scope(study.user_attrs)
    if stored == LEGACY and kind != "machine" or stored != LEGACY and stored != kind:
        how = "machine-wide, before attribution existed" if stored == LEGACY else f"with attribution {stored}"
        needed = "machine" if stored == LEGACY else stored
        raise ConfigError(
            f"study {study.study_name!r} was measured {how}; this worker's attribution is {kind}: give "
            f"--attribution {needed} to continue it (a study never mixes machine-wide and attributed figures), or "
            "start a new study"
        )
    recorded = study.user_attrs.get(STUDY_THREADS)
    if recorded is None:
        study.set_user_attr(STUDY_THREADS, threads)
        return threads
    if int(recorded) != threads:
        log.info("study %s runs %s threads per trial (recorded with the study), not %d", study.study_name, recorded,
                 threads)  # fmt: skip
    return int(recorded)


def study_scope(user_attrs: Mapping[str, Any]) -> str:
    """The study's attribution kind (:data:`LEGACY` for a study created before attribution existed)."""
    return str(user_attrs.get(STUDY_ATTRIBUTION) or LEGACY)


def trial_scope(attrs: Mapping[str, Any]) -> str:
    """A trial's attribution kind from its user attributes (a trial recorded before attribution: the machine)."""
    return str(attrs.get("attribution") or "machine")


def check_same_scope(scopes: Iterable[str], what: str) -> None:
    """Refuse to put figures of different attributions together.

    Raises:
        ConfigError: ``scopes`` holds more than one kind.
    """
    kinds = sorted(set(scopes))
    if len(kinds) > 1:
        raise ConfigError(
            f"{what}: the studies' energy is attributed differently ({' and '.join(kinds)}); machine-wide and "
            "attributed joules are not comparable (rerun one of them with the other's --attribution)"
        )


def conditions_note(trials: Iterable[Mapping[str, Any]]) -> str | None:
    """A warning when trials ran under very different loads from other processes or with different threads."""
    trials = list(trials)
    loads = [float(a["others_load"]) for a in trials if a.get("others_load") is not None]
    threads = {a.get("threads") for a in trials if a.get("threads") is not None}
    notes = []
    if loads and max(loads) - min(loads) > _LOAD_SPREAD_CPUS:
        notes.append(
            f"other processes kept {min(loads):.1f} to {max(loads):.1f} CPUs busy on average during different trials "
            "(their joules are attributed to each run, but speed and the machine's totals differ)"
        )
    if len(threads) > 1:
        notes.append(f"trials ran with different thread counts ({', '.join(str(t) for t in sorted(threads))})")
    return ("trials measured under very different conditions: " + "; ".join(notes)) if notes else None
