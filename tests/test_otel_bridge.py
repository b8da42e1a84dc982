"""The OpenTelemetry bridge: one context for obskit and the OpenTelemetry API, API spans recorded by obskit."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import obskit
from obskit.errors import ConfigError
from obskit.testing import capture

EARLY = trace.get_tracer("tests.early")
"""A tracer taken at import time, before any configure(): what an instrumentation holds."""


def api_tracer() -> trace.Tracer:
    return trace.get_tracer("tests.bridge")


def spans_by_name(cap: Any) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cap.spans}


def test_api_span_inside_an_obskit_span_is_its_child() -> None:
    """After configure() alone, a span started through the API inside an obskit span is its child."""
    obskit.configure(service="svc")
    with capture() as cap, obskit.span("outer") as outer, api_tracer().start_as_current_span("api"):
        pass
    api = spans_by_name(cap)["api"]
    assert (api["trace_id"], api["parent_span_id"]) == (outer.trace_id, outer.span_id)


def test_a_tracer_taken_before_configure_records_too() -> None:
    """A ProxyTracer an instrumentation took at import time binds to obskit's provider."""
    obskit.configure(service="svc")
    with capture() as cap, obskit.span("outer") as outer, EARLY.start_as_current_span("early"):
        pass
    assert spans_by_name(cap)["early"]["parent_span_id"] == outer.span_id


def test_while_an_api_span_is_current_obskit_sees_its_ids() -> None:
    """obskit.current() and every log line carry the API span's ids while it is current."""
    obskit.configure(service="svc")
    log = obskit.get_logger("t")
    with capture() as cap, obskit.span("outer"), api_tracer().start_as_current_span("api") as api:
        sc = api.get_span_context()
        seen = obskit.current()
        log.info("inside")
    assert (seen.trace_id, seen.span_id) == (f"{sc.trace_id:032x}", f"{sc.span_id:016x}")
    (line,) = cap.logs_with(message="inside")
    assert (line["trace_id"], line["span_id"]) == (seen.trace_id, seen.span_id)


def test_obskit_span_inside_an_api_span_is_its_child_and_the_outer_span_returns() -> None:
    """An obskit span inside an API span is its child; when the API span ends obskit's span is current again."""
    obskit.configure(service="svc")
    with capture() as cap, obskit.span("outer") as outer:
        with api_tracer().start_as_current_span("api"), obskit.span("inner"):
            assert trace.get_current_span().get_span_context().span_id == int(obskit.current().span_id, 16)
        after = obskit.current()
    spans = spans_by_name(cap)
    assert spans["inner"]["parent_span_id"] == spans["api"]["span_id"]
    assert after.span_id == outer.span_id


def test_start_span_with_use_span_goes_through_attach_and_detach() -> None:
    """The API's generic path (start_span, use_span: attach/detach tokens) gives the same parenting."""
    obskit.configure(service="svc")
    tracer = api_tracer()
    with capture() as cap, obskit.span("outer") as outer:
        span = tracer.start_span("manual")
        with trace.use_span(span, end_on_exit=True):
            assert obskit.current().span_id == f"{span.get_span_context().span_id:016x}"
            with obskit.span("inner"):
                pass
        assert obskit.current().span_id == outer.span_id
    spans = spans_by_name(cap)
    assert spans["manual"]["parent_span_id"] == outer.span_id
    assert spans["inner"]["parent_span_id"] == spans["manual"]["span_id"]


def test_bound_fields_stay_on_log_lines_inside_api_spans() -> None:
    """Fields bound with obskit.bound() are still on log lines written inside an API span."""
    obskit.configure(service="svc")
    log = obskit.get_logger("t")
    with capture() as cap, obskit.span("outer"), obskit.bound(order_id=7), api_tracer().start_as_current_span("api"):
        token = otel_context.attach(otel_context.set_value("some.key", 1))
        try:
            log.info("inside")
        finally:
            otel_context.detach(token)
    assert cap.logs_with(message="inside")[0]["order_id"] == 7


def test_api_span_records_kind_attributes_events_links_and_status() -> None:
    """Kind, attributes, events, links and status of an API span reach obskit's record."""
    obskit.configure(service="svc")
    other = trace.SpanContext(0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, True,
                              trace.TraceFlags(1))
    with capture() as cap, api_tracer().start_as_current_span(
            "send", kind=SpanKind.PRODUCER, attributes={"messaging.system": "aws_sqs"},
            links=[Link(other)]) as span:
        span.set_attribute("n", 3)
        span.add_event("sent", {"bytes": 12})
        span.set_status(Status(StatusCode.OK))
    rec = spans_by_name(cap)["send"]
    assert rec["kind"] == "producer"
    assert rec["attributes"] == {"messaging.system": "aws_sqs", "n": 3}
    assert [(e["name"], e["attributes"]) for e in rec["events"]] == [("sent", {"bytes": 12})]
    assert rec["links"] == [{"trace_id": "5759e988bd862e3fe1be46a994272793", "span_id": "53995c3f42cd8ad8"}]
    assert rec["status"] == "ok"


