"""Spans: ``obskit.span`` (context manager and decorator), ``start_span`` and the ``Span`` handle.

Imports: standard library and obskit's core (``_context``, ``_diagnostics``, ``_pipeline``,
``context``, ``ids``, ``semconv``). Emitters are reached only through ``runtime.span_emitters``.

obskit's context owns the ids: a span takes its trace id and sampling decision from the
parent context (a new trace when there is none), gets a fresh span id and becomes the current
context, so log lines inside carry its ``span_id``. What happens to a finished span is the
emitters' business (X-Ray, OpenTelemetry, memory); this module only builds the record.

Three cost levels, because spans sit on hot paths:

* recorded (sampled and at least one emitter): a ``SpanRecord`` is built, attributes are
  checked and clipped, and every emitter sees ``on_start``/``on_end``;
* not recorded (unsampled, or no emitter): ids and context only, no record;
* a decorated function with no emitter inside an existing trace: the call runs in the
  caller's context, at the cost of a plain call (``OBSKIT_TRACES=none`` must cost nothing).

Nothing here raises into user code: bad attributes are dropped or clipped and counted, a
failing emitter is counted by ``_pipeline.emitter_failed``, ending a span twice does nothing.
User exceptions are recorded (status error, an ``exception`` event) and re-raised unchanged;
``BaseException`` (cancellation, ``SystemExit``) passes through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from obskit import _diagnostics, _pipeline
from obskit._context import CURRENT, TelemetryContext
from obskit.context import is_async_generator_function, is_coroutine_function, is_generator_function
from obskit.ids import INVALID_TRACE_ID
from obskit.semconv import ATTR_XRAY_SAMPLING_RULE, SPAN_KIND_INTERNAL, SPAN_KINDS

__all__ = ["OPTIONS", "Span", "SpanEvent", "SpanRecord", "current_span", "span", "start_span"]  # noqa: F822 - OPTIONS is built on first access

F = TypeVar("F", bound=Callable[..., Any])

MAX_ATTRIBUTES = 128
"""Attributes kept per span (the OpenTelemetry default); later ones are dropped and counted."""
MAX_ATTRIBUTE_LENGTH = 4096
"""Characters kept of a string attribute; longer values are clipped and counted."""
MAX_EVENTS = 32
"""Events (exceptions) kept per span."""
MAX_STACK_FRAMES = 10
"""Innermost frames kept of an exception's stack (aws-xray-sdk keeps 10 too)."""
MAX_MESSAGE_LENGTH = 1024
"""Characters kept of an exception message."""

_PRIMITIVES = (str, bool, int, float)
_STATUS_UNSET = "unset"
_STATUS_OK = "ok"
_STATUS_ERROR = "error"


def _parse_otel_bridge(name: str, value: Any) -> bool | str:
    from obskit import _env
    from obskit.config import _fail

    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        low = value.strip().lower()
        got = "auto" if low == "auto" else _env.parse_bool(low)
        if got is not None:
            return got
    raise _fail(name, value, "'auto', True or False")


def __getattr__(name: str) -> Any:
    # OPTIONS is read by configure() only: built then, so importing tracing does not import config.
    if name == "OPTIONS":
        from obskit.config import Option

        options = globals()["OPTIONS"] = _options(Option)
        return options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _options(Option: Any) -> dict[str, Any]:
    return {
        "opentelemetry_bridge": Option(
            "auto", _parse_otel_bridge,
            "One context for obskit and the OpenTelemetry API: API spans (every opentelemetry-instrumentation-*) "
            "become obskit spans. 'auto' (default): on when opentelemetry-api is installed; False: off.",
        ),
    }


class SpanEvent:
    """Something that happened during a span; today only exceptions (``name == "exception"``).

    ``frames`` holds the innermost stack frames as ``(path, line, function)`` tuples so the
    X-Ray emitter can build ``cause.exceptions[].stack`` without parsing text.
    """

    __slots__ = ("attributes", "frames", "name", "time_ns")

    def __init__(self, name: str, time_ns: int, attributes: dict[str, Any],
                 frames: tuple[tuple[str, int, str], ...] = ()) -> None:
        self.name = name
        self.time_ns = time_ns
        self.attributes = attributes
        self.frames = frames

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "time_ns": self.time_ns, "attributes": dict(self.attributes)}


