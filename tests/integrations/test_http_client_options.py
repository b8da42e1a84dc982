"""What OpenTelemetry users expect of the requests and httpx integrations, against a real server on 127.0.0.1.

Span names by the HTTP conventions, excluded URLs (argument and OTEL_PYTHON_*_EXCLUDED_URLS),
request and response hooks, captured headers with OpenTelemetry's attribute names, sanitised
by OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS and the log redaction, uninstrument.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import requests
from tests.integrations._echo_server import EchoServer, echo_server

import obskit
from obskit import semconv
from obskit.errors import ConfigError
from obskit.integrations import httpx as obskit_httpx
from obskit.integrations import requests as obskit_requests
from obskit.testing import capture


@pytest.fixture
def server() -> Iterator[EchoServer]:
    with echo_server() as srv:
        yield srv


@contextmanager
def _requests_get(**options: Any) -> Iterator[Callable[..., int]]:
    with requests.Session() as session:
        obskit_requests.instrument_session(session, **options)

        def get(url: str, headers: dict[str, str] | None = None) -> int:
            return session.get(url, headers=headers, timeout=5).status_code  # type: ignore[no-any-return]

        yield get


@contextmanager
def _httpx_get(**options: Any) -> Iterator[Callable[..., int]]:
    with httpx.Client(transport=obskit_httpx.Transport(**options)) as client:

        def get(url: str, headers: dict[str, str] | None = None) -> int:
            return client.get(url, headers=headers).status_code

        yield get


CLIENTS = {"requests": _requests_get, "httpx": _httpx_get}
LIBRARIES = pytest.mark.parametrize("library", list(CLIENTS))


@LIBRARIES
def test_client_span_is_named_by_method(server: EchoServer, library: str) -> None:
    """OpenTelemetry's HTTP client span name: the method; the host is an attribute."""
    with CLIENTS[library]() as get, capture() as cap:
        assert get(server.url("localhost", "/orders/7")) == 200
    (span,) = cap.spans
    assert span["name"] == "GET"
    assert span["attributes"][semconv.ATTR_SERVER_ADDRESS] == "localhost"


@LIBRARIES
def test_request_hook_can_name_the_route(server: EchoServer, library: str) -> None:
    """request_hook(span, request) runs before sending; it may name the span 'GET /orders/{id}'."""
    seen: list[Any] = []

    def request_hook(span: Any, request: Any) -> None:
        seen.append((obskit.current().span_id, request.url))
        span.name = "GET /orders/{order_id}"

    def response_hook(span: Any, request: Any, response: Any) -> None:
        span.set_attribute("app.status_seen", response.status_code)

    with CLIENTS[library](request_hook=request_hook, response_hook=response_hook) as get, capture() as cap:
        get(server.url("localhost", "/orders/7"))
    (span,) = cap.spans
    assert span["name"] == "GET /orders/{order_id}"
    assert seen[0][0] == span["span_id"]  # the hook runs with the span current
    assert str(seen[0][1]).endswith("/orders/7")
    assert span["attributes"]["app.status_seen"] == 200


@LIBRARIES
def test_a_raising_hook_is_counted_and_the_call_goes_on(server: EchoServer, library: str) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("hook")

    with CLIENTS[library](request_hook=boom, response_hook=boom) as get, capture() as cap:
        assert get(server.url("localhost")) == 200
    assert len(cap.spans) == 1
    assert obskit.diagnostics()["integrations.http.hook_failure"] == 2


@LIBRARIES
def test_excluded_urls_argument(server: EchoServer, library: str) -> None:
    """A URL matching excluded_urls gets no span and no propagation headers."""
    options = {"excluded_urls": ["/health$", r"/internal/.*"], "propagate_to": ["localhost"]}
    with CLIENTS[library](**options) as get, capture() as cap, obskit.span("caller"):
        get(server.url("localhost", "/health"))
        assert "traceparent" not in server.last
        get(server.url("localhost", "/orders"))
        assert "traceparent" in server.last
    assert [s["name"] for s in cap.spans if s["kind"] == "client"] == ["GET"]


