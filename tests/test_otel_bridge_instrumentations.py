"""Real OpenTelemetry instrumentations through the bridge: parented spans in capture(), X-Ray documents on UDP.

sqlite3 (stdlib), redis against a redis-server started here, requests against a loopback HTTP
server, botocore against a moto server. Each document is validated against the segment schema.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

import obskit
from _xray_schema import validate
from obskit.errors import ConfigError
from obskit.testing import capture

INSTRUMENTED = ("botocore", "redis", "requests", "sqlite3")


@pytest.fixture(scope="module", autouse=True)
def _instrumented() -> Iterator[None]:
    """The four instrumentations on for this module only (they patch libraries process-wide)."""
    assert obskit.instrument_installed(include=INSTRUMENTED) == list(INSTRUMENTED)
    yield
    from importlib.metadata import entry_points

    for ep in entry_points(group="opentelemetry_instrumentor"):
        if ep.name in INSTRUMENTED:
            ep.load()().uninstrument()


class Daemon:
    """A UDP listener standing in for the X-Ray daemon: every document, subsegments flattened."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.3)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def documents(self) -> list[dict[str, Any]]:
        obskit.flush()
        docs = []
        try:
            while True:
                header, _, body = self.sock.recv(70_000).partition(b"\n")
                assert header == b'{"format":"json","version":1}'
                docs.append(json.loads(body))
        except TimeoutError:
            pass
        for doc in docs:
            validate(doc)
        return docs

    @staticmethod
    def flat(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Every (sub)segment by id, embedded ones with their parent's id filled in."""
        out: dict[str, dict[str, Any]] = {}

        def walk(doc: dict[str, Any], parent: str | None) -> None:
            out[doc["id"]] = {**doc, "parent_id": doc.get("parent_id", parent)}
            for sub in doc.get("subsegments", ()):
                walk(sub, doc["id"])

        for doc in docs:
            walk(doc, None)
        return out


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    d = Daemon()
    obskit.configure(service="orders", traces="xray", xray_daemon_address=d.address)
    yield d
    obskit.testing.reset()
    d.sock.close()


def _request_span() -> Any:
    return obskit.span("GET /orders/{id}", kind="server")


def _one(cap: Any, kind: str = "client") -> dict[str, Any]:
    found = [s for s in cap.spans if s["kind"] == kind]
    assert len(found) == 1, cap.spans
    return found[0]


# --- sqlite3 -------------------------------------------------------------------------------------
def _sqlite_work() -> None:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    cur = conn.cursor()
    cur.execute("SELECT 1 WHERE 2 = ?", (2,))
    cur.fetchall()
    conn.close()


def test_sqlite3_span_is_a_child_of_the_request() -> None:
    """A sqlite3 query inside an obskit request is a client span parented to it."""
    obskit.configure(service="orders")
    with capture() as cap, _request_span() as request:
        _sqlite_work()
    db = _one(cap)
    assert db["parent_span_id"] == request.span_id
    assert db["attributes"]["db.system"] == "sqlite"


def test_sqlite3_query_is_a_remote_subsegment_with_an_sql_block(daemon: Daemon) -> None:
    """X-Ray: a remote subsegment with sql.database_type, sanitized_query, url and connection_string."""
    with _request_span() as request:
        _sqlite_work()
    docs = Daemon.flat(daemon.documents())
    (sub,) = [d for d in docs.values() if "sql" in d]
    assert sub["parent_id"] == request.span_id
    assert sub["namespace"] == "remote"
    assert sub["sql"]["database_type"] == "sqlite"
    assert sub["sql"]["sanitized_query"] == "SELECT 1 WHERE 2 = ?"
    assert sub["sql"]["url"] == "SELECT"
    assert sub["sql"]["connection_string"] == "localhost/"  # no db.name nor server.address for sqlite
    assert "db.statement" not in sub.get("metadata", {}).get("default", {})


# --- redis ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A real redis-server on 127.0.0.1 (Debian's package; .ci/run installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the redis test needs a real one")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.skip(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    client.close()
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.mark.slow
def test_redis_command_is_a_child_span_and_a_remote_subsegment(redis_port: int, daemon: Daemon) -> None:
    """A redis SET is a client span under the request and a remote subsegment without an sql block."""
    import redis

    client = redis.Redis(port=redis_port)
    with capture() as cap, _request_span() as request:
        client.set("k", "v")
    span = _one(cap)
    assert span["parent_span_id"] == request.span_id
    assert span["attributes"]["db.system"] == "redis"
    with _request_span() as request:
        client.set("k", "v")
    client.close()
    docs = Daemon.flat(daemon.documents())
    (sub,) = [d for d in docs.values() if d["parent_id"] == request.span_id]
    assert sub["namespace"] == "remote"
    assert sub["name"] == "localhost"  # net.peer.name, as the translation names it
    assert "sql" not in sub


# --- requests ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback HTTP server that records the headers it receives."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            status = 503 if self.path.startswith("/down") else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def test_requests_span_is_a_child_and_its_traceparent_names_it(http_server: tuple[str, list[Any]]) -> None:
    """An outgoing requests call is a client span under the request; the headers it sends (W3C and X-Ray) name it."""
    import requests

    base, seen = http_server
    obskit.configure(service="orders")
    with capture() as cap, _request_span() as request:
        assert requests.get(f"{base}/items?id=3", timeout=5).status_code == 200
    span = _one(cap)
    assert span["parent_span_id"] == request.span_id
    assert seen[-1]["traceparent"].startswith(f"00-{span['trace_id']}-{span['span_id']}-")
    tid = span["trace_id"]
    assert seen[-1]["x-amzn-trace-id"].startswith(f"Root=1-{tid[:8]}-{tid[8:]};Parent={span['span_id']};")


def test_requests_span_is_a_remote_subsegment_with_http(http_server: tuple[str, list[Any]],
                                                        daemon: Daemon) -> None:
    """X-Ray: remote namespace, http.request method and url, http.response status; a 503 is a fault."""
    import requests

    base, _ = http_server
    with _request_span() as request:
        requests.get(f"{base}/items?id=3", timeout=5)
        requests.get(f"{base}/down", timeout=5)
    docs = Daemon.flat(daemon.documents())
    subs = sorted((d for d in docs.values() if d["parent_id"] == request.span_id),
                  key=lambda d: d["http"]["request"]["url"])
    assert [d["namespace"] for d in subs] == ["remote", "remote"]
    down, ok = subs
    assert ok["http"] == {"request": {"method": "GET", "url": f"{base}/items?id=3",
                                      "user_agent": ok["http"]["request"]["user_agent"]},
                          "response": {"status": 200}}
    assert down["http"]["response"]["status"] == 503
    assert down["fault"] is True
    assert "fault" not in ok


# --- botocore --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _sqs(endpoint: str) -> Any:
    import boto3

    return boto3.client("sqs", region_name="eu-west-1", endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.slow
def test_botocore_call_is_a_child_span_and_an_aws_subsegment(moto_endpoint: str, daemon: Daemon) -> None:
    """An SQS SendMessage through botocore: a client span under the request and an aws subsegment."""
    sqs = _sqs(moto_endpoint)
    queue = sqs.create_queue(QueueName="orders")["QueueUrl"]
    with capture() as cap, _request_span() as request:
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
    span = _one(cap)
    assert span["parent_span_id"] == request.span_id
    assert span["attributes"]["rpc.method"] == "SendMessage"
    with _request_span() as request:
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
    docs = Daemon.flat(daemon.documents())
    (sub,) = [d for d in docs.values() if d["parent_id"] == request.span_id]
    assert sub["namespace"] == "aws"
    assert sub["name"] == "SQS"
    assert sub["aws"]["operation"] == "SendMessage"
    assert sub["aws"]["region"] == "eu-west-1"
    assert sub["aws"]["queue_url"] == queue
    assert sub["aws"]["request_id"]
    assert sub["http"]["response"]["status"] == 200


# --- links, events, exceptions -------------------------------------------------------------------------
def test_messaging_spans_keep_their_links_in_xray(daemon: Daemon) -> None:
    """A consumer span linked to the messages' contexts carries them as X-Ray links."""
    message = trace.SpanContext(0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, True, trace.TraceFlags(1))
    tracer = trace.get_tracer("tests")
    with _request_span() as request, tracer.start_as_current_span(
            "orders process", kind=SpanKind.CONSUMER, links=[Link(message)],
            attributes={"messaging.system": "aws_sqs"}):
        pass
    docs = Daemon.flat(daemon.documents())
    (sub,) = [d for d in docs.values() if d["parent_id"] == request.span_id]
    assert sub["links"] == [{"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "53995c3f42cd8ad8"}]
    assert sub["namespace"] == "local"


def test_an_api_span_that_fails_is_a_fault_with_a_cause(daemon: Daemon) -> None:
    """An exception in an API span: fault, and cause.exceptions with the type and message."""
    tracer = trace.get_tracer("tests")
    with _request_span() as request, pytest.raises(ValueError, match="bad"), \
            tracer.start_as_current_span("charge"):
        raise ValueError("bad")
    docs = Daemon.flat(daemon.documents())
    (sub,) = [d for d in docs.values() if d["parent_id"] == request.span_id]
    assert sub["fault"] is True
    (exc,) = sub["cause"]["exceptions"]
    assert (exc["type"], exc["message"]) == ("ValueError", "bad")


@pytest.mark.parametrize(("attributes", "expected"), [
    ({"db.system": "postgresql", "db.name": "shop", "db.statement": "SELECT * FROM t WHERE id = $1",
      "db.user": "app", "db.connection_string": "postgresql://db.internal:5432"},
     {"name": "shop@db.internal", "sql": {"url": "SELECT shop.t", "connection_string": "postgresql://db.internal:5432/shop",
                                          "database_type": "postgresql", "user": "app",
                                          "sanitized_query": "SELECT * FROM t WHERE id = $1"}}),
    ({"db.system.name": "mysql", "db.namespace": "shop", "db.query.text": "SELECT 1", "server.address": "db",
      "server.port": 3306},
     {"name": "shop", "sql": {"url": "SELECT shop.t", "connection_string": "db:3306/shop", "database_type": "mysql",
                              "sanitized_query": "SELECT 1"}}),
    ({"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "Query", "aws.region": "eu-west-1",
      "aws.dynamodb.table_names": ("orders",), "aws.request_id": "R1", "aws.account_id": "111111111111"},
     {"name": "DynamoDB", "namespace": "aws", "aws": {"operation": "Query", "region": "eu-west-1", "request_id": "R1",
                                                      "account_id": "111111111111", "table_name": "orders"}}),
    ({"peer.service": "billing", "http.method": "POST", "http.scheme": "https", "net.peer.name": "billing",
      "net.peer.port": 8443, "http.target": "/charge", "http.status_code": 429},
     {"name": "billing", "http": {"request": {"method": "POST", "url": "https://billing:8443/charge"},
                                  "response": {"status": 429}}, "error": True, "throttle": True}),
])
def test_each_mapped_kind_makes_a_well_typed_document(daemon: Daemon, attributes: dict[str, Any],
                                                      expected: dict[str, Any]) -> None:
    """SQL (older and newer names), DynamoDB and HTTP client spans: the X-Ray fields AWS's translation writes."""
    tracer = trace.get_tracer("tests")
    with _request_span() as request, tracer.start_as_current_span("SELECT shop.t", kind=SpanKind.CLIENT,
                                                                  attributes=attributes):
        pass
    docs = Daemon.flat(daemon.documents())
    (sub,) = [d for d in docs.values() if d["parent_id"] == request.span_id]
    assert {k: sub.get(k) for k in expected} == expected
    default = sub.get("metadata", {}).get("default", {})
    assert not {"db.statement", "db.query.text", "rpc.method", "http.method", "aws.region"} & set(default)
    assert not {"db_system", "db_user"} & set(sub.get("annotations", {}))


def test_instrument_installed_selects_by_name() -> None:
    """include/exclude select instrumentations by entry-point name; an unknown include is a ConfigError."""
    assert obskit.instrument_installed(include=["sqlite3"], exclude=["sqlite3"]) == []
    assert obskit.instrument_installed(exclude=["*"]) == []
    with pytest.raises(ConfigError, match="not-a-library"):
        obskit.instrument_installed(include=["not-a-library"])


def test_instrument_installed_honours_otel_python_disabled_instrumentations(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without exclude, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (opentelemetry-instrument's variable) is honoured."""
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "sqlite3, redis")
    assert obskit.instrument_installed(include=["sqlite3", "redis", "requests"]) == ["requests"]
