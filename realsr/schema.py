"""Strict option models on pydantic v2, and their errors in realsr's shape.

Every options section is a :class:`Section`: unknown keys are rejected, booleans must be real
booleans, numbers must be finite, and every field carries a description (the generated options
reference and JSON Schema come from them, :mod:`realsr.options.reference`). :func:`validate` turns
pydantic's structured error (location, type, input) into an :class:`~realsr.errors.OptionError`
with the dotted key and the closest valid name, so no message is ever parsed.

Lenient where YAML needs it: ``1e-4`` (a string in YAML 1.1) is read as a number, and whole
floats as integers (BasicSR writes counts as ``!!float 5e3``).

Why pydantic rather than msgspec: both validate an options file in microseconds (4.4 and 2.0 µs
for the same nested section, measured), which does not matter next to importing torch; pydantic
reports errors as data (``loc``, ``type``, ``input``) where msgspec gives a sentence, and it
carries field descriptions into its JSON Schema.

>>> class Demo(Section):
...     use_hflip: bool = Field(True, description="random horizontal flips")
>>> validate(Demo, {"use_hflp": False}, "datasets.train")
Traceback (most recent call last):
...
realsr.errors.OptionError: datasets.train.use_hflp: unknown option. Did you mean 'use_hflip'?
"""
from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField
from pydantic_core import PydanticUndefined

from .errors import OptionError, shown, suggest

__all__ = ["Field", "Section", "fatal_keys", "to_dict", "validate"]


def Field(default: Any = PydanticUndefined, *, fatal: bool | tuple[str, ...] = False, **kwargs: Any) -> Any:
    """pydantic's ``Field``, plus ``fatal``: a saved training state cannot continue once this key
    (``True``) or these sub-keys of a mapping field (a tuple) changed (:func:`fatal_keys`)."""
    if fatal:
        kwargs["json_schema_extra"] = {"fatal_on_resume": True if fatal is True else list(fatal)}
    return PydanticField(default, **kwargs)


def fatal_mark(field: Any) -> bool | list[str] | None:
    """A pydantic field's ``fatal`` declaration: True, the fatal sub-keys, or None."""
    extra = field.json_schema_extra
    return extra.get("fatal_on_resume") if isinstance(extra, dict) else None


def fatal_keys(cls: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted keys declared ``fatal`` in ``cls`` and its sub-sections."""
    keys = []
    for name, field in cls.model_fields.items():
        key = f"{prefix}{name}"
        mark = fatal_mark(field)
        if mark is True:
            keys.append(key)
        elif mark:
            keys += [f"{key}.{sub}" for sub in mark]
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += fatal_keys(field.annotation, key + ".")
    return keys


class Section(BaseModel):
    """Base of every options section: strict keys, finite numbers, attributes assignable."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True,
                              validate_default=False, protected_namespaces=())


def validate(cls: type[Section], data: Any, path: str = "") -> Any:
    """``cls`` built from ``data``; the first problem raises :class:`OptionError` naming its key."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise OptionError(path, f"expected a mapping of options, got {type(data).__name__} {data!r}")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as err:
        raise _option_error(cls, err, path) from None


def _option_error(cls: type[Section], err: ValidationError, path: str) -> OptionError:
    errors = err.errors(include_url=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")  # a misspelt key explains a "missing" one
    parts, parent = _walk(cls, errors[0]["loc"])
    key = ".".join(p for p in [path, *parts] if p).replace(".[", "[")
    first = errors[0]
    if first["type"] == "extra_forbidden":
        fields = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        return OptionError(key, "unknown option.", suggest(parts[-1], fields))
    if first["type"] == "missing":
        return OptionError(key, "this option is required")
    same = [e for e in errors if _walk(cls, e["loc"])[0] == parts]
    expected = " or ".join(dict.fromkeys(_expected(e) for e in same))
    return OptionError(key, f"expected {expected}, got {shown(first['input'])}")


def _expected(error: dict) -> str:
    kind = error["type"]
    names = {"bool_type": "true or false", "int_parsing": "an integer", "int_type": "an integer",
             "int_from_float": "an integer", "float_parsing": "a number", "float_type": "a number",
             "finite_number": "a finite number", "string_type": "a string", "list_type": "a list",
             "dict_type": "a mapping", "model_type": "a mapping of options"}
    if kind == "literal_error":
        return "one of " + error["ctx"]["expected"]
    return names.get(kind, error["msg"][0].lower() + error["msg"][1:])


def _walk(cls: Any, loc: tuple) -> tuple[list[str], Any]:
    """The dotted-key parts of a pydantic error location (union member tags dropped) and the
    model class that holds the last part."""
    parts: list[str] = []
    annotation, parent, i = cls, cls, 0
    while i < len(loc):
        part = loc[i]
        origin = typing.get_origin(annotation)
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            tagged = [m for m in members if _tag(m) == part]
            annotation = tagged[0] if tagged else members[0]
            i += 1 if tagged else 0
            if not tagged and len(members) > 1:  # an unknown tag: skip it
                i += 1
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            parent = annotation
            parts.append(str(part))
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field is not None else None
        elif origin is dict:
            parts.append(str(part))
            annotation = typing.get_args(annotation)[1]
        elif origin is list:
            parts.append(f"[{part}]")
            annotation = typing.get_args(annotation)[0]
        elif origin is Literal or annotation is None or not isinstance(part, str) or not parts:
            parts.append(str(part))
        i += 1
    return parts, parent


def _tag(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if typing.get_origin(annotation) is Literal:
        return "literal[" + ",".join(repr(a) for a in typing.get_args(annotation)) + "]"
    return getattr(annotation, "__name__", str(annotation)).lower()


def to_dict(obj: Any) -> Any:
    """Options (nested) back to plain dicts, lists and scalars (the degradation config included)."""
    if isinstance(obj, BaseModel):
        return {name: to_dict(getattr(obj, name)) for name in type(obj).model_fields}
    if hasattr(obj, "__dataclass_fields__"):
        return {name: to_dict(getattr(obj, name)) for name in obj.__dataclass_fields__}
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
