"""The Lambda decorator with real event payloads and a fake context object."""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
from typing import Any

import pytest

import obskit
import obskit.testing
from obskit import semconv
from obskit.errors import ConfigError
from obskit.integrations.aws_lambda import instrument_handler
from obskit.testing import capture

EVENTS = pathlib.Path(__file__).with_name("events")
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
ENV_TRACE = "Root=1-65eb7350-1234567890abcdef12345678;Parent=1a2b3c4d5e6f7a8b;Sampled=1"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


class Context:
    """The documented attributes of Lambda's context object, and the remaining-time method."""

    function_name = "orders"
    function_version = "$LATEST"
    invoked_function_arn = ARN
    memory_limit_in_mb = 256
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/orders"
    log_stream_name = "2024/01/01/[$LATEST]abcdef"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture(autouse=True)
def _in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", ENV_TRACE)


def _access(cap) -> dict:
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER
             and line["message"] == semconv.ACCESS_MESSAGE]
    assert len(lines) == 1, cap.logs
    return lines[0]


@pytest.mark.parametrize(
    ("name", "response", "span_name", "kind", "trace_id", "status", "trigger"),
    [
        ("apigw_rest_v1", {"statusCode": 200, "body": "{}"}, "GET /orders/{order_id}", "server",
         "5759e988bd862e3fe1be46a994272793", 200, "api_gateway_rest"),
        ("apigw_http_v2", {"statusCode": 404, "body": "{}"}, "GET /orders/{order_id}", "server",
         "5f84c7a90e5b1e1c1ed4c2f7e3a7a8f1", 404, "api_gateway_http"),
        ("alb", {"statusCode": 503, "statusDescription": "503 Service Unavailable", "body": ""}, "GET", "server",
         "5c5363483d683b8b04734faae651f476", 503, "alb"),
        ("function_url", "plain text body", "POST", "server", "6417a5b23f7d6e4a1b2c3d4e5f6a7b8c", 200,
         "function_url"),
        ("sqs", None, "process my-queue", "consumer", "65eb73501234567890abcdef12345678", None, "sqs"),
        ("sns", None, "process sns-lambda", "consumer", "65eb73501234567890abcdef12345678", None, "sns"),
        ("eventbridge", None, "aws.events Scheduled Event", "consumer", "65eb73501234567890abcdef12345678",
         None, "eventbridge"),
        ("direct", {"ok": True}, "orders", "server", "65eb73501234567890abcdef12345678", None, "direct"),
    ],
)
def test_event_sources(name, response, span_name, kind, trace_id, status, trigger) -> None:
    """Each event source: its trace, span name and kind, status from the response, trigger in the log."""
    @instrument_handler
    def handler(evt, context):
        obskit.get_logger("h").info("handled")
        return response

    with capture() as cap:
        handler(event(name), Context())
    (span,) = cap.spans
    assert span["name"] == span_name
    assert span["kind"] == kind
    assert span["trace_id"] == trace_id
    assert cap.logs_with(message="handled")[0]["trace_id"] == trace_id
    line = _access(cap)
    assert line.get(semconv.LOG_HTTP_STATUS) == status
    assert line[semconv.LOG_TRIGGER] == trigger
    fault = 1 if status is not None and status >= 500 else 0
    error = 1 if status is not None and 400 <= status < 500 else 0
    assert cap.metric_values(semconv.METRIC_FAULT) == [fault]
    assert cap.metric_values(semconv.METRIC_ERROR) == [error]


def test_http_event_fields_reach_the_span() -> None:
    """An API Gateway event's method, path, client address and user agent are on the span."""
    @instrument_handler
    def handler(evt, context):
        return {"statusCode": 200}

    with capture() as cap:
        handler(event("apigw_rest_v1"), Context())
    attrs = cap.spans[0]["attributes"]
    assert attrs[semconv.ATTR_URL_PATH] == "/orders/7"
    assert attrs[semconv.ATTR_CLIENT_ADDRESS] == "127.0.0.1"
    assert attrs[semconv.ATTR_USER_AGENT] == "Custom User Agent String"
    assert attrs[semconv.ATTR_FAAS_TRIGGER] == "http"
    assert attrs[semconv.ATTR_CLOUD_REGION] == "eu-west-1"
    assert attrs[semconv.ATTR_FAAS_INVOCATION_ID] == Context.aws_request_id


def test_sqs_messages_become_span_links_and_batch_failures_pass_through() -> None:
    """Each SQS record's AWSTraceHeader is a link; the partial-batch response is returned as is."""
    failures = {"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]}

    @instrument_handler
    def handler(evt, context):
        return failures

    with capture() as cap:
        assert handler(event("sqs"), Context()) is failures
    links = cap.spans[0]["links"]
    assert [link["trace_id"] for link in links] == [
        "65eb735000000000a1b2c3d4e5f6a7b8", "5759e988bd862e3fe1be46a994272793",
    ]
    assert [link["span_id"] for link in links] == ["53995c3f42cd8ad8", "0a7ae8a5d4e1c2b3"]
    line = _access(cap)
    assert line[semconv.LOG_BATCH_FAILURES] == 1
    assert line[semconv.LOG_BATCH_SIZE] == 2
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]


