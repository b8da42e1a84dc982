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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from obskit import semconv
from obskit.cli import main
from obskit.slo.alarms import build
from obskit.slo.apply import OwnershipError, apply
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
    composite = client.composites["obskit/checkout-api/availability/page"]
    assert composite["AlarmActions"] == [page]
    assert client.composites["obskit/checkout-api/latency/ticket"]["ActionsSuppressor"] == (
        "obskit/checkout-api/latency/page")


def test_metric_math_round_trips_through_cloudwatch(aws) -> None:
    """What moto stores for a child is the metric math obskit generated."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    (alarm,) = client.describe_alarms(AlarmNames=["obskit/checkout-api/latency/page-5m"])["MetricAlarms"]
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
    assert updated["obskit/checkout-api/availability/page-1h"] == {"AlarmDescription", "Metrics"}
    assert "Metrics:" in result.report()
    (alarm,) = client.describe_alarms(AlarmNames=["obskit/checkout-api/availability/page-1h"])["MetricAlarms"]
    assert alarm["Metrics"][-1]["Expression"].endswith("/ 0.001")


def test_prune_deletes_only_generated_alarms_of_the_service(aws) -> None:
    """Dropping an SLO deletes its alarms (composites one per call); foreign alarms stay."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    common = {"EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold",
              "MetricName": "Fault", "Namespace": "obskit", "Period": 60, "Statistic": "Sum"}
    client.put_metric_alarm(AlarmName="obskit/checkout-api/handmade", **common)
    client.put_metric_alarm(AlarmName="obskit/checkout-api/other-team", **common,
                            Tags=[{"Key": semconv.SLO_TAG_GENERATOR, "Value": "obskit"},
                                  {"Key": semconv.SLO_TAG_SERVICE, "Value": "checkout-api-v2"}])
    result = apply(_config(page, ticket, slos="one"), client=client)
    deleted = [c.name for c in result.changes if c.action == "delete"]
    assert len(deleted) == 10
    assert all("/latency/" in n for n in deleted)
    assert "obskit/checkout-api/handmade" in _metric_names(client)
    assert "obskit/checkout-api/other-team" in _metric_names(client)
    assert not any("/latency/" in n for n in _metric_names(client) | set(client.composites))
    assert [len(call) for call in client.delete_calls] == [1, 1, 8]


def test_no_prune_keeps_dropped_alarms(aws) -> None:
    """With prune off, alarms of a dropped SLO are left in place."""
    client, page, ticket = aws
    apply(_config(page, ticket), client=client)
    result = apply(_config(page, ticket, slos="one"), client=client, prune=False)
    assert result.count("delete") == 0
    assert len(_metric_names(client)) == 16


# --- ownership: names, tags, refusal, pruning across prefixes and environments ----------------
def _service(page: str, ticket: str, service: str, slo: str, head: str = "", alerting: str = ""):
    text = (f"service: {service}\n{head}alerting:\n{alerting}  page: {{sns_topic_arn: \"{page}\"}}\n"
            f"  ticket: {{sns_topic_arn: \"{ticket}\"}}\n"
            f"slos:\n  - {{name: {slo}, objective: 99.9, sli: {{kind: availability}}}}\n")
    return build(parse(text, "slo.yaml"))


ARN = "arn:aws:sns:eu-west-1:111111111111:x"


@pytest.mark.parametrize(("a", "b"), [(("shop", "api-avail"), ("shop-api", "avail")),
                                      (("shop api", "avail"), ("shop-api", "avail"))])
def test_names_of_different_services_never_collide(a: tuple[str, str], b: tuple[str, str]) -> None:
    """shop + api-avail and shop-api + avail (or `shop api` and `shop-api`) share no alarm name."""
    assert not _service(ARN, ARN, *a).names & _service(ARN, ARN, *b).names


def test_alarms_carry_service_slo_and_environment_tags() -> None:
    """Every alarm is tagged obskit:service, obskit:slo and, with an environment, obskit:environment."""
    alarm_set = _service(ARN, ARN, "shop", "avail", "environment: prod\n")
    for alarm in (*alarm_set.metric_alarms, *alarm_set.composite_alarms):
        tags = dict(alarm.tags)
        assert (tags["obskit:service"], tags["obskit:slo"], tags["obskit:environment"]) == ("shop", "avail", "prod")


