"""obskit.emitters.sinks: stdout, file, and the CloudWatch agent over real TCP and UDP listeners."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import obskit
from _emf_schema import assert_emf
from obskit import metrics
from obskit.emitters import sinks
from obskit.errors import ConfigError
from operations._listeners import TCPAgent, wait_for


def _wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    return wait_for(check, timeout_s)


class TCPListener(TCPAgent):
    """A stand-in for the agent's TCP socket: collects newline-delimited documents."""

    def __init__(self, port: int = 0) -> None:
        super().__init__("read", port)

    @property
    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.received)]

    def close(self) -> None:
        self.close_connections()
        self.stop()


class UDPListener:
    """A stand-in for the agent's UDP socket: one document per datagram."""

    def __init__(self, port: int = 0) -> None:
        self.docs: list[dict[str, Any]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(70000)
            except OSError:
                return
            if not data:
                return
            assert data.count(b"\n") == 1
            self.docs.append(json.loads(data))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv()
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def tcp() -> Iterator[TCPListener]:
    listener = TCPListener()
    yield listener
    listener.close()


@pytest.fixture
def udp() -> Iterator[UDPListener]:
    listener = UDPListener()
    yield listener
    listener.close()


def _names(docs: list[dict[str, Any]]) -> list[str]:
    return [m["Name"] for d in docs for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


# --- endpoint option -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tcp://127.0.0.1:25888", ("tcp", "127.0.0.1", 25888)),
        ("udp://cwagent:1234", ("udp", "cwagent", 1234)),
        ("tcp://cwagent", ("tcp", "cwagent", 25888)),
        ("TCP://[::1]:9", ("tcp", "::1", 9)),
    ],
)
def test_agent_endpoints_parse(text: str, expected: tuple[str, str, int]) -> None:
    """tcp:// and udp:// endpoints parse; the port defaults to 25888."""
    assert tuple(sinks.parse_endpoint("emf_agent_endpoint", text)) == expected


@pytest.mark.parametrize(
    "text", ["127.0.0.1:25888", "http://host:1", "tcp://:25888", "tcp://host:99999", "tcp://host:x", "tcp://h:1/p"]
)
def test_a_bad_agent_endpoint_fails_at_configure_time(text: str) -> None:
    """configure() raises ConfigError naming the option and the accepted form."""
    with pytest.raises(ConfigError, match=r"emf_agent_endpoint.*tcp://host:port"):
        obskit.configure(metrics="agent", logs="none", emf_agent_endpoint=text)


