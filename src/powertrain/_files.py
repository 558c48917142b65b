"""Small file helpers shared by run directories, studies and config loaders.

Every file powertrain writes goes through :func:`write_atomic`: a temporary file in the same folder, fsynced, renamed
into place, the folder fsynced, the user's umask applied. A write that fails (read-only folder, full disk, a path
that is a file) is one :class:`~powertrain.errors.OutputError` line; a kill mid-write leaves only a
``.NAME.*.tmp`` file, which :func:`remove_stale_temps` clears on the next run.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from powertrain.errors import ConfigError, OutputError

__all__ = ["check_writable", "json_safe", "read_text", "read_yaml", "remove_stale_temps", "write_atomic"]

_umask_lock = threading.Lock()


def current_umask() -> int:
    """This process's umask (read from /proc where possible: setting it, even back, races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place.

    A reader never sees half a file. The file gets the permissions any new file would (``0o666`` less the umask).
    With ``durable`` the file and then its folder are fsynced, so the file and its name survive a power cut, not
    only a killed process.

    Raises:
        OutputError: The file cannot be written (missing or read-only folder, full disk, a folder in the way).
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
            fh.write(payload)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g. on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def remove_stale_temps(folder: Path, *, name: str | None = None) -> list[Path]:
    """Delete temporary files that a killed :func:`write_atomic` left in ``folder`` (only those of ``name`` if given).

    Call it only where no other process writes at the same time (a locked run directory, a measure's own output).
    Returns the files removed.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP.match(entry.name) or (name is not None and not entry.name.startswith(f".{name}.")):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def check_writable(path: Path, *, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written as a file: refuse a folder, a missing or read-only parent.

    The parent folder is created when missing. Returns ``path``.

    Raises:
        OutputError: One line saying why ``path`` cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name such as {path / 'energy.json'}")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot create folder {parent}: {exc.strerror or exc}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path} is read-only")
    try:  # the real test: can a file be created next to it (what write_atomic will do)?
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot write in {parent}: {exc.strerror or exc}") from None
    return path


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (strict JSON has neither) and keys made strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def read_text(path: str | Path, *, what: str = "file") -> str:
    """The UTF-8 text of ``path``; a missing file, a folder, an unreadable or non-UTF-8 file is a ConfigError line."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` and ``5E4`` as floats (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml_text(text: str) -> Any:
    """Parse YAML text safely, reading scientific notation such as ``1e-3`` as a number."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def read_yaml(path: str | Path, *, what: str = "config file") -> Any:
    """Parse a YAML file safely (``1e-3`` is a float); a missing, unreadable or malformed file is a ConfigError line."""
    path = Path(path)
    text = read_text(path, what=what)
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
