"""SQS consumers: each message continues its producer's trace and correlation id.

Imports: standard library, obskit's core (``context``, ``propagation``, ``semconv``,
``_diagnostics``, ``_pipeline``). No boto3: records are
plain dicts.

Works on both record shapes:

* boto3 ``receive_message(..., MessageSystemAttributeNames=["AWSTraceHeader"],
  MessageAttributeNames=["All"])`` messages: ``Attributes.AWSTraceHeader`` and
  ``MessageAttributes.{name}.StringValue`` (ask for those attributes, or SQS leaves them out);
* Lambda SQS event records: ``attributes.AWSTraceHeader`` and ``messageAttributes.{name}.stringValue``.

A message delivered by SNS without raw delivery carries its attributes inside the JSON body
(``MessageAttributes.{name}.Value``); those are read too.

Where the context comes from: ``traceparent`` and ``AWSTraceHeader`` in the configured
precedence (``traceparent`` first by default; ``AWSTraceHeader`` is always read, whatever
``propagation`` says, because it is AWS's own channel), ``tracestate`` and ``baggage`` from
message attributes of those names, and the correlation id from ``x-correlation-id`` (or the
other configured correlation headers). Lambda's ``_X_AMZN_TRACE_ID`` is never used here: it
describes the invocation, not the message.

**The consumer span continues the producer's trace** (its parent is the producer's span, so a
message's whole journey is one trace in X-Ray and in log queries) **and links to it**, as
OpenTelemetry's messaging conventions ask for the creation context. When the record is
processed inside another trace (a Lambda invocation's, a polling loop's span) the span links to
that one too, so the batch stays one click away. A message with no usable context gets a
child span of the current context (or a new trace) and is counted nowhere: that is normal.
The correlation id is the message's, else the current one, else a new one.

Malformed attributes (not a string, a binary data type, an invalid ``traceparent``) are
ignored and counted (``integrations.sqs.malformed`` and the propagation counters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from obskit import _diagnostics, _pipeline
from obskit._context import TelemetryContext
from obskit.context import activate, current
from obskit.propagation import CompositePropagator, build_propagator, mapping_getter
from obskit.semconv import (
    ATTR_ERROR_TYPE,
    ATTR_MESSAGING_DESTINATION,
    ATTR_MESSAGING_MESSAGE_ID,
    ATTR_MESSAGING_OPERATION,
    ATTR_MESSAGING_SYSTEM,
    HEADER_XRAY,
    MESSAGING_OPERATION_PROCESS,
    MESSAGING_SYSTEM_SQS,
    SPAN_KIND_CONSUMER,
    SQS_TRACE_ATTRIBUTE,
)

__all__ = ["record_context", "record_scope"]

DIAG_MALFORMED = "integrations.sqs.malformed"
"""A message attribute obskit reads was not a string (or the record was not a mapping)."""
DIAG_FAILURE = "integrations.sqs.failure"

def _propagator_of(cfg: Any) -> CompositePropagator:
    """The configured formats minus the Lambda environment, with X-Ray always included."""
    names = [n for n in cfg.propagation if n != "lambda"]
    if "xray" not in names:
        names.append("xray")
    return build_propagator(names, correlation_headers=cfg.correlation_headers, max_header_bytes=cfg.max_header_bytes)


_propagator: _pipeline.PerConfig[CompositePropagator] = _pipeline.PerConfig(_propagator_of)


def _string_attribute(value: Any) -> str | None:
    """The string of an SQS/SNS message attribute in any of its spellings, else ``None``."""
    if not isinstance(value, Mapping):
        return None
    dtype = value.get("DataType") or value.get("dataType") or value.get("Type")
    if dtype is not None and not (isinstance(dtype, str) and dtype.startswith("String")):
        return None
    for key in ("StringValue", "stringValue", "Value"):
        text = value.get(key)
        if text is not None:
            return text if isinstance(text, str) else None
    return None


def _read_attributes(attrs: Any, wanted: frozenset[str], carrier: dict[str, str]) -> None:
    if not isinstance(attrs, Mapping):
        if attrs is not None:
            _diagnostics.incr(DIAG_MALFORMED)
        return
    for name, value in attrs.items():
        if not isinstance(name, str):
            continue
        lname = name.lower()
        if lname not in wanted or lname in carrier:
            continue
        text = _string_attribute(value)
        if text is None:
            _diagnostics.incr(DIAG_MALFORMED)
            continue
        carrier[lname] = text


def _sns_envelope(body: Any) -> Any:
    """The ``MessageAttributes`` of an SNS notification body (non-raw delivery), else ``None``."""
    if not isinstance(body, str) or not body.startswith("{") or '"TopicArn"' not in body:
        return None
    if '"MessageAttributes"' not in body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("MessageAttributes") if isinstance(doc, dict) else None


def _carrier(record: Any, comp: CompositePropagator) -> dict[str, str]:
    """The record's propagation fields as lower-case headers, for the usual getter."""
    carrier: dict[str, str] = {}
    if not isinstance(record, Mapping):
        _diagnostics.incr(DIAG_MALFORMED)
        return carrier
    wanted = comp.fields - {HEADER_XRAY}
    _read_attributes(record.get("MessageAttributes", record.get("messageAttributes")), wanted, carrier)
    if not carrier:
        envelope = _sns_envelope(record.get("Body", record.get("body")))
        if envelope is not None:
            _read_attributes(envelope, wanted, carrier)
    system = record.get("Attributes", record.get("attributes"))
    if isinstance(system, Mapping):
        trace = system.get(SQS_TRACE_ATTRIBUTE)
        if isinstance(trace, str):
            carrier[HEADER_XRAY] = trace
        elif trace is not None:
            _diagnostics.incr(DIAG_MALFORMED)
    return carrier


