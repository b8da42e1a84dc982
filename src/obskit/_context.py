"""The two ContextVars: the request's telemetry context and its accumulator.

Imports: standard library and ``obskit.ids``.

``TelemetryContext`` is immutable: a writer builds a new one, sets it, and resets the token in
``finally``. That gives every asyncio task and every ``copy_context()`` thread its own view,
and nothing a child does can leak into its parent (the failure mode of a mutable dict in a
ContextVar). It is a tuple subclass because that is the cheapest immutable object CPython
builds (about 0.3 us against 0.9 us for a frozen slotted dataclass), and a request builds
several.

``RequestScope`` is the one mutable object: the per-request accumulator that the entry point
(middleware, Lambda decorator, ``request_scope``) installs exactly once. Code inside the request
mutates it and never re-sets the var, so what it adds reaches the flush even from thread pools.
It is never shared between requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, NamedTuple

from obskit.ids import INVALID_TRACE_ID, trace_id_to_xray

__all__ = ["EMPTY_CONTEXT", "RequestScope", "TelemetryContext", "make_context", "remote_context"]

_EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})


class _Fields(NamedTuple):
    trace_id: str
    span_id: str | None
    sampled: bool | None
    correlation_id: str | None
    baggage: Mapping[str, str]
    tracestate: str | None
    fields: Mapping[str, Any]
    xray_extra: str | None
    random_flag: bool
    remote: bool
    baggage_properties: Mapping[str, str]


class TelemetryContext(_Fields):
    """The telemetry context of the work in progress: ids, sampling, correlation, baggage, fields.

    Attributes:
        trace_id: 32 lower-case hex digits; ``"0" * 32`` in ``EMPTY_CONTEXT`` (no trace).
        span_id: 16 hex digits of the active span (or of the remote caller's span right after
            ``extract``), or ``None`` when there is no parent (a Root-only X-Ray header).
        sampled: the sampling decision; ``None`` while undecided (X-Ray ``Sampled=?``).
        correlation_id: the business-level request id that crosses every hop, or ``None``.
        baggage: W3C baggage members, key to decoded value (read-only).
        tracestate: the W3C ``tracestate`` to pass on, or ``None``.
        fields: the log fields bound with ``obskit.bound`` (read-only).
        xray_extra: the ``Lineage`` and unknown fields of an incoming ``X-Amzn-Trace-Id``, as
            ``;Key=value`` pairs, re-emitted downstream (Lambda's recursion detection needs
            ``Lineage``).
        random_flag: the W3C Level 2 random-trace-id flag, passed on while the trace id stays.
        remote: ``True`` while ``span_id`` is a remote caller's span (right after ``extract``).
        baggage_properties: per-member baggage properties as received (``key -> "p1;p2=v"``).
    """

    __slots__ = ()

    @property
    def xray_trace_id(self) -> str:
        """The trace id in X-Ray form, ``1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy``."""
        return trace_id_to_xray(self.trace_id)

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` for this context, or ``None`` without a valid span id."""
        if self.span_id is None or self.trace_id == INVALID_TRACE_ID:
            return None
        flags = (1 if self.sampled else 0) | (2 if self.random_flag else 0)
        return f"00-{self.trace_id}-{self.span_id}-{flags:02x}"

    @property
    def is_valid(self) -> bool:
        """``False`` only for ``EMPTY_CONTEXT``: there is no trace in progress."""
        return self.trace_id != INVALID_TRACE_ID

    def __repr__(self) -> str:
        parts = [f"trace_id={self.trace_id!r}", f"span_id={self.span_id!r}", f"sampled={self.sampled!r}"]
        if self.correlation_id is not None:
            parts.append(f"correlation_id={self.correlation_id!r}")
        if self.baggage:
            parts.append(f"baggage={dict(self.baggage)!r}")
        if self.tracestate:
            parts.append(f"tracestate={self.tracestate!r}")
        if self.fields:
            parts.append(f"fields={dict(self.fields)!r}")
        return f"TelemetryContext({', '.join(parts)})"

    # Tuple equality would make a context equal to a plain tuple; compare contexts only.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, TelemetryContext) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # mappings inside: not hashable

    # -- derived contexts -----------------------------------------------------------------------
    # Every context is built in this module: the helpers below name what changes, and the tuple
    # positions stay here (as OpenTelemetry keeps its tuple trick inside SpanContext.__new__).
    # They build the tuple directly (no NamedTuple ``_replace``, no keyword parsing) because they
    # run several times per request: benchmarks/bench_tracing.py and bench_web.py time them.

    def child(self, span_id: str, sampled: bool | None) -> TelemetryContext:
        """The context of a local span started under this one: same trace, new span id.

        Everything else travels on (correlation id, baggage, tracestate, fields, X-Ray extra
        fields, the random flag); the span is local, so ``remote`` is ``False``.
        """
        return _new(TelemetryContext, (
            self[0], span_id, sampled, self[3], self[4], self[5], self[6], self[7], self[8], False, self[10],
        ))

    def with_trace(
        self, trace_id: str, span_id: str | None, sampled: bool | None, *, tracestate: str | None = None,
        xray_extra: str | None = None, random_flag: bool = True, remote: bool = False,
    ) -> TelemetryContext:
        """Another trace's context that keeps what describes the code: correlation id, baggage, fields.

        For a new root span (a fresh trace id) or a span another tracer made current.
        """
        return _new(TelemetryContext, (
            trace_id, span_id, sampled, self[3], self[4], tracestate, self[6], xray_extra, random_flag, remote,
            self[10],
        ))

    def without_trace(self) -> TelemetryContext:
        """No trace in progress, keeping the correlation id, baggage and fields."""
        return _new(TelemetryContext, (
            INVALID_TRACE_ID, None, None, self[3], self[4], None, self[6], None, False, False, self[10],
        ))

    def with_correlation(self, correlation_id: str | None) -> TelemetryContext:
        """This context with another correlation id (``None`` removes it)."""
        return _new(TelemetryContext, (
            self[0], self[1], self[2], correlation_id, self[4], self[5], self[6], self[7], self[8], self[9],
            self[10],
        ))

    def with_fields(self, fields: Mapping[str, Any]) -> TelemetryContext:
        """This context with ``fields`` as its bound log fields (wrapped read-only unless already)."""
        if fields.__class__ is not MappingProxyType:
            fields = MappingProxyType(dict(fields)) if fields else _EMPTY_MAP
        return _new(TelemetryContext, (
            self[0], self[1], self[2], self[3], self[4], self[5], fields, self[7], self[8], self[9], self[10],
        ))

    def with_baggage(
        self, baggage: Mapping[str, str], properties: Mapping[str, str] | None = None,
    ) -> TelemetryContext:
        """This context with ``baggage`` (and its per-member properties, kept when not given)."""
        if baggage.__class__ is not MappingProxyType:
            baggage = MappingProxyType(dict(baggage)) if baggage else _EMPTY_MAP
        if properties is None:
            properties = self[10]
        elif properties.__class__ is not MappingProxyType:
            properties = MappingProxyType(dict(properties)) if properties else _EMPTY_MAP
        return _new(TelemetryContext, (
            self[0], self[1], self[2], self[3], baggage, self[5], self[6], self[7], self[8], self[9], properties,
        ))

    def as_received(
        self, *, correlation_id: str | None, baggage: Mapping[str, str], baggage_properties: Mapping[str, str],
        fields: Mapping[str, Any], xray_extra: str | None,
    ) -> TelemetryContext:
        """This parsed trace context with the rest of what a request carried (read-only mappings)."""
        return _new(TelemetryContext, (
            self[0], self[1], self[2], correlation_id, baggage, self[5], fields, xray_extra, self[8], self[9],
            baggage_properties,
        ))


