"""The service dashboard: valid for CloudFormation, Terraform and PutDashboard, and never at odds with the alarms."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from moto import mock_aws

from obskit.cli import main
from obskit.errors import SLOSpecError
from obskit.slo.alarms import AlarmSet, build
from obskit.slo.dashboard import body, body_json, check, dashboard_name, expressions, logs_query, render_dashboard
from obskit.slo.render import to_api, to_cloudformation, to_terraform
from obskit.slo.spec import load, parse

from .replay import Replay, Traffic, compile_expression

DAY = 1440

SCHEMA = json.loads((Path(__file__).parent / "data" / "dashboard_body.schema.json").read_text(encoding="utf-8"))
REGION, ACCOUNT = "eu-west-1", "111111111111"

EDGE = """\
service: "checkout api/v2"
namespace: Shop/HTTP
period: 7d
dashboard: {log_groups: [/aws/lambda/checkout, /ecs/checkout]}
alerting:
  page: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}
  ticket: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}
  runbook_url: "https://wiki.example.com/a?b=${x}&c=%{y}"
  budget_remaining: {below_percent: 25}
slos:
  - name: latency.p99
    objective: 99.5
    operation: "GET /orders/{order_id}: ${literal}"
    sli: {kind: latency, threshold_ms: 250.5}
    alerting: {profile: slow-burn}
"""


def _arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def _body(alarm_set: AlarmSet) -> dict[str, Any]:
    return json.loads(body_json(alarm_set, region=REGION, arn=_arn))


@pytest.fixture
def example_set(example: Path) -> AlarmSet:
    return build(load(example))


@pytest.fixture
def edge_set() -> AlarmSet:
    return build(parse(EDGE, "edge.yaml"))


# --- the body's structure --------------------------------------------------------------------
def test_body_matches_the_dashboard_body_structure(example_set: AlarmSet, edge_set: AlarmSet) -> None:
    """The example's and an edge case's bodies validate against the schema written from the AWS reference."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for alarm_set in (example_set, edge_set):
        doc = _body(alarm_set)
        assert [e.message for e in validator.iter_errors(doc)] == []
        for w in doc["widgets"]:
            assert w["x"] + w["width"] <= 24, w  # the grid is 24 columns wide


def test_schema_rejects_what_cloudwatch_rejects(example_set: AlarmSet) -> None:
    """The schema is not a rubber stamp: a bad period, a bad id, a missing region each fail."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    doc = _body(example_set)
    metric = next(w for w in doc["widgets"] if w["type"] == "metric")
    for mutate in (lambda p: p.update(period=90), lambda p: p["metrics"][0][-1].update(id="Bad"),
                   lambda p: p.pop("region")):
        broken = json.loads(json.dumps(doc))
        props = next(w for w in broken["widgets"] if w["type"] == "metric")["properties"]
        mutate(props)
        assert list(validator.iter_errors(broken)), metric["properties"]["title"]


def test_each_slo_has_budget_tiers_and_alarm_states(example_set: AlarmSet) -> None:
    """Per SLO: one budget widget, one graph per tier with its threshold line, one alarm widget naming its alarms."""
    doc = _body(example_set)
    config = example_set.config
    titles = [w["properties"].get("title", "") for w in doc["widgets"]]
    for slo in config.slos:
        assert f"{slo.name}: attainment and error budget, last 30d" in titles
        for w in slo.alerting.windows:
            graph = next(x["properties"] for x in doc["widgets"]
                         if x["properties"].get("title", "").startswith(f"{slo.name}: {w.severity} ")
                         and f">= {w.burn_rate:g}x" in x["properties"]["title"])
            assert graph["annotations"]["horizontal"][0]["value"] == w.burn_rate
        alarms = next(x["properties"]["alarms"] for x in doc["widgets"]
                      if x["type"] == "alarm" and x["properties"]["title"].startswith(f"{slo.name}:"))
        own = {a.name for a in example_set.metric_alarms if a.slo == slo.name}
        own |= {c.name for c in example_set.composite_alarms if c.slo == slo.name}
        assert set(alarms) == {_arn(n) for n in own}


def test_service_widgets_break_down_by_operation(example_set: AlarmSet) -> None:
    """Latency p50/p99, Error and Fault rates per Operation (top by faults) read obskit's metric names."""
    found = dict(expressions(_body(example_set)))
    searches = [e for e in found.values() if "SEARCH(" in e]
    assert any('MetricName="Fault"' in e and "'Sum'" in e and "SUM, DESC, 10" in e for e in searches)
    assert any('MetricName="Error"' in e and "'Average'" in e for e in searches)
    assert any('MetricName="Latency"' in e and "'p99'" in e for e in searches)
    assert all('{"Shop",Environment,Operation,Service}' in e for e in searches)


