"""A loopback stand-in for the X-Ray daemon: its TCP sampling proxy and its UDP segment listener on one port.

Every request body is checked against botocore's ``xray`` service model (the input shapes of
``GetSamplingRules`` and ``GetSamplingTargets``: unknown fields, required fields, types,
lengths); a body that fails is recorded in ``errors`` and answered with HTTP 400, as the
service would.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

_MODEL = botocore.session.get_session().get_service_model("xray")
OPERATIONS = {
    _MODEL.operation_model(name).http["requestUri"]: _MODEL.operation_model(name)
    for name in ("GetSamplingRules", "GetSamplingTargets")
}
"""Request path -> the operation's model (``/GetSamplingRules``, ``/SamplingTargets``)."""


def rule(name: str, priority: int, fixed_rate: float, reservoir: int, *, path: str = "*", method: str = "*",
         host: str = "*", service: str = "*", service_type: str = "*", **more: Any) -> dict[str, Any]:
    """A ``SamplingRuleRecord`` as the service returns it."""
    definition = {
        "RuleName": name, "RuleARN": f"arn:aws:xray:us-east-1:123456789012:sampling-rule/{name}",
        "ResourceARN": "*", "Priority": priority, "FixedRate": fixed_rate, "ReservoirSize": reservoir,
        "ServiceName": service, "ServiceType": service_type, "Host": host, "HTTPMethod": method, "URLPath": path,
        "Version": 1, "Attributes": {}, **more,
    }
    return {"SamplingRule": definition, "CreatedAt": 1.7e9, "ModifiedAt": 1.7e9}


DEFAULT = rule("Default", 10000, 0.05, 1)


def _udp_socket(port: int) -> tuple[socket.socket, int]:
    """A UDP socket on a port below Linux's ephemeral range, whose TCP twin is free now.

    Outgoing connections (of this process or any other) take ephemeral ports, so a port below
    32768 stays free for the proxy to listen on again after ``stop()``.
    """
    rng = random.Random()
    for _ in range(200):
        candidate = port or rng.randrange(20_000, 32_000)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind(("127.0.0.1", candidate))
            tcp.bind(("127.0.0.1", candidate))
            return udp, candidate
        except OSError:
            udp.close()
            if port:
                raise
        finally:
            tcp.close()
    raise OSError("no free port pair")


class Proxy:
    """Serves ``rules`` and answers ``SamplingTargets`` with ``targets(statistics)``; records every call."""

    def __init__(self, port: int = 0) -> None:
        self.rules: list[dict[str, Any]] = [DEFAULT]
        self.targets: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = self.echo_targets
        self.last_modification = 1.0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.changed = threading.Condition()
        self.udp, self.port = _udp_socket(port)
        self.udp.settimeout(2.0)
        self.address = f"127.0.0.1:{self.port}"
        self._http: ThreadingHTTPServer | None = None

    # the TCP proxy
    def start(self) -> Proxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = proxy._answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        deadline = time.monotonic() + 5
        while True:  # after stop(), the port may stay busy until the last connection has closed
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._http = server
        return self

    def stop(self) -> None:
        """The proxy goes away (connections are refused); the UDP listener stays."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def close(self) -> None:
        self.stop()
        self.udp.close()

    def _answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        operation = OPERATIONS.get(path)
        if operation is None:
            self.errors.append(f"unknown path {path}")
            return 404, {"message": "not found"}
        try:
            params = json.loads(body)
        except ValueError:
            self.errors.append(f"{path}: body is not JSON: {body!r}")
            return 400, {"message": "bad json"}
        report = ParamValidator().validate(params, operation.input_shape)
        if report.has_errors():
            self.errors.append(f"{path}: {report.generate_report()}")
            return 400, {"message": report.generate_report()}
        with self.changed:
            self.calls.append((path, params))
            self.changed.notify_all()
        if path == "/GetSamplingRules":
            return 200, {"SamplingRuleRecords": list(self.rules)}
        stats = params["SamplingStatisticsDocuments"]
        return 200, {"SamplingTargetDocuments": self.targets(stats), "LastRuleModification": self.last_modification,
                     "UnprocessedStatistics": []}

    def echo_targets(self, stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each reported rule's own fixed rate, no quota (it keeps borrowing), and a report every second."""
        rates = {r["SamplingRule"]["RuleName"]: r["SamplingRule"]["FixedRate"] for r in self.rules}
        return [{"RuleName": d["RuleName"], "FixedRate": rates.get(d["RuleName"], 0.0), "Interval": 1} for d in stats]

    def set_rules(self, *records: dict[str, Any]) -> None:
        """New rules, announced through ``LastRuleModification`` as the service does."""
        self.rules = list(records)
        self.last_modification = time.time()

    # what the tests read
    def statistics(self) -> list[dict[str, Any]]:
        """Every statistics document reported so far, in order."""
        return [doc for path, params in list(self.calls) if path == "/SamplingTargets"
                for doc in params["SamplingStatisticsDocuments"]]

    def wait_calls(self, path: str, n: int, timeout: float = 10.0) -> None:
        """Block until ``n`` calls to ``path`` have been answered."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while sum(1 for p, _ in self.calls if p == path) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"fewer than {n} calls to {path}: {[p for p, _ in self.calls]}"
                self.changed.wait(left)

    def segments(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Every segment document received until the listener is quiet for ``timeout``."""
        docs = []
        self.udp.settimeout(timeout)
        while True:
            try:
                data = self.udp.recv(70_000)
            except TimeoutError:
                return docs
            docs.append(json.loads(data.partition(b"\n")[2]))
