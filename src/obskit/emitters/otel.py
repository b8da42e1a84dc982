"""The OpenTelemetry span emitter: each finished obskit span becomes an OpenTelemetry span.

Imports: standard library and obskit's core at import time; ``opentelemetry`` (API and SDK)
only inside ``create()`` and the emitter it returns.

Spans go through the OpenTelemetry API on a ``TracerProvider`` (the user's, through the
``tracer_provider`` option, or one obskit builds with a ``service.name`` resource and a
``BatchSpanProcessor`` to OTLP), so any processor and exporter works. The ids are obskit's:
the tracer's id generator is fed the record's trace and span id just before the span is
created, so an OpenTelemetry span's ``trace_id``/``span_id`` equal what obskit's logs carry,
and, because obskit's trace ids are epoch-prefixed, what X-Ray shows.

The span is handed over when obskit's span *ends*, with its real start time. With the SDK's
``TracerProvider`` (the common case) obskit builds the finished ``ReadableSpan`` itself and gives
it to the provider's span processors: the SDK's per-span work (``_Span``, attribute checks under
a lock, context objects) is what makes an OpenTelemetry span cost 20+ us, and obskit has done
the equivalent already. Any other provider gets the span through its tracer (``start_span`` /
``end``, with the ids fed to the tracer's id generator). The price: processors' ``on_start``
is not called on the direct path. OpenTelemetry instrumentations' spans are obskit spans
through the bridge (``obskit._otel_bridge``), so they reach the provider this way too.
"""

from __future__ import annotations

import threading
from typing import Any

from obskit import _diagnostics
from obskit.config import Option
from obskit.errors import ConfigError
from obskit.semconv import SPAN_KIND_CLIENT, SPAN_KIND_CONSUMER, SPAN_KIND_PRODUCER, SPAN_KIND_SERVER

__all__ = ["OPTIONS", "OTelEmitter", "create"]


def _parse_provider(name: str, value: Any) -> Any:
    if value is None:
        return None
    if not callable(getattr(value, "get_tracer", None)):
        raise ConfigError(f"configure({name}={value!r}): expected an OpenTelemetry TracerProvider "
                          "(an object with get_tracer())")
    return value


OPTIONS: dict[str, Option] = {
    "tracer_provider": Option(
        None, _parse_provider,
        "the OpenTelemetry TracerProvider that receives obskit's spans (default: one obskit builds)",
    ),
}


class _IdFeed:
    """An OpenTelemetry ``IdGenerator`` that hands out the ids obskit already chose.

    Per thread, so concurrent span ends cannot swap ids; calls outside ``OTelEmitter.on_end``
    (nobody else uses obskit's tracer) fall back to the provider's own generator.
    """

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback
        self._local = threading.local()

    def set(self, trace_id: int, span_id: int) -> None:
        local = self._local
        local.trace_id = trace_id
        local.span_id = span_id

    def generate_span_id(self) -> int:
        local = self._local
        sid = getattr(local, "span_id", None)
        if sid is None:
            return self._fallback.generate_span_id()  # type: ignore[no-any-return]
        local.span_id = None
        return sid  # type: ignore[no-any-return]

    def generate_trace_id(self) -> int:
        local = self._local
        tid = getattr(local, "trace_id", None)
        if tid is None:
            return self._fallback.generate_trace_id()  # type: ignore[no-any-return]
        local.trace_id = None
        return tid  # type: ignore[no-any-return]

    def is_trace_id_random(self) -> bool:
        return True


