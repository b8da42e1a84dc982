"""The X-Ray segment document schema, by type, for validating what the X-Ray emitter sends.

Written from AWS's segment document reference (X-Ray developer guide, "AWS X-Ray segment
documents") and the field types of the OpenTelemetry collector's X-Ray model: strings, numbers
and booleans where X-Ray wants them, and the ``http``, ``aws``, ``sql``, ``cause`` and ``links``
blocks with their own fields. Unknown top-level fields are rejected, so a misspelt one fails.
"""

from __future__ import annotations

from typing import Any

_ID = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
_TRACE_ID = {"type": "string", "pattern": "^1-[0-9a-f]{8}-[0-9a-f]{24}$"}
_STR = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1}

_HTTP = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "request": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "method": _STR, "url": _STR, "user_agent": _STR, "client_ip": _STR,
                "x_forwarded_for": {"type": "boolean"}, "traced": {"type": "boolean"},
            },
        },
        "response": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"status": {"type": "integer"}, "content_length": {"type": "integer"}},
        },
    },
}

_AWS = {
    "type": "object",
    "properties": {
        "account_id": _STR, "operation": _TEXT, "region": _STR, "request_id": _STR, "queue_url": _STR,
        "table_name": _STR, "table_names": {"type": "array", "items": _STR}, "retries": {"type": "integer"},
        "ec2": {"type": "object"}, "ecs": {"type": "object"}, "eks": {"type": "object"},
        "elastic_beanstalk": {"type": "object"}, "xray": {"type": "object"},
    },
}

_SQL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "connection_string": _STR, "url": _STR, "sanitized_query": _STR, "database_type": _TEXT,
        "database_version": _STR, "driver_version": _STR, "user": _STR, "preparation": {"enum": ["statement", "call"]},
    },
}

_CAUSE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "working_directory": _STR,
        "paths": {"type": "array", "items": _STR},
        "exceptions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id"],
                "properties": {
                    "id": _ID, "message": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]},
                    "remote": {"type": "boolean"}, "truncated": {"type": "integer"}, "skipped": {"type": "integer"},
                    "cause": _ID,
                    "stack": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"path": _STR, "line": {"type": "integer"}, "label": _STR},
                    }},
                },
            },
        },
    },
}

_LINKS = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["trace_id", "id"],
        "properties": {"trace_id": _TRACE_ID, "id": _ID, "attributes": {"type": "object"}},
    },
}

_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^?;*()!$~^<>]+$"},
    "id": _ID,
    "trace_id": _TRACE_ID,
    "parent_id": _ID,
    "start_time": {"type": "number"},
    "end_time": {"type": "number"},
    "in_progress": {"type": "boolean"},
    "type": {"const": "subsegment"},
    "namespace": {"enum": ["aws", "remote", "local"]},
    "origin": _STR,
    "user": _STR,
    "resource_arn": _STR,
    "service": {"type": "object", "properties": {"version": _STR}},
    "http": _HTTP,
    "aws": _AWS,
    "sql": _SQL,
    "error": {"type": "boolean"},
    "throttle": {"type": "boolean"},
    "fault": {"type": "boolean"},
    "cause": _CAUSE,
    "annotations": {
        "type": "object",
        "maxProperties": 50,
        "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "metadata": {"type": "object", "additionalProperties": {"type": "object"}},
    "links": _LINKS,
    "precursor_ids": {"type": "array", "items": _ID},
    "traced": {"type": "boolean"},
    "subsegments": {"type": "array", "items": {"$ref": "#/$defs/subsegment"}},
}

SEGMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "id", "trace_id", "start_time"],
    "additionalProperties": False,
    "properties": _FIELDS,
    "$defs": {
        "subsegment": {
            "type": "object",
            "required": ["name", "id", "start_time"],
            "additionalProperties": False,
            "properties": _FIELDS,
        },
    },
}


def validate(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``doc`` is a well-typed segment or subsegment document."""
    import jsonschema

    jsonschema.validate(doc, SEGMENT_SCHEMA, cls=jsonschema.Draft202012Validator)
    if doc.get("type") == "subsegment":  # sent on its own: the fields that place it
        for key in ("trace_id", "parent_id"):
            assert key in doc, key
