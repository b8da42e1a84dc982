"""obskit.integrations.sqs: consumer spans and log lines that continue the producer's trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

import obskit
from obskit.integrations.sqs import record_context, record_scope
from obskit.semconv import ATTR_ERROR_TYPE, ATTR_MESSAGING_DESTINATION, ATTR_MESSAGING_MESSAGE_ID
from obskit.testing import capture

TRACE = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
XRAY = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={PARENT};Sampled=1"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{OTHER_TRACE}-b7ad6b7169203331-01"
ARN = "arn:aws:sqs:eu-west-1:123456789012:orders"


def lambda_record(trace: str | None = XRAY, **attributes: Any) -> dict[str, Any]:
    """A Lambda SQS event record; keyword arguments become message attributes (str -> String)."""
    attrs = {
        name: value if isinstance(value, dict) else {"stringValue": value, "dataType": "String"}
        for name, value in attributes.items()
    }
    return {
        "messageId": "m-1",
        "body": "{}",
        "attributes": {"AWSTraceHeader": trace} if trace else {},
        "messageAttributes": attrs,
        "eventSource": "aws:sqs",
        "eventSourceARN": ARN,
    }


def _consume(record: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Process ``record`` in a record_scope that logs one line; return that line and the span."""
    with capture() as cap, record_scope(record, **kwargs):
        obskit.get_logger("consumer").info("consumed")
    return cap.logs_with(message="consumed")[0], cap.spans[-1]


def test_aws_trace_header_is_continued() -> None:
    """A record with only AWSTraceHeader gives a consumer span under the producer's span."""
    line, span = _consume(lambda_record())
    assert line["trace_id"] == TRACE
    assert span["parent_span_id"] == PARENT
    assert span["kind"] == "consumer"
    assert span["links"] == [{"trace_id": TRACE, "span_id": PARENT}]


def test_correlation_id_comes_from_the_message_attribute() -> None:
    """Log lines inside carry the message's x-correlation-id."""
    line, _ = _consume(lambda_record(**{"x-correlation-id": "order-42"}))
    assert line["correlation_id"] == "order-42"


def test_traceparent_wins_over_aws_trace_header_by_default() -> None:
    """With both, the traceparent attribute names the parent (the configured precedence)."""
    line, span = _consume(lambda_record(traceparent=TRACEPARENT))
    assert line["trace_id"] == OTHER_TRACE
    assert span["parent_span_id"] == "b7ad6b7169203331"


def test_configured_precedence_can_prefer_aws_trace_header() -> None:
    """configure(propagation=["xray", "tracecontext"]) makes AWSTraceHeader win."""
    record = lambda_record(traceparent=TRACEPARENT)
    with capture(propagation=["xray", "tracecontext"]) as cap, record_scope(record) as span:
        pass
    assert span.trace_id == TRACE
    assert cap.spans[-1]["parent_span_id"] == PARENT


def test_boto3_message_shape_is_read() -> None:
    """A receive_message message (Attributes / MessageAttributes.StringValue) works the same."""
    message = {
        "MessageId": "m-2",
        "Body": "hi",
        "Attributes": {"AWSTraceHeader": XRAY},
        "MessageAttributes": {"x-correlation-id": {"StringValue": "c-7", "DataType": "String"}},
    }
    line, span = _consume(message, queue="orders")
    assert (line["trace_id"], line["correlation_id"]) == (TRACE, "c-7")
    assert span["name"] == "process orders"
    assert span["attributes"][ATTR_MESSAGING_MESSAGE_ID] == "m-2"


def test_sns_envelope_attributes_are_read() -> None:
    """A message SNS delivered without raw delivery carries its attributes in the JSON body."""
    body = json.dumps({
        "Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": "hi",
        "MessageAttributes": {"traceparent": {"Type": "String", "Value": TRACEPARENT},
                              "x-correlation-id": {"Type": "String", "Value": "c-8"}},
    })
    line, _ = _consume({"MessageId": "m", "Body": body, "Attributes": {}})
    assert (line["trace_id"], line["correlation_id"]) == (OTHER_TRACE, "c-8")


