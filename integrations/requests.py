"""Outgoing requests calls: a client span per request and trace headers to allowlisted hosts.

Imports: standard library, obskit's core and ``obskit.integrations._outbound``; ``requests``
only inside ``TracingAdapter()`` when it builds a default ``HTTPAdapter``.

``instrument_session(session)`` wraps every adapter mounted on a ``requests.Session`` (through
the public ``session.adapters`` mapping, keeping the mount order), and ``TracingAdapter`` can be
mounted by hand: ``session.mount("https://", TracingAdapter(HTTPAdapter(max_retries=3)))``.
The wrapper forwards every other attribute to the adapter it wraps, so code that reads
``session.get_adapter(url).max_retries`` keeps working. ``uninstrument_session(session)`` puts
the original adapters back.

Each request gets a client span named as OpenTelemetry's HTTP conventions name it (``GET``;
``request_hook`` may rename it ``GET /orders/{id}``), with method, host, scheme, URL without
query, status and error type; it is current while the request is sent. ``traceparent``,
``tracestate``, ``X-Amzn-Trace-Id``, ``baggage`` and ``x-correlation-id`` are added only when the
host passes the ``propagate_to`` allowlist (see ``obskit.integrations._outbound``: by default
only the process's own domain), and never over a header the request already has. A URL that
matches ``excluded_urls`` (or ``OTEL_PYTHON_REQUESTS_EXCLUDED_URLS``) gets neither. Headers
named by ``http_capture_headers_client_request``/``_response`` become span attributes (see
``obskit.integrations._http_capture``). With ``stream=True`` the span ends when the response
headers arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from obskit import _diagnostics
from obskit.integrations import _outbound

__all__ = ["TracingAdapter", "instrument_session", "uninstrument_session"]

DIAG_FAILURE = "integrations.requests.failure"


class TracingAdapter(_outbound.ClientSettings):  # type: ignore[misc]  # mypy sees obskit.integrations as Any
    """A requests transport adapter that traces each request and propagates to allowed hosts.

    Args:
        adapter: the adapter to wrap; ``requests.adapters.HTTPAdapter()`` when omitted.
        propagate_to: host patterns that may receive trace ids and the correlation id; when
            omitted, ``configure(propagate_to=...)`` or the default (the process's own domain).
        excluded_urls: regular expressions; a URL they match is sent untraced and without
            propagation headers (default: ``configure(requests_excluded_urls=...)``).
        request_hook: ``request_hook(span, prepared_request)`` before each request is sent.
        response_hook: ``response_hook(span, prepared_request, response)`` when it is answered.

    Raises:
        ConfigError: for an invalid host or URL pattern, or a hook that is not callable.
    """

    def __init__(self, adapter: Any = None, *, propagate_to: Iterable[str] | str | None = None,
                 excluded_urls: Iterable[str] | str | None = None, request_hook: Callable[..., Any] | None = None,
                 response_hook: Callable[..., Any] | None = None) -> None:
        if adapter is None:
            from requests.adapters import HTTPAdapter

            adapter = HTTPAdapter()
        self.wrapped = adapter
        super().__init__("requests", propagate_to=propagate_to, excluded_urls=excluded_urls,
                         request_hook=request_hook, response_hook=response_hook)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class lacks: max_retries, poolmanager, config...
        if name == "wrapped":
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def _prepare(self, request: Any) -> Any:
        try:
            parts = urlsplit(request.url)
            headers = request.headers
            method = request.method or "GET"
            return self.begin(
                request, method, request.url, parts.scheme, parts.hostname or "", parts.port, parts.path or "/",
                headers.__contains__, headers.__setitem__, headers.items,
            )
        except Exception:
            _diagnostics.incr(DIAG_FAILURE)
            _diagnostics.report_once(DIAG_FAILURE, "obskit: requests instrumentation failed for a request (counted)")
            return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Send ``request`` through the wrapped adapter inside a client span."""
        span = self._prepare(request)
        if span is None:
            return self.wrapped.send(request, **kwargs)
        return _outbound.call_in_span(span, self, request, self.wrapped.send, request, **kwargs)

    def close(self) -> None:
        self.wrapped.close()


def instrument_session(session: Any, *, propagate_to: Iterable[str] | str | None = None,
                       excluded_urls: Iterable[str] | str | None = None,
                       request_hook: Callable[..., Any] | None = None,
                       response_hook: Callable[..., Any] | None = None) -> Any:
    """Trace every request of a ``requests.Session`` and propagate context to allowed hosts.

    Wraps each adapter mounted now (``http://`` and ``https://`` by default); an adapter mounted
    later is yours to wrap with ``TracingAdapter``. Calling it again only changes the settings.

    Args:
        session: the session to instrument.
        propagate_to: host patterns (see ``TracingAdapter``).
        excluded_urls: URLs sent untraced (see ``TracingAdapter``).
        request_hook: see ``TracingAdapter``.
        response_hook: see ``TracingAdapter``.

    Returns:
        The same session.

    Raises:
        ConfigError: for an invalid host or URL pattern, or a hook that is not callable.
    """
    settings = _outbound.ClientSettings("requests", propagate_to=propagate_to, excluded_urls=excluded_urls,
                                        request_hook=request_hook, response_hook=response_hook)
    adapters = session.adapters
    for prefix, adapter in list(adapters.items()):
        wrapped = adapter if isinstance(adapter, TracingAdapter) else TracingAdapter(adapter)
        wrapped.settings_from(settings)
        adapters[prefix] = wrapped
    return session


def uninstrument_session(session: Any) -> Any:
    """Put back the adapters ``instrument_session`` wrapped (those mounted by hand too); returns the session."""
    adapters = session.adapters
    for prefix, adapter in list(adapters.items()):
        if isinstance(adapter, TracingAdapter):
            adapters[prefix] = adapter.wrapped
    return session
