"""Render an ``AlarmSet`` as CloudFormation (YAML or JSON), Terraform JSON, or CloudWatch API calls.

Imports: the standard library and ``obskit.slo.alarms``. The YAML writer is our own: the documents
are plain maps, lists and scalars, and writing them directly is many times faster than PyYAML's
pure-Python emitter (1,000 SLOs are about 14,000 alarms).

Renderers only translate; every limit was checked when the set was built. Composite rules refer
to their children through template references (``Fn::Sub`` on the child's ``Ref``, Terraform
interpolation), so each tool creates children before the composites that read them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from obskit.slo.alarms import AlarmSet, CompositeAlarm, MetricAlarm, MetricQuery, generator_version

__all__ = ["FORMATS", "render", "to_api", "to_cloudformation", "to_terraform"]

FORMATS = ("cloudformation", "cloudformation-json", "terraform")
CFN_MAX_RESOURCES = 500


# --- CloudWatch API shapes (what apply sends, what the tests replay) ----------------------------
def _api_query(q: MetricQuery) -> dict[str, Any]:
    if q.expression is not None:
        out: dict[str, Any] = {"Id": q.id, "Expression": q.expression}
        if q.label:
            out["Label"] = q.label
    else:
        out = {"Id": q.id, "MetricStat": {
            "Metric": {"Namespace": q.namespace, "MetricName": q.metric,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions]},
            "Period": q.period, "Stat": q.stat,
        }}
    out["ReturnData"] = q.return_data
    return out


def _tags(tags: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def metric_alarm_params(a: MetricAlarm) -> dict[str, Any]:
    """The ``PutMetricAlarm`` arguments for ``a``."""
    return {
        "AlarmName": a.name,
        "AlarmDescription": a.description,
        "ActionsEnabled": a.actions_enabled,
        "AlarmActions": list(a.alarm_actions),
        "OKActions": list(a.ok_actions),
        "InsufficientDataActions": [],
        "ComparisonOperator": a.comparison,
        "EvaluationPeriods": a.evaluation_periods,
        "DatapointsToAlarm": a.datapoints_to_alarm,
        "Threshold": float(a.threshold),
        "TreatMissingData": a.treat_missing_data,
        "Metrics": [_api_query(q) for q in a.queries],
        "Tags": _tags(a.tags),
    }


def composite_alarm_params(c: CompositeAlarm) -> dict[str, Any]:
    """The ``PutCompositeAlarm`` arguments for ``c``."""
    out: dict[str, Any] = {
        "AlarmName": c.name,
        "AlarmDescription": c.description,
        "AlarmRule": c.rule_text(),
        "ActionsEnabled": True,
        "AlarmActions": list(c.alarm_actions),
        "OKActions": list(c.ok_actions),
        "InsufficientDataActions": [],
    }
    if c.suppressor is not None:
        out["ActionsSuppressor"] = c.suppressor
        out["ActionsSuppressorWaitPeriod"] = c.suppressor_wait_s
        out["ActionsSuppressorExtensionPeriod"] = c.suppressor_extension_s
    out["Tags"] = _tags(c.tags)
    return out


def to_api(alarm_set: AlarmSet) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``PutMetricAlarm`` then ``PutCompositeAlarm`` arguments, in the order they must be sent."""
    return ([metric_alarm_params(a) for a in alarm_set.metric_alarms],
            [composite_alarm_params(c) for c in alarm_set.composite_alarms])


