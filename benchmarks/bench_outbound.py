"""Added cost per outgoing call: httpx requests and boto3 calls, obskit next to OpenTelemetry.

Every case makes one complete call with no network: httpx through ``httpx.MockTransport`` (the
client builds, sends and reads a real ``Request``/``Response``), boto3 through a ``before-send``
handler that returns a canned HTTP response (so serialisation, signing and parsing all run, as
moto does it). The floor is the same call uninstrumented; what matters is the *added* cost,
``case - floor``, reported next to OpenTelemetry's added cost.

All instrumented cases run inside an active parent span (a request in progress) and record
their client span: obskit to a no-op span emitter, OpenTelemetry to an SDK ``TracerProvider``
with a no-op span processor, so neither side pays for export.

OpenTelemetry's botocore instrumentation patches ``BaseClient._make_api_call`` for the whole
process, so the boto3 group runs twice: obskit with its floor here, OpenTelemetry with its
floor in a subprocess; each added cost is against the floor of its own interpreter. There the
floor runs with instrumentation suppressed (the patch cannot be lifted per call), which adds a
context attach/detach to it and so makes OpenTelemetry's added cost look slightly smaller.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks._harness import install_noop_span_runtime, markdown_table, measure, rows

HTTP_FLOOR = "floor: httpx GET, MockTransport, uninstrumented"
BOTO_FLOOR = "floor: SQS SendMessage, canned response, uninstrumented"
URL = "http://orders.internal/api/orders/7"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
FULL_FLOOR = "floor: SendMessage with 10 user attributes"
FULL_CASE = "obskit botocore: span, message already at 10 attributes"


def _obskit_runtime() -> Any:
    """Install a runtime whose spans go to a no-op emitter; return a request-like parent context."""
    import obskit

    install_noop_span_runtime()
    return obskit.new_trace(correlation_id="order-42", baggage={"tenant": "acme"})


def _otel_tracer() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    class Noop(SpanProcessor):
        pass

    provider = TracerProvider()
    provider.add_span_processor(Noop())
    return provider


# --- httpx ---------------------------------------------------------------------------------
def _httpx_cases() -> tuple[dict[str, Any], dict[str, str]]:
    import httpx
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    import obskit
    from obskit.integrations.httpx import Transport

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}")

    parent = _obskit_runtime()
    plain = httpx.Client(transport=httpx.MockTransport(handler))
    allowed = httpx.Client(transport=Transport(httpx.MockTransport(handler), propagate_to=["*.internal"]))
    denied = httpx.Client(transport=Transport(httpx.MockTransport(handler), propagate_to=[]))

    provider = _otel_tracer()
    otel = httpx.Client(transport=httpx.MockTransport(handler))
    HTTPXClientInstrumentor().instrument_client(otel, tracer_provider=provider)
    otel_parent = provider.get_tracer("bench").start_span("request")
    otel_ctx = otel_trace.set_span_in_context(otel_parent)

    def floor() -> None:
        plain.get(URL)

    def obskit_allowed() -> None:
        with obskit.activate(parent):
            allowed.get(URL)

    def obskit_denied() -> None:
        with obskit.activate(parent):
            denied.get(URL)

    def otel_case() -> None:
        token = otel_context.attach(otel_ctx)
        try:
            otel.get(URL)
        finally:
            otel_context.detach(token)

    cases = {
        HTTP_FLOOR: floor,
        "obskit httpx: span + 5 headers (allowlisted host)": obskit_allowed,
        "obskit httpx: span only (host not allowlisted)": obskit_denied,
        "OpenTelemetry HTTPXClientInstrumentor: span + traceparent/baggage": otel_case,
    }
    return cases, {"obskit httpx: span + 5 headers (allowlisted host)":
                   "OpenTelemetry HTTPXClientInstrumentor: span + traceparent/baggage"}


# --- boto3 ---------------------------------------------------------------------------------
def _canned_sqs_client() -> Any:
    """An SQS client whose HTTP requests are answered in-process by a before-send handler."""
    import boto3
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"MD5OfMessageBody": "49f68a5c8493ec2c0bf489821c21fc3b",
                       "MessageId": "dd7484a2-d4c1-4c8d-be48-30dbae10805a"}).encode()

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield body

    headers = {"x-amzn-RequestId": "req-1", "Content-Type": "application/x-amz-json-1.0"}

    def respond(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 200, headers, Raw())

    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="eu-west-1")
    client = session.client("sqs")
    client.meta.events.register("before-send.sqs", respond)
    return client


def _boto_floor_case() -> Any:
    client = _canned_sqs_client()

    def floor() -> None:
        client.send_message(QueueUrl=QUEUE, MessageBody="hello")

    return floor


def _boto_obskit_group(quick: bool) -> list[dict[str, Any]]:
    import obskit
    from obskit.integrations import botocore as obskit_botocore

    parent = _obskit_runtime()
    client = obskit_botocore.instrument(_canned_sqs_client())

    def obskit_case() -> None:
        with obskit.activate(parent):
            client.send_message(QueueUrl=QUEUE, MessageBody="hello")

    list_client = obskit_botocore.instrument(_canned_sqs_client())

    def obskit_other() -> None:
        with obskit.activate(parent):
            list_client.send_message(QueueUrl=QUEUE, MessageBody="hello", MessageAttributes={
                f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(10)
            })

    floor_full = _canned_sqs_client()

    def floor_full_case() -> None:
        floor_full.send_message(QueueUrl=QUEUE, MessageBody="hello", MessageAttributes={
            f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(10)
        })

    cases = {
        BOTO_FLOOR: _boto_floor_case(),
        "obskit botocore: span + AWSTraceHeader + 2 attributes + header": obskit_case,
        FULL_FLOOR: floor_full_case,
        FULL_CASE: obskit_other,
    }
    return rows(measure(cases, quick=quick), BOTO_FLOOR)


def _boto_otel_group(quick: bool) -> list[dict[str, Any]]:
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    provider = _otel_tracer()
    floor = _boto_floor_case()
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    client = _canned_sqs_client()
    otel_ctx = otel_trace.set_span_in_context(provider.get_tracer("bench").start_span("request"))
    suppressed = otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)

    def floor_case() -> None:
        # The patch is process-wide; with instrumentation suppressed its wrapper returns at once.
        token = otel_context.attach(suppressed)
        try:
            floor()
        finally:
            otel_context.detach(token)

    def otel_case() -> None:
        token = otel_context.attach(otel_ctx)
        try:
            client.send_message(QueueUrl=QUEUE, MessageBody="hello")
        finally:
            otel_context.detach(token)

    cases = {
        BOTO_FLOOR: floor_case,
        "OpenTelemetry BotocoreInstrumentor: span + SQS traceparent attribute": otel_case,
    }
    return rows(measure(cases, quick=quick), BOTO_FLOOR)


def _in_subprocess(group: str, quick: bool) -> list[dict[str, Any]]:
    code = f"import json; from benchmarks.bench_outbound import {group}; print(json.dumps({group}({quick!r})))"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _added(table: list[dict[str, Any]], floor: str) -> None:
    medians = {r["case"]: r["median_us"] for r in table}
    for r in table:
        base = medians[FULL_FLOOR] if r["case"] in (FULL_FLOOR, FULL_CASE) else medians[floor]
        r["added_us"] = round(r["median_us"] - base, 3)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure every group; rows carry ``added_us`` (case minus its own floor) and ratios."""
    cases, peers = _httpx_cases()
    http = rows(measure(cases, quick=quick), HTTP_FLOOR, peers)
    _added(http, HTTP_FLOOR)
    boto = _boto_obskit_group(quick)
    _added(boto, BOTO_FLOOR)
    boto_otel = _in_subprocess("_boto_otel_group", quick)
    _added(boto_otel, BOTO_FLOOR)
    for r in boto_otel:
        if r["case"] == BOTO_FLOOR:
            r["case"] = BOTO_FLOOR + " (OpenTelemetry's interpreter)"
    otel_http = next(r["added_us"] for r in http if r["case"].startswith("OpenTelemetry"))
    otel_boto = next(r["added_us"] for r in boto_otel if r["case"].startswith("OpenTelemetry"))
    for r in http:
        r["added_vs_otel"] = round(r["added_us"] / otel_http, 3) if otel_http > 0 else None
    for r in boto + boto_otel:
        r["added_vs_otel"] = round(r["added_us"] / otel_boto, 3) if otel_boto > 0 else None
    return http + boto + boto_otel


def _table(table: list[dict[str, Any]]) -> str:
    lines = ["| case | median µs | IQR % | \u00d7 floor | added µs | added \u00d7 OTel's added |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in table:
        ratio = r.get("added_vs_otel")
        lines.append(f"| {r['case']} | {r['median_us']:.3g} | {r['iqr_pct']:.0f} | {r['ratio']:.2f}x | "
                     f"{r['added_us']:.3g} | {'' if ratio is None else f'{ratio:.2f}x'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    result = run(quick=quick)
    print(_table(result))
    if "--harness-table" in sys.argv:
        print(markdown_table(result))
