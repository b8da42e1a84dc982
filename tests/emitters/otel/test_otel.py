"""OpenTelemetry emitter: obskit's ids 1:1, parent links, status, events, kinds, failures isolated."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import obskit
from obskit._context import make_context
from obskit.errors import ConfigError, MissingDependencyError
from obskit.testing import capture
from obskit.tracing import start_span

TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    obskit.configure(service="checkout", traces="otel", tracer_provider=provider)
    return exp


def by_name(exp: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exp.get_finished_spans()}


def test_otel_spans_carry_obskits_ids_and_links(exporter: InMemorySpanExporter) -> None:
    """Each OpenTelemetry span has obskit's trace id and span id, and children point at their parent."""
    with obskit.span("outer") as outer, obskit.span("inner") as inner:
        pass
    spans = by_name(exporter)
    o, i = spans["outer"], spans["inner"]
    assert f"{o.context.trace_id:032x}" == outer.trace_id
    assert f"{o.context.span_id:016x}" == outer.span_id
    assert f"{i.context.span_id:016x}" == inner.span_id
    assert i.parent is not None
    assert i.parent.span_id == o.context.span_id
    assert i.parent.is_remote is False
    assert o.parent is None


def test_remote_parent_from_traceparent(exporter: InMemorySpanExporter) -> None:
    """A server span under an incoming traceparent has that remote parent in OpenTelemetry too."""
    incoming = obskit.extract({"traceparent": f"00-{TRACE}-{PARENT}-01"})
    with obskit.activate(incoming), obskit.span("GET /", kind="server"):
        pass
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == PARENT
    assert span.parent.is_remote is True
    assert span.kind is SpanKind.SERVER


def test_status_exception_event_and_attributes(exporter: InMemorySpanExporter) -> None:
    """A failed span is ERROR with its description, an exception event and its attributes."""
    with pytest.raises(ValueError), obskit.span("charge", attributes={"order.id": 7}):
        raise ValueError("declined")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: declined"
    assert span.attributes == {"order.id": 7}
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "declined"


def test_ok_status_kind_times_and_links(exporter: InMemorySpanExporter) -> None:
    """Status ok, the kind, obskit's start/end times and links reach the OpenTelemetry span."""
    link = make_context("6" * 32, "7" * 16, True)
    s = start_span("send", kind="producer", links=[link], start_ns=1_000_000)
    s.set_status(True)
    s.end(end_ns=2_000_000)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.OK
    assert span.kind is SpanKind.PRODUCER
    assert (span.start_time, span.end_time) == (1_000_000, 2_000_000)
    assert f"{span.links[0].context.span_id:016x}" == "7" * 16


def test_unsampled_spans_are_not_exported(exporter: InMemorySpanExporter) -> None:
    """Spans of an unsampled trace never reach the provider."""
    with obskit.activate(make_context(TRACE, PARENT, False, remote=True)), obskit.span("x"):
        pass
    assert exporter.get_finished_spans() == ()


def test_flush_reaches_the_provider() -> None:
    """obskit.flush() forces the provider's batch processor to export."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exp, schedule_delay_millis=60_000))
    obskit.configure(traces="otel", tracer_provider=provider)
    with obskit.span("batched"):
        pass
    assert obskit.flush(timeout_s=5)
    assert [s.name for s in exp.get_finished_spans()] == ["batched"]
    provider.shutdown()


class _Exploding(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("processor broke")


def test_failing_processor_is_isolated_and_counted() -> None:
    """A span processor that raises never reaches user code; the failure is counted."""
    provider = TracerProvider()
    provider.add_span_processor(_Exploding())
    obskit.configure(traces="otel", tracer_provider=provider)
    with obskit.span("x") as s:
        pass
    assert s.span_id
    assert obskit.diagnostics()["emitter.otel.on_end_failure"] == 1


class _RaisingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector down")


def test_raising_exporter_never_reaches_user_code(caplog: pytest.LogCaptureFixture) -> None:
    """An exporter that raises is contained by the OpenTelemetry processor; the app carries on."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_RaisingExporter()))
    obskit.configure(traces="otel", tracer_provider=provider)
    with obskit.span("x"):
        result = 1 + 1
    assert result == 2
    assert "collector down" in caplog.text


