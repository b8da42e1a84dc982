"""Flask through its test client: route names, abort, error handlers, exceptions, streaming."""

from __future__ import annotations

import pytest
from flask import Flask, Response, abort, stream_with_context

import obskit
from obskit import semconv
from obskit.integrations.flask import instrument, route_template
from obskit.scope import set_route
from obskit.testing import FixedClock, capture

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"

log = obskit.get_logger("app")
CLOCK = FixedClock()


class Teapot(Exception):
    pass


def _app(**options) -> Flask:
    app = Flask(__name__)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> dict:
        log.info("order read", order_id=order_id)
        return {"id": order_id}

    @app.get("/missing")
    def missing() -> str:
        abort(404)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("unhandled")

    @app.get("/teapot")
    def teapot() -> str:
        raise Teapot()

    @app.errorhandler(Teapot)
    def handle_teapot(exc: Teapot) -> tuple[str, int]:
        return "short and stout", 418

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/stream")
    def stream() -> Response:
        def body():
            yield b"first,"
            CLOCK.advance(ms=30)
            log.info("streaming")
            yield b"last"

        return Response(stream_with_context(body()))

    return instrument(app, **options)


@pytest.fixture
def client():
    return _app(excluded_routes=["/health"]).test_client()


def _access(cap) -> dict:
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert len(lines) == 1, cap.logs
    return lines[0]


@pytest.mark.parametrize(
    ("rule", "template"),
    [
        ("/orders/<int:order_id>", "/orders/{order_id}"),
        ("/files/<path:name>", "/files/{name}"),
        ("/u/<uid>/posts/<string(length=2):slug>", "/u/{uid}/posts/{slug}"),
        ("/static", "/static"),
    ],
)
def test_route_template_converts_flask_rules(rule: str, template: str) -> None:
    """Flask's <converter:name> becomes {name}, the form every other integration uses."""
    assert route_template(rule) == template


def test_traceparent_continues_and_route_names_span(client) -> None:
    """The incoming trace is continued and the span and Operation are named by the URL rule."""
    with capture() as cap:
        assert client.get("/orders/7", headers={"traceparent": TRACEPARENT}).json == {"id": 7}
    (span,) = cap.spans
    assert span["name"] == "GET /orders/{order_id}"
    assert span["trace_id"] == TRACE
    assert cap.logs_with(message="order read")[0]["span_id"] == span["span_id"]
    assert cap.metric_values(semconv.METRIC_LATENCY, {semconv.DIM_OPERATION: "GET /orders/{order_id}"})


def test_response_carries_the_correlation_id(client) -> None:
    """x-correlation-id comes back: the one the client sent."""
    with capture():
        response = client.get("/orders/1", headers={"X-Correlation-Id": "ticket-9"})
        response.close()
    assert response.headers["x-correlation-id"] == "ticket-9"


def test_abort_404_is_an_error(client) -> None:
    """abort(404) gives Error=1, Fault=0."""
    with capture() as cap:
        assert client.get("/missing").status_code == 404
        client.get("/missing").close()
    assert cap.metric_values(semconv.METRIC_ERROR)[:1] == [1]
    assert set(cap.metric_values(semconv.METRIC_FAULT)) == {0}


def test_unhandled_exception_is_a_fault_recorded_on_the_span(client) -> None:
    """An unhandled exception: Flask sends 500, the span carries the exception, Fault=1."""
    with capture() as cap:
        response = client.get("/boom")
        assert response.status_code == 500
        response.close()
    span = cap.spans[0]
    assert span["status"] == "error"
    assert span["attributes"][semconv.ATTR_ERROR_TYPE] == "RuntimeError"
    assert span["events"]
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 500


def test_propagated_exception_passes_through_unchanged() -> None:
    """With PROPAGATE_EXCEPTIONS (testing mode) the same exception reaches the caller, and is a fault."""
    app = _app()
    app.testing = True
    with capture() as cap, pytest.raises(RuntimeError, match="unhandled"):
        app.test_client().get("/boom")
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    assert cap.spans[0]["name"] == "GET /boom"


def test_route_named_by_the_app_is_kept() -> None:
    """A route the view names itself with set_route wins over the URL rule."""
    app = _app()

    @app.get("/legacy/<path:rest>")
    def legacy(rest: str) -> str:
        set_route("/legacy")
        return "old"

    with capture() as cap:
        app.test_client().get("/legacy/a/b").close()
    assert cap.spans[0]["name"] == "GET /legacy"


def test_error_handler_status_is_what_counts(client) -> None:
    """An exception turned into 418 by an error handler is a 4xx Error, not a fault."""
    with capture() as cap:
        response = client.get("/teapot")
        assert response.data == b"short and stout"
    assert cap.metric_values(semconv.METRIC_ERROR) == [1]
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]


def test_excluded_route(client) -> None:
    """/health leaves no span, metric or access line."""
    with capture() as cap:
        assert client.get("/health").data == b"ok"
    assert cap.spans == []
    assert cap.metrics == []
    assert cap.logs == []


def test_streamed_response_is_timed_to_the_last_chunk(client) -> None:
    """A streamed body is timed to its last chunk, and lines logged while streaming carry the ids."""
    with capture(clock=CLOCK) as cap:
        assert client.get("/stream").data == b"first,last"
    line = _access(cap)
    assert line[semconv.LOG_DURATION_MS] == 30.0
    assert line[semconv.LOG_RESPONSE_SIZE] == 10
    assert cap.logs_with(message="streaming")[0]["trace_id"] == cap.spans[0]["trace_id"]


def test_unmatched_path_is_not_an_operation(client) -> None:
    """A path no rule matches is counted at service level only."""
    with capture() as cap:
        client.get("/nope/123").close()
    assert cap.spans[0]["name"] == "GET"
    assert all(semconv.DIM_OPERATION not in doc for doc in cap.metrics)


def test_instrument_twice_is_harmless() -> None:
    """instrument() twice: one access line per request."""
    app = _app()
    instrument(app)
    with capture() as cap:
        app.test_client().get("/orders/3").close()
    assert len([line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]) == 1
