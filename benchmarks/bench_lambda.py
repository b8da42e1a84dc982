"""One Lambda invocation with a log line, a metric and the function's X-Ray segment, per library.

The setup emulates Lambda: ``AWS_LAMBDA_FUNCTION_NAME``,
``LAMBDA_TASK_ROOT``, a sampled ``_X_AMZN_TRACE_ID`` and an API Gateway REST event (the sample in
``tests/integrations/events``). The handler logs one line, records one metric and returns a
small dict. Standard output, where Lambda's logs and EMF go, is /dev/null while timing (block
buffered, as in every other module; in Lambda the runtime flushes every write, so each line
costs its own ``write`` there, for every library alike: obskit writes four lines per
invocation here, Powertools three).

* bare: the handler alone (the reference);
* obskit: ``@instrument_handler`` (server span sent to a local UDP socket as the X-Ray daemon,
  access line, request metrics and ``ColdStart`` logic, the flush before the freeze) and the
  handler's own log line and metric through obskit;
* Powertools: ``@logger.inject_lambda_context`` + ``@metrics.log_metrics`` +
  ``@tracer.capture_lambda_handler`` and the same log line and metric through Powertools, its
  subsegment sent by aws-xray-sdk's UDP emitter to the same kind of local socket (the
  comparison: both send to a local daemon), and once more with an emitter that drops, for
  reference (what the tracer costs before it sends).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import sys
import time
from typing import Any

from benchmarks._harness import markdown_table, measure, rows

EVENT = json.loads(
    (pathlib.Path(__file__).resolve().parents[1] / "tests/integrations/events/apigw_rest_v1.json").read_text()
)
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_REGION": "us-east-1",
    "LAMBDA_TASK_ROOT": "/var/task",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
}


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 256
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "2024/01/01/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _bare() -> Any:
    def handler(event: Any, context: Any) -> Any:
        return {"statusCode": 200, "body": "ok"}

    return handler


def _obskit() -> Any:
    import obskit
    from obskit import metrics
    from obskit.integrations.aws_lambda import instrument_handler

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    obskit.configure(service="bench", traces="xray", xray_daemon_address=f"127.0.0.1:{sink.getsockname()[1]}",
                     metrics="stdout", logs="json")
    log = obskit.get_logger("bench")

    @instrument_handler
    def handler(event: Any, context: Any) -> Any:
        log.info("order placed", order_id=7)
        metrics.count("OrdersPlaced", 1)
        return {"statusCode": 200, "body": "ok"}

    handler._sink = sink  # type: ignore[attr-defined]  # keep the socket open
    return handler


def _powertools(send: bool = True) -> Any:
    import logging

    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

    class DropEmitter(UDPEmitter):
        def send_entity(self, entity: Any) -> None:
            return None

    logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
    tracer = Tracer(service="bench")
    if send:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        emitter: Any = UDPEmitter(f"127.0.0.1:{sink.getsockname()[1]}")
    else:
        sink, emitter = None, DropEmitter()
    logger = Logger(service="bench")
    pt_metrics = Metrics(namespace="bench", service="bench")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @pt_metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event: Any, context: Any) -> Any:
        logger.info("order placed", extra={"order_id": 7})
        pt_metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
        return {"statusCode": 200, "body": "ok"}

    def invoke(event: Any, context: Any) -> Any:
        xray_recorder.emitter = emitter  # one recorder for both Powertools rows: each sets its emitter per call
        return handler(event, context)

    invoke._sink = sink  # type: ignore[attr-defined]  # keep the socket open
    return invoke


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows per case; ``added_us`` is the cost over the bare handler, ``vs_powertools`` the ratio of those."""
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        with contextlib.redirect_stdout(devnull):
            ctx = Context()
            handlers = {"bare handler": _bare(), "obskit @instrument_handler": _obskit(),
                        "Powertools 3 decorators": _powertools(),
                        "Powertools 3 decorators, X-Ray emitter that drops": _powertools(send=False)}
            cases = {name: (lambda h=h: h(EVENT, ctx)) for name, h in handlers.items()}
            stats = measure(cases, quick=quick)
    finally:
        devnull.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    table = rows(stats, "bare handler")
    base = table[0]["median_us"]
    for row in table:
        row["added_us"] = round(row["median_us"] - base, 2)
    pt = next(r for r in table if r["case"] == "Powertools 3 decorators")["added_us"]
    for row in table:
        row["vs_powertools"] = round(row["added_us"] / pt, 3) if pt else None
    return table


def main() -> None:
    t0 = time.time()
    table = run("--quick" in sys.argv)
    print(markdown_table(table))
    print("| case | + µs vs bare | ratio to Powertools' added cost |\n|---|---:|---:|")
    for r in table:
        print(f"| {r['case']} | {r['added_us']} | {r['vs_powertools']} |")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
