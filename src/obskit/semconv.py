"""Every name that leaves the process: metric names, units, dimensions, log fields, headers.

Imports: nothing. The middleware, the emitters and the SLO generator all read these constants, so
the alarms the generator writes watch exactly the metrics the middleware emits. A string literal
for one of these names anywhere else is a bug.

The request metrics follow AWS Application Signals: ``Error`` and ``Fault`` are 0 or 1 on every
request, so ``SampleCount`` is the request count, ``Sum`` the bad count and ``Average`` the rate.
"""

from __future__ import annotations

from typing import Final

# --- metrics ---------------------------------------------------------------------------------
DEFAULT_NAMESPACE: Final = "obskit"

METRIC_LATENCY: Final = "Latency"
"""Request duration in milliseconds; one raw value per request (percentiles and PR(:T) work)."""
METRIC_ERROR: Final = "Error"
"""1 when the response status is 400-499, else 0."""
METRIC_FAULT: Final = "Fault"
"""1 when the response status is >= 500 or the handler raised, else 0."""
METRIC_COLD_START: Final = "ColdStart"
"""1 once per Lambda cold start (also when the first invocation raises)."""

UNIT_MILLISECONDS: Final = "Milliseconds"
UNIT_COUNT: Final = "Count"
UNIT_NONE: Final = "None"

DIM_SERVICE: Final = "Service"
DIM_OPERATION: Final = "Operation"
DIM_ENVIRONMENT: Final = "Environment"
DIM_FUNCTION_NAME: Final = "FunctionName"
DIM_SERVICE_POWERTOOLS: Final = "service"
"""``Service`` as Powertools for AWS Lambda writes it (``metrics_dimension_names="powertools"``)."""
DIM_FUNCTION_NAME_POWERTOOLS: Final = "function_name"
"""``FunctionName`` of ``ColdStart`` as Powertools writes it."""

OTHER_DIMENSION_VALUE: Final = "Other"
"""What a dimension value becomes once the cardinality guard for its key has tripped."""

# CloudWatch Synthetics, for downtime SLOs.
SYNTHETICS_NAMESPACE: Final = "CloudWatchSynthetics"
METRIC_SYNTHETICS_SUCCESS: Final = "SuccessPercent"
DIM_CANARY_NAME: Final = "CanaryName"

# --- log fields, in the order they appear on a line --------------------------------------------
LOG_TIMESTAMP: Final = "timestamp"
LOG_LEVEL: Final = "level"
LOG_MESSAGE: Final = "message"
LOG_LOGGER: Final = "logger"
LOG_SERVICE: Final = "service"
LOG_TRACE_ID: Final = "trace_id"
LOG_SPAN_ID: Final = "span_id"
LOG_XRAY_TRACE_ID: Final = "xray_trace_id"
LOG_CORRELATION_ID: Final = "correlation_id"
LOG_EXCEPTION: Final = "exception"
# Lambda (names kept from Powertools so existing Logs Insights queries keep working).
LOG_COLD_START: Final = "cold_start"
LOG_FUNCTION_NAME: Final = "function_name"
LOG_FUNCTION_REQUEST_ID: Final = "function_request_id"
LOG_FUNCTION_ARN: Final = "function_arn"
LOG_FUNCTION_MEMORY_SIZE: Final = "function_memory_size"

# Access log line fields.
LOG_HTTP_METHOD: Final = "method"
LOG_HTTP_ROUTE: Final = "route"
LOG_HTTP_PATH: Final = "path"
LOG_HTTP_STATUS: Final = "status"
LOG_DURATION_MS: Final = "duration_ms"
LOG_CLIENT_IP: Final = "client_ip"
LOG_USER_AGENT: Final = "user_agent"
LOG_RESPONSE_SIZE: Final = "response_size"

