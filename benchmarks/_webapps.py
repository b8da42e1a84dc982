"""Hello-world Flask and FastAPI apps, bare and instrumented, shared by bench_web and its server.

Imports: the frameworks and the peers, inside the functions (a benchmark module must import
without them to list itself).

Variants: ``bare``; ``obskit`` (server span to the X-Ray emitter over UDP, one access line and
the request metrics, all written for real: logs and EMF to /dev/null, segments to a local UDP
socket nobody reads); ``otel`` (OpenTelemetry's instrumentation with the SDK, a batch span
processor and an exporter that drops); ``xray`` (aws-xray-sdk's Flask middleware with its own
recorder, every request sampled, an emitter that drops).

Servers: the FastAPI app under uvicorn (``serve``), the Flask app under gunicorn's threaded
worker (``serve_wsgi``).
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


def serve_wsgi(variant: str, port: int) -> None:
    """Run the Flask app of ``variant`` under gunicorn on 127.0.0.1:``port``: one worker, 4 threads, keep-alive.

    gunicorn's threaded worker is the usual production setup for a Flask service, and it keeps
    connections alive, as the load generator expects. The app is built in the worker, after
    the fork, as without ``--preload``.
    """
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "gthread", "threads": 4,
                "keepalive": 30, "accesslog": None, "errorlog": os.devnull, "loglevel": "error",
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return flask_app(variant)

    Server().run()


if __name__ == "__main__":
    import sys

    # python -m benchmarks._webapps [fastapi|flask] VARIANT PORT
    framework, variant, port = sys.argv[1:4] if len(sys.argv) > 3 else ("fastapi", *sys.argv[1:3])
    (serve_wsgi if framework == "flask" else serve)(variant, int(port))
