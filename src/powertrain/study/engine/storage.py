"""The sweep's Optuna storage and study: check and open it, create the study, plan a grid once, claim trials.

Exactly-once grid trials over many workers: the worker that creates the study enqueues every grid point as a WAITING
trial, and a worker claims one by moving it from WAITING to RUNNING in the storage, which succeeds for exactly one
worker (a row lock in PostgreSQL, the database lock in SQLite). Lost trials and their retries are
:mod:`~powertrain.study.engine.recovery`'s. A storage URL is checked before anything is created
(:func:`check_storage_url`); a storage that fails later (a full disk under a SQLite file, a server gone) is one
:class:`~powertrain.errors.OutputError` line (:func:`storage_errors`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from powertrain import _killpoints as killpoints
from powertrain.errors import ConfigError, OutputError
from powertrain.study.engine.attribution import setup_study, threads_per_trial
from powertrain.study.engine.config import SweepConfig
from powertrain.study.engine.recovery import RetryLost, quiet

__all__ = [
    "check_storage_url",
    "claim_trial",
    "heartbeat",
    "open_storage",
    "open_study",
    "storage_errors",
    "worker_id",
]

log = logging.getLogger(__name__)

FINGERPRINT = "powertrain:fingerprint"
READY = "powertrain:planned"
CREATOR = "powertrain:creator"  # worker_id() of the process that created the study and planned its grid
UID = "powertrain:uid"  # a study's identity, whatever URL or folder it is reached by (merge's provenance)


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
            with quiet():
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
            raise ConfigError(
                f"cannot open the study storage {_hide(parsed)}: {_with_full_disk(_first_line(exc), parsed)}"
            ) from None
    raise AssertionError("unreachable")


def check_storage_url(url: str) -> None:
    """Check a storage URL before anything is created: its form, that its driver exists, a SQLite path not a folder.

    Raises:
        ConfigError: One line naming what is wrong with ``url``.
    """
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"malformed storage URL {url!r} (e.g. sqlite:///study.db or postgresql://host/db)") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql"):
        raise ConfigError(f"storage URL {_hide(parsed)}: unknown kind {backend!r}; use sqlite:///PATH or postgresql://...")
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        if db.is_dir():
            raise ConfigError(f"storage {_hide(parsed)} is a folder; name a file such as {db / 'study.db'}")
        parent = next((p for p in (db.parent, *db.parent.parents) if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"storage {_hide(parsed)}: {parent} is a file, not a folder")


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn a failure of the storage itself (a full disk under SQLite, a server gone) into one OutputError line.

    What was committed stays: rerun the same command once the cause is fixed, and the study continues.
    """
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        yield
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as exc:
        try:
            parsed = make_url(url)
            where, reason = _hide(parsed), _with_full_disk(_root_reason(exc), parsed)
        except sqlalchemy.exc.ArgumentError:
            where, reason = url, _root_reason(exc)
        raise OutputError(
            f"the study storage {where} failed: {reason}; what was committed is kept, rerun the same "
            "command once this is fixed"
        ) from None


def _root_reason(exc: BaseException) -> str:
    """The first line of the deepest cause (``database or disk is full``, not Optuna's generic commit message)."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = _first_line(exc)
    return text.split(") ", 1)[1] if text.startswith("(") and ") " in text else text


def _with_full_disk(reason: str, parsed: Any) -> str:
    """``reason``, plus `` (its disk is full)`` when ``parsed`` is a SQLite file on a disk with under 1 MiB free.

    SQLite says ``disk I/O error``, not ``database or disk is full``, when the write that fails is its write-ahead
    log's shared memory.
    """
    if "full" in reason or parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return reason
    folder = next((p for p in Path(parsed.database).parents if p.is_dir()), None)
    try:
        full = folder is not None and shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        full = False
    return f"{reason} (its disk is full)" if full else reason


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
        study.set_user_attr(CREATOR, worker_id())
        study.set_user_attr(UID, uuid.uuid4().hex)
        study.set_user_attr(FINGERPRINT, fingerprint)
        study.set_user_attr("powertrain:config", _describe(config))
    else:
        stored = _wait_for(study, FINGERPRINT, 10.0)
        if UID not in study.user_attrs:  # studies of earlier versions, or a creator killed before it wrote one
            study.set_user_attr(UID, uuid.uuid4().hex)
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
    for count, point in enumerate(points, start=1):
        if point.name not in planned:
            study.enqueue_trial(point.params, user_attrs={"point": point.name, "run_name": point.name})
            killpoints.reached("plan", count, config.study)  # fault tests only (inert)
    study.set_user_attr(READY, True)


def _wait_for(study: optuna.Study, key: str, timeout_s: float) -> Any:
    """The study's user attribute ``key``, waiting up to ``timeout_s`` for its creator to write it (not if it died)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = study.user_attrs.get(key)
        if value is not None or time.monotonic() >= deadline or _creator_gone(study):
            return value
        time.sleep(0.2)


def _creator_gone(study: optuna.Study) -> bool:
    """True when the study's creator was a process of this machine that is gone (nobody else will finish its set-up)."""
    name, _, pid = str(study.user_attrs.get(CREATOR, "")).rpartition(":")
    if name != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_trial(study: optuna.Study, config: SweepConfig) -> optuna.Trial | None:
    """A trial for this worker, or None when the study has nothing left to run.

    A WAITING trial (grid point or retry) first, else a new sampled one while the study has fewer than ``n_trials``.
    The claim (WAITING -> RUNNING, or the sampler's new trial) and the worker's name are two writes: a worker killed
    between them leaves an orphan, which :func:`~powertrain.study.engine.recovery.orphans` finds.
    """
    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
            _claimed(frozen.number, frozen.user_attrs, config)
            storage.set_trial_user_attr(frozen._trial_id, "worker", worker_id())
            return optuna.Trial(study, frozen._trial_id)
    if config.sampler == "grid":
        return None
    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    if len(study.get_trials(deepcopy=False, states=counted)) >= (config.n_trials or 0):
        return None
    with warnings.catch_warnings():  # "Heartbeat of storage is supposed to be used with Study.optimize": on purpose
        warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
        trial = study.ask()
    _claimed(trial.number, {}, config)
    trial.set_user_attr("worker", worker_id())
    return trial


def _claimed(number: int, attrs: dict[str, Any], config: SweepConfig) -> None:
    run_name = str(attrs.get("run_name") or f"trial-{number:04d}")
    place = Path(config.out).resolve() / "runs" / run_name
    killpoints.reached("claim", int(attrs.get("round") or 1), place)  # fault tests only (inert)


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
