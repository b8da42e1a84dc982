"""traces='otel' with obskit's own provider: every span reaches the OTLP endpoint or is counted as lost.

A real OTLP/HTTP exporter sends to a collector on 127.0.0.1 that decodes each request with the
OTLP protobuf schema and answers as told: 200, 400 (refused), or slowly; or to a port nobody
listens on. Each case checks produced = arrived + counted.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import obskit

SPANS = 60


class Collector:
    """An OTLP/HTTP traces endpoint: counts the spans of every request it decodes, answers ``status``."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s
        self.arrived = 0
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                time.sleep(collector.delay_s)
                if collector.status == 200:
                    collector.arrived += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                self.send_response(collector.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector(request: pytest.FixtureRequest) -> Iterator[Collector]:
    c = Collector(*getattr(request, "param", (200,)))
    yield c
    c.stop()


def _configure(monkeypatch: pytest.MonkeyPatch, endpoint: str, timeout_s: int = 30, **env: str) -> None:
    """obskit's provider exporting to ``endpoint``; ``timeout_s`` is the exporter's per-request timeout.

    Long by default: an export that times out is counted as lost, yet a slow collector may still
    take it (the exporter cannot know), which would make a span both arrived and counted.
    """
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", str(timeout_s))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    obskit.configure(service="checkout", traces="otel", metrics="none", logs="none")


def _produce(n: int = SPANS) -> None:
    for i in range(n):
        with obskit.span(f"op {i}"):
            pass


def _lost() -> int:
    return sum(v for k, v in obskit.diagnostics().items() if k.startswith("traces.dropped."))


def test_every_span_arrives_and_nothing_is_counted(monkeypatch: pytest.MonkeyPatch, collector: Collector) -> None:
    _configure(monkeypatch, collector.endpoint)
    _produce()
    assert obskit.flush(10)
    assert (collector.arrived, _lost()) == (SPANS, 0)


@pytest.mark.parametrize("collector", [(400,)], indirect=True)
def test_spans_the_endpoint_refuses_are_counted(monkeypatch: pytest.MonkeyPatch, collector: Collector) -> None:
    _configure(monkeypatch, collector.endpoint)
    _produce()
    obskit.flush(10)
    assert (collector.arrived, obskit.diagnostics().get("traces.dropped.export_failed")) == (0, SPANS)


def test_spans_for_an_endpoint_nobody_listens_on_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections to it are refused
    _configure(monkeypatch, f"http://127.0.0.1:{port}/v1/traces", timeout_s=1)  # retries end within 1 s
    _produce()
    obskit.flush(10)
    assert obskit.diagnostics().get("traces.dropped.export_failed") == SPANS


@pytest.mark.parametrize("collector", [(200, 0.3)], indirect=True)
def test_spans_dropped_by_a_full_queue_are_counted_and_not_logged_one_by_one(
    monkeypatch: pytest.MonkeyPatch, collector: Collector, caplog: pytest.LogCaptureFixture,
) -> None:
    """A slow collector and a small queue: what the batch processor drops is counted, once on the log."""
    _configure(monkeypatch, collector.endpoint, OTEL_BSP_MAX_QUEUE_SIZE="8", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="4")
    _produce(200)
    flushed = obskit.flush(30)
    seen = (collector.arrived, dict(obskit.diagnostics()))
    assert flushed, seen
    assert seen[1].get("traces.dropped.queue_full", 0) > 0, seen
    # Nothing is lost uncounted. The count is the SDK's own judgement ("Queue full" before it adds
    # a span), and its worker may take a batch in that instant: a span or two counted and sent.
    assert 200 <= collector.arrived + _lost() <= 205, seen
    assert not [r for r in caplog.records if r.getMessage().startswith("Queue full")]
