"""obskit.span / start_span / Span: ids from the context, sampling, exceptions, bad input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

import obskit
from _odd import Unprintable
from obskit._context import make_context
from obskit.testing import SequentialIdGenerator, capture
from obskit.tracing import MAX_ATTRIBUTE_LENGTH, MAX_STACK_FRAMES, start_span

TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


def remote_parent(sampled: bool | None = True) -> obskit.TelemetryContext:
    return make_context(TRACE, PARENT, sampled, correlation_id="c-1", remote=True)


def test_span_becomes_current_and_the_outer_context_returns() -> None:
    """Inside the block current().span_id is the span's id; after it the outer context is back."""
    outer = remote_parent()
    with obskit.activate(outer), obskit.span("charge") as s:
        assert obskit.current().span_id == s.span_id
        assert obskit.current().trace_id == TRACE
        assert obskit.current().correlation_id == "c-1"
        assert obskit.current().remote is False
    assert obskit.current() != outer  # activate's block has ended too
    with obskit.activate(outer):
        with obskit.span("x"):
            pass
        assert obskit.current() == outer


def test_child_span_shares_the_trace_and_points_at_its_parent() -> None:
    """A nested span keeps the trace id and records the enclosing span as its parent."""
    with capture() as cap, obskit.span("outer") as outer, obskit.span("inner") as inner:
        pass
    assert inner.trace_id == outer.trace_id
    assert inner.parent_span_id == outer.span_id
    by_name = {s["name"]: s for s in cap.spans}
    assert by_name["inner"]["parent_span_id"] == by_name["outer"]["span_id"]
    assert by_name["outer"]["parent_span_id"] is None


def test_remote_parent_is_marked_on_the_record() -> None:
    """A span whose parent came from another process has remote_parent=True and the caller as parent."""
    with capture() as cap, obskit.activate(remote_parent()), obskit.span("GET /", kind="server"):
        pass
    (rec,) = cap.spans
    assert rec["remote_parent"] is True
    assert rec["parent_span_id"] == PARENT
    assert rec["trace_id"] == TRACE
    assert rec["kind"] == "server"


def test_record_has_the_contract_fields() -> None:
    """to_dict() carries every field of the SpanRecord contract."""
    with capture() as cap, obskit.span("a", attributes={"k": "v"}):
        pass
    assert set(cap.spans[0]) == {
        "name", "trace_id", "span_id", "parent_span_id", "kind", "attributes", "status",
        "status_description", "start_ns", "end_ns", "events", "links", "sampled", "remote_parent",
    }
    assert cap.spans[0]["attributes"] == {"k": "v"}
    assert cap.spans[0]["end_ns"] >= cap.spans[0]["start_ns"]


def test_ids_come_from_the_configured_id_generator() -> None:
    """A new trace takes its trace and span ids from configure(id_generator=...)."""
    obskit.configure(id_generator=SequentialIdGenerator(), traces="none")
    with obskit.span("a") as s:
        assert s.trace_id == "5759e988" + "0" * 23 + "1"
        assert s.span_id == f"{1:016x}"


def test_decorator_names_the_span_after_the_function() -> None:
    """@obskit.span() uses the function's qualified name and returns its result."""

    class Shop:
        @obskit.span()
        def checkout(self, n: int) -> int:
            return n * 2

    with capture() as cap:
        assert Shop().checkout(4) == 8
    assert cap.spans[0]["name"] == "test_decorator_names_the_span_after_the_function.<locals>.Shop.checkout"


def test_bare_decorator_works() -> None:
    """@obskit.span without parentheses decorates too."""

    @obskit.span
    def job() -> str:
        return obskit.current().span_id or ""

    with capture() as cap:
        sid = job()
    assert cap.spans[0]["span_id"] == sid
    assert cap.spans[0]["name"].endswith("job")


