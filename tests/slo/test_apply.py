"""``apply`` against moto's CloudWatch and SNS: create, idempotence, dry run, pruning by tag.

moto 5 implements metric alarms (with ``Metrics`` metric math and tags) but not composite
alarms: ``PutCompositeAlarm`` raises NotImplementedError. ``CompositeStandIn`` below is an
honest local stand-in for that one gap: it keeps composite alarms in a dict, enforces the two
API rules obskit depends on (every alarm a rule or suppressor names must already exist, and
``DeleteAlarms`` takes at most one composite per call) and passes every other call to moto's
client unchanged. Nothing here evaluates alarms; the burn-rate behaviour is covered by the
replay tests.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from moto import mock_aws

from obskit import semconv
from obskit.slo.alarms import build
from obskit.slo.apply import apply
from obskit.slo.spec import parse

REGION = "eu-west-1"


class CompositeStandIn:
    """A CloudWatch client: moto for everything except composite alarms, kept here."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.composites: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.delete_calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _exists(self, name: str) -> bool:
        return name in self.composites or bool(self._client.describe_alarms(AlarmNames=[name])["MetricAlarms"])

    def put_composite_alarm(self, **kwargs: Any) -> None:
        named = re.findall(r'ALARM\("([^"]+)"\)', kwargs["AlarmRule"])
        if kwargs.get("ActionsSuppressor"):
            named.append(kwargs["ActionsSuppressor"])
        missing = [n for n in named if not self._exists(n)]
        if missing:
            raise AssertionError(f"composite {kwargs['AlarmName']} names alarms that do not exist: {missing}")
        arn = f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{kwargs['AlarmName']}"
        stored = {k: v for k, v in kwargs.items() if k != "Tags"}
        self.composites[kwargs["AlarmName"]] = {**stored, "AlarmArn": arn}
        self.tags.setdefault(arn, kwargs.get("Tags", []))

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        out = self._client.describe_alarms(**kwargs)
        if "CompositeAlarm" in kwargs.get("AlarmTypes", ["MetricAlarm"]):
            prefix = kwargs.get("AlarmNamePrefix", "")
            out["CompositeAlarms"] = [c for n, c in sorted(self.composites.items()) if n.startswith(prefix)]
        return out

    def delete_alarms(self, AlarmNames: list[str]) -> None:
        self.delete_calls.append(list(AlarmNames))
        composites = [n for n in AlarmNames if n in self.composites]
        if composites and len(AlarmNames) > 1:
            raise AssertionError("DeleteAlarms accepts one composite alarm per call")
        for n in composites:
            del self.composites[n]
        rest = [n for n in AlarmNames if n not in composites]
        if rest:
            self._client.delete_alarms(AlarmNames=rest)

    def list_tags_for_resource(self, ResourceARN: str) -> dict[str, Any]:
        if ResourceARN in self.tags:
            return {"Tags": self.tags[ResourceARN]}
        return self._client.list_tags_for_resource(ResourceARN=ResourceARN)

    def tag_resource(self, ResourceARN: str, Tags: list[dict[str, str]]) -> None:
        if ResourceARN in self.tags:
            self.tags[ResourceARN] = Tags
        else:
            self._client.tag_resource(ResourceARN=ResourceARN, Tags=Tags)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto's CloudWatch and SNS with two topics; yields (stand-in client, page ARN, ticket ARN)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        page = sns.create_topic(Name="page")["TopicArn"]
        ticket = sns.create_topic(Name="ticket")["TopicArn"]
        yield CompositeStandIn(boto3.client("cloudwatch", region_name=REGION)), page, ticket


def _config(page: str, ticket: str, *, slos: str = "both", objective: str = "99.9"):
    text = f"""\
service: checkout-api
alerting:
  page: {{sns_topic_arn: "{page}"}}
  ticket: {{sns_topic_arn: "{ticket}"}}
slos:
  - name: availability
    objective: {objective}
    sli: {{kind: availability}}
"""
    if slos == "both":
        text += "  - name: latency\n    objective: 99\n    sli: {kind: latency, threshold_ms: 300}\n"
    return build(parse(text, "slo.yaml"))


def _metric_names(client: Any) -> set[str]:
    return {a["AlarmName"] for a in client.describe_alarms(AlarmTypes=["MetricAlarm"])["MetricAlarms"]}


