"""WSGI middleware: every request gets a server span, an access line and its metrics.

Imports: standard library and obskit's core (``obskit.scope``, ``obskit.propagation``). No
framework: Flask's integration builds on it, and any WSGI app (Django, Pyramid, Falcon) can
use it directly.

A WSGI response is not always over when the app returns. When its body is already complete
then (a list, or a response that declares its ``Content-Length``: Flask's and Django's usual
responses), the request is finished at once: its span, metrics and access line are written and
its context is reset before the server (or a test client) even looks at the body, so a test
that only reads ``client.get(...).status_code`` sees everything, and closing that body unread is
not a disconnect. Only a streamed body (a generator, no declared length) is finished at its
last chunk, or at ``close()`` if the server stops early: the latency ends there, and the
request's context is made current again while each chunk is produced, so log lines written by
the generator carry the request's ids. Between chunks, and after the app returns, the context
is the server's own: nothing of a request outlives it. A streamed body closed before it ran out
means the server stopped sending (the client went away): the request is marked
``client.disconnected``, as the ASGI middleware does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from obskit import _diagnostics
from obskit.integrations._http_capture import CaptureCache, ServerCapture, wsgi_headers
from obskit.propagation import wsgi_getter
from obskit.scope import DIAG_ERROR, ScopeOptions, ScopeSettings, request_scope

__all__ = ["ObskitMiddleware"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Request(request_scope):
    """One WSGI request: ``request_scope`` plus the wrapped ``start_response``."""

    __slots__ = ("_environ", "_extra_headers", "_route_of", "_sc", "_start_response", "declared_length")

    def __init__(
        self, environ: dict[str, Any], start_response: Callable[..., Any], settings: ScopeSettings,
        route_of: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        path = environ.get("PATH_INFO") or "/"
        script = environ.get("SCRIPT_NAME")
        full = script + path if script and script.__class__ is str and path.__class__ is str else path
        self.begin(
            settings, excluded=bool(script) and settings.excluded(full), method=environ.get("REQUEST_METHOD") or "GET",
            path=full, carrier=environ, getter=wsgi_getter, peer=environ.get("REMOTE_ADDR"),
            forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"), user_agent=environ.get("HTTP_USER_AGENT"),
            scheme=environ.get("wsgi.url_scheme"), host=environ.get("HTTP_HOST"), request=environ,
        )
        self._start_response = start_response
        self._extra_headers = self.response_headers() or None
        self._environ = environ
        self._route_of = route_of
        self.declared_length: int | None = None
        """The ``Content-Length`` the app declared, if any: its body is complete when it returns."""
        self._sc: ServerCapture | None = None

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        try:
            self.status = int(status[:3])
        except Exception:  # not a WSGI status line: the server will say so, not obskit
            self.status = None
        route_of = self._route_of
        if route_of is not None and self.route is None:
            self._name_from(route_of)
        if headers.__class__ is list:  # anything else goes to the server untouched
            try:
                self.declared_length = _content_length(headers)
                extra = self._extra_headers
                if extra:
                    headers = _with_headers(headers, extra)
            except Exception:  # odd items in the list: leave it as the app made it
                _diagnostics.incr(DIAG_ERROR)
        if self._sc is not None:
            self._sc.responded(self.span, self.status, headers)
        if exc_info is None:
            return self._start_response(status, headers)
        return self._start_response(status, headers, exc_info)

    def _name_from(self, route_of: Callable[[dict[str, Any]], str | None]) -> None:
        try:
            self.set_route(route_of(self._environ))
        except Exception:  # telemetry never breaks the response
            _diagnostics.incr(DIAG_ERROR)


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    """The declared ``Content-Length``, or ``None`` (streamed, or not a number)."""
    for name, value in headers:
        if len(name) == 14 and name.lower() == "content-length":  # lower only a name that could match
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def _complete_size(result: Iterable[bytes], req: _Request) -> int | None:
    """The size of a body that is complete as the app returns it, or ``None`` if it streams.

    A list or tuple of chunks is complete (PEP 3333's usual ``[body]``); so is a body whose
    length the app declared (Flask and Django set ``Content-Length`` on every response that is
    not streamed), whatever iterable carries it.
    """
    if result.__class__ is list or result.__class__ is tuple:
        try:
            return sum(len(chunk) for chunk in result)
        except TypeError:  # not bytes: the server will refuse it, not obskit
            return req.declared_length
    return req.declared_length


def _with_headers(headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` plus obskit's response headers that the app did not set itself."""
    if len(extra) == 1:  # the usual case (x-correlation-id): no set to build
        name = extra[0][0]
        size = len(name)
        for h in headers:
            if len(h[0]) == size and h[0].lower() == name:  # lower only a name that could match
                return headers
        return [*headers, extra[0]]
    present = {h[0].lower() for h in headers}
    return headers + [h for h in extra if h[0] not in present]


class _Body:
    """A streamed response body: counts bytes and finishes the request at its end.

    Each chunk is produced with the request's context current (log lines of the generator
    carry its ids) and the server's context restored after. A class, not a generator: a
    generator would run its ``finally`` only when collected if the server never iterates to
    the end, and would hide the app iterable's ``close``.
    """

    __slots__ = ("_iter", "_req", "_result")

    def __init__(self, result: Iterable[bytes], req: _Request) -> None:
        self._result = result
        self._req = req
        self._iter: Iterator[bytes] | None = None

    def __iter__(self) -> _Body:
        if self._iter is None:
            req = self._req
            req.resume()
            try:
                self._iter = iter(self._result)
            except Exception as exc:
                req.end(exc)
                raise
            req.detach()
        return self

    def __next__(self) -> bytes:
        it = self._iter
        if it is None:
            it = self.__iter__()._iter
        req = self._req
        if req._ended:
            return next(it)  # type: ignore[arg-type]
        req.resume()
        try:
            chunk = next(it)  # type: ignore[arg-type]
        except StopIteration:
            req.end()  # the response is complete: time it and write its telemetry now
            raise
        except Exception as exc:
            req.end(exc)
            raise
        except BaseException:
            req.detach()
            raise
        req.detach()
        try:
            req.response_size = (req.response_size or 0) + len(chunk)
        except TypeError:  # not bytes: the server will refuse it, not obskit
            pass
        return chunk

    def close(self) -> None:
        req = self._req
        ended = req._ended
        if not ended:
            # Closed before the body ran out: the server stopped sending, because the
            # client went away (a failed write) or it gave up on the response.
            req.disconnected = True
            req.resume()
        close = getattr(self._result, "close", None)
        try:
            if close is not None:
                close()
        except Exception as exc:
            req.end(exc)
            raise
        finally:
            if not ended:
                req.end()


class ObskitMiddleware:
    """Wrap a WSGI app so that each request is traced, logged and measured.

    Example::

        app.wsgi_app = ObskitMiddleware(app.wsgi_app, excluded_routes=["/health"])

    Args:
        app: the WSGI application.
        **options: ``excluded_routes``, ``record_4xx_as_error``, ``response_headers``,
            ``trust_forwarded_for``, ``trusted_proxies``, ``access_log``, ``request_metrics``,
            ``correlation_headers``, ``request_hook(span, environ)`` (when the span starts; a name
            it sets with ``span.name = ...`` stands: the route template found later still names
            the Operation and the access line's ``route``, but no longer renames the span),
            ``response_hook(span, status, headers)`` (at ``start_response``) and
            ``log_fields(environ) -> mapping``; they override ``configure()`` for this app.
            Headers named by ``http_capture_headers_server_request``/``_response`` become span
            attributes.

    Raises:
        ConfigError: for an unknown option or a bad value, at once.
    """

    __slots__ = ("_capture", "_options", "_route_of", "app")

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        self.app = app
        self._options = ScopeOptions(options)
        self._capture = CaptureCache()
        self._route_of: Callable[[dict[str, Any]], str | None] | None = None
        """How a framework names the request from the environ at ``start_response`` (Flask's URL
        rule), when no route was set before; read there rather than in a per-request hook."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        settings = self._options.settings()
        if settings is None or settings.excluded(environ.get("PATH_INFO")):
            return self.app(environ, start_response)
        try:
            req = _Request(environ, start_response, settings, self._route_of)
        except Exception:  # an environ no server makes: serve the request untraced, counted
            _diagnostics.incr(DIAG_ERROR)  # (nothing set yet: the scope's own begin never raises)
            return self.app(environ, start_response)
        if req._ended:  # excluded with its SCRIPT_NAME prefix
            return self.app(environ, start_response)
        sc = self._capture.get(settings)
        if sc is not None:
            req._sc = sc
            sc.requested(req.span, wsgi_headers(environ))
        result = None
        try:
            result = self.app(environ, req.start_response)
        except Exception as exc:
            req.end(exc)
            raise
        finally:
            if result is None:  # cancelled or exiting: still leave the telemetry behind
                req.end()
        size = _complete_size(result, req)
        if size is not None:
            # The whole body is here: the request is over (the common case, and the fast path
            # benchmarks/bench_web.py times: no wrapper around the body).
            if req.response_size is None:
                req.response_size = size
            req.end()
            return result
        # A streamed body: the request goes on while the server iterates it, in the server's
        # own context between chunks (see _Body).
        req._hosting = False
        req.detach()
        return _Body(result, req)
