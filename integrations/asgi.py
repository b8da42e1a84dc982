"""Pure ASGI middleware: every HTTP request gets a server span, an access line and its metrics.

Imports: standard library and obskit's core (``obskit.scope``, ``obskit.propagation``,
``obskit.semconv``). No framework: it works under any ASGI server and app (Starlette,
FastAPI, Quart, Django's ASGI handler).

Why pure ASGI and not Starlette's ``BaseHTTPMiddleware``: that one runs the app in a separate
task, so a ContextVar the endpoint sets never comes back, a streamed body is buffered through
a memory stream, and every request pays for the task. Here the app is awaited in the same task,
``send`` is wrapped to see the status, the body size and the last chunk, and ``receive`` to see
a client that goes away.

The ``lifespan`` scope goes through ``obskit.integrations._lifespan``, which flushes everything
when the server shuts down (and answers the protocol for an app that does not speak it);
``websocket`` passes through untouched. What it does per ``http`` request:

* the span starts named by the method and is renamed to ``GET /orders/{order_id}`` from
  ``scope["route"].path``, which Starlette's router writes into the shared scope;
* the latency ends when the last body chunk is sent (background tasks run after that);
* an exception before the response started counts as a 500 fault; one after it started is a
  fault with the status that was sent; both are re-raised unchanged;
* a client that disconnects is logged as ``client_disconnected`` (499 if nothing was sent),
  not as a fault of the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from obskit import _diagnostics
from obskit.integrations._http_capture import CaptureCache, ServerCapture
from obskit.integrations._lifespan import lifespan
from obskit.propagation import asgi_getter
from obskit.scope import DIAG_ERROR, ScopeOptions, ScopeSettings, request_scope
from obskit.semconv import HEADER_CORRELATION_ID, HEADER_TRACEPARENT, HEADER_XRAY

__all__ = ["ObskitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UA = b"user-agent"
_HOST = b"host"
_XFF = b"x-forwarded-for"
DIAG_BAD_HEADERS = "scope.malformed_asgi_headers"
_HEADER_NAMES = {name: name.encode("latin-1") for name in (HEADER_CORRELATION_ID, HEADER_TRACEPARENT, HEADER_XRAY)}
"""Response header names obskit adds, encoded once."""


class _Request(request_scope):
    """One ASGI request: ``request_scope`` plus the wrapped ``send`` and ``receive``."""

    __slots__ = ("_extra_headers", "_receive", "_sc", "_send", "complete", "started")

    def __init__(self, scope: Scope, receive: Receive, send: Send, settings: ScopeSettings) -> None:
        ua = host = xff = None
        try:
            for name, value in scope.get("headers") or ():
                if name == _UA:
                    ua = value.decode("latin-1")
                elif name == _HOST:
                    host = value.decode("latin-1")
                elif name == _XFF:
                    xff = value.decode("latin-1") if xff is None else f"{xff},{value.decode('latin-1')}"
        except Exception:  # a hand-built scope with odd headers: propagation copes, so do we
            _diagnostics.incr(DIAG_BAD_HEADERS)
        client = scope.get("client")
        try:
            peer = client[0] if client else None
        except Exception:  # not the (host, port) pair of the spec
            peer = None
        root = scope.get("root_path") or ""
        path = scope.get("path")
        full = root + path if root and path and root.__class__ is str and path.__class__ is str else path
        self.begin(
            settings, excluded=full is not path and settings.excluded(full), method=scope.get("method") or "GET",
            path=full, carrier=scope, getter=asgi_getter, peer=peer, forwarded_for=xff, user_agent=ua,
            scheme=scope.get("scheme"), host=host, request=scope,
        )
        self._send = send
        self._receive = receive
        self._sc: ServerCapture | None = None
        self.started = False
        self.complete = False
        extra = self.response_headers()
        if not extra:
            self._extra_headers = None
            return
        try:
            if len(extra) == 1:  # the usual case (x-correlation-id): no comprehension frame
                k, v = extra[0]
                self._extra_headers = [(_HEADER_NAMES.get(k) or k.encode("latin-1"), v.encode("latin-1"))]
            else:
                self._extra_headers = [
                    (_HEADER_NAMES.get(k) or k.encode("latin-1"), v.encode("latin-1")) for k, v in extra
                ]
        except UnicodeEncodeError:  # an id no header can carry: the response goes without it
            self._extra_headers = None

    async def send(self, message: Message) -> None:
        try:
            kind = message.get("type")
        except AttributeError:  # not a message: the server's to refuse, not obskit's
            kind = None
        if kind == "http.response.start":
            self.started = True
            self.status = message.get("status")
            extra = self._extra_headers
            if extra:
                try:
                    message = _with_headers(message, extra)
                except Exception:  # headers no server takes: leave them as the app made them
                    _diagnostics.incr(DIAG_ERROR)
            if self._sc is not None:
                self._sc.responded(self.span, self.status, message.get("headers"))
        elif kind == "http.response.body":
            body = message.get("body")
            if body:
                try:
                    self.response_size = (self.response_size or 0) + len(body)
                except TypeError:  # not bytes: the server's to refuse, not obskit's
                    pass
            elif self.response_size is None:
                self.response_size = 0
            if not message.get("more_body", False):
                self.complete = True
                try:
                    await self._send(message)
                except OSError:
                    self.disconnected = True
                    raise
                self.finish_response()
                return
        try:
            await self._send(message)
        except OSError:  # the server could not write: the client went away
            self.disconnected = True
            raise

    async def receive(self) -> Message:
        message = await self._receive()
        if message.get("type") == "http.disconnect" and not self.complete:
            self.disconnected = True
        return message


def _with_headers(message: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    """A copy of ``http.response.start`` with our headers added (unless the app set them)."""
    headers = message.get("headers")
    cls = headers.__class__
    if cls is not list and cls is not tuple and headers is not None:
        return message  # an iterable of another kind (or not one): the app's to answer for
    if headers:
        if len(extra) == 1:  # the usual case: one name to look for, no set to build
            name = extra[0][0]
            size = len(name)
            for h in headers:
                if len(h[0]) == size and bytes(h[0]).lower() == name:  # lower only a name that could match
                    headers = list(headers)
                    break
            else:
                headers = [*headers, extra[0]]
        else:
            present = {bytes(h[0]).lower() for h in headers}
            headers = [*headers, *(h for h in extra if h[0] not in present)]
    else:
        headers = list(extra)
    out = dict(message)
    out["headers"] = headers
    return out


def _route_of(scope: Scope, root_path: str) -> str | None:
    """The route template the router matched, with the prefix of any ``Mount`` it went through."""
    route = scope.get("route")
    if route is None:
        return None
    path = getattr(route, "path", None)
    if path.__class__ is not str:
        return None
    mounted = scope.get("root_path") or ""
    if mounted != root_path and mounted.startswith(root_path):
        return mounted[len(root_path):] + path
    return path


def _is_disconnect(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or type(exc).__name__ == "ClientDisconnect"


class ObskitMiddleware:
    """Wrap an ASGI app so that each HTTP request is traced, logged and measured.

    Example::

        app = ObskitMiddleware(app, excluded_routes=["/health"])

    Args:
        app: the ASGI application.
        **options: ``excluded_routes``, ``record_4xx_as_error``, ``response_headers``,
            ``trust_forwarded_for``, ``trusted_proxies``, ``access_log``, ``request_metrics``,
            ``correlation_headers``, ``request_hook(span, scope)`` (when the span starts; a name
            it sets with ``span.name = ...`` stands: the route template found later still names
            the Operation and the access line's ``route``, but no longer renames the span),
            ``response_hook(span, status, headers)`` (when the response starts; ``headers`` as
            ``(str, str)`` pairs) and ``log_fields(scope) -> mapping`` (see
            ``obskit.scope.OPTIONS``); they override ``configure()`` for this app. Headers named
            by ``http_capture_headers_server_request``/``_response`` become span attributes.

    Raises:
        ConfigError: for an unknown option or a bad value, at once.
    """

    __slots__ = ("_capture", "_options", "app")

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.app = app
        self._options = ScopeOptions(options)
        self._capture = CaptureCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            if scope.get("type") == "lifespan":
                await lifespan(self.app, scope, receive, send)  # flushes at shutdown (obskit.integrations._lifespan)
                return
            await self.app(scope, receive, send)
            return
        settings = self._options.settings()
        if settings is None or settings.excluded(scope.get("path")):
            await self.app(scope, receive, send)
            return
        try:
            root_path = scope.get("root_path") or ""
            req = _Request(scope, receive, send, settings)
        except Exception:  # a scope no server makes: serve the request untraced, counted
            _diagnostics.incr(DIAG_ERROR)  # (nothing set yet: the scope's own begin never raises)
            await self.app(scope, receive, send)
            return
        if req._ended:  # excluded with its root_path prefix
            await self.app(scope, receive, send)
            return
        sc = self._capture.get(settings)
        if sc is not None:
            req._sc = sc
            sc.requested(req.span, scope.get("headers") or ())
        exc: BaseException | None = None
        try:
            await self.app(scope, req.receive, req.send)
        except Exception as e:
            exc = e
            raise
        finally:
            _close(req, scope, root_path, exc)


def _close(req: _Request, scope: Scope, root_path: str, exc: BaseException | None) -> None:
    try:
        req.set_route(_route_of(scope, root_path))
        if exc is not None and _is_disconnect(exc) and (req.disconnected or req.started):
            req.disconnected = True
            exc = None
        if exc is None and not req.complete:
            if req.disconnected or req.started:
                # Started but never finished: the client went away (or the task was cancelled).
                req.disconnected = True
            else:
                req.status = 500  # the server answers an app that returned nothing with a 500
    except Exception:  # never let telemetry bookkeeping mask the app's outcome
        _diagnostics.incr(DIAG_ERROR)
    req.end(exc)
    # Whatever was scheduled during the request (the server's keep-alive timer, the app's own
    # call_later) holds a copy of the request's context, and in it this request scope, until the
    # event loop purges it. Letting go of the server's send and receive here keeps that copy from
    # holding the server's whole request too: under uvicorn it held some 25 requests' objects at
    # a time, which aged into the older GC generations and cost full collections. The
    # exception goes too: its traceback holds every frame of the failed request.
    req._send = _send_after_return
    req._receive = _receive_after_return
    req.exception = None


async def _send_after_return(message: Message) -> None:
    raise RuntimeError(f"ASGI message {message.get('type')!r} sent after the application returned")


async def _receive_after_return() -> Message:
    """What a server answers once the response is complete: the connection is over for this request."""
    return {"type": "http.disconnect"}
