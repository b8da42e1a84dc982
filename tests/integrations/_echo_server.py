"""A real HTTP server on 127.0.0.1 that records request headers and logs through obskit.

Tests of the HTTP client integrations send requests to it as ``localhost`` and as
``127.0.0.1``: two host names for one server, so one name can be allowlisted and the other not.
The handler reads the incoming context with ``obskit.extract`` and writes one obskit log line
inside it, as an instrumented service would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import obskit


class EchoServer:
    """What the server saw: one dict of lower-cased headers per request, in arrival order."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def url(self, host: str, path: str = "/ok") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def last(self) -> dict[str, str]:
        with self.lock:
            return self.requests[-1]


def _handler(server: EchoServer) -> type[BaseHTTPRequestHandler]:
    log = obskit.get_logger("echo")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server.lock:
                server.requests.append(headers)
            with obskit.activate(obskit.extract(headers)):
                log.info("served", path=self.path)
            status = 500 if self.path.startswith("/fail") else 200
            body = b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet
            return

    return Handler


@contextmanager
def echo_server() -> Iterator[EchoServer]:
    """Run the server on an ephemeral port of 127.0.0.1 for the duration of the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = EchoServer(httpd.server_address[1])
    httpd.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
