"""Read and write the telemetry context on the wire: ``extract`` and ``inject``.

Imports: standard library and obskit's core (``_context``, ``_diagnostics``, ``_pipeline``,
``context``, ``semconv``); ``obskit.config`` is read through ``_pipeline`` at call time.

``extract`` turns incoming headers into a ``TelemetryContext`` and never raises: whatever
arrives (garbage, 100 KB values, NUL bytes, a thousand repeated fields), the result is a
usable context, and what had to be ignored is counted in ``obskit.diagnostics()``.
``inject`` writes the context into outgoing headers in every format obskit speaks, so a
downstream service on W3C or on X-Ray joins the same trace.

The plug-in shapes (plain callables and a small protocol, no base classes):

* ``Getter``: ``(carrier, key) -> list[str]``; ``Setter``: ``(carrier, key, value) -> None``.
* ``Propagator``: ``fields``, ``extract(carrier, getter) -> TelemetryContext | None`` and
  ``inject(ctx, carrier, setter) -> None``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

from obskit import _diagnostics, _pipeline
from obskit._context import CURRENT, EMPTY_CONTEXT, TelemetryContext
from obskit.propagation._carriers import (
    _BULK,
    Getter,
    Setter,
    _environ_key,
    _prepared_getter,
    asgi_getter,
    asgi_setter,
    header_lines,
    mapping_getter,
    mapping_setter,
    wsgi_getter,
)
from obskit.propagation.w3c import DEFAULT_MAX_HEADER_BYTES, W3CBaggagePropagator, W3CTraceContextPropagator
from obskit.propagation.xray import LambdaEnvPropagator, XRayPropagator, _read_env
from obskit.semconv import (
    ENV_LAMBDA_TRACE,
    HEADER_BAGGAGE,
    HEADER_CORRELATION_ID,
    HEADER_REQUEST_ID,
    HEADER_TRACEPARENT,
    HEADER_XRAY,
)

__all__ = [
    "CompositePropagator",
    "Getter",
    "LambdaEnvPropagator",
    "Propagator",
    "Setter",
    "W3CBaggagePropagator",
    "W3CTraceContextPropagator",
    "XRayPropagator",
    "asgi_getter",
    "asgi_setter",
    "build_propagator",
    "extract",
    "inject",
    "mapping_getter",
    "mapping_setter",
    "wsgi_getter",
]

C = TypeVar("C")

DEFAULT_PRECEDENCE = ("tracecontext", "xray", "lambda")
DEFAULT_CORRELATION_HEADERS = (HEADER_CORRELATION_ID, HEADER_REQUEST_ID)
MAX_CORRELATION_ID_CHARS = 256

_ZERO_TRACE = EMPTY_CONTEXT.trace_id
_EMPTY_MAP = EMPTY_CONTEXT.baggage

DIAG_ERROR = "propagation.error"
DIAG_MALFORMED_CORRELATION = "propagation.malformed.correlation_id"


@runtime_checkable
class Propagator(Protocol):
    """Reads one wire format into a context and writes a context back out in it.

    ``extract`` returns ``None`` when the format is absent or malformed (counting the latter)
    and never raises; ``inject`` writes nothing the context cannot fill.
    """

    fields: frozenset[str]
    """The lower-case header names this propagator reads and writes."""

    def extract(self, carrier: Any, getter: Getter) -> TelemetryContext | None: ...

    def inject(self, ctx: TelemetryContext, carrier: Any, setter: Setter) -> None: ...


_KEY_HEADERS: dict[type, str] = {
    W3CTraceContextPropagator: HEADER_TRACEPARENT,
    XRayPropagator: HEADER_XRAY,
    W3CBaggagePropagator: HEADER_BAGGAGE,
}
"""The header without which each built-in propagator's ``extract`` returns ``None``."""

_FACTORIES: dict[str, Any] = {
    "tracecontext": W3CTraceContextPropagator,
    "xray": XRayPropagator,
    "lambda": LambdaEnvPropagator,
}


