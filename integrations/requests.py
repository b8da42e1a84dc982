"""Outgoing requests calls: a client span per request and trace headers to allowlisted hosts.

Imports: standard library, obskit's core and ``obskit.integrations._outbound``; ``requests``
only inside ``TracingAdapter()`` when it builds a default ``HTTPAdapter``.

``instrument_session(session)`` wraps every adapter mounted on a ``requests.Session`` (through
the public ``session.adapters`` mapping, keeping the mount order), and ``TracingAdapter`` can be
mounted by hand: ``session.mount("https://", TracingAdapter(HTTPAdapter(max_retries=3)))``.
The wrapper forwards every other attribute to the adapter it wraps, so code that reads
``session.get_adapter(url).max_retries`` keeps working.

Each request gets a client span (named by the host; method, host, scheme, URL without query,
status, error type) that is current while the request is sent. ``traceparent``,
``tracestate``, ``X-Amzn-Trace-Id``, ``baggage`` and ``x-correlation-id`` are added only when the
host passes the ``propagate_to`` allowlist (see ``obskit.integrations._outbound``: by default
only the process's own domain), and never over a header the request already has. With
``stream=True`` the span ends when the response headers arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from obskit import _diagnostics
from obskit.context import current
from obskit.integrations import _outbound

__all__ = ["TracingAdapter", "instrument_session"]

DIAG_FAILURE = "integrations.requests.failure"


class TracingAdapter:
    """A requests transport adapter that traces each request and propagates to allowed hosts.

    Args:
        adapter: the adapter to wrap; ``requests.adapters.HTTPAdapter()`` when omitted.
        propagate_to: host patterns that may receive trace ids and the correlation id; when
            omitted, ``configure(propagate_to=...)`` or the default (the process's own domain).

    Raises:
        ConfigError: for an invalid host pattern.
    """

    def __init__(self, adapter: Any = None, *, propagate_to: Iterable[str] | str | None = None) -> None:
        if adapter is None:
            from requests.adapters import HTTPAdapter

            adapter = HTTPAdapter()
        self.wrapped = adapter
        self.policy = _outbound.policy_from(propagate_to)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class lacks: max_retries, poolmanager, config...
        if name == "wrapped":
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def _prepare(self, request: Any) -> Any:
        try:
            parts = urlsplit(request.url)
            host = parts.hostname or ""
            span = _outbound.start_span(
                host or "http",
                _outbound.http_attributes(request.method or "GET", parts.scheme, host, parts.port, parts.path or "/"),
            )
            if (self.policy or _outbound.configured_policy()).allows(host):
                headers = request.headers
                ctx = span.context if span is not None else current()
                for name, value in _outbound.headers_for(ctx, headers.__contains__):
                    headers[name] = value
            return span
        except Exception:
            _diagnostics.incr(DIAG_FAILURE)
            _diagnostics.report_once(DIAG_FAILURE, "obskit: requests instrumentation failed for a request (counted)")
            return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Send ``request`` through the wrapped adapter inside a client span."""
        span = self._prepare(request)
        if span is None:
            return self.wrapped.send(request, **kwargs)
        return _outbound.call_in_span(span, self.wrapped.send, request, **kwargs)

    def close(self) -> None:
        self.wrapped.close()


def instrument_session(session: Any, *, propagate_to: Iterable[str] | str | None = None) -> Any:
    """Trace every request of a ``requests.Session`` and propagate context to allowed hosts.

    Wraps each adapter mounted now (``http://`` and ``https://`` by default); an adapter mounted
    later is yours to wrap with ``TracingAdapter``. Calling it again only changes
    ``propagate_to``.

    Args:
        session: the session to instrument.
        propagate_to: host patterns (see ``TracingAdapter``).

    Returns:
        The same session.

    Raises:
        ConfigError: for an invalid host pattern.
    """
    policy = _outbound.policy_from(propagate_to)
    adapters = session.adapters
    for prefix, adapter in list(adapters.items()):
        if isinstance(adapter, TracingAdapter):
            adapter.policy = policy
        else:
            wrapped = TracingAdapter(adapter)
            wrapped.policy = policy
            adapters[prefix] = wrapped
    return session