def test_non_string_attribute_is_ignored_and_counted() -> None:
    """A Binary traceparent is skipped (counted); AWSTraceHeader still gives the trace."""
    binary = {"binaryValue": "AAE=", "dataType": "Binary"}
    line, _ = _consume(lambda_record(traceparent=binary))
    assert line["trace_id"] == TRACE
    assert obskit.diagnostics()["integrations.sqs.malformed"] == 1


def test_malformed_traceparent_falls_back_to_aws_trace_header() -> None:
    """An invalid traceparent attribute is ignored; the other channel still carries the trace."""
    line, _ = _consume(lambda_record(traceparent="00-zz-zz-01"))
    assert line["trace_id"] == TRACE


def test_span_name_and_queue_come_from_the_event_source_arn() -> None:
    """A Lambda record's eventSourceARN names the span and the destination attribute."""
    _, span = _consume(lambda_record())
    assert span["name"] == "process orders"
    assert span["attributes"][ATTR_MESSAGING_DESTINATION] == "orders"


def test_message_without_context_continues_the_current_one() -> None:
    """No trace in the message: the span is a child of the current span, with its correlation id."""
    batch = obskit.new_trace(correlation_id="batch-1")
    with capture() as cap, obskit.activate(batch), obskit.span("poll") as poll, record_scope({"MessageId": "m"}):
        obskit.get_logger("c").info("consumed")
    line = cap.logs_with(message="consumed")[0]
    assert (line["trace_id"], line["correlation_id"]) == (poll.trace_id, "batch-1")
    assert cap.spans_named("process")[0]["parent_span_id"] == poll.span_id


def test_message_without_context_and_no_current_trace_starts_one() -> None:
    """Outside any trace, a context-less message gets a new trace and a new correlation id."""
    line, span = _consume({"MessageId": "m", "Body": "x"})
    assert span["parent_span_id"] is None
    assert len(line["correlation_id"]) == 32


def test_processing_inside_another_trace_links_to_it() -> None:
    """Inside a Lambda invocation's span, the consumer span links to the producer and to the invocation."""
    with capture() as cap, obskit.span("invocation") as invocation, record_scope(lambda_record()):
        pass
    links = cap.spans_named("process orders")[0]["links"]
    assert {"trace_id": invocation.trace_id, "span_id": invocation.span_id} in links
    assert {"trace_id": TRACE, "span_id": PARENT} in links


def test_exception_is_recorded_and_re_raised() -> None:
    """An exception escaping the block reaches the caller unchanged; the span has status error."""
    with capture() as cap, pytest.raises(KeyError), record_scope(lambda_record()):
        raise KeyError("sku")
    span = cap.spans[-1]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "KeyError"


def test_context_is_restored_after_the_block() -> None:
    """After the block the caller's context is current again."""
    with capture(), obskit.span("outer") as outer:
        with record_scope(lambda_record()):
            pass
        assert obskit.current().span_id == outer.span_id


def test_record_that_is_not_a_mapping_is_tolerated() -> None:
    """A non-dict record still gets a span (new trace) and is counted as malformed."""
    _, span = _consume("not a record")
    assert span["name"] == "process"
    assert obskit.diagnostics()["integrations.sqs.malformed"] == 1


def test_oversized_trace_header_is_ignored() -> None:
    """An AWSTraceHeader longer than max_header_bytes is not parsed: a new trace starts."""
    line, _ = _consume(lambda_record(trace=XRAY + ";Custom=" + "a" * 10_000))
    assert line["trace_id"] != TRACE


def test_record_context_gives_the_producer_context() -> None:
    """record_context returns the producer's ids and correlation id, or None without any."""
    with capture():
        ctx = record_context(lambda_record(**{"x-correlation-id": "c-1"}))
        none = record_context({"messageId": "m", "body": "x"})
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id, ctx.correlation_id, ctx.remote) == (TRACE, PARENT, "c-1", True)
    assert none is None


def test_root_only_trace_header_continues_the_trace_without_a_parent() -> None:
    """An AWSTraceHeader with Root only keeps the trace id; the consumer span has no parent span."""
    line, span = _consume(lambda_record(trace=f"Root=1-{TRACE[:8]}-{TRACE[8:]};Sampled=1"))
    assert line["trace_id"] == TRACE
    assert span["parent_span_id"] is None