class CompositePropagator:
    """Several propagators in precedence order, plus the correlation-id headers.

    The trace comes from the first member that yields a valid one; baggage is merged from all
    of them (an earlier member wins a key). When a later member carries the same trace id
    with X-Ray ``Lineage`` or unknown fields, those are kept, so a request that arrives with
    both ``traceparent`` and ``X-Amzn-Trace-Id`` still passes ``Lineage`` on.

    Why the default precedence is ``traceparent`` > ``X-Amzn-Trace-Id`` > ``_X_AMZN_TRACE_ID``:

    * ``traceparent`` is end-to-end: the calling client wrote it and proxies pass it on
      unchanged, so it names the caller's own span.
    * ``X-Amzn-Trace-Id`` is rewritten on the way: ALB inserts ``Self`` and, above 7 KB of
      headers, cuts it to ``Root`` only; ALB, API Gateway and Function URLs send ``Root``
      without ``Parent``. It is a good trace id but often a poorer parent.
    * ``_X_AMZN_TRACE_ID`` is an environment variable: process-global, it describes the Lambda
      invocation, not the request in hand, and concurrent invocations in one process cannot
      each have their own (swift-aws-lambda-runtime#633). A header from the caller is more
      specific. (OpenTelemetry's ``AwsXRayLambdaPropagator`` does the opposite and lets the
      variable override the carrier; put ``"lambda"`` first in ``configure(propagation=...)``
      to get that behaviour.)

    Args:
        propagators: the members, highest precedence first.
        correlation_headers: lower-case headers that may carry a correlation id, first wins.
    """

    __slots__ = ("_correlation_headers", "_members", "_plan", "_wsgi", "fields")

    def __init__(
        self,
        propagators: Iterable[Propagator],
        *,
        correlation_headers: Sequence[str] = DEFAULT_CORRELATION_HEADERS,
    ) -> None:
        self._members: tuple[Propagator, ...] = tuple(propagators)
        self._correlation_headers = tuple(h.lower() for h in correlation_headers)
        fields: set[str] = set(self._correlation_headers)
        for member in self._members:
            fields.update(member.fields)
        self.fields = frozenset(fields)
        # A built-in header propagator finds nothing when its key header is absent, so on a
        # carrier already collected in one pass it is skipped without a call.
        self._plan: tuple[tuple[Propagator, str | None], ...] = tuple(
            (m, _KEY_HEADERS.get(m.__class__)) for m in self._members
        )
        self._wsgi = _wsgi_plan(self._members, self._correlation_headers)

    def extract(self, carrier: Any, getter: Getter) -> TelemetryContext | None:
        """The merged context of all members (no correlation id), or ``None`` if none had one."""
        trace, extra, baggage, props = self._parts(carrier, getter)
        if trace is None:
            if baggage is None:
                return None
            trace = EMPTY_CONTEXT
        return trace.as_received(
            correlation_id=None, baggage=baggage or _EMPTY_MAP, baggage_properties=props or _EMPTY_MAP,
            fields=_EMPTY_MAP, xray_extra=extra,
        )

    def _wsgi_parts(self, environ: dict[str, Any]) -> tuple[TelemetryContext | None, str | None] | None:
        """``(trace, correlation_id)`` of a WSGI environ in which at most ``traceparent`` speaks.

        The usual request carries ``traceparent`` alone (or nothing): the W3C member's answer
        is then the merged answer, so the one-pass collection and the merge are skipped, and
        the environ is read by its known keys. ``None`` when another member has input (an
        X-Ray or baggage header, Lambda's variable) or the plan does not apply: the caller
        takes the general path.
        """
        plan = self._wsgi
        if plan is None:
            return None
        w3c, absent, lam, cid_keys = plan
        get = environ.get
        for key in absent:
            if get(key) is not None:
                return None
        if lam and _read_env(ENV_LAMBDA_TRACE):
            return None
        trace = None
        if w3c is not None and get("HTTP_TRACEPARENT") is not None:
            trace = w3c.extract(environ, wsgi_getter)
        for key in cid_keys:
            if get(key) is not None:
                return trace, self.correlation_id(environ, wsgi_getter)
        return trace, None

    def _parts(
        self, carrier: Any, getter: Getter, prepared: bool = False
    ) -> tuple[TelemetryContext | None, str | None, Mapping[str, str] | None, Mapping[str, str] | None]:
        """``(trace, xray_extra, baggage, baggage_properties)`` merged from every member.

        ``prepared``: ``carrier`` is the dict of a ``_BULK`` pass (only headers present).
        """
        trace: TelemetryContext | None = None
        extra: str | None = None
        baggage: Mapping[str, str] | None = None
        props: Mapping[str, str] | None = None
        merged: dict[str, str] | None = None
        merged_props: dict[str, str] | None = None
        for member, key in self._plan:
            if prepared and key is not None and key not in carrier:
                continue
            got = member.extract(carrier, getter)
            if got is None:
                continue
            if got.baggage:
                if baggage is None:
                    baggage = got.baggage
                    props = got.baggage_properties
                else:
                    if merged is None:
                        merged = dict(baggage)
                        merged_props = dict(props or {})
                    for k, v in got.baggage.items():
                        if k not in merged:
                            merged[k] = v
                            p = got.baggage_properties.get(k)
                            if p:
                                merged_props[k] = p  # type: ignore[index]
            if got.trace_id != _ZERO_TRACE:
                if trace is None:
                    trace = got
                    extra = got.xray_extra
                elif got.trace_id == trace.trace_id:
                    if extra is None and got.xray_extra:
                        extra = got.xray_extra
                    if trace.span_id is None and got.span_id is not None:
                        trace = _with_parent_of(trace, got)
        if merged is not None:
            baggage = MappingProxyType(merged)
            props = MappingProxyType(merged_props) if merged_props else None
        return trace, extra, baggage, props

    def correlation_id(self, carrier: Any, getter: Getter) -> str | None:
        """The first valid correlation id among the configured headers, or ``None``."""
        for header in self._correlation_headers:
            values = header_lines(carrier, getter, header)
            if not values:
                continue
            value = values[0].strip(" \t")
            if _valid_correlation_id(value):
                return value
            _diagnostics.incr(DIAG_MALFORMED_CORRELATION)
        return None

    def inject(self, ctx: TelemetryContext, carrier: Any, setter: Setter) -> None:
        """Write the context in every member's format, and the correlation id header."""
        for member in self._members:
            member.inject(ctx, carrier, setter)
        if ctx.correlation_id:
            setter(carrier, HEADER_CORRELATION_ID, ctx.correlation_id)


