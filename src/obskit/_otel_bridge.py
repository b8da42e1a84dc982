"""The OpenTelemetry bridge: one context for obskit and the OpenTelemetry API; API spans become obskit spans.

Imports: standard library and obskit's core at import time; ``opentelemetry`` (the API, never the
SDK) only inside ``install()``, which builds the classes that implement the API's interfaces.
``obskit.tracing`` imports this module only when the bridge is on and opentelemetry-api is
installed, so ``import obskit`` and an app without OpenTelemetry never load it.

Every ``opentelemetry-instrumentation-*`` package does the same two things: it asks the API for
a tracer (``trace.get_tracer``) and starts spans that become current through the API's context
(``start_as_current_span``, or ``start_span`` plus ``context.attach``/``detach``). The bridge
uses the two seams the API offers for exactly that, and nothing else:

* **The runtime context.** The API keeps the current ``Context`` in a pluggable runtime, chosen
  by ``OTEL_PYTHON_CONTEXT`` from the ``opentelemetry_context`` entry points when
  ``opentelemetry.context`` is first imported. obskit registers one (``OTEL_PYTHON_CONTEXT=obskit``
  selects it from the first import on) and, because an app usually imports its instrumentations
  before it calls ``configure()``, ``install()`` also puts it in place of the default one
  (``opentelemetry.context._RUNTIME_CONTEXT``, the one name the API reads on every call; a test
  pins it). It keeps no context of its own: ``attach`` makes the attached span's ids obskit's
  current context, so ``obskit.current()``, log lines, outgoing headers and obskit spans see
  the OpenTelemetry span; ``get_current`` answers from obskit's context, so a span any tracer
  starts inside an obskit span (the SDK's too) is its child. A detach token restores both at
  once. The OpenTelemetry values it does not know (suppression keys, OpenTelemetry baggage)
  ride along in the ``Context`` last attached and stay visible under obskit spans opened after.
* **The global TracerProvider.** ``set_tracer_provider`` works once per process, so obskit sets
  its own only when none is set; ``ProxyTracer``\\ s handed out before bind to it on their next
  use. Its spans are obskit spans: obskit's ids, sampling and limits, recorded and sent to the
  configured emitters (X-Ray, OpenTelemetry, ``capture()``). ``start_as_current_span`` makes a
  span current with two ``ContextVar`` sets instead of the API's generator and ``Context`` copy.

A third, smaller seam follows from the first two: unless ``OTEL_PROPAGATORS`` names the formats,
the global ``TextMapPropagator`` becomes one that writes and reads what ``obskit.inject`` and
``obskit.extract`` do (``traceparent``, ``X-Amzn-Trace-Id``, ``baggage``, the correlation id),
so an instrumented HTTP client joins X-Ray downstream and a server instrumentation picks up the
caller's correlation id.

Limits, on purpose. A provider the app set before ``configure()`` (an SDK ``TracerProvider``)
stays the global one: its spans share obskit's context (parents both ways, ids on log lines) but
go to its own processors, not to obskit's emitters. Link attributes and event attributes beyond
obskit's limits are dropped; ``record_exception``'s extra attributes and timestamp are not kept.
A Root-only X-Ray parent (a trace id without a parent span) is invisible to other tracers,
which then start a new trace; obskit's own tracer joins it. OpenTelemetry baggage and obskit's
baggage are not merged (obskit's rides through the propagator). ``trace.get_current_span()``
inside an ``obskit.span`` block is a non-recording view with its ids (the request's server span
excepted: attributes set on it land). Switched off (``opentelemetry_bridge=False``, ``reset()``,
or the implicit configuration), the runtime context hands every call to the one it replaced, the
propagator it replaced is put back, and the tracer behaves as the API's no-op tracer: what the
API did before ``configure()``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from obskit import _diagnostics, _pipeline
from obskit._context import CURRENT, SCOPE, TelemetryContext, make_context
from obskit.context import is_coroutine_function
from obskit.ids import INVALID_TRACE_ID
from obskit.tracing import Span as ObskitSpan
from obskit.tracing import start_span

__all__ = ["install", "instrument_installed", "is_active", "runtime_context", "uninstall"]

ENTRY_POINT_NAME = "obskit"
"""``OTEL_PYTHON_CONTEXT=obskit`` selects obskit's runtime context when opentelemetry first loads."""


