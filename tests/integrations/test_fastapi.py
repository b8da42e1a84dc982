"""FastAPI through a real uvicorn server on 127.0.0.1: names, statuses, streaming, concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, HTTPException
from fastapi.responses import PlainTextResponse, StreamingResponse

import obskit
from obskit import semconv
from obskit.integrations.fastapi import instrument
from obskit.testing import FixedClock, capture

from ._uvicorn import serve, wait_for

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"

log = obskit.get_logger("app")
CLOCK = FixedClock()


def _app(**options) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict:
        log.info("order read", order_id=order_id)
        return {"id": order_id}

    @app.get("/sync/{item}")
    def sync_item(item: str, expected: str) -> PlainTextResponse:
        log.info("sync endpoint", expected=expected)
        return PlainTextResponse(item)

    @app.get("/async/{item}")
    async def async_item(item: str, expected: str) -> PlainTextResponse:
        await asyncio.sleep(0.001)
        log.info("async endpoint", expected=expected)
        return PlainTextResponse(item)

    @app.get("/missing/{thing}")
    async def missing(thing: str) -> None:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    @app.get("/unavailable")
    async def unavailable() -> PlainTextResponse:
        return PlainTextResponse("later", status_code=503)

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/stream")
    async def stream(background: BackgroundTasks) -> StreamingResponse:
        async def body() -> Iterator[bytes]:
            yield b"first,"
            CLOCK.advance(ms=20)
            yield b"last"

        background.add_task(CLOCK.advance, ms=1000)
        return StreamingResponse(body(), background=background)

    return instrument(app, **options)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(_app(excluded_routes=["/health"])) as url:
        yield url


def _access_lines(cap) -> list[dict]:
    return [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]


def _get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, timeout=10, **kwargs)


def _done(cap, n: int = 1) -> None:
    wait_for(lambda: len(_access_lines(cap)) >= n)


def test_incoming_traceparent_continues_the_trace(server: str) -> None:
    """Log lines and the server span of a request belong to the trace the caller sent."""
    with capture() as cap:
        assert _get(f"{server}/orders/7", headers={"traceparent": TRACEPARENT}).json() == {"id": 7}
        _done(cap)
    assert cap.logs_with(message="order read")[0]["trace_id"] == TRACE
    (span,) = cap.spans
    assert span["trace_id"] == TRACE
    assert span["parent_span_id"] == "b7ad6b7169203331"


def test_route_template_names_span_and_operation(server: str) -> None:
    """The span and the Operation dimension use /orders/{order_id}, not /orders/7."""
    with capture() as cap:
        _get(f"{server}/orders/7")
        _done(cap)
    assert cap.spans[0]["name"] == "GET /orders/{order_id}"
    assert cap.metric_values(semconv.METRIC_LATENCY, {semconv.DIM_OPERATION: "GET /orders/{order_id}"})
    assert _access_lines(cap)[0][semconv.LOG_HTTP_ROUTE] == "/orders/{order_id}"


def test_correlation_id_comes_back_in_the_response(server: str) -> None:
    """The response header x-correlation-id matches the id on the request's log lines."""
    with capture() as cap:
        response = _get(f"{server}/orders/1")
        _done(cap)
    assert response.headers["x-correlation-id"] == cap.logs_with(message="order read")[0]["correlation_id"]


def test_http_exception_4xx_is_an_error(server: str) -> None:
    """An HTTPException(404) gives Error=1 and Fault=0 under the route's Operation."""
    with capture() as cap:
        assert _get(f"{server}/missing/x").status_code == 404
        _done(cap)
    dims = {semconv.DIM_OPERATION: "GET /missing/{thing}"}
    assert cap.metric_values(semconv.METRIC_ERROR, dims) == [1]
    assert cap.metric_values(semconv.METRIC_FAULT, dims) == [0]


def test_5xx_response_is_a_fault(server: str) -> None:
    """A 503 returned by the endpoint gives Fault=1."""
    with capture() as cap:
        assert _get(f"{server}/unavailable").status_code == 503
        _done(cap)
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    assert cap.metric_values(semconv.METRIC_ERROR) == [0]


