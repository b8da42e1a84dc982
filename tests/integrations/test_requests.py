"""obskit.integrations.requests against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter
from tests.integrations._echo_server import EchoServer, echo_server

import obskit
from obskit.integrations.requests import TracingAdapter, instrument_session
from obskit.semconv import ATTR_ERROR_TYPE, ATTR_HTTP_METHOD, ATTR_HTTP_STATUS, ATTR_SERVER_ADDRESS
from obskit.testing import capture

PROPAGATED = ("traceparent", "x-amzn-trace-id", "x-correlation-id", "baggage")


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with echo_server() as srv:
        yield srv


def _parent() -> obskit.activate:
    """An incoming request's context: a trace, a correlation id and baggage."""
    return obskit.activate(obskit.new_trace(correlation_id="order-42", baggage={"tenant": "acme"}))


def _session(**kwargs: object) -> requests.Session:
    return instrument_session(requests.Session(), **kwargs)  # type: ignore[arg-type]


def test_allowlisted_host_receives_every_propagation_header(server: EchoServer) -> None:
    """A request to an allowlisted host carries traceparent, X-Amzn-Trace-Id, baggage and the correlation id."""
    with capture() as cap, _parent(), _session(propagate_to=["localhost"]) as session:
        session.get(server.url("localhost"), timeout=5)
    span = cap.spans_named("GET")[0]
    assert server.last["traceparent"].startswith(f"00-{span['trace_id']}-{span['span_id']}-")
    assert f"Parent={span['span_id']}" in server.last["x-amzn-trace-id"]
    assert server.last["x-correlation-id"] == "order-42"
    assert server.last["baggage"] == "tenant=acme"


def test_host_not_on_the_allowlist_receives_no_ids(server: EchoServer) -> None:
    """The same server reached as 127.0.0.1 (not allowlisted) gets none of the headers, but the call is traced."""
    with capture() as cap, _parent(), _session(propagate_to=["localhost"]) as session:
        session.get(server.url("127.0.0.1"), timeout=5)
    assert not set(PROPAGATED) & set(server.last)
    assert len(cap.spans_named("GET")) == 1


def test_server_logs_carry_the_callers_trace_and_correlation_id(server: EchoServer) -> None:
    """The server's obskit log line has the caller's trace id and correlation id."""
    with capture() as cap, _parent() as ctx, _session(propagate_to=["localhost"]) as session:
        session.get(server.url("localhost"), timeout=5)
    line = cap.logs_with(message="served")[0]
    assert line["trace_id"] == ctx.trace_id
    assert line["correlation_id"] == "order-42"


def test_client_span_describes_the_call(server: EchoServer) -> None:
    """The client span has kind client, method, host and status, under the caller's span."""
    with capture() as cap, _session() as session, obskit.span("checkout") as parent:
        session.post(server.url("localhost"), data=b"x", timeout=5)
    span = cap.spans_named("POST")[0]
    assert span["kind"] == "client"
    assert span["parent_span_id"] == parent.span_id
    assert span["attributes"][ATTR_HTTP_METHOD] == "POST"
    assert span["attributes"][ATTR_SERVER_ADDRESS] == "localhost"
    assert span["attributes"][ATTR_HTTP_STATUS] == 200


def test_user_headers_are_never_overwritten(server: EchoServer) -> None:
    """A caller's X-Amzn-Trace-Id and correlation id arrive unchanged, and no traceparent is added."""
    mine = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    with capture(), _parent(), _session(propagate_to=["localhost"]) as session:
        session.get(server.url("localhost"), headers={"X-Amzn-Trace-Id": mine, "x-correlation-id": "mine"}, timeout=5)
    assert server.last["x-amzn-trace-id"] == mine
    assert server.last["x-correlation-id"] == "mine"
    assert "traceparent" not in server.last
    assert server.last["baggage"] == "tenant=acme"


def test_server_error_marks_the_client_span_failed(server: EchoServer) -> None:
    """A 5xx response sets status error and error.type to the status code."""
    with capture() as cap, _session() as session:
        assert session.get(server.url("localhost", "/fail"), timeout=5).status_code == 500
    span = cap.spans_named("GET")[0]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "500"


def test_connection_error_is_re_raised_unchanged() -> None:
    """A refused connection raises requests' ConnectionError; the span records the exception."""
    with echo_server() as srv:
        port = srv.port
    with capture() as cap, _session() as session, pytest.raises(requests.ConnectionError):
        session.get(f"http://127.0.0.1:{port}/", timeout=5)
    span = cap.spans_named("GET")[0]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "ConnectionError"


def test_instrument_session_twice_wraps_adapters_once(server: EchoServer) -> None:
    """A second instrument_session changes the allowlist without a second span per request."""
    session = _session(propagate_to=["127.0.0.1"])
    instrument_session(session, propagate_to=["localhost"])
    with capture() as cap, _parent(), session:
        session.get(server.url("localhost"), timeout=5)
    assert len(cap.spans) == 1
    assert "traceparent" in server.last


def test_wrapped_adapter_keeps_its_settings() -> None:
    """Attributes of the wrapped adapter (max_retries) stay readable through the session."""
    session = requests.Session()
    session.mount("http://", TracingAdapter(HTTPAdapter(max_retries=3)))
    assert session.get_adapter("http://orders/").max_retries.total == 3