# --- resource ids ----------------------------------------------------------------------------
def _unique_ids(alarm_set: AlarmSet, make: Callable[[str], str]) -> dict[str, str]:
    """A template id per alarm name; a short hash of the name settles the rare collision."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    strip = len(alarm_set.config.name_prefix) + 1
    for name in (*(a.name for a in alarm_set.metric_alarms), *(c.name for c in alarm_set.composite_alarms)):
        ident = make(name[strip:])
        if ident in used:
            ident = make(f"{name[strip:]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}")
        used.add(ident)
        ids[name] = ident
    return ids


def _camel(text: str) -> str:
    ident = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", text) if p)
    return ("Alarm" + ident)[:255] if not ident[:1].isalpha() else ident[:255]


def _snake(text: str) -> str:
    ident = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return ident if ident[:1].isalpha() else "slo_" + ident


# --- CloudFormation --------------------------------------------------------------------------
def _cfn_template(alarm_set: AlarmSet, *, dashboard: bool = False) -> dict[str, Any]:
    config = alarm_set.config
    ids = _unique_ids(alarm_set, _camel)
    resources: dict[str, Any] = {}
    for a in alarm_set.metric_alarms:
        props: dict[str, Any] = {
            "AlarmName": a.name,
            "AlarmDescription": a.description,
            "ActionsEnabled": a.actions_enabled,
        }
        if a.alarm_actions:
            props["AlarmActions"] = list(a.alarm_actions)
            props["OKActions"] = list(a.ok_actions)
        props.update({
            "ComparisonOperator": a.comparison,
            "EvaluationPeriods": a.evaluation_periods,
            "DatapointsToAlarm": a.datapoints_to_alarm,
            "Threshold": a.threshold,
            "TreatMissingData": a.treat_missing_data,
            "Metrics": [_api_query(q) for q in a.queries],
            "Tags": _tags(a.tags),
        })
        resources[ids[a.name]] = {"Type": "AWS::CloudWatch::Alarm", "Properties": props}
    for c in alarm_set.composite_alarms:
        props = {
            "AlarmName": c.name,
            "AlarmDescription": c.description,
            "AlarmRule": {"Fn::Sub": c.rule_text(lambda n: "${" + ids[n] + "}")},
            "ActionsEnabled": True,
        }
        if c.alarm_actions:
            props["AlarmActions"] = list(c.alarm_actions)
            props["OKActions"] = list(c.ok_actions)
        if c.suppressor is not None:
            props["ActionsSuppressor"] = {"Ref": ids[c.suppressor]}
            props["ActionsSuppressorWaitPeriod"] = c.suppressor_wait_s
            props["ActionsSuppressorExtensionPeriod"] = c.suppressor_extension_s
        props["Tags"] = _tags(c.tags)
        resources[ids[c.name]] = {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": props}
    if dashboard:
        from obskit.slo.dashboard import cloudformation_resource

        resources["SLODashboard" if "SLODashboard" not in resources else "ObskitSLODashboard"] = (
            cloudformation_resource(alarm_set, ids))
    env = f" ({config.environment})" if config.environment else ""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (f"SLO burn-rate alarms of {config.service}{env}, generated by obskit "
                        f"{generator_version()} from {config.file}; regenerate instead of editing.")[:1024],
        "Resources": resources,
    }


def to_cloudformation(alarm_set: AlarmSet, *, fmt: str = "yaml", dashboard: bool = False) -> str:
    """A CloudFormation template (``fmt`` ``"yaml"`` or ``"json"``) with every alarm of the set.

    ``dashboard`` adds the service's ``AWS::CloudWatch::Dashboard`` (``obskit.slo.dashboard``).
    """
    template = _cfn_template(alarm_set, dashboard=dashboard)
    if fmt == "json":
        return json.dumps(template, indent=2) + "\n"
    return dump_yaml(template)


# --- Terraform JSON --------------------------------------------------------------------------
def _tf(text: str) -> str:
    """Escape Terraform template sequences in a literal string."""
    return text.replace("${", "$${").replace("%{", "%%{")


def _tf_query(q: MetricQuery) -> dict[str, Any]:
    if q.expression is not None:
        out: dict[str, Any] = {"id": q.id, "expression": _tf(q.expression)}
        if q.label:
            out["label"] = _tf(q.label)
        out["return_data"] = q.return_data
        return out
    return {"id": q.id, "return_data": q.return_data, "metric": {
        "namespace": _tf(q.namespace or ""), "metric_name": _tf(q.metric or ""),
        "dimensions": {_tf(k): _tf(v) for k, v in q.dimensions},
        "period": q.period, "stat": _tf(q.stat or ""),
    }}


def to_terraform(alarm_set: AlarmSet, *, dashboard: bool = False) -> str:
    """Terraform JSON (``*.tf.json``) with ``aws_cloudwatch_metric_alarm`` and ``..._composite_alarm``.

    ``dashboard`` adds the service's ``aws_cloudwatch_dashboard`` (``obskit.slo.dashboard``).
    """
    ids = _unique_ids(alarm_set, _snake)
    metric: dict[str, Any] = {}
    for a in alarm_set.metric_alarms:
        metric[ids[a.name]] = {
            "alarm_name": _tf(a.name),
            "alarm_description": _tf(a.description),
            "actions_enabled": a.actions_enabled,
            "alarm_actions": [_tf(x) for x in a.alarm_actions],
            "ok_actions": [_tf(x) for x in a.ok_actions],
            "comparison_operator": a.comparison,
            "evaluation_periods": a.evaluation_periods,
            "datapoints_to_alarm": a.datapoints_to_alarm,
            "threshold": a.threshold,
            "treat_missing_data": a.treat_missing_data,
            "metric_query": [_tf_query(q) for q in a.queries],
            "tags": {_tf(k): _tf(v) for k, v in a.tags},
        }
    composite: dict[str, Any] = {}
    kind = dict.fromkeys((a.name for a in alarm_set.metric_alarms), "aws_cloudwatch_metric_alarm")
    for c in alarm_set.composite_alarms:
        body: dict[str, Any] = {
            "alarm_name": _tf(c.name),
            "alarm_description": _tf(c.description),
            "alarm_rule": c.rule_text(lambda n: "${" + f"{kind[n]}.{ids[n]}.alarm_name" + "}"),
            "actions_enabled": True,
            "alarm_actions": [_tf(x) for x in c.alarm_actions],
            "ok_actions": [_tf(x) for x in c.ok_actions],
        }
        if c.suppressor is not None:
            body["actions_suppressor"] = {
                "alarm": "${aws_cloudwatch_composite_alarm." + ids[c.suppressor] + ".alarm_name}",
                "wait_period": c.suppressor_wait_s,
                "extension_period": c.suppressor_extension_s,
            }
        body["tags"] = {_tf(k): _tf(v) for k, v in c.tags}
        composite[ids[c.name]] = body
    doc: dict[str, Any] = {
        "//": f"SLO burn-rate alarms of {alarm_set.config.service}, generated by obskit {generator_version()}",
        "resource": {},
    }
    if metric:
        doc["resource"]["aws_cloudwatch_metric_alarm"] = metric
    if composite:
        doc["resource"]["aws_cloudwatch_composite_alarm"] = composite
    if dashboard:
        from obskit.slo.dashboard import terraform_resource

        kinds = {**kind, **dict.fromkeys((c.name for c in alarm_set.composite_alarms),
                                         "aws_cloudwatch_composite_alarm")}
        addresses = {n: f"{kinds[n]}.{ids[n]}" for n in kinds}
        doc["resource"]["aws_cloudwatch_dashboard"] = {"slo": terraform_resource(alarm_set, addresses)}
    return json.dumps(doc, indent=2) + "\n"


def render(alarm_set: AlarmSet, fmt: str, *, dashboard: bool = False) -> str:
    """Render in one of ``FORMATS``; ``dashboard`` adds the service's CloudWatch dashboard."""
    if fmt == "cloudformation":
        return to_cloudformation(alarm_set, fmt="yaml", dashboard=dashboard)
    if fmt == "cloudformation-json":
        return to_cloudformation(alarm_set, fmt="json", dashboard=dashboard)
    if fmt == "terraform":
        return to_terraform(alarm_set, dashboard=dashboard)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


