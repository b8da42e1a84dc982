"""The WSGI middleware: the scope ends with the body, start_response, close and exceptions."""

from __future__ import annotations

from typing import Any

import pytest

import obskit
from _odd import Unprintable
from obskit import semconv
from obskit.integrations.wsgi import ObskitMiddleware
from obskit.testing import FixedClock, capture


def _environ(path: str = "/x", **headers: str) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "SERVER_NAME": "test",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "REMOTE_ADDR": "10.0.0.7", "HTTP_HOST": "test",
    }
    env.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return env


class _Server:
    """What a WSGI server does: call, iterate, close."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status, self.headers = status, headers
        return lambda data: None

    def run(self, app: Any, environ: dict[str, Any]) -> bytes:
        result = app(environ, self.start_response)
        try:
            return b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


def _access(cap) -> dict:
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert len(lines) == 1, cap.logs
    return lines[0]


def test_status_headers_and_size() -> None:
    """start_response's status is recorded, the correlation header added, the body counted."""
    def app(environ, start_response):
        start_response("202 Accepted", [("Content-Type", "text/plain")])
        return [b"ab", b"cde"]

    server = _Server()
    with capture() as cap:
        assert server.run(ObskitMiddleware(app), _environ(x_correlation_id="c-1")) == b"abcde"
    assert server.status == "202 Accepted"
    assert ("x-correlation-id", "c-1") in server.headers
    line = _access(cap)
    assert line[semconv.LOG_HTTP_STATUS] == 202
    assert line[semconv.LOG_RESPONSE_SIZE] == 5
    assert line[semconv.LOG_CLIENT_IP] == "10.0.0.7"


def test_generator_body_is_timed_to_the_last_chunk_and_closed() -> None:
    """The latency ends at the last chunk; the app iterable's close() still runs."""
    clock = FixedClock()
    closed: list[bool] = []

    class Body:
        def __iter__(self):
            yield b"a"
            clock.advance(ms=7)
            yield b"b"

        def close(self):
            clock.advance(ms=100)
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Body()

    with capture(clock=clock) as cap:
        _Server().run(ObskitMiddleware(app), _environ())
    assert closed == [True]
    assert _access(cap)[semconv.LOG_DURATION_MS] == 7.0


def test_exception_while_iterating_is_a_fault() -> None:
    """An exception raised by the body generator is re-raised and counted as a fault."""
    def app(environ, start_response):
        start_response("200 OK", [])

        def body():
            yield b"a"
            raise OSError("disk gone")

        return body()

    with capture() as cap, pytest.raises(OSError, match="disk gone"):
        _Server().run(ObskitMiddleware(app), _environ())
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    assert _access(cap)[semconv.LOG_ERROR_TYPE] == "OSError"


def test_exception_before_start_response_is_a_500_fault() -> None:
    """An app that raises at once: the same exception, status 500, Fault=1."""
    def app(environ, start_response):
        raise LookupError("no")

    with capture() as cap, pytest.raises(LookupError):
        _Server().run(ObskitMiddleware(app), _environ())
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 500
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]


def test_closed_before_exhausted_still_ends_the_scope() -> None:
    """A server that closes the body early (client gone) still gets the request's telemetry."""
    def app(environ, start_response):
        start_response("200 OK", [])
        return iter([b"a", b"b", b"c"])

    with capture() as cap:
        result = ObskitMiddleware(app)(_environ(), _Server().start_response)
        assert next(iter(result)) == b"a"
        result.close()
    assert _access(cap)[semconv.LOG_RESPONSE_SIZE] == 1


def test_excluded_route_returns_the_app_iterable_itself() -> None:
    """An excluded path gets the app's own iterable back and no telemetry."""
    body = [b"ok"]

    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    with capture() as cap:
        assert ObskitMiddleware(app, excluded_routes=["/health"])(_environ("/health"), _Server().start_response) is body
    assert cap.logs == []


