"""Rendering the alarm set: CloudFormation through cfn-lint, Terraform's attribute names, API calls."""

from __future__ import annotations

import json

import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from hypothesis import example, given
from hypothesis import strategies as st

from obskit.slo.alarms import build
from obskit.slo.render import dump_yaml, render, to_api, to_cloudformation, to_terraform
from obskit.slo.spec import load

EDGE_CASES = """\
service: "checkout api/v2"
namespace: Shop/HTTP
environment: "yes"
period: 28d
alerting:
  page: {sns_topic_arn: ["arn:aws:sns:eu-west-1:111111111111:page", "arn:aws:sns:eu-west-1:111111111111:p2"]}
  ticket: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}
  runbook_url: "https://wiki.example.com/a?b=${x}&c=%{y}"
  no_data: page
  min_requests: 20
slos:
  - name: latency.p99
    objective: 99.5
    operation: "GET /orders/{order_id}: \\"quoted\\" ünïcode"
    sli: {kind: latency, threshold_ms: 250.5}
    alerting: {profile: slow-burn}
  - name: good_ratio
    objective: 99
    sli:
      kind: ratio
      good: {namespace: Other, metric: Ok, dimensions: {Queue: "orders"}, stat: Sum}
      total: {namespace: Other, metric: All, dimensions: {Queue: "orders"}}
  - name: canary
    objective: 99.95
    sli: {kind: synthetic, canary: c-1}
    alerting:
      windows:
        - {severity: ticket, long: 3d, short: 6h, burn_rate: 1}
        - {severity: ticket, long: 1d, short: 2h, budget_percent: 10}
"""

TF_METRIC_ALARM = {"alarm_name", "comparison_operator", "evaluation_periods", "metric_name", "namespace", "period",
                   "statistic", "threshold", "threshold_metric_id", "actions_enabled", "alarm_actions",
                   "alarm_description", "datapoints_to_alarm", "dimensions", "insufficient_data_actions",
                   "ok_actions", "unit", "extended_statistic", "treat_missing_data",
                   "evaluate_low_sample_count_percentiles", "metric_query", "tags"}
TF_METRIC_QUERY = {"id", "account_id", "expression", "label", "metric", "period", "return_data"}
TF_METRIC = {"dimensions", "metric_name", "namespace", "period", "stat", "unit"}
TF_COMPOSITE = {"actions_enabled", "actions_suppressor", "alarm_actions", "alarm_description", "alarm_name",
                "alarm_rule", "insufficient_data_actions", "ok_actions", "tags"}
TF_SUPPRESSOR = {"alarm", "extension_period", "wait_period"}


