"""obskit.integrations.httpx against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from tests.integrations._echo_server import EchoServer, echo_server

import obskit
from obskit.errors import ConfigError
from obskit.integrations.httpx import AsyncTransport, Transport, instrument_client
from obskit.semconv import (
    ATTR_ERROR_TYPE,
    ATTR_HTTP_METHOD,
    ATTR_HTTP_STATUS,
    ATTR_SERVER_ADDRESS,
    ATTR_URL_FULL,
)
from obskit.testing import capture

PROPAGATED = ("traceparent", "x-amzn-trace-id", "x-correlation-id", "baggage")


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with echo_server() as srv:
        yield srv


def _parent() -> obskit.activate:
    """An incoming request's context: a trace, a correlation id and baggage."""
    return obskit.activate(obskit.new_trace(correlation_id="order-42", baggage={"tenant": "acme"}))


def test_allowlisted_host_receives_every_propagation_header(server: EchoServer) -> None:
    """A request to an allowlisted host carries traceparent, X-Amzn-Trace-Id, baggage and the correlation id."""
    with capture() as cap, _parent(), httpx.Client(transport=Transport(propagate_to=["localhost"])) as client:
        client.get(server.url("localhost"))
    seen = server.last
    span = cap.spans_named("GET")[0]
    assert seen["traceparent"].startswith(f"00-{span['trace_id']}-{span['span_id']}-")
    tid = span["trace_id"]
    assert seen["x-amzn-trace-id"].startswith(f"Root=1-{tid[:8]}-{tid[8:]};Parent={span['span_id']}")
    assert seen["x-correlation-id"] == "order-42"
    assert seen["baggage"] == "tenant=acme"


def test_host_not_on_the_allowlist_receives_no_ids(server: EchoServer) -> None:
    """The same server reached as 127.0.0.1 (not allowlisted) gets none of the headers, but the call is traced."""
    with capture() as cap, _parent(), httpx.Client(transport=Transport(propagate_to=["localhost"])) as client:
        client.get(server.url("127.0.0.1"))
    assert not set(PROPAGATED) & set(server.last)
    assert len(cap.spans_named("GET")) == 1


def test_server_logs_carry_the_callers_trace_and_correlation_id(server: EchoServer) -> None:
    """The server's obskit log line has the caller's trace id and correlation id."""
    with capture() as cap, _parent() as ctx, httpx.Client(transport=Transport(propagate_to=["localhost"])) as client:
        client.get(server.url("localhost"))
    line = cap.logs_with(message="served")[0]
    assert line["trace_id"] == ctx.trace_id
    assert line["correlation_id"] == "order-42"


def test_client_span_describes_the_call_and_is_a_child_of_the_current_span(server: EchoServer) -> None:
    """The client span has kind client, method, host, URL without query and status, under the caller's span."""
    with capture() as cap, httpx.Client(transport=Transport()) as client, obskit.span("checkout") as parent:
        client.get(server.url("localhost", "/ok?token=secret"))
    span = cap.spans_named("GET")[0]
    assert span["kind"] == "client"
    assert span["parent_span_id"] == parent.span_id
    assert span["attributes"][ATTR_HTTP_METHOD] == "GET"
    assert span["attributes"][ATTR_SERVER_ADDRESS] == "localhost"
    assert span["attributes"][ATTR_HTTP_STATUS] == 200
    assert span["attributes"][ATTR_URL_FULL] == f"http://localhost:{server.port}/ok"
    assert span["status"] != "error"


def test_user_traceparent_is_kept_and_no_conflicting_trace_header_is_added(server: EchoServer) -> None:
    """A traceparent the caller set reaches the server unchanged, without an X-Amzn-Trace-Id of ours."""
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with capture(), _parent(), httpx.Client(transport=Transport(propagate_to=["localhost"])) as client:
        client.get(server.url("localhost"), headers={"TraceParent": mine})
    assert server.last["traceparent"] == mine
    assert "x-amzn-trace-id" not in server.last
    assert server.last["x-correlation-id"] == "order-42"
    assert obskit.diagnostics()["integrations.http.skipped.user_header"] >= 2


def test_user_correlation_id_is_kept(server: EchoServer) -> None:
    """An x-correlation-id the caller set wins over the context's."""
    with capture(), _parent(), httpx.Client(transport=Transport(propagate_to=["localhost"])) as client:
        client.get(server.url("localhost"), headers={"X-Correlation-Id": "mine"})
    assert server.last["x-correlation-id"] == "mine"
    assert "traceparent" in server.last


def test_default_allowlist_is_the_process_own_domain(server: EchoServer) -> None:
    """Without propagate_to, loopback hosts (the process's own domain) receive the headers."""
    with capture(), _parent(), httpx.Client(transport=Transport()) as client:
        client.get(server.url("127.0.0.1"))
    assert server.last["x-correlation-id"] == "order-42"