_new = tuple.__new__


def remote_context(
    trace_id: str, span_id: str | None, sampled: bool | None, *, tracestate: str | None = None,
    xray_extra: str | None = None, random_flag: bool = False,
) -> TelemetryContext:
    """A caller's context parsed from a header: ``remote`` while it names the caller's span."""
    return _new(TelemetryContext, (
        trace_id, span_id, sampled, None, _EMPTY_MAP, tracestate, _EMPTY_MAP, xray_extra, random_flag,
        span_id is not None, _EMPTY_MAP,
    ))


def make_context(
    trace_id: str,
    span_id: str | None = None,
    sampled: bool | None = None,
    *,
    correlation_id: str | None = None,
    baggage: Mapping[str, str] | None = None,
    tracestate: str | None = None,
    fields: Mapping[str, Any] | None = None,
    xray_extra: str | None = None,
    random_flag: bool = False,
    remote: bool = False,
    baggage_properties: Mapping[str, str] | None = None,
) -> TelemetryContext:
    """Build a context, wrapping mappings read-only (shared empty proxy when empty)."""
    return TelemetryContext(
        trace_id,
        span_id,
        sampled,
        correlation_id,
        MappingProxyType(dict(baggage)) if baggage else _EMPTY_MAP,
        tracestate,
        MappingProxyType(dict(fields)) if fields else _EMPTY_MAP,
        xray_extra,
        random_flag,
        remote,
        MappingProxyType(dict(baggage_properties)) if baggage_properties else _EMPTY_MAP,
    )


EMPTY_CONTEXT = make_context(INVALID_TRACE_ID)
"""What ``obskit.current()`` returns outside any trace: log lines then carry no ids."""

EXCEPTION_CONTEXT_ATTR = "__obskit_context__"
"""The attribute a request's unhandled exception carries the request's context in, so the line a
server writes about it after the request (uvicorn's traceback) still has the request's ids: set
by the request scope, read by the standard library bridge."""

CURRENT: ContextVar[TelemetryContext] = ContextVar("obskit.context", default=EMPTY_CONTEXT)


class RequestScope:
    """Per-request accumulator, installed once by the entry point and mutated in place.

    Each signal keeps its own slot; the module that owns the slot creates what is in it on
    first use, so a request that records no metric pays nothing for metrics.
    """

    __slots__ = (
        "attributes",
        "debug_bytes",
        "debug_lines",
        "debug_sampled",
        "failed",
        "metrics",
        "operation",
        "span",
        "status",
    )

    def __init__(self, *, operation: str | None = None, debug_sampled: bool = False) -> None:
        self.operation = operation
        """The operation name (route template) once known, for metrics and the access line."""
        self.metrics: Any = None
        """Owned by ``obskit.metrics``: the request's metric aggregator."""
        self.debug_lines: list[Any] | None = None
        """Owned by ``obskit.logs``: DEBUG lines held until the request ends (buffer-on-error)."""
        self.debug_bytes = 0
        self.debug_sampled = debug_sampled
        """Debug logging sampled in for this request (decided once, at the edge)."""
        self.failed = False
        """Set when the request logs an error, returns a 5xx or raises: the debug buffer is written."""
        self.span: Any = None
        """The server span of the request, if any."""
        self.status: int | None = None
        self.attributes: dict[str, Any] = {}


SCOPE: ContextVar[RequestScope | None] = ContextVar("obskit.scope", default=None)
