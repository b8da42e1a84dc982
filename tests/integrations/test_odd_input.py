"""The middleware next to the bare app, fed what no server or runtime makes: the app behaves the same.

Each field of a WSGI environ, an ASGI scope, the app's response, a Lambda event and its context
is set to values of every wrong type. The outcome the server (or Lambda) sees, a result or an
exception type, must be the same with obskit as without; only obskit's own response header
(``x-correlation-id``) is set aside when comparing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from _odd import Unprintable
from obskit.integrations.asgi import ObskitMiddleware as AsgiMiddleware
from obskit.integrations.aws_lambda import instrument_handler
from obskit.integrations.wsgi import ObskitMiddleware as WsgiMiddleware
from obskit.testing import capture

ODD: list[Any] = [
    None, "", "x" * 70_000, "\ud800", 5, -1.5, float("nan"), [], {}, [1], {"a": 1}, b"\xff", object(),
    ("a",), True, Unprintable(),
]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("returned", fn())
    except Exception as exc:
        return ("raised", type(exc))


def _same(bare: Callable[[], Any], instrumented: Callable[[], Any]) -> None:
    with capture():
        assert _outcome(instrumented) == _outcome(bare)


# --- WSGI ---------------------------------------------------------------------------------------
ENVIRON = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/p", "SCRIPT_NAME": "", "REMOTE_ADDR": "10.0.0.1", "HTTP_HOST": "h",
    "HTTP_USER_AGENT": "ua", "wsgi.url_scheme": "http", "HTTP_TRACEPARENT": TRACEPARENT,
}


def _wsgi_app(status: Any = "200 OK", headers: Any = None, body: Any = (b"ok",)) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, [("Content-Type", "text/plain")] if headers is None else headers)
        return body

    return app


def _serve_wsgi(app: Any, environ: dict[str, Any]) -> Any:
    seen = []

    def start_response(status: Any, headers: Any, exc_info: Any = None) -> Any:
        if isinstance(headers, list):
            headers = [h for h in headers if not (isinstance(h, tuple) and h[:1] == ("x-correlation-id",))]
        seen.append((status, headers))
        return lambda data: None

    result = app(dict(environ), start_response)
    chunks = list(result)
    getattr(result, "close", lambda: None)()
    return seen, chunks


@pytest.mark.parametrize("key", [*ENVIRON, "HTTP_X_FORWARDED_FOR", "HTTP_BAGGAGE", "HTTP_X_AMZN_TRACE_ID",
                                 "HTTP_X_CORRELATION_ID"])
def test_wsgi_environ_values(key: str) -> None:
    for value in ODD:
        environ = {**ENVIRON, key: value}
        app = _wsgi_app()
        _same(partial(_serve_wsgi, app, environ), partial(_serve_wsgi, WsgiMiddleware(app), environ))


@pytest.mark.parametrize("part", ["status", "headers", "body"])
def test_wsgi_response_parts(part: str) -> None:
    for value in ODD:
        app = _wsgi_app(**{part: value})
        _same(partial(_serve_wsgi, app, ENVIRON), partial(_serve_wsgi, WsgiMiddleware(app), ENVIRON))


# --- ASGI ---------------------------------------------------------------------------------------
SCOPE = {
    "type": "http", "method": "GET", "path": "/p", "root_path": "", "scheme": "http", "query_string": b"",
    "headers": [(b"host", b"h"), (b"user-agent", b"ua"), (b"traceparent", TRACEPARENT.encode())],
    "client": ("10.0.0.1", 5000), "server": ("h", 80),
}


_OURS = (b"x-correlation-id",)


def _asgi_app(status: Any = 200, headers: Any = None, body: Any = b"ok") -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        start_headers = [(b"content-type", b"text/plain")] if headers is None else headers
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _serve_asgi(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        message = dict(message)
        if isinstance(message.get("headers"), (list, tuple)):  # a tuple of pairs and a list of them are the same
            message["headers"] = [h for h in message["headers"] if not (isinstance(h, tuple) and h[:1] == _OURS)]
        sent.append(message)

    asyncio.run(app(dict(scope), receive, send))
    return sent


@pytest.mark.parametrize("key", ["method", "path", "root_path", "scheme", "headers", "client", "query_string"])
def test_asgi_scope_values(key: str) -> None:
    for value in ODD:
        scope = {**SCOPE, key: value}
        app = _asgi_app()
        _same(partial(_serve_asgi, app, scope), partial(_serve_asgi, AsgiMiddleware(app), scope))


@pytest.mark.parametrize("shape", ["item", "pair"])
def test_asgi_header_items(shape: str) -> None:
    for value in ODD:
        scope = {**SCOPE, "headers": [value] if shape == "item" else [(b"user-agent", value), (value, b"x")]}
        app = _asgi_app()
        _same(partial(_serve_asgi, app, scope), partial(_serve_asgi, AsgiMiddleware(app), scope))


@pytest.mark.parametrize("part", ["status", "headers", "body"])
def test_asgi_response_parts(part: str) -> None:
    for value in ODD:
        if part == "body" and isinstance(value, Unprintable):
            continue  # a body whose truth value raises: the middleware asks `if body`, so does every server
        app = _asgi_app(**{part: value})
        _same(partial(_serve_asgi, app, SCOPE), partial(_serve_asgi, AsgiMiddleware(app), SCOPE))


# --- Lambda -------------------------------------------------------------------------------------
class _Context:
    function_name = "orders"
    function_version = "1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    memory_limit_in_mb = 128
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/orders"
    log_stream_name = "stream"

    def __init__(self, remaining: Any = 30_000) -> None:
        self.remaining = remaining

    def get_remaining_time_in_millis(self) -> Any:
        if isinstance(self.remaining, Exception):
            raise self.remaining
        return self.remaining


def _handler(event: Any, context: Any) -> Any:
    return {"statusCode": 200, "body": "ok"}


def _lambda(event: Any, context: Any) -> Any:
    response = instrument_handler(_handler)(event, context)
    if isinstance(response, dict) and isinstance(response.get("headers"), dict):
        response = {**response, "headers": {k: v for k, v in response["headers"].items() if k != "x-correlation-id"}}
        if not response["headers"]:
            del response["headers"]
    return response


EVENTS: dict[str, Callable[[Any], Any]] = {
    "the event": lambda v: v,
    "headers": lambda v: {"headers": v},
    "requestContext": lambda v: {"requestContext": v},
    "Records": lambda v: {"Records": v},
    "a record": lambda v: {"Records": [v]},
    "SQS attributes": lambda v: {"Records": [{"eventSource": "aws:sqs", "attributes": v}]},
    "REST method and path": lambda v: {"httpMethod": v, "path": v, "headers": {}},
    "HTTP API http": lambda v: {"version": "2.0", "routeKey": "GET /p", "requestContext": {"http": v}},
    "EventBridge source": lambda v: {"source": v, "detail-type": v, "detail": v},
    "SNS message": lambda v: {"Records": [{"EventSource": "aws:sns", "Sns": v}]},
}


@pytest.mark.parametrize("where", sorted(EVENTS))
def test_lambda_event_fields(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    for value in ODD:
        event = EVENTS[where](value)
        _same(partial(_handler, event, _Context()), partial(_lambda, event, _Context()))


@pytest.mark.parametrize("attribute", ["function_name", "aws_request_id", "invoked_function_arn",
                                       "memory_limit_in_mb", "remaining"])
def test_lambda_context_fields(monkeypatch: pytest.MonkeyPatch, attribute: str) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    for value in [*ODD, RuntimeError("no time")]:
        context = _Context()
        setattr(context, attribute, value)
        _same(partial(_handler, {}, context), partial(_lambda, {}, context))


def test_lambda_context_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    for context in ODD:
        _same(partial(_handler, {}, context), partial(_lambda, {}, context))
