"""boto3/botocore calls: a client span per AWS call, and the trace carried into AWS messages.

Imports: standard library, obskit's core (``context``, ``propagation.xray``, ``semconv``,
``_diagnostics``, ``_pipeline``) and ``obskit.integrations._outbound``; ``boto3`` only when
``instrument()`` is called without a target.

``instrument(target)`` registers handlers on botocore's public event system (a boto3
``Session``, a botocore ``Session`` or one client; no target means boto3's default session).
Nothing in botocore is patched. A session's handlers reach the clients created from it
afterwards; a client that already exists needs ``instrument(client)``. Registering twice is a
no-op (the handlers carry unique ids).

What each call gets:

* a client span ``"{Service}.{Operation}"`` (``SQS.SendMessage``) with ``rpc.system=aws-api``,
  ``rpc.service``, ``rpc.method``, ``cloud.region``, ``aws.request_id``, the HTTP status and, for
  a failed call, ``error.type`` (the AWS error code or the exception type): what X-Ray's ``aws``
  block shows;
* ``X-Amzn-Trace-Id`` on the HTTP request when it has none (so services with active tracing
  join the trace). In Lambda, botocore's recursion-detection header from ``_X_AMZN_TRACE_ID``
  is already there and is left alone;
* for messaging calls, the trace and correlation id in the message, so consumers continue it:

  - SQS ``SendMessage``/``SendMessageBatch``: the ``AWSTraceHeader`` system attribute and the
    ``traceparent`` and ``x-correlation-id`` message attributes (String);
  - SNS ``Publish``/``PublishBatch``: the ``traceparent`` and ``x-correlation-id`` message
    attributes (SNS passes them on to SQS subscribers);
  - EventBridge ``PutEvents``: each entry's ``TraceHeader``;
  - Lambda ``Invoke``: ``traceparent`` and ``x-correlation-id`` in the client context's
    ``custom`` mapping (base64 JSON).

**Never the user's values, never an invalid call.** A value the caller set (any spelling of the
attribute name, any type) is kept. Attributes are added only while the message stays within 10
message attributes (SQS, and SNS for raw delivery to SQS) and within 262,144 bytes of body plus
attributes (per message and per batch); the correlation id goes first because
``AWSTraceHeader``, a system attribute outside both limits, already carries the trace. A
``TraceHeader`` over 500 characters or a client context over 3,583 bytes is not written; a client
context that is not base64 JSON is left alone. Every skip is counted in ``obskit.diagnostics()``
under ``integrations.aws.skipped.*``. A queue whose ``MaximumMessageSize`` is set below 256 KiB
needs about 150 bytes of headroom per message.

In Lambda, ``AWSTraceHeader`` keeps the ``Lineage`` of ``_X_AMZN_TRACE_ID`` when the context
lacks one: Lambda's recursive-loop detection reads it from SQS messages.

**With aws-xray-sdk.** When aws-xray-sdk's ``patch_all()``/``patch(["botocore"])`` is active it
already records a subsegment per call, so obskit creates no span (no double spans) and leaves
the HTTP header to it; it still writes the message attributes from obskit's current context.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from obskit import _diagnostics, _pipeline
from obskit._context import TelemetryContext
from obskit.context import current
from obskit.integrations import _outbound
from obskit.propagation.xray import format_xray
from obskit.semconv import (
    ATTR_AWS_REQUEST_ID,
    ATTR_CLOUD_REGION,
    ATTR_ERROR_TYPE,
    ATTR_HTTP_STATUS,
    ATTR_MESSAGING_DESTINATION,
    ATTR_MESSAGING_MESSAGE_ID,
    ATTR_MESSAGING_OPERATION,
    ATTR_MESSAGING_SYSTEM,
    ATTR_RPC_METHOD,
    ATTR_RPC_SERVICE,
    ATTR_RPC_SYSTEM,
    ENV_LAMBDA_TRACE,
    EVENTBRIDGE_TRACE_HEADER_MAX,
    HEADER_CORRELATION_ID,
    HEADER_TRACEPARENT,
    LAMBDA_CLIENT_CONTEXT_CUSTOM,
    LAMBDA_CLIENT_CONTEXT_MAX,
    MESSAGING_OPERATION_SEND,
    MESSAGING_SYSTEM_SNS,
    MESSAGING_SYSTEM_SQS,
    RPC_SYSTEM_AWS_API,
    SPAN_KIND_CLIENT,
    SQS_MAX_MESSAGE_BYTES,
    SQS_MESSAGE_ATTRIBUTE_LIMIT,
    SQS_TRACE_ATTRIBUTE,
)

__all__ = ["instrument", "uninstrument"]

DIAG_ATTRIBUTE_LIMIT = "integrations.aws.skipped.attribute_limit"
"""A message already had (or reached) 10 message attributes: one of ours was not added."""
DIAG_SIZE_LIMIT = "integrations.aws.skipped.size_limit"
"""Adding an attribute would have pushed a message or batch over 256 KiB: it was not added."""
DIAG_USER_VALUE = "integrations.aws.skipped.user_value"
"""The caller already set the attribute, system attribute, trace header or context key."""
DIAG_TOO_LONG = "integrations.aws.skipped.too_long"
"""A TraceHeader or client context would have been longer than AWS accepts."""
DIAG_UNREADABLE = "integrations.aws.skipped.unreadable"
"""The caller's parameters had an unexpected shape (not a dict, not base64 JSON): left alone."""
DIAG_FAILURE = "integrations.aws.failure"
"""An obskit handler failed; the AWS call went ahead unchanged."""