def _edge_set(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text(EDGE_CASES, encoding="utf-8")
    return build(load(path))


def test_cfn_lint_passes_every_generated_template(example, tmp_path) -> None:
    """cfn-lint reports nothing for the example (YAML and JSON) and an edge-case file."""
    example_set, edge = build(load(example)), _edge_set(tmp_path)
    templates = {
        "example.yaml": to_cloudformation(example_set),
        "example.json": to_cloudformation(example_set, fmt="json"),
        "edge.yaml": to_cloudformation(edge),
    }
    findings = {name: [str(m) for m in lint(text, config=ManualArgs(regions=["eu-west-1"]))]
                for name, text in templates.items()}
    assert findings == {"example.yaml": [], "example.json": [], "edge.yaml": []}


def test_cfn_lint_would_catch_a_broken_template(example) -> None:
    """The lint above can fail: a query id CloudWatch refuses is reported (guards the test itself)."""
    text = to_cloudformation(build(load(example))).replace("Id: bad", "Id: Bad", 1)
    assert [m.rule.id for m in lint(text, config=ManualArgs(regions=["eu-west-1"]))] == ["E3031"]


def test_yaml_and_json_templates_agree(tmp_path) -> None:
    """The YAML template parses to exactly the JSON template."""
    edge = _edge_set(tmp_path)
    assert yaml.safe_load(to_cloudformation(edge)) == json.loads(to_cloudformation(edge, fmt="json"))


def test_composite_rule_references_children(example) -> None:
    """Composite rules use Fn::Sub on the children's logical ids, so CloudFormation orders them."""
    template = json.loads(to_cloudformation(build(load(example)), fmt="json"))
    resources = template["Resources"]
    page = resources["CheckoutApiAvailabilityPage"]["Properties"]
    assert page["AlarmRule"] == {"Fn::Sub": '(ALARM("${CheckoutApiAvailabilityPage1h}") AND '
                                            'ALARM("${CheckoutApiAvailabilityPage5m}")) OR '
                                            '(ALARM("${CheckoutApiAvailabilityPage6h}") AND '
                                            'ALARM("${CheckoutApiAvailabilityPage30m}"))'}
    ticket = resources["CheckoutApiAvailabilityTicket"]["Properties"]
    assert ticket["ActionsSuppressor"] == {"Ref": "CheckoutApiAvailabilityPage"}
    assert resources["CheckoutApiAvailabilityPage1h"]["Type"] == "AWS::CloudWatch::Alarm"
    assert resources["CheckoutApiAvailabilityPage"]["Type"] == "AWS::CloudWatch::CompositeAlarm"


def test_terraform_uses_the_provider_attribute_names(tmp_path) -> None:
    """Every Terraform attribute is one the AWS provider defines for its resource or block."""
    doc = json.loads(to_terraform(_edge_set(tmp_path)))
    metric = doc["resource"]["aws_cloudwatch_metric_alarm"]
    composite = doc["resource"]["aws_cloudwatch_composite_alarm"]
    for body in metric.values():
        assert set(body) <= TF_METRIC_ALARM
        assert {"alarm_name", "comparison_operator", "evaluation_periods"} <= set(body)
        for q in body["metric_query"]:
            assert set(q) <= TF_METRIC_QUERY
            assert set(q.get("metric", {})) <= TF_METRIC
    for body in composite.values():
        assert set(body) <= TF_COMPOSITE
        assert set(body.get("actions_suppressor", {})) <= TF_SUPPRESSOR
    assert any("actions_suppressor" in b for b in composite.values())


def test_terraform_rules_interpolate_children_and_escape_literals(tmp_path) -> None:
    """Rules reference children by interpolation; literal ${ and %{ are escaped."""
    doc = json.loads(to_terraform(_edge_set(tmp_path)))
    composite = doc["resource"]["aws_cloudwatch_composite_alarm"]
    page = composite["checkout_api_v2_b7f3e984_latency_p99_page"]
    assert page["alarm_rule"].startswith(
        '(ALARM("${aws_cloudwatch_metric_alarm.checkout_api_v2_b7f3e984_latency_p99_page_1h.alarm_name}")')
    assert "$${x}" in page["alarm_description"]
    assert "%%{y}" in page["alarm_description"]
    ticket = composite["checkout_api_v2_b7f3e984_latency_p99_ticket"]
    assert ticket["actions_suppressor"]["alarm"] == (
        "${aws_cloudwatch_composite_alarm.checkout_api_v2_b7f3e984_latency_p99_page.alarm_name}")


def test_api_calls_name_children_in_rules(example) -> None:
    """The API shape quotes child names in the rule and lists children before composites."""
    metric, composite = to_api(build(load(example)))
    names = {m["AlarmName"] for m in metric}
    for c in composite:
        for name in c["AlarmRule"].split('"')[1::2]:
            assert name in names
    assert composite[1]["ActionsSuppressor"] == composite[0]["AlarmName"]


def test_render_refuses_an_unknown_format(example) -> None:
    """An unknown format name is a ValueError that lists the formats."""
    with pytest.raises(ValueError, match="cloudformation"):
        render(build(load(example)), "pulumi")


@given(st.text())
@example("A\n")  # `$` also matches before a final newline: a plain-looking name must not end with one
def test_yaml_writer_round_trips_any_string(text: str) -> None:
    """Any string written by the YAML writer reads back unchanged."""
    doc = {"k": text, "l": [text, {"n": text}], text or "x": 1.5}
    assert yaml.safe_load(dump_yaml(doc)) == doc
