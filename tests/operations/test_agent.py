"""A sick CloudWatch agent, over real loopback sockets: everything sent arrives or is counted.

Each test drives the real ``AgentSink`` (or the whole ``metrics="agent"`` pipeline) against a
listener that resets, never reads, stops and comes back, or does not exist, and checks
produced = arrived + counted as lost (``metrics.dropped.*``), exactly.
"""

from __future__ import annotations

import time

import pytest

import obskit
from obskit import metrics
from obskit.emitters import sinks
from operations._listeners import TCPAgent, UDPListener, dead_port, figures, lost, wait_for

pytestmark = pytest.mark.slow


def _payload(i: int, size: int = 0) -> bytes:
    return b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * size)


def _tcp_sink(agent: TCPAgent, **kw: float) -> sinks.AgentSink:
    return sinks.AgentSink(sinks.Endpoint("tcp", "127.0.0.1", agent.port), **kw)  # type: ignore[arg-type]


def test_an_agent_that_accepts_then_resets_loses_nothing_uncounted() -> None:
    """Docker's port proxy with the agent sidecar down: every document is counted as lost."""
    agent = TCPAgent("reset")
    sink = _tcp_sink(agent)
    produced = 300
    for i in range(produced):
        sink.write(_payload(i))
        if i % 50 == 49:
            time.sleep(0.02)
    sink.flush(1.0)
    sink.close()
    agent.stop()
    counters = obskit.diagnostics()
    arrived, counted = len(agent.received), lost(counters)
    assert arrived + counted == produced, figures(produced, arrived, counted, counters)
    assert counters.get("metrics.dropped.agent_reset", 0) > 0, figures(produced, arrived, counted, counters)


def test_an_agent_that_stops_and_comes_back_loses_nothing_uncounted() -> None:
    """An agent restart: what it read arrived, what it never saw waits in the queue or is counted."""
    agent = TCPAgent("read")
    port = agent.port
    sink = _tcp_sink(agent)
    produced = 0
    arrived = 0
    for _ in range(3):  # three restarts
        for _ in range(100):
            sink.write(_payload(produced))
            produced += 1
        wait_for(lambda a=agent, want=produced - arrived - 1: len(a.received) + lost(obskit.diagnostics()) >= want, 3.0)
        agent.close_connections()
        agent.stop()
        for _ in range(20):  # written while nothing listens
            sink.write(_payload(produced))
            produced += 1
        time.sleep(0.05)
        arrived += len(agent.received)
        agent = TCPAgent("read", port)
    sink.flush(5.0)
    wait_for(lambda: arrived + len(agent.received) + lost(obskit.diagnostics()) >= produced, 5.0)
    sink.close()
    agent.close_connections()
    agent.stop()
    arrived += len(agent.received)
    counters = obskit.diagnostics()
    counted = lost(counters)
    assert arrived + counted == produced, figures(produced, arrived, counted, counters)
    assert arrived >= produced - 3, figures(produced, arrived, counted, counters)  # at most one per restart


def test_an_agent_that_never_reads_blocks_no_one_and_loses_nothing_uncounted() -> None:
    """An agent stuck behind a full socket: writes return at once, flush keeps its timeout."""
    agent = TCPAgent("stall")
    sink = _tcp_sink(agent, queue_size=200)
    produced = 600
    slowest = 0.0
    for i in range(produced):
        start = time.perf_counter()
        sink.write(_payload(i, 50_000))
        slowest = max(slowest, time.perf_counter() - start)
    start = time.monotonic()
    done = sink.flush(0.3)
    waited = time.monotonic() - start
    assert not done
    assert waited < 0.6, f"flush(0.3) waited {waited:.2f} s"
    assert slowest < 0.05, f"a write waited {slowest * 1000:.0f} ms"
    agent.drain()  # the agent recovers
    sink.flush(10.0)
    sink.close()
    wait_for(lambda: len(agent.received) + lost(obskit.diagnostics()) >= produced, 5.0)
    agent.stop()
    counters = obskit.diagnostics()
    arrived, counted = len(agent.received), lost(counters)
    assert arrived + counted == produced, figures(produced, arrived, counted, counters)


def test_udp_to_a_dead_port_counts_every_datagram() -> None:
    """Nothing listens on the agent's UDP port: the refusals come back and are counted."""
    sink = sinks.AgentSink(sinks.Endpoint("udp", "127.0.0.1", dead_port()))
    produced = 300
    for i in range(produced):
        sink.write(_payload(i))
    sink.flush(0.5)
    sink.close()
    counters = obskit.diagnostics()
    counted = lost(counters)
    assert counted == produced, figures(produced, 0, counted, counters)


def test_udp_agent_restarting_loses_nothing_uncounted() -> None:
    """The agent's UDP port goes away and comes back: the refused datagrams are counted."""
    agent = UDPListener()
    port = agent.port
    sink = sinks.AgentSink(sinks.Endpoint("udp", "127.0.0.1", port))
    produced = 0
    for i in range(50):
        sink.write(_payload(i))
    produced += 50
    sink.flush(2.0)
    wait_for(lambda: len(agent.received) >= 50, 2.0)
    agent.close()
    arrived = len(agent.received)
    for i in range(50):
        sink.write(_payload(produced + i))
    produced += 50
    sink.flush(0.3)
    agent = UDPListener(port)
    for i in range(50):
        sink.write(_payload(produced + i))
    produced += 50
    sink.flush(6.0)
    sink.close()
    wait_for(lambda: arrived + len(agent.received) + lost(obskit.diagnostics()) >= produced, 2.0)
    agent.close()
    arrived += len(agent.received)
    counters = obskit.diagnostics()
    counted = lost(counters)
    assert arrived + counted == produced, figures(produced, arrived, counted, counters)


def test_metrics_flush_keeps_its_timeout_when_the_agent_is_gone() -> None:
    """metrics.flush() through the whole pipeline: bounded, and the documents are counted at close."""
    agent = TCPAgent("reset")
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=agent.endpoint)
    produced = 0
    for i in range(20):
        metrics.count("Jobs", dimensions={"Batch": str(i)})
        produced += 1
        start = time.monotonic()
        metrics.flush(0.2)
        assert time.monotonic() - start < 0.5
    obskit.shutdown(1.0)
    agent.stop()
    counters = obskit.diagnostics()
    arrived, counted = len(agent.received), lost(counters)
    assert arrived + counted == produced, figures(produced, arrived, counted, counters)