_CALL_KEY = "obskit.call"
_HEADER_XRAY_WIRE = "X-Amzn-Trace-Id"
_HANDLERS_ID = "obskit.botocore."


class _Call:
    """The span of one AWS call, kept in botocore's per-call ``context`` dict.

    If botocore rejects the parameters (or the region) after the span started, no later event
    fires; when the call's context is freed, ``__del__`` ends the span as failed so that no
    span is left open.
    """

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def finish(self) -> Any:
        span, self.span = self.span, None
        return span

    def __del__(self) -> None:
        span = self.span
        if span is not None:
            self.span = None
            try:
                span.set_attribute(ATTR_ERROR_TYPE, "NotSent")
                span.set_status(False, "the call failed before it was sent")
                span.end()
            except Exception:
                _diagnostics.incr(DIAG_FAILURE)


# --- aws-xray-sdk coexistence ----------------------------------------------------------------
def _xray_sdk_patched() -> bool:
    """Whether aws-xray-sdk's botocore patch is active (it records its own subsegments)."""
    patcher = sys.modules.get("aws_xray_sdk.core.patcher")
    if patcher is None:
        return False
    return "botocore" in getattr(patcher, "_PATCHED_MODULES", ())


# --- what to write ---------------------------------------------------------------------------
def _own_context(ctx: TelemetryContext) -> TelemetryContext:
    """``ctx`` with a span id of this process (a remote or absent span is never the parent)."""
    if ctx.span_id is not None and not ctx.remote:
        return ctx
    try:
        sid = f"{_pipeline.get().ids.span_id() & 0xFFFFFFFFFFFFFFFF:016x}"
    except Exception:
        sid = os.urandom(8).hex()
    return ctx.child(sid, ctx.sampled)


def _lineage_extra(ctx: TelemetryContext) -> str | None:
    """The X-Ray extra fields to send: the context's, plus Lambda's ``Lineage`` if it lacks one."""
    extra = ctx.xray_extra
    if extra and "Lineage=" in extra:
        return extra
    env = os.environ.get(ENV_LAMBDA_TRACE)
    if not env or "Lineage=" not in env:
        return extra
    for part in env.split(";"):
        part = part.strip()
        if part.startswith("Lineage="):
            return f"{extra or ''};{part}"
    return extra


class _Values:
    """The strings one call writes, computed once: X-Ray header, traceparent, correlation id."""

    __slots__ = ("correlation_id", "traceparent", "xray")

    def __init__(self, ctx: TelemetryContext) -> None:
        ctx = _own_context(ctx)
        self.xray = format_xray(ctx.trace_id, ctx.span_id, ctx.sampled, _lineage_extra(ctx))
        self.traceparent = ctx.traceparent
        self.correlation_id = ctx.correlation_id

    def attributes(self) -> list[tuple[str, str]]:
        """Message attributes in priority order (correlation first: the trace also rides AWSTraceHeader)."""
        out = []
        if self.correlation_id:
            out.append((HEADER_CORRELATION_ID, self.correlation_id))
        if self.traceparent:
            out.append((HEADER_TRACEPARENT, self.traceparent))
        return out


