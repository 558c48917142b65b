"""Command-line flags generated from a config dataclass, so that every field has one and they cannot drift apart.

:func:`config_flags` turns each field of a dataclass (``TrainConfig``) into a typer option named after it
(``eval_batch_size`` -> ``--eval-batch-size``), with a parser chosen from the field's type:

=====================  ==================================================================================
field type             flag
=====================  ==================================================================================
``bool``               ``--augment/--no-augment``
``int``, ``float``     ``--epochs 3``; a bad value is click's "Invalid value for '--epochs'" (exit 2)
``str``, ``Literal``   ``--optimizer adam`` (the choices are in the help; the config validates them)
``X | None``           as ``X``; ``none`` (or ``null``) sets the field to None
``list[X]``            ``--gpu-indices 0,1`` or YAML ``[0, 1]``
``dict[str, X]``       repeatable ``--model-options KEY=VALUE`` (the value read as YAML: ``3``, ``true``,
                       ``[1, 2]``); merged into the dict from the config file
anything else          the value read as YAML
=====================  ==================================================================================

:func:`with_flags` gives a command function the generated options after its own parameters; the command
receives the flags the user gave (and only those) as one dict, which :func:`apply_flags` lays over a config.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer

__all__ = ["ConfigFlag", "apply_flags", "config_flags", "with_flags"]

_NONE_WORDS = ("none", "null")


class _Null:
    """Marks "the user set this field to None" (None itself means "flag not given")."""

    def __repr__(self) -> str:
        return "none"


NULL = _Null()


@dataclass(frozen=True)
class ConfigFlag:
    """One generated option: the field it sets, its option names, and how its values are read."""

    field: str
    decls: tuple[str, ...]
    kind: str  # "bool", "dict" or "value"
    parse: Callable[[str], Any]
    help: str
    metavar: str = "VALUE"

    @property
    def flag(self) -> str:
        """The primary option name (``--eval-batch-size``)."""
        return self.decls[0].split("/")[0]


def config_flags(
    cls: type, *, aliases: dict[str, tuple[str, ...]] | None = None, helps: dict[str, str] | None = None
) -> list[ConfigFlag]:
    """One :class:`ConfigFlag` per field of the dataclass ``cls``.

    Args:
        cls: The config dataclass (string annotations are resolved in its module).
        aliases: Extra option names per field (``{"out": ("-o",)}``).
        helps: Help text per field; otherwise the field's entry in the class docstring's ``Attributes``.
    """
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs(cls.__doc__ or "")
    flags = []
    for f in dataclasses.fields(cls):
        tp, optional = _strip_optional(hints[f.name])
        name = "--" + f.name.replace("_", "-")
        extra = tuple((aliases or {}).get(f.name, ()))
        text = (helps or {}).get(f.name) or docs.get(f.name) or f.name.replace("_", " ").capitalize() + "."
        default = _default_text(f)
        if tp is bool:
            flags.append(ConfigFlag(f.name, (f"{name}/--no-{name[2:]}", *extra), "bool", bool, f"{text} {default}"))
            continue
        if get_origin(tp) is dict:
            value_type = (get_args(tp) or (str, Any))[1]
            parse = _key_value_parser(f.name, value_type)
            hint = f"{text} KEY=VALUE, repeatable; merged into the config file's {f.name}."
            flags.append(ConfigFlag(f.name, (name, *extra), "dict", parse, hint))
            continue
        parse = _value_parser(tp, optional)
        choices = _choices(tp)
        if choices:
            text += f" One of: {', '.join(map(str, choices))}."
        if optional:
            text += " 'none' unsets it."
        flags.append(ConfigFlag(f.name, (name, *extra), "value", parse, f"{text} {default}", _metavar(tp)))
    return flags


def with_flags(flags: list[ConfigFlag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``fn(own params..., *, flags: dict)``: typer sees its own parameters plus one per config flag.

    The wrapper calls ``fn`` with ``flags={field: value}`` holding only the options the user gave
    (:data:`NULL` for an explicit ``none``; a list of ``(key, value)`` pairs for dict fields).
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "flags"]
        by_name = {flag.field: flag for flag in flags}
        clash = sorted(set(by_name) & {p.name for p in own})
        if clash:
            raise TypeError(f"config fields clash with the command's own parameters: {clash}")

        def command(**kwargs: Any) -> Any:
            given = {k: v for k, v in kwargs.items() if k in by_name and v not in (None, [], ())}
            return fn(**{k: v for k, v in kwargs.items() if k not in by_name}, flags=given)

        params = list(own)
        for flag in flags:
            if flag.kind == "bool":
                annotation: Any = Annotated[bool | None, typer.Option(*flag.decls, help=flag.help)]
            elif flag.kind == "dict":
                annotation = Annotated[
                    list[str] | None, typer.Option(*flag.decls, help=flag.help, metavar="KEY=VALUE", parser=flag.parse)
                ]
            else:
                annotation = Annotated[
                    str | None, typer.Option(*flag.decls, help=flag.help, metavar=flag.metavar, parser=flag.parse)
                ]
            params.append(inspect.Parameter(flag.field, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=annotation))  # fmt: skip
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__name__, command.__doc__ = fn.__name__, fn.__doc__
        command.__wrapped_command__ = fn  # type: ignore[attr-defined]
        return command

    return decorate


def apply_flags(config: Any, flags: dict[str, Any]) -> Any:
    """A copy of the dataclass ``config`` with the given ``flags`` laid over it (dict fields merged)."""
    changes: dict[str, Any] = {}
    for name, value in flags.items():
        if value is NULL:
            changes[name] = None
        elif isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            merged = dict(getattr(config, name) or {})
            merged.update(value)
            changes[name] = merged
        else:
            changes[name] = value
    return dataclasses.replace(config, **changes)


# -- parsers ---------------------------------------------------------------------------------------------------
def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) < len(get_args(tp)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True  # noqa: UP007
    return tp, False


def _choices(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) is Literal else ()


def _metavar(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "[" + "|".join(map(str, get_args(tp))) + "]"
    if get_origin(tp) in (list, tuple, set, frozenset):
        return _metavar((get_args(tp) or (str,))[0]) + ",..."
    return {int: "INT", float: "FLOAT", str: "TEXT"}.get(tp, "VALUE")


def _scalar(tp: Any) -> Callable[[str], Any]:
    if tp is bool:
        return _parse_bool
    if tp is int:
        return _parse_int
    if tp is float:
        return _parse_float
    if tp is str or get_origin(tp) is Literal:
        return str
    return _parse_yaml


def _value_parser(tp: Any, optional: bool) -> Callable[[str], Any]:
    if get_origin(tp) in (list, tuple, set, frozenset):
        item = _scalar((get_args(tp) or (str,))[0])
        container = get_origin(tp)

        def parse(text: str) -> Any:
            text = text.strip()
            if text.startswith("["):
                values = _parse_yaml(text)
                if not isinstance(values, list):
                    raise ValueError(f"{text!r} is not a list")
                return container(values)
            return container(item(part.strip()) for part in text.split(",") if part.strip())

        base = parse
    else:
        base = _scalar(tp)

    def parse_value(text: str) -> Any:
        if isinstance(text, (_Null, list, tuple)) or not isinstance(text, str):
            return text  # already parsed (click calls the parser on defaults too)
        if optional and text.strip().lower() in _NONE_WORDS:
            return NULL
        return base(text)

    parse_value.__name__ = getattr(base, "__name__", "value")
    return parse_value


def _key_value_parser(field: str, value_type: Any) -> Callable[[str], Any]:
    value_parse = _scalar(value_type) if value_type is not Any else _parse_yaml

    def parse(text: str) -> Any:
        if isinstance(text, tuple):
            return text
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{text!r} is not KEY=VALUE")
        return key.strip(), value_parse(value.strip())

    parse.__name__ = "KEY=VALUE"
    return parse


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _parse_bool(text: str) -> bool:
    value = _parse_yaml(text)
    if not isinstance(value, bool):
        raise ValueError(f"{text!r} is not true or false")
    return value


def _parse_yaml(text: str) -> Any:
    import yaml

    from powertrain._files import load_yaml_text

    try:
        return load_yaml_text(text)  # the loader of config files: 1e-3 is a number, alias bombs are refused
    except yaml.YAMLError:
        return text


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return f"[default: {'none' if f.default is None else f.default}]"
    return ""


def _attribute_docs(doc: str) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Attributes:`` section, continuation lines joined."""
    out: dict[str, str] = {}
    section = re.search(r"^\s*Attributes:\s*$(.*?)(?:^\s*\w[\w ]*:\s*$|\Z)", doc, re.M | re.S)
    if not section:
        return out
    current, indent = None, 0
    for line in section.group(1).splitlines():
        m = re.match(r"^\s{4,8}(\w+):\s*(.*)$", line)
        if m and (current is None or len(line) - len(line.lstrip()) <= indent):
            current, indent = m.group(1), len(line) - len(line.lstrip())
            out[current] = m.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return {k: v.replace("``", "") for k, v in out.items()}