# --- wire headers (lower case: HTTP field names are case-insensitive) --------------------------
HEADER_TRACEPARENT: Final = "traceparent"
HEADER_TRACESTATE: Final = "tracestate"
HEADER_BAGGAGE: Final = "baggage"
HEADER_XRAY: Final = "x-amzn-trace-id"
HEADER_CORRELATION_ID: Final = "x-correlation-id"
HEADER_REQUEST_ID: Final = "x-request-id"
ENV_LAMBDA_TRACE: Final = "_X_AMZN_TRACE_ID"
SQS_TRACE_ATTRIBUTE: Final = "AWSTraceHeader"

BAGGAGE_DEBUG_KEY: Final = "obskit.debug"
"""Baggage member that carries a per-request debug-sampling decision to downstream services."""

# --- span kinds ------------------------------------------------------------------------------
SPAN_KIND_INTERNAL: Final = "internal"
SPAN_KIND_SERVER: Final = "server"
SPAN_KIND_CLIENT: Final = "client"
SPAN_KIND_PRODUCER: Final = "producer"
SPAN_KIND_CONSUMER: Final = "consumer"
SPAN_KINDS: Final = frozenset(
    {SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER}
)

# --- span attributes (OpenTelemetry semantic conventions) ------------------------------------
# The X-Ray emitter maps these onto the segment's ``http`` and ``aws`` blocks.
ATTR_HTTP_METHOD: Final = "http.request.method"
ATTR_HTTP_ROUTE: Final = "http.route"
ATTR_HTTP_STATUS: Final = "http.response.status_code"
ATTR_URL_PATH: Final = "url.path"
ATTR_URL_FULL: Final = "url.full"
ATTR_URL_SCHEME: Final = "url.scheme"
ATTR_SERVER_ADDRESS: Final = "server.address"
ATTR_CLIENT_ADDRESS: Final = "client.address"
ATTR_USER_AGENT: Final = "user_agent.original"
ATTR_HTTP_RESPONSE_SIZE: Final = "http.response.body.size"
ATTR_RPC_SYSTEM: Final = "rpc.system"
ATTR_RPC_SERVICE: Final = "rpc.service"
ATTR_RPC_METHOD: Final = "rpc.method"
ATTR_CLOUD_REGION: Final = "cloud.region"
ATTR_AWS_REQUEST_ID: Final = "aws.request_id"
ATTR_XRAY_SAMPLING_RULE: Final = "aws.xray.sampling_rule_name"
"""On a root span: the X-Ray sampling rule that sampled it (``trace_sampler="xray"``), as the X-Ray SDKs record it."""
ATTR_FAAS_TRIGGER: Final = "faas.trigger"
ATTR_FAAS_COLDSTART: Final = "faas.coldstart"
ATTR_FAAS_INVOCATION_ID: Final = "faas.invocation_id"
ATTR_MESSAGING_SYSTEM: Final = "messaging.system"
ATTR_MESSAGING_DESTINATION: Final = "messaging.destination.name"
ATTR_MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
ATTR_ERROR_TYPE: Final = "error.type"

