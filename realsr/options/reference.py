"""The options reference (``docs/options.md``) and the JSON Schema editors use
(``docs/options.schema.json``), generated from the one option schema (:mod:`realsr.options`) and
the degradation keys (:mod:`degradations.config`).

    python -m realsr.options.reference            # rewrite both files
    python -m realsr.options.reference --check    # exit 1 if either is stale (a test runs this)

Editors that speak the YAML language server validate and complete an options file that starts
with ``# yaml-language-server: $schema=../docs/options.schema.json`` (every shipped file does).
"""
from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .. import atomic
from ..schema import fatal_mark
from .model import COMPATIBILITY_ONLY, DatasetOptions, DegradationOptions, Options

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMA_FILE, MARKDOWN_FILE = DOCS / "options.schema.json", DOCS / "options.md"
SCHEMA_HEADER = "# yaml-language-server: $schema=../docs/options.schema.json"


def _schema_of(annotation: Any) -> dict[str, Any]:
    """JSON Schema of one field type, built from the annotation (not pydantic's generator, whose
    output format changes between releases)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"$ref": f"#/$defs/{annotation.__name__}"}
    if origin is typing.Annotated:
        return _schema_of(args[0])
    if origin in (typing.Union, types.UnionType):
        members = [_schema_of(a) for a in args if a is not type(None)]
        if type(None) in args:
            members.append({"type": "null"})
        return members[0] if len(members) == 1 else {"anyOf": members}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1]) if args[1] is not Any else True}
    if annotation is Any:
        return {}
    return {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}}[annotation]


def _model_schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    properties, required = {}, []
    for name, field in model.model_fields.items():
        if name == "degradation":
            continue
        prop = {**_schema_of(field.annotation), "description": field.description}
        if field.is_required():
            required.append(name)
        else:
            default = field.get_default(call_default_factory=True)
            if not isinstance(default, BaseModel):
                prop["default"] = default
        properties[name] = prop
        for inner in _models_in(field.annotation):
            if inner.__name__ not in defs:
                defs[inner.__name__] = {}
                defs[inner.__name__] = _model_schema(inner, defs)
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if model.__doc__ and model.__doc__ != BaseModel.__doc__:
        schema["description"] = " ".join(model.__doc__.split())
    if required:
        schema["required"] = required
    return schema


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a)]


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of an options file, degradation keys included."""
    defs: dict[str, Any] = {}
    schema = _model_schema(Options, defs)
    degradation = _model_schema(DegradationOptions, defs)["properties"]
    schema["properties"].update(degradation)
    defs["DatasetOptions"]["properties"].update(degradation)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "realsr training options",
            **schema, "$defs": dict(sorted(defs.items()))}


def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    text = text.replace("pydantic.types.StrictBool", "bool").replace("Annotated[bool, Strict(strict=True)]", "bool")
    for model in ("DegradationOptions", "IOBackendOptions", "DatasetOptions", "PathOptions", "TrainOptions", "MetricOptions", "ValOptions",
                  "LoggerOptions", "DistOptions"):
        text = text.replace(f"realsr.options.{model}", model)
    return text.replace("<class '", "").replace("'>", "")


def _rows(model: type[BaseModel]) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        if name == "degradation":
            continue
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        if isinstance(field.get_default(call_default_factory=True), BaseModel):
            default = "(section)"
        fatal = fatal_mark(field)
        note = "" if not fatal else (" **Fixed for a run** (a resumed run refuses a change)" if fatal is True else
                                     f" **Fixed for a run:** {', '.join(fatal)}")
        cells = [f"`{name}`", f"`{_type_name(field.annotation)}`", f"`{default}`", str(field.description) + note]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def markdown() -> str:
    """The options reference as Markdown."""
    sections: list[tuple[str, type[BaseModel]]] = [("top level", Options), ("datasets.&lt;phase&gt;", DatasetOptions)]
    for name, field in Options.model_fields.items():
        annotation = typing.get_args(field.annotation) or (field.annotation,)
        for candidate in annotation:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and name != "datasets":
                sections.append((name, candidate))
    sections.append(("datasets.&lt;phase&gt;.io_backend", DatasetOptions.model_fields["io_backend"].annotation))
    sections.append(("val.metrics.&lt;name&gt;", typing.get_args(
        typing.get_args(Options.model_fields["val"].annotation)[0].model_fields["metrics"].annotation)[1]))
    out = ["# Training options", "",
           "Generated from the option schema by `python -m realsr.options.reference`; do not edit by hand.",
           "Unknown keys, wrong types and non-finite numbers stop `train.py` at start-up with the dotted key.", ""]
    for title, model in sections:
        out += [f"## {title}", "", "| key | type | default | description |", "| --- | --- | --- | --- |",
                *_rows(model), ""]
    out += ["## degradation keys", "",
            "At the top level (model-side keys) or under `datasets.train` (kernel keys), as Real-ESRGAN's files "
            "place them.", "", "| key | type | default | description |", "| --- | --- | --- | --- |",
            *_rows(DegradationOptions)]
    out += ["", "## compatibility-only keys", "",
            "Accepted so BasicSR and Real-ESRGAN files load; a value realsr does not honour logs a warning once.", "",
            "| key | honoured values | otherwise |", "| --- | --- | --- |"]
    for key, honoured, what in COMPATIBILITY_ONLY:
        out.append(f"| `{key}` | {', '.join(f'`{v!r}`' for v in honoured)} | {what} |")
    out.append("")
    return "\n".join(out)


def generated() -> dict[Path, str]:
    return {SCHEMA_FILE: json.dumps(json_schema(), indent=1, sort_keys=True, default=str) + "\n",
            MARKDOWN_FILE: markdown()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale, write nothing")
    args = p.parse_args(argv)
    stale = [path for path, text in generated().items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run python -m realsr.options.reference)")
        return 1 if stale else 0
    for path, text in generated().items():
        atomic.write_text(path, text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
