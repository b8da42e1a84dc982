"""The pure ASGI middleware: status, body size, streaming, exceptions, disconnects, pass-through."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import pytest

import obskit
from obskit import semconv
from obskit.integrations.asgi import ObskitMiddleware
from obskit.testing import FixedClock, capture

from ._uvicorn import serve, wait_for

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _scope(path: str = "/hello", kind: str = "http", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": kind, "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers or [(b"host", b"test"), (b"user-agent", b"ua/1")],
        "client": ("10.1.2.3", 5000), "server": ("127.0.0.1", 80),
    }


def _run(app: Any, scope: dict, messages: list[dict] | None = None) -> list[dict]:
    """Drive one ASGI call; returns what the app sent."""
    sent: list[dict] = []
    incoming = list(messages or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _hello(status: int = 200, body: bytes = b"hello") -> Any:
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return app


def _access(cap) -> dict:
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert len(lines) == 1, cap.logs
    return lines[0]


def test_status_and_body_size_are_recorded() -> None:
    """The status of http.response.start and the bytes of the body reach span and access line."""
    with capture() as cap:
        sent = _run(ObskitMiddleware(_hello(201, b"12345")), _scope())
    assert sent[0]["status"] == 201
    line = _access(cap)
    assert line[semconv.LOG_HTTP_STATUS] == 201
    assert line[semconv.LOG_RESPONSE_SIZE] == 5
    assert line[semconv.LOG_USER_AGENT] == "ua/1"
    assert line[semconv.LOG_CLIENT_IP] == "10.1.2.3"
    assert cap.spans[0]["attributes"][semconv.ATTR_HTTP_STATUS] == 201


def test_incoming_traceparent_is_continued() -> None:
    """The server span's parent is the span named by the incoming traceparent header."""
    scope = _scope(headers=[(b"traceparent", TRACEPARENT.encode())])
    with capture() as cap:
        _run(ObskitMiddleware(_hello()), scope)
    assert cap.spans[0]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert cap.spans[0]["parent_span_id"] == "b7ad6b7169203331"


def test_correlation_id_is_added_to_the_response() -> None:
    """The response carries x-correlation-id: the incoming one, echoed back."""
    scope = _scope(headers=[(b"x-correlation-id", b"abc-123")])
    with capture():
        sent = _run(ObskitMiddleware(_hello()), scope)
    assert (b"x-correlation-id", b"abc-123") in sent[0]["headers"]


def test_correlation_id_set_by_the_app_is_kept() -> None:
    """An app that sends its own X-Correlation-Id (any case) gets no second one added."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"X-Correlation-Id", b"mine")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with capture():
        sent = _run(ObskitMiddleware(app), _scope(headers=[(b"x-correlation-id", b"abc-123")]))
    assert sent[0]["headers"] == [(b"X-Correlation-Id", b"mine")]


def test_traceparent_response_header_when_enabled() -> None:
    """With response_headers=['traceparent'] the response names the server span."""
    with capture() as cap:
        sent = _run(ObskitMiddleware(_hello(), response_headers=["traceparent"]), _scope())
    headers = dict(sent[0]["headers"])
    assert headers[b"traceparent"].decode().startswith(f"00-{cap.spans[0]['trace_id']}-{cap.spans[0]['span_id']}-")
    assert b"x-correlation-id" not in headers


@pytest.mark.parametrize("kind", ["websocket"])
def test_non_http_scopes_pass_through_untouched(kind: str) -> None:
    """websocket scopes reach the app with the original receive and send (lifespan: tests/operations)."""
    seen: dict[str, Any] = {}

    async def app(scope, receive, send):
        seen["receive"], seen["send"] = receive, send

    async def receive():
        return {}

    async def send(message):
        return None

    with capture() as cap:
        asyncio.run(ObskitMiddleware(app)(_scope(kind=kind), receive, send))
    assert seen == {"receive": receive, "send": send}
    assert cap.spans == []


def test_exception_before_response_is_a_500_fault() -> None:
    """An exception before http.response.start is re-raised and counted as a 500 fault."""
    async def app(scope, receive, send):
        raise ValueError("nope")

    with capture() as cap, pytest.raises(ValueError, match="nope"):
        _run(ObskitMiddleware(app), _scope())
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 500
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    assert cap.spans[0]["attributes"][semconv.ATTR_ERROR_TYPE] == "ValueError"


def test_exception_after_response_started_is_a_fault_with_the_sent_status() -> None:
    """An exception mid-body keeps the status that was sent and still counts as a fault."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("mid-stream")

    with capture() as cap, pytest.raises(RuntimeError):
        _run(ObskitMiddleware(app), _scope())
    line = _access(cap)
    assert line[semconv.LOG_HTTP_STATUS] == 200
    assert line[semconv.LOG_ERROR_TYPE] == "RuntimeError"
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]


