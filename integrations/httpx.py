"""Outgoing httpx requests: a client span per request and trace headers to allowlisted hosts.

Imports: standard library, obskit's core and ``obskit.integrations._outbound``; ``httpx`` only
inside the functions that build its default transports.

Two ways in, both public httpx API or as close as httpx allows:

* ``httpx.Client(transport=obskit.integrations.httpx.Transport())`` (and ``AsyncTransport`` for
  ``httpx.AsyncClient``): wraps the transport you would have used (``HTTPTransport()`` by
  default), so retries, proxies and HTTP/2 stay yours.
* ``instrument_client(client)``: wraps the transports of a client that already exists. httpx
  has no public setter for them, so this replaces the client's ``_transport`` and proxy mounts
  (the attributes have been stable since httpx 0.18); prefer the transport when you build the
  client yourself.

Each request gets a client span named as OpenTelemetry's HTTP conventions name it (``GET``;
``request_hook`` may rename it ``GET /orders/{id}``), with method, host, scheme, URL without
query, status and error type; it is current while the request is sent, so obskit log lines
written by transport code carry it, and httpx's own "HTTP Request: ..." line (written after the
transport returned) carries it too when the standard library is bridged. ``traceparent``,
``tracestate``, ``X-Amzn-Trace-Id``, ``baggage`` and ``x-correlation-id`` are added only when
the host passes the ``propagate_to`` allowlist (see ``obskit.integrations._outbound``: by
default only the process's own domain), and never over a header the request already has. A URL
that matches ``excluded_urls`` (or ``OTEL_PYTHON_HTTPX_EXCLUDED_URLS``) gets neither. Headers
named by ``http_capture_headers_client_request``/``_response`` become span attributes. The span
covers the time to the response headers; a streamed body is read after it ends.
``uninstrument_client(client)`` puts the original transports back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from obskit import _diagnostics
from obskit._context import TelemetryContext
from obskit.context import activate
from obskit.integrations import _outbound

__all__ = ["AsyncTransport", "Transport", "instrument_client", "uninstrument_client"]

DIAG_FAILURE = "integrations.httpx.failure"

Hook = Callable[..., Any]


_ANSWERED: ContextVar[tuple[Any, TelemetryContext] | None] = ContextVar("obskit.httpx_answered", default=None)
"""The URL of the last request this context sent and its client span's context. httpx writes its
"HTTP Request: GET ... 200" line after the transport returned, when the span is no longer
current; the standard library bridge reads this to put the client span's ids on that line. Not
a current context: it changes nothing else the caller logs."""


def _answered(record: Any) -> TelemetryContext | None:
    """The client span of the request an ``httpx`` record reports (``LOG_CONTEXTS`` of the bridge)."""
    last = _ANSWERED.get()
    args = record.args
    if last is None or not isinstance(args, tuple) or len(args) < 2 or args[1] is not last[0]:
        return None
    return last[1]


def _register_log_context() -> None:
    # logging is loaded by httpx already; the bridge module is small on top of it
    from obskit._logs_bridge import LOG_CONTEXTS

    LOG_CONTEXTS["httpx"] = _answered


def _prepare(client: _outbound.ClientSettings, request: Any) -> Any:
    """Start the span and add the headers; never raises (returns ``None`` without a span)."""
    try:
        url = request.url
        headers = request.headers
        # One pass over the raw header list: httpx's own `in` re-normalises every name.
        present = {raw.decode("latin-1").lower() for raw, _ in headers.raw}
        return client.begin(
            request, request.method, str(url), url.scheme, url.host, url.port, url.path,
            present.__contains__, headers.__setitem__, headers.multi_items,
        )
    except Exception:
        _diagnostics.incr(DIAG_FAILURE)
        _diagnostics.report_once(DIAG_FAILURE, "obskit: httpx instrumentation failed for a request (counted)")
        return None


class Transport(_outbound.ClientSettings):  # type: ignore[misc]  # mypy sees obskit.integrations as Any
    """An httpx transport that traces each request and propagates context to allowed hosts.

    Example::

        client = httpx.Client(transport=Transport(propagate_to=["*.internal.example.com"]))

    Args:
        transport: the transport to wrap; ``httpx.HTTPTransport()`` when omitted.
        propagate_to: host patterns that may receive trace ids and the correlation id; when
            omitted, ``configure(propagate_to=...)`` or the default (the process's own domain).
        excluded_urls: regular expressions; a URL they match is sent untraced and without
            propagation headers (default: ``configure(httpx_excluded_urls=...)``).
        request_hook: ``request_hook(span, request)`` before each request is sent.
        response_hook: ``response_hook(span, request, response)`` when it is answered.

    Raises:
        ConfigError: for an invalid host or URL pattern, or a hook that is not callable.
    """

    def __init__(self, transport: Any = None, *, propagate_to: Iterable[str] | str | None = None,
                 excluded_urls: Iterable[str] | str | None = None, request_hook: Hook | None = None,
                 response_hook: Hook | None = None) -> None:
        if transport is None:
            import httpx

            transport = httpx.HTTPTransport()
        self.wrapped = transport
        super().__init__("httpx", propagate_to=propagate_to, excluded_urls=excluded_urls,
                         request_hook=request_hook, response_hook=response_hook)
        _register_log_context()

    def handle_request(self, request: Any) -> Any:
        span = _prepare(self, request)
        if span is None:
            return self.wrapped.handle_request(request)
        response = _outbound.call_in_span(span, self, request, self.wrapped.handle_request, request)
        _ANSWERED.set((request.url, span.context))
        return response

    def close(self) -> None:
        self.wrapped.close()

    def __enter__(self) -> Transport:
        self.wrapped.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.wrapped.__exit__(*exc_info)


class AsyncTransport(_outbound.ClientSettings):  # type: ignore[misc]  # (see Transport)
    """The ``httpx.AsyncClient`` twin of ``Transport`` (same arguments, ``httpx.AsyncHTTPTransport``)."""

    def __init__(self, transport: Any = None, *, propagate_to: Iterable[str] | str | None = None,
                 excluded_urls: Iterable[str] | str | None = None, request_hook: Hook | None = None,
                 response_hook: Hook | None = None) -> None:
        if transport is None:
            import httpx

            transport = httpx.AsyncHTTPTransport()
        self.wrapped = transport
        super().__init__("httpx", propagate_to=propagate_to, excluded_urls=excluded_urls,
                         request_hook=request_hook, response_hook=response_hook)
        _register_log_context()

    async def handle_async_request(self, request: Any) -> Any:
        span = _prepare(self, request)
        if span is None:
            return await self.wrapped.handle_async_request(request)
        status: int | None = None
        error: BaseException | None = None
        try:
            with activate(span.context):
                response = await self.wrapped.handle_async_request(request)
            status = response.status_code
            self.responded(span, request, response)
            _ANSWERED.set((request.url, span.context))
            return response
        except Exception as exc:
            error = exc
            raise
        finally:
            _outbound.end_http_span(span, status, error)

    async def aclose(self) -> None:
        await self.wrapped.aclose()

    async def __aenter__(self) -> AsyncTransport:
        await self.wrapped.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.wrapped.__aexit__(*exc_info)


def _kind(client: Any) -> type[Transport] | type[AsyncTransport]:
    import httpx

    if isinstance(client, httpx.AsyncClient):
        return AsyncTransport
    if isinstance(client, httpx.Client):
        return Transport
    raise TypeError(f"instrument_client() expects an httpx.Client or httpx.AsyncClient, not {type(client)!r}")


def instrument_client(client: Any, *, propagate_to: Iterable[str] | str | None = None,
                      excluded_urls: Iterable[str] | str | None = None, request_hook: Hook | None = None,
                      response_hook: Hook | None = None) -> Any:
    """Trace an existing ``httpx.Client`` or ``httpx.AsyncClient`` and propagate to allowed hosts.

    Calling it again only changes the settings; transports are never wrapped twice.

    Args:
        client: the client to instrument.
        propagate_to: host patterns (see ``Transport``).
        excluded_urls: URLs sent untraced (see ``Transport``).
        request_hook: see ``Transport``.
        response_hook: see ``Transport``.

    Returns:
        The same client, so ``client = instrument_client(httpx.Client())`` reads well.

    Raises:
        ConfigError: for an invalid host or URL pattern, or a hook that is not callable.
        TypeError: when ``client`` is not an httpx client.
    """
    wrapper = _kind(client)
    settings = _outbound.ClientSettings("httpx", propagate_to=propagate_to, excluded_urls=excluded_urls,
                                        request_hook=request_hook, response_hook=response_hook)

    def wrap(transport: Any) -> Any:
        wrapped = transport if isinstance(transport, (Transport, AsyncTransport)) else wrapper(transport)
        wrapped.settings_from(settings)
        return wrapped

    client._transport = wrap(client._transport)
    client._mounts = {pattern: (None if t is None else wrap(t)) for pattern, t in client._mounts.items()}
    return client


def uninstrument_client(client: Any) -> Any:
    """Put back the transports ``instrument_client`` wrapped; returns the client.

    Raises:
        TypeError: when ``client`` is not an httpx client.
    """
    _kind(client)

    def unwrap(transport: Any) -> Any:
        return transport.wrapped if isinstance(transport, (Transport, AsyncTransport)) else transport

    client._transport = unwrap(client._transport)
    client._mounts = {pattern: (None if t is None else unwrap(t)) for pattern, t in client._mounts.items()}
    return client
