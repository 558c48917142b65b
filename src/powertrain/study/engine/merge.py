"""Merge sweeps run apart (on different machines, with their own SQLite files) into one study to compare them.

Every ended trial (complete, pruned, failed) of each source is copied with its parameters, values, intermediate values
and user attributes (the hardware tag among them), so ``sweep show`` groups the merged study by hardware.

Validate, then act: every source is opened and checked (it exists, holds the study, optimizes the same objectives as
the others and as the destination, and is not the destination itself) before the destination is created or a trial
is copied. Each copy remembers where it came from (``powertrain:merged_from``: the source study's identity and the
trial's number), and a copy of a copy keeps its first origin, so merging again, in any order or through other merged
studies, copies each trial once, and a study merged into itself gains nothing. A merge killed half-way is finished by
running it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from powertrain import _killpoints as killpoints
from powertrain.errors import ConfigError, OutputError
from powertrain.study.engine.attribution import check_same_scope, study_scope
from powertrain.study.engine.results import SweepResult, from_study, resolve_storage
from powertrain.study.engine.storage import FINGERPRINT, UID, check_storage_url, open_storage, storage_errors
from powertrain.study.engine.trials import MERGED_FROM

__all__ = ["merge_sweeps"]

_ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class _Source:
    label: str  # as the user gave it
    url: str  # the storage URL, SQLite paths made absolute
    study: optuna.Study

    @property
    def identity(self) -> str:
        """What names this study wherever it is reached from: its UID, else its URL and name."""
        return str(self.study.user_attrs.get(UID) or f"{self.url}#{self.study.study_name}")

    @property
    def objective(self) -> list[str] | None:
        described = self.study.user_attrs.get("powertrain:config") or {}
        objective = described.get("objective")
        return list(objective) if isinstance(objective, list) else None


def merge_sweeps(dest: str | Path, sources: Sequence[str | Path], *, study: str | None = None) -> SweepResult:
    """Copy the ended trials of ``sources`` (study folders or ``URL#study`` strings) into the study ``dest``.

    Args:
        dest: A folder (its ``study.db`` is created when missing) or a storage URL.
        sources: Study folders (holding one study) or storage URLs with ``#STUDY`` naming the study.
        study: The merged study's name (default: the first source's name).

    Returns:
        The merged study's results.

    Raises:
        ConfigError: A source that is missing, holds another kind of study (other objectives or directions, or energy
            attributed otherwise: machine-wide and attributed figures are never merged), or is the destination
            itself; nothing is created or copied then.
    """
    if not sources:
        raise ConfigError("merge needs at least one source study")
    loaded = [_load(source) for source in sources]
    first = loaded[0]
    for source in loaded[1:]:
        _check_alike(source, first)
    check_same_scope([study_scope(s.study.user_attrs) for s in loaded], "merge")
    name = study or first.study.study_name
    url, out = _dest_url(dest)
    for source in loaded:
        if source.url == url and source.study.study_name == name:
            raise ConfigError(f"{source.label} is the destination {dest} itself; a study cannot be merged into itself")
    merged = _open_dest(url, out, name, first)
    with storage_errors(url):
        for key, value in first.study.user_attrs.items():
            if key not in (FINGERPRINT, UID, "powertrain:creator") and key not in merged.user_attrs:
                merged.set_user_attr(key, value)
        _copy_trials(merged, url, loaded)
        return from_study(merged, out=out)


def _check_alike(source: _Source, first: _Source) -> None:
    if source.study.directions != first.study.directions:
        raise ConfigError(
            f"{source.label} optimizes other directions than {first.label}; cannot merge them (nothing was merged)"
        )
    if source.objective and first.objective and source.objective != first.objective:
        raise ConfigError(
            f"{source.label} optimizes {source.objective}, {first.label} {first.objective}; cannot merge them "
            "(nothing was merged)"
        )


def _dest_url(dest: str | Path) -> tuple[str, Path | None]:
    text = str(dest)
    if "://" in text:
        check_storage_url(text)
        return _absolute(text), None
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder (or a storage URL) to merge into")
    return f"sqlite:///{(out / 'study.db').resolve()}", out


def _open_dest(url: str, out: Path | None, name: str, first: _Source) -> optuna.Study:
    """The destination study, checked against the sources before it or its folder is created."""
    exists = out is None or (out / "study.db").is_file()
    with storage_errors(url):
        if exists:
            storage = open_storage(url, heartbeat_s=None, grace_s=None)
            names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
            if name in names:
                merged = optuna.load_study(study_name=name, storage=storage)
                if merged.get_trials(deepcopy=False):
                    check_same_scope([study_scope(merged.user_attrs), study_scope(first.study.user_attrs)], "merge")
                dest = _Source(str(out or url), url, merged)
                if merged.directions != first.study.directions or (
                    dest.objective and first.objective and dest.objective != first.objective
                ):
                    raise ConfigError(
                        f"study {name!r} in {out or url} has other objectives than {first.label}; nothing was merged"
                    )
                return merged
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        storage = open_storage(url, heartbeat_s=None, grace_s=None)
        merged = optuna.create_study(storage=storage, study_name=name, directions=first.study.directions)
        merged.set_user_attr(UID, uuid.uuid4().hex)
        return merged


def _copy_trials(merged: optuna.Study, url: str, loaded: list[_Source]) -> None:
    own = str(merged.user_attrs.get(UID) or f"{url}#{merged.study_name}")
    seen = {t.system_attrs.get(MERGED_FROM) or f"{own}#{t.number}" for t in merged.get_trials(deepcopy=False)}
    copied = 0
    for source in loaded:
        for trial in source.study.get_trials(deepcopy=False, states=_ENDED):
            origin = trial.system_attrs.get(MERGED_FROM) or f"{source.identity}#{trial.number}"
            legacy = f"{source.label}#{source.study.study_name}#{trial.number}"  # keys of powertrain <= 0.x merges
            if origin in seen or legacy in seen:
                continue
            merged.add_trial(
                optuna.create_trial(
                    state=trial.state,
                    values=trial.values if trial.state == TrialState.COMPLETE else None,
                    params=trial.params,
                    distributions=trial.distributions,
                    user_attrs=trial.user_attrs,
                    system_attrs={MERGED_FROM: origin},
                    intermediate_values=trial.intermediate_values,
                )
            )
            seen.add(origin)
            copied += 1
            killpoints.reached("merge", copied, url)  # fault tests only (inert)


def _absolute(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so two spellings of one file compare equal."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return f"sqlite:///{Path(parsed.database).resolve()}"
    return url


def _load(source: str | Path) -> _Source:
    text = str(source)
    target, _, name = text.partition("#") if "://" in text else (text, "", "")
    url, _ = resolve_storage(target)
    url = _absolute(url)
    with storage_errors(url):
        storage = open_storage(url, heartbeat_s=None, grace_s=None, create=False)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        if not name:
            if len(names) != 1:
                raise ConfigError(f"{text} holds {len(names)} studies; name one as URL#STUDY")
            name = names[0]
        if name not in names:
            raise ConfigError(f"no study {name!r} in {target}")
        return _Source(text, url, optuna.load_study(study_name=name, storage=storage))