# --- message attributes under the SQS/SNS limits ---------------------------------------------
def _utf8_len(text: Any) -> int:
    if isinstance(text, str):
        return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if isinstance(text, (bytes, bytearray)):
        return len(text)
    return 0


def _attributes_size(attrs: dict[Any, Any]) -> int:
    """Bytes SQS counts for message attributes: name, data type and value of each."""
    total = 0
    for name, value in attrs.items():
        total += _utf8_len(name)
        if isinstance(value, dict):
            total += _utf8_len(value.get("DataType", ""))
            total += _utf8_len(value.get("StringValue")) + _utf8_len(value.get("BinaryValue"))
    return total


def _message_size(message: dict[str, Any], body_key: str) -> int | None:
    """Body plus attribute bytes of one message; ``None`` when its attributes have a shape we do not know."""
    attrs = message.get("MessageAttributes")
    if attrs is not None and not isinstance(attrs, dict):
        return None
    return _utf8_len(message.get(body_key)) + (_attributes_size(attrs) if attrs else 0)


def _add_attributes(message: dict[str, Any], values: _Values, room: int, counts: dict[str, int]) -> int:
    """Add our message attributes to ``message`` (a copy the caller owns) within ``room`` bytes.

    Returns the bytes added. Never mutates the caller's original ``MessageAttributes``: the
    dict is replaced by a copy, so a caller who reuses it does not resend stale ids.
    """
    attrs = message.get("MessageAttributes")
    if attrs is None:
        attrs = {}
    elif not isinstance(attrs, dict):
        counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
        return 0
    taken = {k.lower() for k in attrs if isinstance(k, str)}
    new: dict[str, Any] | None = None
    added = 0
    for name, value in values.attributes():
        if name in taken:
            counts[DIAG_USER_VALUE] = counts.get(DIAG_USER_VALUE, 0) + 1
            continue
        if len(attrs) + (len(new) - len(attrs) if new is not None else 0) >= SQS_MESSAGE_ATTRIBUTE_LIMIT:
            counts[DIAG_ATTRIBUTE_LIMIT] = counts.get(DIAG_ATTRIBUTE_LIMIT, 0) + 1
            continue
        cost = len(name) + 6 + len(value)  # name + "String" + value (both ASCII)
        if added + cost > room:
            counts[DIAG_SIZE_LIMIT] = counts.get(DIAG_SIZE_LIMIT, 0) + 1
            continue
        if new is None:
            new = dict(attrs)
        new[name] = {"DataType": "String", "StringValue": value}
        added += cost
    if new is not None:
        message["MessageAttributes"] = new
    return added


def _set_system_trace(message: dict[str, Any], values: _Values, counts: dict[str, int]) -> None:
    system = message.get("MessageSystemAttributes")
    if system is None:
        message["MessageSystemAttributes"] = {
            SQS_TRACE_ATTRIBUTE: {"DataType": "String", "StringValue": values.xray}
        }
    elif not isinstance(system, dict):
        counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
    elif SQS_TRACE_ATTRIBUTE in system:
        counts[DIAG_USER_VALUE] = counts.get(DIAG_USER_VALUE, 0) + 1
    else:
        message["MessageSystemAttributes"] = {
            **system, SQS_TRACE_ATTRIBUTE: {"DataType": "String", "StringValue": values.xray}
        }


def _single(params: dict[str, Any], values: _Values, body_key: str, counts: dict[str, int], *, system: bool) -> None:
    size = _message_size(params, body_key)
    if size is None:
        counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
    else:
        _add_attributes(params, values, SQS_MAX_MESSAGE_BYTES - size, counts)
    if system:
        _set_system_trace(params, values, counts)


def _batch(params: dict[str, Any], entries_key: str, values: _Values, body_key: str, counts: dict[str, int],
           *, system: bool) -> None:
    entries = params.get(entries_key)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
        return
    sizes = [_message_size(e, body_key) for e in entries]
    total = sum(s for s in sizes if s is not None)
    new_entries = []
    for entry, size in zip(entries, sizes, strict=True):
        entry = dict(entry)
        if size is None:
            counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
        else:
            room = min(SQS_MAX_MESSAGE_BYTES - size, SQS_MAX_MESSAGE_BYTES - total)
            total += _add_attributes(entry, values, room, counts)
        if system:
            _set_system_trace(entry, values, counts)
        new_entries.append(entry)
    params[entries_key] = new_entries


