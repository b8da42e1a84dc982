"""Every runtime call of the public API, with values of every wrong type: nothing is raised into the caller.

Configuration-time calls (``configure()``, ``instrument(app, ...)``) raise ``ConfigError`` for bad
values and are tested where they live; these are the calls an app makes while it serves.
"""

# ruff: noqa: PLW0108, PLE1206 - a table of uniform lambdas; the format-argument case is wrong on purpose
from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import obskit
from _odd import Unprintable
from obskit import metrics
from obskit.scope import request_scope
from obskit.testing import capture
from obskit.tracing import start_span


class _BadMapping(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("items")

    def keys(self) -> Any:
        raise RuntimeError("keys")

    def get(self, *args: Any) -> Any:
        raise RuntimeError("get")

    def __iter__(self) -> Any:
        raise RuntimeError("iter")


ODD: list[Any] = [
    None, "", "x" * 300_000, "\x00\ud800é", float("nan"), float("inf"), -1, 0, 10**30, True, [], {}, [1, [2]],
    {"a": object()}, {1: 2}, b"\xff\xfe", bytearray(b"ab"), object(), Unprintable(), _BadMapping(a=1),
    {"k": Unprintable()}, [("a", "b")], 3.5,
]

log = obskit.get_logger("odd")


def _in(cm: Any, body: Callable[[Any], Any] = lambda _: None) -> None:
    with cm as value:
        body(value)


CALLS: dict[str, Callable[[Any], Any]] = {
    "log message": lambda v: log.info(v),
    "log format argument": lambda v: log.info("a %s %d", v),
    "log field": lambda v: log.info("m", k=v),
    "log exc_info": lambda v: log.info("m", exc_info=v),
    "bound logger field": lambda v: log.bind(k=v).info("m"),
    "log level": lambda v: log.log(v, "m"),
    "logger name": lambda v: obskit.get_logger(v).info("m"),
    "logger fields": lambda v: obskit.get_logger("n", k=v).info("m"),
    "is_enabled_for": lambda v: log.is_enabled_for(v),
    "bound()": lambda v: _in(obskit.bound(k=v), lambda _: log.info("in")),
    "span name": lambda v: _in(obskit.span(v)),
    "span kind": lambda v: _in(obskit.span("s", kind=v)),
    "span attributes": lambda v: _in(obskit.span("s", attributes=v)),
    "span decorator name": lambda v: obskit.span(v)(lambda: 1)(),
    "set_attribute key": lambda v: _in(obskit.span("s"), lambda s: s.set_attribute(v, 1)),
    "set_attribute value": lambda v: _in(obskit.span("s"), lambda s: s.set_attribute("k", v)),
    "set_attributes": lambda v: _in(obskit.span("s"), lambda s: s.set_attributes(v)),
    "span set_status": lambda v: _in(obskit.span("s"), lambda s: s.set_status(v, v)),
    "span record_exception": lambda v: _in(obskit.span("s"), lambda s: s.record_exception(v)),
    "span rename": lambda v: _in(obskit.span("s"), lambda s: setattr(s, "name", v)),
    "span end time": lambda v: start_span("s").end(v),
    "metric name": lambda v: metrics.count(v),
    "metric value": lambda v: metrics.count("C", v),
    "metric dimensions": lambda v: metrics.count("C", 1, dimensions=v),
    "metric dimension value": lambda v: metrics.count("C", 1, dimensions={"D": v}),
    "metric properties": lambda v: metrics.count("C", 1, properties=v),
    "metric unit": lambda v: metrics.record("R", 1, v),
    "metric resolution": lambda v: metrics.record("R", 1, "Count", resolution=v),
    "timing name": lambda v: _in(metrics.timing(v)),
    "timing dimensions": lambda v: _in(metrics.timing("T", dimensions=v)),
    "metrics.flush timeout": lambda v: metrics.flush(v),
    "flush timeout": lambda v: obskit.flush(v),
    "extract carrier": lambda v: obskit.extract(v),
    "extract getter": lambda v: obskit.extract({"traceparent": "x"}, getter=v),
    "extract correlation_id": lambda v: obskit.extract({}, correlation_id=v),
    "extract header values": lambda v: obskit.extract(
        {"traceparent": v, "tracestate": v, "baggage": v, "x-amzn-trace-id": v, "x-correlation-id": v}
    ),
    "inject carrier": lambda v: obskit.inject(v),
    "inject context": lambda v: obskit.inject({}, context=v),
    "inject setter": lambda v: obskit.inject({}, setter=v),
    "new_trace sampled": lambda v: obskit.new_trace(sampled=v),
    "new_trace correlation_id": lambda v: obskit.new_trace(correlation_id=v),
    "new_trace baggage": lambda v: obskit.new_trace(baggage=v),
    "activate": lambda v: _in(obskit.activate(v), lambda _: log.info("in")),
    "run_in_context": lambda v: obskit.run_in_context(v),
    "request_scope method": lambda v: _in(request_scope(v, "/p"), lambda r: r.set_status(200)),
    "request_scope path": lambda v: _in(request_scope("GET", v), lambda r: r.set_status(200)),
    "request_scope route": lambda v: _in(request_scope("GET", "/p", route=v)),
    "request_scope operation": lambda v: _in(request_scope(None, operation=v)),
    "request_scope carrier": lambda v: _in(request_scope("GET", "/p", carrier=v)),
    "request_scope attributes": lambda v: _in(request_scope("GET", "/p", attributes=v)),
    "request_scope fields": lambda v: _in(request_scope("GET", "/p", fields=v), lambda _: log.info("in")),
    "request_scope links": lambda v: _in(request_scope("GET", "/p", links=v)),
    "request_scope client": lambda v: _in(request_scope("GET", "/p", peer=v, forwarded_for=v, user_agent=v)),
    "request_scope host": lambda v: _in(request_scope("GET", "/p", scheme=v, host=v)),
    "set_route": lambda v: _in(request_scope("GET", "/p"), lambda r: r.set_route(v)),
    "set_status": lambda v: _in(request_scope("GET", "/p"), lambda r: r.set_status(v)),
    "add_response_size": lambda v: _in(request_scope("GET", "/p"), lambda r: r.add_response_size(v)),
    "request end exception": lambda v: request_scope("GET", "/p").end(v),
}


@pytest.fixture(scope="module")
def daemon_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("call", sorted(CALLS))
def test_no_odd_argument_is_raised_into_the_app(call: str, daemon_port: int) -> None:
    """Under capture, then with every signal written for real (JSON logs, EMF to a file, X-Ray over UDP)."""
    fn = CALLS[call]
    with capture():
        for value in ODD:
            fn(value)
    obskit.configure(service="odd", traces="xray", xray_daemon_address=f"127.0.0.1:{daemon_port}",
                     metrics="file", emf_file_path=os.devnull, logs="json", log_stream=_Sink())
    for value in ODD:
        fn(value)
    obskit.flush()
    failed = {k: n for k, n in obskit.diagnostics().items() if k.startswith("emitter.") or "render_failure" in k}
    assert failed == {} or call in _HOSTILE_ONLY, failed


_HOSTILE_ONLY = {"log message", "log field", "bound logger field", "bound()", "logger fields", "log exc_info"}
"""Calls whose only emitter-side loss is a line with an object whose ``__str__`` and ``__repr__`` both raise."""


class _Sink:
    def write(self, line: Any) -> int:
        return len(line)
