"""X-Ray emitter: daemon protocol, segment rules, Lambda streaming, bad input, SDK parity and interop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import obskit
from _fork import run_in_child
from obskit import _pipeline, semconv
from obskit.emitters import xray as xray_module
from obskit.emitters.xray import MAX_DATAGRAM, SEND_INTERVAL_S, parse_daemon_address
from obskit.errors import ConfigError
from obskit.tracing import start_span

from .conftest import Daemon

TRACE = "5759e988bd862e3fe1be46a994272793"
XRAY_TRACE = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
HEADER = f"Root={XRAY_TRACE};Parent={PARENT};Sampled=1"


def configure(daemon: Daemon, **kwargs: Any) -> None:
    obskit.configure(service="checkout", traces="xray", xray_daemon_address=daemon.address, **kwargs)


def test_server_span_is_a_segment_parented_by_the_incoming_header(daemon: Daemon) -> None:
    """A server span under an incoming X-Amzn-Trace-Id arrives as one segment with the header's ids."""
    configure(daemon)
    incoming = obskit.extract({"X-Amzn-Trace-Id": HEADER})
    with obskit.activate(incoming), obskit.span("GET /orders/{id}", kind="server") as s:
        pass
    (doc,) = daemon.receive()
    assert doc["id"] == s.span_id
    assert doc["trace_id"] == XRAY_TRACE
    assert doc["parent_id"] == PARENT
    assert doc["name"] == "checkout"
    assert doc["metadata"]["obskit"]["span_name"] == "GET /orders/{id}"
    assert doc["end_time"] >= doc["start_time"] > 1e9
    assert doc["in_progress"] is False
    assert doc["aws"]["xray"]["sdk"] == "obskit"


def test_root_only_header_makes_a_segment_without_parent(daemon: Daemon) -> None:
    """A Root-only header (ALB, API Gateway) gives a segment in that trace with no parent_id."""
    configure(daemon)
    with obskit.activate(obskit.extract({"x-amzn-trace-id": f"Root={XRAY_TRACE}"})), \
            obskit.span("GET /", kind="server"):
        pass
    (doc,) = daemon.receive()
    assert doc["trace_id"] == XRAY_TRACE
    assert "parent_id" not in doc


def test_children_are_embedded_as_subsegments(daemon: Daemon) -> None:
    """Child spans arrive nested inside their segment's document, in one datagram."""
    configure(daemon)
    with obskit.span("GET /", kind="server") as root, obskit.span("load") as load, obskit.span("query") as q:
        pass
    (doc,) = daemon.receive()
    assert doc["id"] == root.span_id
    (sub,) = doc["subsegments"]
    assert (sub["id"], sub["name"], sub["namespace"]) == (load.span_id, "load", "local")
    assert sub["subsegments"][0]["id"] == q.span_id
    assert daemon.nothing_more()


def test_client_span_is_a_remote_subsegment_with_http(daemon: Daemon) -> None:
    """A client span becomes a remote subsegment with an http block built from the attributes."""
    configure(daemon)
    with obskit.span("GET /", kind="server"), obskit.span("GET", kind="client", attributes={
        semconv.ATTR_HTTP_METHOD: "GET", semconv.ATTR_URL_FULL: "https://api.example.com/p",
        semconv.ATTR_HTTP_STATUS: 200,
    }):
        pass
    sub = daemon.receive()[0]["subsegments"][0]
    assert sub["namespace"] == "remote"
    assert sub["http"] == {"request": {"method": "GET", "url": "https://api.example.com/p"},
                           "response": {"status": 200}}
    assert "error" not in sub
    assert "fault" not in sub


def test_client_span_without_attributes_is_a_remote_subsegment(daemon: Daemon) -> None:
    """A client span with nothing to map is still a remote call: namespace remote, its own name, no http."""
    configure(daemon)
    with obskit.span("GET /", kind="server"), obskit.span("charge card", kind="client"):
        pass
    sub = daemon.receive()[0]["subsegments"][0]
    assert (sub["namespace"], sub["name"]) == ("remote", "charge card")
    assert "http" not in sub
    assert "annotations" not in sub


def test_aws_call_is_an_aws_subsegment(daemon: Daemon) -> None:
    """A client span with rpc.system=aws-api gets namespace aws, the service as name and the aws block."""
    configure(daemon)
    with obskit.span("GET /", kind="server"), obskit.span("DynamoDB.GetItem", kind="client", attributes={
        semconv.ATTR_RPC_SYSTEM: "aws-api", semconv.ATTR_RPC_SERVICE: "DynamoDB",
        semconv.ATTR_RPC_METHOD: "GetItem", semconv.ATTR_CLOUD_REGION: "eu-west-1",
        semconv.ATTR_AWS_REQUEST_ID: "REQ1",
    }):
        pass
    sub = daemon.receive()[0]["subsegments"][0]
    assert (sub["namespace"], sub["name"]) == ("aws", "DynamoDB")
    assert sub["aws"] == {"operation": "GetItem", "region": "eu-west-1", "request_id": "REQ1"}


