"""Lost trials and their retries: a worker that died, a trial claimed and never run, a copy that carries a run on.

A trial whose worker died is found by Optuna's heartbeat (any machine, after ``grace_s``) or, for a worker of this
machine, at once by its dead process id; a trial claimed by a worker killed before it wrote its name is found once
it is ``grace_s`` old. Each is marked FAIL and a WAITING copy with the same parameters and user attributes is
enqueued (:class:`RetryLost`, :func:`enqueue_copy`), which the next worker claims and continues from its run
directory's checkpoint.

A copy (a retry, or a breadth-first round's next round) records, as it is created, the energy and time its run had
already spent (``base_energy_j``, ``base_duration_s``), so there is no moment at which a trial's figures count its
predecessor's joules again.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import TrialState

from powertrain.study.engine.config import SweepConfig

__all__ = ["RetryLost", "dead_here", "enqueue_copy", "orphans", "orphans_pending_s", "quiet", "recover_lost_trials"]

log = logging.getLogger(__name__)


def recover_lost_trials(study: optuna.Study, config: SweepConfig) -> list[int]:
    """Fail the RUNNING trials whose worker is gone and enqueue their retries; returns the failed trial numbers.

    A trial of a dead process on this machine is failed at once; others after ``grace_s`` without a heartbeat, and a
    trial claimed by no worker (:func:`orphans`) once it is ``grace_s`` old.
    """
    storage = study._storage
    failed: list[int] = []
    lost = [(t, f"worker process {t.user_attrs['worker']} died") for t in study.get_trials(
        deepcopy=False, states=(TrialState.RUNNING,)) if dead_here(t)]  # fmt: skip
    lost += [(t, "claimed by a worker killed before it ran it") for t in orphans(study, config.grace_s, ready=True)]
    for trial, reason in lost:
        try:
            storage.set_trial_system_attr(trial._trial_id, "powertrain:lost", reason)
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
                RetryLost(config.max_retries)(study, storage.get_trial(trial._trial_id))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    with quiet():
        fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    failed += sorted(after - before - set(failed))
    if failed:
        log.info("trials %s were lost with their worker; retrying them", failed)
    return failed


def orphans(study: optuna.Study, settle_s: float, *, ready: bool) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials that no worker owns: claimed (or asked) by a worker killed before it wrote its ``worker``.

    A live worker writes it a moment after its claim, so only trials claimed more than ``settle_s`` ago are orphans
    (``ready=True``); ``ready=False`` lists the younger ones, which may still become orphans.
    """
    import datetime as dt

    now = dt.datetime.now()
    found = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("worker") or t.datetime_start is None:
            continue
        if ((now - t.datetime_start).total_seconds() >= settle_s) == ready:
            found.append(t)
    return found


def orphans_pending_s(study: optuna.Study, settle_s: float) -> float | None:
    """Seconds until a RUNNING trial no worker owns counts as an orphan (:func:`orphans`); None when there is none."""
    import datetime as dt

    now = dt.datetime.now()
    waits = [
        max(0.0, settle_s - (now - t.datetime_start).total_seconds())
        for t in orphans(study, settle_s, ready=False)
        if t.datetime_start is not None
    ]
    return min(waits) if waits else None


def dead_here(trial: optuna.trial.FrozenTrial) -> bool:
    """True when ``trial``'s worker was a process of this machine that is gone."""
    name, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
    return name == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


class RetryLost:
    """Enqueue a WAITING copy of a lost trial: same parameters and figures so far, without its worker's identity.

    Like Optuna's ``RetryHeartbeatStaleTrialCallback`` (the same ``failed_trial`` and ``retry_history`` system
    attributes), but the copy drops ``worker``, so a copy just claimed is never mistaken for its dead predecessor.

    Args:
        max_retries: How many times one trial is retried at most.
    """

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Enqueue the retry of ``trial`` (a FAIL trial) unless it was retried ``max_retries`` times already."""
        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        if len(history) > self.max_retries:
            log.warning("trial %d was lost %d times; not retrying it again", history[0], len(history))
            return
        enqueue_copy(study, trial, {"failed_trial": history[0], "retry_history": history})


def enqueue_copy(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    system_attrs: dict[str, Any],
    *,
    drop: tuple[str, ...] = (),
    **set_attrs: Any,
) -> None:
    """Enqueue a WAITING copy of ``trial``: a retry of a lost trial, or the next breadth-first round.

    The copy has the trial's parameters and user attributes (the figures so far) without its worker's identity, its
    error and ``drop``, and with ``set_attrs`` set; its ``base_energy_j`` and ``base_duration_s`` are what the run had
    spent so far (``trial``'s ``energy_j`` and ``duration_s``), recorded in the same write that creates it.
    """
    attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "error", *drop)}
    attrs.setdefault("run_name", f"trial-{trial.number:04d}")  # a trial lost at its claim: the run it would have had
    # what the run had spent when this copy was made: counted by ``trial`` and its predecessors, never again
    base = {
        "base_energy_j": float(trial.user_attrs.get("energy_j") or 0.0),
        "base_duration_s": float(trial.user_attrs.get("duration_s") or 0.0),
    }
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={**attrs, **base, **set_attrs},
            system_attrs=system_attrs,
        )
    )


@contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning for the heartbeat and retry features we rely on deliberately."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
