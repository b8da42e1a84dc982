"""The published JSON Schema accepts the example and rejects what the parser rejects."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from obskit.slo.schema import schema, schema_json


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the schema (which must itself be a valid draft 2020-12 schema)."""
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema())


def test_schema_accepts_the_example(validator, example: Path) -> None:
    """examples/slo.yaml is valid against the schema."""
    assert list(validator.iter_errors(yaml.safe_load(example.read_text()))) == []


@pytest.mark.parametrize(("path", "value"), [
    (("slos", 0, "objective"), 100), (("slos", 0, "sli", "kind"), "errors"), (("perod",), "30d"),
    (("slos", 1, "sli", "canary"), "c"), (("slos", 0, "sli", "threshold_ms"), 3), (("period",), "36h"),
])
def test_schema_rejects_mistakes(validator, example: Path, path: tuple, value: object) -> None:
    """Out-of-range objectives, unknown kinds and keys, keys of another kind are schema errors."""
    doc = yaml.safe_load(example.read_text())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert list(validator.iter_errors(doc)) != []


def test_shipped_schema_file_is_current(example: Path) -> None:
    """examples/slo.schema.json is what `obskit slo schema` prints today."""
    assert json.loads((example.parent / "slo.schema.json").read_text()) == json.loads(schema_json())
