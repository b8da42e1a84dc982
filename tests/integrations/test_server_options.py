"""Server options OpenTelemetry users expect: response_hook, captured headers, uninstrument (Flask, FastAPI, Lambda)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from flask import Flask

import obskit
from obskit import semconv
from obskit.integrations import fastapi as obskit_fastapi
from obskit.integrations import flask as obskit_flask
from obskit.integrations.aws_lambda import instrument_handler
from obskit.testing import capture

from .test_aws_lambda import Context, event


def _flask(**options: Any) -> Flask:
    app = Flask("orders")

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> tuple[str, int, dict[str, str]]:
        return "ok", 201, {"X-Order-Id": str(order_id), "Set-Cookie": "s=1"}

    return obskit_flask.instrument(app, **options)


def _fastapi(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> PlainTextResponse:
        return PlainTextResponse("ok", status_code=201, headers={"X-Order-Id": str(order_id), "Set-Cookie": "s=1"})

    return obskit_fastapi.instrument(app, **options)


def _get_flask(app: Flask, headers: dict[str, str]) -> int:
    response = app.test_client().get("/orders/7", headers=headers)
    assert response.data == b"ok"
    return response.status_code


def _get_fastapi(app: FastAPI, headers: dict[str, str]) -> int:
    async def get() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return (await client.get("/orders/7", headers=headers)).status_code

    return asyncio.run(get())


FRAMEWORKS = {"flask": (_flask, _get_flask), "fastapi": (_fastapi, _get_fastapi)}
EACH = pytest.mark.parametrize("framework", list(FRAMEWORKS))


def _server_span(cap: Any) -> dict[str, Any]:
    (span,) = [s for s in cap.spans if s["kind"] == "server"]
    return span


@EACH
def test_response_hook_sees_span_status_and_headers(framework: str) -> None:
    """response_hook(span, status, headers) runs as the response starts, with the span still open."""
    seen: list[tuple[int, dict[str, str]]] = []

    def response_hook(span: Any, status: int, headers: list[tuple[str, str]]) -> None:
        seen.append((status, {k.lower(): v for k, v in headers}))
        span.set_attribute("app.order_header", dict(headers).get("X-Order-Id") or dict(headers).get("x-order-id"))

    build, get = FRAMEWORKS[framework]
    app = build(response_hook=response_hook)
    with capture() as cap:
        assert get(app, {}) == 201
    assert seen[0][0] == 201
    assert seen[0][1]["x-order-id"] == "7"
    assert _server_span(cap)["attributes"]["app.order_header"] == "7"


@EACH
def test_a_raising_response_hook_is_counted_not_raised(framework: str) -> None:
    def boom(*args: Any) -> None:
        raise ValueError("hook")

    build, get = FRAMEWORKS[framework]
    app = build(response_hook=boom)
    with capture():
        assert get(app, {}) == 201
    assert obskit.diagnostics()["scope.hook_failure"] == 1


@EACH
def test_captured_server_headers_with_opentelemetry_names(framework: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_* become span attributes; secrets are ***."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-tenant,authorization,x-api-key")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "x-order-.*,set-cookie")
    obskit.configure()
    build, get = FRAMEWORKS[framework]
    app = build()
    with capture() as cap:
        get(app, {"X-Tenant": "acme", "Authorization": "Bearer t", "X-Api-Key": "k", "X-Other": "no"})
    attrs = _server_span(cap)["attributes"]
    assert attrs["http.request.header.x_tenant"] == ("acme",)
    assert attrs["http.request.header.authorization"] == (semconv.LOG_REDACTED,)
    assert attrs["http.request.header.x_api_key"] == (semconv.LOG_REDACTED,)
    assert "http.request.header.x_other" not in attrs
    assert attrs["http.response.header.x_order_id"] == ("7",)
    assert attrs["http.response.header.set_cookie"] == (semconv.LOG_REDACTED,)


@EACH
def test_uninstrument_removes_the_middleware(framework: str) -> None:
    build, get = FRAMEWORKS[framework]
    app = build()
    uninstrument = obskit_flask.uninstrument if framework == "flask" else obskit_fastapi.uninstrument
    uninstrument(app)  # type: ignore[arg-type]
    uninstrument(app)  # type: ignore[arg-type]  # twice: nothing more to undo
    with capture() as cap:
        assert get(app, {}) == 201
    # no request telemetry of obskit's (FastAPI's own tracing, which instrument turned off, is back on)
    assert not [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert not [d for d in cap.metrics if semconv.METRIC_LATENCY in d]
    assert not [s for s in cap.spans if s["attributes"].get("http.response.body.size")]
    (obskit_flask.instrument if framework == "flask" else obskit_fastapi.instrument)(app)  # type: ignore[arg-type]
    with capture() as cap:
        get(app, {})
    assert len(cap.spans) == 1
    assert len([line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]) == 1


def test_flask_uninstrument_disconnects_the_exception_signal() -> None:
    app = Flask("boom")

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("x")

    from flask import got_request_exception

    obskit_flask.instrument(app)
    assert obskit_flask._record_exception in list(got_request_exception.receivers_for(app))
    obskit_flask.uninstrument(app)
    assert obskit_flask._record_exception not in list(got_request_exception.receivers_for(app))


def test_lambda_http_event_response_hook_and_captured_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """API Gateway events: the same header capture and response_hook as the web servers."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "user-agent")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "content-type")
    obskit.configure()
    seen: list[Any] = []

    @instrument_handler(response_hook=lambda span, status, headers: seen.append((status, headers)))
    def handler(ev: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 202, "headers": {"Content-Type": "text/plain"}, "body": "ok"}

    ev = event("apigw_rest_v1")
    with capture() as cap:
        handler(ev, Context())
    attrs = cap.spans[0]["attributes"]
    user_agent = {k.lower(): v for k, v in ev["headers"].items()}["user-agent"]
    assert attrs["http.request.header.user_agent"] == (user_agent,)
    assert attrs["http.response.header.content_type"] == ("text/plain",)
    assert seen[0][0] == 202
    assert ("Content-Type", "text/plain") in seen[0][1]
