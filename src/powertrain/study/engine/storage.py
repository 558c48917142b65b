"""The sweep's Optuna storage and study: open or create it, plan a grid once, claim trials, recover lost ones.

Exactly-once grid trials over many workers: the worker that creates the study enqueues every grid point as a WAITING
trial, and a worker claims one by moving it from WAITING to RUNNING in the storage, which succeeds for exactly one
worker (a row lock in PostgreSQL, the database lock in SQLite). A trial whose worker died is found by Optuna's
heartbeat (any machine, after ``grace_s``) or, for a worker of this machine, at once by its dead process id; it is
marked FAIL and a WAITING copy with the same parameters and user attributes is enqueued, which the next worker claims
and continues from its run directory's checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import TrialState

from powertrain.errors import ConfigError
from powertrain.study.engine.attribution import setup_study, threads_per_trial
from powertrain.study.engine.config import SweepConfig

__all__ = [
    "RetryLost",
    "claim_trial",
    "enqueue_copy",
    "heartbeat",
    "open_storage",
    "open_study",
    "recover_lost_trials",
    "worker_id",
]

log = logging.getLogger(__name__)

FINGERPRINT = "powertrain:fingerprint"
READY = "powertrain:planned"


def worker_id() -> str:
    """``host:pid`` of this worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


def open_storage(
    url: str,
    *,
    heartbeat_s: int | None = 10,
    grace_s: int | None = 30,
    max_retries: int = 3,
    create: bool = True,
) -> RDBStorage:
    """An Optuna RDB storage on ``url``; a malformed URL or an unreachable server is a one-line ConfigError.

    ``create=False`` (readers: ``sweep show``, ``merge`` sources) refuses a SQLite file that does not exist instead of
    creating it and its folder. SQLite studies use the write-ahead log with ``synchronous=NORMAL``: a killed worker
    loses no committed trial (the log is replayed on the next open) and each of a trial's many small writes costs no
    fsync of the whole database.
    """
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"malformed storage URL {url!r} (e.g. sqlite:///study.db or postgresql://host/db)") from None
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {}
    if backend.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 5}
        if parsed.drivername == "postgresql":  # psycopg 3 is what we install
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    elif backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        if not create and not Path(parsed.database).is_file():
            raise ConfigError(f"no study database at {parsed.database} (nothing was created)")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    retry = RetryLost(max_retries) if heartbeat_s else None
    for attempt in range(6):
        try:
            with _quiet():
                storage = RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=grace_s,
                    heartbeat_stale_trial_callback=retry,
                )
            if backend == "sqlite":
                _write_ahead_log(storage.engine)
            return storage
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            # workers starting together on an empty database race to create Optuna's tables: the loser retries
            if attempt == 5:
                raise ConfigError(f"cannot open the study storage {_hide(parsed)}: {_first_line(exc)}") from None
            time.sleep(0.2 + random.random())
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigError(f"cannot open the study storage {_hide(parsed)}: {_first_line(exc)}") from None
    raise AssertionError("unreachable")


def _write_ahead_log(engine: Any) -> None:
    """Every new connection of ``engine`` uses SQLite's write-ahead log and ``synchronous=NORMAL``."""
    from sqlalchemy import event

    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # the connection Optuna opened to create its tables predates the listener


def _hide(url: Any) -> str:
    return str(url.render_as_string(hide_password=True))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_study(config: SweepConfig, storage: RDBStorage, sampler: Any, pruner: Any) -> optuna.Study:
    """Create the study (and plan its grid) or load it; a study of that name with another space is refused."""
    identity = json.dumps(config.identity, sort_keys=True, default=str)
    fingerprint = config.space.fingerprint(config.train) + f"|objective={config.objective}|{identity}"
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=config.study,
            sampler=sampler,
            pruner=pruner,
            directions=config.directions,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=config.study, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    if created:
        study.set_user_attr(FINGERPRINT, fingerprint)
        study.set_user_attr("powertrain:config", _describe(config))
    else:
        stored = _wait_for(study, FINGERPRINT, 10.0)
        if stored is not None and stored != fingerprint:
            raise ConfigError(
                f"study {config.study!r} already exists in {_safe_url(storage)} with another search space, base "
                "config or objective; pick another --study name (nothing was changed)"
            )
        if stored is None:
            study.set_user_attr(FINGERPRINT, fingerprint)
    threads = threads_per_trial(config.workers_per_host, config.threads_per_trial)
    setup_study(study, attribution=config.train.attribution, threads=threads, created=created)
    if config.sampler == "grid":
        _plan_grid(study, config, created)
    return study