def test_app_that_sends_nothing_counts_as_500() -> None:
    """An app that returns without a response gets the 500 the server sends for it."""
    async def app(scope, receive, send):
        return None

    with capture() as cap:
        _run(ObskitMiddleware(app), _scope())
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 500
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]


def test_streaming_response_is_timed_to_the_last_chunk() -> None:
    """Latency ends when the last body chunk is sent, not when later work in the app finishes."""
    clock = FixedClock()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        clock.advance(ms=5)
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        clock.advance(ms=5)
        await send({"type": "http.response.body", "body": b"b", "more_body": False})
        clock.advance(ms=1000)  # a background task after the response

    with capture(clock=clock) as cap:
        _run(ObskitMiddleware(app), _scope())
    assert _access(cap)[semconv.LOG_DURATION_MS] == 10.0
    assert cap.metric_values(semconv.METRIC_LATENCY) == [10.0]


def test_excluded_route_passes_straight_through() -> None:
    """An excluded path gets the original send (no wrapper) and no telemetry."""
    with capture() as cap:
        sent = _run(ObskitMiddleware(_hello(), excluded_routes=["/health"]), _scope("/health"))
    assert sent[0]["status"] == 200
    assert all(name != b"x-correlation-id" for name, _ in sent[0]["headers"])
    assert cap.logs == []
    assert cap.metrics == []


def test_hostile_headers_do_not_change_the_response() -> None:
    """Malformed and oversized headers leave the response as it was and start a fresh trace."""
    headers = [
        (b"traceparent", b"00-zzzz-not-a-trace-01"), (b"user-agent", b"\xff" * 50_000),
        (b"x-forwarded-for", b"," * 10_000), (b"x-amzn-trace-id", b"Root=;;;;"), (b"baggage", b"=" * 9000),
    ]
    with capture() as cap:
        sent = _run(ObskitMiddleware(_hello(body=b"same")), _scope(headers=headers))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"same"
    assert cap.spans[0]["parent_span_id"] is None
    assert len(_access(cap)[semconv.LOG_USER_AGENT]) <= 1024


def test_client_disconnect_mid_stream_is_not_a_fault() -> None:
    """A client that goes away mid-stream is logged as disconnected, not counted as a fault."""
    log = obskit.get_logger("stream")

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

        async def stream() -> None:
            for _ in range(1000):
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                await asyncio.sleep(0.005)
            log.info("finished streaming")
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        task = asyncio.ensure_future(stream())
        while (await receive())["type"] != "http.disconnect":  # the way Starlette listens
            pass
        task.cancel()

    with capture() as cap, serve(ObskitMiddleware(app)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 200")
        wait_for(lambda: any(line.get("logger") == semconv.ACCESS_LOGGER for line in cap.logs), 10)
    line = _access(cap)
    assert line[semconv.LOG_CLIENT_DISCONNECTED] is True
    assert line[semconv.LOG_HTTP_STATUS] == 200
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]


class _ServerRequest:
    """Stands for a server's per-request object (uvicorn's cycle): its send schedules a keep-alive
    timer once the response is complete, and the timer copies the current context."""

    def __init__(self, timers: list[asyncio.TimerHandle]) -> None:
        self.timers = timers
        self.payload = [bytearray(1024) for _ in range(10)]  # what a server holds per request

    async def receive(self) -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.timers.append(asyncio.get_running_loop().call_later(3600, lambda: None))