def _queue_name(url: Any) -> str | None:
    if isinstance(url, str) and url:
        return url.rstrip("/").rsplit("/", 1)[-1]
    return None


def _topic_name(arn: Any) -> str | None:
    if isinstance(arn, str) and arn:
        return arn.rsplit(":", 1)[-1]
    return None


def _sqs_send(params: dict[str, Any], values: _Values, span: Any, counts: dict[str, int]) -> None:
    if span is not None:
        span.set_attributes({
            ATTR_MESSAGING_SYSTEM: MESSAGING_SYSTEM_SQS,
            ATTR_MESSAGING_OPERATION: MESSAGING_OPERATION_SEND,
            ATTR_MESSAGING_DESTINATION: _queue_name(params.get("QueueUrl")) or "",
        })
    _single(params, values, "MessageBody", counts, system=True)


def _sqs_send_batch(params: dict[str, Any], values: _Values, span: Any, counts: dict[str, int]) -> None:
    if span is not None:
        span.set_attributes({
            ATTR_MESSAGING_SYSTEM: MESSAGING_SYSTEM_SQS,
            ATTR_MESSAGING_OPERATION: MESSAGING_OPERATION_SEND,
            ATTR_MESSAGING_DESTINATION: _queue_name(params.get("QueueUrl")) or "",
        })
    _batch(params, "Entries", values, "MessageBody", counts, system=True)


def _sns_attributes(params: dict[str, Any], span: Any) -> None:
    if span is not None:
        span.set_attributes({
            ATTR_MESSAGING_SYSTEM: MESSAGING_SYSTEM_SNS,
            ATTR_MESSAGING_OPERATION: MESSAGING_OPERATION_SEND,
            ATTR_MESSAGING_DESTINATION: _topic_name(params.get("TopicArn") or params.get("TargetArn")) or "",
        })


def _sns_publish(params: dict[str, Any], values: _Values, span: Any, counts: dict[str, int]) -> None:
    _sns_attributes(params, span)
    _single(params, values, "Message", counts, system=False)


def _sns_publish_batch(params: dict[str, Any], values: _Values, span: Any, counts: dict[str, int]) -> None:
    _sns_attributes(params, span)
    _batch(params, "PublishBatchRequestEntries", values, "Message", counts, system=False)


