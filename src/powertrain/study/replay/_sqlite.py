"""A study folder's trials read straight from its SQLite file: a replay's fast path.

Opening the study through Optuna's RDB storage costs about 0.8 s on the 2-core machine (SQLAlchemy, Alembic's
schema check, table creation), more than replaying a 12-setup grid 100 times over. A finished sweep's trials are a
few hundred rows, so a replay reads Optuna's tables with the standard library instead: only the schema version this
was written for (Optuna's ``version_info.schema_version`` 12) and one study per file; anything else (another schema,
several studies, a read error) returns None and the caller opens the storage through Optuna as before. The file is
opened with ``query_only`` and closed at once (SQLite then removes the write-ahead files it made).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

from powertrain.study.engine.trials import MERGED_FROM, TrialRecord

__all__ = ["SCHEMA_VERSION", "read_sqlite_trials"]

SCHEMA_VERSION = 12  # Optuna's RDB schema this reader knows (Optuna 3.x to 5.x)


def read_sqlite_trials(db: Path) -> tuple[list[TrialRecord], float | None] | None:
    """The trials of the single study in ``db`` and its target accuracy; None when only Optuna can read it."""
    try:
        with closing(sqlite3.connect(str(db), timeout=5.0)) as conn:
            conn.execute("PRAGMA query_only = ON")
            return _read(conn)
    except (sqlite3.Error, ValueError, KeyError, TypeError):
        return None


def _read(conn: sqlite3.Connection) -> tuple[list[TrialRecord], float | None] | None:
    versions = conn.execute("SELECT schema_version FROM version_info").fetchall()
    studies = conn.execute("SELECT study_id FROM studies").fetchall()
    if [v[0] for v in versions] != [SCHEMA_VERSION] or len(studies) != 1:
        return None
    (study_id,) = studies[0]
    described = dict(conn.execute(
        "SELECT key, value_json FROM study_user_attributes WHERE study_id = ?", (study_id,)
    ).fetchall())  # fmt: skip
    config = json.loads(described.get("powertrain:config", "{}")) or {}
    trials = conn.execute("SELECT trial_id, number, state FROM trials WHERE study_id = ?", (study_id,)).fetchall()
    attrs = _by_trial(conn, "SELECT t.trial_id, key, value_json FROM trial_user_attributes t "
                            "JOIN trials USING (trial_id) WHERE study_id = ?", study_id)  # fmt: skip
    system = _by_trial(conn, "SELECT t.trial_id, key, value_json FROM trial_system_attributes t "
                             "JOIN trials USING (trial_id) WHERE study_id = ?", study_id)  # fmt: skip
    params = _params(conn, study_id)
    values: dict[int, list[float]] = defaultdict(list)
    infinite = {"INF_POS": float("inf"), "INF_NEG": float("-inf")}
    for trial_id, value, kind in conn.execute(
        "SELECT v.trial_id, value, value_type FROM trial_values v JOIN trials USING (trial_id) WHERE study_id = ? "
        "ORDER BY v.trial_id, objective", (study_id,)
    ):  # fmt: skip
        values[trial_id].append(infinite[kind] if kind in infinite else float(value))
    records = []
    for trial_id, number, state in trials:
        user = {k: json.loads(v) for k, v in attrs.get(trial_id, {}).items()}
        name = str(state).lower()
        if name == "pruned" and user.get("paused"):
            name = "paused"
        origin = str(json.loads(system.get(trial_id, {}).get(MERGED_FROM, '""')) or "").rpartition("#")[0]
        records.append(TrialRecord(int(number), name, params.get(trial_id, {}), values.get(trial_id), user, origin))
    return records, config.get("target_accuracy")


def _by_trial(conn: sqlite3.Connection, query: str, study_id: int) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for trial_id, key, value in conn.execute(query, (study_id,)):
        out[trial_id][key] = value
    return out


def _params(conn: sqlite3.Connection, study_id: int) -> dict[int, dict[str, Any]]:
    """Each trial's parameters in their external form (a categorical's choice, not its index)."""
    from optuna.distributions import json_to_distribution

    out: dict[int, dict[str, Any]] = defaultdict(dict)
    cache: dict[str, Any] = {}
    rows = conn.execute("SELECT p.trial_id, param_name, param_value, distribution_json FROM trial_params p "
                        "JOIN trials USING (trial_id) WHERE study_id = ? ORDER BY param_id", (study_id,))  # fmt: skip
    for trial_id, name, value, distribution in rows:
        if distribution not in cache:
            cache[distribution] = json_to_distribution(distribution)
        out[trial_id][name] = cache[distribution].to_external_repr(value)
    return out