# --- a small block-style YAML writer ---------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")  # fullmatch: `$` would pass a final newline
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*(::[A-Za-z0-9_.-]+)*")
# C1 controls, line/paragraph separators, BOM, surrogates and non-characters: escaped, never raw.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})


_STR_CACHE: dict[str, str] = {}
_KEY_CACHE: dict[str, str] = {}


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    text = str(value)
    done = _STR_CACHE.get(text)
    if done is None:
        done = text if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED else _quote(text)
        if len(_STR_CACHE) < 10_000:  # names, dimensions and ids repeat; descriptions mostly do not
            _STR_CACHE[text] = done
    return done


def _quote(text: str) -> str:
    """A YAML double-quoted scalar: JSON escapes, plus the characters YAML may not hold raw."""
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _key(key: str) -> str:
    done = _KEY_CACHE.get(key)
    if done is None:
        done = key if _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED else _quote(key)
        if len(_KEY_CACHE) < 10_000:
            _KEY_CACHE[key] = done
    return done


def _emit(obj: Any, pad: str, out: list[str]) -> None:
    append = out.append
    if type(obj) is dict:
        for k, v in obj.items():
            kind = type(v)
            if kind is dict or kind is list:
                if v:
                    append(f"{pad}{_key(k)}:")
                    _emit(v, pad + "  ", out)
                else:
                    append(f"{pad}{_key(k)}: {'{}' if kind is dict else '[]'}")
            else:
                append(f"{pad}{_key(k)}: {_scalar(v)}")
        return
    inner = pad + "  "
    cut = len(inner)
    for item in obj:
        kind = type(item)
        if (kind is dict or kind is list) and item:
            start = len(out)
            _emit(item, inner, out)
            out[start] = f"{pad}- {out[start][cut:]}"
        elif kind is dict or kind is list:
            append(f"{pad}- {'{}' if kind is dict else '[]'}")
        else:
            append(f"{pad}- {_scalar(item)}")


def dump_yaml(obj: dict[str, Any]) -> str:
    """Block-style YAML for a tree of dicts, lists and JSON scalars (strings quoted when needed)."""
    out: list[str] = []
    _emit(obj, "", out)
    return "\n".join(out) + "\n"
