"""Shared fixtures: every test starts from obskit's unconfigured state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import obskit.testing


@pytest.fixture(autouse=True)
def _obskit_reset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset obskit and clear environment variables that would change its defaults."""
    for var in (
        "AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "_X_AMZN_TRACE_ID",
        "AWS_XRAY_DAEMON_ADDRESS", "AWS_EMF_AGENT_ENDPOINT", "AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL",
        "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_LOGGER_SAMPLE_RATE", "OTEL_SERVICE_NAME", "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "AWS_EMF_NAMESPACE",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED",
        "POWERTOOLS_METRICS_FUNCTION_NAME", "POWERTOOLS_LOGGER_LOG_EVENT", "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
    ):
        monkeypatch.delenv(var, raising=False)
    for var in list(__import__("os").environ):
        if var.startswith(("OBSKIT_", "OTEL_PYTHON_", "OTEL_INSTRUMENTATION_HTTP_")):
            monkeypatch.delenv(var, raising=False)
    obskit.testing.reset()
    yield
    obskit.testing.reset()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the UDP socket aws-xray-sdk's global recorder opens at import (not ours to leak)."""
    import sys

    core = sys.modules.get("aws_xray_sdk.core")
    emitter = getattr(getattr(core, "xray_recorder", None), "_emitter", None)
    sock = getattr(emitter, "_socket", None)
    if sock is not None:
        sock.close()
