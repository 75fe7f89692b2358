"""The options reference (``docs/options.md``) and the JSON Schema editors use
(``docs/options.schema.json``), generated from the one option schema (:mod:`realsr.options`) and
the degradation keys (:mod:`degradations.config`).

    python -m realsr.option_docs            # rewrite both files
    python -m realsr.option_docs --check    # exit 1 if either is stale (a test runs this)

Editors that speak the YAML language server validate and complete an options file that starts
with ``# yaml-language-server: $schema=../docs/options.schema.json`` (every shipped file does).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from degradations.config import DESCRIPTIONS as DEGRADATION_HELP
from degradations.config import DegradationConfig

from . import atomic
from .options import COMPATIBILITY_ONLY, DatasetOptions, Options

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCHEMA_FILE, MARKDOWN_FILE = DOCS / "options.schema.json", DOCS / "options.md"
SCHEMA_HEADER = "# yaml-language-server: $schema=../docs/options.schema.json"


def _json_type(annotation: Any) -> dict[str, Any]:
    names = {"float": {"type": "number"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
             "str": {"type": "string"}}
    if annotation in names:
        return names[annotation]
    inner = annotation.removeprefix("list[").removesuffix("]")
    return {"type": "array", "items": names[inner]}


def _degradation_properties() -> dict[str, dict[str, Any]]:
    defaults = DegradationConfig()
    return {f.name: {**_json_type(f.type), "description": DEGRADATION_HELP[f.name],
                     "default": getattr(defaults, f.name)} for f in dataclasses.fields(DegradationConfig)}


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of an options file, degradation keys included."""
    schema = Options.model_json_schema()
    schema["properties"].pop("degradation", None)
    schema["properties"].update(_degradation_properties())
    schema["$defs"]["DatasetOptions"]["properties"].update(_degradation_properties())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "realsr training options", **schema}


def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    text = text.replace("pydantic.types.StrictBool", "bool").replace("Annotated[bool, Strict(strict=True)]", "bool")
    for model in ("IOBackendOptions", "DatasetOptions", "PathOptions", "TrainOptions", "MetricOptions", "ValOptions",
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
        cells = [f"`{name}`", f"`{_type_name(field.annotation)}`", f"`{default}`", str(field.description)]
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
           "Generated from the option schema by `python -m realsr.option_docs`; do not edit by hand.",
           "Unknown keys, wrong types and non-finite numbers stop `train.py` at start-up with the dotted key.", ""]
    for title, model in sections:
        out += [f"## {title}", "", "| key | type | default | description |", "| --- | --- | --- | --- |",
                *_rows(model), ""]
    out += ["## degradation keys", "",
            "At the top level (model-side keys) or under `datasets.train` (kernel keys), as Real-ESRGAN's files "
            "place them.", "", "| key | type | default | description |", "| --- | --- | --- | --- |"]
    defaults = DegradationConfig()
    for f in dataclasses.fields(DegradationConfig):
        out.append(f"| `{f.name}` | `{f.type}` | `{getattr(defaults, f.name)!r}` | {DEGRADATION_HELP[f.name].replace('|', '/')} |")
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
            print(f"stale: {path} (run python -m realsr.option_docs)")
        return 1 if stale else 0
    for path, text in generated().items():
        atomic.write_text(path, text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