def _plan_grid(study: optuna.Study, config: SweepConfig, created: bool) -> None:
    if not created and _wait_for(study, READY, 30.0):
        return
    # the creator, or a worker taking over a creator that died while planning: enqueue what is missing
    planned = {t.user_attrs.get("point") for t in study.get_trials(deepcopy=False)}
    points = config.space.grid()
    if config.space.params:  # a seeded random order, as Optuna's GridSampler: pruning meets a good best early
        random.Random(config.seed).shuffle(points)
    for point in points:
        if point.name not in planned:
            study.enqueue_trial(point.params, user_attrs={"point": point.name, "run_name": point.name})
    study.set_user_attr(READY, True)


def _wait_for(study: optuna.Study, key: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = study.user_attrs.get(key)
        if value is not None or time.monotonic() >= deadline:
            return value
        time.sleep(0.2)


def claim_trial(study: optuna.Study, config: SweepConfig) -> optuna.Trial | None:
    """A trial for this worker, or None when the study has nothing left to run.

    A WAITING trial (grid point or retry) first, else a new sampled one while the study has fewer than ``n_trials``.
    """
    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
            storage.set_trial_user_attr(frozen._trial_id, "worker", worker_id())
            return optuna.Trial(study, frozen._trial_id)
    if config.sampler == "grid":
        return None
    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    if len(study.get_trials(deepcopy=False, states=counted)) >= (config.n_trials or 0):
        return None
    trial = study.ask()
    trial.set_user_attr("worker", worker_id())
    return trial


def recover_lost_trials(study: optuna.Study, config: SweepConfig) -> list[int]:
    """Fail the RUNNING trials whose worker is gone and enqueue their retries; returns the failed trial numbers.

    A trial of a dead process on this machine is failed at once; others after ``grace_s`` without a heartbeat.
    """
    storage = study._storage
    host = socket.gethostname()
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            storage.set_trial_system_attr(trial._trial_id, "powertrain:lost", f"worker process {worker} died")
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
                RetryLost(config.max_retries)(study, storage.get_trial(trial._trial_id))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    with _quiet():
        fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    failed += sorted(after - before - set(failed))
    if failed:
        log.info("trials %s were lost with their worker; retrying them", failed)
    return failed


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
    error and ``drop``, and with ``set_attrs`` set.
    """
    attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "error", *drop)}
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={**attrs, **set_attrs},
            system_attrs=system_attrs,
        )
    )


@contextmanager
def heartbeat(storage: RDBStorage, trial_id: int, interval_s: float) -> Iterator[None]:
    """Record the trial's heartbeat every ``interval_s`` seconds in a thread while the block runs."""
    if storage.get_heartbeat_interval() is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception as exc:  # a storage hiccup must not kill the training run
                log.warning("heartbeat of trial %d failed: %s", trial_id, exc)
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=beat, name=f"powertrain-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def _quiet() -> Iterator[None]:
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


def _safe_url(storage: RDBStorage) -> str:
    from sqlalchemy.engine import make_url

    return make_url(storage.url).render_as_string(hide_password=True)


def _describe(config: SweepConfig) -> dict[str, Any]:
    return {
        "objective": config.objective,
        "sampler": config.sampler,
        "pruner": config.pruner,
        "target_accuracy": config.train.target_accuracy,
        "base": config.train.to_dict(),
        **config.space.to_dict(),
    }
