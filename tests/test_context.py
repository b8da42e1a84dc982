"""The telemetry context: immutability, scoping, isolation across tasks and threads."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import obskit
from obskit._context import EMPTY_CONTEXT, make_context
from obskit.context import ContextThreadPoolExecutor, run_in_context
from obskit.testing import SequentialIdGenerator

TID = "5759e988bd862e3fe1be46a994272793"


def test_current_outside_any_trace_is_the_invalid_context() -> None:
    """Outside a trace, current() is a context with an all-zero trace id and no span."""
    ctx = obskit.current()
    assert ctx is EMPTY_CONTEXT
    assert not ctx.is_valid
    assert ctx.span_id is None
    assert ctx.traceparent is None


def test_context_is_immutable() -> None:
    """Attributes and mappings of a context cannot be changed."""
    ctx = make_context(TID, "53995c3f42cd8ad8", True, fields={"a": 1}, baggage={"k": "v"})
    with pytest.raises(AttributeError):
        ctx.trace_id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ctx.fields["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        ctx.baggage["k"] = "w"  # type: ignore[index]


def test_context_properties_give_both_id_formats() -> None:
    """xray_trace_id and traceparent are derived from the one trace id."""
    ctx = make_context(TID, "53995c3f42cd8ad8", True)
    assert ctx.xray_trace_id == "1-5759e988-bd862e3fe1be46a994272793"
    assert ctx.traceparent == f"00-{TID}-53995c3f42cd8ad8-01"
    assert make_context(TID, "53995c3f42cd8ad8", False, random_flag=True).traceparent.endswith("-02")


def test_context_never_equals_a_plain_tuple() -> None:
    """A context compares equal only to another context with the same values."""
    ctx = make_context(TID)
    assert ctx == make_context(TID)
    assert ctx != tuple(ctx)
    assert ctx != make_context(TID, "53995c3f42cd8ad8")


def test_new_trace_ids_are_epoch_prefixed_and_valid_for_xray() -> None:
    """A new trace id starts with the current epoch seconds, so it is a valid X-Ray id."""
    import time

    ctx = obskit.new_trace()
    assert len(ctx.trace_id) == 32
    assert abs(int(ctx.trace_id[:8], 16) - time.time()) < 5
    assert ctx.random_flag
    assert ctx.span_id is None


def test_new_trace_uses_the_injected_id_generator() -> None:
    """configure(id_generator=...) makes trace ids deterministic."""
    obskit.configure(id_generator=SequentialIdGenerator(), metrics="none")
    assert obskit.new_trace().trace_id == "5759e988" + "0" * 23 + "1"
    assert obskit.new_trace().trace_id == "5759e988" + "0" * 23 + "2"


def test_trace_sample_rate_zero_samples_nothing() -> None:
    """With trace_sample_rate=0, new traces are not sampled; with 1 they all are."""
    obskit.configure(trace_sample_rate=0.0, metrics="none")
    assert not any(obskit.new_trace().sampled for _ in range(50))
    obskit.configure(trace_sample_rate=1.0, metrics="none")
    assert all(obskit.new_trace().sampled for _ in range(50))


def test_activate_restores_the_outer_context_also_on_exceptions() -> None:
    """Leaving activate() restores the previous context, even when the block raises."""
    outer = make_context(TID, "1111111111111111")
    inner = make_context(TID, "2222222222222222")
    seen = []

    def fail() -> None:
        with obskit.activate(inner):
            seen.append(obskit.current())
            raise RuntimeError

    with obskit.activate(outer):
        with pytest.raises(RuntimeError):
            fail()
        assert seen == [inner]
        assert obskit.current() is outer
    assert obskit.current() is EMPTY_CONTEXT


def test_bound_fields_are_scoped_and_nested() -> None:
    """bound() adds fields inside its block; nested blocks merge; leaving restores."""
    with obskit.bound(a=1):
        assert dict(obskit.current().fields) == {"a": 1}
        with obskit.bound(b=2, a=3):
            assert dict(obskit.current().fields) == {"a": 3, "b": 2}
        assert dict(obskit.current().fields) == {"a": 1}
    assert dict(obskit.current().fields) == {}


def test_bound_as_sync_decorator() -> None:
    """@bound(...) binds fields for the duration of each call."""

    @obskit.bound(job="nightly")
    def work() -> dict[str, object]:
        return dict(obskit.current().fields)

    assert work() == {"job": "nightly"}
    assert dict(obskit.current().fields) == {}


def test_bound_as_async_decorator() -> None:
    """@bound(...) on a coroutine function binds fields inside the coroutine."""

    @obskit.bound(job="async")
    async def work() -> dict[str, object]:
        await asyncio.sleep(0)
        return dict(obskit.current().fields)

    assert asyncio.run(work()) == {"job": "async"}


def test_bound_instance_is_reentrant() -> None:
    """The same bound() object can be entered recursively."""
    b = obskit.bound(x=1)
    with b, b:
        assert obskit.current().fields["x"] == 1
    assert dict(obskit.current().fields) == {}


def test_500_asyncio_tasks_each_see_only_their_own_context() -> None:
    """Concurrent tasks that activate and bind their own context never see another's."""

    async def one(i: int) -> bool:
        ctx = obskit.new_trace(correlation_id=f"c{i}")
        with obskit.activate(ctx), obskit.bound(i=i):
            for _ in range(3):
                await asyncio.sleep(0)
                cur = obskit.current()
                if cur.trace_id != ctx.trace_id or cur.fields["i"] != i or cur.correlation_id != f"c{i}":
                    return False
        return True

    async def main() -> list[bool]:
        return await asyncio.gather(*(one(i) for i in range(500)))

    assert all(asyncio.run(main()))
    assert obskit.current() is EMPTY_CONTEXT


