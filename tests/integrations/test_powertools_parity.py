"""The same small Lambda handler under Powertools' three decorators and under obskit: the same EMF metrics.

Powertools for AWS Lambda (the real package) writes its EMF documents with ``print``; obskit,
configured with ``metrics_dimension_names="powertools"``, writes its own to stdout too. Both
outputs are parsed and compared as CloudWatch reads them: namespace, metric name, unit and
dimension set with the dimension values. Dashboards and alarms built on Powertools' metrics
therefore keep matching after the move. obskit adds its request metrics (``Latency``, ``Error``,
``Fault``), which Powertools does not have; with ``request_metrics=False`` the outputs are the same.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import obskit
from obskit.integrations.aws_lambda import instrument_handler

from .test_aws_lambda import Context

REQUEST_METRICS = {"Latency", "Error", "Fault"}


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a function moving from Powertools has: its variables, a Lambda without X-Ray daemon."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "orders")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Shop")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", Context.function_name)


def _metrics(out: str) -> set[tuple[Any, ...]]:
    """Each metric of each EMF document: (namespace, name, unit, ((dimension, value), ...) per set)."""
    found = set()
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        if "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                for dims in directive["Dimensions"]:
                    found.add((directive["Namespace"], metric["Name"], metric.get("Unit"),
                               tuple(sorted((d, doc[d]) for d in dims))))
    return found


def _powertools(capfd: pytest.CaptureFixture[str]) -> set[tuple[Any, ...]]:
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag

    reset_cold_start_flag()  # a fresh process for Powertools too

    logger, metrics, tracer = Logger(), Metrics(), Tracer()
    metrics.set_default_dimensions(Team="payments")

    @logger.inject_lambda_context
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_dimension(name="Channel", value="web")
        metrics.add_metric(name="OrderPlaced", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BasketValue", unit=MetricUnit.Count, value=3)
        return {"ok": True}

    capfd.readouterr()
    handler({}, Context())
    handler({}, Context())
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
    return _metrics(capfd.readouterr().out)


def _obskit(capfd: pytest.CaptureFixture[str], **options: Any) -> set[tuple[Any, ...]]:
    obskit.configure(metrics="stdout", logs="none", metrics_dimension_names="powertools",
                     metrics_default_dimensions={"Team": "payments"})

    @instrument_handler(**options)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        obskit.metrics.count("OrderPlaced", 1, dimensions={"Channel": "web"})
        obskit.metrics.count("BasketValue", 3, dimensions={"Channel": "web"})
        return {"ok": True}

    capfd.readouterr()
    handler({}, Context())
    handler({}, Context())
    obskit.flush()
    return _metrics(capfd.readouterr().out)


def test_same_metric_names_and_dimensions_as_powertools(capfd: pytest.CaptureFixture[str]) -> None:
    """ColdStart with [function_name, service] and the app's metrics with [service, Team, Channel], as Powertools."""
    powertools = _powertools(capfd)
    assert ("Shop", "ColdStart", "Count", (("function_name", "orders"), ("service", "orders"))) in powertools
    assert ("Shop", "OrderPlaced", "Count", (("Channel", "web"), ("Team", "payments"), ("service", "orders"))) in \
        powertools
    mine = _obskit(capfd)
    assert {m for m in mine if m[1] not in REQUEST_METRICS} == powertools
    assert {m[1] for m in mine} - {m[1] for m in powertools} == REQUEST_METRICS


def test_without_request_metrics_the_output_is_the_same(capfd: pytest.CaptureFixture[str]) -> None:
    powertools = _powertools(capfd)
    assert _obskit(capfd, request_metrics=False) == powertools