def test_apply_creates_children_then_composites(aws) -> None:
    """A first apply creates 16 burn-rate children in moto and 4 composites wired to the SNS topics."""
    client, page, ticket = aws
    result = apply(_config(page, ticket), client=client)
    assert result.count("create") == 20
    assert len(_metric_names(client)) == 16
    composite = client.composites["obskit-checkout-api-availability-page"]
    assert composite["AlarmActions"] == [page]
    assert client.composites["obskit-checkout-api-latency-ticket"]["ActionsSuppressor"] == (
        "obskit-checkout-api-latency-page")


def test_metric_math_round_trips_through_cloudwatch(aws) -> None:
    """What moto stores for a child is the metric math obskit generated."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    (alarm,) = client.describe_alarms(AlarmNames=["obskit-checkout-api-latency-page-5m"])["MetricAlarms"]
    stats = {m["Id"]: m for m in alarm["Metrics"]}
    assert stats["good_pct"]["MetricStat"]["Stat"] == "PR(:300)"
    assert stats["good_pct"]["MetricStat"]["Period"] == 300
    assert stats["burn"]["Expression"] == "IF(total >= 1, (100 - good_pct) / 100, 0) / 0.01"
    assert alarm["Threshold"] == 14.4
    assert alarm["ActionsEnabled"] is False


def test_second_apply_changes_nothing(aws) -> None:
    """Applying the same file twice is a no-op the second time."""
    client, page, ticket = aws
    alarm_set = _config(page, ticket)
    apply(alarm_set, client=client)
    again = apply(alarm_set, client=client)
    assert again.changes == ()
    assert again.unchanged == 20


def test_dry_run_changes_nothing(aws) -> None:
    """--dry-run reports the creations and leaves CloudWatch empty."""
    client, page, ticket = aws
    result = apply(_config(page, ticket), client=client, dry_run=True)
    assert result.count("create") == 20
    assert _metric_names(client) == set()
    assert client.composites == {}
    assert result.report().endswith("dry run: 20 to create, 0 to update, 0 to delete, 0 unchanged; nothing was changed")


def test_dry_run_shows_the_fields_that_differ(aws) -> None:
    """After an objective change the dry run lists the updates with old and new values, changing nothing."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    result = apply(_config(page, ticket, objective="99.5"), client=client, dry_run=True)
    updated = {c.name: {f for f, _, _ in c.fields} for c in result.changes if c.action == "update"}
    assert updated["obskit-checkout-api-availability-page-1h"] == {"AlarmDescription", "Metrics"}
    assert "Metrics:" in result.report()
    (alarm,) = client.describe_alarms(AlarmNames=["obskit-checkout-api-availability-page-1h"])["MetricAlarms"]
    assert alarm["Metrics"][-1]["Expression"].endswith("/ 0.001")


def test_prune_deletes_only_generated_alarms_of_the_service(aws) -> None:
    """Dropping an SLO deletes its alarms (composites one per call); foreign alarms stay."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    common = {"EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold",
              "MetricName": "Fault", "Namespace": "obskit", "Period": 60, "Statistic": "Sum"}
    client.put_metric_alarm(AlarmName="obskit-checkout-api-handmade", **common)
    client.put_metric_alarm(AlarmName="obskit-checkout-api-other-team", **common,
                            Tags=[{"Key": semconv.SLO_TAG_GENERATOR, "Value": "obskit"},
                                  {"Key": semconv.SLO_TAG_SERVICE, "Value": "checkout-api-v2"}])
    result = apply(_config(page, ticket, slos="one"), client=client)
    deleted = [c.name for c in result.changes if c.action == "delete"]
    assert len(deleted) == 10
    assert all("-latency-" in n for n in deleted)
    assert "obskit-checkout-api-handmade" in _metric_names(client)
    assert "obskit-checkout-api-other-team" in _metric_names(client)
    assert not any("-latency-" in n for n in _metric_names(client) | set(client.composites))
    assert [len(call) for call in client.delete_calls] == [1, 1, 8]


def test_no_prune_keeps_dropped_alarms(aws) -> None:
    """With prune off, alarms of a dropped SLO are left in place."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    result = apply(_config(page, ticket, slos="one"), client=client, prune=False)
    assert result.count("delete") == 0
    assert len(_metric_names(client)) == 16
