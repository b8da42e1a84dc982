"""A Lambda invocation whose agent hangs: the per-invocation flush keeps a timeout derived from the time left."""

from __future__ import annotations

import socket
import time

import pytest

import obskit
from obskit import metrics
from obskit.integrations.aws_lambda import instrument_handler
from operations._listeners import figures, lost

pytestmark = pytest.mark.slow


class Context:
    function_name = "orders"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    memory_limit_in_mb = 128
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def __init__(self, remaining_ms: int) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def test_a_hung_agent_costs_an_invocation_at_most_half_its_remaining_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    # An agent whose accept queue is full: connects hang until their timeout.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    try:
        obskit.configure(service="orders", metrics="agent", logs="none", traces="none",
                         emf_agent_endpoint=f"tcp://127.0.0.1:{port}")

        @instrument_handler
        def handler(event: dict[str, object], context: Context) -> dict[str, int]:
            metrics.count("Orders")
            return {"statusCode": 200}

        slowest = 0.0
        for _ in range(3):
            start = time.monotonic()
            handler({}, Context(remaining_ms=300))
            slowest = max(slowest, time.monotonic() - start)
        assert slowest < 0.3, f"an invocation with 300 ms left took {slowest * 1000:.0f} ms"
        obskit.shutdown(1.0)
        counters = obskit.diagnostics()  # nothing arrived, and every document is counted at close
        assert lost(counters, "metrics.dropped.agent_unavailable") >= 3, figures(3, 0, lost(counters), counters)
    finally:
        for s in fillers:
            s.close()
        server.close()
