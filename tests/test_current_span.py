"""obskit.current_span(): the handle of the current span, or one that records nothing."""

from __future__ import annotations

import obskit
from obskit.testing import capture


def test_current_span_is_the_innermost_open_span() -> None:
    with capture() as cap, obskit.span("outer") as outer:
        assert obskit.current_span() is outer
        with obskit.span("inner") as inner:
            assert obskit.current_span() is inner
            obskit.current_span().set_attribute("k", 1)
        assert obskit.current_span() is outer
    assert cap.spans_named("inner")[0]["attributes"] == {"k": 1}


def test_outside_any_span_it_records_nothing_and_never_raises() -> None:
    with capture() as cap:
        span = obskit.current_span()
        span.set_attribute("k", 1, annotation=True)
        span.set_metadata("m", {"a": 1})
        span.end()
        assert not span.is_recording
    assert cap.spans == []


def test_an_ended_span_is_no_longer_current_handle() -> None:
    """After end() (even with its context still active) the handle returned records nothing."""
    with capture() as cap:
        span = obskit.tracing.start_span("manual")
        with obskit.activate(span.context):
            assert obskit.current_span() is span
            span.end()
            late = obskit.current_span()
            assert late is not span
            assert not late.is_recording
            assert late.span_id == span.span_id
    assert len(cap.spans) == 1
