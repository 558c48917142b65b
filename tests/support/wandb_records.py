"""Read back a W&B offline run file (``run-<id>.wandb``) with W&B's own record type.

The file is W&B's transaction log: a 7-byte header (``:W&B``, magic, version), then 32 KiB blocks of LevelDB-log
records (a 7-byte header: checksum, length, type FULL/FIRST/MIDDLE/LAST), each payload a protobuf
``wandb.proto.wandb_internal_pb2.Record``. wandb 0.31 no longer ships a Python reader, so this is the small one the
tests use; the record type itself is W&B's.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_for

__all__ = ["OfflineRun", "finished_offline_run", "read_offline_run"]

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What one offline run file holds."""

    run_id: str = ""
    project: str = ""
    group: str = ""
    name: str = ""
    job_type: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    exit_code: int | None = None


def _payloads(data: bytes) -> list[bytes]:
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file")
    out: list[bytes] = []
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            out.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            out.append(pending + chunk)
    return out


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_offline_run(path: Path) -> OfflineRun:
    """Parse ``run-<id>.wandb``: run identity, config, every history row, summary updates, saved files, exit."""
    from wandb.proto import wandb_internal_pb2 as pb

    run = OfflineRun()
    for payload in _payloads(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.project, run.group, run.name, run.job_type = (
                r.run_id, r.project, r.run_group, r.display_name, r.job_type)  # fmt: skip
            run.config.update({item.key: _value(item.value_json) for item in r.config.update})
        elif kind == "config":
            run.config.update({item.key: _value(item.value_json) for item in record.config.update})
        elif kind == "history":
            run.history.append({_key(item): _value(item.value_json) for item in record.history.item if _key(item)})
        elif kind == "summary":
            run.summary.update({_key(item): _value(item.value_json) for item in record.summary.update if _key(item)})
        elif kind == "files":
            run.files.extend(f.path for f in record.files.files)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def finished_offline_run(folder: Path, run_id: str) -> tuple[Path, OfflineRun]:
    """The offline run file of ``run_id`` under ``folder/wandb`` once it holds the run's exit record.

    W&B's service process writes the file after ``run.finish()`` returns, so this waits for that condition (with the
    suite's deadline for conditions, :data:`tests.support.waiting.DEADLINE_S`: a busy machine makes it slower, not
    absent). W&B names the folder by the second and the id, and adds ``-1``, ``-2`` ... when a folder of that name
    exists already (two attempts of one run within a second).
    """
    found: list[tuple[Path, OfflineRun]] = []

    def finished() -> bool:
        for path in sorted(folder.glob(f"wandb/offline-run-*-{run_id}*/run-{run_id}.wandb")):
            run = read_offline_run(path)
            if run.exit_code is not None:
                found.append((path, run))
                return True
        return False

    wait_for(finished, f"a finished W&B offline run {run_id} under {folder}")
    return found[-1]