# Names OpenTelemetry instrumentations write (older and newer conventions side by side), which
# the X-Ray emitter maps as AWS's OpenTelemetry-to-X-Ray translation does.
ATTR_PEER_SERVICE: Final = "peer.service"
ATTR_SERVER_PORT: Final = "server.port"
ATTR_DB_SYSTEM: Final = "db.system"
ATTR_DB_SYSTEM_NAME: Final = "db.system.name"
ATTR_DB_NAME: Final = "db.name"
ATTR_DB_NAMESPACE: Final = "db.namespace"
ATTR_DB_STATEMENT: Final = "db.statement"
ATTR_DB_QUERY_TEXT: Final = "db.query.text"
ATTR_DB_USER: Final = "db.user"
ATTR_DB_CONNECTION_STRING: Final = "db.connection_string"
ATTR_HTTP_METHOD_OLD: Final = "http.method"
ATTR_HTTP_STATUS_OLD: Final = "http.status_code"
ATTR_HTTP_URL_OLD: Final = "http.url"
ATTR_HTTP_SCHEME_OLD: Final = "http.scheme"
ATTR_HTTP_HOST_OLD: Final = "http.host"
ATTR_HTTP_TARGET_OLD: Final = "http.target"
ATTR_HTTP_USER_AGENT_OLD: Final = "http.user_agent"
ATTR_NET_PEER_NAME: Final = "net.peer.name"
ATTR_NET_PEER_PORT: Final = "net.peer.port"
ATTR_AWS_SERVICE: Final = "aws.service"
ATTR_AWS_OPERATION: Final = "aws.operation"
ATTR_AWS_REGION: Final = "aws.region"
ATTR_AWS_ACCOUNT_ID: Final = "aws.account_id"
ATTR_AWS_REQUEST_ID_ALT: Final = "aws.requestId"
ATTR_AWS_QUEUE_URL: Final = "aws.queue_url"
ATTR_AWS_QUEUE_URL_ALT: Final = "aws.queue.url"
ATTR_MESSAGING_URL: Final = "messaging.url"
ATTR_AWS_TABLE_NAME: Final = "aws.table_name"
ATTR_AWS_TABLE_NAME_ALT: Final = "aws.table.name"
ATTR_AWS_DYNAMODB_TABLE_NAMES: Final = "aws.dynamodb.table_names"
SQL_DB_SYSTEMS: Final = frozenset({
    "db2", "derby", "hive", "mariadb", "mssql", "mysql", "oracle", "postgresql", "sqlite", "teradata", "other_sql",
    # the same systems under the newer ``db.system.name`` values
    "ibm.db2", "microsoft.sql_server", "oracle.db",
})
"""``db.system`` values whose spans carry an X-Ray ``sql`` block (the translator's list)."""

# --- tags on the alarms the SLO generator writes (drift detection and pruning) ----------------
SLO_TAG_GENERATOR: Final = "obskit:generator"
"""Value ``obskit``: marks an alarm as generated, so ``obskit slo apply`` may prune it."""
SLO_TAG_GENERATOR_VERSION: Final = "obskit:generator-version"
SLO_TAG_SERVICE: Final = "obskit:service"
SLO_TAG_SLO: Final = "obskit:slo"
SLO_TAG_ENVIRONMENT: Final = "obskit:environment"
SLO_TAG_SEVERITY: Final = "obskit:severity"
SLO_TAG_WINDOW: Final = "obskit:window"
SLO_GENERATOR_NAME: Final = "obskit"

# --- request middleware (obskit.scope, obskit.integrations) -----------------------------------
ACCESS_LOGGER: Final = "obskit.access"
"""Logger name of the one access line each request writes."""
ACCESS_MESSAGE: Final = "request"
"""``message`` of the access line."""
TIMEOUT_MESSAGE: Final = "timeout_imminent"
"""``message`` of the line the Lambda timeout guard writes just before the function times out."""
LAMBDA_LOGGER: Final = "obskit.lambda"
"""Logger of the invocation's event (``log_event``) and the empty-metrics warning."""
EMPTY_METRICS_MESSAGE: Final = "no_application_metrics"
"""``message`` of the warning ``metrics_warn_empty`` writes for an invocation that recorded no metric."""
ATTR_XRAY_COLD_START: Final = "ColdStart"
"""The Lambda span's annotation Powertools' Tracer writes (``annotation.ColdStart = true`` filters)."""
ATTR_XRAY_SERVICE: Final = "Service"
"""The Lambda span's annotation with the service name (Powertools' Tracer writes it too)."""
LOG_CLIENT_DISCONNECTED: Final = "client_disconnected"
LOG_ERROR_TYPE: Final = "error_type"
LOG_TRIGGER: Final = "trigger"
"""What invoked a Lambda function: ``api_gateway_rest``, ``sqs``, ``direct`` and so on."""
LOG_REMAINING_MS: Final = "remaining_ms"
LOG_BATCH_SIZE: Final = "batch_size"
LOG_BATCH_FAILURES: Final = "batch_failures"

HEADER_USER_AGENT: Final = "user-agent"
HEADER_FORWARDED_FOR: Final = "x-forwarded-for"