def test_user_spans_keep_their_own_ids() -> None:
    """Spans the user creates on the same provider get the provider's ids, not obskit's."""
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    obskit.configure(traces="otel", tracer_provider=provider)
    with obskit.span("ours") as ours:
        pass
    with provider.get_tracer("app").start_as_current_span("theirs"):
        pass
    spans = by_name(exp)
    assert f"{spans['ours'].context.span_id:016x}" == ours.span_id
    assert spans["theirs"].context.span_id != spans["ours"].context.span_id


def test_log_line_carries_the_otel_span_ids(exporter: InMemorySpanExporter) -> None:
    """A log line inside a span carries the same trace and span id as the exported OpenTelemetry span."""
    log = obskit.get_logger("t")
    with capture() as cap, obskit.span("work"):
        log.info("inside")
    # capture() swaps in the memory emitter: compare the log line with what was recorded there
    line = cap.logs_with(message="inside")[0]
    assert (line["trace_id"], line["span_id"]) == (cap.spans[0]["trace_id"], cap.spans[0]["span_id"])
    with obskit.span("work2") as s:
        pass
    (span,) = [x for x in exporter.get_finished_spans() if x.name == "work2"]
    assert f"{span.context.span_id:016x}" == s.span_id


def test_bad_tracer_provider_fails_at_configure_time() -> None:
    """tracer_provider must look like a TracerProvider; anything else is a ConfigError."""
    with pytest.raises(ConfigError, match="tracer_provider"):
        obskit.configure(traces="otel", tracer_provider=object())


def test_without_provider_or_otlp_exporter_configure_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """traces='otel' with no provider and no OTLP exporter installed raises naming the package."""
    for module in ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                   "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"):
        monkeypatch.setitem(sys.modules, module, None)  # as if the package were not installed
    with pytest.raises(MissingDependencyError, match="opentelemetry-exporter-otlp"):
        obskit.configure(traces="otel")


def test_built_provider_has_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider obskit builds names the service in its resource."""
    from obskit.emitters.otel import build_provider

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    provider: Any = build_provider("checkout")
    try:
        assert provider.resource.attributes["service.name"] == "checkout"
    finally:
        provider.shutdown()


class _WrappedProvider:
    """A provider that is not the SDK's: only the API surface, delegating to an SDK provider."""

    def __init__(self, inner: TracerProvider) -> None:
        self._inner = inner

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.get_tracer(*args, **kwargs)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def test_any_provider_gets_spans_through_its_tracer_with_obskits_ids() -> None:
    """A provider that only offers get_tracer() still receives spans with obskit's ids and links."""
    exp = InMemorySpanExporter()
    inner = TracerProvider()
    inner.add_span_processor(SimpleSpanProcessor(exp))
    obskit.configure(traces="otel", tracer_provider=_WrappedProvider(inner))
    with pytest.raises(KeyError), obskit.span("outer", kind="server") as outer, obskit.span("inner") as inner_span:
        raise KeyError("k")
    spans = by_name(exp)
    assert f"{spans['outer'].context.span_id:016x}" == outer.span_id
    assert f"{spans['inner'].context.span_id:016x}" == inner_span.span_id
    assert f"{spans['inner'].context.trace_id:032x}" == outer.trace_id
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["inner"].status.status_code is StatusCode.ERROR
    assert [e.name for e in spans["inner"].events] == ["exception"]


def test_root_spans_respect_the_providers_sampler() -> None:
    """The provider's sampler can still drop a new trace (children follow their sampled parent)."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exp = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exp))
    obskit.configure(traces="otel", tracer_provider=provider)
    with obskit.span("root"):
        pass
    assert exp.get_finished_spans() == ()
