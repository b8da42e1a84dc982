"""One structured JSON log line with trace correlation: obskit next to Powertools, structlog and pjl.

Every case writes the same record to an in-memory sink: timestamp, level, message, logger,
service, trace_id, span_id, correlation_id (obskit adds xray_trace_id too) and the call's
order_id, amount and customer. The ids come from a ContextVar set as a middleware would set it.

- FLOOR: build the dict (epoch-ms timestamp) + ``orjson.dumps`` + ``write``; the least work.
- Powertools Logger: ``_X_AMZN_TRACE_ID`` set, ``set_correlation_id()``, ``append_keys(span_id=...)``.
- structlog: ``merge_contextvars`` + ``add_log_level`` + ISO ``TimeStamper`` + ``JSONRenderer``
  with orjson into a ``BytesLogger`` (the ids bound with ``bind_contextvars``).
- stdlib + python-json-logger: a ``Filter`` copies the ids from the ContextVar onto the record.

The filtered-out rows call ``.debug()`` with the same keywords at level INFO, outside a request.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from contextvars import ContextVar
from typing import Any

from benchmarks._harness import markdown_table, measure, rows

TRACE_ID = "5759e988bd862e3fe1be46a994272793"
SPAN_ID = "53995c3f42cd8ad8"
CORRELATION_ID = "3f1c2a9e-7d4b-4c1e-9a57-2b8e1f0c6d3a"
FIELDS = {"order_id": 7, "amount": 12.5, "customer": "c-1"}
MESSAGE = "order placed"
REFERENCE = "FLOOR: dict + orjson + write"
POWERTOOLS = "Powertools Logger"

_ids: ContextVar[dict[str, str]] = ContextVar("bench_ids")


def _sink_cycle(sink: io.IOBase) -> Any:
    """Truncate the sink now and then so memory stays flat without a per-call cost."""
    counter = [0]

    def reset() -> None:
        counter[0] += 1
        if counter[0] & 0x3FFF == 0:
            sink.seek(0)
            sink.truncate()

    return reset


def _floor_cases() -> dict[str, Any]:
    import orjson

    bsink = io.BytesIO()
    tsink = io.StringIO()
    b_reset, t_reset = _sink_cycle(bsink), _sink_cycle(tsink)
    dumps = orjson.dumps
    encode = json.JSONEncoder(separators=(",", ":")).encode

    def build() -> dict[str, Any]:
        ids = _ids.get()
        return {
            "timestamp": time.time_ns() // 1_000_000, "level": "INFO", "message": MESSAGE,
            "logger": "bench", "service": "svc", "trace_id": ids["trace_id"], "span_id": ids["span_id"],
            "correlation_id": ids["correlation_id"], "order_id": 7, "amount": 12.5, "customer": "c-1",
        }

    def floor() -> None:
        bsink.write(dumps(build()))
        bsink.write(b"\n")
        b_reset()

    def floor_json() -> None:
        tsink.write(encode(build()))
        tsink.write("\n")
        t_reset()

    def if_level(*args: Any, **kw: Any) -> None:
        if 10 >= 20:  # the floor of a filtered call is the comparison itself
            return

    return {
        REFERENCE: floor,
        "floor: dict + json.dumps + write": floor_json,
        "floor: function call + level check (filtered)": lambda: if_level(MESSAGE, **FIELDS),
    }


def _obskit_cases() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Case name -> (callable, configure() options it runs under)."""
    import obskit
    from obskit._context import TelemetryContext

    bsink = io.BytesIO()
    tsink = io.StringIO()
    b_reset, t_reset = _sink_cycle(bsink), _sink_cycle(tsink)
    log = obskit.get_logger("bench")
    std = logging.getLogger("bench.stdlib")
    fresh = obskit.new_trace(correlation_id=CORRELATION_ID)
    obskit.activate(TelemetryContext(TRACE_ID, SPAN_ID, *fresh[2:])).__enter__()

    def line_bytes() -> None:
        log.info(MESSAGE, order_id=7, amount=12.5, customer="c-1")
        b_reset()

    def line_text() -> None:
        log.info(MESSAGE, order_id=7, amount=12.5, customer="c-1")
        t_reset()

    def filtered() -> None:
        log.debug(MESSAGE, order_id=7, amount=12.5, customer="c-1")

    def via_stdlib() -> None:
        std.info(MESSAGE, extra=FIELDS)
        t_reset()

    return {
        "obskit: JSON line (orjson, bytes sink)": (line_bytes, {"log_stream": bsink}),
        "obskit: JSON line (orjson, text sink)": (line_text, {"log_stream": tsink}),
        "obskit: JSON line (stdlib json fallback)": (line_text, {"log_stream": tsink, "log_serializer": "json"}),
        "obskit: stdlib logging record via the bridge": (via_stdlib, {"log_stream": tsink, "logs_bridge": "root"}),
        "obskit: filtered-out .debug()": (filtered, {"log_stream": bsink}),
    }