def _wsgi_plan(
    members: Sequence[Propagator], correlation_headers: Sequence[str]
) -> tuple[Propagator | None, tuple[str, ...], bool, tuple[str, ...]] | None:
    """What ``_wsgi_parts`` reads: ``(w3c member, keys that must be absent, Lambda?, cid keys)``.

    ``None`` (no fast path) unless every member is a built-in with at most one W3C member.
    """
    w3c: Propagator | None = None
    absent: list[str] = []
    lam = False
    for m in members:
        cls = m.__class__
        if cls is W3CTraceContextPropagator and w3c is None:
            w3c = m
        elif cls is XRayPropagator or cls is W3CBaggagePropagator:
            absent.append(_environ_key(_KEY_HEADERS[cls]))
        elif cls is LambdaEnvPropagator:
            lam = True
        else:
            return None
    return w3c, tuple(absent), lam, tuple(_environ_key(h) for h in correlation_headers)


def _with_parent_of(trace: TelemetryContext, other: TelemetryContext) -> TelemetryContext:
    """``trace`` (which names no parent) with the parent that ``other``, same trace, names.

    API Gateway, ALB and Function URLs send ``X-Amzn-Trace-Id`` with ``Root`` only, while
    Lambda's ``_X_AMZN_TRACE_ID`` carries the same ``Root`` with the ``Parent`` of the
    function's own segment: without that parent, the function's spans would be sent as
    top-level segments that X-Ray does not expect from inside Lambda. The first member still
    decides the trace (and sampling, when it decided it).
    """
    sampled = trace.sampled if trace.sampled is not None else other.sampled
    return trace._replace(span_id=other.span_id, sampled=sampled, remote=other.remote)


