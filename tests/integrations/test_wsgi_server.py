"""Flask under a real threaded WSGI server on 127.0.0.1: concurrency, streaming and a client that leaves."""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask, Response, stream_with_context
from werkzeug.serving import make_server

import obskit
from obskit import semconv
from obskit.integrations.flask import instrument
from obskit.testing import Capture, capture

log = obskit.get_logger("app")


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict:
        log.info("before", order_id=order_id)
        time.sleep(random.random() / 200)  # let the threads interleave
        log.info("after", order_id=order_id)
        return {"id": order_id}

    @app.get("/stream/<int:chunks>")
    def stream(chunks: int) -> Response:
        def body() -> Iterator[bytes]:
            for i in range(chunks):
                log.info("chunk", n=i)
                yield b"x" * 1000
                time.sleep(0.02)

        return Response(stream_with_context(body()), mimetype="text/plain")

    return instrument(app)


@pytest.fixture
def server() -> Iterator[tuple[int, Capture]]:
    with capture() as cap:
        srv = make_server("127.0.0.1", 0, _app(), threaded=True)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            yield srv.server_port, cap
        finally:
            srv.shutdown()
            thread.join(5)


def _access(cap: Capture) -> list[dict]:
    return [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]


def _get(port: int, path: str, trace: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_concurrent_requests_each_log_only_their_own_trace(server: tuple[int, Capture]) -> None:
    """100 requests on 16 client threads: every line carries the trace of the request that wrote it."""
    port, cap = server
    traces = {n: f"{n + 1:032x}" for n in range(100)}
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda n: _get(port, f"/orders/{n}", traces[n]), traces))
    assert statuses == [200] * 100
    app_lines = [line for line in cap.logs if line.get("logger") == "app"]
    assert len(app_lines) == 200
    assert all(line["trace_id"] == traces[line["order_id"]] for line in app_lines)
    access = _access(cap)
    assert len(access) == 100
    assert {(a["trace_id"], a[semconv.LOG_HTTP_PATH]) for a in access} == {
        (traces[n], f"/orders/{n}") for n in traces
    }
    assert {a[semconv.LOG_HTTP_ROUTE] for a in access} == {"/orders/{order_id}"}


def test_a_streamed_response_is_timed_to_its_last_chunk(server: tuple[int, Capture]) -> None:
    port, cap = server
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert _get(port, "/stream/5", trace) == 200
    (line,) = _access(cap)
    assert line[semconv.LOG_DURATION_MS] >= 80  # four 20 ms pauses between the five chunks
    assert line[semconv.LOG_RESPONSE_SIZE] == 5000
    assert [c["trace_id"] for c in cap.logs_with(message="chunk")] == [trace] * 5


def test_a_client_that_leaves_mid_stream_is_recorded_as_disconnected(server: tuple[int, Capture]) -> None:
    """The server's write fails, it closes the body: the line says so, the stream stops, no fault."""
    port, cap = server
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /stream/500 HTTP/1.1\r\nHost: test\r\n\r\n")
    assert b"200" in sock.recv(1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset on close
    sock.close()
    deadline = time.monotonic() + 10
    while not _access(cap) and time.monotonic() < deadline:
        time.sleep(0.02)
    (line,) = _access(cap)
    assert line[semconv.LOG_CLIENT_DISCONNECTED] is True
    assert line[semconv.LOG_HTTP_STATUS] == 200
    assert line[semconv.LOG_RESPONSE_SIZE] < 500_000  # the generator stopped when the body was closed
    obskit.flush()
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]