def test_context_fields_are_bound_to_every_line() -> None:
    """function_name, function_request_id, function_arn, function_memory_size, cold_start on each line."""
    @instrument_handler
    def handler(evt, context):
        obskit.get_logger("h").info("inside")

    with capture() as cap:
        handler(event("direct"), Context())
    line = cap.logs_with(message="inside")[0]
    assert line[semconv.LOG_FUNCTION_NAME] == "orders"
    assert line[semconv.LOG_FUNCTION_REQUEST_ID] == Context.aws_request_id
    assert line[semconv.LOG_FUNCTION_ARN] == ARN
    assert line[semconv.LOG_FUNCTION_MEMORY_SIZE] == 256
    assert line[semconv.LOG_COLD_START] is True


def test_cold_start_is_recorded_once_per_process() -> None:
    """ColdStart=1 on the first invocation only; cold_start is True then False."""
    @instrument_handler
    def handler(evt, context):
        obskit.get_logger("h").info("inside")

    with capture() as cap:
        handler(event("direct"), Context())
        handler(event("direct"), Context())
    assert cap.metric_values(semconv.METRIC_COLD_START, {semconv.DIM_FUNCTION_NAME: "orders"}) == [1]
    assert [line[semconv.LOG_COLD_START] for line in cap.logs_with(message="inside")] == [True, False]
    assert [s["attributes"][semconv.ATTR_FAAS_COLDSTART] for s in cap.spans] == [True, False]


def test_cold_start_counts_when_the_first_invocation_raises() -> None:
    """A first invocation that raises still records ColdStart, and flushes it before re-raising."""
    @instrument_handler
    def handler(evt, context):
        raise ValueError("init failed")

    with capture() as cap:
        with pytest.raises(ValueError, match="init failed"):
            handler(event("direct"), Context())
        written = list(cap.metrics)
    assert sum(d.get(semconv.METRIC_COLD_START, 0) for d in written) == 1


def test_provisioned_concurrency_is_not_a_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """With AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency nothing counts as cold."""
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")

    @instrument_handler
    def handler(evt, context):
        return None

    with capture() as cap:
        handler(event("direct"), Context())
    assert cap.metric_values(semconv.METRIC_COLD_START) == []
    assert _access(cap)[semconv.LOG_COLD_START] is False


def test_testing_reset_makes_the_next_invocation_cold_again() -> None:
    """obskit.testing.reset() resets the cold-start state."""
    @instrument_handler
    def handler(evt, context):
        return None

    with capture() as cap:
        handler(event("direct"), Context())
    obskit.testing.reset()
    with capture() as cap:
        handler(event("direct"), Context())
    assert cap.metric_values(semconv.METRIC_COLD_START) == [1]


def test_metrics_are_flushed_when_the_handler_raises() -> None:
    """The request metrics (Fault=1) are written before the exception leaves the handler."""
    @instrument_handler
    def handler(evt, context):
        raise KeyError("missing")

    with capture() as cap:
        with pytest.raises(KeyError):
            handler(event("apigw_http_v2"), Context())
        assert cap.metric_values(semconv.METRIC_FAULT) == [1]
        assert cap.spans[0]["attributes"][semconv.ATTR_ERROR_TYPE] == "KeyError"


def test_timeout_guard_fires_before_the_function_times_out() -> None:
    """With little time left the guard logs timeout_imminent, ends the span and writes Fault=1."""
    @instrument_handler(lambda_timeout_margin_ms=100)
    def handler(evt, context):
        time.sleep(0.4)
        return {"statusCode": 200}

    with capture() as cap:
        handler(event("apigw_http_v2"), Context(remaining_ms=150))
        warning = [line for line in cap.logs if line["message"] == semconv.TIMEOUT_MESSAGE]
        assert len(warning) == 1
        assert warning[0]["level"] == "WARNING"
        assert warning[0][semconv.LOG_FUNCTION_REQUEST_ID] == Context.aws_request_id
        assert cap.metric_values(semconv.METRIC_FAULT) == [1]
        (span,) = cap.spans
        assert span["attributes"][semconv.ATTR_FAAS_TIMEOUT_IMMINENT] is True
        assert span["status"] == "error"
        assert _access(cap)[semconv.LOG_ERROR_TYPE] == "timeout"
    assert obskit.current().is_valid is False


