"""Merge sweeps run apart (on different machines, with their own SQLite files) into one study to compare them.

Every ended trial (complete, pruned, failed) of each source is copied with its parameters, values, intermediate values
and user attributes (the hardware tag among them), so ``sweep show`` groups the merged study by hardware. Merging again
copies only trials not merged before (each copy remembers its source in ``powertrain:merged_from``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.trial import TrialState

from powertrain.errors import ConfigError
from powertrain.study.engine.attribution import check_same_scope, study_scope
from powertrain.study.engine.results import SweepResult, from_study, resolve_storage
from powertrain.study.engine.storage import FINGERPRINT, open_storage

__all__ = ["merge_sweeps"]

_ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_SOURCE = "powertrain:merged_from"


def merge_sweeps(dest: str | Path, sources: Sequence[str | Path], *, study: str | None = None) -> SweepResult:
    """Copy the ended trials of ``sources`` (study folders or ``URL#study`` strings) into the study ``dest``.

    Args:
        dest: A folder (its ``study.db`` is created when missing) or a storage URL.
        sources: Study folders (holding one study) or storage URLs with ``#STUDY`` naming the study.
        study: The merged study's name (default: the first source's name).

    Returns:
        The merged study's results.

    Raises:
        ConfigError: A source that is missing or holds another kind of study (other objective directions, or energy
            attributed otherwise: machine-wide and attributed figures are never merged).
    """
    if not sources:
        raise ConfigError("merge needs at least one source study")
    loaded = [_load(source) for source in sources]
    first = loaded[0]
    check_same_scope([study_scope(s.user_attrs) for s in loaded], "merge")
    name = study or first.study_name
    dest_text = str(dest)
    if "://" in dest_text:
        url, out = dest_text, None
    else:
        out = Path(dest_text)
        out.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(out / 'study.db').resolve()}"
    storage = open_storage(url, heartbeat_s=None, grace_s=None)
    merged = optuna.create_study(storage=storage, study_name=name, directions=first.directions, load_if_exists=True)
    if merged.directions != first.directions:
        raise ConfigError(f"study {name!r} in {dest} has other objective directions than {first.study_name!r}")
    if merged.get_trials(deepcopy=False):
        check_same_scope([study_scope(merged.user_attrs), study_scope(first.user_attrs)], "merge")
    for key, value in first.user_attrs.items():
        if key != FINGERPRINT and key not in merged.user_attrs:
            merged.set_user_attr(key, value)
    seen = {t.system_attrs.get(_SOURCE) for t in merged.get_trials(deepcopy=False)}
    for source, label in zip(loaded, [str(s) for s in sources], strict=True):
        if source.directions != first.directions:
            raise ConfigError(f"{label} optimizes other directions than {first.study_name!r}; cannot merge them")
        for trial in source.get_trials(deepcopy=False, states=_ENDED):
            key = f"{label}#{source.study_name}#{trial.number}"
            if key in seen:
                continue
            merged.add_trial(
                optuna.create_trial(
                    state=trial.state,
                    values=trial.values if trial.state == TrialState.COMPLETE else None,
                    params=trial.params,
                    distributions=trial.distributions,
                    user_attrs=trial.user_attrs,
                    system_attrs={_SOURCE: key},
                    intermediate_values=trial.intermediate_values,
                )
            )
    return from_study(merged, out=out)


def _load(source: str | Path) -> optuna.Study:
    text = str(source)
    target, _, name = text.partition("#") if "://" in text else (text, "", "")
    url, _ = resolve_storage(target)
    storage = open_storage(url, heartbeat_s=None, grace_s=None, create=False)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if not name:
        if len(names) != 1:
            raise ConfigError(f"{text} holds {len(names)} studies; name one as URL#STUDY")
        name = names[0]
    if name not in names:
        raise ConfigError(f"no study {name!r} in {target}")
    return optuna.load_study(study_name=name, storage=storage)