def test_an_exception_in_an_api_span_is_recorded_and_re_raised() -> None:
    """An exception escaping start_as_current_span sets status error and an exception event."""
    obskit.configure(service="svc")
    with capture() as cap, pytest.raises(KeyError), api_tracer().start_as_current_span("boom"):
        raise KeyError("k")
    rec = spans_by_name(cap)["boom"]
    assert rec["status"] == "error"
    assert rec["events"][0]["attributes"]["exception.type"] == "KeyError"


def test_start_as_current_span_decorates_sync_and_async_functions() -> None:
    """As a decorator, start_as_current_span gives every call (sync or async) its own span."""
    obskit.configure(service="svc")
    tracer = api_tracer()

    @tracer.start_as_current_span("sync")
    def work() -> str | None:
        return obskit.current().span_id

    @tracer.start_as_current_span("async")
    async def awork() -> str | None:
        return obskit.current().span_id

    with capture() as cap, obskit.span("outer") as outer:
        ids = [work(), work(), asyncio.run(awork())]
    assert len(set(ids)) == 3
    assert [s["parent_span_id"] for s in cap.spans if s["name"] != "outer"] == [outer.span_id] * 3


def test_asyncio_tasks_each_keep_their_own_api_span() -> None:
    """Concurrent asyncio tasks each see their own API span; none leaks into another or the parent."""
    obskit.configure(service="svc")
    tracer = api_tracer()

    async def task(name: str) -> tuple[str | None, str | None]:
        with tracer.start_as_current_span(name):
            await asyncio.sleep(0.01)
            mine = obskit.current().span_id
            with obskit.span(f"{name}.child"):
                await asyncio.sleep(0.01)
        return mine, obskit.current().span_id

    async def main() -> list[tuple[str | None, str | None]]:
        with obskit.span("request"):
            return list(await asyncio.gather(*(task(f"t{i}") for i in range(5))))

    with capture() as cap:
        results = asyncio.run(main())
    spans = spans_by_name(cap)
    request = spans["request"]["span_id"]
    for i, (mine, after) in enumerate(results):
        assert mine == spans[f"t{i}"]["span_id"]
        assert after == request
        assert spans[f"t{i}"]["parent_span_id"] == request
        assert spans[f"t{i}.child"]["parent_span_id"] == mine


def test_api_spans_in_a_thread_pool_are_children_of_the_submitter() -> None:
    """API spans in ContextThreadPoolExecutor workers are children of the submitting obskit span."""
    obskit.configure(service="svc")
    tracer = api_tracer()

    def work(i: int) -> str | None:
        with tracer.start_as_current_span(f"w{i}"):
            return obskit.current().span_id

    with capture() as cap, obskit.span("batch") as batch, obskit.ContextThreadPoolExecutor(4) as pool:
        ids = list(pool.map(work, range(8)))
    spans = spans_by_name(cap)
    assert [spans[f"w{i}"]["span_id"] for i in range(8)] == ids
    assert {spans[f"w{i}"]["parent_span_id"] for i in range(8)} == {batch.span_id}


def test_a_request_mixing_obskit_and_api_spans_three_levels_deep() -> None:
    """A Flask request: server span > API span > obskit span > API span > obskit span, each the child of the last."""
    flask = pytest.importorskip("flask")
    from obskit.integrations.flask import instrument

    app = flask.Flask("mix")
    tracer = api_tracer()

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> str:
        with tracer.start_as_current_span("db"), obskit.span("price"), tracer.start_as_current_span("cache"), \
                obskit.span("format"):
            obskit.get_logger("t").info("deep")
        return "ok"

    obskit.configure(service="svc")
    client = instrument(app).test_client()
    with capture() as cap:
        response = client.get("/orders/7")
        response.close()
    assert response.status_code == 200
    spans = spans_by_name(cap)
    chain = ["GET /orders/{order_id}", "db", "price", "cache", "format"]
    for parent, child in itertools.pairwise(chain):
        assert spans[child]["parent_span_id"] == spans[parent]["span_id"], child
    assert len({s["trace_id"] for s in cap.spans}) == 1
    assert cap.logs_with(message="deep")[0]["span_id"] == spans["format"]["span_id"]


