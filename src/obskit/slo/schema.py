"""The JSON Schema of obskit's SLO file format, for editors (yaml-language-server) and CI.

Imports: the standard library and ``obskit.slo.spec`` (for the key tables, so the schema and the
parser accept the same keys; a test checks both against the example).

The schema catches shape mistakes while typing; ``obskit slo validate`` remains the authority
(reachability, CloudWatch limits, line-located messages).
"""

from __future__ import annotations

import json
from typing import Any

from obskit.slo.spec import KINDS, PROFILES, SEVERITIES, SLI_KEYS

__all__ = ["SCHEMA_ID", "schema", "schema_json"]

SCHEMA_ID = "https://obskit.dev/schemas/slo-v1.json"
_DURATION = {"type": "string", "pattern": r"^[1-9][0-9]*[smhdw]$",
             "description": "A whole number and a unit: s, m, h, d or w (5m, 1h, 1d)."}
_ARN = {"type": "string", "pattern": r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$"}
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "maxLength": 64}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an obskit SLO file, as a dict."""
    target = _obj({"sns_topic_arn": {"oneOf": [_ARN, {"type": "array", "items": _ARN, "minItems": 1,
                                                        "maxItems": 5}],
                                     "description": "SNS topic(s) notified on ALARM and OK."}},
                  ("sns_topic_arn",))
    window = _obj({
        "severity": {"enum": list(SEVERITIES)},
        "long": _DURATION,
        "short": _DURATION,
        "budget_percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100,
                           "description": "Share of the period's error budget this tier lets burn in `long`."},
        "burn_rate": {"type": "number", "exclusiveMinimum": 0},
    }, ("severity", "long", "short"),
        oneOf=[{"required": ["budget_percent"]}, {"required": ["burn_rate"]}])
    alerting_props: dict[str, Any] = {
        "page": {"$ref": "#/$defs/target"},
        "ticket": {"$ref": "#/$defs/target"},
        "runbook_url": {"type": "string", "maxLength": 512},
        "profile": {"enum": list(PROFILES), "description": "Named window set (default: standard)."},
        "windows": {"type": "array", "items": {"$ref": "#/$defs/window"}, "minItems": 1},
        "min_requests": {"type": "integer", "minimum": 0,
                         "description": "Low-traffic guard: windows with fewer events read as burn rate 0."},
        "no_data": {"enum": ["off", "page", "ticket", False],
                    "description": "Add an alarm when the SLI's events stop arriving."},
        "budget_remaining": {"oneOf": [
            _obj({"below_percent": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
                  "severity": {"enum": list(SEVERITIES)}}, ("below_percent",)),
            {"enum": ["off", False]}],
            "description": "Alarm when less than below_percent of the period's error budget is left."},
    }
    slo_alerting = _obj(dict(alerting_props))
    top_alerting = _obj({**alerting_props, "name_prefix": _NAME})
    metric = _obj({
        "namespace": {"type": "string", "maxLength": 255},
        "metric": {"type": "string", "maxLength": 255},
        "dimensions": {"type": "object", "additionalProperties": {"type": ["string", "integer"]},
                       "maxProperties": 30},
        "stat": {"type": "string"},
    }, ("metric",))
    sli_props: dict[str, Any] = {
        "kind": {"enum": list(KINDS)},
        "threshold_ms": {"type": "number", "exclusiveMinimum": 0},
        "metric": {"$ref": "#/$defs/metric"},
        "canary": {"type": "string"},
        "min_bad_events": {"type": "integer", "minimum": 0},
        "schedule": {**_DURATION, "description": "How often the canary runs, in whole minutes (default: 1m)."},
        "bad": {"$ref": "#/$defs/metric"},
        "good": {"$ref": "#/$defs/metric"},
        "total": {"$ref": "#/$defs/metric"},
    }
    variants = []
    for kind, keys in SLI_KEYS.items():
        required = {"latency": ["threshold_ms"], "synthetic": ["canary"], "ratio": ["total"]}.get(kind, [])
        variant: dict[str, Any] = {
            "if": {"properties": {"kind": {"const": kind}}},
            "then": {"propertyNames": {"enum": list(keys)}, "required": ["kind", *required]},
        }
        if kind == "ratio":
            variant["then"]["oneOf"] = [{"required": ["bad"]}, {"required": ["good"]}]
        variants.append(variant)
    sli = {"type": "object", "properties": sli_props, "additionalProperties": False, "required": ["kind"],
           "allOf": variants}
    slo = _obj({
        "name": _NAME,
        "objective": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100,
                      "description": "Target in percent, e.g. 99.9."},
        "sli": {"$ref": "#/$defs/sli"},
        "operation": {"type": "string", "description": "One operation (Operation dimension), e.g. GET /orders/{id}."},
        "description": {"type": "string", "maxLength": 512},
        "alerting": {"$ref": "#/$defs/slo_alerting"},
        "expected_rps": {"type": "number", "minimum": 0},
    }, ("name", "objective", "sli"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "obskit SLO file",
        "description": "A service's SLOs; `obskit slo generate` turns them into CloudWatch burn-rate alarms.",
        **_obj({
            "service": {"type": "string", "minLength": 1, "description": "The Service dimension obskit emits."},
            "namespace": {"type": "string", "maxLength": 255, "description": "CloudWatch namespace (default obskit)."},
            "environment": {"type": "string", "description": "Adds the Environment dimension."},
            "period": {"type": "string", "pattern": r"^[1-9][0-9]*[dw]$", "description": "SLO period (default 30d)."},
            "expected_rps": {"type": "number", "minimum": 0},
            "description": {"type": "string"},
            "alerting": {"$ref": "#/$defs/alerting"},
            "dashboard": _obj({"log_groups": {"type": "array", "items": {"type": "string", "minLength": 1},
                                              "description": "Where the dashboard looks for faulted requests."}}),
            "slos": {"type": "array", "items": {"$ref": "#/$defs/slo"}, "minItems": 1},
        }, ("service", "slos")),
        "$defs": {"target": target, "window": window, "alerting": top_alerting, "slo_alerting": slo_alerting,
                  "metric": metric, "sli": sli, "slo": slo},
    }


def schema_json() -> str:
    """The schema as indented JSON text."""
    return json.dumps(schema(), indent=2) + "\n"
