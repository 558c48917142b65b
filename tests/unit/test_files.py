"""Atomic writes: the umask, the folder fsync, no temporary file left behind, one-line errors."""

from __future__ import annotations

import os

import pytest

from powertrain import _files
from powertrain._files import current_umask, remove_stale_temps, write_atomic
from powertrain.errors import OutputError


def test_write_atomic_uses_the_umask_and_fsyncs_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(_files.os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode), real_fsync(fd)))
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        write_atomic(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    assert len(synced) == 2 and any(os.path.stat.S_ISDIR(mode) for mode in synced)  # the file, then its folder
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failed_write_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "fsync", full)
    with pytest.raises(OutputError, match=r"^cannot write .*a\.json: No space left on device$"):
        write_atomic(tmp_path / "a.json", "{}")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="cannot write"):
        write_atomic(tmp_path / "missing" / "a.json", "{}")


def test_temporary_files_of_a_killed_write_are_removed(tmp_path):
    stale = [tmp_path / ".summary.json.k2j4x8a1.tmp", tmp_path / ".energy.json.abc_12345.tmp"]
    keep = [tmp_path / "summary.json", tmp_path / ".hidden", tmp_path / "notes.tmp"]
    for path in stale + keep:
        path.write_text("x")
    assert remove_stale_temps(tmp_path, name="energy.json") == [stale[1]]
    assert sorted(remove_stale_temps(tmp_path)) == [stale[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in keep)