def test_forwarded_for_is_believed_only_when_trusted() -> None:
    """X-Forwarded-For sets client_ip only with trust_forwarded_for."""
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    with capture() as cap:
        _Server().run(ObskitMiddleware(app), _environ(x_forwarded_for="1.2.3.4"))
        _Server().run(ObskitMiddleware(app, trust_forwarded_for=True), _environ(x_forwarded_for="1.2.3.4"))
    ips = [line[semconv.LOG_CLIENT_IP] for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert ips == ["10.0.0.7", "1.2.3.4"]


def test_a_correlation_header_the_app_set_is_kept() -> None:
    """If the app already sent X-Correlation-Id (any case), obskit adds no second one."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Correlation-Id", "mine")])
        return [b"ok"]

    server = _Server()
    with capture():
        server.run(ObskitMiddleware(app), _environ(x_correlation_id="c-1"))
    assert [h for h in server.headers if h[0].lower() == "x-correlation-id"] == [("X-Correlation-Id", "mine")]


def test_several_response_headers_are_added_unless_present() -> None:
    """With several response headers configured, each is added once, and one the app set is left alone."""
    def app(environ, start_response):
        start_response("200 OK", [("Traceparent", "app-value")])
        return [b"ok"]

    server = _Server()
    with capture():
        server.run(ObskitMiddleware(app, response_headers=["x-correlation-id", "traceparent"]),
                   _environ(x_correlation_id="c-2"))
    names = [h[0].lower() for h in server.headers]
    assert names.count("traceparent") == 1
    assert ("Traceparent", "app-value") in server.headers
    assert ("x-correlation-id", "c-2") in server.headers


def _plain_app(status: Any = "200 OK", headers: Any = None, body: Any = (b"ok",)) -> Any:
    def app(environ, start_response):
        start_response(status, [("Content-Type", "text/plain")] if headers is None else headers)
        return body

    return app


@pytest.mark.parametrize(("key", "value"), [("SCRIPT_NAME", 5), ("PATH_INFO", 7), ("REQUEST_METHOD", b"GET"),
                                            ("HTTP_USER_AGENT", ["ua"]), ("REMOTE_ADDR", None)])
def test_an_environ_no_server_makes_is_still_served_and_traced(key: str, value: Any) -> None:
    env = _environ()
    env[key] = value
    server = _Server()
    with capture() as cap:
        assert server.run(ObskitMiddleware(_plain_app()), env) == b"ok"
    assert server.status == "200 OK"
    assert len(cap.spans) == 1
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 200


def test_an_environ_that_cannot_be_read_at_all_is_served_untraced_and_counted() -> None:
    env = _environ()
    env["REQUEST_METHOD"] = Unprintable()
    server = _Server()
    with capture() as cap:
        assert server.run(ObskitMiddleware(_plain_app()), env) == b"ok"
    assert server.status == "200 OK"
    assert cap.spans == []
    assert obskit.diagnostics()["scope.error"] == 1
    assert not obskit.current().is_valid  # nothing left behind in the context


@pytest.mark.parametrize("headers", [(("Content-Type", "text/plain"),), "", [("Content-Type",)], [5]])
def test_response_headers_of_another_shape_reach_the_server_as_the_app_made_them(headers: Any) -> None:
    """Not a list: untouched. A list with odd items: kept, in order (the correlation header may follow)."""
    server = _Server()
    with capture():
        server.run(ObskitMiddleware(_plain_app(headers=headers)), _environ())
    if isinstance(headers, list):
        assert server.headers[: len(headers)] == headers
        assert len(server.headers) <= len(headers) + 1
    else:
        assert server.headers is headers


@pytest.mark.parametrize(("status", "recorded"), [(b"200 OK", 200), ("OK", None), (None, None), (200, None)])
def test_a_status_line_of_another_shape_reaches_the_server_as_it_is(status: Any, recorded: int | None) -> None:
    server = _Server()
    with capture() as cap:
        server.run(ObskitMiddleware(_plain_app(status=status)), _environ())
    assert server.status == status
    assert _access(cap).get(semconv.LOG_HTTP_STATUS) == recorded


def test_body_chunks_that_are_not_bytes_reach_the_server_as_they_are() -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return [1, b"ab"]

    with capture() as cap:
        result = ObskitMiddleware(app)(_environ(), lambda *a: None)
        assert list(result) == [1, b"ab"]
        result.close()
    assert _access(cap)[semconv.LOG_RESPONSE_SIZE] == 2


def test_a_body_closed_before_it_ran_out_marks_the_client_disconnected() -> None:
    """What a server does when a write fails: it stops iterating and closes the body."""
    closed = []

    def app(environ, start_response):
        start_response("200 OK", [])

        def body():
            try:
                yield b"one"
                yield b"two"
            finally:
                closed.append(True)

        return body()

    with capture() as cap:
        result = ObskitMiddleware(app)(_environ(), lambda *a: None)
        assert next(iter(result)) == b"one"
        result.close()
    line = _access(cap)
    assert line[semconv.LOG_CLIENT_DISCONNECTED] is True
    assert (line[semconv.LOG_HTTP_STATUS], line[semconv.LOG_RESPONSE_SIZE]) == (200, 3)
    assert closed == [True]
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]


def test_a_body_read_to_the_end_is_not_a_disconnect() -> None:
    with capture() as cap:
        _Server().run(ObskitMiddleware(_plain_app()), _environ())
    assert semconv.LOG_CLIENT_DISCONNECTED not in _access(cap)


def test_an_app_wrapped_twice_gives_one_request() -> None:
    """Two obskit middlewares on one app: the outer keeps the request, the inner adds a child span."""
    app = ObskitMiddleware(ObskitMiddleware(_plain_app(status="201 Created")))
    server = _Server()
    with capture() as cap:
        assert server.run(app, _environ()) == b"ok"
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 201
    assert sorted(s["kind"] for s in cap.spans) == ["internal", "server"]
    assert [h for h in server.headers if h[0] == "x-correlation-id"] == server.headers[-1:]


def test_a_request_after_one_whose_body_was_never_read_is_its_own() -> None:
    """A complete body never read is still a finished request, and the next one is its own."""
    app = ObskitMiddleware(_plain_app())
    with capture() as cap:
        app(_environ("/first"), lambda *a: None)  # the body is never read nor closed
        _Server().run(app, _environ("/second"))
    assert [line[semconv.LOG_HTTP_PATH] for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER] == [
        "/first", "/second"
    ]