def _events_put(params: dict[str, Any], values: _Values, span: Any, counts: dict[str, int]) -> None:
    entries = params.get("Entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
        return
    if len(values.xray) > EVENTBRIDGE_TRACE_HEADER_MAX:
        counts[DIAG_TOO_LONG] = counts.get(DIAG_TOO_LONG, 0) + len(entries)
        return
    new_entries = []
    for entry in entries:
        if "TraceHeader" in entry:
            counts[DIAG_USER_VALUE] = counts.get(DIAG_USER_VALUE, 0) + 1
            new_entries.append(entry)
        else:
            new_entries.append({**entry, "TraceHeader": values.xray})
    params["Entries"] = new_entries


def _lambda_invoke(params: dict[str, Any], values: _Values, span: Any, counts: dict[str, int]) -> None:
    additions = values.attributes()
    if not additions:
        return
    raw = params.get("ClientContext")
    if raw is None:
        document: dict[str, Any] = {}
    else:
        try:
            loaded = json.loads(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError, TypeError):
            counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
            return
        if not isinstance(loaded, dict):
            counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
            return
        document = loaded
    custom = document.get(LAMBDA_CLIENT_CONTEXT_CUSTOM)
    if custom is None:
        custom = {}
    elif not isinstance(custom, dict):
        counts[DIAG_UNREADABLE] = counts.get(DIAG_UNREADABLE, 0) + 1
        return
    custom = dict(custom)
    changed = False
    for name, value in additions:
        if name in custom:
            counts[DIAG_USER_VALUE] = counts.get(DIAG_USER_VALUE, 0) + 1
        else:
            custom[name] = value
            changed = True
    if not changed:
        return
    encoded = base64.b64encode(
        json.dumps({**document, LAMBDA_CLIENT_CONTEXT_CUSTOM: custom}, separators=(",", ":")).encode()
    ).decode("ascii")
    if len(encoded) > LAMBDA_CLIENT_CONTEXT_MAX:
        counts[DIAG_TOO_LONG] = counts.get(DIAG_TOO_LONG, 0) + 1
        return
    params["ClientContext"] = encoded


_INJECTORS: dict[tuple[str, str], Callable[[dict[str, Any], _Values, Any, dict[str, int]], None]] = {
    ("SQS", "SendMessage"): _sqs_send,
    ("SQS", "SendMessageBatch"): _sqs_send_batch,
    ("SNS", "Publish"): _sns_publish,
    ("SNS", "PublishBatch"): _sns_publish_batch,
    ("EventBridge", "PutEvents"): _events_put,
    ("Lambda", "Invoke"): _lambda_invoke,
}


def _failed(what: str) -> None:
    _diagnostics.count(DIAG_FAILURE, "obskit: botocore handler failed in %s; the call went ahead unchanged", what)


# --- event handlers --------------------------------------------------------------------------
def _before_parameter_build(params: Any, model: Any, context: Any, **_: Any) -> None:
    try:
        service = str(model.service_model.service_id)
        operation = model.name
        span = None
        if not _xray_sdk_patched():
            attributes = {ATTR_RPC_SYSTEM: RPC_SYSTEM_AWS_API, ATTR_RPC_SERVICE: service, ATTR_RPC_METHOD: operation}
            region = context.get("client_region")
            if region:
                attributes[ATTR_CLOUD_REGION] = region
            span = _outbound.start_span(f"{service}.{operation}", attributes, SPAN_KIND_CLIENT)
            if span is not None:
                context[_CALL_KEY] = _Call(span)
        injector = _INJECTORS.get((service, operation))
        if injector is None or not isinstance(params, dict):
            return
        ctx = span.context if span is not None else current()
        if not ctx.is_valid:
            return  # aws-xray-sdk alone is tracing: no obskit trace to carry
        counts: dict[str, int] = {}
        injector(params, _Values(ctx), span, counts)
        for key, n in counts.items():
            _diagnostics.incr(key, n)
    except Exception:
        _failed("before-parameter-build")


def _before_call(params: Any, context: Any, **_: Any) -> None:
    try:
        call = context.get(_CALL_KEY)
        if call is None or call.span is None:
            return
        headers = params.get("headers")
        if headers is None:
            return
        if any(isinstance(k, str) and k.lower() == "x-amzn-trace-id" for k in headers):
            return  # botocore's recursion detection (Lambda) or the caller set it
        ctx = call.span.context
        headers[_HEADER_XRAY_WIRE] = format_xray(ctx.trace_id, ctx.span_id, ctx.sampled, _lineage_extra(ctx))
    except Exception:
        _failed("before-call")


def _finished_span(context: Any) -> Any:
    """The span of the call ``context`` belongs to, taken off it; ``None`` when there is none."""
    call = context.pop(_CALL_KEY, None)
    return None if call is None else call.finish()


def _after_call(http_response: Any, parsed: Any, context: Any, **_: Any) -> None:
    span = _finished_span(context)
    if span is None:
        return
    try:
        status = getattr(http_response, "status_code", None)
        meta = parsed.get("ResponseMetadata") if isinstance(parsed, dict) else None
        if isinstance(meta, dict):
            request_id = meta.get("RequestId")
            if request_id:
                span.set_attribute(ATTR_AWS_REQUEST_ID, request_id)
            if status is None:
                status = meta.get("HTTPStatusCode")
        if isinstance(status, int):
            span.set_attribute(ATTR_HTTP_STATUS, status)
        if isinstance(parsed, dict):
            message_id = parsed.get("MessageId")
            if isinstance(message_id, str):
                span.set_attribute(ATTR_MESSAGING_MESSAGE_ID, message_id)
            if isinstance(status, int) and status >= 300:
                error = parsed.get("Error")
                code = error.get("Code") if isinstance(error, dict) else None
                span.set_attribute(ATTR_ERROR_TYPE, str(code or status))
                span.set_status(False, str(error.get("Message") or code) if isinstance(error, dict) else None)
    except Exception:
        _failed("after-call")
    finally:
        try:
            span.end()
        except Exception:
            _failed("after-call")


def _after_call_error(exception: Any, context: Any, **_: Any) -> None:
    span = _finished_span(context)
    if span is None:
        return
    try:
        if isinstance(exception, BaseException):
            span.record_exception(exception)
            span.set_attribute(ATTR_ERROR_TYPE, type(exception).__qualname__)
            span.set_status(False, str(exception) or type(exception).__qualname__)
    except Exception:
        _failed("after-call-error")
    finally:
        try:
            span.end()
        except Exception:
            _failed("after-call-error")


_HANDLERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("before-parameter-build", _before_parameter_build),
    ("before-call", _before_call),
    ("after-call", _after_call),
    ("after-call-error", _after_call_error),
)