class SpanRecord:
    """A recorded span as emitters see it: mutable until ``end``, read-only after.

    Emitters receive the same object in ``on_start`` (``end_ns`` is ``None``) and ``on_end``;
    they must not change it. ``to_dict()`` is what ``obskit.testing.capture()`` stores.
    """

    __slots__ = (
        "attributes",
        "context",
        "dropped_attributes",
        "end_ns",
        "events",
        "kind",
        "links",
        "metadata",
        "name",
        "parent_span_id",
        "placement",
        "remote_parent",
        "span_id",
        "start_ns",
        "status",
        "status_description",
        "trace_id",
    )

    def __init__(self, name: str, context: TelemetryContext, parent_span_id: str | None, kind: str,
                 attributes: dict[str, Any], start_ns: int, remote_parent: bool,
                 links: tuple[TelemetryContext, ...]) -> None:
        self.name = name
        self.context = context
        """The span's own context (what was activated): ids, baggage, correlation id."""
        self.trace_id = context.trace_id
        self.span_id: str = context.span_id  # type: ignore[assignment]  # a span's own context always has one
        self.parent_span_id = parent_span_id
        self.kind = kind
        self.attributes = attributes
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self.status = _STATUS_UNSET
        self.status_description: str | None = None
        self.events: list[SpanEvent] = []
        self.links = links
        self.remote_parent = remote_parent
        """``True`` when the parent span lives in another process (or is Lambda's facade)."""
        self.dropped_attributes = 0
        self.placement: dict[str, bool] | None = None
        """Attribute key -> ``True`` (an X-Ray annotation) or ``False`` (X-Ray metadata), as the
        user chose with ``set_attribute(..., annotation=...)``; ``None`` when nobody chose."""
        self.metadata: dict[str, dict[str, Any]] | None = None
        """X-Ray metadata the user wrote (``set_metadata``, or a dict value): namespace -> key -> a
        JSON-ready, redacted copy. ``None`` when there is none (the usual case)."""

    @property
    def sampled(self) -> bool:
        """Always ``True``: only sampled spans are recorded."""
        return True

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready copy of the record."""
        return {
            "name": self.name,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "kind": self.kind,
            "attributes": dict(self.attributes),
            "status": self.status,
            "status_description": self.status_description,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "events": [e.to_dict() for e in self.events],
            "links": [{"trace_id": c.trace_id, "span_id": c.span_id} for c in self.links],
            "sampled": True,
            "remote_parent": self.remote_parent,
            **({"metadata": {ns: dict(v) for ns, v in self.metadata.items()}} if self.metadata else {}),
            **({"placement": dict(self.placement)} if self.placement else {}),
        }

    def __repr__(self) -> str:
        return f"SpanRecord(name={self.name!r}, trace_id={self.trace_id!r}, span_id={self.span_id!r})"


# --- attribute hygiene -----------------------------------------------------------------------
def _clean_value(value: Any) -> Any:
    """The value to keep, or ``_DROP``. Strings are clipped; sequences must be homogeneous."""
    t = type(value)
    if t is str:
        if len(value) > MAX_ATTRIBUTE_LENGTH:
            _diagnostics.incr("tracing.attribute_clipped")
            return value[:MAX_ATTRIBUTE_LENGTH]
        return value
    if t is int or t is float or t is bool:
        return value
    if t is list or t is tuple:
        if not value:
            return ()
        first = type(value[0])
        if first not in _PRIMITIVES or any(type(v) is not first for v in value):
            return _DROP
        if len(value) > MAX_ATTRIBUTES:
            _diagnostics.incr("tracing.attribute_clipped")
            value = value[:MAX_ATTRIBUTES]
        if first is str:
            return tuple(v[:MAX_ATTRIBUTE_LENGTH] for v in value)
        return tuple(value)
    if isinstance(value, _PRIMITIVES):  # subclasses (IntEnum, str enums): keep the plain value
        for base in _PRIMITIVES:
            if isinstance(value, base):
                return _clean_value(base(value) if base is not bool else bool(value))
    return _DROP


_DROP = object()


def _set_attribute(record: SpanRecord, key: Any, value: Any) -> None:
    attrs = record.attributes
    if type(key) is not str or not key:
        record.dropped_attributes += 1
        _diagnostics.incr("tracing.attribute_dropped.key")
        return
    if value is None:  # OpenTelemetry: None means "unset"
        attrs.pop(key, None)
        return
    if isinstance(value, Mapping):  # no backend takes a mapping as an attribute: X-Ray metadata does
        _set_metadata(record, "default", key, value)
        return
    value = _clean_value(value)
    if value is _DROP:
        record.dropped_attributes += 1
        _diagnostics.incr("tracing.attribute_dropped.type")
        return
    if key not in attrs and len(attrs) >= MAX_ATTRIBUTES:
        record.dropped_attributes += 1
        _diagnostics.incr("tracing.attribute_dropped.limit")
        return
    attrs[key] = value


def _set_metadata(record: SpanRecord, namespace: Any, key: Any, value: Any) -> None:
    """Keep a JSON-ready, redacted copy of ``value`` as metadata ``namespace``/``key`` (see ``Span.set_metadata``)."""
    if type(key) is not str or not key or type(namespace) is not str or not namespace:
        record.dropped_attributes += 1
        _diagnostics.incr("tracing.attribute_dropped.key")
        return
    try:
        from obskit._logs_render import sanitize
        from obskit.logs import redact

        kept = redact(sanitize(value))
    except Exception:
        record.dropped_attributes += 1
        _diagnostics.incr("tracing.attribute_dropped.type")
        return
    if record.metadata is None:
        record.metadata = {}
    record.metadata.setdefault(namespace, {})[key] = kept


def _plain(attributes: dict[str, Any]) -> bool:
    """The one judge of "already clean", next to the limits it enforces.

    True when a span may take ``attributes`` as they are: at most ``MAX_ATTRIBUTES`` non-empty
    str keys, each value a str of at most ``MAX_ATTRIBUTE_LENGTH`` characters, an int, a float
    or a bool. The request path's attributes nearly always are, so they skip the per-value
    cleaning (``_clean_value``) and, handed over with ``_start_owned``, the copy (about 0.5 µs of
    a server span with 8 attributes, timed against ``start_span``).
    """
    if len(attributes) > MAX_ATTRIBUTES:
        return False
    for key, value in attributes.items():
        t = value.__class__
        if not (
            (t is str and len(value) <= MAX_ATTRIBUTE_LENGTH) or t is int or t is float or t is bool
        ) or key.__class__ is not str or not key:
            return False
    return True


def _clean_attributes(record: SpanRecord, attributes: Mapping[str, Any]) -> None:
    attrs = record.attributes
    if attributes.__class__ is dict:
        if len(attrs) + len(attributes) <= MAX_ATTRIBUTES and _plain(attributes):
            attrs.update(attributes)
            return
        items: Any = attributes.items()  # a plain dict cannot fail to list its items
    else:
        try:
            items = list(attributes.items())
        except Exception:
            _diagnostics.incr("tracing.attribute_dropped.type")
            return
    for key, value in items:
        _set_attribute(record, key, value)


def _exception_event(exc: BaseException, time_ns: int) -> SpanEvent:
    """An OpenTelemetry-shaped ``exception`` event with a bounded stack."""
    cls = type(exc)
    module = cls.__module__
    type_name = cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable exception>"
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[:MAX_MESSAGE_LENGTH]
    frames: list[tuple[str, int, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    skipped = max(0, len(frames) - MAX_STACK_FRAMES)
    frames = frames[-MAX_STACK_FRAMES:]
    lines = ["Traceback (most recent call last):"]
    if skipped:
        lines.append(f"  ... {skipped} frames omitted")
    lines.extend(f'  File "{p}", line {n}, in {f}' for p, n, f in frames)
    lines.append(f"{type_name}: {message}")
    attributes = {
        "exception.type": type_name,
        "exception.message": message,
        "exception.stacktrace": "\n".join(lines),
    }
    return SpanEvent("exception", time_ns, attributes, tuple(frames))


# --- the handle --------------------------------------------------------------------------------
class Span:
    """The handle of a started span: ids, attributes, status, exceptions, end.

    Every method is safe to call at any time: on a span that is not recorded (unsampled or no
    emitter) they do nothing, and after ``end()`` they are ignored. ``context`` is the
    ``TelemetryContext`` to activate to make the span current (``obskit.activate``).
    """

    __slots__ = ("_name", "_record", "_runtime", "context", "parent_span_id")

    def __init__(self, context: TelemetryContext, parent_span_id: str | None, name: str,
                 record: SpanRecord | None, runtime: Any) -> None:
        self.context = context
        self.parent_span_id = parent_span_id
        self._name = name
        self._record = record
        self._runtime = runtime

    @property
    def trace_id(self) -> str:
        """32 lower-case hex digits."""
        return self.context.trace_id

    @property
    def span_id(self) -> str:
        """16 lower-case hex digits (what log lines inside carry)."""
        return self.context.span_id  # type: ignore[return-value]  # a span's own context always has one

    @property
    def is_recording(self) -> bool:
        """``True`` until ``end()`` when the span is sampled and some emitter receives it."""
        return self._record is not None

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        """Rename before the span ends (integrations set the route template once it is known)."""
        if type(value) is str and value:
            self._name = value
            rec = self._record
            if rec is not None:
                rec.name = value

    def set_attribute(self, key: str, value: Any, *, annotation: bool | None = None) -> None:
        """Set one attribute: str, bool, int, float or a homogeneous list of them.

        Long strings are clipped, other types dropped; both are counted, never raised. A
        mapping is not an attribute any backend takes: it is kept as X-Ray metadata instead
        (``set_metadata(key, value)``), redacted as log fields are.

        Args:
            key: the attribute name.
            value: the value.
            annotation: where the X-Ray emitter puts it. ``True``: an annotation (indexed, so
                ``annotation.key = value`` filters traces; the key must be letters, digits and
                ``_``); ``False``: metadata (kept, not indexed); ``None`` (default): an
                annotation when the key and value allow one, else metadata. Other emitters
                keep it as an attribute either way.
        """
        rec = self._record
        if rec is None:
            return
        _set_attribute(rec, key, value)
        if annotation is not None and type(key) is str and key in rec.attributes:
            if rec.placement is None:
                rec.placement = {}
            rec.placement[key] = bool(annotation)

    def set_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Keep ``value`` (any JSON-like value: dicts, lists...) as X-Ray metadata under ``namespace``.

        Powertools' ``put_metadata``: metadata is stored with the trace but not indexed. The
        value is copied now, made JSON-ready and redacted with the log redaction
        (``log_redact_keys``), so a token inside a response never reaches the trace. Only the
        X-Ray emitter writes metadata; ``obskit.testing.capture()`` shows it as ``metadata``.
        """
        rec = self._record
        if rec is not None:
            _set_metadata(rec, namespace, key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes at once (same rules as ``set_attribute``)."""
        rec = self._record
        if rec is not None:
            _clean_attributes(rec, attributes)

    def _set_owned(self, attributes: dict[str, Any]) -> None:
        """``set_attributes`` for a fresh dict the caller hands over (the request path's own).

        The same judgement as ``set_attributes`` (``_plain``), without the defensive copy of a
        mapping the caller might change later.
        """
        rec = self._record
        if rec is not None:
            _clean_attributes(rec, attributes)

    def record_exception(self, exc: BaseException) -> None:
        """Add an ``exception`` event (type, message, innermost frames) without changing the status."""
        rec = self._record
        if rec is None:
            return
        if len(rec.events) >= MAX_EVENTS:
            _diagnostics.incr("tracing.event_dropped")
            return
        try:
            rec.events.append(_exception_event(exc, self._runtime.clock()))
        except Exception:
            _diagnostics.incr("tracing.event_dropped")

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None, time_ns: int | None = None) -> None:
        """Add a named event (OpenTelemetry's ``add_event``); its attributes follow ``set_attribute``'s rules.

        X-Ray has no place for events other than exceptions: they reach OpenTelemetry exporters
        and ``capture()``, not segment documents.
        """
        rec = self._record
        if rec is None:
            return
        if len(rec.events) >= MAX_EVENTS or type(name) is not str:
            _diagnostics.incr("tracing.event_dropped")
            return
        kept: dict[str, Any] = {}
        if attributes:
            try:
                items = list(attributes.items())
            except Exception:
                items = []
                _diagnostics.incr("tracing.attribute_dropped.type")
            for key, value in items:
                value = _clean_value(value)
                if type(key) is str and value is not _DROP:
                    kept[key] = value
                else:
                    _diagnostics.incr("tracing.attribute_dropped.type")
        when = time_ns if type(time_ns) is int else self._runtime.clock()
        rec.events.append(SpanEvent(name, when, kept))

    def add_link(self, context: TelemetryContext) -> None:
        """Link the span to another span's context after it started (a message read mid-span)."""
        rec = self._record
        if rec is not None:
            rec.links = rec.links + _links((context,))

    def set_status(self, ok: bool, description: str | None = None) -> None:
        """Mark the span successful (``ok=True``) or failed; a success is final (OpenTelemetry rule)."""
        rec = self._record
        if rec is None or rec.status == _STATUS_OK:
            return
        given: Any = ok
        if given.__class__ is not bool:
            try:
                ok = bool(given)
            except Exception:
                _diagnostics.incr("tracing.invalid_status")
                return
        if ok:
            rec.status = _STATUS_OK
            rec.status_description = None
        else:
            rec.status = _STATUS_ERROR
            if description is not None:
                try:
                    rec.status_description = str(description)[:MAX_MESSAGE_LENGTH]
                except Exception:
                    _diagnostics.incr("tracing.invalid_status")

    def end(self, end_ns: int | None = None) -> None:
        """Finish the span and hand it to the emitters; a second call does nothing."""
        rec = self._record
        if rec is None:
            return
        self._record = None
        _open_spans.pop(rec.span_id, None)
        rt = self._runtime
        if end_ns is not None and end_ns.__class__ is not int:
            end_ns = _as_ns(end_ns)
        rec.end_ns = end_ns if end_ns is not None else rt.clock()
        for emitter in rt.span_emitters:
            try:
                emitter.on_end(rec)
            except Exception as exc:
                _pipeline.emitter_failed(emitter, "on_end", exc)

    def _fail(self, exc: BaseException) -> None:
        """Record an exception that escaped the span's block: event plus status error."""
        rec = self._record
        if rec is None:
            return
        self.record_exception(exc)
        if rec.status != _STATUS_OK:
            rec.status = _STATUS_ERROR
            if rec.status_description is None:
                try:
                    rec.status_description = f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE_LENGTH]
                except Exception:
                    rec.status_description = type(exc).__name__

    def __repr__(self) -> str:
        return f"Span(name={self._name!r}, trace_id={self.trace_id!r}, span_id={self.span_id!r})"


def start_span(
    name: str,
    *,
    kind: str = SPAN_KIND_INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    parent: TelemetryContext | None = None,
    links: Sequence[TelemetryContext] = (),
    start_ns: int | None = None,
) -> Span:
    """Create and start a span without making it current (for integrations).

    Args:
        name: the operation (route template for server spans; renameable until ``end``).
        kind: ``internal``, ``server``, ``client``, ``producer`` or ``consumer``.
        attributes: initial attributes (OpenTelemetry semantic conventions, ``obskit.semconv.ATTR_*``).
        parent: the parent context; defaults to ``obskit.current()``. An invalid one (no trace)
            starts a new trace, sampled by ``configure(trace_sample_rate=...)``.
        links: contexts of related traces (e.g. the messages of an SQS batch).
        start_ns: the start time in epoch nanoseconds, when it is already past.

    Returns:
        The ``Span``; activate ``span.context`` to make it current, and call ``end()``.
    """
    return _start(name, kind, attributes, parent, links, start_ns, _pipeline.RUNTIME or _pipeline.get())


def _start_owned(name: str, kind: str, attributes: dict[str, Any], parent: TelemetryContext | None,
                 links: Sequence[TelemetryContext], start_ns: int | None) -> Span:
    """``start_span`` for a fresh dict of attributes the caller hands over and never touches again.

    The span keeps that dict as its own when ``_plain`` judges it clean (no copy); otherwise
    it is cleaned as ``start_span`` cleans any mapping. For the request path (``request_scope``).
    """
    return _start(name, kind, attributes, parent, links, start_ns, _pipeline.RUNTIME or _pipeline.get(), True)


def _start(name: str, kind: str, attributes: Mapping[str, Any] | None, parent: TelemetryContext | None,
           links: Sequence[TelemetryContext], start_ns: int | None, rt: Any, owned: bool = False) -> Span:
    if parent is None:
        parent = CURRENT.get()
    ids = rt.ids
    tid = parent.trace_id
    if tid != INVALID_TRACE_ID:
        parent_sid = parent.span_id
        remote = parent.remote
        sampled = parent.sampled
        rule = None
        if sampled is None:  # X-Ray "Sampled=?": the decision is ours, and travels on
            sampled = rt.sample(int(tid, 16), attributes)
            if sampled is not True and sampled is not False:  # the name of the X-Ray rule that sampled it
                rule, sampled = sampled, True
        ctx = parent.child("%016x" % ids.span_id(), sampled)  # noqa: UP031 - faster
    else:
        tid_int = ids.trace_id()
        sampled = rt.sample(tid_int, attributes)
        rule = None
        if sampled is not True and sampled is not False:  # the name of the X-Ray rule that sampled it
            rule, sampled = sampled, True
        parent_sid = None
        remote = False
        ctx = parent.with_trace("%032x" % tid_int, "%016x" % ids.span_id(), sampled)  # noqa: UP031
    emitters = rt.span_emitters
    if not (sampled and emitters):
        return Span(ctx, parent_sid, name, None, rt)
    if kind.__class__ is not str or kind not in SPAN_KINDS:
        _diagnostics.incr("tracing.invalid_kind")
        kind = SPAN_KIND_INTERNAL
    if type(name) is not str or not name:
        name = _text_name(name)
    owned = owned and _plain(attributes)  # type: ignore[arg-type]
    record = SpanRecord(name, ctx, parent_sid, kind, attributes if owned else {},  # type: ignore[arg-type]
                        start_ns if start_ns is not None else rt.clock(),
                        bool(remote and parent_sid is not None), _links(links) if links else ())
    if attributes is not None and not owned:
        _clean_attributes(record, attributes)
    if rule is not None:
        record.attributes[ATTR_XRAY_SAMPLING_RULE] = rule
    for emitter in emitters:
        try:
            emitter.on_start(record)
        except Exception as exc:
            _pipeline.emitter_failed(emitter, "on_start", exc)
    span = Span(ctx, parent_sid, name, record, rt)
    if len(_open_spans) < _MAX_OPEN:
        _open_spans[record.span_id] = span
    return span


_open_spans: dict[str, Span] = {}
"""Recorded spans not ended yet, by span id: ``current_span()`` finds the handle of the current one."""
_MAX_OPEN = 65_536
"""Spans never ended must not grow this without bound: past it, new spans are not findable."""


def current_span() -> Span:
    """The handle of the current span, to set attributes on without holding it.

    Powertools' ``tracer.put_annotation(...)`` and OpenTelemetry's ``get_current_span()`` work on
    the current span the same way: ``obskit.current_span().set_attribute("order_id", 7,
    annotation=True)``. A span this process started and has not ended is returned as itself;
    otherwise (no span, a remote parent, an unsampled trace) a handle that records nothing,
    so the call is always safe.
    """
    ctx = CURRENT.get()
    sid = ctx[1]
    if sid is not None:
        span = _open_spans.get(sid)
        if span is not None:
            return span
    return Span(ctx, None, "", None, _pipeline.RUNTIME or _pipeline.get())


def _links(links: Any) -> tuple[TelemetryContext, ...]:
    """The links that are contexts (anything else is dropped and counted): emitters read their ids."""
    try:
        given = tuple(links)
    except Exception:
        _diagnostics.incr("tracing.link_dropped")
        return ()
    kept = tuple(link for link in given if isinstance(link, TelemetryContext))
    dropped = len(given) - len(kept)
    if dropped:
        _diagnostics.incr("tracing.link_dropped", dropped)
    return kept


def _as_ns(value: Any) -> int | None:
    """An end time given as another number type, as int nanoseconds; ``None`` (read the clock) if it is not one."""
    try:
        ns = int(value)
    except Exception:
        ns = None
    if ns is None or isinstance(value, bool) or not 0 <= ns < 1 << 63:
        _diagnostics.incr("tracing.invalid_end_time")
        return None
    return ns


def _text_name(name: Any) -> str:
    """A span name that is not a non-empty str, as one: ``str(name)``, or ``"span"``."""
    if name is None:
        return "span"
    try:
        text = str(name)
    except Exception:
        _diagnostics.incr("tracing.invalid_name")
        return "span"
    return text or "span"


# --- span(): context manager and decorator -----------------------------------------------------
class _SpanScope:
    """What ``span(...)`` returns: enter it for a span, or call it on a function to decorate it."""

    __slots__ = ("_attributes", "_kind", "_name", "_outer", "_span", "_token")

    def __init__(self, name: str | None, kind: str, attributes: Mapping[str, Any] | None) -> None:
        self._name = name if name is None or name.__class__ is str else _text_name(name)
        self._kind = kind
        self._attributes = attributes
        self._span: Span | None = None
        self._token: Any = None
        self._outer: list[tuple[Span | None, Any]] | None = None

    def __enter__(self) -> Span:
        rt = _pipeline.RUNTIME or _pipeline.get()
        parent = CURRENT.get()
        sampled = parent.sampled
        if (sampled is False or (sampled and not rt.span_emitters)) and parent.trace_id != INVALID_TRACE_ID:
            # Not recorded, inside a trace: a new span id and nothing else (_start, inlined).
            ctx = parent.child("%016x" % rt.ids.span_id(), sampled)  # noqa: UP031
            sp = Span(ctx, parent.span_id, self._name or "span", None, rt)
        else:
            sp = _start(self._name or "span", self._kind, self._attributes, parent, (), None, rt)
        if self._token is not None:  # the same object entered again (nested or recursive use)
            if self._outer is None:
                self._outer = []
            self._outer.append((self._span, self._token))
        self._span = sp
        self._token = CURRENT.set(sp.context)
        return sp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        sp, token = self._span, self._token
        if token is None or sp is None:
            return
        if self._outer:
            self._span, self._token = self._outer.pop()
        else:
            self._span = self._token = None
        CURRENT.reset(token)
        if sp._record is None:  # not recorded: nothing to fail or end
            return
        if exc is not None and isinstance(exc, Exception):
            sp._fail(exc)
        sp.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        name = self._name or getattr(fn, "__qualname__", None) or repr(fn)
        return _decorate(fn, name, self._kind, self._attributes)


def span(name: str | Callable[..., Any] | None = None, *, kind: str = SPAN_KIND_INTERNAL,
         attributes: Mapping[str, Any] | None = None) -> Any:
    """Mark a unit of work as a span: a context manager and a decorator (sync, async, generators).

    Example::

        with obskit.span("charge", attributes={"order.id": 7}) as s:
            s.set_attribute("amount", 12.5)
            log.info("charging")        # carries this span's trace_id and span_id

        @obskit.span()                  # name: the function's qualified name
        async def fetch_prices(): ...

    The span is current inside the block, so ``obskit.current().span_id`` is its id and log
    lines and outgoing headers carry it. An exception is recorded on the span (status error,
    an ``exception`` event) and re-raised unchanged. For generators the span covers the whole
    iteration and is current only while the generator body runs.

    With no trace emitter configured, a *decorated* call inside an existing trace adds no span
    (it runs in the caller's context, at the cost of a plain call); the context manager still
    gives its block a fresh span id.

    Args:
        name: the span name; for a decorator it defaults to the function's ``__qualname__``.
        kind: ``internal`` (default), ``server``, ``client``, ``producer`` or ``consumer``.
        attributes: initial attributes.

    Returns:
        An object to use in ``with`` (yielding the ``Span``) or as a decorator; used bare
        (``@obskit.span``) on a function, the decorated function.
    """
    if name is not None and not isinstance(name, str) and callable(name):  # bare @obskit.span
        return _decorate(name, getattr(name, "__qualname__", None) or repr(name), SPAN_KIND_INTERNAL, None)
    return _SpanScope(name, kind, attributes)


def _decorate(fn: F, name: str, kind: str, attributes: Mapping[str, Any] | None) -> F:
    """Wrap ``fn`` so each call runs in a span; the wrapper matches ``fn``'s flavour."""
    if is_async_generator_function(fn):
        return _wrap_async_generator(fn, name, kind, attributes)  # type: ignore[return-value]
    if is_generator_function(fn):
        return _wrap_generator(fn, name, kind, attributes)  # type: ignore[return-value]
    if is_coroutine_function(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            rt = _pipeline.RUNTIME or _pipeline.get()
            if not rt.span_emitters and CURRENT.get().trace_id != INVALID_TRACE_ID:
                return await fn(*args, **kwargs)
            sp = _start(name, kind, attributes, None, (), None, rt)
            token = CURRENT.set(sp.context)
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                sp._fail(exc)
                raise
            finally:
                CURRENT.reset(token)
                sp.end()

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rt = _pipeline.RUNTIME
        if rt is not None and not rt.span_emitters and CURRENT.get().trace_id != INVALID_TRACE_ID:
            return fn(*args, **kwargs)  # tracing off: the cost of a plain call
        sp = _start(name, kind, attributes, None, (), None, rt or _pipeline.get())
        token = CURRENT.set(sp.context)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            sp._fail(exc)
            raise
        finally:
            CURRENT.reset(token)
            sp.end()

    return wrapper  # type: ignore[return-value]


def _wrap_generator(fn: Callable[..., Any], name: str, kind: str,
                    attributes: Mapping[str, Any] | None) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sp = _start(name, kind, attributes, None, (), None, _pipeline.RUNTIME or _pipeline.get())
        ctx = sp.context
        token = CURRENT.set(ctx)
        try:
            gen = fn(*args, **kwargs)
        except Exception as exc:
            sp._fail(exc)
            sp.end()
            raise
        finally:
            CURRENT.reset(token)
        # Drive the generator by hand so the span is current only while its body runs:
        # between items the consumer keeps its own context.
        send_value: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = CURRENT.set(ctx)
                try:
                    item = gen.throw(thrown) if thrown is not None else gen.send(send_value)
                except StopIteration as stop:
                    return stop.value
                finally:
                    CURRENT.reset(token)
                thrown = None
                try:
                    send_value = yield item
                except GeneratorExit:
                    token = CURRENT.set(ctx)
                    try:
                        gen.close()
                    finally:
                        CURRENT.reset(token)
                    raise
                except BaseException as exc:  # thrown in by the consumer: forward it
                    thrown = exc
                    send_value = None
        except Exception as exc:
            sp._fail(exc)
            raise
        finally:
            sp.end()

    return wrapper


def _wrap_async_generator(fn: Callable[..., Any], name: str, kind: str,
                          attributes: Mapping[str, Any] | None) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        sp = _start(name, kind, attributes, None, (), None, _pipeline.RUNTIME or _pipeline.get())
        ctx = sp.context
        token = CURRENT.set(ctx)
        try:
            agen = fn(*args, **kwargs)
        except Exception as exc:  # bad arguments: the call fails before any body runs
            sp._fail(exc)
            sp.end()
            raise
        finally:
            CURRENT.reset(token)
        send_value: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = CURRENT.set(ctx)
                try:
                    if thrown is not None:
                        item = await agen.athrow(thrown)
                    else:
                        item = await agen.asend(send_value)
                except StopAsyncIteration:
                    return
                finally:
                    CURRENT.reset(token)
                thrown = None
                try:
                    send_value = yield item
                except GeneratorExit:
                    token = CURRENT.set(ctx)
                    try:
                        await agen.aclose()
                    finally:
                        CURRENT.reset(token)
                    raise
                except BaseException as exc:
                    thrown = exc
                    send_value = None
        except Exception as exc:
            sp._fail(exc)
            raise
        finally:
            sp.end()

    return wrapper


def _on_configure(runtime: Any, explicit: bool) -> None:
    """Spans read the live runtime on every start; only the OpenTelemetry bridge is switched here.

    It is on after an explicit ``configure()`` (or inside ``capture()``) when the option allows
    and opentelemetry-api is installed. ``True`` installs it now; ``"auto"`` (the default) once
    the app imports ``opentelemetry.trace``, at once if it already has: until then neither the
    bridge nor ``opentelemetry`` is imported, which a Lambda cold start would pay for nothing
    (``benchmarks/bench_import.py``). Off, or back to the implicit configuration, it is taken
    out again.
    """
    import sys

    global _cancel_bridge
    _cancel_bridge()
    _cancel_bridge = _nothing
    wanted = runtime.config.options.get("opentelemetry_bridge", "auto") if explicit else False
    if wanted == "auto":
        import importlib.util

        try:
            installed = importlib.util.find_spec("opentelemetry.trace") is not None
        except (ImportError, ValueError):
            installed = False
        if installed:
            from obskit._import_hook import when_imported

            _cancel_bridge = when_imported("opentelemetry.trace", _install_bridge)
            return
        wanted = False
    if wanted:
        from obskit import _otel_bridge

        _otel_bridge.install()
    elif "obskit._otel_bridge" in sys.modules:
        sys.modules["obskit._otel_bridge"].uninstall()


def _nothing() -> None:
    return None


_cancel_bridge: Callable[[], None] = _nothing
"""Cancels the last configure()'s pending "install the bridge once OpenTelemetry is imported"."""


def _install_bridge() -> None:
    """The bridge, installed as the app's import of ``opentelemetry.trace`` completes: never raises into it."""
    try:
        from obskit import _otel_bridge

        _otel_bridge.install()
    except Exception as exc:  # an OpenTelemetry API too old or too new: obskit's own spans go on
        _diagnostics.incr("tracing.otel_bridge_failed")
        _diagnostics.report_once("otel_bridge.install", "obskit: the OpenTelemetry bridge could not be "
                                 "installed (%r); OpenTelemetry spans stay the API's own", exc)


_pipeline.on_reset(_open_spans.clear)
_pipeline.on_fork(_open_spans.clear)
