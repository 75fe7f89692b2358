"""Strict conversion of nested option dicts into dataclasses.

``from_dict(cls, data, path)`` builds ``cls`` from a mapping, checking every key against the
dataclass fields (unknown keys raise :class:`~realsr.errors.OptionError` with the dotted path
and the closest valid name) and every value against the field's annotation. Supported
annotations: ``int``, ``float``, ``bool``, ``str``, ``Any``, ``X | None``, ``list[T]``,
``dict[str, T]``, ``Literal[...]`` and nested dataclasses.

YAML 1.1 reads ``1e-4`` (no dot) as a string; float fields accept such strings, so
``lr: 1e-4`` works as well as BasicSR's ``lr: !!float 1e-4``.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from .errors import OptionError, suggest


def from_dict(cls: type, data: Any, path: str = "", ignore: typing.Collection[str] = ()) -> Any:
    """Build dataclass ``cls`` from ``data``; keys in ``ignore`` are skipped (validated elsewhere)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise OptionError(path, f"expected a mapping of options, got {type(data).__name__} {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields and key not in ignore:
            raise OptionError(_join(path, str(key)), "unknown option.", suggest(key, fields))
    kwargs = {name: coerce(data[name], hints[name], _join(path, name)) for name in fields if name in data}
    missing = [name for name, f in fields.items() if name not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise OptionError(_join(path, missing[0]), "this option is required")
    return cls(**kwargs)


def coerce(value: Any, annotation: Any, path: str) -> Any:
    """Check (and mildly convert: int -> float, numeric strings -> float) one value."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(value, option, path)
            except OptionError as err:
                errors.append(err)
        raise errors[0] if len(errors) == 1 else OptionError(path, f"{value!r} is none of {_names(options)}")
    if origin is Literal:
        if value not in args:
            raise OptionError(path, f"{value!r} is not one of {list(args)}.", suggest(value, map(str, args)))
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise OptionError(path, f"expected a list, got {value!r}")
        return [coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise OptionError(path, f"expected a mapping, got {value!r}")
        return {str(k): coerce(v, args[1], _join(path, str(k))) for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, path)
    return _scalar(value, annotation, path)


def _scalar(value: Any, kind: type, path: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise OptionError(path, f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # BasicSR files write counts as !!float 5e3
        raise OptionError(path, f"expected an integer, got {value!r}")
    if kind is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise OptionError(path, f"expected a number, got {value!r}")
        if not math.isfinite(number):
            raise OptionError(path, f"expected a finite number, got {value!r}")
        return number
    if kind is str:
        if isinstance(value, str):
            return value
        raise OptionError(path, f"expected a string, got {value!r}")
    raise TypeError(f"unsupported annotation {kind!r} at {path}")


def to_dict(obj: Any) -> Any:
    """Dataclasses (nested) back to plain dicts, lists and scalars."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _names(options: list) -> str:
    return " or ".join(getattr(o, "__name__", str(o)) for o in options)