def test_segment_http_block_from_request_attributes(daemon: Daemon) -> None:
    """A server span's request attributes fill the segment's http request and response."""
    configure(daemon)
    with obskit.span("GET /orders/{id}", kind="server", attributes={
        semconv.ATTR_HTTP_METHOD: "GET", semconv.ATTR_URL_SCHEME: "https", semconv.ATTR_SERVER_ADDRESS: "shop",
        semconv.ATTR_URL_PATH: "/orders/7", semconv.ATTR_USER_AGENT: "curl", semconv.ATTR_CLIENT_ADDRESS: "10.0.0.1",
        semconv.ATTR_HTTP_STATUS: 200, semconv.ATTR_HTTP_RESPONSE_SIZE: 12,
    }):
        pass
    (doc,) = daemon.receive()
    assert doc["http"] == {
        "request": {"method": "GET", "url": "https://shop/orders/7", "user_agent": "curl", "client_ip": "10.0.0.1"},
        "response": {"status": 200, "content_length": 12},
    }
    assert "metadata" not in doc or "default" not in doc["metadata"]


@pytest.mark.parametrize(
    ("status", "flags"),
    [(200, set()), (404, {"error"}), (429, {"error", "throttle"}), (503, {"fault"})],
)
def test_status_code_sets_error_throttle_fault(daemon: Daemon, status: int, flags: set[str]) -> None:
    """4xx sets error, 429 also throttle, 5xx fault, as aws-xray-sdk maps them."""
    configure(daemon)
    with obskit.span("GET /", kind="server", attributes={semconv.ATTR_HTTP_STATUS: status}):
        pass
    (doc,) = daemon.receive()
    assert {f for f in ("error", "throttle", "fault") if doc.get(f)} == flags


def test_exception_gives_fault_and_bounded_cause(daemon: Daemon) -> None:
    """An exception escaping a span sets fault and a cause whose stack holds at most 10 frames."""
    configure(daemon)

    def deep(n: int) -> None:
        if n == 0:
            raise RuntimeError("db down")
        deep(n - 1)

    with pytest.raises(RuntimeError), obskit.span("job"):
        deep(40)
    (doc,) = daemon.receive()
    assert doc["fault"] is True
    (exc,) = doc["cause"]["exceptions"]
    assert (exc["type"], exc["message"]) == ("RuntimeError", "db down")
    assert len(exc["id"]) == 16
    assert len(exc["stack"]) == 10
    assert exc["stack"][-1]["label"] == "deep"
    assert doc["cause"]["working_directory"] == os.getcwd()


def test_annotations_need_valid_keys_and_simple_values(daemon: Daemon) -> None:
    """Only alnum/_ keys with str/number/bool values become annotations; the rest goes to metadata."""
    configure(daemon)
    with obskit.span("GET /", kind="server", attributes={
        "order_id": 7, "paid": True, "tier": "gold", "order.total": 12.5, "bad-key": "x",
        "tags": ["a", "b"], "long_text": "y" * 300,
    }):
        pass
    (doc,) = daemon.receive()
    assert doc["annotations"] == {"order_id": 7, "paid": True, "tier": "gold"}
    assert doc["metadata"]["default"] == {
        "order.total": 12.5, "bad-key": "x", "tags": ["a", "b"], "long_text": "y" * 300,
    }


def test_names_are_sanitised(daemon: Daemon) -> None:
    """Characters X-Ray rejects are stripped from segment and subsegment names."""
    obskit.configure(service="shop<eu>!", traces="xray", xray_daemon_address=daemon.address)
    with obskit.span("GET /", kind="server"), obskit.span("load(x)?"):
        pass
    (doc,) = daemon.receive()
    assert doc["name"] == "shopeu"
    assert doc["subsegments"][0]["name"] == "loadx"


def test_subsegments_beyond_the_threshold_are_streamed(daemon: Daemon) -> None:
    """Past xray_streaming_threshold, finished subsegments are sent on their own with trace and parent ids."""
    configure(daemon, xray_streaming_threshold=2)
    with obskit.span("GET /", kind="server") as root:
        for i in range(4):
            with obskit.span(f"step{i}"):
                pass
    docs = daemon.receive(3)
    streamed = [d for d in docs if d.get("type") == "subsegment"]
    (segment,) = [d for d in docs if "subsegments" in d]
    assert [d["name"] for d in streamed] == ["step2", "step3"]
    assert all(d["parent_id"] == root.span_id and d["trace_id"] == segment["trace_id"] for d in streamed)
    assert [s["name"] for s in segment["subsegments"]] == ["step0", "step1"]


def test_large_trees_are_split_under_64_kb(daemon: Daemon) -> None:
    """A segment whose document would pass 64 KB is sent as several datagrams, each under the limit."""
    configure(daemon)
    with obskit.span("GET /", kind="server"):
        for i in range(25):
            with obskit.span(f"chunk{i}", attributes={"blob": "z" * 4000}):
                pass
    docs = daemon.receive(26)
    assert max(daemon.sizes) <= MAX_DATAGRAM
    names = {d["name"] for d in docs} | {s["name"] for d in docs for s in d.get("subsegments", [])}
    assert {f"chunk{i}" for i in range(25)} <= names