def test_configured_allowlist_applies_to_clients_without_their_own(server: EchoServer) -> None:
    """configure(propagate_to=...) decides for a transport created without propagate_to."""
    with capture(propagate_to=["localhost"]), _parent(), httpx.Client(transport=Transport()) as client:
        client.get(server.url("127.0.0.1"))
        assert "traceparent" not in server.last
        client.get(server.url("localhost"))
        assert "traceparent" in server.last


def test_server_error_marks_the_client_span_failed(server: EchoServer) -> None:
    """A 5xx response sets status error and error.type to the status code."""
    with capture() as cap, httpx.Client(transport=Transport()) as client:
        response = client.get(server.url("localhost", "/fail"))
    assert response.status_code == 500
    span = cap.spans_named("GET")[0]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "500"


def test_connection_error_is_recorded_and_re_raised_unchanged() -> None:
    """A refused connection raises httpx.ConnectError to the caller; the span records it."""
    with echo_server() as srv:
        port = srv.port  # closed once the block ends
    with capture() as cap, httpx.Client(transport=Transport()) as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")
    span = cap.spans_named("GET")[0]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "ConnectError"
    assert span["events"][0]["name"] == "exception"


def test_async_transport_propagates_and_traces(server: EchoServer) -> None:
    """httpx.AsyncClient with AsyncTransport sends the headers and records one client span."""

    async def call() -> None:
        async with httpx.AsyncClient(transport=AsyncTransport(propagate_to=["localhost"])) as client:
            await client.get(server.url("localhost"))

    with capture() as cap, _parent():
        asyncio.run(call())
    span = cap.spans_named("GET")[0]
    assert server.last["traceparent"].startswith(f"00-{span['trace_id']}-{span['span_id']}-")


def test_instrument_client_wraps_an_existing_client_once(server: EchoServer) -> None:
    """instrument_client twice still gives one span per request, with the latest allowlist."""
    client = httpx.Client()
    instrument_client(client, propagate_to=["127.0.0.1"])
    instrument_client(client, propagate_to=["localhost"])
    with capture() as cap, _parent(), client:
        client.get(server.url("localhost"))
    assert len(cap.spans_named("GET")) == 1
    assert "traceparent" in server.last


def test_instrument_async_client(server: EchoServer) -> None:
    """instrument_client accepts an httpx.AsyncClient."""

    async def call() -> None:
        async with instrument_client(httpx.AsyncClient(), propagate_to=["localhost"]) as client:
            await client.get(server.url("localhost"))

    with capture() as cap, _parent():
        asyncio.run(call())
    assert len(cap.spans_named("GET")) == 1
    assert server.last["x-correlation-id"] == "order-42"


def test_log_lines_inside_the_transport_carry_the_client_span() -> None:
    """While the request is sent, the client span is current (seen here by a MockTransport)."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(obskit.current().span_id)
        return httpx.Response(204)

    with capture() as cap, httpx.Client(transport=Transport(httpx.MockTransport(handler))) as client:
        client.get("http://orders/x")
    assert seen == [cap.spans_named("GET")[0]["span_id"]]


def test_invalid_pattern_fails_when_the_client_is_built() -> None:
    """A bad propagate_to raises ConfigError at construction, not on the first request."""
    with pytest.raises(ConfigError, match="port"):
        Transport(propagate_to=["localhost:8080"])


def test_instrument_client_rejects_other_objects() -> None:
    """instrument_client says what it expects when given something else."""
    with pytest.raises(TypeError, match=r"httpx\.Client"):
        instrument_client(object())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_httpx_own_request_line_carries_the_client_span(server: EchoServer, kind: str) -> None:
    """httpx's "HTTP Request: GET ..." line (written after the transport returned) has the client span's ids."""
    with capture() as cap, obskit.span("checkout") as parent:
        if kind == "sync":
            with httpx.Client(transport=Transport()) as client:
                client.get(server.url("localhost", "/ok"))
        else:
            async def call() -> None:
                async with httpx.AsyncClient(transport=AsyncTransport()) as client:
                    await client.get(server.url("localhost", "/ok"))

            asyncio.run(call())
        obskit.get_logger("app").info("after the call")
    (client_span,) = cap.spans_named("GET")
    (line,) = [line for line in cap.logs if line.get("logger") == "httpx"]
    assert line["message"].startswith("HTTP Request: GET")
    assert (line["trace_id"], line["span_id"]) == (client_span["trace_id"], client_span["span_id"])
    assert cap.logs_with(message="after the call")[0]["span_id"] == parent.span_id