@LIBRARIES
def test_excluded_urls_from_opentelemetry_variables(server: EchoServer, library: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_PYTHON_<LIB>_EXCLUDED_URLS, else OTEL_PYTHON_EXCLUDED_URLS, as OpenTelemetry reads them."""
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "/ok")
    monkeypatch.setenv(f"OTEL_PYTHON_{library.upper()}_EXCLUDED_URLS", "/health")
    obskit.configure()
    with CLIENTS[library]() as get, capture() as cap:
        get(server.url("localhost", "/health"))
        get(server.url("localhost", "/ok"))
        assert [s["attributes"][semconv.ATTR_URL_FULL].rsplit("/", 1)[1] for s in cap.spans] == ["ok"]
        monkeypatch.delenv(f"OTEL_PYTHON_{library.upper()}_EXCLUDED_URLS")
        obskit.configure()
    with CLIENTS[library]() as get, capture() as cap:
        get(server.url("localhost", "/health"))
        get(server.url("localhost", "/ok"))
    assert [s["attributes"][semconv.ATTR_URL_FULL].rsplit("/", 1)[1] for s in cap.spans] == ["health"]


@LIBRARIES
def test_captured_headers_use_opentelemetry_names_and_are_sanitised(server: EchoServer, library: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Captured headers become http.request.header.<name> lists; secrets and sanitize fields become ***."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", "x-tenant-.*,authorization")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE", "Content-Length")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "x-tenant-secret")
    obskit.configure()
    with CLIENTS[library]() as get, capture() as cap:
        get(server.url("localhost"), headers={"X-Tenant-Id": "acme", "X-Tenant-Secret": "s3", "Authorization": "B x",
                                              "X-Other": "no"})
    attrs = cap.spans[0]["attributes"]
    assert attrs["http.request.header.x_tenant_id"] == ("acme",)
    assert attrs["http.request.header.x_tenant_secret"] == (semconv.LOG_REDACTED,)
    assert attrs["http.request.header.authorization"] == (semconv.LOG_REDACTED,)  # log_redact_keys
    assert "http.request.header.x_other" not in attrs
    assert attrs["http.response.header.content_length"] == ("2",)


def test_capture_patterns_are_checked_at_configure_time() -> None:
    with pytest.raises(ConfigError, match="http_capture_headers_client_request"):
        obskit.configure(http_capture_headers_client_request=["x-(unclosed"])


@LIBRARIES
def test_hooks_must_be_callable(library: str) -> None:
    with pytest.raises(ConfigError, match="request_hook"), CLIENTS[library](request_hook="not callable"):
        pass


def test_async_transport_has_the_same_options(server: EchoServer) -> None:
    """AsyncTransport: excluded URLs, hooks and the method span name too."""
    names: list[str] = []

    async def run() -> None:
        transport = obskit_httpx.AsyncTransport(excluded_urls="/skip", response_hook=lambda s, q, r: names.append(
            str(r.status_code)))
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(server.url("localhost", "/skip"))
            await client.post(server.url("localhost", "/orders"))

    with capture() as cap:
        asyncio.run(run())
    assert [s["name"] for s in cap.spans] == ["POST"]
    assert names == ["200"]


def test_uninstrument_session_restores_the_adapters(server: EchoServer) -> None:
    session = requests.Session()
    request_close = session.close
    originals = dict(session.adapters)
    obskit_requests.instrument_session(session)
    assert all(isinstance(a, obskit_requests.TracingAdapter) for a in session.adapters.values())
    obskit_requests.uninstrument_session(session)
    assert dict(session.adapters) == originals
    with capture() as cap:
        session.get(server.url("localhost"), timeout=5)
    request_close()
    assert cap.spans == []


def test_uninstrument_client_restores_the_transports(server: EchoServer) -> None:
    client = httpx.Client()
    original = client._transport
    obskit_httpx.instrument_client(client)
    assert isinstance(client._transport, obskit_httpx.Transport)
    obskit_httpx.uninstrument_client(client)
    assert client._transport is original
    with capture() as cap:
        client.get(server.url("localhost"))
    client.close()
    assert cap.spans == []
