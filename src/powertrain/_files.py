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

__all__ = [
    "check_writable",
    "dump_yaml",
    "json_safe",
    "make_folders",
    "read_text",
    "read_yaml",
    "remove_empty_folders",
    "remove_stale_temps",
    "write_atomic",
]

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


def make_folders(folder: Path, *, what: str = "folder") -> list[Path]:
    """Create ``folder`` and its missing parents; returns those this call created, outermost first.

    A command that fails before it wrote anything removes them again (:func:`remove_empty_folders`), so a command
    that exits 2 leaves nothing behind.

    Raises:
        OutputError: A file is in the way, or the folder cannot be created.
    """
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create the {what} {folder}: a file is in the way") from None
    except OSError as exc:
        raise OutputError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None
    return created


def remove_empty_folders(created: list[Path]) -> None:
    """Remove the folders :func:`make_folders` created, innermost first, as long as they are empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return


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


#: The largest YAML file powertrain reads: configs are kilobytes; a 50 MB file took 44 s to parse before it was refused
MAX_YAML_BYTES = 2 * 1024 * 1024
#: An alias bomb ("billion laughs") expands a few nodes into billions: refuse a document that aliases expand beyond
#: this many times its own nodes (plus a small allowance for ordinary anchors)
MAX_ALIAS_EXPANSION = 10
_ALIAS_ALLOWANCE = 10_000

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: 3-4x faster


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """``yaml.SafeLoader`` that reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` overrides on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeConstructor says so itself
                continue
            if first is not None:
                where = f"line {line}" if first == line else f"lines {first} and {line}"
                raise _DuplicateKey(f"duplicate key {key!r} ({where}); YAML would keep only the last value")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


class _DuplicateKey(yaml.YAMLError):
    """A mapping names one key twice: YAML would silently keep the last value."""


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes text the loader would read as a number (``"1e-3"``, ``"0E0"``)."""


_FLOAT = (
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
_Loader.add_implicit_resolver(*_FLOAT)
_Dumper.add_implicit_resolver(*_FLOAT)


def dump_yaml(data: Any) -> str:
    """YAML text of ``data`` that :func:`load_yaml_text` reads back as it was (keys in their order)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(distinct nodes, nodes once every alias is expanded) of a composed document, in time linear in its nodes."""
    sizes: dict[int, int] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while pending:
        node, children_done = pending.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            sizes[key] = 1 + sum(sizes[id(k)] for k in kids)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _AliasBomb("an alias refers to the node that holds it (a recursive alias)")
        on_path.add(key)
        pending.append((node, True))
        pending.extend((k, False) for k in _children(node) if id(k) not in sizes)
    return len(sizes), sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


class _AliasBomb(yaml.YAMLError):
    """Aliases that expand a small document into a huge one."""


def load_yaml_text(text: str) -> Any:
    """Parse YAML text safely: ``1e-3`` is a number; duplicate keys and alias bombs are refused (``yaml.YAMLError``)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        distinct, expanded = _expanded_size(node)
        if expanded > MAX_ALIAS_EXPANSION * distinct + _ALIAS_ALLOWANCE:
            raise _AliasBomb(
                f"its aliases expand {distinct} nodes into {expanded} (an alias bomb?); powertrain refuses more than "
                f"{MAX_ALIAS_EXPANSION}x"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path, *, what: str = "config file") -> Any:
    """Parse a YAML file safely (``1e-3`` is a float), before any work starts.

    A missing, unreadable, oversized, empty or malformed file, a duplicate key and an alias bomb are a ConfigError
    line.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_text names the problem
    if size > MAX_YAML_BYTES:
        raise ConfigError(
            f"{what} {path} is {size / 2**20:.1f} MiB; powertrain reads YAML files up to {MAX_YAML_BYTES // 2**20} MiB"
        )
    text = read_text(path, what=what)
    try:
        data = load_yaml_text(text)
    except (_DuplicateKey, _AliasBomb) as exc:
        raise ConfigError(f"{what} {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        raise ConfigError(f"{what} {path} is empty; it needs option: value lines (see examples/)")
    return data
