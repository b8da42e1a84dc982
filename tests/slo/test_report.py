"""``obskit slo report`` against a moto server holding a 30-day series put with ``PutMetricData``.

The series, per hour for 30 days: 1,000 requests (``SampleCount`` of ``Fault``), no faults except
10 in each of the last 36 hours. By hand, at 99.9 %: 720,000 requests and 360 faults, an error
ratio of 0.05 %, so attainment 99.95 %, half the budget left, 21.6 of 43.2 minutes. The last hour
holds 10 faults per 1,000 requests: 1 % errors, a 10x burn over 1h, 2h, 6h and 1d; no request
in the last 5 or 30 minutes, so those windows have no data and no page tier can fire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from obskit.cli import main
from obskit.slo.alarms import build
from obskit.slo.mathexpr import ExpressionError, evaluate
from obskit.slo.render import to_api
from obskit.slo.report import collect, to_text
from obskit.slo.spec import parse

REGION = "eu-west-1"
FILE = """\
service: checkout-api
namespace: Shop
environment: prod
alerting: {min_requests: 10}
slos:
  - {name: availability, objective: 99.9, sli: {kind: availability}}
"""
DIMS = [{"Name": "Service", "Value": "checkout-api"}, {"Name": "Environment", "Value": "prod"}]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Credentials and endpoint for boto3; a fresh server state holding the series; yields its end."""
    for key, value in (("AWS_ENDPOINT_URL", endpoint), ("AWS_ACCESS_KEY_ID", "testing"),
                       ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    cw = boto3.client("cloudwatch", region_name=REGION)
    first = end - timedelta(days=30) + timedelta(minutes=20)
    data = [{"MetricName": "Fault", "Dimensions": DIMS, "Timestamp": first + timedelta(hours=h), "Unit": "Count",
             "StatisticValues": {"SampleCount": 1000.0, "Sum": 10.0 if h >= 720 - 36 else 0.0, "Minimum": 0.0,
                                 "Maximum": 1.0 if h >= 720 - 36 else 0.0}} for h in range(720)]
    for i in range(0, len(data), 150):
        cw.put_metric_data(Namespace="Shop", MetricData=data[i:i + 150])
    return end


def test_attainment_budget_and_burn_rates_equal_the_hand_computed_values(aws: datetime) -> None:
    """collect() over GetMetricData: 99.95 %, 50 % = 21.6 min left, 10x over 1h/2h/6h/1d, 5x over 3d, no data
    over 5m/30m."""
    alarm_set = build(parse(FILE, "slo.yaml"))
    (status,) = collect(alarm_set, boto3.client("cloudwatch", region_name=REGION), now=aws)
    assert status.attainment == pytest.approx(99.95)
    assert status.budget_left_percent == pytest.approx(50.0)
    assert status.budget_left_minutes == pytest.approx(21.6)
    assert status.burn_rates == pytest.approx({"5m": None, "30m": None, "1h": 10.0, "2h": 10.0, "6h": 10.0,
                                               "1d": 10.0, "3d": 5.0})
    assert [(t.severity, t.long, t.burning) for t in status.tiers] == [
        ("page", "1h", False), ("page", "6h", False), ("ticket", "1d", True), ("ticket", "3d", True)]


def test_since_scales_the_spent_share_to_the_period(aws: datetime) -> None:
    """--since 7d: 168,000 requests, 360 faults -> 99.7857 % attained, and 7/30 of a 2.142857x burn spent."""
    alarm_set = build(parse(FILE, "slo.yaml"))
    (status,) = collect(alarm_set, boto3.client("cloudwatch", region_name=REGION), since_s=7 * 86_400, now=aws)
    ratio = 360 / 168_000
    assert status.attainment == pytest.approx(100 * (1 - ratio))
    assert status.budget_left_percent == pytest.approx(100 * (1 - ratio / 0.001 * 7 / 30))


def test_report_command_prints_text_and_json_with_alarm_states(aws: datetime, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`obskit slo report` reads the same numbers; --format json adds every alarm's state (None: not deployed)."""
    path = tmp_path / "slo.yaml"
    path.write_text(FILE, encoding="utf-8")
    alarm_set = build(parse(FILE, str(path)))
    cw = boto3.client("cloudwatch", region_name=REGION)
    for params in to_api(alarm_set)[0]:  # moto has no composite alarms: page and ticket stay undeployed
        cw.put_metric_alarm(**params)
    cw.set_alarm_state(AlarmName="obskit-prod/checkout-api/availability/ticket-1d", StateValue="ALARM",
                       StateReason="test")
    assert main(["slo", "report", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (slo,) = doc["slos"]
    assert slo["attainment"] == pytest.approx(99.95)
    assert slo["budget_left_minutes"] == pytest.approx(21.6)
    assert slo["alarms"]["ticket-1d"] == "ALARM"
    assert slo["alarms"]["page"] is None
    assert [t["burning"] for t in slo["tiers"]] == [False, False, True, True]
    assert main(["slo", "report", str(path)]) == 0
    text = capsys.readouterr().out
    assert "attainment 99.9500% over the last 30d; error budget left 50.0% = 21.6 min of full outage" in text
    assert "  ticket 1d/2h    >= 3x      10.00x / 10.00x   BURNING: both windows over the threshold" in text
    assert "  page 1h/5m      >= 14.4x   10.00x / no data\n" in text
    assert "alarms: page not deployed, ticket not deployed" in text
    assert to_text(alarm_set.config, collect(alarm_set, cw, now=aws)).startswith("checkout-api/availability:")


@pytest.mark.parametrize(("since", "why"), [
    ("90s", "it must be a whole number of minutes"),
    ("soon", "it is not a duration"),
    ("23041m", "a span over 15d must be a multiple of 5m"),  # 16 days and a minute
    ("1513h", None),  # 63 days and an hour: whole hours are fine
])
def test_report_refuses_a_since_getmetricdata_would_refuse(since: str, why: str | None, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """--since in whole minutes, 5 minutes past 15 days, hours past 63 days: else exit 2 before any AWS call."""
    path = tmp_path / "slo.yaml"
    path.write_text(FILE, encoding="utf-8")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a call would fail with exit 1, not 2
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    status = main(["slo", "report", str(path), "--since", since])
    err = capsys.readouterr().err
    if why is None:
        assert status == 1  # accepted, then the unreachable endpoint fails
    else:
        assert status == 2
        assert why in err


@pytest.mark.parametrize(("expression", "values", "expected"), [
    ("IF(total >= 10, bad / total, 0) / 0.001", {"bad": 10.0, "total": 1000.0}, 10.0),
    ("IF(total >= 10, bad / total, 0) / 0.001", {"bad": 1.0, "total": 5.0}, 0.0),
    ("IF(total >= 10, bad / total, 0) / 0.001", {"bad": None, "total": None}, None),
    ("IF(total >= 1, FILL(bad, 0) / total, 0) / 0.5", {"bad": None, "total": 4.0}, 0.0),
    ("IF(runs >= 1 AND runs * (100 - ok) / 100 >= 2, (100 - ok) / 100, 0) / 0.0005", {"runs": 60.0, "ok": 95.0},
     100.0),
    ("bad / total", {"bad": 1.0, "total": 0.0}, None),
    ("-x + 2 * (3 - 1)", {"x": 1.0}, 3.0),
])
def test_the_expression_evaluator_computes_what_cloudwatch_does(expression: str, values: dict[str, float | None],
                                                                expected: float | None) -> None:
    """Missing values propagate, FILL replaces them, division by zero is missing, guards compare as written."""
    assert evaluate(expression, values) == pytest.approx(expected)


@pytest.mark.parametrize("expression", ["SEARCH('x')", "a +", "a b", "unknown * 2", "a $ b"])
def test_the_evaluator_refuses_what_it_does_not_know(expression: str) -> None:
    """Functions and tokens outside the generator's grammar raise instead of guessing."""
    with pytest.raises(ExpressionError):
        evaluate(expression, {"a": 1.0, "b": 2.0})


def test_an_overspent_budget_says_the_objective_is_missed(aws: datetime) -> None:
    """At 99.99 % the same series spent five budgets: -400 % left, and the text says the objective is missed."""
    alarm_set = build(parse(FILE.replace("99.9,", "99.99,"), "slo.yaml"))
    (status,) = collect(alarm_set, boto3.client("cloudwatch", region_name=REGION), now=aws)
    assert status.budget_left_percent == pytest.approx(-400.0)
    assert "-400.0% = -17.3 min of full outage  OVERSPENT: the objective is missed" in to_text(
        alarm_set.config, [status])
