"""Every environment variable obskit reads, in precedence order, and how each is parsed.

Imports: standard library only.

Only ``obskit.config.configure()`` reads these (through ``lookup``), once, so the request path
never touches ``os.environ``. The one exception is Lambda's ``_X_AMZN_TRACE_ID``, which changes
with every invocation and is read by the Lambda propagator per invocation, never cached.

Precedence for every setting: argument to ``configure()`` > ``OBSKIT_*`` > compatible variable
(OpenTelemetry, Powertools, AWS) > default. The tuples below are in that order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["DEFAULT_XRAY_DAEMON_ADDRESS", "LAMBDA_LOG_LEVEL", "SOURCES", "detect_origin", "lookup", "parse_bool"]

SOURCES: dict[str, tuple[str, ...]] = {
    # core
    "service": ("OBSKIT_SERVICE", "OTEL_SERVICE_NAME", "POWERTOOLS_SERVICE_NAME", "AWS_LAMBDA_FUNCTION_NAME"),
    "namespace": ("OBSKIT_NAMESPACE", "POWERTOOLS_METRICS_NAMESPACE", "AWS_EMF_NAMESPACE"),
    "environment": ("OBSKIT_ENVIRONMENT",),
    "traces": ("OBSKIT_TRACES",),
    "metrics": ("OBSKIT_METRICS",),
    "logs": ("OBSKIT_LOGS",),
    "log_level": ("OBSKIT_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"),
    "sample_rate": ("OBSKIT_SAMPLE_RATE", "POWERTOOLS_LOGGER_SAMPLE_RATE"),
    "trace_sample_rate": ("OBSKIT_TRACE_SAMPLE_RATE",),
    "trace_reservoir_per_s": ("OBSKIT_TRACE_RESERVOIR_PER_S",),
    "trace_sampler": ("OBSKIT_TRACE_SAMPLER", "OTEL_TRACES_SAMPLER"),
    "propagation": ("OBSKIT_PROPAGATION",),
    "correlation_headers": ("OBSKIT_CORRELATION_HEADERS",),
    "disabled": ("OBSKIT_DISABLED",),
    "debug": ("OBSKIT_DEBUG",),
    "opentelemetry_bridge": ("OBSKIT_OPENTELEMETRY_BRIDGE",),
    # log options (obskit.logs)
    "log_redact_keys": ("OBSKIT_LOG_REDACT_KEYS",),
    "logs_bridge": ("OBSKIT_LOGS_BRIDGE",),
    "log_debug_buffer_bytes": ("OBSKIT_LOG_DEBUG_BUFFER_BYTES",),
    "log_max_bytes": ("OBSKIT_LOG_MAX_BYTES",),
    "log_serializer": ("OBSKIT_LOG_SERIALIZER",),
    "log_stream": ("OBSKIT_LOG_STREAM",),
    # emitter options
    "emf_agent_endpoint": ("OBSKIT_EMF_AGENT_ENDPOINT", "AWS_EMF_AGENT_ENDPOINT"),
    "emf_agent_queue_size": ("OBSKIT_EMF_AGENT_QUEUE_SIZE",),
    "emf_log_group_name": ("OBSKIT_EMF_LOG_GROUP_NAME", "AWS_EMF_LOG_GROUP_NAME"),
    "emf_log_stream_name": ("OBSKIT_EMF_LOG_STREAM_NAME", "AWS_EMF_LOG_STREAM_NAME"),
    "emf_file_path": ("OBSKIT_EMF_FILE_PATH",),
    "metrics_flush_interval": ("OBSKIT_METRICS_FLUSH_INTERVAL",),
    "sigterm_flush": ("OBSKIT_SIGTERM_FLUSH",),
    "metrics_max_buffered_values": ("OBSKIT_METRICS_MAX_BUFFERED_VALUES",),
    "metrics_max_dimension_values": ("OBSKIT_METRICS_MAX_DIMENSION_VALUES",),
    "metrics_max_names": ("OBSKIT_METRICS_MAX_NAMES",),
    "metrics_trace_id": ("OBSKIT_METRICS_TRACE_ID",),
    "xray_daemon_address": ("OBSKIT_XRAY_DAEMON_ADDRESS", "AWS_XRAY_DAEMON_ADDRESS"),
    "propagate_to": ("OBSKIT_PROPAGATE_TO",),
    "xray_streaming_threshold": ("OBSKIT_XRAY_STREAMING_THRESHOLD",),
    "xray_batch_size": ("OBSKIT_XRAY_BATCH_SIZE",),
    "xray_gso": ("OBSKIT_XRAY_GSO",),
    # request middleware (obskit.scope)
    "excluded_routes": ("OBSKIT_EXCLUDED_ROUTES",),
    "record_4xx_as_error": ("OBSKIT_RECORD_4XX_AS_ERROR",),
    "response_headers": ("OBSKIT_RESPONSE_HEADERS",),
    "trust_forwarded_for": ("OBSKIT_TRUST_FORWARDED_FOR",),
    "trusted_proxies": ("OBSKIT_TRUSTED_PROXIES",),
    "access_log": ("OBSKIT_ACCESS_LOG",),
    "request_metrics": ("OBSKIT_REQUEST_METRICS",),
    "lambda_timeout_margin_ms": ("OBSKIT_LAMBDA_TIMEOUT_MARGIN_MS",),
    # what Powertools users bring (obskit.metrics, obskit.integrations._lambda_options)
    "metrics_default_dimensions": ("OBSKIT_METRICS_DEFAULT_DIMENSIONS",),
    "metrics_dimension_names": ("OBSKIT_METRICS_DIMENSION_NAMES",),
    "metrics_cold_start": ("OBSKIT_METRICS_COLD_START",),
    "metrics_function_name": ("OBSKIT_METRICS_FUNCTION_NAME", "POWERTOOLS_METRICS_FUNCTION_NAME"),
    "metrics_warn_empty": ("OBSKIT_METRICS_WARN_EMPTY",),
    "lambda_log_event": ("OBSKIT_LAMBDA_LOG_EVENT", "POWERTOOLS_LOGGER_LOG_EVENT"),
    "lambda_capture_response": ("OBSKIT_LAMBDA_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_RESPONSE"),
    # what OpenTelemetry users bring (obskit.integrations._http_capture)
    "http_capture_headers_server_request": (
        "OBSKIT_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"),
    "http_capture_headers_server_response": (
        "OBSKIT_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE"),
    "http_capture_headers_client_request": (
        "OBSKIT_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST"),
    "http_capture_headers_client_response": (
        "OBSKIT_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE", "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE"),
    "http_capture_headers_sanitize_fields": (
        "OBSKIT_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"),
    "requests_excluded_urls": (
        "OBSKIT_REQUESTS_EXCLUDED_URLS", "OTEL_PYTHON_REQUESTS_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
    "httpx_excluded_urls": (
        "OBSKIT_HTTPX_EXCLUDED_URLS", "OTEL_PYTHON_HTTPX_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
}
"""Setting name -> environment variables that can provide it, highest precedence first."""

OFF_SWITCHES: dict[str, str] = {
    "traces": "POWERTOOLS_TRACE_DISABLED",
    "metrics": "POWERTOOLS_METRICS_DISABLED",
}
"""Powertools' boolean switches: ``true`` turns the signal off when neither ``configure()`` nor an
``OBSKIT_*`` variable chose its emitters (a choice made for obskit wins over one made for Powertools)."""

LAMBDA_LOG_LEVEL = "AWS_LAMBDA_LOG_LEVEL"
"""Lambda's Advanced Logging Controls level: wins over everything when it is less verbose."""

LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
LAMBDA_TASK_ROOT = "LAMBDA_TASK_ROOT"
LAMBDA_INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
"""Read once, at the first invocation, by the Lambda integration: ``provisioned-concurrency``
means the process was initialised before any request waited for it (not a cold start)."""
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
"""With ``OTEL_TRACES_SAMPLER=xray``: ``endpoint=http://host:port,polling_interval=seconds`` (at configure time)."""
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
# Read once by the X-Ray emitter's factory (at configure time) to set the segment ``origin``.
ECS_CONTAINER_METADATA_URI = "ECS_CONTAINER_METADATA_URI"
ECS_CONTAINER_METADATA_URI_V4 = "ECS_CONTAINER_METADATA_URI_V4"
ELASTIC_BEANSTALK_ENVIRONMENT = "ELASTIC_BEANSTALK_ENVIRONMENT_NAME"
KUBERNETES_SERVICE_HOST = "KUBERNETES_SERVICE_HOST"

DEFAULT_XRAY_DAEMON_ADDRESS = ("127.0.0.1", 2000)
"""Where the X-Ray daemon listens (UDP segments, TCP sampling proxy) unless told otherwise."""


def detect_origin() -> str | None:
    """The X-Ray ``origin`` (and sampling-rule ``ServiceType``) of this process, read at configure time."""
    if os.environ.get(ECS_CONTAINER_METADATA_URI_V4) or os.environ.get(ECS_CONTAINER_METADATA_URI):
        return "AWS::ECS::Container"
    if os.environ.get(ELASTIC_BEANSTALK_ENVIRONMENT):
        return "AWS::ElasticBeanstalk::Environment"
    if os.environ.get(KUBERNETES_SERVICE_HOST):
        return "AWS::EKS::Container"
    return None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def lookup(setting: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The first non-empty variable that provides ``setting``: ``(variable, value)``, or ``None``."""
    env = os.environ if environ is None else environ
    for var in SOURCES.get(setting, ()):
        value = env.get(var)
        if value is not None and value.strip() != "":
            return var, value.strip()
    return None


def parse_bool(text: str) -> bool | None:
    """``"1"/"true"/"yes"/"on"`` -> True, ``"0"/"false"/"no"/"off"`` -> False, else ``None``."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None
