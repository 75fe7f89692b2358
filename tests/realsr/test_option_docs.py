"""The generated options reference and JSON Schema stay current and agree with the parser."""
from pathlib import Path

import jsonschema
import pytest
import yaml

from realsr.options import DatasetOptions, Options
from realsr.options import reference as option_docs
from realsr.recipes import RECIPES, recipe_path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [recipe_path(name, ROOT) for name in RECIPES]  # a user's own files in options/ are not checked


def test_generated_files_are_current():
    assert option_docs.main(["--check"]) == 0, "run: python -m realsr.options.reference"


def test_every_field_has_a_description():
    def models(cls, seen):
        if cls in seen:
            return
        seen.add(cls)
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"
            for inner in (field.annotation, *getattr(field.annotation, "__args__", ())):
                for candidate in (inner, *getattr(inner, "__args__", ())):
                    if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
                        models(candidate, seen)
    seen = set()
    models(Options, seen)
    assert DatasetOptions in seen and len(seen) >= 8


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_files_name_the_schema_and_validate(path):
    text = path.read_text()
    assert text.splitlines()[0] == option_docs.SCHEMA_HEADER
    jsonschema.validate(yaml.safe_load(text), option_docs.json_schema())


@pytest.mark.parametrize("change", [{"datasets": {"train": {"type": "SyntheticDataset", "use_hflp": True}}},
                                    {"train": {"total_iter": "many", "optim_g": {}}}, {"gt_usm": "yes"},
                                    {"noise_range": [1, "x"]}])
def test_the_schema_rejects_what_the_parser_rejects(change):
    data = yaml.safe_load((ROOT / "options" / "quickstart.yml").read_text())
    data.update(change)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, option_docs.json_schema())


def test_every_shipped_recipe_is_named_in_the_docs():
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    assert [name for name in RECIPES if f"{name}.yml" not in text] == []