@pytest.mark.parametrize("tags", [[{"Key": "obskit:generator", "Value": "obskit"},
                                   {"Key": "obskit:service", "Value": "shop"}], []])
def test_apply_refuses_an_alarm_another_service_owns(aws, tags: list[dict[str, str]]) -> None:
    """An alarm of a wanted name tagged for another service (or hand-made) stops apply before any write."""
    client, page, ticket = aws
    alarm_set = _service(page, ticket, "shop-api", "avail")
    taken = sorted(alarm_set.names)[0]
    client.put_metric_alarm(AlarmName=taken, EvaluationPeriods=1, Threshold=1.0, MetricName="Fault",
                            ComparisonOperator="GreaterThanThreshold", Namespace="obskit", Period=60,
                            Statistic="Sum", Tags=tags)
    with pytest.raises(OwnershipError) as info:
        apply(alarm_set, client=client)
    assert taken in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert _metric_names(client) == {taken}
    assert client.composites == {}


@pytest.mark.parametrize("rename", ["name_prefix", "environment"])
def test_renaming_a_prefix_or_environment_leaves_no_orphans(aws, rename: str) -> None:
    """Applying after a name_prefix change prunes the old alarms by tag; an environment change does
    with --previous-environment (else the old environment's alarms are left alone and named)."""
    client, page, ticket = aws
    if rename == "name_prefix":
        first, second = (_service(page, ticket, "shop", "avail", alerting=f"  name_prefix: {p}\n") for p in "ab")
    else:
        first, second = (_service(page, ticket, "shop", "avail", f"environment: {e}\n") for e in ("staging", "stage"))
    apply(first, client=client)
    if rename == "environment":
        kept = apply(second, client=client)
        assert "left alone: alarms of service 'shop' in environment 'staging'" in kept.report()
        assert first.names <= _metric_names(client) | set(client.composites)
        result = apply(second, client=client, previous_environments=("staging",))
    else:
        result = apply(second, client=client)
    assert {c.name for c in result.changes if c.action == "delete"} == first.names
    assert _metric_names(client) | set(client.composites) == second.names


def test_a_renamed_service_prunes_with_previous_service(aws) -> None:
    """The alarms of the old service name go with --previous-service; without it they stay."""
    client, page, ticket = aws
    first = _service(page, ticket, "shop", "avail")
    apply(first, client=client)
    second = _service(page, ticket, "store", "avail")
    apply(second, client=client)
    assert first.names <= _metric_names(client) | set(client.composites)
    apply(second, client=client, previous_services=("shop",))
    assert _metric_names(client) | set(client.composites) == second.names


# --- a failed step: an endpoint without PutCompositeAlarm (moto's server has no such action) ----
@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real moto server on loopback, which answers PutCompositeAlarm with an error."""
    from moto.server import ThreadedMotoServer

    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    for key, value in (("AWS_ENDPOINT_URL", f"http://{host}:{port}"), ("AWS_ACCESS_KEY_ID", "testing"),
                       ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION),
                       ("AWS_MAX_ATTEMPTS", "1")):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.stop()


def test_a_failed_step_rolls_back_and_says_what_exists(server: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The plan prints first; PutCompositeAlarm fails; the 8 children it created are deleted again,
    and the report names the failed step, what was not done, and that a retry is safe; exit 1."""
    path = tmp_path / "slo.yaml"
    path.write_text('service: shop\nalerting:\n  page: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:p"}\n'
                    "slos:\n  - {name: avail, objective: 99.9, sli: {kind: availability}}\n", encoding="utf-8")
    assert main(["slo", "apply", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out.startswith("plan:\n+ create metric alarm obskit/shop/avail/page-1h")
    assert "apply failed at: put composite alarm obskit/shop/avail/page:" in out.err
    assert "rolled back: deleted the 8 alarm(s) this run had created" in out.err
    assert "not done (10): create metric alarm obskit/shop/avail/page-1h;" in out.err
    assert "a retry is safe" in out.err
    cw = boto3.client("cloudwatch", region_name=REGION)
    assert cw.describe_alarms()["MetricAlarms"] == []