ATTR_CLIENT_DISCONNECTED: Final = "obskit.client_disconnected"
ATTR_CLOUD_RESOURCE_ID: Final = "cloud.resource_id"
ATTR_FAAS_NAME: Final = "faas.name"
ATTR_FAAS_TIMEOUT_IMMINENT: Final = "obskit.faas.timeout_imminent"
ATTR_MESSAGING_BATCH_COUNT: Final = "messaging.batch.message_count"
ATTR_MESSAGING_OPERATION: Final = "messaging.operation.type"

FAAS_TRIGGER_HTTP: Final = "http"
FAAS_TRIGGER_PUBSUB: Final = "pubsub"
FAAS_TRIGGER_OTHER: Final = "other"

# --- EMF metrics (obskit.metrics, obskit.emitters.emf) -----------------------------------------
UNIT_SECONDS: Final = "Seconds"
UNIT_MICROSECONDS: Final = "Microseconds"
UNIT_BYTES: Final = "Bytes"
UNIT_PERCENT: Final = "Percent"
UNIT_COUNT_PER_SECOND: Final = "Count/Second"
CLOUDWATCH_UNITS: Final = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})
"""The CloudWatch ``StandardUnit`` enum: the only units an EMF ``Unit`` may name."""
METRIC_PROPERTY_TRACE_ID: Final = LOG_TRACE_ID
"""EMF property carrying a trace id (the same field name as on log lines, so one query joins both)."""

# --- log lines (obskit.logs) --------------------------------------------------------------------
LOG_ENVIRONMENT: Final = "environment"
"""Written after ``correlation_id`` when ``configure(environment=...)`` is set."""
LOG_TRUNCATED: Final = "truncated"
"""``true`` on a line whose fields were clipped to fit ``log_max_bytes``."""
LOG_STACK_INFO: Final = "stack_info"
"""A standard library record's ``stack_info`` text, when it has one."""
# Keys inside the structured ``exception`` object.
LOG_EXC_TYPE: Final = "type"
LOG_EXC_MESSAGE: Final = "message"
LOG_EXC_FRAMES: Final = "frames"
LOG_EXC_FRAMES_OMITTED: Final = "frames_omitted"
LOG_EXC_CAUSE: Final = "cause"
LOG_EXC_GROUP: Final = "exceptions"
LOG_FRAME_FILE: Final = "file"
LOG_FRAME_LINE: Final = "line"
LOG_FRAME_FUNCTION: Final = "function"
LOG_REDACTED: Final = "***"
"""What a redacted value is replaced by."""
LOG_ACCESS_LOGGER: Final = "obskit.access"
"""Logger name of the access line that integrations write once per request."""
LOG_OBSKIT_LOGGER: Final = "obskit"
"""Logger name of obskit's own diagnostics (standard library ``logging``)."""

# --- outgoing calls and messaging (obskit.integrations: httpx, requests, botocore, sqs) -------
RPC_SYSTEM_AWS_API: Final = "aws-api"
"""``rpc.system`` of a span around an AWS API call (the X-Ray emitter puts these in the ``aws`` block)."""
MESSAGING_SYSTEM_SQS: Final = "aws_sqs"
MESSAGING_SYSTEM_SNS: Final = "aws_sns"
MESSAGING_OPERATION_SEND: Final = "send"
MESSAGING_OPERATION_PROCESS: Final = "process"
SQS_MESSAGE_ATTRIBUTE_LIMIT: Final = 10
"""Most message attributes an SQS message (and an SNS message bound for raw SQS delivery) may carry."""
SQS_MAX_MESSAGE_BYTES: Final = 262_144
"""Body plus attributes of one SQS message (and of a whole batch) at the classic, default queue maximum."""
EVENTBRIDGE_TRACE_HEADER_MAX: Final = 500
"""Longest ``TraceHeader`` an EventBridge ``PutEvents`` entry accepts."""
LAMBDA_CLIENT_CONTEXT_MAX: Final = 3583
"""Longest base64 ``ClientContext`` a Lambda ``Invoke`` accepts."""
LAMBDA_CLIENT_CONTEXT_CUSTOM: Final = "custom"
"""Key of the application's own mapping inside a Lambda client context."""