def test_thread_pool_with_the_helper_sees_the_callers_context() -> None:
    """ContextThreadPoolExecutor runs each task in the submitter's context."""
    results: dict[int, tuple[str, object]] = {}

    def task(i: int) -> None:
        results[i] = (obskit.current().trace_id, obskit.current().fields.get("i"))

    expected = {}
    with ContextThreadPoolExecutor(max_workers=8) as pool:
        for i in range(200):
            ctx = obskit.new_trace()
            expected[i] = (ctx.trace_id, i)
            with obskit.activate(ctx), obskit.bound(i=i):
                pool.submit(task, i)
    assert results == expected


def test_plain_thread_pool_does_not_see_the_context_without_the_helper() -> None:
    """A plain ThreadPoolExecutor worker sees no trace, which is why the helper exists."""
    with ThreadPoolExecutor(max_workers=1) as pool, obskit.activate(obskit.new_trace()):
        seen = pool.submit(obskit.current).result()
    assert seen is EMPTY_CONTEXT


def test_run_in_context_carries_the_callers_context_to_a_thread() -> None:
    """run_in_context(fn) runs fn in the context captured when it was wrapped."""
    seen: list[str] = []
    ctx = obskit.new_trace()
    with obskit.activate(ctx):
        fn = run_in_context(lambda: seen.append(obskit.current().trace_id))
    t = threading.Thread(target=fn)
    t.start()
    t.join()
    assert seen == [ctx.trace_id]


def test_child_task_changes_do_not_leak_into_the_parent() -> None:
    """A task that binds fields leaves its parent's context untouched."""

    async def child() -> None:
        with obskit.bound(leak=True):
            await asyncio.sleep(0)
        obskit.bound(leak2=True).__enter__()  # never exited: still must not leak

    async def main() -> dict[str, object]:
        with obskit.bound(parent=1):
            await asyncio.create_task(child())
            return dict(obskit.current().fields)

    assert asyncio.run(main()) == {"parent": 1}


@pytest.mark.parametrize(
    ("kwargs", "counted"),
    [
        ({"sampled": 1}, 0),
        ({"sampled": "yes"}, 0),
        ({"correlation_id": 42}, 1),
        ({"baggage": {"tenant": "a", "n": 1, 2: "x"}}, 1),
        ({"baggage": 5}, 1),
        ({"baggage": [("tenant", "a")]}, 1),
    ],
)
def test_new_trace_with_odd_arguments_still_starts_a_trace(kwargs: dict, counted: int) -> None:
    """Arguments of the wrong type are read where they can be, left out (counted) where not; never raised."""
    ctx = obskit.new_trace(**kwargs)
    assert ctx.is_valid
    assert ctx.correlation_id is None
    assert dict(ctx.baggage) in ({}, {"tenant": "a"})
    assert obskit.diagnostics().get("context.bad_argument", 0) == counted
    if "sampled" in kwargs:
        assert ctx.sampled is True


def test_activate_with_something_else_than_a_context_keeps_the_current_one() -> None:
    outer = obskit.new_trace()
    with obskit.activate(outer), obskit.activate("not a context"):  # type: ignore[arg-type]
        assert obskit.current() is outer
    assert obskit.diagnostics()["context.bad_argument"] == 1

