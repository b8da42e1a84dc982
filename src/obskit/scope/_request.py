"""The lifecycle of one request: ``request_scope`` from ``begin`` to ``finish``.

Imports: standard library and obskit's core; the signal modules (``tracing``, ``metrics``,
``logs``, ``propagation``) are bound by ``bind()`` when the first settings are built, so that
``configure()``'s scan of the options stays free of import cycles.

Read one request from top to bottom: ``begin`` (parent context, server attributes, start the
span, install it, the debug decision), what the integration reports (``set_route``,
``set_status``, ``add_response_size``, ``finish_response``), then ``end`` = ``finish`` (outcome,
end the span, record the metrics, write the access line, release the held debug lines; each
step guarded) and ``detach``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from types import MappingProxyType, TracebackType
from typing import Any

from obskit import _diagnostics
from obskit._context import CURRENT, EXCEPTION_CONTEXT_ATTR, SCOPE, RequestScope, TelemetryContext
from obskit.scope._settings import (
    _DEFAULT_OPTIONS,
    _KNOWN_METHODS,
    DIAG_ERROR,
    DIAG_HOOK,
    NotText,
    ScopeOptions,
    ScopeSettings,
    normalize_method,
    request_text,
)
from obskit.semconv import (
    ACCESS_MESSAGE,
    ATTR_CLIENT_ADDRESS,
    ATTR_CLIENT_DISCONNECTED,
    ATTR_ERROR_TYPE,
    ATTR_HTTP_METHOD,
    ATTR_HTTP_RESPONSE_SIZE,
    ATTR_HTTP_ROUTE,
    ATTR_HTTP_STATUS,
    ATTR_SERVER_ADDRESS,
    ATTR_URL_PATH,
    ATTR_URL_SCHEME,
    ATTR_USER_AGENT,
    BAGGAGE_DEBUG_KEY,
    HEADER_CORRELATION_ID,
    HEADER_TRACEPARENT,
    HEADER_XRAY,
    LOG_CLIENT_DISCONNECTED,
    LOG_CLIENT_IP,
    LOG_DURATION_MS,
    LOG_ERROR_TYPE,
    LOG_HTTP_METHOD,
    LOG_HTTP_PATH,
    LOG_HTTP_ROUTE,
    LOG_HTTP_STATUS,
    LOG_RESPONSE_SIZE,
    LOG_USER_AGENT,
    SPAN_KIND_INTERNAL,
    SPAN_KIND_SERVER,
)

# Bound from the signal modules when the first settings are built (see bind).
_start_span: Any = None
_start_owned: Any = None
_record_request: Any = None
_flush_scope: Any = None
_start_request: Any = None
_end_request: Any = None
_extract: Any = None
_write_access: Any = None


def bind() -> None:
    """Bind the signal modules' functions the request path calls (once)."""
    global _start_span, _start_owned, _record_request, _flush_scope, _start_request, _end_request
    global _extract, _write_access
    if _extract is not None:
        return
    from obskit import logs, metrics, tracing
    from obskit.propagation import extract

    _start_span = tracing.start_span
    _start_owned = tracing._start_owned
    _record_request = metrics.record_request
    _flush_scope = metrics.flush_scope
    _start_request = logs.start_request
    _end_request = logs.end_request
    _write_access = logs.write_access
    _extract = extract


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class request_scope(RequestScope):
    """The telemetry of one request: use as a context manager, or call ``begin``/``end``.

    It is the request's ``RequestScope`` accumulator too (``obskit._context.SCOPE``), so code
    inside the request reaches it with ``current_request()`` (e.g. to ``set_route``).

    Example (a framework obskit has no integration for)::

        with request_scope("GET", path, carrier=headers) as req:
            req.set_route("/orders/{order_id}")
            response = handle()
            req.set_status(response.status)

    Args:
        method: the HTTP method, or ``None`` for a non-HTTP invocation (a queue message).
        path: the raw path, for the log line and ``url.path`` (never for names).
        route: the route template when it is already known (else call ``set_route``).
        operation: the name of a non-HTTP operation (``process orders``); HTTP operations are
            ``"METHOD route"``.
        carrier: incoming headers to ``extract`` from (a mapping, ASGI scope, WSGI environ).
        getter: how to read ``carrier`` (``obskit.propagation``'s getters).
        context: an already extracted context (then ``carrier`` is only read for a per-app
            correlation header).
        links: contexts to link the span to (SQS messages of a batch).
        kind: the span kind.
        attributes: extra span attributes.
        fields: log fields bound for the whole request (Lambda context fields).
        peer: the address of the connected peer.
        forwarded_for: the ``X-Forwarded-For`` value, believed only from trusted proxies.
        user_agent: the ``User-Agent`` value.
        scheme: ``http``/``https``.
        host: the ``Host`` the request was sent to.
        request: the framework's request object, handed to the hooks.
        options: a ``ScopeOptions`` (integrations build one per app); defaults otherwise.
    """

    __slots__ = (
        "_ctx_token",
        "_ended",
        "_hook_named",
        "_hosting",
        "_outer",
        "_scope_token",
        "_settings",
        "context",
        "disconnected",
        "end_ns",
        "exception",
        "method",
        "path",
        "peer",
        "response_size",
        "route",
        "start_ns",
        "user_agent",
    )

    def __init__(
        self,
        method: str | None,
        path: str | None = None,
        *,
        route: str | None = None,
        operation: str | None = None,
        carrier: Any = None,
        getter: Any = None,
        context: TelemetryContext | None = None,
        links: Sequence[TelemetryContext] = (),
        kind: str = SPAN_KIND_SERVER,
        attributes: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
        peer: str | None = None,
        forwarded_for: str | None = None,
        user_agent: str | None = None,
        scheme: str | None = None,
        host: str | None = None,
        request: Any = None,
        options: ScopeOptions | None = None,
    ) -> None:
        settings = (options or _DEFAULT_OPTIONS).settings()
        self.begin(
            settings, excluded=settings is None or settings.excluded(path), method=method, path=path, route=route,
            operation=operation, carrier=carrier, getter=getter, context=context, links=links, kind=kind,
            attributes=attributes, fields=fields, peer=peer, forwarded_for=forwarded_for, user_agent=user_agent,
            scheme=scheme, host=host, request=request,
        )

    # -- begin ------------------------------------------------------------------------------
    def begin(
        self, st: ScopeSettings | None, *, excluded: bool = False, method: str | None, path: str | None = None,
        route: str | None = None, operation: str | None = None, carrier: Any = None, getter: Any = None,
        context: TelemetryContext | None = None, links: Sequence[TelemetryContext] = (),
        kind: str = SPAN_KIND_SERVER, attributes: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None, peer: str | None = None, forwarded_for: str | None = None,
        user_agent: str | None = None, scheme: str | None = None, host: str | None = None, request: Any = None,
        correlation_id: str | None = None, cleaned: bool = False,
    ) -> None:
        """``__init__`` with the settings resolved (integrations resolve them once per request).

        Keyword arguments are those of ``__init__``, plus ``st`` (``None``: obskit is disabled),
        ``excluded`` (the path is an excluded route): either makes the scope inactive; and
        ``correlation_id``, the request's own id for when no header carries one (see
        ``obskit.extract``). When the values are not what their names say (a number for a
        path, a list for the fields: a hand-built environ or an odd event), the begin is
        retried once with them cleaned (``cleaned``) rather than leaving the request untraced.

        The steps: the parent context, the server attributes (HTTP), the span's name, the span,
        then ``_install`` (hook, current context, debug decision).
        """
        self._clear(st, method, path)
        if excluded or st is None:
            return
        self._ended = False
        try:
            self.start_ns = st.clock()
            if method is not None:
                outer = _get_scope()
                if outer is not None and isinstance(outer, request_scope) and outer.method is not None and (
                    outer._hosting and not outer._ended
                ):
                    self._open_nested(outer, method, path, route, attributes)
                    return
            ctx = self._parent_context(
                st, carrier=carrier, getter=getter, context=context, correlation_id=correlation_id, fields=fields,
                request=request,
            )
            attrs = {} if method is None else self._server_attributes(
                st, method=method, path=path, scheme=scheme, host=host, peer=peer, forwarded_for=forwarded_for,
                user_agent=user_agent,
            )
            name = self._name(route, operation)
            if attributes:
                attrs.update(attributes)
            if self.route is not None:
                attrs[ATTR_HTTP_ROUTE] = self.route  # the template wins over the caller's attributes
            span = self.span = _start_owned(name, kind, attrs, ctx, links, self.start_ns)
            self._install(st, span, name, request)
        except Exception as exc:
            self.detach()
            self.span = None
            if cleaned or not (exc.__class__ is NotText or (isinstance(exc, (TypeError, AttributeError)) and _odd(
                method, path, route, operation, peer, forwarded_for, user_agent, scheme, host, correlation_id,
                context=context, links=links, kind=kind, fields=fields, attributes=attributes,
            ))):
                _failed("begin", exc)  # a bug (obskit's or a hook's), not odd arguments: the request untraced
                return
            _diagnostics.incr(DIAG_CLEANED)
            self.begin(
                st, excluded=excluded, method=_text(method), path=_text(path), route=_text(route),
                operation=_text(operation), carrier=carrier, getter=getter,
                context=context if isinstance(context, TelemetryContext) else None, links=_contexts(links),
                kind=kind if kind.__class__ is str else SPAN_KIND_SERVER, attributes=_fields(attributes),
                fields=_fields(fields), peer=_text(peer), forwarded_for=_text(forwarded_for),
                user_agent=_text(user_agent), scheme=_text(scheme), host=_text(host), request=request,
                correlation_id=_text(correlation_id), cleaned=True,
            )

    def _clear(self, st: ScopeSettings | None, method: str | None, path: str | None) -> None:
        """Every slot to its value before the request starts (ended until ``begin`` starts it)."""
        RequestScope.__init__(self)
        self._settings = st
        self.method = method
        self.path = path
        self.route: str | None = None
        self.response_size: int | None = None
        self.disconnected = False
        self.exception: BaseException | None = None
        self.end_ns: int | None = None
        self._ctx_token: Token[TelemetryContext] | None = None
        self._scope_token: Token[RequestScope | None] | None = None
        self.context: TelemetryContext | None = None
        self.start_ns = 0
        self.peer: str | None = None
        self.user_agent: str | None = None
        self._hook_named = False
        self._outer: request_scope | None = None
        self._hosting = True
        """Whether an HTTP scope begun now belongs to this request (see ``_open_nested``): the WSGI
        middleware clears it once the app has returned and only the body is left to send."""
        self._ended = True

    def _parent_context(
        self, st: ScopeSettings, *, carrier: Any, getter: Any, context: TelemetryContext | None,
        correlation_id: str | None, fields: Mapping[str, Any] | None, request: Any,
    ) -> TelemetryContext:
        """Step 1 of ``begin``: the caller's context (extracted unless given), its correlation id and fields."""
        if context is not None:
            ctx = context
        elif correlation_id is not None:
            ctx = _extract(_NO_HEADERS if carrier is None else carrier, getter, correlation_id=correlation_id)
        elif carrier is not None:
            ctx = _extract(carrier, getter)
        else:
            ctx = _extract(_NO_HEADERS, None)  # still reads Lambda's _X_AMZN_TRACE_ID
        if st.correlation is not None and carrier is not None:
            cid = st.correlation.correlation_id(carrier, getter or _default_getter(carrier))
            if cid is not None:
                ctx = ctx.with_correlation(cid)
        if st.log_fields is not None:
            extra = _call_hook(st.log_fields, request)
            if extra:
                fields = {**fields, **extra} if fields else extra
        if fields:
            ctx = ctx.with_fields({**ctx.fields, **fields})
        return ctx

    def _server_attributes(
        self, st: ScopeSettings, *, method: str, path: str | None, scheme: str | None, host: str | None,
        peer: str | None, forwarded_for: str | None, user_agent: str | None,
    ) -> dict[str, Any]:
        """Step 2 of ``begin`` (HTTP): the request's own texts, checked and clipped once.

        Each passes ``request_text`` (a plain str within ``_MAX_TEXT``, or ``NotText`` for the
        cleaned retry), so the span and the access line take them as they are.
        """
        if method.__class__ is not str:
            raise NotText
        if method not in _KNOWN_METHODS:
            method = normalize_method(method)
        self.method = method
        attrs: dict[str, Any] = {ATTR_HTTP_METHOD: method}
        if path is not None:
            attrs[ATTR_URL_PATH] = self.path = request_text(path)
        if scheme:
            attrs[ATTR_URL_SCHEME] = request_text(scheme)
        if host:
            attrs[ATTR_SERVER_ADDRESS] = request_text(host)
        if forwarded_for:
            if forwarded_for.__class__ is not str:
                raise NotText
            peer = st.client_ip(request_text(peer), forwarded_for)
        client = self.peer = request_text(peer)
        if client:
            attrs[ATTR_CLIENT_ADDRESS] = client
        if user_agent:
            attrs[ATTR_USER_AGENT] = self.user_agent = request_text(user_agent)
        return attrs

    def _name(self, route: str | None, operation: str | None) -> str:
        """Step 3 of ``begin``: ``METHOD route`` once the route is known, else the operation or the method."""
        method = self.method
        if route is not None:
            if route.__class__ is not str:
                raise NotText  # a template, not request input: checked, not clipped (as ``set_route``)
            self.route = route
            name = self.operation = f"{method} {route}" if method is not None else route
        elif operation is not None:
            name = self.operation = operation if operation.__class__ is str else _text(operation) or "request"
        else:
            name = method or "request"
        return name

    def _install(self, st: ScopeSettings, span: Any, name: str, request: Any) -> None:
        """Last step of ``begin``: the request hook, the span's context made current, the debug decision."""
        if st.request_hook is not None:
            _call_hook(st.request_hook, span, request)
            self._hook_named = span.name != name  # a name the hook chose stands (see finish)
        sctx = self.context = span.context
        self._ctx_token = CURRENT.set(sctx)
        self._scope_token = SCOPE.set(self)
        if st.debug_sampling or sctx.baggage:  # else there is nothing to decide (no upstream flag, no sampling)
            _start_request(self, sctx)
            if self.debug_sampled and sctx.baggage.get(BAGGAGE_DEBUG_KEY) != "1":
                # Sampled in here: say so downstream, so the next service logs DEBUG for
                # the same request (outgoing calls inject the current baggage).
                CURRENT.reset(self._ctx_token)
                sctx = self.context = _with_debug_flag(sctx)
                self._ctx_token = CURRENT.set(sctx)

    def _open_nested(
        self, outer: request_scope, method: str, path: str | None, route: str | None,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        """Begin an HTTP scope inside another one: the same request, seen by a second middleware.

        Flask or FastAPI behind a Lambda adapter (Mangum, apig-wsgi) under
        ``instrument_handler``, or an app wrapped twice. The outer scope keeps the request: its
        access line and metrics are the only ones, and it takes this one's route, status and
        exception when this one ends. This one adds an internal child span, current while it
        runs, so lines logged inside carry the same trace.
        """
        if method.__class__ is not str or (path is not None and path.__class__ is not str):
            raise NotText  # the cleaned retry makes them text
        if method not in _KNOWN_METHODS:
            method = self.method = normalize_method(method)
        self._outer = outer
        attrs: dict[str, Any] = {ATTR_HTTP_METHOD: method}
        if path is not None:
            attrs[ATTR_URL_PATH] = path
        if attributes:
            attrs.update(attributes)
        if route is not None:
            self.route = route
            attrs[ATTR_HTTP_ROUTE] = route
            name = self.operation = f"{method} {route}"
        else:
            name = method
        span = self.span = _start_span(name, kind=SPAN_KIND_INTERNAL, attributes=attrs, start_ns=self.start_ns)
        self.context = span.context
        self._ctx_token = CURRENT.set(span.context)

    def _finish_nested(self, outer: request_scope, exc: BaseException | None) -> None:
        """End a nested scope's span and hand what it learned to the outer scope (see ``_open_nested``)."""
        status = self.status
        if status is not None and status.__class__ is not int:
            status = self.status = _as_status(status)
        if exc is None:
            exc = self.exception
        route = self.route
        if route is not None:
            outer.set_route(route)  # the framework's template is the better name
        if status is not None:
            outer.status = status
        if exc is not None and outer.exception is None:
            outer.exception = exc
        if self.disconnected:
            outer.disconnected = True
        span = self.span
        if span is None:
            return
        try:
            if route is not None:
                span.name = self.operation
                span.set_attribute(ATTR_HTTP_ROUTE, route)
            if status is not None:
                span.set_attribute(ATTR_HTTP_STATUS, status)
            if exc is not None and isinstance(exc, Exception):
                span.record_exception(exc)
            if exc is not None or (status is not None and status >= 500):
                error_type = exc.__class__.__qualname__ if exc is not None else str(status)
                span.set_attribute(ATTR_ERROR_TYPE, error_type)
                span.set_status(False, error_type)
            span.end(self.end_ns)
        except Exception as e:
            _failed("span", e)

    # -- what the integration reports -------------------------------------------------------
    def set_route(self, route: str | None) -> None:
        """Name the span and the Operation after the route template, once routing matched it."""
        if route is None or self._ended:
            return
        if route.__class__ is not str:
            try:
                route = str(route)
            except Exception:
                _diagnostics.incr(DIAG_ERROR)
                return
        self.route = route
        method = self.method
        self.operation = f"{method} {route}" if method is not None else route

    def set_status(self, status: int | None) -> None:
        """Record the response status (HTTP) that the client was sent."""
        self.status = status

    def add_response_size(self, n: int) -> None:
        """Add ``n`` body bytes to the response size (a value that is not a number is counted, not raised)."""
        try:
            self.response_size = (self.response_size or 0) + int(n)
        except Exception:
            _diagnostics.incr(DIAG_ERROR)

    def finish_response(self) -> None:
        """Mark the end of the response (its last byte): the latency ends here.

        Streaming frameworks call it when the last body chunk is sent; work after that
        (background tasks, teardown) is not what the client waited for.
        """
        if self.end_ns is None and self._settings is not None:
            self.end_ns = self._settings.clock()

    @property
    def active(self) -> bool:
        """Whether telemetry is being recorded for this request (not excluded, not ended)."""
        return not self._ended

    @property
    def correlation_id(self) -> str | None:
        ctx = self.context
        return ctx.correlation_id if ctx is not None else None

    def response_headers(self) -> list[tuple[str, str]]:
        """The headers the configuration asks to add to the response (lower-case names)."""
        st = self._settings
        ctx = self.context
        if st is None or ctx is None:
            return []
        out: list[tuple[str, str]] = []
        if st.rh_correlation and ctx.correlation_id:
            out.append((HEADER_CORRELATION_ID, ctx.correlation_id))
        if st.rh_traceparent:
            tp = ctx.traceparent
            if tp:
                out.append((HEADER_TRACEPARENT, tp))
        if st.rh_xray and ctx.is_valid:
            out.append((HEADER_XRAY, f"Root={ctx.xray_trace_id}"))
        return out

    # -- end --------------------------------------------------------------------------------
    def __enter__(self) -> request_scope:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end(exc)

    def end(self, exc: BaseException | None = None) -> None:
        """Finish the request's telemetry and reset the context. Idempotent; never raises.

        Args:
            exc: the exception the handler raised, if any: recorded on the span, and the
                request counts as a fault whatever status was sent.
        """
        if self._ended and self._ctx_token is None and self._scope_token is None:
            return  # already ended (WSGI ends at the last chunk and again at close())
        self.finish(exc)
        self.detach()

    def resume(self) -> None:
        """Make this request's context current again (a WSGI body produced after the app returned).

        Undone by ``detach`` (or ``end``); does nothing once the request has ended or while its
        context is already set by this scope.
        """
        ctx = self.context
        if self._ended or ctx is None or self._ctx_token is not None:
            return
        self._ctx_token = CURRENT.set(ctx)
        self._scope_token = SCOPE.set(self)

    def detach(self) -> None:
        """Reset the context variables this scope set (done by ``end``)."""
        token, self._ctx_token = self._ctx_token, None
        if token is not None:
            try:
                CURRENT.reset(token)
            except ValueError:  # ended in another context (a WSGI server closing elsewhere)
                pass
        stoken, self._scope_token = self._scope_token, None
        if stoken is not None:
            try:
                SCOPE.reset(stoken)
            except ValueError:
                pass

    def finish(self, exc: BaseException | None = None, *, error_type: str | None = None,
               extra: Mapping[str, Any] | None = None) -> None:
        """Write the request's telemetry: span, access line, metrics. Idempotent; never raises.

        ``end()`` is ``finish()`` plus ``detach()``; the Lambda timeout guard calls
        ``finish`` from its own thread (with this request's context active there).

        Args:
            exc: the exception the handler raised, if any.
            error_type: marks a fault without an exception (``timeout``).
            extra: more fields for the access line.
        """
        if self._ended:
            return
        self._ended = True
        outer = self._outer
        if outer is not None:
            self._finish_nested(outer, exc)
            return
        if self.span is None:  # begin failed: nothing to finish
            return
        st: ScopeSettings = self._settings  # type: ignore[assignment]
        end_ns = now_ns = self.end_ns
        if end_ns is None:
            end_ns = now_ns = self.end_ns = st.clock()
        else:
            now_ns = None  # the response ended earlier (background work since): the line reads the clock
        # The five steps, each guarded on its own: one failing never keeps the others from running.
        exc, error_type, fault, error = self._outcome(st, exc, error_type)
        try:
            self._end_span(exc, error_type, fault, end_ns)
        except Exception as e:
            _failed("span", e)
        elapsed_ns = end_ns - self.start_ns
        self._record_metrics(st, elapsed_ns, error=error, fault=fault)
        if st.access_log:
            try:
                self._write_access_line(st, elapsed_ns, now_ns, fault=fault, exc=exc, error_type=error_type,
                                        extra=extra)
            except Exception as e:
                _failed("access_log", e)
        if self.debug_lines:  # held DEBUG lines: the log module writes or drops them
            try:
                _end_request(self, failed=fault)
            except Exception as e:
                _failed("logs", e)

    def _outcome(
        self, st: ScopeSettings, exc: BaseException | None, error_type: str | None,
    ) -> tuple[BaseException | None, str | None, bool, bool]:
        """``(exception, error type, fault, error)``: what the request came to, its status settled."""
        status = self.status
        if status is not None and status.__class__ is not int:
            status = self.status = _as_status(status)
        http = self.method is not None
        if exc is None:
            exc = self.exception  # recorded by a framework hook (Flask's got_request_exception)
        if exc is not None:
            self.exception = exc
            error_type = exc.__class__.__qualname__
            if http and status is None:
                status = self.status = 500  # what every server sends for an unhandled exception
        elif http and status is None and self.disconnected:
            status = self.status = 499  # the client closed the connection before any response
        fault = error_type is not None or (status is not None and status >= 500)
        error = not fault and st.record_4xx and status is not None and 400 <= status < 500
        return exc, error_type, fault, error

    def _end_span(self, exc: BaseException | None, error_type: str | None, fault: bool, end_ns: int) -> None:
        """Name the span by its route (unless a hook named it), set the response attributes, end it."""
        span = self.span
        route = self.route
        status = self.status
        attrs: dict[str, Any] = {}
        if route is not None:
            if not self._hook_named:
                span.name = self.operation
            attrs[ATTR_HTTP_ROUTE] = route
        if status is not None:
            attrs[ATTR_HTTP_STATUS] = status
        if self.response_size is not None:
            attrs[ATTR_HTTP_RESPONSE_SIZE] = self.response_size
        if self.disconnected:
            attrs[ATTR_CLIENT_DISCONNECTED] = True
        if attrs:
            span._set_owned(attrs)
        if exc is not None and isinstance(exc, Exception):
            span.record_exception(exc)
        if fault:
            span.set_attribute(ATTR_ERROR_TYPE, error_type or str(status))
            span.set_status(False, error_type or f"HTTP {status}")
        span.end(end_ns)

    def _record_metrics(self, st: ScopeSettings, elapsed_ns: int, *, error: bool, fault: bool) -> None:
        """Record Latency/Error/Fault and hand the request's metrics on."""
        if st.request_metrics:
            try:
                _record_request(self.operation, elapsed_ns / 1e6, error=error, fault=fault)
            except Exception as e:
                _failed("metrics", e)
        try:
            _flush_scope(self)
        except Exception as e:
            _failed("metrics", e)

    def _write_access_line(
        self, st: ScopeSettings, elapsed_ns: int, now_ns: int | None, *, fault: bool,
        exc: BaseException | None, error_type: str | None, extra: Mapping[str, Any] | None,
    ) -> None:
        """The access line: last, so a reader that sees it knows the rest is written.

        Absent fields are left out (rather than ``None``), and when every value is known to be a
        str/int/float the line renders them without a per-field check (``plain``). A fault is
        written at ERROR, with its exception when there is one.
        """
        plain = True  # begin made the request's own texts plain str (``request_text``)
        line: dict[str, Any]
        if self.method is not None:
            line = {LOG_HTTP_METHOD: self.method}
            route = self.route
            if route is not None:
                line[LOG_HTTP_ROUTE] = route
                plain = plain and route.__class__ is str
            if self.path is not None:
                line[LOG_HTTP_PATH] = self.path
            status = self.status
            if status is not None:
                line[LOG_HTTP_STATUS] = status
                plain = plain and status.__class__ is int
            line[LOG_DURATION_MS] = _round_ms(elapsed_ns)
            if self.peer is not None:
                line[LOG_CLIENT_IP] = self.peer
            if self.user_agent is not None:
                line[LOG_USER_AGENT] = self.user_agent
            size = self.response_size
            if size is not None:
                line[LOG_RESPONSE_SIZE] = size
                plain = plain and size.__class__ is int
        else:
            operation = self.operation
            line = {LOG_HTTP_ROUTE: operation, LOG_DURATION_MS: _round_ms(elapsed_ns)}
            plain = operation.__class__ is str
        if self.disconnected:
            line[LOG_CLIENT_DISCONNECTED] = True
        if fault and error_type is not None:
            line[LOG_ERROR_TYPE] = error_type
        if extra:
            line.update(extra)
            plain = False
        if not fault:
            _write_access(st.logger, line, st.clock, now_ns, plain)
        elif exc is not None and isinstance(exc, Exception):
            # The stack trace on a line with the request's ids: what a server logs of it
            # (uvicorn's "Exception in ASGI application") comes after the request.
            _mark_exception(exc, self.context)
            st.logger.error(ACCESS_MESSAGE, exc_info=exc, **line)
        else:
            st.logger.error(ACCESS_MESSAGE, **line)


def _mark_exception(exc: BaseException, ctx: TelemetryContext | None) -> None:
    """Let the exception carry the request's context past its end (see ``EXCEPTION_CONTEXT_ATTR``)."""
    try:
        if ctx is not None and getattr(exc, EXCEPTION_CONTEXT_ATTR, None) is None:
            setattr(exc, EXCEPTION_CONTEXT_ATTR, ctx)
    except Exception:  # an exception type that takes no attributes: the server's line has no ids
        _diagnostics.incr(DIAG_ERROR + ".exception_unmarked")


def _as_status(status: Any) -> int | None:
    """A status set as something else than an int (``"200"``, ``HTTPStatus.OK``), as an int or ``None``."""
    try:
        return int(status)
    except Exception:
        _diagnostics.incr(DIAG_ERROR)
        return None


def _text(value: Any) -> str | None:
    """A value meant to be text, as a plain str (``None`` stays ``None``; unprintable becomes ``None``)."""
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    try:
        return str(value)
    except Exception:
        return None


def _not_text(*values: Any) -> bool:
    """Whether any of ``values`` is something else than ``None`` or a plain str."""
    return any(v is not None and v.__class__ is not str for v in values)


def _odd(*texts: Any, context: Any, links: Any, kind: Any, fields: Any, attributes: Any) -> bool:
    """Whether any argument of a begin is not of the type its name says (a hand-built environ, an odd event)."""
    if _not_text(*texts) or kind.__class__ is not str:
        return True
    if context is not None and not isinstance(context, TelemetryContext):
        return True
    if any(m is not None and not isinstance(m, Mapping) for m in (fields, attributes)):
        return True
    try:
        return any(not isinstance(c, TelemetryContext) for c in links) if links else False
    except Exception:
        return True


def _fields(value: Any) -> dict[str, Any] | None:
    """Log fields as a dict with str keys, or ``None`` when they are not a mapping."""
    try:
        return {k: v for k, v in value.items() if isinstance(k, str)} if value else None
    except Exception:
        return None


def _contexts(value: Any) -> tuple[TelemetryContext, ...]:
    """The span links that are contexts; anything else is left out."""
    try:
        return tuple(c for c in value if isinstance(c, TelemetryContext)) if value else ()
    except Exception:
        return ()


def _round_ms(elapsed_ns: int) -> float:
    """Milliseconds with 3 decimals for the access line, by integer arithmetic on nanoseconds.

    ``round(x, 3)`` on a float goes through a decimal conversion (about 0.5 µs); this is a
    division and a floor division, and rounds exact halves up.
    """
    return ((elapsed_ns + 500) // 1000) / 1000


def _with_debug_flag(ctx: TelemetryContext) -> TelemetryContext:
    """``ctx`` with the baggage member that carries a debug-sampling decision downstream."""
    return ctx.with_baggage({**ctx.baggage, BAGGAGE_DEBUG_KEY: "1"})


_get_scope = SCOPE.get


def _default_getter(carrier: Any) -> Any:
    from obskit.propagation import _default_getter as pick

    return pick(carrier)


def _call_hook(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        _diagnostics.incr(DIAG_HOOK)
        name = getattr(fn, "__qualname__", repr(fn))
        _diagnostics.report_once(f"{DIAG_HOOK}.{name}", "obskit: request hook %s raised %r (counted)", name, exc)
        return None


DIAG_CLEANED = "scope.cleaned_arguments"


def _failed(step: str, exc: BaseException) -> None:
    _diagnostics.count(f"{DIAG_ERROR}.{step}", "obskit: request telemetry step %r failed: %r", step, exc)


def abandon(scope: request_scope) -> None:
    """Give up on a request whose integration could not set it up: count it and reset what was set.

    For the integrations' last-resort guard: the app then runs untraced rather than fail.
    """
    _diagnostics.incr(DIAG_ERROR)
    if getattr(scope, "_ctx_token", None) is not None or getattr(scope, "_scope_token", None) is not None:
        scope.detach()


def current_request() -> request_scope | None:
    """The ``request_scope`` of the request in progress, or ``None`` outside one."""
    scope = SCOPE.get()
    return scope if isinstance(scope, request_scope) else None


def set_route(route: str | None) -> None:
    """Name the current request after its route template (``/orders/{order_id}``).

    For frameworks whose route is only known inside the app (Flask's ``url_rule``).
    Outside a request it does nothing.
    """
    scope = SCOPE.get()
    if isinstance(scope, request_scope):
        scope.set_route(route)