def test_timeout_guard_stays_quiet_for_a_quick_handler() -> None:
    """A handler that returns in time gets no timeout line and one normal access line."""
    @instrument_handler(lambda_timeout_margin_ms=100)
    def handler(evt, context):
        return {"statusCode": 200}

    with capture() as cap:
        handler(event("apigw_http_v2"), Context(remaining_ms=300))
        time.sleep(0.35)
    assert not [line for line in cap.logs if line["message"] == semconv.TIMEOUT_MESSAGE]
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 200


@pytest.mark.parametrize("odd", [None, [], "text", 42, {"Records": "nope"}, {"requestContext": "x"},
                                 {"Records": [{"eventSource": "aws:sqs", "attributes": None}]}])
def test_unknown_event_shapes_are_direct_invocations(odd: Any) -> None:
    """An event of an unknown or broken shape is handled as a direct invocation, never an error."""
    @instrument_handler
    def handler(evt, context):
        return evt

    with capture() as cap:
        assert handler(odd, Context()) is odd
    assert cap.spans
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]


@pytest.mark.parametrize("context", [None, object(), "ctx"])
def test_missing_or_odd_context_is_tolerated(context: Any) -> None:
    """Without a usable context the handler runs as usual, without the guard and context fields."""
    @instrument_handler
    def handler(evt, ctx):
        return {"statusCode": 201}

    with capture() as cap:
        assert handler(event("apigw_http_v2"), context)["statusCode"] == 201
    line = _access(cap)
    assert line[semconv.LOG_HTTP_STATUS] == 201
    assert semconv.LOG_FUNCTION_NAME not in line


def test_async_handler() -> None:
    """An async handler is awaited inside the invocation scope."""
    @instrument_handler
    async def handler(evt, context):
        await asyncio.sleep(0)
        obskit.get_logger("h").info("async inside")
        return {"statusCode": 200}

    with capture() as cap:
        assert asyncio.run(handler(event("apigw_rest_v1"), Context()))["statusCode"] == 200
    assert cap.logs_with(message="async inside")[0]["trace_id"] == cap.spans[0]["trace_id"]


def test_rest_response_without_status_code_is_a_502() -> None:
    """A REST API proxy response without statusCode is what API Gateway answers with 502."""
    @instrument_handler
    def handler(evt, context):
        return {"body": "forgot the status"}

    with capture() as cap:
        handler(event("apigw_rest_v1"), Context())
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 502
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]


def test_response_headers_are_added_to_a_copy() -> None:
    """x-correlation-id is added to the returned response; the handler's own dict stays unchanged."""
    original = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    @instrument_handler
    def handler(evt, context):
        return original

    with capture() as cap:
        out = handler(event("apigw_http_v2"), Context())
    assert out["headers"]["x-correlation-id"] == _access(cap)["correlation_id"]
    assert out["headers"]["Content-Type"] == "application/json"
    assert "x-correlation-id" not in original["headers"]


def test_response_without_headers_gets_its_own_headers_dict() -> None:
    """A response without headers gets a headers dict with x-correlation-id; the handler's dict stays as it was."""
    original = {"statusCode": 200, "body": "ok"}

    @instrument_handler
    def handler(evt, context):
        return original

    with capture() as cap:
        out = handler(event("apigw_rest_v1"), Context())
    assert out["headers"] == {"x-correlation-id": _access(cap)["correlation_id"]}
    assert original == {"statusCode": 200, "body": "ok"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("apigw_rest_v1", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"), ("apigw_http_v2", "JKJaXmPLvHcESHA="),
     ("function_url", "id")],
)
def test_the_front_doors_request_id_is_the_correlation_id(name: str, expected: str) -> None:
    """Without a correlation header, the id API Gateway returns as x-amzn-RequestId correlates the logs."""
    seen = []

    @instrument_handler
    def handler(evt, context):
        seen.append(obskit.current().correlation_id)
        return {"statusCode": 200, "body": "ok"}

    with capture() as cap:
        out = handler(event(name), Context())
    assert seen == [expected]
    assert _access(cap)["correlation_id"] == expected
    assert out["headers"]["x-correlation-id"] == expected


def test_a_correlation_header_wins_over_the_request_id() -> None:
    evt = event("apigw_rest_v1")
    evt["headers"]["X-Correlation-Id"] = "from-the-client"

    @instrument_handler
    def handler(evt, context):
        return {"statusCode": 200, "body": "ok"}

    with capture() as cap:
        handler(evt, Context())
    assert _access(cap)["correlation_id"] == "from-the-client"


def test_an_alb_request_without_a_correlation_header_gets_a_new_id() -> None:
    """ALB sends no request id: the correlation id is generated, as for any request."""

    @instrument_handler
    def handler(evt, context):
        return {"statusCode": 200, "body": "ok"}

    with capture() as cap:
        handler(event("alb"), Context())
    cid = _access(cap)["correlation_id"]
    assert len(cid) == 32
    assert int(cid, 16) >= 0