def test_huge_attribute_still_fits_one_datagram(daemon: Daemon) -> None:
    """A 10 MB attribute is clipped, so the segment still arrives in one datagram."""
    configure(daemon)
    with obskit.span("GET /", kind="server", attributes={"body": "b" * 10_000_000}):
        pass
    (doc,) = daemon.receive()
    assert len(doc["metadata"]["default"]["body"]) < 10_000
    assert obskit.diagnostics()["tracing.attribute_clipped"] == 1


def _emitter(daemon: Daemon) -> Any:
    from obskit import _pipeline

    (emitter,) = _pipeline.get().span_emitters
    return emitter


def test_segment_without_children_leaves_nothing_open(daemon: Daemon) -> None:
    """A segment that never had a child is forgotten when it ends (nothing kept per request)."""
    configure(daemon)
    for _ in range(3):
        with obskit.span("GET /", kind="server"):
            pass
    assert len(daemon.receive(3)) == 3
    emitter = _emitter(daemon)
    assert (emitter._open, emitter._owner) == ({}, {})


def test_child_started_after_its_segment_ended_is_sent_on_its_own(daemon: Daemon) -> None:
    """A child that starts once its segment has been sent goes out alone, parented to the segment."""
    configure(daemon)
    root = start_span("GET /", kind="server")
    root.end()
    child = start_span("late", parent=root.context)
    child.end()
    seg, sub = daemon.receive(2)
    assert seg["id"] == root.span_id
    assert (sub["type"], sub["parent_id"], sub["trace_id"]) == ("subsegment", root.span_id, seg["trace_id"])
    assert _emitter(daemon)._open == {}


def test_child_that_outlives_its_segment_takes_its_own_children_along(daemon: Daemon) -> None:
    """A subsegment still running when its segment ends is sent alone later, with its children embedded."""
    configure(daemon)
    root = start_span("GET /", kind="server")
    child = start_span("background", parent=root.context)
    grandchild = start_span("step", parent=child.context)
    grandchild.end()
    root.end()
    (seg,) = daemon.receive()
    assert (seg["id"], "subsegments" in seg) == (root.span_id, False)
    child.end()
    (sub,) = daemon.receive()
    assert (sub["id"], sub["type"], sub["parent_id"]) == (child.span_id, "subsegment", root.span_id)
    assert [s["id"] for s in sub["subsegments"]] == [grandchild.span_id]
    emitter = _emitter(daemon)
    assert (emitter._open, emitter._owner, emitter._children) == ({}, {}, {})