def _emitter(target: Any) -> Any:
    if target is None:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        target = boto3.DEFAULT_SESSION
    meta = getattr(target, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        return meta.events  # a client
    events = getattr(target, "events", None)
    if events is not None and hasattr(events, "register"):
        return events  # a boto3 Session
    if hasattr(target, "get_component"):
        return target.get_component("event_emitter")  # a botocore Session
    raise TypeError(f"instrument() expects a boto3 Session, a botocore Session or a client, not {type(target)!r}")


def _hook_handler(hook: Callable[..., Any], payload: str) -> Callable[..., None]:
    """A botocore handler calling ``hook(span, service_name, operation_name, <the event's payload>)``."""
    def handler(model: Any, context: Any, **kwargs: Any) -> None:
        call = context.get(_CALL_KEY) if isinstance(context, dict) else None
        if call is not None and call.span is not None:
            _outbound.call_hook(hook, call.span, str(model.service_model.service_id), model.name, kwargs.get(payload))

    return handler


def _hook_handlers(request_hook: Callable[..., Any] | None,
                   response_hook: Callable[..., Any] | None) -> list[tuple[str, Callable[..., None], bool]]:
    """The event handlers that run the user's hooks: ``(event, handler, run before obskit's)``.

    The request hook runs after obskit's ``before-parameter-build`` (the span exists) with the
    call's parameters; the response hook before obskit's ``after-call`` (the span is still
    open) with the parsed response.
    """
    handlers: list[tuple[str, Callable[..., None], bool]] = []
    if request_hook is not None:
        handlers.append(("before-parameter-build", _hook_handler(request_hook, "params"), False))
    if response_hook is not None:
        handlers.append(("after-call", _hook_handler(response_hook, "parsed"), True))
    return handlers


_HOOK_IDS = (_HANDLERS_ID + "request-hook", _HANDLERS_ID + "response-hook")


def instrument(target: Any = None, *, request_hook: Callable[..., Any] | None = None,
               response_hook: Callable[..., Any] | None = None) -> Any:
    """Trace AWS calls and carry the trace into messages, through botocore's event system.

    Args:
        target: a ``boto3.Session``, a ``botocore.session.Session`` or a client; boto3's default
            session (``boto3.client(...)``) when omitted. A session covers the clients created
            from it afterwards.
        request_hook: ``request_hook(span, service_name, operation_name, api_params)`` when a
            call's span starts (OpenTelemetry's botocore hook); what it raises is counted.
        response_hook: ``response_hook(span, service_name, operation_name, result)`` with the
            parsed response, before the span ends. Calling ``instrument`` again replaces both.

    Returns:
        ``target`` (the default session when it was omitted).

    Raises:
        TypeError: for anything that has no botocore event emitter.
        ConfigError: for a hook that is not callable.
    """
    hooks: dict[str, Any] = {"request_hook": request_hook, "response_hook": response_hook}
    for name, hook in hooks.items():
        if hook is not None and not callable(hook):
            from obskit.errors import ConfigError

            raise ConfigError(f"{name}={hook!r}: expected a callable or None")
    events = _emitter(target)
    for event, handler in _HANDLERS:
        events.register(event, handler, unique_id=_HANDLERS_ID + event)
    for unique_id, event in zip(_HOOK_IDS, ("before-parameter-build", "after-call"), strict=True):
        events.unregister(event, unique_id=unique_id)
    for event, handler, first in _hook_handlers(request_hook, response_hook):
        unique_id = _HOOK_IDS[0] if event == "before-parameter-build" else _HOOK_IDS[1]
        (events.register_first if first else events.register)(event, handler, unique_id=unique_id)
    if target is None:
        import boto3

        return boto3.DEFAULT_SESSION
    return target


def uninstrument(target: Any = None) -> None:
    """Remove what ``instrument(target)`` registered (clients already created keep their copy)."""
    events = _emitter(target)
    for event, handler in _HANDLERS:
        events.unregister(event, handler, unique_id=_HANDLERS_ID + event)
    for unique_id, event in zip(_HOOK_IDS, ("before-parameter-build", "after-call"), strict=True):
        events.unregister(event, unique_id=unique_id)
