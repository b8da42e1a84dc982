"""Every file in examples/ runs: the apps through real servers or test clients, the scripts as subprocesses."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import obskit
from obskit.testing import capture

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ACCESS = "obskit.access"

pytestmark = pytest.mark.slow


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` afresh, so its module-level ``configure()`` runs after the reset."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """A real uvicorn server (lifespan on) in a thread, on an ephemeral port of 127.0.0.1."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def access_lines(cap: Any) -> list[dict[str, Any]]:
    return [line for line in cap.logs if line.get("logger") == ACCESS]


# --- FastAPI -------------------------------------------------------------------------------------
@pytest.fixture
def fastapi_pair(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """inventory and checkout under uvicorn in this process, telemetry captured."""
    inventory = load("downstream_app")
    with serve(inventory.app) as inventory_url:
        monkeypatch.setenv("INVENTORY_URL", inventory_url)
        checkout = load("fastapi_app")
        with capture() as cap, serve(checkout.app) as base:
            yield base, cap


def test_fastapi_order_lookup_is_one_request_with_route_name(fastapi_pair: tuple[str, Any]) -> None:
    """GET /orders/1001 answers 200 and is traced under its route template."""
    base, cap = fastapi_pair
    assert httpx.get(f"{base}/orders/1001").json()["order_id"] == "1001"
    wait_for(lambda: access_lines(cap))
    assert [s["name"] for s in cap.spans] == ["GET /orders/{order_id}"]
    assert access_lines(cap)[0]["status"] == 200


def test_fastapi_order_placement_calls_inventory_in_the_same_trace(fastapi_pair: tuple[str, Any]) -> None:
    """POST /orders goes through the instrumented httpx client and inventory joins the trace."""
    base, cap = fastapi_pair
    response = httpx.post(f"{base}/orders", json={"sku": "sku-1", "quantity": 1})
    assert response.status_code == 201
    wait_for(lambda: len(access_lines(cap)) == 2)
    names = {s["name"] for s in cap.spans}
    assert {"POST /orders", "GET /stock/{sku}", "reserve stock", "GET"} <= names
    assert len({s["trace_id"] for s in cap.spans}) == 1
    server = next(s for s in cap.spans if s["name"] == "GET /stock/{sku}")
    client = next(s for s in cap.spans if s["kind"] == "client")
    assert server["parent_span_id"] == client["span_id"]


def test_fastapi_missing_order_is_an_error_not_a_fault(fastapi_pair: tuple[str, Any]) -> None:
    """A 404 records Error=1 and Fault=0."""
    base, cap = fastapi_pair
    assert httpx.get(f"{base}/orders/9999").status_code == 404
    wait_for(lambda: access_lines(cap))
    obskit.flush()
    assert cap.metric_values("Error", {"Operation": "GET /orders/{order_id}"}) == [1]
    assert cap.metric_values("Fault", {"Operation": "GET /orders/{order_id}"}) == [0]


def test_fastapi_exception_is_a_500_fault_on_the_span(fastapi_pair: tuple[str, Any]) -> None:
    """The raising endpoint answers 500, records Fault=1 and an error span."""
    base, cap = fastapi_pair
    assert httpx.get(f"{base}/fail").status_code == 500
    wait_for(lambda: access_lines(cap))
    obskit.flush()
    assert cap.metric_values("Fault", {"Operation": "GET /fail"}) == [1]
    assert cap.spans_named("GET /fail")[0]["status"] == "error"


def test_fastapi_sync_endpoint_logs_inside_the_request_trace(fastapi_pair: tuple[str, Any]) -> None:
    """The sync receipt endpoint's log line carries the request's trace id."""
    base, cap = fastapi_pair
    assert httpx.get(f"{base}/orders/1001/receipt").status_code == 200
    wait_for(lambda: access_lines(cap))
    line = cap.logs_with(message="rendering receipt")[0]
    assert line["trace_id"] == access_lines(cap)[0]["trace_id"]


def test_fastapi_health_check_leaves_no_telemetry(fastapi_pair: tuple[str, Any]) -> None:
    """/health is excluded: no span, no access line."""
    base, cap = fastapi_pair
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    assert httpx.get(f"{base}/orders/1001").status_code == 200  # a marker request after it
    wait_for(lambda: access_lines(cap))
    assert [line["path"] for line in access_lines(cap)] == ["/orders/1001"]


# --- Flask ---------------------------------------------------------------------------------------
def status(response: Any) -> int:
    """Read and close a test-client response, as a server would: the request ends with its body."""
    response.get_data()
    response.close()
    return int(response.status_code)


def test_flask_app_serves_and_names_requests_by_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Flask example answers 200, 404 and 500 and names spans by the URL rule."""
    monkeypatch.setenv("INVENTORY_URL", "http://127.0.0.1:9")
    app = load("flask_app").app
    with capture() as cap:
        client = app.test_client()
        assert status(client.get("/orders/1001")) == 200
        assert status(client.get("/orders/9999")) == 404
        assert status(client.get("/fail")) == 500
        assert status(client.get("/health")) == 200
    assert [s["name"] for s in cap.spans] == ["GET /orders/{order_id}", "GET /orders/{order_id}", "GET /fail"]
    assert cap.metric_values("Fault", {"Operation": "GET /fail"}) == [1]


def test_flask_order_placement_calls_inventory_in_the_same_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /orders in Flask reaches inventory through the instrumented requests session, one trace."""
    inventory = load("downstream_app")
    with serve(inventory.app) as inventory_url:
        monkeypatch.setenv("INVENTORY_URL", inventory_url)
        app = load("flask_app").app
        with capture() as cap:
            assert status(app.test_client().post("/orders", json={"sku": "sku-3", "quantity": 1})) == 201
            wait_for(lambda: len(access_lines(cap)) == 2)
    assert {"POST /orders", "GET /stock/{sku}"} <= {s["name"] for s in cap.spans}
    assert len({line["trace_id"] for line in access_lines(cap)}) == 1


# --- Lambda, worker, demo ------------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSKIT_", "AWS_", "POWERTOOLS_", "OTEL_"))}
    env.pop("LAMBDA_TASK_ROOT", None)
    env.pop("_X_AMZN_TRACE_ID", None)
    return env


def test_invoke_lambda_script_prints_correlated_telemetry() -> None:
    """invoke_lambda.py exits 0 and its log lines, EMF documents and spans carry the event's trace id."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "invoke_lambda.py")], capture_output=True, text=True, timeout=60,
        env=_env(), cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    trace_id = "6740f0c1a3c54e0f9d6a1b2c3d4e5f60"  # from examples/events/apigw_v2.json
    assert any("_aws" in d and d["trace_id"] == trace_id for d in docs)
    assert any(d.get("logger") == ACCESS and d["trace_id"] == trace_id and d["cold_start"] is True for d in docs)
    assert any(d.get("kind") == "server" and d["trace_id"] == trace_id for d in docs)
    assert docs[-1]["statusCode"] == 200


def test_worker_continues_the_producer_trace_against_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """worker.poll_once processes a message sent by an instrumented producer inside the producer's trace."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        worker = load("worker")
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        with capture() as cap:
            with obskit.span("checkout", kind="producer") as producer:
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"order_id": "1001"}))
            assert worker.poll_once(sqs, url, wait_s=0) == 1
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None  # deleted
    shipped = cap.logs_with(message="order shipped")
    assert shipped
    assert shipped[0]["trace_id"] == producer.trace_id
    assert cap.spans_named("process orders")[0]["trace_id"] == producer.trace_id
    assert cap.metric_values("OrdersShipped") == [1]


_TRACE = re.compile(r"trace_id[=\" :]+([0-9a-f]{32})")


def test_demo_ends_by_itself_and_correlates_logs_metrics_and_spans() -> None:
    """python examples/demo.py exits 0; one request's logs, EMF documents and spans share its trace id."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")], capture_output=True, text=True, timeout=120,
        env=_env(), cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\033[" not in done.stdout  # no colours when stdout is not a terminal
    block = done.stdout.split("== 2. a call that goes downstream")[1].split("\n== ")[0]
    logs = block.split("\nlogs\n")[1].split("\nmetrics (EMF documents)\n")[0]
    metrics, spans = block.split("\nmetrics (EMF documents)\n")[1].split("\nspans\n")
    ids = {section: set(_TRACE.findall(text)) for section, text in (("logs", logs), ("metrics", metrics),
                                                                   ("spans", spans))}
    assert len(ids["logs"]) == 1, ids
    assert ids["logs"] == ids["metrics"] == ids["spans"], ids
    assert "inventory" in logs
    assert '"Service":"inventory"' in metrics
    assert "(inventory, server)" in spans
    assert "burn-rate metric alarms" in done.stdout
    assert "checkout-api/availability" in done.stdout  # obskit slo explain