def test_logs_widget_lists_faulted_requests_with_trace_ids(edge_set: AlarmSet) -> None:
    """With log groups, a Logs Insights table of 5xx and exception lines, newest first, shows trace_id."""
    query = logs_query(edge_set.config)
    assert query.startswith("SOURCE '/aws/lambda/checkout' | SOURCE '/ecs/checkout' | fields @timestamp")
    assert "trace_id" in query
    assert "status >= 500" in query
    assert "sort @timestamp desc" in query
    assert 'service = "checkout api/v2"' in query
    log = [w for w in _body(edge_set)["widgets"] if w["type"] == "log"]
    assert [w["properties"]["query"] for w in log] == [query]


def test_dashboard_name_is_a_valid_cloudwatch_name(edge_set: AlarmSet) -> None:
    """Dashboard names allow letters, digits, - and _ only."""
    assert dashboard_name(edge_set.config) == "obskit-checkout-api-v2-slo"


# --- one source of truth: the dashboard's expressions are the alarms' ------------------------
def _api_stats(rows: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """Dashboard metric rows -> {id: MetricStat} in the shape PutMetricAlarm takes."""
    out = {}
    for row in rows:
        opts = row[-1]
        if "expression" in opts or "id" not in opts:  # the service widgets' plain percentiles
            continue
        dims = [{"Name": k, "Value": v} for k, v in zip(row[2:-1:2], row[3:-1:2], strict=True)]
        out[opts["id"]] = {"Metric": {"Namespace": row[0], "MetricName": row[1], "Dimensions": dims},
                           "Period": opts["period"], "Stat": opts["stat"]}
    return out


RATIO_ROLES = {"ProviderErrors": "bad", "ProviderCalls": "requests"}  # the example's payments SLI


def _example_traffic() -> Traffic:
    """3.5 noisy days with a 90-minute incident, then a canary running once a minute with a failing stretch."""
    return (Traffic().steady(3 * DAY, error_ratio=0.0004, slow_ratio=0.003, noise=random.Random(3))
            .steady(90, error_ratio=0.05, slow_ratio=0.2).steady(DAY // 2, error_ratio=0.0004, slow_ratio=0.003)
            .sparse(DAY // 2, every=1, fail=lambda i: 60 <= i < 120))


@pytest.mark.slow
def test_every_expression_of_the_example_dashboard_agrees_with_the_alarms(example_set: AlarmSet) -> None:
    """Replayed minute by minute, every graphed window of every SLO of the example equals its alarm.

    For each burn rate on the example's dashboard, its queries (metric, dimensions, statistic,
    period) are the alarm's own and its expression, with renamed ids, has the alarm's value at
    every minute of the replay. The period's expressions (attainment, budget left) equal the hand
    formulas over the traffic's totals. Only the service widgets' SEARCH expressions are not
    replayed: no alarm reads them and they need CloudWatch's metric catalogue.
    """
    metric_params, _ = to_api(example_set)
    replay = Replay.of(example_set, metrics=RATIO_ROLES)
    traffic = _example_traffic()
    doc, _ = body(example_set)
    compared = period_checked = 0
    for widget in doc["widgets"]:
        rows = widget["properties"].get("metrics", [])
        slo_name = widget["properties"].get("title", "").split(":")[0]
        exprs = [r[0] for r in rows if "expression" in r[-1]]
        stats = _api_stats(rows)
        for b in (r for r in exprs if r["id"].startswith("burn_") and r["id"] != "burn_period"):
            suffix = b["id"][len("burn_"):]
            mine = {k: v for k, v in stats.items() if k.endswith("_" + suffix)}
            severity = widget["properties"]["title"].split(": ")[1].split()[0]  # "uptime: ticket 3d/6h, ..."
            alarm = next(p for p in metric_params
                         if p["AlarmName"] == f"obskit-prod/checkout-api/{slo_name}/{severity}-{suffix}")
            theirs = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
            assert sorted(map(json.dumps, mine.values())) == sorted(map(json.dumps, theirs.values()))
            assert replay.graph(mine, b["expression"], traffic) == replay.values(alarm["AlarmName"], traffic)
            compared += 1
        if any(r["id"] == "burn_period" for r in exprs):
            slo = next(s for s in example_set.config.slos if s.name == slo_name)
            period = {k: v for k, v in stats.items() if k.endswith("_period")}
            burn = replay.graph(period, next(r["expression"] for r in exprs if r["id"] == "burn_period"),
                                traffic)[-1]
            env = {"burn_period": burn}
            for r in exprs[1:]:  # attainment, budget_pct, budget_min read burn_period
                env[r["id"]] = compile_expression(r["expression"])(env)
            if slo.sli.kind == "synthetic":
                ratio = sum(traffic.failed) / sum(traffic.runs)
            else:
                bad = traffic.slow if slo.sli.kind == "latency" else traffic.faults
                ratio = sum(bad) / sum(traffic.requests)
            assert env["attainment"] == pytest.approx(100 * (1 - ratio)), slo.name
            assert env["budget_pct"] == pytest.approx(100 * (1 - ratio / slo.budget)), slo.name
            assert env["budget_min"] == pytest.approx((1 - ratio / slo.budget) * slo.budget * 43_200), slo.name
            period_checked += 1
    assert compared == 2 * sum(len(s.alerting.windows) for s in example_set.config.slos)
    assert period_checked == 5


def test_attainment_and_budget_expressions_equal_the_hand_computed_values() -> None:
    """Over the period: 43,200 requests with 21 faults at 99.9 % -> 99.95139 % and 51.39 % of 43.2 min left."""
    alarm_set = build(parse("service: s\nslos: [{name: a, objective: 99.9, sli: {kind: availability}}]\n"))
    doc, _ = body(alarm_set)
    widget = next(w["properties"] for w in doc["widgets"] if "attainment" in w["properties"].get("title", ""))
    env: dict[str, float | None] = {"bad_period": 21.0, "total_period": 43_200.0}
    for (row,) in (r for r in widget["metrics"] if "expression" in r[-1]):
        env[row["id"]] = compile_expression(row["expression"])(env)
    ratio = 21 / 43_200
    assert env["attainment"] == pytest.approx(100 * (1 - ratio))
    assert env["budget_pct"] == pytest.approx(100 * (1 - ratio / 0.001))
    assert env["budget_min"] == pytest.approx((1 - ratio / 0.001) * 0.001 * 30 * 1440)


# --- limits ----------------------------------------------------------------------------------
def test_a_dashboard_over_cloudwatchs_metric_quota_is_refused() -> None:
    """110 SLOs need 776 widgets and 3,306 metrics on one dashboard: the generator says so and how to fix it."""
    slos = "".join(f"  - {{name: s{i}, objective: 99.9, sli: {{kind: availability}}}}\n" for i in range(110))
    alarm_set = build(parse("service: big\nslos:\n" + slos))
    problems = check(alarm_set)
    assert [p.message for p in problems] == ["the dashboard has 776 widgets; CloudWatch allows 500",
                                             "the dashboard reads 3306 metrics; CloudWatch allows 2500"]
    assert problems[0].fix == "split the SLOs over several files"
    with pytest.raises(SLOSpecError):
        to_cloudformation(alarm_set, dashboard=True)


def test_a_body_too_big_for_a_template_is_refused() -> None:
    """55 SLOs on 1,000-character operations: few enough widgets and metrics, but over 1 MB of body."""
    op = "GET /" + "x" * 995
    slos = "".join(f"  - {{name: s{i}, objective: 99.9, operation: '{op}', sli: {{kind: availability}}}}\n"
                   for i in range(55))
    problems = check(build(parse("service: big\nslos:\n" + slos)))
    assert len(problems) == 1
    assert problems[0].message.endswith("bytes; a CloudFormation template holds 1,000,000")


def test_the_example_stays_well_inside_the_limits(example_set: AlarmSet) -> None:
    """The example's dashboard: under 60 widgets, 50 metrics per widget, and a body of under 40 KB."""
    doc = _body(example_set)
    assert len(doc["widgets"]) < 60
    assert max(len(w["properties"].get("metrics", [])) for w in doc["widgets"]) < 50
    assert len(json.dumps(doc, separators=(",", ":"))) < 40_000


# --- renderings ------------------------------------------------------------------------------
def _lint(text: str) -> list[str]:
    return [str(m) for m in lint(text, config=ManualArgs(regions=[REGION]))]


def _sub(text: str, values: dict[str, str]) -> str:
    """Resolve an Fn::Sub string the way CloudFormation does."""
    resolved = re.sub(r"\$\{([^!}][^}]*)\}", lambda m: values[m.group(1)], text)
    return resolved.replace("${!", "${")


@pytest.mark.slow
def test_cloudformation_dashboard_is_cfn_lint_clean_and_resolves_to_a_valid_body(example_set: AlarmSet,
                                                                                  edge_set: AlarmSet) -> None:
    """With the alarms (GetAtt ARNs) and alone (pseudo parameters), YAML and JSON: lint clean, schema valid."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for alarm_set in (example_set, edge_set):
        for n, text in enumerate((to_cloudformation(alarm_set, dashboard=True),
                                  render_dashboard(alarm_set, "cloudformation"),
                                  to_cloudformation(alarm_set, fmt="json", dashboard=True))):
            if n < 2:  # the JSON template is the YAML one's dict: linting it again finds nothing new
                assert _lint(text) == []
            template = yaml.safe_load(text)
            dash = template["Resources"]["SLODashboard"]["Properties"]
            sub = dash["DashboardBody"]["Fn::Sub"]
            names = {k: v["Properties"]["AlarmName"] for k, v in template["Resources"].items() if "Alarm" in v["Type"]}
            values = {"AWS::Region": REGION, "AWS::Partition": "aws", "AWS::AccountId": ACCOUNT,
                      **{f"{k}.Arn": _arn(n) for k, n in names.items()}}
            doc = json.loads(_sub(sub, values))
            assert [e.message for e in validator.iter_errors(doc)] == []
            assert doc == _body(alarm_set)  # user text with ${...} survives literally


def test_terraform_dashboard_references_the_alarms_and_escapes_user_text(edge_set: AlarmSet) -> None:
    """aws_cloudwatch_dashboard's body uses the alarms' .arn and the region data source; ${ in text is $${."""
    both = ((to_terraform(edge_set, dashboard=True), False), (render_dashboard(edge_set, "terraform"), True))
    for text, data in both:
        doc = json.loads(text)
        dash = doc["resource"]["aws_cloudwatch_dashboard"]["slo"]
        assert dash["dashboard_name"] == "obskit-checkout-api-v2-slo"
        assert ("data" in doc) is data
        refs = set(re.findall(r"(?<!\$)\$\{([^}]+)\}", dash["dashboard_body"]))
        assert "data.aws_region.current.id" in refs
        assert all(r.startswith(("aws_cloudwatch_", "data.aws_")) for r in refs), refs
        resolved = re.sub(r"(?<!\$)\$\{([^}]+)\}", lambda m: REGION if "region" in m.group(1) else "X",
                          dash["dashboard_body"]).replace("$${", "${").replace("%%{", "%{")
        assert "${literal}" in resolved
        assert "${PROP('Dim.Operation')}" in resolved


def test_dashboard_command_writes_each_format(example: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`obskit slo dashboard` writes CloudFormation by default and the raw body with --format json."""
    assert main(["slo", "dashboard", str(example), "-o", str(tmp_path / "d.yaml")]) == 0
    assert _lint((tmp_path / "d.yaml").read_text(encoding="utf-8")) == []
    assert main(["slo", "dashboard", str(example), "--format", "json"]) == 2
    assert "--region and --account-id" in capsys.readouterr().err
    assert main(["slo", "dashboard", str(example), "-f", "json", "--region", REGION, "--account-id", ACCOUNT]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == _body(build(load(example)))
    assert main(["slo", "generate", str(example), "--with-dashboard", "-o", str(tmp_path / "t.yaml")]) == 0
    assert "AWS::CloudWatch::Dashboard" in (tmp_path / "t.yaml").read_text(encoding="utf-8")


@mock_aws
def test_apply_with_dashboard_puts_it(example: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`apply --with-dashboard` (dry run first) writes the body with the account's alarm ARNs via PutDashboard."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    from obskit.slo.dashboard import apply_dashboard

    alarm_set = build(load(example))
    assert apply_dashboard(alarm_set, dry_run=True).startswith("dry run: would put dashboard obskit-prod-")
    cw = boto3.client("cloudwatch", region_name=REGION)
    assert cw.list_dashboards()["DashboardEntries"] == []
    assert "put dashboard obskit-prod-checkout-api-slo" in apply_dashboard(alarm_set)
    stored = json.loads(cw.get_dashboard(DashboardName="obskit-prod-checkout-api-slo")["DashboardBody"])
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    assert stored == json.loads(body_json(alarm_set, region=REGION,
                                          arn=lambda n: f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{n}"))


def test_a_service_name_search_cannot_quote_gets_a_note_instead() -> None:
    """A quote in the service name cannot go into a SEARCH term: a text widget says so, the rest stays."""
    alarm_set = build(parse("service: \"bob's api\"\nslos: [{name: a, objective: 99, sli: {kind: availability}}]\n"))
    doc = _body(alarm_set)
    assert not [e for _, e in expressions(doc) if "SEARCH(" in e]
    notes = [w["properties"]["markdown"] for w in doc["widgets"] if w["type"] == "text"]
    assert any("without quotes or backslashes" in n for n in notes)
    assert any(w["properties"].get("title", "").endswith("Latency p50/p99 (ms)") for w in doc["widgets"])
    assert [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)] == []
