"""Tests written the way each framework's documentation writes them, as a new user would.

Flask's test client used as Flask documents it (``client.get(...).status_code``, nothing read or
closed; ``with client.get(...) as response``), FastAPI's ``TestClient``, the ``obskit_capture``
idea (``capture()``): a finished request's telemetry is there at once, and nothing of it leaks
into the code or the tests that follow.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask, Response

import obskit
from obskit import semconv
from obskit.integrations import fastapi as obskit_fastapi
from obskit.integrations import flask as obskit_flask
from obskit.testing import capture

log = obskit.get_logger("app")


def _flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> dict:
        obskit.metrics.count("OrdersRead")
        log.info("order read", order_id=order_id)
        return {"id": order_id}

    @app.get("/stream")
    def stream() -> Response:
        def body():
            yield b"a"
            log.info("streaming")
            yield b"b"

        return Response(body())

    obskit_flask.instrument(app)
    return app


def _access(cap) -> list[dict]:
    return [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]


def test_flask_status_code_only_gives_the_whole_requests_telemetry_at_once() -> None:
    """``client.get(...).status_code`` (body never read, never closed): span, access line, metrics."""
    client = _flask_app().test_client()
    with capture() as cap:
        assert client.get("/orders/7").status_code == 200
        (span,) = cap.spans
        assert span["name"] == "GET /orders/{order_id}"
        (line,) = _access(cap)
        assert (line["status"], line["trace_id"]) == (200, span["trace_id"])
        assert "client_disconnected" not in line
        assert cap.metric_values("Latency", {"Operation": "GET /orders/{order_id}"})
        assert cap.metric_values("Fault") == [0]  # one document: [Service] and [Service, Operation]
        assert cap.metric_values("OrdersRead") == [1]  # the handler's own metric, no flush needed


def test_flask_request_context_does_not_leak_into_later_code() -> None:
    """After the test client returns, a log line carries none of the request's ids."""
    client = _flask_app().test_client()
    with capture() as cap:
        client.get("/orders/7")
        assert not obskit.current().is_valid
        log.info("after the request")
    assert "trace_id" not in cap.logs[-1]


def test_flask_with_block_closing_an_unread_body_is_not_a_disconnect() -> None:
    """``with client.get(...) as response`` closes the body unread: a normal 200, no disconnect."""
    client = _flask_app().test_client()
    with capture() as cap, client.get("/orders/7") as response:
        assert response.status_code == 200
    (line,) = _access(cap)
    assert line["status"] == 200
    assert "client_disconnected" not in line
    assert semconv.ATTR_CLIENT_DISCONNECTED not in cap.spans[0]["attributes"]


def test_flask_streamed_body_logs_with_the_request_ids_and_ends_at_its_last_chunk() -> None:
    """A streamed body is still finished at its last chunk, its lines carrying the request's ids."""
    client = _flask_app().test_client()
    with capture() as cap:
        response = client.get("/stream")
        assert not _access(cap)  # not over yet: the body is still to be sent
        assert not obskit.current().is_valid  # between chunks the context is the caller's own
        assert response.get_data() == b"ab"
    (line,) = _access(cap)
    (streaming,) = cap.logs_with(message="streaming")
    assert streaming["trace_id"] == line["trace_id"]
    assert line["response_size"] == 2


def test_flask_streamed_body_closed_unread_is_a_disconnect() -> None:
    """A streamed body closed before it ran out means the client went away."""
    client = _flask_app().test_client()
    with capture() as cap, client.get("/stream") as response:
        assert response.status_code == 200
    (line,) = _access(cap)
    assert line["client_disconnected"] is True


def _fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def get_order(order_id: int) -> dict:
        obskit.metrics.count("OrdersRead")
        return {"id": order_id}

    obskit_fastapi.instrument(app)
    return app


def test_fastapi_test_client_request_metrics_are_captured_without_a_flush() -> None:
    """FastAPI's ``TestClient``: the request's Latency/Error/Fault and custom metrics at once."""
    client = TestClient(_fastapi_app())
    with capture() as cap:
        assert client.get("/orders/7").status_code == 200
        assert cap.metric_values("Error", {"Operation": "GET /orders/{order_id}"}) == [0]
        assert cap.metric_values("OrdersRead") == [1]


def test_obskit_capture_fixture_sees_flask_metrics_at_once(obskit_capture) -> None:
    """The pytest fixture as the README shows it, on a server app: no ``obskit.flush()`` needed."""
    client = _flask_app().test_client()
    assert client.get("/orders/7").status_code == 200
    assert obskit_capture.metric_values("Fault", {"Operation": "GET /orders/{order_id}"}) == [0]


@pytest.mark.parametrize("per_request", [True, False])
def test_capture_per_request_false_keeps_the_servers_aggregation(per_request: bool) -> None:
    """``capture(per_request=False)`` writes one document per interval, as a server does."""
    client = _flask_app().test_client()
    with capture(per_request=per_request) as cap:
        client.get("/orders/1")
        client.get("/orders/2")
        obskit.flush()
    docs = [d for d in cap.metrics if d.get("Operation") == "GET /orders/{order_id}"]
    assert len(docs) == (2 if per_request else 1)


def _rename(span, _request) -> None:
    span.name = "orders.read"


def test_a_span_name_set_by_request_hook_stands_in_flask() -> None:
    """A ``request_hook`` that names the span on purpose is not overridden by the route template."""
    app = Flask(__name__)
    app.get("/orders/<int:order_id>")(lambda order_id: {"id": order_id})
    obskit_flask.instrument(app, request_hook=_rename)
    with capture() as cap:
        app.test_client().get("/orders/7")
    (span,) = cap.spans
    assert span["name"] == "orders.read"
    assert span["attributes"][semconv.ATTR_HTTP_ROUTE] == "/orders/{order_id}"
    assert _access(cap)[0]["route"] == "/orders/{order_id}"  # the Operation keeps the template
    assert cap.metric_values("Latency", {"Operation": "GET /orders/{order_id}"})


def test_a_span_name_set_by_request_hook_stands_in_fastapi() -> None:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def get_order(order_id: int) -> dict:
        return {"id": order_id}

    obskit_fastapi.instrument(app, request_hook=_rename)
    with capture() as cap:
        TestClient(app).get("/orders/7")
    (span,) = cap.spans
    assert span["name"] == "orders.read"
    assert cap.metric_values("Latency", {"Operation": "GET /orders/{order_id}"})
