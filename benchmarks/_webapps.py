"""Hello-world Flask and FastAPI apps, bare and instrumented, shared by bench_web and its server.

Imports: the frameworks and the peers, inside the functions (a benchmark module must import
without them to list itself).

Variants: ``bare``; ``obskit`` (server span to the X-Ray emitter over UDP, one access line and
the request metrics, all written for real: logs and EMF to /dev/null, segments to a local UDP
socket nobody reads); ``otel`` (OpenTelemetry's instrumentation with the SDK, a batch span
processor and an exporter that drops); ``xray`` (aws-xray-sdk's Flask middleware with its own
recorder, every request sampled, an emitter that drops).
"""

from __future__ import annotations

import os
import socket
from typing import Any

_UDP: socket.socket | None = None
_DEVNULL: Any = None


def configure_obskit() -> None:
    """obskit with every signal really written: X-Ray UDP to a local sink, logs and EMF to /dev/null."""
    global _UDP, _DEVNULL
    import obskit

    if _UDP is None:
        _UDP = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _UDP.bind(("127.0.0.1", 0))
        _DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    port = _UDP.getsockname()[1]
    obskit.configure(
        service="bench", traces="xray", xray_daemon_address=f"127.0.0.1:{port}",
        metrics="file", emf_file_path=os.devnull, logs="json", log_stream=_DEVNULL,
    )


def otel_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DropExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    return provider


def flask_app(variant: str) -> Any:
    from flask import Flask

    app = Flask(f"bench_{variant}")

    @app.get("/")
    def hello() -> str:
        return "hello"

    if variant == "obskit":
        from obskit.integrations.flask import instrument

        configure_obskit()
        instrument(app)
    elif variant == "otel":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(app, tracer_provider=otel_provider())
    elif variant == "xray":
        from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
        from aws_xray_sdk.core.recorder import AWSXRayRecorder
        from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

        class DropEmitter(UDPEmitter):
            def send_entity(self, entity: Any) -> None:
                return None

        recorder = AWSXRayRecorder()
        recorder.configure(sampling=False, emitter=DropEmitter(), context_missing="LOG_ERROR", plugins=(),
                           service="bench")
        XRayMiddleware(app, recorder)
    return app


def fastapi_app(variant: str) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    @app.get("/")
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("hello")

    if variant == "obskit":
        from obskit.integrations.fastapi import instrument

        configure_obskit()
        instrument(app)
    elif variant == "otel":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=otel_provider())
    return app


def serve(variant: str, port: int) -> None:
    """Run the FastAPI app of ``variant`` under uvicorn on 127.0.0.1:``port`` (stdout to /dev/null)."""
    import uvicorn

    app = fastapi_app(variant)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, http="h11",
                loop="asyncio", ws="none", lifespan="off")


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], int(sys.argv[2]))
