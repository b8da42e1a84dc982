"""The pytest fixtures obskit registers for its users' test suites."""

from __future__ import annotations

import obskit
from obskit.testing import Capture, LambdaContext


def test_obskit_capture_fixture_collects_logs_metrics_and_spans(obskit_capture: Capture) -> None:
    """The obskit_capture fixture yields a Capture that fills as the test writes telemetry."""
    log = obskit.get_logger("t")
    with obskit.span("work"):
        log.info("inside", n=1)
    obskit.metrics.count("Things")
    obskit.flush()
    assert obskit_capture.logs[-1]["n"] == 1
    assert obskit_capture.logs[-1]["trace_id"] == obskit_capture.spans_named("work")[0]["trace_id"]
    assert obskit_capture.metric_values("Things") == [1]


def test_lambda_context_fixture_counts_down(lambda_context: LambdaContext) -> None:
    """The lambda_context fixture has Lambda's attributes and a remaining time that decreases."""
    assert lambda_context.invoked_function_arn.endswith(":function:orders")
    assert 0 < lambda_context.get_remaining_time_in_millis() <= 30_000


def test_lambda_context_runs_out() -> None:
    """A LambdaContext with no time left reports zero, never a negative number."""
    assert LambdaContext(timeout_s=0).get_remaining_time_in_millis() == 0