def test_excluded_http_route() -> None:
    """An HTTP event for an excluded path is handled without telemetry."""
    @instrument_handler(excluded_routes=["/orders/*"])
    def handler(evt, context):
        return {"statusCode": 200}

    with capture() as cap:
        handler(event("apigw_rest_v1"), Context())
    assert cap.spans == []
    assert cap.logs == []


def test_bad_option_fails_at_decoration() -> None:
    """An unknown option raises ConfigError when the handler is decorated."""
    with pytest.raises(ConfigError, match="lambda_timeout_margin_ms"):
        instrument_handler(lambda_timeout_margin=5)


def test_api_gateway_root_only_header_hangs_the_function_span_under_lambdas_segment() -> None:
    """A Root-only header of the invocation's own trace: the span's parent is the Parent in _X_AMZN_TRACE_ID."""
    ev = event("apigw_http_v2")
    ev["headers"]["x-amzn-trace-id"] = "Root=1-65eb7350-1234567890abcdef12345678"

    @instrument_handler
    def handler(e: dict[str, Any], c: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "{}"}

    with capture() as cap:
        handler(ev, Context())
    (span,) = [s for s in cap.spans if s["kind"] == "server"]
    assert span["trace_id"] == "65eb73501234567890abcdef12345678"
    assert span["parent_span_id"] == "1a2b3c4d5e6f7a8b"


@pytest.mark.parametrize("arn", [5, None, "not-an-arn", ["arn"]])
def test_a_context_with_odd_fields_still_gives_the_invocations_telemetry(arn: Any) -> None:
    @instrument_handler
    def handler(event: Any, context: Any) -> Any:
        return {"statusCode": 200, "body": "ok"}

    ctx = Context()
    ctx.invoked_function_arn = arn  # type: ignore[assignment]
    with capture() as cap:
        assert handler(event("apigw_rest_v1"), ctx)["statusCode"] == 200
    assert len(cap.spans) == 1
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 200


def test_a_response_of_an_odd_shape_goes_back_as_the_handler_made_it() -> None:
    odd = {"statusCode": 200, "multiValueHeaders": {1: ["x"]}, "body": "ok"}

    @instrument_handler
    def handler(event: Any, context: Any) -> Any:
        return odd

    with capture() as cap:
        assert handler(event("apigw_rest_v1"), Context()) is odd
    assert len(cap.spans) == 1
    assert obskit.diagnostics()["scope.error"] == 1


def test_an_asgi_app_behind_an_adapter_in_the_handler_is_one_request() -> None:
    """What Mangum does: the handler runs the instrumented ASGI app on the event. One access line,
    one set of metrics, named by the app's route; the app's span is a child of the invocation's."""
    from obskit.integrations.asgi import ObskitMiddleware

    class Route:
        path = "/orders/{order_id}"

    async def app(scope, receive, send):
        scope["route"] = Route()
        obskit.get_logger("app").info("in the app")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    instrumented = ObskitMiddleware(app)

    @instrument_handler
    def handler(event: Any, context: Any) -> Any:
        http = event["requestContext"]["http"]
        scope = {
            "type": "http", "method": http["method"], "path": event["rawPath"], "root_path": "", "scheme": "https",
            "query_string": b"", "client": (http["sourceIp"], 0),
            "headers": [(k.encode(), v.encode()) for k, v in event["headers"].items()],
        }
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(instrumented(scope, receive, send))
        headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        return {"statusCode": sent[0]["status"], "headers": headers, "body": sent[1]["body"].decode()}

    ev = event("apigw_http_v2")
    ev["routeKey"] = "ANY /{proxy+}"  # what an adapter's catch-all route looks like
    with capture() as cap:
        response = handler(ev, Context())
    assert response["statusCode"] == 200
    line = _access(cap)
    assert (line[semconv.LOG_HTTP_ROUTE], line[semconv.LOG_HTTP_STATUS]) == ("/orders/{order_id}", 200)
    assert line["cold_start"] in (True, False)
    invocation = next(s for s in cap.spans if s["kind"] == "server")
    in_app = next(s for s in cap.spans if s["kind"] == "internal")
    assert in_app["parent_span_id"] == invocation["span_id"]
    assert invocation["name"] == "GET /orders/{order_id}"
    app_line = cap.logs_with(message="in the app")[0]
    assert (app_line["trace_id"], app_line["span_id"]) == (invocation["trace_id"], in_app["span_id"])
    assert app_line["function_request_id"] == Context.aws_request_id
    assert cap.metric_values(semconv.METRIC_LATENCY, {semconv.DIM_OPERATION: "GET /orders/{order_id}"})
    assert len(cap.metric_values(semconv.METRIC_LATENCY)) == 1
    assert response["headers"]["x-correlation-id"] == line["correlation_id"]
