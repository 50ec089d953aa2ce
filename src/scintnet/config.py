"""The one configuration loader: TOML presets and files, dotted overrides, typed dataclass building.

Every configuration of the package (detector, stream, tagging, analysis, training run) is a tree of
dataclasses.  They are all read the same way, here:

* :func:`read_toml` / :func:`preset_text` read the text with a one-line error naming the file;
* :func:`apply_overrides` applies the CLI's ``section.field=value`` strings (TOML values, lists by index);
* :func:`build` turns the parsed dict into the dataclass, checking every field against its annotation
  (numbers are real and finite, integers are integers, strings are strings, tuples have their length,
  nested dataclasses recurse) and naming the field in the error.

Ranges (a radius > 0, a probability in [0, 1]) are physics and stay with each config's own ``validate``;
after :func:`build` every number is finite, so those checks cannot be slipped by a NaN.
Every error is a :class:`ConfigError` (a ``ValueError``), so callers have one thing to catch.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from .errors import ScintnetError

T = TypeVar("T")


class ConfigError(ScintnetError, ValueError):
    """An invalid or unknown configuration; the message names the field or file."""


def _one_line(msg: object, limit: int = 300) -> str:
    s = " ".join(str(msg).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def read_toml(path: str | Path | None = None, text: str | None = None, what: str = "config") -> dict[str, Any]:
    """Parse TOML from ``path`` (or ``text``); a missing file, a folder or bad TOML is one ConfigError."""
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{what} file {str(p)!r} not found")
        if not p.is_file():
            raise ConfigError(f"{what} file {str(p)!r} is not a file")
        try:
            text = p.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {what} file {str(p)!r}: {_one_line(exc)}") from None
    if text is None:
        raise ConfigError(f"no {what} given")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = f" {str(path)!r}" if path is not None else ""
        raise ConfigError(f"invalid TOML in {what}{where}: {_one_line(exc)}") from None


def list_presets(package: str, folder: str) -> list[str]:
    """Names of the ``*.toml`` files shipped in ``package/folder``."""
    files = resources.files(package).joinpath(folder)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def preset_text(package: str, folder: str, name: str, what: str = "preset") -> str:
    """The text of a shipped preset; an unknown name lists the available ones."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ConfigError(f"invalid {what} name {name!r}")
    res = resources.files(package).joinpath(folder, f"{name}.toml")
    if not res.is_file():
        raise ConfigError(f"unknown {what} {name!r}; available: {', '.join(list_presets(package, folder))}")
    return res.read_text()


def parse_value(text: str) -> Any:
    """Parse a command-line override value with TOML syntax (falls back to the bare string)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def _index(node: list, p: str, item: str) -> int:
    try:
        i = int(p)
    except ValueError:
        raise ConfigError(f"override {item!r}: {p!r} is not a list index") from None
    if not 0 <= i < len(node):
        raise ConfigError(f"override {item!r}: index {i} out of range (the list has {len(node)} entries)")
    return i


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides in place to a nested dict (lists addressed by index).

    Only existing fields can be set (a typo is an error, not a silently ignored new key); the value's type
    is checked later by :func:`build`.
    """
    for item in overrides or []:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if any(not p for p in parts):
            raise ConfigError(f"override {item!r}: empty field name")
        node: Any = data
        for p in parts[:-1]:
            if isinstance(node, list):
                node = node[_index(node, p, item)]
            elif isinstance(node, dict) and p in node:
                node = node[p]
            else:
                raise ConfigError(f"override {item!r}: no section {p!r}")
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, item)] = parse_value(value)
        elif isinstance(node, dict) and last in node:
            if isinstance(node[last], (dict, list)) and not isinstance(parse_value(value), type(node[last])):
                kind = "section" if isinstance(node[last], dict) else "list"
                raise ConfigError(f"override {item!r}: {last!r} is a {kind}, set one of its entries")
            node[last] = parse_value(value)
        elif isinstance(node, dict):
            raise ConfigError(f"override {item!r}: no field {last!r} (have: {', '.join(map(str, node))})")
        else:
            raise ConfigError(f"override {item!r}: {parts[-2]!r} is not a section")
    return data


# ----------------------------------------------------------------------------- typed building


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is float:
        return "a finite number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if origin in (tuple, list):
        return "a list"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return str(tp)


def _convert(tp: Any, v: Any, where: str) -> Any:
    """Check ``v`` against the annotation ``tp`` and return it in the dataclass's form (lists → tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return v
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _convert(a, v, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: got {v!r}, expected one of "
                          + " / ".join(_describe(a) for a in inner))
    if tp is bool:
        if not isinstance(v, bool):
            raise ConfigError(f"{where}: expected true or false, got {v!r}")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}: expected an integer, got {v!r}")
        return v
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {v!r}")
        try:
            fv = float(v)
        except OverflowError:  # an integer beyond the float range (TOML integers are unbounded)
            raise ConfigError(f"{where}: expected a finite number, got an integer of {len(str(v))} digits") from None
        if not math.isfinite(fv):
            raise ConfigError(f"{where}: expected a finite number, got {v!r}")
        return fv
    if tp is str:
        if not isinstance(v, str):
            raise ConfigError(f"{where}: expected a string, got {v!r}")
        return v
    if origin in (tuple, list):
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {v!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(v) != len(args):
                raise ConfigError(f"{where}: expected a list of {len(args)} entries, got {len(v)}")
            items = [_convert(a, x, f"{where}[{i}]") for i, (a, x) in enumerate(zip(args, v))]
        else:
            a = args[0] if args else Any
            items = [_convert(a, x, f"{where}[{i}]") for i, x in enumerate(v)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, dict):
            raise ConfigError(f"{where}: expected a table, got {v!r}")
        return build(tp, v, where)
    return v


def build(cls: type[T], data: dict[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from a parsed dict, checking each field against its type annotation.

    Unknown and missing (required) fields, wrong types and non-finite numbers are a :class:`ConfigError`
    naming ``where.field``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown} (have: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: missing field {name!r}")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a __post_init__ check
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {_one_line(exc)}") from None


def require(ok: bool, msg: str) -> None:
    """Raise :class:`ConfigError` with ``msg`` unless ``ok`` (written so that a NaN fails: ``x > 0``)."""
    if not ok:
        raise ConfigError(msg)
