"""One request, start to end: server span, access line, request metrics, correlated logs.

Two halves: ``obskit.scope._settings`` is configuration time (the options, their parsers,
``ScopeOptions`` and ``ScopeSettings``, resolved once per configuration and app);
``obskit.scope._request`` is the lifecycle of one request (``request_scope``). This package
re-exports what integrations and users need.

Every integration (ASGI, WSGI, Flask, FastAPI, Lambda) is a thin shell around
``request_scope``; what one request produces (the README's "What one request produces")
lives here once:

1. extract the incoming context (headers, or what the Lambda integration pre-extracted);
2. open a server span named by the route template (``GET /orders/{order_id}``, never the raw
   path: the route is often known only after routing, so the span is renamed then), make it
   current and install this object as the request's ``RequestScope`` accumulator, once;
3. the integration runs the app and reports the status (``set_status``) and body size;
4. ``end()``: end the span (fault on 5xx or an exception), record ``Latency``/``Error``/
   ``Fault`` and hand the request's metrics on, write one access line (last, so a reader that
   sees it knows the rest is done), let the log module write or drop the buffered DEBUG
   lines, and reset the context.

Speed is a feature here: this runs on every request. ``request_scope`` is a slotted class
(no generator context manager, no per-request closures), the settings that depend on the
configuration are computed once per ``Config`` object (``ScopeOptions.settings``), and the
steps that could fail are each isolated so that telemetry never raises into the application.
"""

from obskit.scope._request import (
    DIAG_CLEANED,
    abandon,
    current_request,
    request_scope,
    set_route,
)
from obskit.scope._settings import (
    DIAG_CLIPPED,
    DIAG_ERROR,
    DIAG_HOOK,
    OPTIONS,
    NotText,
    ScopeOptions,
    ScopeSettings,
    normalize_method,
)

__all__ = [
    "DIAG_CLEANED",
    "DIAG_CLIPPED",
    "DIAG_ERROR",
    "DIAG_HOOK",
    "OPTIONS",
    "NotText",
    "ScopeOptions",
    "ScopeSettings",
    "abandon",
    "current_request",
    "normalize_method",
    "request_scope",
    "set_route",
]