def test_api_span_without_a_parent_starts_a_trace_and_an_explicit_context_is_honoured() -> None:
    """Outside any span an API span starts a new trace; an explicit context (an extracted parent) is its parent."""
    obskit.configure(service="svc")
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    remote = TraceContextTextMapPropagator().extract(
        {"traceparent": "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"})
    with capture() as cap:
        with api_tracer().start_as_current_span("root"):
            pass
        with obskit.span("unrelated"), api_tracer().start_as_current_span("server", context=remote,
                                                                        kind=SpanKind.SERVER):
            pass
    spans = spans_by_name(cap)
    assert spans["root"]["parent_span_id"] is None
    assert spans["server"]["trace_id"] == "5759e988bd862e3fe1be46a994272793"
    assert spans["server"]["parent_span_id"] == "53995c3f42cd8ad8"
    assert spans["server"]["remote_parent"] is True


def test_an_sdk_tracer_shares_the_context_both_ways() -> None:
    """Spans of an SDK tracer (not the global provider) parent to obskit spans and obskit spans to them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    obskit.configure(service="svc")
    with capture() as cap, obskit.span("outer") as outer, \
            provider.get_tracer("sdk").start_as_current_span("sdk") as sdk_span, obskit.span("inner"):
        seen = obskit.current()
    (sdk,) = exporter.get_finished_spans()
    assert sdk.parent is not None
    assert f"{sdk.parent.span_id:016x}" == outer.span_id
    assert f"{sdk.context.trace_id:032x}" == outer.trace_id
    assert spans_by_name(cap)["inner"]["parent_span_id"] == f"{sdk_span.get_span_context().span_id:016x}"
    assert seen.trace_id == outer.trace_id


def test_with_traces_otel_and_a_user_provider_both_kinds_reach_it_parented_across() -> None:
    """traces='otel' with tracer_provider: obskit spans and API spans reach the user's provider, parented across."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    obskit.configure(service="svc", traces="otel", tracer_provider=provider)
    with obskit.span("outer"), api_tracer().start_as_current_span("api"), obskit.span("inner"):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"outer", "api", "inner"}
    assert spans["api"].parent is not None
    assert spans["api"].parent.span_id == spans["outer"].context.span_id
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["api"].context.span_id


def test_unsampled_traces_give_api_spans_ids_but_no_record() -> None:
    """Inside an unsampled trace an API span is not recorded, yet log lines still get its ids."""
    obskit.configure(service="svc", trace_sample_rate=0.0)
    with capture() as cap, obskit.activate(obskit.new_trace(sampled=False)), \
            api_tracer().start_as_current_span("api") as span:
        assert not span.is_recording()
        assert obskit.current().span_id == f"{span.get_span_context().span_id:016x}"
        assert span.get_span_context().trace_flags.sampled is False
    assert cap.spans == []


def test_switched_off_the_api_is_its_own_no_op_again() -> None:
    """opentelemetry_bridge=False (in the same process, after it was on): API spans record nothing, contexts part."""
    obskit.configure(service="svc")
    obskit.configure(service="svc", opentelemetry_bridge=False)
    with capture(opentelemetry_bridge=False) as cap, obskit.span("outer"), \
            api_tracer().start_as_current_span("api") as span:
        assert not span.is_recording()
        assert trace.get_current_span() is span
        assert obskit.current().span_id != f"{span.get_span_context().span_id:016x}"
    assert [s["name"] for s in cap.spans] == ["outer"]


def test_reset_switches_the_bridge_off() -> None:
    """obskit.testing.reset() returns the API to its no-op behaviour."""
    obskit.configure(service="svc")
    obskit.testing.reset()
    with api_tracer().start_as_current_span("api") as span:
        assert not span.is_recording()


def test_bad_option_fails_at_configure_time() -> None:
    """An opentelemetry_bridge value that is not auto/True/False is a ConfigError naming the option."""
    with pytest.raises(ConfigError, match="opentelemetry_bridge"):
        obskit.configure(opentelemetry_bridge="sometimes")


def test_the_runtime_context_name_the_bridge_replaces_exists() -> None:
    """The API module keeps its runtime context in ``_RUNTIME_CONTEXT``: the name install() replaces."""
    obskit.configure(service="svc")
    assert type(otel_context._RUNTIME_CONTEXT).__name__ == "ObskitRuntimeContext"


def _run(code: str, **env: str) -> Any:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, **env})
    return json.loads(out.stdout)