def test_a_timer_scheduled_during_the_request_does_not_keep_the_servers_request() -> None:
    """The timer's context copy holds the request scope, but the scope no longer holds the server's request."""
    import weakref

    timers: list[asyncio.TimerHandle] = []

    async def main() -> weakref.ref[_ServerRequest]:
        server = _ServerRequest(timers)
        ref = weakref.ref(server)
        with capture() as cap:
            await ObskitMiddleware(_hello())(_scope(), server.receive, server.send)
        assert _access(cap)[semconv.LOG_HTTP_STATUS] == 200
        del server
        assert len(timers) == 1  # still scheduled, its context copy alive
        return ref

    ref = asyncio.run(main())
    assert ref() is None


def test_a_timer_scheduled_during_a_failed_request_does_not_keep_its_traceback() -> None:
    """The exception is on the span and the access line; the scope lets go of it, and of every frame it holds."""
    import weakref

    class Held:
        pass

    timers: list[asyncio.TimerHandle] = []
    refs: list[weakref.ref[Held]] = []

    async def app(scope, receive, send):
        held = Held()  # a local of the failed request, kept alive by the traceback's frame
        refs.append(weakref.ref(held))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        raise RuntimeError("after the response")

    async def main() -> None:
        server = _ServerRequest(timers)
        with capture() as cap, pytest.raises(RuntimeError):
            await ObskitMiddleware(app)(_scope(), server.receive, server.send)
        assert _access(cap)[semconv.LOG_ERROR_TYPE] == "RuntimeError"
        assert len(timers) == 1  # still scheduled, its context copy alive

    asyncio.run(main())
    gc.collect()  # the failed frame and its traceback are a cycle: the collector frees them, unless held
    assert refs[0]() is None


def test_send_and_receive_after_the_app_returned_answer_as_a_server_does() -> None:
    """A kept send raises RuntimeError (uvicorn's answer too); a kept receive reports the disconnect."""
    kept: list[Any] = []

    async def app(scope, receive, send):
        kept.extend((send, receive))
        await _hello()(scope, receive, send)

    async def main() -> None:
        server = _ServerRequest([])
        await ObskitMiddleware(app)(_scope(), server.receive, server.send)
        with pytest.raises(RuntimeError, match="after the application returned"):
            await kept[0]({"type": "http.response.body", "body": b"late"})
        assert await kept[1]() == {"type": "http.disconnect"}

    asyncio.run(main())


def test_a_task_waiting_for_the_disconnect_after_the_app_returned_gets_it_under_uvicorn() -> None:
    """A task the app leaves behind awaits receive() after the response: it gets http.disconnect, as without obskit."""
    seen: list[Any] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return

        async def watch() -> None:
            await asyncio.sleep(0.05)
            try:
                seen.append((await receive())["type"])
            except Exception as exc:  # what the task would see
                seen.append(repr(exc))

        asyncio.get_running_loop().create_task(watch())
        await _hello()(scope, receive, send)

    with capture(), serve(ObskitMiddleware(app)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 200")
        wait_for(lambda: bool(seen))
    assert seen == ["http.disconnect"]


@pytest.mark.parametrize(("key", "value"), [("client", 5), ("client", ()), ("root_path", 5), ("path", None),
                                            ("method", b"GET"), ("headers", [5, (b"a",)])])
def test_a_scope_no_server_makes_is_still_served_and_traced(key: str, value: Any) -> None:
    scope = _scope()
    scope[key] = value
    with capture() as cap:
        sent = _run(ObskitMiddleware(_hello()), scope)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert len(cap.spans) == 1
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 200


@pytest.mark.parametrize("body", [5, "text", None])
def test_a_body_that_is_not_bytes_reaches_the_server_as_it_is(body: Any) -> None:
    with capture() as cap:
        sent = _run(ObskitMiddleware(_hello(body=body)), _scope())
    assert sent[-1]["body"] == body
    assert len(cap.spans) == 1


def test_response_headers_of_another_iterable_kind_are_left_to_the_server() -> None:
    headers = iter([(b"content-type", b"text/plain")])

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with capture():
        sent = _run(ObskitMiddleware(app), _scope())
    assert sent[0]["headers"] is headers