def test_unhandled_exception_is_a_fault_with_the_500_sent(server: str) -> None:
    """An unhandled exception: the client gets FastAPI's 500, obskit records Fault=1 and the exception."""
    with capture() as cap:
        assert _get(f"{server}/boom").status_code == 500
        _done(cap)
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    span = cap.spans[0]
    assert span["name"] == "GET /boom"
    assert span["status"] == "error"
    assert span["attributes"][semconv.ATTR_ERROR_TYPE] == "RuntimeError"
    assert span["attributes"][semconv.ATTR_HTTP_STATUS] == 500


def test_unknown_path_is_not_an_operation(server: str) -> None:
    """A 404 for a path no route matches counts at service level only, never as its raw path."""
    with capture() as cap:
        assert _get(f"{server}/no/such/path").status_code == 404
        _done(cap)
    assert cap.metric_values(semconv.METRIC_ERROR) == [1]
    assert all(semconv.DIM_OPERATION not in doc for doc in cap.metrics)


def test_excluded_route_leaves_no_telemetry(server: str) -> None:
    """/health, excluded, gets no span, no metrics and no access line."""
    with capture() as cap:
        assert _get(f"{server}/health").text == "ok"
        _get(f"{server}/orders/2")
        _done(cap)
    assert [line[semconv.LOG_HTTP_ROUTE] for line in _access_lines(cap)] == ["/orders/{order_id}"]
    assert len(cap.spans) == 1


def test_streaming_response_is_timed_to_the_last_chunk(server: str) -> None:
    """A StreamingResponse's latency ends at its last chunk, before its background task runs."""
    with capture(clock=CLOCK) as cap:
        assert _get(f"{server}/stream").content == b"first,last"
        _done(cap)
    assert _access_lines(cap)[0][semconv.LOG_DURATION_MS] == 20.0
    assert cap.metric_values(semconv.METRIC_LATENCY) == [20.0]


def test_sync_endpoint_logs_carry_the_request_trace(server: str) -> None:
    """A sync endpoint runs in the thread pool and its log lines still carry the request's ids."""
    with capture() as cap:
        _get(f"{server}/sync/a", params={"expected": TRACE}, headers={"traceparent": TRACEPARENT})
        _done(cap)
    line = cap.logs_with(message="sync endpoint")[0]
    assert line["trace_id"] == TRACE
    assert line["span_id"] == cap.spans[0]["span_id"]


def test_200_concurrent_requests_each_log_only_their_own_trace(server: str) -> None:
    """200 concurrent requests, async and sync endpoints mixed: every line carries its own trace id."""
    traces = [f"{i + 1:032x}" for i in range(200)]

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server, timeout=30, limits=limits) as client:
            calls = [
                client.get(
                    f"/{'sync' if i % 2 else 'async'}/{i}",
                    params={"expected": trace},
                    headers={"traceparent": f"00-{trace}-{i + 1:016x}-01"},
                )
                for i, trace in enumerate(traces)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    with capture() as cap:
        assert asyncio.run(run()) == [200] * 200
        _done(cap, 200)
    inside = [line for line in cap.logs if line.get("message") in ("sync endpoint", "async endpoint")]
    assert len(inside) == 200
    assert all(line["trace_id"] == line["expected"] for line in inside)
    assert {line["trace_id"] for line in _access_lines(cap)} == set(traces)


def test_instrument_twice_keeps_one_middleware() -> None:
    """instrument() on an instrumented app does nothing: one access line per request."""
    app = _app()
    instrument(app)
    with capture() as cap, serve(app) as url:
        _get(f"{url}/orders/3")
        _done(cap)
        time.sleep(0.05)
    assert len(_access_lines(cap)) == 1


def test_instrument_rejects_a_non_starlette_app() -> None:
    """instrument() on something that is not a Starlette app says what to use instead."""
    with pytest.raises(TypeError, match="ObskitMiddleware"):
        instrument(object())