class OTelEmitter:
    """``SpanEmitter`` that re-creates each finished span on an OpenTelemetry tracer.

    Args:
        provider: the ``TracerProvider``.
        owned: whether obskit built the provider (then ``close()`` shuts it down).
    """

    name = "otel"

    def __init__(self, provider: Any, *, owned: bool) -> None:
        from opentelemetry import trace as api
        from opentelemetry.trace.status import Status, StatusCode

        self._provider = provider
        self._owned = owned
        self._tracer = provider.get_tracer("obskit", _version())
        fallback = getattr(self._tracer, "id_generator", None)
        self._feed: _IdFeed | None = None
        if fallback is not None:
            self._feed = _IdFeed(fallback)
            self._tracer.id_generator = self._feed
        else:
            _diagnostics.report_once(
                "otel.ids", "obskit: tracer provider %r has no id generator to feed; OpenTelemetry span ids "
                "will differ from obskit's", type(provider).__name__,
            )
        self._api = api
        self._SpanContext = api.SpanContext
        self._NonRecordingSpan = api.NonRecordingSpan
        self._set_span_in_context = api.set_span_in_context
        self._Link = api.Link
        self._sampled = api.TraceFlags(api.TraceFlags.SAMPLED | api.TraceFlags.RANDOM_TRACE_ID)
        self._kinds = {
            "internal": api.SpanKind.INTERNAL,
            SPAN_KIND_SERVER: api.SpanKind.SERVER,
            SPAN_KIND_CLIENT: api.SpanKind.CLIENT,
            SPAN_KIND_PRODUCER: api.SpanKind.PRODUCER,
            SPAN_KIND_CONSUMER: api.SpanKind.CONSUMER,
        }
        self._ok = Status(StatusCode.OK)
        self._unset = Status(StatusCode.UNSET)
        self._Status = Status
        self._ERROR = StatusCode.ERROR
        # The SDK's TracerProvider: hand finished spans straight to its span processors.
        self._processor: Any = getattr(provider, "_active_span_processor", None)
        self._resource: Any = getattr(provider, "resource", None)
        self._sampler: Any = getattr(provider, "sampler", None)
        if self._processor is not None and self._resource is not None and self._sampler is not None:
            from opentelemetry.sdk.trace import Event, ReadableSpan
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope

            self._ReadableSpan = ReadableSpan
            self._Event = Event
            self._scope = InstrumentationScope("obskit", _version())
            self.on_end = self._on_end_direct  # type: ignore[method-assign]

    def on_start(self, rec: Any) -> None:
        """Nothing: the OpenTelemetry span is created, complete, when obskit's ends."""

    def _on_end_direct(self, rec: Any) -> None:
        """SDK provider: build the finished ``ReadableSpan`` and give it to the span processors.

        Skips the tracer's per-span machinery (``_Span``, attribute re-validation under a
        lock, a context object for the parent): obskit already checked the attributes and
        decided the sampling. A root span still asks the provider's sampler, so a user's ratio
        sampler keeps working; children follow their sampled parent.
        """
        tid = int(rec.trace_id, 16)
        parent = rec.parent_span_id
        kind = self._kinds.get(rec.kind, self._kinds["internal"])
        if parent is not None:
            parent_sc = self._SpanContext(tid, int(parent, 16), rec.remote_parent, self._sampled)
        else:
            parent_sc = None
            decision = self._sampler.should_sample(None, tid, rec.name, kind, rec.attributes, None)
            if not decision.decision.is_sampled():
                return
        links: tuple[Any, ...] = ()
        if rec.links:
            links = tuple(self._Link(self._SpanContext(int(c.trace_id, 16), int(c.span_id, 16), True, self._sampled))
                          for c in rec.links if c.span_id is not None)
        events: tuple[Any, ...] = ()
        if rec.events:
            events = tuple(self._Event(e.name, e.attributes, e.time_ns) for e in rec.events)
        status = rec.status
        if status == "error":
            otel_status = self._Status(self._ERROR, rec.status_description)
        elif status == "ok":
            otel_status = self._ok
        else:
            otel_status = self._unset
        self._processor.on_end(self._ReadableSpan(
            name=rec.name,
            context=self._SpanContext(tid, int(rec.span_id, 16), False, self._sampled),
            parent=parent_sc,
            resource=self._resource,
            attributes=rec.attributes,
            events=events,
            links=links,
            kind=kind,
            status=otel_status,
            start_time=rec.start_ns,
            end_time=rec.end_ns,
            instrumentation_scope=self._scope,
        ))

    def on_end(self, rec: Any) -> None:
        """Any other provider: create the span through the tracer, with obskit's ids fed in."""
        api = self._api
        tid = int(rec.trace_id, 16)
        parent = rec.parent_span_id
        if parent is not None:
            parent_sc = self._SpanContext(tid, int(parent, 16), rec.remote_parent, self._sampled)
            context = self._set_span_in_context(self._NonRecordingSpan(parent_sc))
        else:
            context = api.set_span_in_context(api.INVALID_SPAN)
        links = None
        if rec.links:
            links = [self._Link(self._SpanContext(int(c.trace_id, 16), int(c.span_id, 16), True, self._sampled))
                     for c in rec.links if c.span_id is not None]
        feed = self._feed
        if feed is not None:
            feed.set(tid, int(rec.span_id, 16))
        otel_span = self._tracer.start_span(
            rec.name, context=context, kind=self._kinds.get(rec.kind, api.SpanKind.INTERNAL),
            attributes=rec.attributes or None, links=links, start_time=rec.start_ns,
            record_exception=False, set_status_on_exception=False,
        )
        if feed is not None:
            feed.set(None, None)  # type: ignore[arg-type]
        for event in rec.events:
            otel_span.add_event(event.name, event.attributes, event.time_ns)
        status = rec.status
        if status == "error":
            otel_span.set_status(self._Status(self._ERROR, rec.status_description))
        elif status == "ok":
            otel_span.set_status(self._ok)
        otel_span.end(rec.end_ns)

    def flush(self, timeout_s: float | None = None) -> bool:
        force = getattr(self._provider, "force_flush", None)
        if force is None:
            return True
        millis = 30_000 if timeout_s is None else max(1, int(timeout_s * 1000))
        return force(millis) is not False

    def close(self) -> None:
        """Shut down a provider obskit built; a user's provider is only flushed (the user owns it)."""
        if self._owned:
            self._provider.shutdown()
        else:
            self.flush(5.0)