def _extract(record: Any) -> tuple[TelemetryContext | None, str | None]:
    comp = _propagator()
    carrier = _carrier(record, comp)
    if not carrier:
        return None, None
    producer = comp.extract(carrier, mapping_getter)
    return producer, comp.correlation_id(carrier, mapping_getter)


def record_context(record: Any) -> TelemetryContext | None:
    """The producer's context carried by one SQS message, or ``None`` when it carries none.

    For entry points that run their own span per record (the Lambda integration): the result
    has the producer's trace and span (``remote=True``; ``span_id`` is ``None`` for a Root-only
    ``AWSTraceHeader``), its baggage and the message's correlation id (``None`` when absent).
    Never raises.

    Args:
        record: a boto3 message or a Lambda SQS event record.
    """
    try:
        producer, cid = _extract(record)
        if producer is None or not producer.is_valid:
            return None
        return producer.with_correlation(cid).with_fields(current().fields)
    except Exception:
        _diagnostics.incr(DIAG_FAILURE)
        return None


def _queue_of(record: Mapping[str, Any]) -> str | None:
    arn = record.get("eventSourceARN")
    if isinstance(arn, str) and arn:
        return arn.rsplit(":", 1)[-1]
    return None


class record_scope:
    """Process one SQS message inside a consumer span that continues the producer's trace.

    Example::

        messages = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        for message in messages:
            with record_scope(message, queue="orders"):
                log.info("processing")      # carries the producer's trace id and correlation id
                handle(message)

    The span is named ``process {queue}``; an exception that escapes the block is recorded
    on it (status error) and re-raised unchanged. Never raises on its own account.

    Args:
        record: a boto3 message or a Lambda SQS event record.
        queue: the queue name for the span (``eventSourceARN`` gives it for Lambda records).
        name: the span name, when ``process {queue}`` does not suit.
    """

    __slots__ = ("_activation", "_name", "_queue", "_record", "_span")

    def __init__(self, record: Any, *, queue: str | None = None, name: str | None = None) -> None:
        self._record = record
        self._queue = queue
        self._name = name
        self._span: Any = None
        self._activation: activate | None = None

    def __enter__(self) -> Any:
        from obskit.tracing import start_span

        outer = current()
        record = self._record
        try:
            producer, cid = _extract(record)
        except Exception:
            _diagnostics.incr(DIAG_FAILURE)
            producer, cid = None, None
        links: list[TelemetryContext] = []
        if producer is not None and producer.is_valid:
            cid = cid or outer.correlation_id or os.urandom(16).hex()
            parent = producer.with_correlation(cid).with_fields(outer.fields)
            if producer.span_id is not None:
                links.append(producer)
            if outer.is_valid and outer.span_id is not None and outer.trace_id != producer.trace_id:
                links.append(outer)
        else:
            cid = cid or outer.correlation_id or os.urandom(16).hex()
            parent = outer.with_correlation(cid)
        is_map = isinstance(record, Mapping)
        queue = self._queue or (_queue_of(record) if is_map else None)
        attributes: dict[str, Any] = {
            ATTR_MESSAGING_SYSTEM: MESSAGING_SYSTEM_SQS,
            ATTR_MESSAGING_OPERATION: MESSAGING_OPERATION_PROCESS,
        }
        if queue:
            attributes[ATTR_MESSAGING_DESTINATION] = queue
        message_id = (record.get("MessageId") or record.get("messageId")) if is_map else None
        if isinstance(message_id, str):
            attributes[ATTR_MESSAGING_MESSAGE_ID] = message_id
        name = self._name or (f"{MESSAGING_OPERATION_PROCESS} {queue}" if queue else MESSAGING_OPERATION_PROCESS)
        span = start_span(name, kind=SPAN_KIND_CONSUMER, attributes=attributes, parent=parent, links=links)
        self._span = span
        self._activation = activate(span.context)
        self._activation.__enter__()
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        activation, self._activation = self._activation, None
        if activation is not None:
            activation.__exit__(exc_type, exc, tb)
        span, self._span = self._span, None
        if span is None:
            return
        if isinstance(exc, Exception):
            span.record_exception(exc)
            span.set_attribute(ATTR_ERROR_TYPE, type(exc).__qualname__)
            span.set_status(False, str(exc) or type(exc).__qualname__)
        span.end()