def test_async_function_runs_in_its_span() -> None:
    """An async function decorated with span() runs with the span current."""

    @obskit.span("fetch", attributes={"n": 1})
    async def fetch() -> str | None:
        await asyncio.sleep(0)
        return obskit.current().span_id

    with capture() as cap:
        sid = asyncio.run(fetch())
    assert cap.spans[0]["span_id"] == sid
    assert cap.spans[0]["attributes"] == {"n": 1}


def test_generator_span_covers_the_iteration_but_is_current_only_inside() -> None:
    """A decorated generator's span lasts for the whole iteration; the consumer keeps its own context."""
    seen: list[str | None] = []

    @obskit.span("rows")
    def rows() -> Iterator[int]:
        for i in range(3):
            seen.append(obskit.current().span_id)
            yield i

    with capture() as cap, obskit.activate(remote_parent()):
        out = []
        for row in rows():
            assert obskit.current().span_id == PARENT
            out.append(row)
    assert out == [0, 1, 2]
    (rec,) = cap.spans
    assert seen == [rec["span_id"]] * 3


def test_generator_send_and_return_value_pass_through() -> None:
    """Values sent into a decorated generator and its return value are forwarded unchanged."""

    @obskit.span()
    def echo() -> Iterator[int]:
        total = 0
        while total < 10:
            got = yield total
            total += got
        return total

    def drive() -> int:
        gen = echo()
        next(gen)
        try:
            while True:
                gen.send(4)
        except StopIteration as stop:
            return int(stop.value)

    with capture() as cap:
        assert drive() == 12
    assert cap.spans[0]["status"] == "unset"


def test_generator_closed_early_ends_its_span() -> None:
    """Breaking out of a decorated generator still ends its span."""

    @obskit.span("g")
    def g() -> Iterator[int]:
        yield 1
        yield 2

    with capture() as cap:
        gen = g()
        next(gen)
        gen.close()
    assert len(cap.spans) == 1
    assert cap.spans[0]["status"] == "unset"


def test_async_generator_span_covers_the_iteration() -> None:
    """A decorated async generator runs its body in its span and ends it after the last item."""

    @obskit.span("stream")
    async def stream() -> AsyncIterator[str | None]:
        for _ in range(2):
            await asyncio.sleep(0)
            yield obskit.current().span_id

    async def consume() -> list[str | None]:
        return [x async for x in stream()]

    with capture() as cap:
        ids = asyncio.run(consume())
    assert ids == [cap.spans[0]["span_id"]] * 2


@pytest.mark.parametrize("is_async", [False, True])
def test_generator_called_with_bad_arguments_ends_its_span_in_error(is_async: bool) -> None:
    """A decorated (async) generator whose call fails before its body runs still ends its span."""

    @obskit.span("g")
    def g(n: int) -> Iterator[int]:
        yield n

    @obskit.span("ag")
    async def ag(n: int) -> AsyncIterator[int]:
        yield n

    async def consume() -> list[int]:
        return [x async for x in ag()]  # type: ignore[call-arg]

    def run() -> object:
        return asyncio.run(consume()) if is_async else list(g())  # type: ignore[call-arg]

    with capture() as cap, pytest.raises(TypeError):
        run()
    (span,) = cap.spans
    assert span["status"] == "error"
    assert span["end_ns"] is not None