@pytest.mark.parametrize("round_", range(5))
def test_children_ending_on_other_threads_while_the_segment_ends_arrive_once(daemon: Daemon, round_: int) -> None:
    """Children (and grandchildren) ending on 8 threads as their segment ends: each arrives exactly once."""
    import threading

    configure(daemon)
    root = start_span("GET /", kind="server")
    children = [start_span(f"c{i}", parent=root.context) for i in range(16)]
    grandchildren = [start_span(f"g{i}", parent=c.context) for i, c in enumerate(children)]
    go = threading.Barrier(9)

    def finish(k: int) -> None:
        go.wait()
        for i in range(k, 16, 8):
            grandchildren[i].end()
            children[i].end()

    threads = [threading.Thread(target=finish, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    go.wait()
    root.end()
    for t in threads:
        t.join()
    seen: list[str] = []
    while not daemon.nothing_more_than(seen):
        pass
    expected = {root.span_id, *(c.span_id for c in children), *(g.span_id for g in grandchildren)}
    assert sorted(seen) == sorted(expected)
    emitter = _emitter(daemon)
    assert (emitter._open, emitter._owner, emitter._children) == ({}, {}, {})


def test_strict_serialiser_failure_falls_back_to_the_tolerant_one(daemon: Daemon) -> None:
    """When the fast serialiser rejects a document, the tolerant one still sends it."""
    from obskit.emitters.xray import XRayEmitter, _json_dumps, parse_daemon_address

    def strict(doc: Any) -> bytes:
        raise TypeError("not for me")

    emitter = XRayEmitter("checkout", parse_daemon_address("address", daemon.address), _json_dumps(),
                          fast_dumps=strict)
    try:
        from obskit import _pipeline

        obskit.configure(service="checkout", traces="none")
        rt = _pipeline.get()
        _pipeline.install(_pipeline.Runtime(rt.config, rt.ids, rt.clock, [emitter]))
        with obskit.span("GET /", kind="server", attributes={"k": 1}) as s:
            pass
        (doc,) = daemon.receive()
        assert (doc["id"], doc["annotations"]) == (s.span_id, {"k": 1})
    finally:
        emitter.close()


def test_a_document_no_serialiser_takes_is_cleaned_not_dropped(daemon: Daemon) -> None:
    """A lone surrogate in a name and an attribute: the segment still arrives, those characters replaced."""
    configure(daemon)
    before = obskit.diagnostics().get("xray.cleaned", 0)
    with obskit.span("GET /caf\ud800", kind="server", attributes={"path": "/a\udcff", "big": 1 << 70}) as s:
        pass
    (doc,) = daemon.receive()
    assert doc["id"] == s.span_id
    assert doc["annotations"] == {"path": "/a?", "big": str(1 << 70)}
    assert doc["metadata"]["obskit"]["span_name"] == "GET /caf?"
    assert obskit.diagnostics().get("xray.cleaned", 0) == before + 1
    assert obskit.diagnostics().get("traces.dropped.unserialisable", 0) == 0


@pytest.mark.parametrize("timeout", ["1", float("nan"), float("inf"), 10**30, -1.0])
def test_flush_with_an_odd_timeout_still_sends_and_never_raises(daemon: Daemon, timeout: object) -> None:
    """A timeout that is not a number, or longer than a lock can wait, means no limit; a negative one, none."""
    configure(daemon)
    with obskit.span("GET /", kind="server") as s:
        pass
    assert obskit.flush(timeout) in (True, False)  # type: ignore[arg-type]
    obskit.flush()
    (doc,) = daemon.receive(flush=False)
    assert doc["id"] == s.span_id
    assert not [k for k in obskit.diagnostics() if k.startswith("emitter.")]


def test_unsampled_trace_sends_nothing(daemon: Daemon) -> None:
    """Spans in an unsampled trace reach no daemon."""
    configure(daemon)
    with obskit.activate(obskit.extract({"X-Amzn-Trace-Id": f"Root={XRAY_TRACE};Parent={PARENT};Sampled=0"})), \
            obskit.span("GET /", kind="server"):
        pass
    assert daemon.nothing_more()


def test_lambda_streams_every_span_as_a_subsegment_of_the_facade(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Lambda each span is sent as it ends, as a subsegment of the facade named by _X_AMZN_TRACE_ID."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", HEADER)
    configure(daemon)
    with obskit.activate(obskit.extract({})), obskit.span("handler", kind="server") as h:
        with obskit.span("work") as w:
            pass
        assert daemon.ready() == 1  # sent as it ended: no burst to wait for in Lambda
        (first,) = daemon.last
        assert first["id"] == w.span_id
    (second,) = daemon.receive(flush=False)
    assert second["id"] == h.span_id
    for doc in (first, second):
        assert doc["type"] == "subsegment"
        assert doc["trace_id"] == XRAY_TRACE
    assert first["parent_id"] == h.span_id
    assert second["parent_id"] == PARENT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:2000", ("127.0.0.1", 2000)),
        ("daemon.local:3000", ("daemon.local", 3000)),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", ("127.0.0.2", 2001)),
        ("udp:10.0.0.1:2001 tcp:10.0.0.1:2000", ("10.0.0.1", 2001)),
        ("[::1]:2000", ("::1", 2000)),
    ],
)
def test_daemon_address_forms(value: str, expected: tuple[str, int]) -> None:
    """host:port and the tcp/udp pair (either order) are accepted; the UDP address is used."""
    assert parse_daemon_address("xray_daemon_address", value) == expected


@pytest.mark.parametrize("value", ["", "127.0.0.1", "127.0.0.1:99999", "udp:1.2.3.4:2000", "tcp:a:1 tcp:b:2",
                                   "http://x:2000", "a:1 b:2 c:3"])
def test_bad_daemon_address_fails_at_configure_time(value: str) -> None:
    """A malformed daemon address raises ConfigError naming the option when configure() runs."""
    with pytest.raises(ConfigError, match="xray_daemon_address"):
        obskit.configure(traces="xray", xray_daemon_address=value)