@pytest.mark.slow
def test_opentelemetry_is_imported_only_when_the_app_imports_it_or_the_bridge_is_forced() -> None:
    """import obskit and configure() load no opentelemetry module; opentelemetry_bridge=True does."""
    code = (
        "import json, sys, obskit\n"
        "a = any(m.startswith('opentelemetry.') for m in sys.modules)\n"
        "obskit.configure(service='s', opentelemetry_bridge=False)\n"
        "b = any(m.startswith('opentelemetry.') for m in sys.modules)\n"
        "obskit.configure(service='s')\n"
        "c = any(m.startswith('opentelemetry.') for m in sys.modules)\n"
        "obskit.configure(service='s', opentelemetry_bridge=True)\n"
        "d = 'opentelemetry.trace' in sys.modules and 'opentelemetry.sdk' not in sys.modules\n"
        "print(json.dumps([a, b, c, d]))\n"
    )
    assert _run(code) == [False, False, False, True]


_LATE_IMPORT = (
    "import json, sys, obskit\n"
    "from obskit.testing import capture\n"
    "obskit.configure(service='s'{option})\n"
    "before = any(m.startswith('opentelemetry.') for m in sys.modules)\n"
    "{first_import}\n"
    "from opentelemetry import trace, propagate\n"
    "with capture() as cap, obskit.span('outer') as outer:\n"
    "    with trace.get_tracer('app').start_as_current_span('api'):\n"
    "        headers = {{}}\n"
    "        propagate.inject(headers)\n"
    "api = next((s for s in cap.spans if s['name'] == 'api'), None)\n"
    "loaders = {{type(m.__loader__).__name__ for n, m in sys.modules.items() if n.startswith('opentelemetry.')}}\n"
    "print(json.dumps({{'before': before, 'parent': api and api['parent_span_id'] == outer.span_id,\n"
    "                  'xray_header': 'x-amzn-trace-id' in headers, 'loaders': sorted(loaders),\n"
    "                  'hooks': [type(f).__name__ for f in sys.meta_path if type(f).__name__ == '_Watch']}}))\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("first_import", [
    "import opentelemetry.trace",
    "import opentelemetry.propagate  # imports opentelemetry.trace half way through its own imports",
    "from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor",
])
def test_the_bridge_is_installed_when_the_app_imports_opentelemetry_after_configure(first_import: str) -> None:
    """configure() first, OpenTelemetry later: API spans are obskit's children, the propagator obskit's."""
    got = _run(_LATE_IMPORT.format(option="", first_import=first_import))
    assert got == {"before": False, "parent": True, "xray_header": True, "loaders": got["loaders"], "hooks": []}
    assert "_Loader" not in got["loaders"]  # every module keeps its own loader


@pytest.mark.slow
def test_turning_the_bridge_off_before_opentelemetry_is_imported_cancels_it() -> None:
    code = _LATE_IMPORT.replace("obskit.configure(service='s'{option})\n",
                                "obskit.configure(service='s')\nobskit.configure(service='s'{option})\n")
    got = _run(code.format(option=", opentelemetry_bridge=False", first_import="import opentelemetry.trace"))
    assert (got["parent"], got["xray_header"], got["hooks"]) == (None, False, [])  # the API span is not obskit's


@pytest.mark.slow
def test_otel_python_context_selects_obskits_runtime_context_from_the_first_import() -> None:
    """OTEL_PYTHON_CONTEXT=obskit loads obskit's runtime context through its entry point."""
    code = (
        "import json\n"
        "from opentelemetry import context\n"
        "print(json.dumps(type(context._RUNTIME_CONTEXT).__name__))\n"
    )
    assert _run(code, OTEL_PYTHON_CONTEXT="obskit") == "ObskitRuntimeContext"


def test_fastapis_own_spans_give_way_to_obskits_request_span() -> None:
    """FastAPI traces requests itself through the API: under obskit's integration one request is one span."""
    fastapi = pytest.importorskip("fastapi")
    import httpx

    from obskit.integrations.fastapi import instrument

    app = fastapi.FastAPI()

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    instrument(app)
    obskit.configure(service="svc")

    async def call() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
            return (await client.get("/orders/3")).status_code

    with capture() as cap:
        assert asyncio.run(call()) == 200
    assert [s["name"] for s in cap.spans] == ["GET /orders/{order_id}"]