class _State:
    """The bridge's process state: one instance, switched by ``install``/``uninstall``."""

    def __init__(self) -> None:
        self.active = False
        self.api: Any = None
        """The built classes and API objects (``_Api``), once ``install()`` ran."""
        self.cache: tuple[Any, Any, Any] = (None, None, None)
        """``(obskit context, base Context, Context)``: the last Context built for obskit's context."""


_STATE = _State()


class _Link:
    """What the API last made current in this context: the obskit context it became, and its ``Context``.

    ``span`` is set by the bridge's own ``start_as_current_span`` (the ``Context`` is then built
    only if something asks, on top of ``prev``'s); ``context`` by ``attach``.
    """

    __slots__ = ("context", "prev", "span", "telemetry")

    def __init__(self, telemetry: TelemetryContext, span: Any, prev: _Link | None, context: Any) -> None:
        self.telemetry = telemetry
        self.span = span
        self.prev = prev
        self.context = context

    def otel_context(self) -> Any:
        got = self.context
        if got is None:
            api = _STATE.api
            base = self.prev.otel_context() if self.prev is not None else api.empty
            got = self.context = api.Context({**base, api.span_key: self.span})
        return got


_LINK: ContextVar[_Link | None] = ContextVar("obskit.otel_link", default=None)


# --- obskit context <-> OpenTelemetry span ------------------------------------------------------
def _telemetry_of(span: Any, cur: TelemetryContext) -> TelemetryContext:
    """The obskit context in which ``span`` is the active span."""
    mine: TelemetryContext | None = getattr(span, "_obskit_ctx", None)
    if mine is not None:
        if mine.fields is not cur.fields and mine.trace_id == cur.trace_id:
            return mine.with_fields(cur.fields)  # fields bound since the span started stay bound
        return mine
    try:
        sc = span.get_span_context()
        valid = sc.is_valid
    except Exception:
        _diagnostics.incr("otel_bridge.bad_span")
        return cur
    if not valid:
        return cur.without_trace()
    flags = int(sc.trace_flags)
    state = sc.trace_state
    return cur.with_trace(
        f"{sc.trace_id:032x}", f"{sc.span_id:016x}", bool(flags & 1),
        tracestate=state.to_header() or None if state else None, random_flag=bool(flags & 2),
        remote=bool(sc.is_remote),
    )


def _span_in(context: Any) -> Any:
    """The span a ``Context`` holds, or ``None`` (also for something that is not a ``Context``: counted)."""
    try:
        return context.get(_STATE.api.span_key)
    except Exception:
        _diagnostics.incr("otel_bridge.bad_context")
        return None


def _parent_of(context: Any) -> TelemetryContext:
    """The parent an explicit ``Context`` names: its span, or none (a new trace)."""
    cur = CURRENT.get()
    span = _span_in(context)
    if span is None:
        return cur.without_trace()
    return _telemetry_of(span, cur)


def _live_span(ctx: TelemetryContext, link: _Link | None) -> ObskitSpan | None:
    """The obskit ``Span`` whose id ``ctx`` carries, when the bridge can find it (to set attributes on)."""
    sid = ctx.span_id
    if link is not None and link.span is not None and link.span._sp is not None and link.span._sp.span_id == sid:
        return link.span._sp  # type: ignore[no-any-return]
    scope = SCOPE.get()
    if scope is not None:
        sp = scope.span
        if sp is not None and sp.span_id == sid:
            return sp  # type: ignore[no-any-return]
    return None


