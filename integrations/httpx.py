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

Each request gets a client span (named by the host; method, host, scheme, URL without query,
status, error type) that is current while the request is sent, so obskit log lines written by
transport code carry it. ``traceparent``, ``tracestate``, ``X-Amzn-Trace-Id``, ``baggage`` and
``x-correlation-id`` are added only when the host passes the ``propagate_to`` allowlist (see
``obskit.integrations._outbound``: by default only the process's own domain), and never over a
header the request already has. The span covers the time to the response headers; a streamed
body is read after it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from obskit import _diagnostics
from obskit.context import activate, current
from obskit.integrations import _outbound
from obskit.integrations._outbound import HostPolicy

__all__ = ["AsyncTransport", "Transport", "instrument_client"]

DIAG_FAILURE = "integrations.httpx.failure"


def _prepare(policy: HostPolicy | None, request: Any) -> Any:
    """Start the span and add the headers; never raises (returns ``None`` without a span)."""
    try:
        url = request.url
        host = url.host
        span = _outbound.start_span(
            host or "http", _outbound.http_attributes(request.method, url.scheme, host, url.port, url.path)
        )
        if (policy or _outbound.configured_policy()).allows(host):
            headers = request.headers
            ctx = span.context if span is not None else current()
            # One pass over the raw header list: httpx's own `in` re-normalises every name.
            present = {raw.decode("latin-1").lower() for raw, _ in headers.raw}
            for name, value in _outbound.headers_for(ctx, present.__contains__):
                headers[name] = value
        return span
    except Exception:
        _diagnostics.incr(DIAG_FAILURE)
        _diagnostics.report_once(DIAG_FAILURE, "obskit: httpx instrumentation failed for a request (counted)")
        return None


class Transport:
    """An httpx transport that traces each request and propagates context to allowed hosts.

    Example::

        client = httpx.Client(transport=Transport(propagate_to=["*.internal.example.com"]))

    Args:
        transport: the transport to wrap; ``httpx.HTTPTransport()`` when omitted.
        propagate_to: host patterns that may receive trace ids and the correlation id; when
            omitted, ``configure(propagate_to=...)`` or the default (the process's own domain).

    Raises:
        ConfigError: for an invalid host pattern.
    """

    def __init__(self, transport: Any = None, *, propagate_to: Iterable[str] | str | None = None) -> None:
        if transport is None:
            import httpx

            transport = httpx.HTTPTransport()
        self.wrapped = transport
        self.policy = _outbound.policy_from(propagate_to)

    def handle_request(self, request: Any) -> Any:
        span = _prepare(self.policy, request)
        if span is None:
            return self.wrapped.handle_request(request)
        return _outbound.call_in_span(span, self.wrapped.handle_request, request)

    def close(self) -> None:
        self.wrapped.close()

    def __enter__(self) -> Transport:
        self.wrapped.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.wrapped.__exit__(*exc_info)


class AsyncTransport:
    """The ``httpx.AsyncClient`` twin of ``Transport`` (same arguments, ``httpx.AsyncHTTPTransport``)."""

    def __init__(self, transport: Any = None, *, propagate_to: Iterable[str] | str | None = None) -> None:
        if transport is None:
            import httpx

            transport = httpx.AsyncHTTPTransport()
        self.wrapped = transport
        self.policy = _outbound.policy_from(propagate_to)

    async def handle_async_request(self, request: Any) -> Any:
        span = _prepare(self.policy, request)
        if span is None:
            return await self.wrapped.handle_async_request(request)
        status: int | None = None
        error: BaseException | None = None
        try:
            with activate(span.context):
                response = await self.wrapped.handle_async_request(request)
            status = response.status_code
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


def instrument_client(client: Any, *, propagate_to: Iterable[str] | str | None = None) -> Any:
    """Trace an existing ``httpx.Client`` or ``httpx.AsyncClient`` and propagate to allowed hosts.

    Calling it again only changes ``propagate_to``; transports are never wrapped twice.

    Args:
        client: the client to instrument.
        propagate_to: host patterns (see ``Transport``).

    Returns:
        The same client, so ``client = instrument_client(httpx.Client())`` reads well.

    Raises:
        ConfigError: for an invalid host pattern.
        TypeError: when ``client`` is not an httpx client.
    """
    import httpx

    policy = _outbound.policy_from(propagate_to)
    if isinstance(client, httpx.AsyncClient):
        wrapper: type[Transport] | type[AsyncTransport] = AsyncTransport
    elif isinstance(client, httpx.Client):
        wrapper = Transport
    else:
        raise TypeError(f"instrument_client() expects an httpx.Client or httpx.AsyncClient, not {type(client)!r}")

    def wrap(transport: Any) -> Any:
        if isinstance(transport, (Transport, AsyncTransport)):
            transport.policy = policy
            return transport
        wrapped = wrapper(transport)
        wrapped.policy = policy
        return wrapped

    client._transport = wrap(client._transport)
    client._mounts = {pattern: (None if t is None else wrap(t)) for pattern, t in client._mounts.items()}
    return client