def build_propagator(
    names: Iterable[str] = DEFAULT_PRECEDENCE,
    *,
    correlation_headers: Sequence[str] = DEFAULT_CORRELATION_HEADERS,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> CompositePropagator:
    """The composite for ``configure(propagation=...)``: named formats in order, plus baggage.

    Baggage is always read and written: it carries no trace, so it has no place in the
    precedence order, and it is merged from wherever it arrives.

    Raises:
        KeyError: for a name other than ``tracecontext``, ``xray`` or ``lambda``
            (``configure()`` has already rejected those with a ``ConfigError``).
    """
    members: list[Propagator] = [_FACTORIES[n](max_header_bytes=max_header_bytes) for n in names]
    members.append(W3CBaggagePropagator(max_header_bytes=max_header_bytes))
    return CompositePropagator(members, correlation_headers=correlation_headers)


_cache: tuple[Any, CompositePropagator] | None = None


def _composite() -> CompositePropagator:
    """The composite for the configuration in force, built once per ``Config`` object."""
    global _cache
    cfg = (_pipeline.RUNTIME or _pipeline.get()).config
    cached = _cache
    if cached is not None and cached[0] is cfg:
        return cached[1]
    comp = build_propagator(
        cfg.propagation,
        correlation_headers=cfg.correlation_headers,
        max_header_bytes=cfg.max_header_bytes,
    )
    _cache = (cfg, comp)
    return comp


def _default_getter(carrier: Any) -> Getter:
    """Pick the getter for a carrier: ASGI scope or header list, WSGI environ, or a mapping."""
    if carrier.__class__ is dict or isinstance(carrier, Mapping):
        if "REQUEST_METHOD" in carrier:
            return wsgi_getter
        if "headers" in carrier and "type" in carrier:
            return asgi_getter
        return mapping_getter
    if isinstance(carrier, (list, tuple)):
        return asgi_getter
    return mapping_getter


_cid_bits = random.Random().getrandbits


def _reseed_correlation_ids() -> None:
    global _cid_bits
    _cid_bits = random.Random().getrandbits


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_correlation_ids)


def _valid_correlation_id(value: Any) -> bool:
    """1-256 printable ASCII characters: what a correlation id may be, from a header or a caller."""
    return (
        value.__class__ is str and 0 < len(value) <= MAX_CORRELATION_ID_CHARS and value.isascii()
        and value.isprintable()
    )


def _new_correlation_id() -> str:
    """32 random hex digits: unique, not secret, so a seeded PRNG (a third of ``os.urandom``).

    Seeded from ``os.urandom`` and re-seeded in a forked child, so workers never share ids.
    """
    return "%032x" % _cid_bits(128)  # noqa: UP031 - faster than an f-string here


def extract(carrier: Any, getter: Getter | None = None, *, correlation_id: str | None = None) -> TelemetryContext:
    """The telemetry context that arrived with a request; never raises.

    Reads ``traceparent``/``tracestate``, ``X-Amzn-Trace-Id``, Lambda's ``_X_AMZN_TRACE_ID``
    (in the configured precedence), ``baggage`` and the correlation-id headers. Header names
    match case-insensitively.

    Args:
        carrier: the headers: a mapping, an ASGI scope or header list, a WSGI environ, or
            anything ``getter`` understands.
        getter: how to read one header from ``carrier``; chosen from the carrier's shape
            when omitted.
        correlation_id: the id to use when no configured header carries one, instead of a
            new one: an id the request already has (API Gateway's ``requestContext.requestId``,
            which it returns to the client as ``x-amzn-RequestId``). Ignored unless it is
            1-256 printable ASCII characters.

    Returns:
        The remote parent's context (``remote=True``, ``span_id`` = the caller's span) when
        a valid one arrived; for a ``Root``-only X-Ray header the trace with ``span_id=None``;
        otherwise a fresh trace. The correlation id is always set: from the configured
        headers, else ``correlation_id``, else newly generated. Baggage is kept in every case.
    """
    try:
        comp = _composite()
        if getter is None:
            getter = _default_getter(carrier)
        fast = comp._wsgi_parts(carrier) if getter is wsgi_getter and carrier.__class__ is dict else None
        if fast is not None:
            trace, cid = fast
            extra = baggage = props = None
        elif (bulk := _BULK.get(getter)) is not None:
            carrier = bulk(carrier, comp.fields)
            trace, extra, baggage, props = comp._parts(carrier, _prepared_getter, True)
            cid = None
            if carrier:
                cid = comp.correlation_id(carrier, _prepared_getter)
        else:
            trace, extra, baggage, props = comp._parts(carrier, getter)
            cid = comp.correlation_id(carrier, getter)
        if cid is None:
            if correlation_id is not None and _valid_correlation_id(correlation_id):
                cid = correlation_id
            else:
                cid = _new_correlation_id()
        if trace is None:
            # new_trace(), inline: same ids, sampling and kept fields, one context built. X-Ray
            # rules (trace_sampler="xray") decide at the request's span, knowing its method and path.
            rt = _pipeline.RUNTIME or _pipeline.get()
            tid = rt.ids.trace_id()
            sampled: Any = rt.sample(tid) if rt.sampler is None else None  # a bool without X-Ray rules
            trace = EMPTY_CONTEXT.with_trace("%032x" % tid, None, sampled)  # noqa: UP031 - faster
        return trace.as_received(
            correlation_id=cid, baggage=baggage or _EMPTY_MAP, baggage_properties=props or _EMPTY_MAP,
            fields=CURRENT.get().fields, xray_extra=extra,
        )
    except Exception:
        _diagnostics.incr(DIAG_ERROR)
        _diagnostics.report_once(DIAG_ERROR, "obskit.extract failed; starting a fresh trace")
        return _fallback_trace()