def _current_context() -> Any:
    """The OpenTelemetry ``Context`` for obskit's current context (``get_current``)."""
    api = _STATE.api
    ctx = CURRENT.get()
    link = _LINK.get()
    if link is not None:
        if link.telemetry is ctx:
            return link.otel_context()
        base = link.otel_context()
    elif ctx.span_id is None:
        return api.empty
    else:
        base = api.empty
    cached = _STATE.cache
    if cached[0] is ctx and cached[1] is base:
        return cached[2]
    key = api.span_key
    if ctx.span_id is None or ctx.trace_id == INVALID_TRACE_ID:
        got = api.Context({k: v for k, v in base.items() if k != key}) if key in base else base
    else:
        got = api.Context({**base, key: api.ApiSpan(_live_span(ctx, link), ctx)})
    _STATE.cache = (ctx, base, got)
    return got


# --- the runtime context ------------------------------------------------------------------------
class _RuntimeImpl:
    """OpenTelemetry's runtime context, kept in obskit's context (see the module docstring).

    While the bridge is off it hands every call to the runtime it replaced (the API's
    contextvars one), except the detach of a token it gave out itself.
    """

    def __init__(self, previous: Any) -> None:
        self._previous = previous

    def attach(self, context: Any) -> Any:
        if not _STATE.active:
            return self._previous.attach(context)
        cur = CURRENT.get()
        span = _span_in(context)
        ctx = cur if span is None else _telemetry_of(span, cur)
        return (CURRENT.set(ctx), _LINK.set(_Link(ctx, None, None, context)))

    def get_current(self) -> Any:
        if not _STATE.active:
            return self._previous.get_current()
        return _current_context()

    def detach(self, token: Any) -> None:
        if token.__class__ is tuple:
            current, link = token
            _LINK.reset(link)
            CURRENT.reset(current)
        else:
            self._previous.detach(token)


def runtime_context() -> Any:
    """The ``opentelemetry_context`` entry point: obskit's runtime context (``OTEL_PYTHON_CONTEXT=obskit``).

    Called while ``opentelemetry.context`` is still being imported: it may use only its
    submodules. The bridge is off until ``configure()``, so calls go to the API's own runtime.
    """
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    return _runtime_class()(ContextVarsRuntimeContext())


_RUNTIME_CLASS: Any = None


def _runtime_class() -> Any:
    global _RUNTIME_CLASS
    if _RUNTIME_CLASS is None:
        from opentelemetry.context.context import _RuntimeContext as RuntimeBase

        _RUNTIME_CLASS = type("ObskitRuntimeContext", (_RuntimeImpl, RuntimeBase), {})
    return _RUNTIME_CLASS


# --- spans ---------------------------------------------------------------------------------------
class _ApiSpanImpl:
    """An OpenTelemetry ``Span`` over an obskit span (or a view of obskit's context when ``sp`` is ``None``)."""

    def __init__(self, sp: ObskitSpan | None, ctx: TelemetryContext) -> None:
        self._sp = sp
        self._obskit_ctx = ctx
        self._sc: Any = None

    def get_span_context(self) -> Any:
        sc = self._sc
        if sc is None:
            api = _STATE.api
            ctx = self._obskit_ctx
            state = api.TraceState.from_header([ctx.tracestate]) if ctx.tracestate else api.no_trace_state
            flags = api.TraceFlags((1 if ctx.sampled else 0) | (2 if ctx.random_flag else 0))
            sc = self._sc = api.SpanContext(int(ctx.trace_id, 16), int(ctx.span_id or "0", 16), ctx.remote, flags,
                                            state)
        return sc

    @property
    def name(self) -> str:
        """The span name (the SDK's spans have it, and some instrumentations read it)."""
        return self._sp.name if self._sp is not None else ""

    def is_recording(self) -> bool:
        sp = self._sp
        return sp is not None and sp.is_recording

    def set_attribute(self, key: str, value: Any) -> None:
        if self._sp is not None:
            self._sp.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self._sp is not None:
            self._sp.set_attributes(attributes)

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None) -> None:
        if self._sp is not None:
            self._sp.add_event(name, attributes, timestamp if type(timestamp) is int else None)

    def add_link(self, context: Any, attributes: Any = None) -> None:
        if self._sp is not None:
            for link in _links((_STATE.api.Link(context, attributes),)):
                self._sp.add_link(link)

    def update_name(self, name: str) -> None:
        if self._sp is not None:
            self._sp.name = name

    def set_status(self, status: Any, description: str | None = None) -> None:
        sp = self._sp
        if sp is None:
            return
        code = getattr(status, "status_code", status)
        if description is None:
            description = getattr(status, "description", None)
        api = _STATE.api
        if code is api.OK:
            sp.set_status(True)
        elif code is api.ERROR:
            sp.set_status(False, description)

    def record_exception(self, exception: BaseException, attributes: Any = None, timestamp: int | None = None,
                         escaped: bool = False) -> None:
        if self._sp is not None:
            self._sp.record_exception(exception)

    def end(self, end_time: int | None = None) -> None:
        if self._sp is not None:
            self._sp.end(end_time)

    def __repr__(self) -> str:
        ctx = self._obskit_ctx
        return f"ObskitApiSpan(trace_id={ctx.trace_id!r}, span_id={ctx.span_id!r}, recording={self.is_recording()})"