def _configured(cases: dict[str, tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    """Wrap each obskit case so it runs under its own configuration.

    configure() is global and the harness interleaves cases, so each wrapper reconfigures
    when the previous block belonged to another case: once per block, outside the loop's
    steady state. The check itself (about 0.05 us) stays in the obskit rows; the
    "case-switch wrapper" row measures it around a no-op.
    """
    import obskit

    current: list[Any] = [None]

    def wrap(name: str, fn: Any, options: dict[str, Any]) -> Any:
        def prepared() -> None:
            if current[0] is not name:
                obskit.configure(service="svc", traces="none", metrics="none",
                                 **{"logs_bridge": "none", **options})
                current[0] = name
            fn()

        return prepared

    out = {name: wrap(name, fn, opts) for name, (fn, opts) in cases.items()}
    out["harness: case-switch wrapper around a no-op"] = wrap("noop", lambda: None, {})
    return out


def _powertools_cases() -> dict[str, Any]:
    os.environ["_X_AMZN_TRACE_ID"] = f"Root=1-{TRACE_ID[:8]}-{TRACE_ID[8:]};Parent={SPAN_ID};Sampled=1"
    from aws_lambda_powertools import Logger

    sink = io.StringIO()
    reset = _sink_cycle(sink)
    logger = Logger(service="svc", logger_handler=logging.StreamHandler(sink), level="INFO")
    logger.set_correlation_id(CORRELATION_ID)
    logger.append_keys(span_id=SPAN_ID)

    def line() -> None:
        logger.info(MESSAGE, extra=FIELDS)
        reset()

    return {
        POWERTOOLS: line,
        "Powertools filtered-out .debug()": lambda: logger.debug(MESSAGE, extra=FIELDS),
    }


def _structlog_cases() -> dict[str, Any]:
    import orjson
    import structlog
    from structlog.contextvars import bind_contextvars, merge_contextvars

    sink = io.BytesIO()
    reset = _sink_cycle(sink)
    logger = structlog.wrap_logger(
        structlog.BytesLogger(sink),
        processors=[
            merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        context_class=dict,
        cache_logger_on_first_use=True,
    ).bind(logger="bench", service="svc")
    bind_contextvars(trace_id=TRACE_ID, span_id=SPAN_ID, correlation_id=CORRELATION_ID)

    def line() -> None:
        logger.info(MESSAGE, order_id=7, amount=12.5, customer="c-1")
        reset()

    return {
        "structlog + orjson + merge_contextvars": line,
        "structlog filtered-out .debug()": lambda: logger.debug(MESSAGE, order_id=7, amount=12.5, customer="c-1"),
    }


def _pjl_cases() -> dict[str, Any]:
    try:
        from pythonjsonlogger.json import JsonFormatter
    except ImportError:  # python-json-logger < 3
        from pythonjsonlogger.jsonlogger import JsonFormatter  # type: ignore[no-redef]

    class Ids(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            ids = _ids.get()
            record.trace_id = ids["trace_id"]
            record.span_id = ids["span_id"]
            record.correlation_id = ids["correlation_id"]
            record.service = "svc"
            return True

    sink = io.StringIO()
    reset = _sink_cycle(sink)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(message)s %(name)s"))
    handler.addFilter(Ids())
    logger = logging.getLogger("bench.pjl")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def line() -> None:
        logger.info(MESSAGE, extra=FIELDS)
        reset()

    return {"stdlib logging + python-json-logger": line}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure every case; ratios are against the floor, peer ratios against Powertools."""
    import obskit
    import obskit.testing

    logging.getLogger("obskit").setLevel(logging.ERROR)
    _ids.set({"trace_id": TRACE_ID, "span_id": SPAN_ID, "correlation_id": CORRELATION_ID})
    saved_env = os.environ.get("_X_AMZN_TRACE_ID")
    try:
        cases: dict[str, Any] = {}
        cases.update(_floor_cases())
        cases.update(_configured(_obskit_cases()))
        cases.update(_powertools_cases())
        cases.update(_structlog_cases())
        cases.update(_pjl_cases())
        stats = measure(cases, quick=quick)
    finally:
        obskit.testing.reset()
        if saved_env is None:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        else:
            os.environ["_X_AMZN_TRACE_ID"] = saved_env
    peers = {
        "obskit: JSON line (orjson, bytes sink)": POWERTOOLS,
        "obskit: JSON line (orjson, text sink)": POWERTOOLS,
        "obskit: JSON line (stdlib json fallback)": POWERTOOLS,
        "obskit: stdlib logging record via the bridge": POWERTOOLS,
        "structlog + orjson + merge_contextvars": POWERTOOLS,
        "stdlib logging + python-json-logger": POWERTOOLS,
        "obskit: filtered-out .debug()": "Powertools filtered-out .debug()",
        "structlog filtered-out .debug()": "Powertools filtered-out .debug()",
    }
    return rows(stats, reference=REFERENCE, peers=peers)


if __name__ == "__main__":
    import sys

    print(markdown_table(run(quick="--quick" in sys.argv)))