def _fallback_trace() -> TelemetryContext:
    """A fresh trace even when the configured id generator itself is failing."""
    try:
        from obskit.context import new_trace

        return new_trace(correlation_id=_new_correlation_id())
    except Exception:
        import time

        tid = f"{int(time.time()) & 0xFFFFFFFF:08x}{os.urandom(12).hex()}"
        return EMPTY_CONTEXT.with_correlation(_new_correlation_id()).with_trace(tid, None, None)


def _drop_spellings(carrier: dict[Any, Any], fields: frozenset[str]) -> None:
    """Remove ``Traceparent``, ``X-Amzn-Trace-Id`` and other spellings of what inject writes."""
    stale = [k for k in carrier if k.__class__ is str and k not in fields and k.lower() in fields]
    for k in stale:
        del carrier[k]


def _new_span_id() -> str:
    try:
        return f"{_pipeline.get().ids.span_id():016x}"
    except Exception:
        _diagnostics.incr(DIAG_ERROR)
        return os.urandom(8).hex()


def inject(
    carrier: C | None = None,
    *,
    context: TelemetryContext | None = None,
    setter: Setter | None = None,
) -> C | dict[str, str]:
    """Write the telemetry context into outgoing headers; never raises.

    Writes ``traceparent``, ``tracestate`` (if any), ``X-Amzn-Trace-Id`` (with ``Lineage`` and
    the other kept fields), ``baggage`` (if any) and ``x-correlation-id``. Following W3C, the
    outgoing parent is this process's span: when the context has no span of its own (no span
    id, or still the remote caller's right after ``extract``) a new span id is generated, so
    the receiver never sees our caller as its parent.

    Args:
        carrier: where to write; a new ``dict`` when omitted.
        context: what to write; ``obskit.current()`` when omitted. Outside any trace, a fresh
            trace (with a fresh correlation id) is written.
        setter: how to write one header; ``mapping_setter`` (or ``asgi_setter`` for a list)
            when omitted.

    Returns:
        The carrier.
    """
    out: Any = {} if carrier is None else carrier
    try:
        ctx = CURRENT.get() if context is None else context
        if ctx.trace_id == EMPTY_CONTEXT.trace_id:
            from obskit.context import new_trace

            ctx = new_trace(correlation_id=ctx.correlation_id or _new_correlation_id(), baggage=ctx.baggage)
        if ctx.span_id is None or ctx.remote:
            ctx = ctx.child(_new_span_id(), ctx.sampled)
        comp = _composite()
        if setter is None or setter is mapping_setter:
            if out.__class__ is dict:
                if out:
                    _drop_spellings(out, comp.fields)
                setter = dict.__setitem__
            elif isinstance(out, list):
                setter = asgi_setter
            else:
                setter = mapping_setter
        comp.inject(ctx, out, setter)
    except Exception:
        _diagnostics.incr(DIAG_ERROR)
        _diagnostics.report_once(DIAG_ERROR, "obskit.inject failed; headers may be incomplete")
    return out  # type: ignore[no-any-return]