def _links(links: Any) -> tuple[TelemetryContext, ...]:
    """OpenTelemetry ``Link``\\ s as obskit contexts (valid ones; their attributes are not kept)."""
    if not links:
        return ()
    out = []
    try:
        for link in links:
            sc = link.context
            if sc.is_valid:
                out.append(make_context(f"{sc.trace_id:032x}", f"{sc.span_id:016x}", sc.trace_flags.sampled,
                                        remote=True))
    except Exception:
        _diagnostics.incr("tracing.link_dropped")
    return tuple(out)


class _TracerImpl:
    """The tracer every ``get_tracer`` of obskit's provider returns: spans are obskit spans."""

    def start_span(self, name: str, context: Any = None, kind: Any = None, attributes: Any = None,
                   links: Any = None, start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> Any:
        api = _STATE.api
        if not _STATE.active:
            return api.noop.start_span(name, context, api.INTERNAL if kind is None else kind, attributes, links,
                                       start_time, record_exception, set_status_on_exception)
        parent = CURRENT.get() if context is None else _parent_of(context)
        try:
            kind_name = api.kinds.get(kind, "internal")
        except TypeError:  # unhashable: not a SpanKind
            kind_name = "internal"
        sp = start_span(name, kind=kind_name, attributes=attributes, parent=parent, links=_links(links),
                        start_ns=start_time if type(start_time) is int else None)
        return api.ApiSpan(sp, sp.context)

    def start_as_current_span(self, name: str, context: Any = None, kind: Any = None, attributes: Any = None,
                              links: Any = None, start_time: int | None = None, record_exception: bool = True,
                              set_status_on_exception: bool = True, end_on_exit: bool = True) -> Any:
        if not _STATE.active:
            api = _STATE.api
            return api.noop.start_as_current_span(name, context, api.INTERNAL if kind is None else kind,
                                                  attributes, links, start_time, record_exception,
                                                  set_status_on_exception, end_on_exit)
        return _AsCurrent(self, (name, context, kind, attributes, links, start_time),
                          record_exception, set_status_on_exception, end_on_exit)


class _AsCurrent:
    """``start_as_current_span``: a context manager (and decorator) that starts, activates and ends a span.

    A class rather than the API's generator-based manager: two ``ContextVar`` sets, no
    ``Context`` copy, nothing built that nobody reads.
    """

    __slots__ = ("_args", "_end", "_record", "_set_status", "_span", "_tokens", "_tracer")

    def __init__(self, tracer: _TracerImpl, args: tuple[Any, ...], record: bool, set_status: bool,
                 end: bool) -> None:
        self._tracer = tracer
        self._args = args
        self._record = record
        self._set_status = set_status
        self._end = end
        self._span: Any = None
        self._tokens: Any = None

    def __enter__(self) -> Any:
        span = self._tracer.start_span(*self._args)
        ctx = getattr(span, "_obskit_ctx", None)
        if ctx is None:  # switched off since this was made (a decorator outlived the bridge): the API's way
            inner = _STATE.api.trace.use_span(span, end_on_exit=self._end, record_exception=self._record,
                                              set_status_on_exception=self._set_status)
            self._tokens = inner
            return inner.__enter__()
        self._span = span
        self._tokens = (CURRENT.set(ctx), _LINK.set(_Link(ctx, span, _LINK.get(), None)))
        return span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        span, tokens = self._span, self._tokens
        if tokens is None:
            return
        self._span = self._tokens = None
        if tokens.__class__ is not tuple:
            tokens.__exit__(exc_type, exc, tb)
            return
        try:
            _LINK.reset(tokens[1])
            CURRENT.reset(tokens[0])
        except ValueError:  # left in another context than it was entered in (a generator moved across tasks)
            _diagnostics.incr("otel_bridge.detach_elsewhere")
        if isinstance(exc, Exception) and span.is_recording():
            if self._record:
                span.record_exception(exc)
            if self._set_status:
                span._sp.set_status(False, f"{type(exc).__name__}: {exc}")
        if self._end:
            span.end()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate a function (sync or async): each call runs in a span of its own."""
        tracer, args = self._tracer, self._args
        record, set_status, end = self._record, self._set_status, self._end
        if is_coroutine_function(fn):

            @functools.wraps(fn)
            async def async_wrapper(*a: Any, **kw: Any) -> Any:
                with _AsCurrent(tracer, args, record, set_status, end):
                    return await fn(*a, **kw)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            with _AsCurrent(tracer, args, record, set_status, end):
                return fn(*a, **kw)

        return wrapper


class _ProviderImpl:
    """obskit's ``TracerProvider``: one tracer for every instrumentation scope."""

    def get_tracer(self, instrumenting_module_name: str, instrumenting_library_version: str | None = None,
                   schema_url: str | None = None, attributes: Any = None) -> Any:
        return _STATE.api.tracer

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """What the Lambda instrumentation calls before the freeze: ``obskit.flush()``."""
        return _pipeline.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Nothing: obskit's emitters are closed by ``obskit.shutdown()`` at exit."""


# --- the global propagator ------------------------------------------------------------------------
class _PropagatorImpl:
    """OpenTelemetry's global ``TextMapPropagator``, writing and reading what ``obskit.inject``/``extract`` do.

    An HTTP instrumentation then sends ``X-Amzn-Trace-Id``, ``baggage`` and the correlation id
    next to ``traceparent``, as obskit's own integrations do, and a server instrumentation
    reads them: the correlation id and baggage ride on the extracted span into obskit's context.
    """

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        api = _STATE.api
        from obskit.propagation import extract

        tc = extract(carrier, None if getter is None or getter is api.default_getter else _getter(getter))
        base = context if context is not None else api.empty
        if not (tc.remote and tc.span_id is not None):
            return base
        return api.Context({**base, api.span_key: api.ApiSpan(None, tc)})

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        api = _STATE.api
        from obskit.propagation import inject

        cur = CURRENT.get()
        span = None if context is None else _span_in(context)
        tc = cur if span is None else _telemetry_of(span, cur)
        inject(carrier, context=tc, setter=None if setter is None or setter is api.default_setter else setter.set)

    @property
    def fields(self) -> set[str]:
        from obskit import semconv

        return {semconv.HEADER_TRACEPARENT, semconv.HEADER_TRACESTATE, semconv.HEADER_XRAY, semconv.HEADER_BAGGAGE,
                semconv.HEADER_CORRELATION_ID}


def _getter(getter: Any) -> Callable[[Any, str], list[str]]:
    def get(carrier: Any, key: str) -> list[str]:
        return list(getter.get(carrier, key) or ())

    return get


# --- install / uninstall ------------------------------------------------------------------------
class _Api:
    """The API's objects the bridge uses, and the classes built on its interfaces."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace.propagation import _SPAN_KEY
        from opentelemetry.trace.span import TraceState
        from opentelemetry.trace.status import StatusCode

        self.Context = Context
        self.empty = Context()
        self.span_key = _SPAN_KEY
        self.SpanContext = trace.SpanContext
        self.TraceFlags = trace.TraceFlags
        self.TraceState = TraceState
        self.no_trace_state = trace.DEFAULT_TRACE_STATE
        self.Link = trace.Link
        self.OK = StatusCode.OK
        self.ERROR = StatusCode.ERROR
        self.INTERNAL = trace.SpanKind.INTERNAL
        self.kinds = {trace.SpanKind.INTERNAL: "internal", trace.SpanKind.SERVER: "server",
                      trace.SpanKind.CLIENT: "client", trace.SpanKind.PRODUCER: "producer",
                      trace.SpanKind.CONSUMER: "consumer"}
        self.noop = trace.NoOpTracer()
        self.trace = trace
        self.ApiSpan = type("ObskitApiSpan", (_ApiSpanImpl, trace.Span), {})
        self.RuntimeContext = _runtime_class()
        self.tracer = type("ObskitTracer", (_TracerImpl, trace.Tracer), {})()
        self.provider = type("ObskitTracerProvider", (_ProviderImpl, trace.TracerProvider), {})()
        from opentelemetry.propagators import textmap

        self.default_getter = textmap.default_getter
        self.default_setter = textmap.default_setter
        self.Propagator = type("ObskitPropagator", (_PropagatorImpl, textmap.TextMapPropagator), {})


def _build() -> Any:
    api = _STATE.api
    if api is None:
        api = _STATE.api = _Api()
    return api


def install() -> None:
    """Make the two contexts one and API spans obskit's (``configure()``, when the bridge is on)."""
    api = _build()
    import opentelemetry.context as otel_context

    runtime = otel_context._RUNTIME_CONTEXT
    if not isinstance(runtime, _RuntimeImpl):
        chosen = os.environ.get("OTEL_PYTHON_CONTEXT", "").strip()
        if chosen and chosen not in (ENTRY_POINT_NAME, "contextvars_context"):
            _diagnostics.report_once(
                "otel_bridge.context", "obskit: OTEL_PYTHON_CONTEXT=%s chose another runtime context: obskit "
                "leaves it in place, and OpenTelemetry spans do not share obskit's context", chosen)
        else:
            otel_context._RUNTIME_CONTEXT = api.RuntimeContext(runtime)
    trace = api.trace
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        trace.set_tracer_provider(api.provider)
    elif provider is not api.provider:
        _diagnostics.report_once(
            "otel_bridge.provider", "obskit: OpenTelemetry's global TracerProvider is a %s set before "
            "configure(): OpenTelemetry spans share obskit's context but go to that provider, not to "
            "obskit's emitters", type(provider).__name__)
    _STATE.cache = (None, None, None)
    _STATE.active = True
    _pipeline.on_reset(uninstall)
    _explain_late_providers()
    if not os.environ.get("OTEL_PROPAGATORS", "").strip():  # the app's own choice of formats wins
        from opentelemetry import propagate

        current = propagate.get_global_textmap()
        if not isinstance(current, _PropagatorImpl):
            propagate.set_global_textmap(api.Propagator(current))


class _LateProvider:
    """A ``logging`` filter on ``opentelemetry.trace`` that explains a ``set_tracer_provider`` made too late.

    The API lets the global provider be set once; after ``configure()`` it is obskit's, and an
    app that sets its SDK provider afterwards gets only the API's one-line warning. This adds
    the fix once, on the ``obskit`` logger; it lets every record through.
    """

    def filter(self, record: Any) -> bool:
        if record.msg == "Overriding of current TracerProvider is not allowed" and _STATE.active:
            _diagnostics.report_once(
                "otel_bridge.late_provider", "obskit: set_tracer_provider() after obskit.configure() has no effect: "
                "OpenTelemetry spans are obskit's. Pass the provider to configure(traces='otel', "
                "tracer_provider=...), or set it before configure()")
        return True


def _explain_late_providers() -> None:
    import logging

    log = logging.getLogger("opentelemetry.trace")
    if not any(isinstance(f, _LateProvider) for f in log.filters):
        log.addFilter(_LateProvider())


def uninstall() -> None:
    """Back to the API's own behaviour (see the module docstring); obskit's context is untouched."""
    _STATE.active = False
    _STATE.cache = (None, None, None)
    propagate = sys.modules.get("opentelemetry.propagate")
    if propagate is not None:
        current = propagate.get_global_textmap()
        if isinstance(current, _PropagatorImpl):
            propagate.set_global_textmap(current.previous)


def is_active() -> bool:
    """Whether OpenTelemetry API spans are obskit spans right now."""
    return _STATE.active


# --- enabling installed instrumentations -----------------------------------------------------------
def instrument_installed(*, include: Iterable[str] | None = None,
                         exclude: Iterable[str] | None = None) -> list[str]:
    """Turn on the OpenTelemetry instrumentations installed here, as ``opentelemetry-instrument`` does.

    Each ``opentelemetry-instrumentation-*`` package registers an ``opentelemetry_instrumentor``
    entry point named for the library it patches (``sqlite3``, ``redis``, ``botocore``,
    ``requests``, ...). This loads each one whose library is installed at a version it supports
    and calls its ``instrument()``: one line in place of aws-xray-sdk's ``patch_all()``. With
    ``configure()`` (and the bridge on, the default) their spans are obskit spans.

    Example::

        obskit.configure(service="orders", traces="xray")
        obskit.instrument_installed(exclude=["requests"])  # obskit's own outbound integration does HTTP

    Args:
        include: only these instrumentations (entry point names); ``None``: every one installed.
        exclude: never these; by default ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (comma-separated,
            ``*`` for all), the variable ``opentelemetry-instrument`` reads.

    Returns:
        The names instrumented, sorted. An instrumentation whose library is missing, or whose
        ``instrument()`` fails, is left out and reported once on the ``obskit`` logger.

    Raises:
        ConfigError: ``include`` names an instrumentation that is not installed.
    """
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor")}
    wanted = _selected(found, include, exclude)
    done = []
    for name in sorted(wanted):
        if _instrument_one(name, found[name], explicit=include is not None):
            done.append(name)
    return done


def _selected(found: Mapping[str, Any], include: Iterable[str] | None, exclude: Iterable[str] | None) -> set[str]:
    from obskit.errors import ConfigError

    if exclude is None:
        raw = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
        exclude = [x.strip() for x in raw.split(",") if x.strip()]
    excluded = {exclude} if isinstance(exclude, str) else set(exclude)
    if "*" in excluded:
        return set()
    if include is None:
        return set(found) - excluded
    included = {include} if isinstance(include, str) else set(include)
    missing = sorted(included - set(found))
    if missing:
        raise ConfigError(
            f"instrument_installed(include={sorted(included)!r}): {', '.join(missing)} not installed; "
            f"installed instrumentations: {', '.join(sorted(found)) or '(none)'} "
            f"(pip install opentelemetry-instrumentation-{missing[0]})")
    return included - excluded


def _instrument_one(name: str, ep: Any, *, explicit: bool) -> bool:
    """Check the library's version, then ``instrument()``; ``False`` (reported once) when it cannot be."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    try:
        conflict = get_dist_dependency_conflicts(ep.dist) if getattr(ep, "dist", None) is not None else None
        if conflict is not None:
            if explicit:
                _diagnostics.report_once(f"otel_bridge.instrument.{name}", "obskit: not instrumenting %s: %s",
                                         name, conflict)
            return False
        instrumentor = ep.load()()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(skip_dep_check=True)
        return True
    except Exception as exc:  # one broken instrumentation must not stop the others, nor the app
        _diagnostics.incr("otel_bridge.instrument_failed")
        _diagnostics.report_once(f"otel_bridge.instrument.{name}", "obskit: instrumenting %s failed: %r", name, exc)
        return False
