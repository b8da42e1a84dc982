"""One span with 3 attributes: obskit (unsampled, recorded, X-Ray, OpenTelemetry, disabled) next to the peers.

Two groups, each in its own interpreter with its own floor (a hand-rolled span): the main
group (obskit and the OpenTelemetry SDK, which we use without touching its globals) runs in
this process; the X-Ray group (aws-xray-sdk and Powertools Tracer change process-global X-Ray
state) runs in a subprocess, with obskit's X-Ray cases measured there too so their ratios
against the SDK come from the same rounds.

The floor is a hand-rolled span: two random ids, two ``time_ns()`` reads, 3 attributes,
appended to a bounded deque. UDP cases send to a bound 127.0.0.1 socket that nobody reads (the
kernel drops what does not fit), so every send is a real ``send``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import deque
from types import MappingProxyType
from typing import Any

from benchmarks._harness import Stats, install_noop_span_runtime, markdown_table, measure, rows

FLOOR = "floor: hand-rolled span + 3 attributes"
TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
XRAY_HEADER = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={PARENT};Sampled=1"


def _floor() -> Any:
    bits = random.Random().getrandbits
    sink: deque[Any] = deque(maxlen=1024)
    time_ns = time.time_ns

    def floor() -> None:
        start = time_ns()
        span = {"trace_id": bits(128), "span_id": bits(64), "start": start,
                "attributes": {"order.id": 7, "customer": "c-1", "amount": 12.5}}
        span["end"] = time_ns()
        sink.append(span)

    return floor


def _listener() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"


def _span_case(parent: Any) -> Any:
    import obskit

    span, activate = obskit.span, obskit.activate
    attrs = {"order.id": 7, "customer": "c-1", "amount": 12.5}

    def case() -> None:
        with activate(parent), span("charge", attributes=attrs):
            pass

    return case


def _span_only_case() -> Any:
    """The span with 3 attributes under whatever parent is current."""
    import obskit

    span = obskit.span
    attrs = {"order.id": 7, "customer": "c-1", "amount": 12.5}

    def case() -> None:
        with span("charge", attributes=attrs):
            pass

    return case


def _span_case_set() -> Any:
    """The span with three set_attribute calls (the shape of the peers' cases)."""
    import obskit

    span = obskit.span

    def case() -> None:
        with span("charge") as s:
            s.set_attribute("order.id", 7)
            s.set_attribute("customer", "c-1")
            s.set_attribute("amount", 12.5)

    return case


def _main_group(quick: bool) -> list[dict[str, Any]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    import obskit
    from obskit._context import make_context

    class NoopExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    unsampled = make_context(TRACE, PARENT, False, remote=True)
    sampled = make_context(TRACE, PARENT, True, remote=True)
    cases: dict[str, Any] = {FLOOR: _floor()}

    # obskit, per configuration: each case swaps its runtime in, so measure in sub-batches
    stats = []

    obskit.configure(traces="none", metrics="none", logs="none")

    def plain(n: int) -> int:
        return n + 1

    @obskit.span()
    def decorated(n: int) -> int:
        return n + 1

    def call_plain() -> None:
        plain(1)

    def call_decorated() -> None:
        decorated(1)

    with obskit.activate(sampled):
        stats += measure({FLOOR: cases[FLOOR], "plain function call": call_plain,
                          "obskit: tracing off, @span() decorated call": call_decorated}, quick=quick)
    stats += list(measure({"obskit: tracing off, span() context manager (ids only)":
                                  _span_case(sampled)}, quick=quick))

    sock, address = _listener()
    obskit.configure(traces="xray", xray_daemon_address=address, metrics="none", logs="none")
    # The parent is made current outside the timed calls, as a middleware does once per request:
    # the rows measure the span, not the activation of its parent.
    with obskit.activate(unsampled):
        stats += measure({"obskit: unsampled span + 3 attributes": _span_only_case()}, quick=quick)

    install_noop_span_runtime()
    with obskit.activate(sampled):
        stats += measure({"obskit: recorded span + 3 attributes, no-op emitter": _span_only_case(),
                          "obskit: recorded span, 3x set_attribute, no-op emitter": _span_case_set()},
                         quick=quick)

    obskit.configure(traces="xray", xray_daemon_address=address, metrics="none", logs="none")
    stats += measure({"obskit: X-Ray emitter, segment to UDP": _span_case(sampled)}, quick=quick)

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=1 << 16))
    obskit.configure(traces="otel", tracer_provider=provider, metrics="none", logs="none")
    stats += measure({"obskit: OTel emitter, batch processor": _span_case(sampled)}, quick=quick)
    obskit.configure(traces="none", metrics="none", logs="none")

    tracer = provider.get_tracer("bench")

    def otel_sdk() -> None:
        with tracer.start_as_current_span("charge") as s:
            s.set_attribute("order.id", 7)
            s.set_attribute("customer", "c-1")
            s.set_attribute("amount", 12.5)

    def otel_sdk_no_activation() -> None:
        s = tracer.start_span("charge", attributes={"order.id": 7, "customer": "c-1", "amount": 12.5})
        s.end()

    stats += measure({"OTel SDK alone, batch processor": otel_sdk,
                      "OTel SDK alone, start_span/end (no activation)": otel_sdk_no_activation}, quick=quick)
    provider.shutdown()
    sock.close()
    return rows(stats, reference=FLOOR, peers={
        "obskit: OTel emitter, batch processor": "OTel SDK alone, batch processor",
        "obskit: tracing off, @span() decorated call": "plain function call",
    })


