"""The CloudWatch EMF specification as a JSON Schema plus the checks a schema cannot express.

Shared by the metrics and EMF emitter tests: every document obskit writes must pass ``assert_emf``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema

from obskit import semconv

_NAME = {"type": "string", "minLength": 1, "maxLength": 255}

EMF_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "additionalProperties": False,
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "LogGroupName": {"type": "string", "minLength": 1},
                "LogStreamName": {"type": "string", "minLength": 1},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {**_NAME, "pattern": "^[^:]"},
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "array", "maxItems": 30, "items": {**_NAME, "pattern": "^[^:]"}},
                            },
                            "Metrics": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": _NAME,
                                        "Unit": {"enum": sorted(semconv.CLOUDWATCH_UNITS)},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

_VALIDATOR = jsonschema.Draft7Validator(EMF_SCHEMA)
_MAX = 2.0**360


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and -_MAX <= x <= _MAX


def assert_emf(doc: dict[str, Any], *, max_bytes: int = 1_048_576 - 26) -> None:
    """Fail unless ``doc`` is an EMF document CloudWatch extracts metrics from."""
    _VALIDATOR.validate(doc)
    assert len(json.dumps(doc, separators=(",", ":")).encode()) <= max_bytes
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        names = [m["Name"] for m in directive["Metrics"]]
        assert len(names) == len(set(names)), "a metric is declared twice"
        for dim_set in directive["Dimensions"]:
            assert len(dim_set) == len(set(dim_set))
            for key in dim_set:
                value = doc.get(key)
                assert isinstance(value, str), f"dimension {key!r} has no string root member"
                assert 1 <= len(value) <= 1024, f"bad length for {key!r}"
                assert value.isascii(), f"non-ASCII value for {key!r}"
                assert value.strip(), f"blank value for {key!r}"
        for name in names:
            value = doc.get(name)
            if isinstance(value, list):
                assert 1 <= len(value) <= 100, f"{name}: {len(value)} values"
                assert all(_number(v) for v in value), name
            else:
                assert _number(value), f"{name}: {value!r} is not a finite number"
            assert name not in {k for s in directive["Dimensions"] for k in s}