def test_a_bad_agent_endpoint_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error quotes AWS_EMF_AGENT_ENDPOINT when the value came from there."""
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", "ftp://x")
    with pytest.raises(ConfigError, match="AWS_EMF_AGENT_ENDPOINT"):
        obskit.configure(logs="none")


def test_an_agent_endpoint_selects_the_agent_emitter_by_default(tcp: TCPListener) -> None:
    """metrics='auto' with an endpoint sends to the agent."""
    cfg = obskit.configure(service="svc", logs="none", emf_agent_endpoint=f"tcp://127.0.0.1:{tcp.port}")
    assert cfg.metrics == "agent"


# --- agent over TCP and UDP --------------------------------------------------------------------------
def test_tcp_agent_receives_documents_with_the_log_group(tcp: TCPListener) -> None:
    """Documents reach a TCP listener, one per line, with _aws.LogGroupName."""
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=f"tcp://127.0.0.1:{tcp.port}",
                     emf_log_stream_name="stream-1")
    metrics.count("Sent", dimensions={"Queue": "a"})
    metrics.count("Sent", dimensions={"Queue": "b"})
    assert metrics.flush(5.0)
    assert _wait_for(lambda: len(tcp.docs) == 2)
    for doc in tcp.docs:
        assert_emf(doc)
        assert doc["_aws"]["LogGroupName"] == "svc-metrics"
        assert doc["_aws"]["LogStreamName"] == "stream-1"
    assert sorted(d["Queue"] for d in tcp.docs) == ["a", "b"]


def test_udp_agent_receives_one_datagram_per_document(udp: UDPListener) -> None:
    """Each document is one datagram ending in a newline."""
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=f"udp://127.0.0.1:{udp.port}",
                     emf_log_group_name="my-group")
    metrics.count("Dgram", dimensions={"K": "1"})
    metrics.count("Dgram", dimensions={"K": "2"})
    assert metrics.flush(5.0)
    assert _wait_for(lambda: len(udp.docs) == 2)
    for doc in udp.docs:
        assert_emf(doc, max_bytes=65_507)
        assert doc["_aws"]["LogGroupName"] == "my-group"


def test_udp_documents_are_split_to_fit_a_datagram(udp: UDPListener) -> None:
    """A batch too large for one datagram arrives whole, in several datagrams."""
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=f"udp://127.0.0.1:{udp.port}")
    for i in range(100):
        for v in range(100):
            metrics.record(f"LongMetricName{i:03d}", v + 0.123456789, "Milliseconds")
    assert metrics.flush(10.0)
    assert _wait_for(lambda: sum(len(d[n]) for d in udp.docs for n in _names([d])) == 10_000)
    assert len(udp.docs) > 1


def test_tcp_listener_down_then_up_delivery_resumes() -> None:
    """With the agent gone the app never raises; when it returns, queued documents arrive."""
    first = TCPListener()
    port = first.port
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=f"tcp://127.0.0.1:{port}")
    metrics.count("BeforeOutage")
    assert metrics.flush(5.0)
    assert _wait_for(lambda: len(first.docs) == 1)
    first.close()

    metrics.count("DuringOutage")
    assert metrics.flush(0.3) is False  # nothing listens: not delivered yet, and no exception
    assert obskit.diagnostics().get("metrics.agent.send_failure", 0) >= 1

    second = TCPListener(port)
    try:
        metrics.count("AfterOutage")
        assert metrics.flush(10.0)
        assert _wait_for(lambda: sorted(_names(second.docs)) == ["AfterOutage", "DuringOutage"])
    finally:
        second.close()


def test_udp_listener_down_then_up_delivery_resumes() -> None:
    """UDP sends to a closed port never raise, and delivery resumes when it listens again."""
    first = UDPListener()
    port = first.port
    first.close()
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=f"udp://127.0.0.1:{port}")
    metrics.count("IntoTheVoid")
    metrics.flush(2.0)
    second = UDPListener(port)
    try:
        metrics.count("Heard")
        assert metrics.flush(5.0)
        assert _wait_for(lambda: "Heard" in _names(second.docs))
    finally:
        second.close()


def test_a_full_agent_queue_drops_and_counts() -> None:
    """While the agent is down the queue holds emf_agent_queue_size documents; the rest are counted."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port now
    obskit.configure(service="svc", metrics="agent", logs="none", emf_agent_endpoint=f"tcp://127.0.0.1:{port}",
                     emf_agent_queue_size=2)
    for i in range(5):
        metrics.count("Q", dimensions={"I": str(i)})
    assert metrics.flush(0.2) is False
    assert obskit.diagnostics()["metrics.dropped.agent_queue_full"] == 3
    obskit.configure(metrics="none", logs="none")  # closes the sink: what it still holds is counted
    assert obskit.diagnostics()["metrics.dropped.agent_unavailable"] == 2


def test_the_agent_sink_never_blocks_the_writer() -> None:
    """write() only queues: it returns at once even when the agent does not exist."""
    sink = sinks.AgentSink(sinks.Endpoint("tcp", "127.0.0.1", 9), queue_size=10)
    sink.write(b"{}\n")
    sink.write(b"{}\n")
    assert len(sink._queue) <= 2
    sink.close()
    assert obskit.diagnostics().get("metrics.dropped.agent_unavailable", 0) >= 1


def test_after_fork_the_agent_sink_starts_empty() -> None:
    """A child gets an empty queue and no sender thread or socket."""
    sink = sinks.AgentSink(sinks.Endpoint("tcp", "127.0.0.1", 9), queue_size=10)
    sink.write(b"{}\n")
    sink.after_fork()
    assert (len(sink._queue), sink._thread, sink._sock) == (0, None, None)


# --- stdout and file ---------------------------------------------------------------------------------
def test_stdout_sink_writes_one_line_per_document(capsys: pytest.CaptureFixture[str]) -> None:
    """metrics='stdout' writes compact EMF lines to sys.stdout."""
    obskit.configure(service="svc", metrics="stdout", logs="none")
    metrics.count("Out", dimensions={"A": "1"})
    metrics.count("Out", dimensions={"A": "2"})
    metrics.flush()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert_emf(json.loads(line))


def test_file_sink_appends_lines(tmp_path: Path) -> None:
    """metrics='file' appends one line per document to emf_file_path."""
    path = tmp_path / "emf.log"
    path.write_text("existing\n")
    obskit.configure(service="svc", metrics="file", logs="none", emf_file_path=str(path))
    metrics.count("Filed")
    metrics.flush()
    first, second = path.read_text().splitlines()
    assert first == "existing"
    assert json.loads(second)["Filed"] == 1


def test_file_sink_needs_a_path_in_an_existing_directory(tmp_path: Path) -> None:
    """A missing option or directory is a ConfigError at configure time."""
    with pytest.raises(ConfigError, match="emf_file_path"):
        obskit.configure(metrics="file", logs="none")
    with pytest.raises(ConfigError, match="does not exist"):
        obskit.configure(metrics="file", logs="none", emf_file_path=str(tmp_path / "no" / "such.log"))