def test_daemon_address_from_the_environment(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_XRAY_DAEMON_ADDRESS points the emitter at the daemon; a bad value names the variable."""
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)
    obskit.configure(traces="xray")
    with obskit.span("GET /", kind="server"):
        pass
    assert daemon.receive()[0]["name"]
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "nonsense")
    with pytest.raises(ConfigError, match="AWS_XRAY_DAEMON_ADDRESS"):
        obskit.configure(traces="xray")


def _segments(n: int) -> None:
    for i in range(n):
        with obskit.span(f"GET /{i}", kind="server"):
            pass


def test_datagrams_leave_in_bursts_of_the_batch_size(daemon: Daemon) -> None:
    """The span that fills the burst sends it at once; the ones before wait for it (or the sender)."""
    configure(daemon, xray_batch_size=3)
    started = time.monotonic()
    _segments(2)
    early = daemon.ready()
    assert early == 0 or time.monotonic() - started >= SEND_INTERVAL_S / 2  # only the sender may have run
    _segments(1)
    assert early + daemon.ready() == 3


def test_a_lone_datagram_leaves_within_the_send_interval(daemon: Daemon) -> None:
    """With nothing else to fill its burst, the sender thread sends it, without any flush()."""
    configure(daemon)
    started = time.monotonic()
    _segments(1)
    (doc,) = daemon.receive(flush=False)
    assert doc["name"] == "checkout"
    assert time.monotonic() - started < 1.0
    assert any(t.name == "obskit-xray-send" for t in threading.enumerate())


def test_pending_datagrams_are_sent_when_the_emitter_is_replaced(daemon: Daemon) -> None:
    """Reconfiguring closes the old emitter, which sends what it held: nothing is lost."""
    configure(daemon)
    _segments(4)
    obskit.configure(traces="none")
    assert daemon.ready() == 4


def test_a_span_ending_after_its_emitter_was_replaced_is_still_sent(daemon: Daemon) -> None:
    """A span begun under the old configuration ends after configure(): its segment is not stranded."""
    configure(daemon)
    span = start_span("GET /late", kind="server")
    obskit.configure(traces="none")
    span.end()
    assert daemon.ready() == 1
    assert daemon.last[0]["metadata"]["obskit"]["span_name"] == "GET /late"


def test_spans_ending_on_many_threads_after_replacement_are_each_sent() -> None:
    """Late spans ended by several threads at once each get a datagram; no socket is left open."""
    rx = Daemon()
    rx.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    try:
        obskit.configure(service="checkout", traces="xray", xray_daemon_address=rx.address)
        spans = [start_span(f"GET /{i}", kind="server") for i in range(80)]
        obskit.configure(traces="none")
        threads = [threading.Thread(target=lambda part=spans[i::4]: [sp.end() for sp in part]) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        names = {d["metadata"]["obskit"]["span_name"] for d in rx.receive(80, flush=False)}
        assert names == {f"GET /{i}" for i in range(80)}
        assert obskit.diagnostics().get("traces.dropped.daemon_unreachable", 0) == 0
    finally:
        rx.sock.close()


def test_flush_waits_for_the_sender_threads_burst(daemon: Daemon) -> None:
    """flush() returns after what the sender thread was sending has left, not while it is in flight."""
    configure(daemon)
    for _ in range(20):
        _segments(3)
        time.sleep(SEND_INTERVAL_S / 7)  # the sender wakes at some point in between
        assert obskit.flush() is True
        assert daemon.ready() == 3


def test_an_idle_sender_thread_leaves_and_the_next_datagram_starts_another(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xray_module, "_SENDER_IDLE_ROUNDS", 2)
    configure(daemon)

    def senders() -> int:
        return sum(t.name == "obskit-xray-send" for t in threading.enumerate())

    _segments(1)
    assert len(daemon.receive(flush=False)) == 1
    deadline = time.monotonic() + 5
    while senders() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert senders() == 0
    _segments(1)
    assert senders() == 1
    assert len(daemon.receive(flush=False)) == 1


def _kernel_segments() -> bool:
    """Whether this kernel has UDP segmentation offload (Linux 4.18+), as the emitter probes it."""
    if not sys.platform.startswith("linux"):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.setsockopt(17, 103, 0)  # SOL_UDP, UDP_SEGMENT
        except OSError:
            return False
    return True


needs_gso = pytest.mark.skipif(not _kernel_segments(), reason="the kernel has no UDP segmentation offload")


@pytest.fixture
def one_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the sender thread asleep, so that a test's datagrams leave in the burst it means."""
    monkeypatch.setattr(xray_module, "SEND_INTERVAL_S", 60.0)


def _raw(daemon: Daemon, n: int) -> list[bytes]:
    daemon.sock.settimeout(2.0)
    return [daemon.sock.recv(70_000) for _ in range(n)]


def _span_name(datagram: bytes) -> str:
    header, _, body = datagram.partition(b"\n")
    assert header == b'{"format":"json","version":1}'
    return json.loads(body)["metadata"]["obskit"]["span_name"]  # type: ignore[no-any-return]


@needs_gso
@pytest.mark.usefixtures("one_burst")
def test_a_burst_leaves_in_one_segmented_send_padded_with_spaces(daemon: Daemon) -> None:
    """The kernel cuts one sendmsg into the burst's datagrams, in order; the shorter ones carry trailing spaces."""
    configure(daemon, xray_batch_size=3)
    for name in ("GET /a", "GET /" + "b" * 120, "GET /c"):
        with obskit.span(name, kind="server"):
            pass
    first, second, third = _raw(daemon, 3)
    assert [_span_name(d) for d in (first, second, third)] == ["GET /a", "GET /" + "b" * 120, "GET /c"]
    assert len(first) == len(second)  # padded to the run's longest...
    assert first.endswith(b" ")
    assert first.rstrip(b" ").endswith(b"}")
    assert third.endswith(b"}")  # ...except the last, which may be shorter
    assert obskit.diagnostics().get("xray.gso_refused", 0) == 0


@needs_gso
@pytest.mark.usefixtures("one_burst")
def test_a_datagram_under_half_the_size_of_its_neighbours_is_not_padded(daemon: Daemon) -> None:
    """Padding never more than doubles a datagram: a much shorter one is sent on its own, order kept."""
    configure(daemon, xray_batch_size=3)
    names = ["GET /" + "a" * 900, "GET /b", "GET /" + "c" * 900]
    for name in names:
        with obskit.span(name, kind="server"):
            pass
    datagrams = _raw(daemon, 3)
    assert [_span_name(d) for d in datagrams] == names
    assert all(d.endswith(b"}") for d in datagrams)


@needs_gso
@pytest.mark.usefixtures("one_burst")
def test_padded_documents_are_accepted_by_the_xray_api_as_the_daemon_forwards_them(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon passes each body on unchanged to PutTraceSegments; padded ones are taken whole (moto's X-Ray)."""
    import boto3
    from moto import mock_aws

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "eu-west-1")):
        monkeypatch.setenv(name, value)
    configure(daemon, xray_batch_size=3)
    incoming = obskit.extract({"X-Amzn-Trace-Id": HEADER})
    for name in ("GET /a", "GET /" + "b" * 120, "GET /c"):
        with obskit.activate(incoming), obskit.span(name, kind="server"):
            pass
    bodies = [d.partition(b"\n")[2].decode() for d in _raw(daemon, 3)]
    assert bodies[0].endswith(" ")
    with mock_aws():
        xray_api = boto3.client("xray")
        assert xray_api.put_trace_segments(TraceSegmentDocuments=bodies)["UnprocessedTraceSegments"] == []
        (trace,) = xray_api.batch_get_traces(TraceIds=[XRAY_TRACE])["Traces"]
    assert len(trace["Segments"]) == 3


def test_without_segmentation_no_datagram_is_padded(daemon: Daemon) -> None:
    configure(daemon, xray_batch_size=3, xray_gso=False)
    for name in ("GET /a", "GET /" + "b" * 120, "GET /c"):
        with obskit.span(name, kind="server"):
            pass
    assert all(d.endswith(b"}") for d in _raw(daemon, 3))


@needs_gso
@pytest.mark.usefixtures("one_burst")
def test_a_segmented_send_the_kernel_refuses_is_sent_datagram_by_datagram(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run past what the kernel takes (here: over 64 KB in one send) still arrives, and segmentation turns off."""
    monkeypatch.setattr(xray_module, "_GSO_MAX_BYTES", 1 << 20)
    monkeypatch.setattr(xray_module, "_GSO_MAX_SEGMENTS", 1000)
    daemon.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    configure(daemon, xray_batch_size=256)
    for i in range(200):
        with obskit.span(f"GET /{i:03d}", kind="server"):
            pass
    obskit.flush()
    assert [_span_name(d) for d in _raw(daemon, 200)] == [f"GET /{i:03d}" for i in range(200)]
    assert obskit.diagnostics()["xray.gso_refused"] == 1
    assert obskit.diagnostics().get("traces.dropped.daemon_unreachable", 0) == 0


def test_gso_is_validated() -> None:
    with pytest.raises(ConfigError, match="xray_gso"):
        obskit.configure(traces="xray", xray_gso="sometimes")


def test_batch_size_one_sends_each_datagram_as_its_span_ends(daemon: Daemon) -> None:
    configure(daemon, xray_batch_size=1)
    _segments(2)
    assert daemon.ready() == 2


def test_a_forked_child_does_not_send_the_parents_pending_datagrams(daemon: Daemon) -> None:
    """Each datagram the parent held leaves once, from the parent; the child sends only its own."""
    configure(daemon)
    _segments(2)

    def child() -> None:
        with obskit.span("child", kind="server"):
            pass
        obskit.flush()

    run_in_child(child)
    obskit.flush()
    docs = daemon.receive(3, flush=False)
    assert sorted(d["metadata"]["obskit"]["span_name"] for d in docs) == ["GET /0", "GET /1", "child"]
    assert daemon.nothing_more()


def _three_jobs() -> None:
    for i in range(3):
        with obskit.span(f"job {i}", kind="server"):
            pass


def test_a_multiprocessing_worker_sends_its_last_burst_before_it_exits(daemon: Daemon) -> None:
    """A forked multiprocessing worker ends with os._exit, past atexit: its pending datagrams still leave."""
    import multiprocessing

    configure(daemon)
    worker = multiprocessing.get_context("fork").Process(target=_three_jobs)
    worker.start()
    worker.join(30)
    assert worker.exitcode == 0
    docs = daemon.receive(3, flush=False)
    assert sorted(d["metadata"]["obskit"]["span_name"] for d in docs) == ["job 0", "job 1", "job 2"]


def test_batch_size_is_validated() -> None:
    with pytest.raises(ConfigError, match="xray_batch_size"):
        obskit.configure(traces="xray", xray_batch_size=0)


def test_dead_daemon_never_raises_and_is_counted() -> None:
    """With nothing listening, spans end normally and failed sends are counted.

    The kernel reports a closed port on the send after the one it refused (ICMP), so the
    spans fill more than one burst.
    """
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    obskit.configure(traces="xray", xray_daemon_address=f"127.0.0.1:{port}")
    for _ in range(40):
        with obskit.span("GET /", kind="server"):
            pass
    obskit.flush()
    assert obskit.diagnostics().get("traces.dropped.daemon_unreachable", 0) >= 16  # at least the burst it refused


@pytest.mark.parametrize("gso", [True, False])
def test_after_a_daemon_restart_the_next_burst_arrives(gso: bool) -> None:
    """ECONNREFUSED reports an earlier datagram's ICMP: that one is counted lost, the current burst is sent again."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    obskit.configure(service="checkout", traces="xray", xray_daemon_address=f"127.0.0.1:{port}", xray_gso=gso)
    _segments(1)
    obskit.flush()  # refused: the kernel keeps the error for the next send
    rx = Daemon()
    rx.sock.close()
    rx.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.sock.bind(("127.0.0.1", port))  # the daemon is back on its port
    try:
        _segments(16)
        obskit.flush()
        assert sorted(_span_name(d) for d in _raw(rx, 16)) == sorted(f"GET /{i}" for i in range(16))
        assert obskit.diagnostics()["traces.dropped.daemon_unreachable"] == 1
    finally:
        rx.sock.close()


def test_spans_ending_while_the_emitter_closes_are_sent_not_dropped() -> None:
    """A burst on its way out when close() shuts the socket goes out on a socket of its own."""
    rx = Daemon()
    try:
        for _ in range(3):
            obskit.configure(service="checkout", traces="xray", xray_daemon_address=rx.address)
            emitter = _pipeline.get().span_emitters[0]
            stop = threading.Event()

            def work(stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    with obskit.span("GET /", kind="server"), obskit.span("child"):
                        pass

            threads = [threading.Thread(target=work) for _ in range(6)]
            for t in threads:
                t.start()
            time.sleep(0.1)
            emitter.close()
            time.sleep(0.02)
            stop.set()
            for t in threads:
                t.join()
            assert obskit.diagnostics().get("traces.dropped.daemon_unreachable", 0) == 0
    finally:
        rx.sock.close()


def test_both_emitters_get_the_same_ids(daemon: Daemon) -> None:
    """traces=["xray", "otel"] sends one span to both, with the same ids."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    obskit.configure(traces=["xray", "otel"], xray_daemon_address=daemon.address, tracer_provider=provider)
    with obskit.span("GET /", kind="server") as s:
        pass
    (doc,) = daemon.receive()
    (otel_span,) = exporter.get_finished_spans()
    assert doc["id"] == s.span_id == f"{otel_span.context.span_id:016x}"
    assert doc["trace_id"].replace("-", "")[1:] == f"{otel_span.context.trace_id:032x}"


def test_log_line_carries_the_ids_of_the_segment(daemon: Daemon) -> None:
    """A log line inside a span carries the ids that the X-Ray segment has."""
    configure(daemon)
    log = obskit.get_logger("t")
    with obskit.testing.capture() as cap, obskit.span("GET /", kind="server") as s:
        log.info("inside")
    line = cap.logs_with(message="inside")[0]
    assert (line["trace_id"], line["span_id"]) == (s.trace_id, s.span_id)
    assert line["xray_trace_id"] == f"1-{s.trace_id[:8]}-{s.trace_id[8:]}"


# --- parity with aws-xray-sdk -------------------------------------------------------------------
def _shape(value: Any) -> Any:
    """The structure of a document: keys and value types, ignoring ids, times and versions."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):  # repeated shapes count once (stack depths differ by caller)
        unique: list[Any] = []
        for shape in map(_shape, value):
            if shape not in unique:
                unique.append(shape)
        return unique
    return type(value).__name__


def _sdk_documents() -> list[dict[str, Any]]:
    from aws_xray_sdk.core import AWSXRayRecorder
    from aws_xray_sdk.core.models import http
    from aws_xray_sdk.core.sampling.local.sampler import LocalSampler
    from aws_xray_sdk.core.utils import stacktrace

    docs: list[dict[str, Any]] = []

    class Capture:
        def send_entity(self, entity: Any) -> None:
            docs.append(json.loads(entity.serialize()))

        def set_daemon_address(self, address: Any) -> None:
            pass

    rec = AWSXRayRecorder()
    rec.emitter._socket.close()  # the SDK opens a UDP socket in its constructor; we replace the emitter
    rec.configure(sampling=False, emitter=Capture(), sampler=LocalSampler(), plugins=(), service="checkout",
                  context_missing="IGNORE_ERROR")
    seg = rec.begin_segment("checkout", traceid=XRAY_TRACE, parent_id=PARENT, sampling=1)
    for key, value in ((http.METHOD, "GET"), (http.URL, "https://shop/orders/7"), (http.USER_AGENT, "curl"),
                       (http.CLIENT_IP, "10.0.0.1"), (http.STATUS, 503), (http.CONTENT_LENGTH, 12)):
        seg.put_http_meta(key, value)
    seg.put_annotation("order_id", 7)
    seg.put_metadata("bad-key", "x")
    sub = rec.begin_subsegment("api.example.com", "remote")
    sub.put_http_meta(http.METHOD, "POST")
    sub.put_http_meta(http.URL, "https://api.example.com/p")
    sub.put_http_meta(http.STATUS, 429)
    rec.end_subsegment()
    sub = rec.begin_subsegment("inner")
    try:
        raise KeyError("k")
    except KeyError as exc:
        sub.add_exception(exc, stacktrace.get_stacktrace(limit=10))
    rec.end_subsegment()
    rec.end_segment()
    return docs


def _obskit_documents(daemon: Daemon) -> list[dict[str, Any]]:
    configure(daemon)
    with obskit.activate(obskit.extract({"X-Amzn-Trace-Id": HEADER})):
        root = start_span("GET /orders/{id}", kind="server", attributes={
            semconv.ATTR_HTTP_METHOD: "GET", semconv.ATTR_URL_FULL: "https://shop/orders/7",
            semconv.ATTR_USER_AGENT: "curl", semconv.ATTR_CLIENT_ADDRESS: "10.0.0.1",
            semconv.ATTR_HTTP_STATUS: 503, semconv.ATTR_HTTP_RESPONSE_SIZE: 12, "order_id": 7, "bad-key": "x",
        })
        with obskit.activate(root.context):
            with obskit.span("api.example.com", kind="client", attributes={
                semconv.ATTR_HTTP_METHOD: "POST", semconv.ATTR_URL_FULL: "https://api.example.com/p",
                semconv.ATTR_HTTP_STATUS: 429,
            }):
                pass
            with pytest.raises(KeyError), obskit.span("inner"):
                raise KeyError("k")
        root.end()
    return daemon.receive()


def test_documents_have_the_same_fields_as_aws_xray_sdk(daemon: Daemon) -> None:
    """For the same span tree obskit's segment document has aws-xray-sdk's structure, field by field."""
    (sdk,) = _sdk_documents()
    (ours,) = _obskit_documents(daemon)
    # obskit adds one thing: the span name, since a segment is named after the service
    ours["metadata"].pop("obskit")
    assert _shape(ours) == _shape(sdk)
    assert ours["trace_id"] == sdk["trace_id"]
    assert ours["parent_id"] == sdk["parent_id"]
    assert ours["http"] == sdk["http"]
    assert ours["annotations"] == sdk["annotations"]
    assert ours["metadata"] == sdk["metadata"]
    for mine, theirs in zip(ours["subsegments"], sdk["subsegments"], strict=True):
        for key in ("name", "namespace", "http", "error", "throttle", "fault", "type", "trace_id"):
            assert mine.get(key) == theirs.get(key)
        assert mine["parent_id"] == ours["id"]
    assert ours["subsegments"][1]["cause"]["exceptions"][0]["message"] == \
        sdk["subsegments"][1]["cause"]["exceptions"][0]["message"]


_BRIDGE_SCRIPT = textwrap.dedent("""
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    import obskit
    from aws_xray_sdk.core import patch
    from obskit.emitters.xray import use_with_aws_xray_sdk
    obskit.configure(service="checkout", traces="xray", xray_daemon_address=sys.argv[1])
    patch(["requests"])
    use_with_aws_xray_sdk()
    import requests
    requests.get("http://127.0.0.1:%d/outside" % server.server_port)  # no obskit span: nothing recorded
    with obskit.span("GET /", kind="server") as s:
        requests.get("http://127.0.0.1:%d/x" % server.server_port)
    print(json.dumps({"trace_id": s.trace_id, "span_id": s.span_id}))
    server.shutdown()
""")


@pytest.mark.slow
def test_aws_xray_sdk_patchers_record_under_the_current_obskit_span(daemon: Daemon) -> None:
    """With use_with_aws_xray_sdk(), the SDK's requests patcher sends subsegments parented to obskit's span."""
    env = {**os.environ, "AWS_XRAY_DAEMON_ADDRESS": daemon.address, "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    out = subprocess.run([sys.executable, "-c", _BRIDGE_SCRIPT, daemon.address], env=env, check=True,
                         capture_output=True, text=True, timeout=60)
    ids = json.loads(out.stdout.strip().splitlines()[-1])
    docs = daemon.receive(2)
    (sdk_doc,) = [d for d in docs if d.get("namespace") == "remote"]
    (segment,) = [d for d in docs if d.get("id") == ids["span_id"]]
    assert sdk_doc["type"] == "subsegment"
    assert sdk_doc["parent_id"] == ids["span_id"]
    assert sdk_doc["trace_id"] == segment["trace_id"] == f"1-{ids['trace_id'][:8]}-{ids['trace_id'][8:]}"
    assert sdk_doc["http"]["request"]["url"].endswith("/x")
    assert daemon.nothing_more()