def _xray_group(quick: bool) -> list[dict[str, Any]]:
    """Runs in its own interpreter: aws-xray-sdk and Powertools set process-global state."""
    sock, address = _listener()
    os.environ.update({
        "AWS_XRAY_DAEMON_ADDRESS": address, "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    })
    import obskit
    from obskit import _pipeline
    from obskit._context import make_context

    sampled = make_context(TRACE, PARENT, True, remote=True)
    install_noop_span_runtime()
    noop_rt = _pipeline.get()
    cfg = obskit.configure(traces="xray", xray_daemon_address=address, metrics="none", logs="none")
    xray_rt = _pipeline.get()
    # The same emitter with each datagram sent as its span ends, built beside the live runtime
    # (configure() would close the other one).
    from obskit.emitters import xray

    once_cfg = dataclasses.replace(cfg, options=MappingProxyType({**cfg.options, "xray_batch_size": 1}))
    once_rt = _pipeline.Runtime(once_cfg, xray_rt.ids, xray_rt.clock, [xray.create(once_cfg)])
    span, activate = obskit.span, obskit.activate

    def seg_sub(rt: Any) -> Any:
        def case() -> None:
            _pipeline.RUNTIME = rt  # both cases pay this one assignment
            with activate(sampled), span("GET /", kind="server"), span("charge") as s:
                s.set_attribute("order.id", 7)
                s.set_attribute("customer", "c-1")
                s.set_attribute("amount", 12.5)

        return case

    from aws_xray_sdk.core import AWSXRayRecorder
    from aws_xray_sdk.core.sampling.local.sampler import LocalSampler

    recorder = AWSXRayRecorder()
    recorder.configure(sampling=False, sampler=LocalSampler(), plugins=(), daemon_address=address,
                       service="bench", context_missing="IGNORE_ERROR")

    def sdk_seg_sub() -> None:
        recorder.begin_segment("bench")
        sub = recorder.begin_subsegment("charge")
        sub.put_annotation("order_id", 7)
        sub.put_annotation("customer", "c-1")
        sub.put_annotation("amount", 12.5)
        recorder.end_subsegment()
        recorder.end_segment()

    stats = measure({FLOOR: _floor(), SEG_SUB: seg_sub(xray_rt), SEG_SUB_ONCE: seg_sub(once_rt),
                     RECORDING: seg_sub(noop_rt),
                     "aws-xray-sdk: segment + subsegment to UDP": sdk_seg_sub}, quick=quick)
    once_rt.span_emitters[0].close()
    sock.close()
    _pipeline.install(xray_rt)
    by_name = {s.name: s for s in stats}
    # Emission alone: per round, the X-Ray case minus the same spans with a no-op emitter (the
    # rounds are round-robin, so each difference comes from one stretch of machine time).
    for name, case in ((EMISSION, SEG_SUB), (EMISSION_ONCE, SEG_SUB_ONCE)):
        stats.append(Stats(name, tuple(
            a - b for a, b in zip(by_name[case].per_round_us, by_name[RECORDING].per_round_us, strict=True)
        )))
    sdk = "aws-xray-sdk: segment + subsegment to UDP"
    return rows(stats, reference=FLOOR, peers={SEG_SUB: sdk, SEG_SUB_ONCE: sdk, EMISSION: sdk, EMISSION_ONCE: sdk})


SEG_SUB = "obskit: X-Ray segment + subsegment to UDP"
SEG_SUB_ONCE = "obskit: the same, each datagram sent as its span ends (xray_batch_size=1)"


RECORDING = "obskit: segment + subsegment, no-op emitter (recording only)"
EMISSION = "obskit: X-Ray emission alone (document, serialisation, UDP send; X-Ray minus no-op)"
EMISSION_ONCE = "obskit: X-Ray emission alone, each datagram sent as its span ends"


def _lambda_group(quick: bool) -> list[dict[str, Any]]:
    """Own interpreter: aws-xray-sdk picks its Lambda context when it is first imported."""
    sock, address = _listener()
    os.environ.update({
        "AWS_XRAY_DAEMON_ADDRESS": address, "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "bench", "_X_AMZN_TRACE_ID": XRAY_HEADER,
    })
    from aws_lambda_powertools import Tracer

    import obskit

    tracer = Tracer(service="bench", auto_patch=False)

    @tracer.capture_method
    def traced() -> None:
        tracer.put_annotation("order_id", 7)
        tracer.put_annotation("customer", "c-1")
        tracer.put_annotation("amount", 12.5)

    obskit.configure(traces="xray", xray_daemon_address=address, metrics="none", logs="none")
    span, activate = obskit.span, obskit.activate
    lambda_parent = obskit.extract({})

    def obskit_lambda() -> None:
        with activate(lambda_parent), span("traced") as s:
            s.set_attribute("order.id", 7)
            s.set_attribute("customer", "c-1")
            s.set_attribute("amount", 12.5)

    stats = measure({FLOOR: _floor(), "obskit in Lambda: subsegment streamed to UDP": obskit_lambda,
                     "Powertools Tracer in Lambda: capture_method, streamed to UDP": traced}, quick=quick)
    sock.close()
    return rows(stats, reference=FLOOR, peers={
        "obskit in Lambda: subsegment streamed to UDP": "Powertools Tracer in Lambda: capture_method, streamed to UDP",
    })


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Both groups; ratios are against each group's own floor, peer ratios within a group."""
    import logging

    logging.getLogger("obskit").setLevel(logging.ERROR)
    out = _main_group(quick)
    for group in ("xray", "lambda"):
        cmd = [sys.executable, "-m", "benchmarks.bench_tracing", f"--{group}-group"] + (["--quick"] if quick else [])
        done = subprocess.run(cmd, check=True, capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        for row in json.loads(done.stdout.strip().splitlines()[-1]):
            row["case"] = f"[{group} process] {row['case']}"
            out.append(row)
    return out


if __name__ == "__main__":
    if "--xray-group" in sys.argv or "--lambda-group" in sys.argv:
        import logging

        logging.disable(logging.CRITICAL)
        group = _xray_group if "--xray-group" in sys.argv else _lambda_group
        print(json.dumps(group(quick="--quick" in sys.argv)))
    else:
        print(markdown_table(run(quick="--quick" in sys.argv)))
