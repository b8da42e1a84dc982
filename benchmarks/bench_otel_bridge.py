"""OpenTelemetry API spans through obskit's bridge next to the same spans through the OpenTelemetry SDK.

What an ``opentelemetry-instrumentation-*`` package does per operation, ``start_as_current_span``
plus three ``set_attribute`` calls, run against obskit's tracer (X-Ray emitter to UDP, and the
OpenTelemetry emitter to an SDK batch processor) and against the SDK's own tracer with a
``BatchSpanProcessor``, all in one process and the same rounds. The SDK runs with the API's own
runtime context and obskit's cases with obskit's: each case puts its runtime context in place
first (one module attribute store, paid by every case alike), so neither side pays for the
other's. Exporters: a UDP socket that nobody reads (the kernel drops what does not fit) and a
no-op ``SpanExporter`` behind the batch processor.

The second pair is obskit's own span with the bridge on and off: the bridge adds no code to it
(obskit spans never call into OpenTelemetry), and the rows show what that costs: nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks._harness import markdown_table, measure, rows
from benchmarks.bench_tracing import FLOOR, _floor, _listener

SDK = "OTel SDK: start_as_current_span + 3 attributes, batch processor"
BRIDGE_XRAY = "obskit bridge: the same API calls, X-Ray emitter to UDP"
BRIDGE_OTEL = "obskit bridge: the same API calls, OTel emitter to the same batch processor"
SPAN_ON = "obskit span + 3 attributes, X-Ray emitter, bridge on"
SPAN_OFF = "obskit span + 3 attributes, X-Ray emitter, bridge off"


def run(quick: bool = False) -> list[dict[str, Any]]:
    import logging

    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    import obskit
    from obskit import _otel_bridge, _pipeline

    logging.getLogger("obskit").setLevel(logging.ERROR)

    class NoopExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    vanilla = otel_context._RUNTIME_CONTEXT
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=1 << 16))
    sdk_tracer = provider.get_tracer("bench")

    sock, address = _listener()
    obskit.configure(traces="otel", tracer_provider=provider, metrics="none", logs="none",
                     opentelemetry_bridge=True)
    otel_rt = _pipeline.get()
    obskit.configure(traces="xray", xray_daemon_address=address, metrics="none", logs="none",
                     opentelemetry_bridge=True)
    xray_rt = _pipeline.get()
    ours = otel_context._RUNTIME_CONTEXT
    api_tracer = trace.get_tracer("bench")
    attrs = {"order.id": 7, "customer": "c-1", "amount": 12.5}

    def api_case(tracer: Any, runtime_context: Any, rt: Any) -> Any:
        def case() -> None:
            otel_context._RUNTIME_CONTEXT = runtime_context
            _pipeline.RUNTIME = rt
            with tracer.start_as_current_span("charge") as s:
                s.set_attribute("order.id", 7)
                s.set_attribute("customer", "c-1")
                s.set_attribute("amount", 12.5)

        return case

    span = obskit.span

    def obskit_case(active: bool) -> Any:
        state = _otel_bridge._STATE
        runtime_context = ours if active else vanilla

        def case() -> None:
            otel_context._RUNTIME_CONTEXT = runtime_context
            _pipeline.RUNTIME = xray_rt
            state.active = active
            with span("charge", attributes=attrs):
                pass

        return case

    stats = measure({
        FLOOR: _floor(),
        SDK: api_case(sdk_tracer, vanilla, xray_rt),
        BRIDGE_XRAY: api_case(api_tracer, ours, xray_rt),
        BRIDGE_OTEL: api_case(api_tracer, ours, otel_rt),
        SPAN_ON: obskit_case(True),
        SPAN_OFF: obskit_case(False),
    }, quick=quick)
    otel_context._RUNTIME_CONTEXT = ours
    _pipeline.RUNTIME = xray_rt
    _otel_bridge._STATE.active = True
    otel_rt.span_emitters[0].close()
    obskit.configure(traces="none", metrics="none", logs="none")
    provider.shutdown()
    sock.close()
    return rows(stats, reference=FLOOR, peers={BRIDGE_XRAY: SDK, BRIDGE_OTEL: SDK, SPAN_ON: SPAN_OFF})


if __name__ == "__main__":
    print(markdown_table(run(quick="--quick" in sys.argv)))
