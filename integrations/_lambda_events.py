"""Recognise a Lambda event's source and read what a request scope needs from it.

Imports: standard library and obskit's core (``obskit.propagation``, ``obskit.semconv``).

Each shape is recognised by the keys AWS documents for it, checked from the most specific
down; anything else (a direct ``Invoke`` with a payload of the caller's choosing, or a source
not listed here) is a ``direct`` invocation. Nothing here raises on a strange event: a field
of the wrong type is treated as missing.

Where the trace context lives, per event source: REST v1 ``headers``/``multiValueHeaders``
(mixed case), HTTP API v2, ALB and Function URL ``headers`` (lower case), SQS each record's
``attributes.AWSTraceHeader`` (a batch can mix traces: span links), SNS and EventBridge nothing
(Lambda's ``_X_AMZN_TRACE_ID``, read by ``extract`` through the Lambda propagator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obskit import _diagnostics
from obskit.propagation import XRayPropagator, mapping_getter
from obskit.semconv import (
    ATTR_MESSAGING_BATCH_COUNT,
    ATTR_MESSAGING_DESTINATION,
    ATTR_MESSAGING_MESSAGE_ID,
    ATTR_MESSAGING_OPERATION,
    ATTR_MESSAGING_SYSTEM,
    FAAS_TRIGGER_HTTP,
    FAAS_TRIGGER_OTHER,
    FAAS_TRIGGER_PUBSUB,
    HEADER_FORWARDED_FOR,
    HEADER_USER_AGENT,
    HEADER_XRAY,
    SPAN_KIND_CONSUMER,
    SPAN_KIND_SERVER,
    SQS_TRACE_ATTRIBUTE,
)

__all__ = ["Event", "parse_event", "response_status"]

REST = "api_gateway_rest"
HTTP_API = "api_gateway_http"
ALB = "alb"
FUNCTION_URL = "function_url"
SQS = "sqs"
SNS = "sns"
EVENTBRIDGE = "eventbridge"
DIRECT = "direct"

MAX_LINKS = 128
"""Links kept per invocation (OpenTelemetry's default span link limit); the rest are counted."""
MAX_NAME = 256
DIAG_LINKS_DROPPED = "lambda.links_dropped"

_EMPTY: Mapping[str, Any] = {}
_xray = XRayPropagator()


class Event:
    """What one invocation's event says about the request it carries."""

    __slots__ = (
        "attributes",
        "faas_trigger",
        "forwarded_for",
        "headers",
        "host",
        "http",
        "infers_status",
        "kind",
        "links",
        "method",
        "operation",
        "path",
        "peer",
        "request_id",
        "route",
        "scheme",
        "trigger",
        "user_agent",
    )

    def __init__(self, trigger: str) -> None:
        self.trigger = trigger
        self.faas_trigger = FAAS_TRIGGER_OTHER
        self.http = False
        self.infers_status = False
        """HTTP API v2 and Function URLs treat a response without ``statusCode`` as a 200."""
        self.method: str | None = None
        self.path: str | None = None
        self.route: str | None = None
        self.headers: Mapping[str, Any] = _EMPTY
        self.peer: str | None = None
        self.forwarded_for: str | None = None
        self.user_agent: str | None = None
        self.host: str | None = None
        self.scheme: str | None = None
        self.operation: str | None = None
        self.request_id: str | None = None
        """API Gateway's or the Function URL's id of the request (``requestContext.requestId``)."""
        self.kind = SPAN_KIND_SERVER
        self.links: list[Any] = []
        self.attributes: dict[str, Any] = {}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    values = mapping_getter(headers, name)
    return values[0] if values else None


def _name(value: str) -> str:
    return value if len(value) <= MAX_NAME else value[:MAX_NAME]


def _arn_name(arn: Any) -> str | None:
    if not isinstance(arn, str) or not arn:
        return None
    return _name(arn.rsplit(":", 1)[-1])


def _http(ev: Event, method: Any, path: Any, headers: Any) -> Event:
    ev.http = True
    ev.faas_trigger = FAAS_TRIGGER_HTTP
    ev.method = method if isinstance(method, str) and method else "GET"
    ev.path = _str(path)
    ev.headers = headers if isinstance(headers, dict) else _EMPTY
    return ev


def _rest(event: Mapping[str, Any], rc: Mapping[str, Any], trigger: str) -> Event:
    """REST API (and HTTP API payload 1.0): ``resource`` is the route template."""
    headers = event.get("headers")
    if not isinstance(headers, dict) or not headers:
        headers = event.get("multiValueHeaders")  # null ``headers`` when the client sent none
    ev = _http(Event(trigger), event.get("httpMethod"), event.get("path"), headers)
    resource = _str(event.get("resource"))
    ev.route = resource if resource is None or resource.startswith("/") else None
    identity = _dict(rc.get("identity"))
    ev.peer = _str(identity.get("sourceIp"))
    ev.user_agent = _str(identity.get("userAgent")) or _header(ev.headers, HEADER_USER_AGENT)
    ev.host = _str(rc.get("domainName")) or _header(ev.headers, "host")
    ev.scheme = "https"
    ev.request_id = _str(rc.get("requestId"))
    return ev


def _v2(event: Mapping[str, Any], rc: Mapping[str, Any]) -> Event:
    """HTTP API payload 2.0 and Function URLs (same shape; URLs have no route and a lambda-url domain)."""
    domain = _str(rc.get("domainName")) or ""
    http = _dict(rc.get("http"))
    trigger = FUNCTION_URL if ".lambda-url." in domain else HTTP_API
    ev = _http(Event(trigger), http.get("method"), event.get("rawPath") or http.get("path"), event.get("headers"))
    route_key = _str(event.get("routeKey"))
    if route_key and route_key != "$default":
        _, _, template = route_key.partition(" ")
        ev.route = template if template.startswith("/") else None
    ev.peer = _str(http.get("sourceIp"))
    ev.user_agent = _str(http.get("userAgent")) or _header(ev.headers, HEADER_USER_AGENT)
    ev.host = domain or None
    ev.scheme = "https"
    ev.infers_status = True
    ev.request_id = _str(rc.get("requestId"))
    return ev


def _alb(event: Mapping[str, Any]) -> Event:
    """ALB target: no route template; the client is the address ALB appended to X-Forwarded-For."""
    headers = event.get("headers")
    if not isinstance(headers, dict) or not headers:
        headers = event.get("multiValueHeaders")
    ev = _http(Event(ALB), event.get("httpMethod"), event.get("path"), headers)
    xff = _header(ev.headers, HEADER_FORWARDED_FOR)
    if xff:
        ev.peer = xff.rsplit(",", 1)[-1].strip()[:64] or None
    ev.user_agent = _header(ev.headers, HEADER_USER_AGENT)
    ev.host = _header(ev.headers, "host")
    ev.scheme = _header(ev.headers, "x-forwarded-proto")
    return ev


def _message_batch(trigger: str, system: str, destination: str, count: int) -> Event:
    """A batch of queue or topic messages: a consumer span named ``process <destination>``."""
    ev = Event(trigger)
    ev.kind = SPAN_KIND_CONSUMER
    ev.faas_trigger = FAAS_TRIGGER_PUBSUB
    ev.operation = f"process {destination}"
    ev.attributes = {
        ATTR_MESSAGING_SYSTEM: system,
        ATTR_MESSAGING_DESTINATION: destination,
        ATTR_MESSAGING_OPERATION: "process",
        ATTR_MESSAGING_BATCH_COUNT: count,
    }
    return ev


def _sqs(records: list[Any]) -> Event:
    first = _dict(records[0])
    ev = _message_batch(SQS, "aws_sqs", _arn_name(first.get("eventSourceARN")) or "sqs", len(records))
    if len(records) == 1 and isinstance(first.get("messageId"), str):
        ev.attributes[ATTR_MESSAGING_MESSAGE_ID] = first["messageId"]
    links = ev.links
    dropped = 0
    for record in records:
        header = _dict(_dict(record).get("attributes")).get(SQS_TRACE_ATTRIBUTE)
        if not isinstance(header, str) or not header:
            continue
        if len(links) >= MAX_LINKS:
            dropped += 1
            continue
        ctx = _xray.extract({HEADER_XRAY: header}, mapping_getter)
        if ctx is not None:
            links.append(ctx)
    if dropped:
        _diagnostics.incr(DIAG_LINKS_DROPPED, dropped)
    return ev


def _sns(records: list[Any]) -> Event:
    sns = _dict(_dict(records[0]).get("Sns"))
    ev = _message_batch(SNS, "aws_sns", _arn_name(sns.get("TopicArn")) or "sns", len(records))
    if isinstance(sns.get("MessageId"), str):
        ev.attributes[ATTR_MESSAGING_MESSAGE_ID] = sns["MessageId"]
    return ev


def _eventbridge(event: Mapping[str, Any]) -> Event:
    ev = Event(EVENTBRIDGE)
    ev.kind = SPAN_KIND_CONSUMER
    source = _str(event.get("source")) or "events"
    detail_type = _str(event.get("detail-type")) or "event"
    scheduled = source == "aws.events" and detail_type == "Scheduled Event"
    ev.faas_trigger = "timer" if scheduled else FAAS_TRIGGER_PUBSUB
    ev.operation = _name(f"{source} {detail_type}")
    ev.attributes = {ATTR_MESSAGING_SYSTEM: "aws_eventbridge", ATTR_MESSAGING_DESTINATION: _name(source)}
    if isinstance(event.get("id"), str):
        ev.attributes[ATTR_MESSAGING_MESSAGE_ID] = event["id"]
        ev.request_id = event["id"]  # the event's own id: the correlation id unless a path names another
    return ev


def _records(source: str, records: list[Any]) -> Event:
    """Another record-batch source (S3, DynamoDB and Kinesis streams, SES...)."""
    name = _name(source.removeprefix("aws:"))
    ev = Event(name)
    ev.kind = SPAN_KIND_CONSUMER
    ev.faas_trigger = "datasource"
    ev.operation = f"process {name}"
    ev.attributes = {ATTR_MESSAGING_BATCH_COUNT: len(records)}
    return ev


def parse_event(event: Any) -> Event:
    """Recognise ``event`` and read what the request scope needs. Never raises."""
    try:
        if not isinstance(event, dict):
            return Event(DIRECT)
        rc = event.get("requestContext")
        if isinstance(rc, dict):
            if event.get("version") == "2.0" and isinstance(rc.get("http"), dict):
                return _v2(event, rc)
            if "elb" in rc:
                return _alb(event)
            if "httpMethod" in event:
                return _rest(event, rc, HTTP_API if event.get("version") == "1.0" else REST)
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            first = records[0]
            source = first.get("eventSource") or first.get("EventSource")
            if source == "aws:sqs":
                return _sqs(records)
            if source == "aws:sns":
                return _sns(records)
            if isinstance(source, str) and source:
                return _records(source, records)
        if "detail-type" in event and "source" in event and "detail" in event:
            return _eventbridge(event)
    except Exception:
        _diagnostics.incr("lambda.event_parse_failure")
    return Event(DIRECT)


def response_status(ev: Event, response: Any) -> int | None:
    """The HTTP status the caller receives for ``response``, as the front door reads it.

    HTTP API v2 and Function URLs take a response without ``statusCode`` as a 200 with the
    response as JSON body; REST APIs and ALB answer such a response with 502 (a malformed
    proxy response), which is what the client then sees.
    """
    code = response.get("statusCode") if isinstance(response, dict) else None
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return code
    if ev.infers_status and code is None:
        return 200
    return 502


def batch_failures(response: Any) -> int | None:
    """How many SQS/Kinesis/DynamoDB records the handler reported as failed (partial batch response)."""
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    return len(failures) if isinstance(failures, list) else None
