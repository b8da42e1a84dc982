"""instrument_handler's Powertools-style options: log_event, capture_response, cold_start_metric, warn_empty_metrics."""

from __future__ import annotations

from typing import Any

import pytest

import obskit
import obskit.testing
from obskit import metrics, semconv
from obskit.errors import ConfigError
from obskit.integrations.aws_lambda import instrument_handler
from obskit.testing import capture

from .test_aws_lambda import Context


@pytest.fixture(autouse=True)
def _in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")


EVENT = {"detail": {"orderId": "o-1", "card": {"token": "tok_123"}}, "headers": {"Authorization": "Bearer x"}}


def _lambda_lines(cap: Any) -> list[dict[str, Any]]:
    return [line for line in cap.logs if line.get("logger") == semconv.LAMBDA_LOGGER]


def test_log_event_logs_the_redacted_event_as_the_message() -> None:
    """log_event=True: one INFO line whose message is the event, secrets replaced (Powertools' shape)."""
    @instrument_handler(log_event=True)
    def handler(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        handler(EVENT, Context())
    (line,) = _lambda_lines(cap)
    assert line["level"] == "INFO"
    assert line["message"]["detail"]["orderId"] == "o-1"
    assert line["message"]["detail"]["card"]["token"] == semconv.LOG_REDACTED
    assert line["message"]["headers"]["Authorization"] == semconv.LOG_REDACTED
    assert line["function_request_id"] == Context.aws_request_id
    assert EVENT["detail"]["card"]["token"] == "tok_123"  # the handler's event is untouched


def test_events_are_not_logged_by_default() -> None:
    @instrument_handler
    def handler(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        handler(EVENT, Context())
    assert _lambda_lines(cap) == []


def test_powertools_logger_log_event_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """POWERTOOLS_LOGGER_LOG_EVENT=true logs events; the handler's own log_event=False still wins."""
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    obskit.configure()

    @instrument_handler
    def logged(event: Any, context: Any) -> int:
        return 1

    @instrument_handler(log_event=False)
    def quiet(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        logged({"a": 1}, Context())
        quiet({"b": 2}, Context())
    assert [line["message"] for line in _lambda_lines(cap)] == [{"a": 1}]


def test_a_non_mapping_event_is_logged_under_event() -> None:
    @instrument_handler(log_event=True)
    def handler(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        handler([1, 2], Context())
    assert _lambda_lines(cap)[0]["message"] == {"event": [1, 2]}


def test_capture_response_keeps_the_redacted_response_as_metadata() -> None:
    """capture_response=True: the response is X-Ray metadata '<handler> response' in the service's namespace."""
    obskit.configure(service="orders-api")

    @instrument_handler(capture_response=True)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok", "session_id": "s-1"}

    with capture() as cap:
        assert handler({}, Context())["session_id"] == "s-1"
    (span,) = cap.spans
    assert span["metadata"] == {"orders-api": {"handler response": {
        "statusCode": 200, "body": "ok", "session_id": semconv.LOG_REDACTED}}}


def test_responses_are_not_captured_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off by default; POWERTOOLS_TRACER_CAPTURE_RESPONSE=true turns it on."""
    @instrument_handler
    def handler(event: Any, context: Any) -> int:
        return 7

    with capture() as cap:
        handler({}, Context())
    assert "metadata" not in cap.spans[0]
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "true")
    obskit.configure()
    with capture() as cap:
        handler({}, Context())
    assert cap.spans[0]["metadata"] == {"orders": {"handler response": 7}}


def test_cold_start_and_service_are_annotations_of_the_handler_span() -> None:
    """The invocation span carries ColdStart and Service, which the X-Ray emitter writes as annotations."""
    obskit.configure(service="orders-api")

    @instrument_handler
    def handler(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        handler({}, Context())
        handler({}, Context())
    assert [s["attributes"][semconv.ATTR_XRAY_COLD_START] for s in cap.spans] == [True, False]
    assert {s["attributes"][semconv.ATTR_XRAY_SERVICE] for s in cap.spans} == {"orders-api"}


def test_cold_start_metric_can_be_switched_off() -> None:
    """cold_start_metric=False (or configure(metrics_cold_start=False)) records no ColdStart."""
    @instrument_handler(cold_start_metric=False)
    def handler(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        handler({}, Context())
    assert not [d for d in cap.metrics if semconv.METRIC_COLD_START in d]
    assert cap.logs[-1][semconv.LOG_COLD_START] is True  # still a cold start on the log line

    obskit.testing.reset()  # the next invocation is a cold start again
    obskit.configure(metrics_cold_start=False)

    @instrument_handler
    def other(event: Any, context: Any) -> int:
        return 1

    with capture() as cap:
        other({}, Context())
    assert cap.logs[-1][semconv.LOG_COLD_START] is True
    assert not [d for d in cap.metrics if semconv.METRIC_COLD_START in d]


def test_warn_empty_metrics_warns_once_per_empty_invocation_and_never_raises() -> None:
    """warn_empty_metrics=True: an invocation that recorded no metric of its own gets one WARNING line."""
    @instrument_handler(warn_empty_metrics=True)
    def handler(event: Any, context: Any) -> int:
        if event.get("count"):
            metrics.count("OrderPlaced")
        if event.get("single"):
            metrics.single_metric("Audit", 1)
        return 1

    with capture() as cap:
        assert handler({}, Context()) == 1
        handler({"count": True}, Context())
        handler({"single": True}, Context())
    warnings = [line for line in _lambda_lines(cap) if line["message"] == semconv.EMPTY_METRICS_MESSAGE]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert warnings[0]["handler"] == "handler"
    assert obskit.diagnostics()["metrics.empty_invocation"] == 1


def test_handler_options_are_validated_at_decoration_time() -> None:
    with pytest.raises(ConfigError, match="log_event"):
        instrument_handler(log_event="sometimes")