def _version() -> str:
    from obskit._version import __version__

    return __version__


def build_provider(service: str) -> Any:
    """A ``TracerProvider`` with ``service.name`` and a batch processor to OTLP (``OTEL_*`` honoured).

    Raises:
        MissingDependencyError: no OTLP exporter package is installed.
    """
    import os

    from obskit import _env
    from obskit._deps import require
    from obskit.errors import MissingDependencyError

    require("opentelemetry.sdk.trace", "otel", feature="traces='otel'")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    choice = os.environ.get(_env.OTEL_TRACES_EXPORTER, "otlp").strip().lower() or "otlp"
    exporter: Any = None
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter()
    elif choice != "none":
        for module in ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                       "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"):
            try:
                exporter = __import__(module, fromlist=["OTLPSpanExporter"]).OTLPSpanExporter()
                break
            except ImportError:
                continue
        if exporter is None:
            raise MissingDependencyError(
                "traces='otel' without a tracer_provider exports over OTLP, which needs the "
                "'opentelemetry-exporter-otlp' package; install it with: pip install opentelemetry-exporter-otlp "
                "(or pass configure(tracer_provider=...) with your own exporter)"
            )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(_counted_exporter(exporter)))
        _count_queue_drops()
    return provider


DIAG_EXPORT_FAILED = "traces.dropped.export_failed"
DIAG_QUEUE_FULL = "traces.dropped.queue_full"


def _counted_exporter(exporter: Any) -> Any:
    """``exporter``, with every span of a batch it fails to export counted (``traces.dropped.export_failed``).

    The SDK's batch processor logs a failed export and forgets the batch; obskit's delivery
    promise is that what is lost is counted. A class built on the SDK's ``SpanExporter`` here,
    so that ``opentelemetry`` is imported only when obskit builds a provider.
    """
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class CountedExporter(SpanExporter):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def export(self, spans: Any) -> Any:
            try:
                result = self.inner.export(spans)
            except Exception:  # the processor would log it and drop the batch: count it instead
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                _diagnostics.count(DIAG_EXPORT_FAILED, "obskit: spans not accepted by the OTLP endpoint "
                                   "(unreachable, or it refused them); counted as " + DIAG_EXPORT_FAILED, n=len(spans))
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return bool(self.inner.force_flush(timeout_millis))

    return CountedExporter(exporter)


class _QueueDrops:
    """A ``logging`` filter on the SDK's batch processor: its "Queue full" record, one per lost span, becomes a count.

    ``traces.dropped.queue_full``, reported once on the ``obskit`` logger like every other loss;
    the SDK's own line is kept out (it would be one line per span dropped, at the worst moment).
    """

    def filter(self, record: Any) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Queue full, dropping"):
            _diagnostics.count(DIAG_QUEUE_FULL, "obskit: the OpenTelemetry batch processor's queue was full "
                               "(spans ended faster than the exporter sent them); counted as " + DIAG_QUEUE_FULL)
            return False
        return True


def _count_queue_drops() -> None:
    import logging

    for name in ("opentelemetry.sdk._shared_internal", "opentelemetry.sdk.trace.export"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _QueueDrops) for f in log.filters):
            # First, ahead of the SDK's own filter, which passes one such line per 20 s.
            log.filters.insert(0, _QueueDrops())


def create(config: Any) -> OTelEmitter:
    """Factory for ``traces="otel"``: the user's provider, or one built for ``config.service``.

    Raises:
        MissingDependencyError: opentelemetry-sdk or an OTLP exporter is missing.
    """
    from obskit._deps import require

    require("opentelemetry.trace", "otel", feature="traces='otel'")
    provider = config.option("tracer_provider")
    if provider is not None:
        return OTelEmitter(provider, owned=False)
    return OTelEmitter(build_provider(config.service), owned=True)