class _Odd:
    """Neither a Context, a SpanKind, a number nor text, and unhashable."""

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("odd", [_Odd(), [1], "text", -1, None, 1.5])
def test_odd_values_in_every_api_call_never_raise(odd: Any) -> None:
    """Whatever an instrumentation passes, the bridge records what it can and raises nothing into it."""
    obskit.configure(service="svc")
    tracer = api_tracer()
    with capture() as cap, obskit.span("outer"):
        span = tracer.start_span(odd, context=odd, kind=odd, attributes=odd, links=odd, start_time=odd)
        token = otel_context.attach(odd)
        otel_context.detach(token)
        with tracer.start_as_current_span("named", kind=odd, links=[odd]) as current:
            current.set_attribute(odd, odd)
            current.set_attributes(odd)
            current.add_event(odd, odd, odd)
            current.add_link(odd, odd)
            current.set_status(odd, odd)
            current.record_exception(odd)
            current.update_name(odd)
        span.end(odd)
    assert len(cap.spans) == 3  # outer, the started span and the current one (renamed when odd is text)
    current_rec, _, outer = cap.spans  # in the order they ended
    assert current_rec["parent_span_id"] == outer["span_id"]


def test_a_provider_set_after_configure_is_explained(caplog: pytest.LogCaptureFixture) -> None:
    """set_tracer_provider() after configure() cannot take effect: obskit says what to do instead."""
    obskit.configure(service="svc")
    trace.set_tracer_provider(TracerProvider())
    assert "tracer_provider=" in caplog.text
    assert type(trace.get_tracer_provider()).__name__ == "ObskitTracerProvider"


XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_the_global_propagator_writes_what_obskit_inject_writes() -> None:
    """An instrumentation's propagate.inject() sends traceparent, X-Amzn-Trace-Id and the correlation id."""
    from opentelemetry import propagate

    obskit.configure(service="svc")
    incoming = obskit.extract({"traceparent": "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
                               "x-correlation-id": "order-7"})
    with obskit.activate(incoming), api_tracer().start_as_current_span("call", kind=SpanKind.CLIENT) as span:
        headers: dict[str, str] = {}
        propagate.inject(headers)
    sid = f"{span.get_span_context().span_id:016x}"
    assert headers["traceparent"].startswith(f"00-5759e988bd862e3fe1be46a994272793-{sid}-")
    assert headers["x-amzn-trace-id"].startswith(f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={sid}")
    assert headers["x-correlation-id"] == "order-7"


def test_the_global_propagator_reads_what_obskit_extract_reads() -> None:
    """A server instrumentation's propagate.extract() reads X-Amzn-Trace-Id and the correlation id, in any case."""
    from opentelemetry import propagate

    obskit.configure(service="svc")
    log = obskit.get_logger("t")
    remote = propagate.extract({"X-Amzn-Trace-Id": XRAY_HEADER, "X-Correlation-Id": "order-7"})
    with capture() as cap, api_tracer().start_as_current_span("GET /", context=remote, kind=SpanKind.SERVER):
        log.info("served")
    (span,) = cap.spans
    assert (span["trace_id"], span["parent_span_id"]) == ("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8")
    assert cap.logs_with(message="served")[0]["correlation_id"] == "order-7"


def test_otel_propagators_and_reset_leave_the_global_propagator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """With OTEL_PROPAGATORS set the app's propagator stays; reset() puts back the one obskit replaced."""
    from opentelemetry import propagate

    before = propagate.get_global_textmap()
    obskit.configure(service="svc")
    assert type(propagate.get_global_textmap()).__name__ == "ObskitPropagator"
    obskit.testing.reset()
    assert propagate.get_global_textmap() is before
    monkeypatch.setenv("OTEL_PROPAGATORS", "tracecontext")
    obskit.configure(service="svc")
    assert propagate.get_global_textmap() is before


def test_a_span_left_in_another_context_still_ends_and_raises_nothing() -> None:
    """start_as_current_span exited in another context (a generator resumed elsewhere): the span ends, counted."""
    import contextvars

    obskit.configure(service="svc")
    with capture() as cap:
        manager = api_tracer().start_as_current_span("moved")
        manager.__enter__()
        contextvars.copy_context().run(manager.__exit__, None, None, None)
    assert [s["name"] for s in cap.spans] == ["moved"]
    assert obskit.diagnostics()["otel_bridge.detach_elsewhere"] == 1


def test_a_decorator_made_while_on_works_after_the_bridge_is_off() -> None:
    """A function decorated with start_as_current_span while the bridge was on still runs once it is off."""
    obskit.configure(service="svc")

    @api_tracer().start_as_current_span("decorated")
    def work() -> bool:
        return trace.get_current_span().is_recording()

    with capture():
        assert work() is True
    obskit.testing.reset()
    assert work() is False


def test_the_provider_flushes_obskit() -> None:
    """force_flush() on the global provider (what the Lambda instrumentation calls) flushes obskit's emitters."""
    obskit.configure(service="svc")
    assert trace.get_tracer_provider().force_flush(1000) is True  # type: ignore[attr-defined]