def test_exception_is_recorded_and_reraised_unchanged() -> None:
    """An exception leaving a span sets status error, adds an exception event and propagates as is."""
    err = ValueError("card declined")
    with capture() as cap, pytest.raises(ValueError) as info, obskit.span("charge"):
        raise err
    assert info.value is err
    rec = cap.spans[0]
    assert rec["status"] == "error"
    assert rec["status_description"] == "ValueError: card declined"
    (event,) = rec["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "card declined"
    assert "test_tracing.py" in event["attributes"]["exception.stacktrace"]


def test_decorated_function_exception_is_recorded() -> None:
    """A decorated function that raises marks its span failed and the caller sees the exception."""

    @obskit.span()
    def boom() -> None:
        raise KeyError("k")

    with capture() as cap, pytest.raises(KeyError):
        boom()
    assert cap.spans[0]["status"] == "error"


def test_exception_stack_is_bounded() -> None:
    """Only the innermost frames of a deep stack are kept."""

    def deep(n: int) -> None:
        if n == 0:
            raise RuntimeError("deep")
        deep(n - 1)

    with capture() as cap, pytest.raises(RuntimeError), obskit.span("d"):
        deep(50)
    trace = cap.spans[0]["events"][0]["attributes"]["exception.stacktrace"]
    assert trace.count('File "') == MAX_STACK_FRAMES
    assert "frames omitted" in trace


def test_base_exception_passes_without_being_recorded() -> None:
    """A BaseException (cancellation, exit) ends the span but is neither caught nor recorded."""

    class Stop(BaseException):
        pass

    with capture() as cap, pytest.raises(Stop), obskit.span("s"):
        raise Stop
    assert cap.spans[0]["events"] == []
    assert cap.spans[0]["status"] == "unset"


def test_unsampled_parent_gives_ids_but_no_record() -> None:
    """Under an unsampled parent a span still gets ids for logs but reaches no emitter."""
    with capture() as cap, obskit.activate(remote_parent(sampled=False)), obskit.span("x") as s:
        assert obskit.current().span_id == s.span_id
        assert obskit.current().sampled is False
        assert not s.is_recording
        s.set_attribute("k", 1)
    assert cap.spans == []


def test_undecided_parent_is_decided_locally_and_passed_on() -> None:
    """X-Ray Sampled=? (sampled None) is decided by trace_sample_rate and the decision travels on."""
    with capture(trace_sample_rate=0.0) as cap, obskit.activate(remote_parent(sampled=None)), \
            obskit.span("x"):
        assert obskit.current().sampled is False
    assert cap.spans == []
    with capture(trace_sample_rate=1.0) as cap, obskit.activate(remote_parent(sampled=None)), \
            obskit.span("x"):
        assert obskit.current().sampled is True
    assert len(cap.spans) == 1


def test_new_traces_follow_the_ratio() -> None:
    """With trace_sample_rate=0 a new trace is not recorded but its span still has ids."""
    with capture(trace_sample_rate=0.0) as cap, obskit.span("root") as s:
        assert obskit.current().is_valid
        assert s.span_id is not None
    assert cap.spans == []


class _Clock:
    """A clock the test moves by hand (epoch nanoseconds)."""

    def __init__(self) -> None:
        self.ns = 1_700_000_000 * 10**9

    def __call__(self) -> int:
        return self.ns


def _decisions(n: int) -> list[bool | None]:
    out = []
    for _ in range(n):
        with obskit.span("root"):
            out.append(obskit.current().sampled)
    return out


def test_reservoir_records_the_first_new_traces_of_each_second() -> None:
    """trace_reservoir_per_s=2 with a ratio of 0: two new traces per clock second are recorded."""
    clock = _Clock()
    with capture(trace_sample_rate=0.0, trace_reservoir_per_s=2, clock=clock) as cap:
        first = _decisions(5)
        clock.ns += 999_000_000  # same second
        same = _decisions(1)
        clock.ns += 1_000_000  # the next one
        second = _decisions(3)
    assert first == [True, True, False, False, False]
    assert same == [False]
    assert second == [True, True, False]
    assert len(cap.spans) == 4


def test_reservoir_then_the_ratio() -> None:
    """Beyond the reservoir the ratio decides (X-Ray's default rule is 1 per second, then 5%)."""
    with capture(trace_sample_rate=0.25, trace_reservoir_per_s=1, clock=_Clock()):
        decided = _decisions(4000)
    assert decided[0] is True
    assert 850 <= sum(decided[1:]) <= 1150  # 0.25 of 3999, a wide margin for the random ids


def test_reservoir_keeps_upstream_decisions() -> None:
    """A parent's Sampled=0 stays unsampled, and takes nothing from the reservoir."""
    clock = _Clock()
    with capture(trace_sample_rate=0.0, trace_reservoir_per_s=1, clock=clock) as cap:
        with obskit.activate(remote_parent(False)), obskit.span("x"):
            assert obskit.current().sampled is False
        assert _decisions(2) == [True, False]
    assert len(cap.spans) == 1


def test_siblings_under_an_undecided_parent_agree_when_the_reservoir_takes_it() -> None:
    """Two root spans under one Root-only X-Ray parent: the reservoir takes the trace once, for both."""
    with capture(trace_sample_rate=0.0, trace_reservoir_per_s=1, clock=_Clock()) as cap:
        parent = obskit.extract({"x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793"})
        assert parent.sampled is None
        with obskit.activate(parent):
            for name in ("a", "b"):
                with obskit.span(name, kind="consumer"):
                    assert obskit.current().sampled is True
        assert _decisions(1) == [False]  # the second's one slot went to that trace
    assert sorted(s["name"] for s in cap.spans) == ["a", "b"]


def test_reservoir_decides_a_new_trace_at_the_edge() -> None:
    """A request without trace headers is decided once, at extract, reservoir first."""
    clock = _Clock()
    with capture(trace_sample_rate=0.0, trace_reservoir_per_s=1, clock=clock):
        got = [obskit.extract({}).sampled for _ in range(3)]
    assert got == [True, False, False]


def test_parent_decision_beats_the_ratio() -> None:
    """A sampled parent keeps its children sampled even when new traces would not be."""
    with capture(trace_sample_rate=0.0) as cap, obskit.activate(remote_parent(True)), obskit.span("x"):
        pass
    assert len(cap.spans) == 1


def test_tracing_off_decorator_runs_in_the_callers_context() -> None:
    """With no trace emitter a decorated call inside a trace adds no span: logs keep the caller's ids."""
    obskit.configure(traces="none")

    @obskit.span()
    def work() -> str | None:
        return obskit.current().span_id

    with obskit.activate(remote_parent()):
        assert work() == PARENT


def test_tracing_off_context_manager_still_makes_ids() -> None:
    """With no trace emitter, span() as a context manager still gives its block a fresh span id."""
    obskit.configure(traces="none")
    with obskit.activate(remote_parent()), obskit.span("x") as s:
        assert s.span_id != PARENT
        assert obskit.current().span_id == s.span_id
        assert not s.is_recording


def test_unrecorded_span_keeps_the_parents_context_but_its_own_span_id() -> None:
    """An unrecorded span keeps trace, baggage, fields and tracestate, and points at its parent."""
    obskit.configure(traces="none")
    parent = make_context(TRACE, PARENT, True, correlation_id="c-1", baggage={"k": "v"}, tracestate="a=1",
                          fields={"job": "n"}, xray_extra=";Lineage=x:1", remote=True)
    with obskit.activate(parent), obskit.span("x") as s:
        ctx = obskit.current()
    assert (ctx.trace_id, ctx.sampled, ctx.correlation_id, dict(ctx.baggage), ctx.tracestate, dict(ctx.fields),
            ctx.xray_extra, ctx.remote) == (TRACE, True, "c-1", {"k": "v"}, "a=1", {"job": "n"}, ";Lineage=x:1", False)
    assert (s.parent_span_id, s.span_id) == (PARENT, ctx.span_id)


def test_exception_in_an_unrecorded_span_passes_and_restores_the_context() -> None:
    """An exception leaves an unrecorded span unchanged and the outer context returns."""
    outer = remote_parent(sampled=False)
    with obskit.activate(outer):
        with pytest.raises(KeyError), obskit.span("x"):
            raise KeyError("k")
        assert obskit.current() == outer


def test_attributes_from_a_mapping_that_is_not_a_dict_are_cleaned() -> None:
    """Attributes given as another Mapping type go through the same checks as a dict."""
    from types import MappingProxyType

    with capture() as cap, obskit.span("x", attributes=MappingProxyType({"ok": 1, "bad": object(), "": 2})):
        pass
    assert cap.spans[0]["attributes"] == {"ok": 1}
    assert obskit.diagnostics()["tracing.attribute_dropped.type"] == 1


def test_huge_attribute_is_clipped_and_counted() -> None:
    """A 10 MB string attribute is kept clipped and the clip is counted."""
    with capture() as cap, obskit.span("x", attributes={"blob": "x" * 10_000_000}):
        pass
    assert len(cap.spans[0]["attributes"]["blob"]) == MAX_ATTRIBUTE_LENGTH
    assert obskit.diagnostics()["tracing.attribute_clipped"] == 1


def test_unsupported_attribute_types_are_dropped_and_counted() -> None:
    """Objects, mixed lists and non-string keys are dropped, counted, never raised; a dict is kept as metadata."""
    with capture() as cap, obskit.span("x") as s:
        s.set_attribute("obj", object())
        s.set_attribute("map", {"a": 1})
        s.set_attribute("mixed", [1, "a"])
        s.set_attribute(7, "v")  # type: ignore[arg-type]
        s.set_attributes({"ok": [1, 2], "flag": True, "none": None})
    assert cap.spans[0]["attributes"] == {"ok": (1, 2), "flag": True}
    assert cap.spans[0]["metadata"] == {"default": {"map": {"a": 1}}}
    diag = obskit.diagnostics()
    assert diag["tracing.attribute_dropped.type"] == 2
    assert diag["tracing.attribute_dropped.key"] == 1


def test_attribute_count_is_bounded() -> None:
    """Attributes beyond the limit are dropped and counted."""
    with capture() as cap, obskit.span("x") as s:
        for i in range(200):
            s.set_attribute(f"k{i}", i)
    assert len(cap.spans[0]["attributes"]) == 128
    assert obskit.diagnostics()["tracing.attribute_dropped.limit"] == 72


def test_ending_twice_is_harmless() -> None:
    """A second end() neither re-emits the span nor raises."""
    with capture() as cap:
        s = start_span("manual")
        s.end()
        s.end()
        s.set_attribute("late", 1)
    assert len(cap.spans) == 1
    assert cap.spans[0]["attributes"] == {}


def test_start_span_does_not_make_the_span_current() -> None:
    """start_span returns a started span without changing the current context."""
    with obskit.activate(remote_parent()):
        s = start_span("GET /orders/{id}", kind="server")
        assert obskit.current().span_id == PARENT
        with obskit.activate(s.context):
            assert obskit.current().span_id == s.span_id
        s.end()
    assert s.parent_span_id == PARENT


def test_start_span_takes_an_explicit_parent_links_and_times() -> None:
    """start_span uses the given parent, links and start/end times and allows renaming until end."""
    link = make_context("6" * 32, "7" * 16, True)
    with capture() as cap:
        s = start_span("GET", kind="server", parent=remote_parent(), links=[link], start_ns=1_000, attributes={"a": 1})
        s.name = "GET /orders/{id}"
        s.end(end_ns=5_000)
    rec = cap.spans[0]
    assert (rec["name"], rec["start_ns"], rec["end_ns"]) == ("GET /orders/{id}", 1_000, 5_000)
    assert rec["links"] == [{"trace_id": "6" * 32, "span_id": "7" * 16}]
    assert rec["parent_span_id"] == PARENT


def test_ok_status_is_final() -> None:
    """Once set to ok, a later failure does not flip the status (the OpenTelemetry rule)."""
    def fail_after_ok() -> None:
        with obskit.span("x") as s:
            s.set_status(True)
            raise ValueError

    with capture() as cap, pytest.raises(ValueError):
        fail_after_ok()
    assert cap.spans[0]["status"] == "ok"
    assert cap.spans[0]["events"][0]["name"] == "exception"


def test_set_status_error_with_description() -> None:
    """set_status(False, description) marks the span failed with that description."""
    with capture() as cap, obskit.span("x") as s:
        s.set_status(False, "upstream timed out")
    assert (cap.spans[0]["status"], cap.spans[0]["status_description"]) == ("error", "upstream timed out")


def test_invalid_kind_falls_back_to_internal_and_is_counted() -> None:
    """An unknown span kind becomes internal and is counted instead of raising."""
    with capture() as cap, obskit.span("x", kind="weird"):
        pass
    assert cap.spans[0]["kind"] == "internal"
    assert obskit.diagnostics()["tracing.invalid_kind"] == 1


def test_spans_in_concurrent_tasks_do_not_mix() -> None:
    """Two asyncio tasks each see their own span as current."""

    @obskit.span()
    async def task(n: int) -> tuple[str | None, str | None]:
        mine = obskit.current().span_id
        await asyncio.sleep(0.001 * n)
        return mine, obskit.current().span_id

    async def main() -> list[tuple[str | None, str | None]]:
        return list(await asyncio.gather(task(2), task(1)))

    with capture():
        results = asyncio.run(main())
    assert all(a == b for a, b in results)
    assert results[0][0] != results[1][0]


def test_log_line_inside_a_span_carries_its_ids() -> None:
    """A log line written inside a span carries that span's trace_id and span_id."""
    log = obskit.get_logger("test")
    with capture() as cap, obskit.span("work") as s:
        log.info("inside")
    deadline = time.monotonic() + 2
    while not cap.logs and time.monotonic() < deadline:
        time.sleep(0.01)
    line = cap.logs_with(message="inside")[0]
    assert (line["trace_id"], line["span_id"]) == (s.trace_id, s.span_id)


@pytest.mark.parametrize(("name", "shown"), [(42, "42"), (Unprintable(), "span"), ("", "span"), (b"b", "b'b'")])
def test_a_span_name_that_is_not_text_is_made_text(name: object, shown: str) -> None:
    with capture() as cap, obskit.span(name):  # type: ignore[arg-type]
        pass
    assert [s["name"] for s in cap.spans] == [shown]


@pytest.mark.parametrize("kind", [["server"], None, 3, Unprintable()])
def test_a_span_kind_that_is_not_one_is_internal(kind: object) -> None:
    with capture() as cap, obskit.span("s", kind=kind):  # type: ignore[arg-type]
        pass
    assert [s["kind"] for s in cap.spans] == ["internal"]
    assert obskit.diagnostics()["tracing.invalid_kind"] == 1


def test_span_status_and_attributes_of_odd_types_are_never_raised() -> None:
    with capture() as cap, obskit.span("s", attributes=Unprintable()) as sp:  # type: ignore[arg-type]
        sp.set_status(Unprintable(), Unprintable())  # type: ignore[arg-type]
        sp.set_status(0, Unprintable())  # type: ignore[arg-type]
    (span,) = cap.spans
    assert span["status"] == "error"
    assert obskit.diagnostics()["tracing.invalid_status"] == 2


@pytest.mark.parametrize(("end", "kept"), [("late", False), (2.5e18, True), (-5.0, False), (True, False)])
def test_an_end_time_that_is_not_int_nanoseconds_is_read_or_replaced_by_the_clock(end: object, kept: bool) -> None:
    """The span still goes out: with the given time when it is a number, else the clock's."""
    with capture() as cap:
        sp = start_span("s")
        sp.end(end)  # type: ignore[arg-type]
    (span,) = cap.spans
    assert isinstance(span["end_ns"], int)
    assert (span["end_ns"] == int(2.5e18)) is kept
    assert obskit.diagnostics().get("tracing.invalid_end_time", 0) == (0 if kept else 1)


def test_links_that_are_not_contexts_are_dropped_and_counted_not_the_span() -> None:
    linked = obskit.new_trace()
    with capture() as cap:
        start_span("s", links=["not a context", linked, 5]).end()  # type: ignore[list-item]
        start_span("t", links=(c for c in [linked])).end()
        start_span("u", links=5).end()  # type: ignore[arg-type]
    assert [[link["trace_id"] for link in s["links"]] for s in cap.spans] == [
        [linked.trace_id], [linked.trace_id], []
    ]
    assert obskit.diagnostics()["tracing.link_dropped"] == 3
