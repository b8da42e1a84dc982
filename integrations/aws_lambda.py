"""AWS Lambda: ``@instrument_handler`` gives each invocation a span, an access line and metrics.

Imports: standard library and obskit's core (``obskit.scope``, ``obskit.metrics``,
``obskit.propagation``, ``obskit._pipeline``, ``obskit.semconv``).

Per invocation: the event's source is recognised (API Gateway REST and HTTP APIs, ALB,
Function URLs, SQS, SNS, EventBridge, other record batches, direct invoke); the trace comes
from the event's headers or Lambda's ``_X_AMZN_TRACE_ID``, and each SQS message's
``AWSTraceHeader`` becomes a span link; the Lambda context's fields (``function_name``,
``function_request_id``, ``function_arn``, ``function_memory_size``, ``cold_start``) are bound
to every log line; the HTTP status is read from the response as API Gateway, ALB or the
Function URL will read it; and a flush runs before the handler returns or raises (bounded by half
the time left, at most 0.5 s: ``_pipeline.freeze_flush``), so nothing is left in a buffer when
Lambda freezes the process.

Cold start: the first invocation of the process records ``ColdStart`` once (also when it
raises), except in provisioned concurrency (``AWS_LAMBDA_INITIALIZATION_TYPE``), where the
initialisation happened before any request waited for it. ``obskit.testing.reset()`` makes the
next invocation a cold start again.

Timeout guard: Lambda kills a timed-out invocation without running ``finally`` blocks, so its
telemetry would be lost with it. One watchdog thread (started on the first invocation, idle
otherwise) wakes ``lambda_timeout_margin_ms`` before ``get_remaining_time_in_millis()`` runs
out, writes a ``timeout_imminent`` line, ends the server span as a fault, records the
request's metrics and flushes every emitter. Registering an invocation with it costs a lock
and, only when the watchdog is idle, one notify.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from obskit import _diagnostics, _pipeline
from obskit._context import CURRENT, SCOPE
from obskit._deps import require
from obskit._env import LAMBDA_INITIALIZATION_TYPE
from obskit.config import adopt_function_name
from obskit.context import is_coroutine_function
from obskit.errors import ConfigError
from obskit.integrations import _lambda_options
from obskit.integrations._http_capture import CaptureCache
from obskit.integrations._lambda_events import batch_failures, parse_event, response_status
from obskit.integrations._lambda_options import LambdaOptions
from obskit.logs import bridge_implicitly
from obskit.propagation import extract, mapping_getter
from obskit.scope import DIAG_ERROR, ScopeOptions, abandon, request_scope
from obskit.semconv import (
    ATTR_AWS_REQUEST_ID,
    ATTR_CLOUD_REGION,
    ATTR_CLOUD_RESOURCE_ID,
    ATTR_FAAS_COLDSTART,
    ATTR_FAAS_INVOCATION_ID,
    ATTR_FAAS_NAME,
    ATTR_FAAS_TIMEOUT_IMMINENT,
    ATTR_FAAS_TRIGGER,
    ATTR_MESSAGING_BATCH_COUNT,
    ATTR_XRAY_COLD_START,
    ATTR_XRAY_SERVICE,
    LOG_BATCH_FAILURES,
    LOG_BATCH_SIZE,
    LOG_COLD_START,
    LOG_FUNCTION_ARN,
    LOG_FUNCTION_MEMORY_SIZE,
    LOG_FUNCTION_NAME,
    LOG_FUNCTION_REQUEST_ID,
    LOG_REMAINING_MS,
    LOG_TRIGGER,
    TIMEOUT_MESSAGE,
)

__all__ = ["correlation_paths", "instrument_handler"]

H = TypeVar("H", bound=Callable[..., Any])

PROVISIONED = "provisioned-concurrency"

_record_cold_start: Any = None


# --- cold start ----------------------------------------------------------------------------------
_cold = True


def _take_cold_start() -> bool:
    """``True`` for the first invocation of a process that was not pre-initialised."""
    global _cold
    if not _cold:
        return False
    _cold = False
    return os.environ.get(LAMBDA_INITIALIZATION_TYPE) != PROVISIONED


def _reset_cold_start() -> None:
    global _cold
    _cold = True


# --- the timeout guard ---------------------------------------------------------------------------
class _Watchdog:
    """One daemon thread that fires for invocations about to time out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        """Waits on ``_lock``: the per-invocation paths take the lock itself (a C context manager;
        ``Condition``'s own ``__enter__``/``__exit__`` are Python calls) and notify while holding it."""
        self._active: dict[int, tuple[float, _Invocation]] = {}
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, inv: _Invocation, deadline: float) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="obskit-lambda-timeout", daemon=True)
                self._thread.start()
            self._active[id(inv)] = (deadline, inv)
            if deadline < self._wake_at:
                # Only an earlier deadline wakes the thread. The wake time stays set after the
                # invocation ends, so back-to-back invocations (whose deadlines come later)
                # notify about once per timeout period, not once each.
                self._wake_at = deadline
                self._cond.notify()

    def release(self, inv: _Invocation) -> bool:
        """Stop watching ``inv``; ``False`` when the guard already fired for it."""
        with self._lock:
            return self._active.pop(id(inv), None) is not None

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active = {}
        self._wake_at = math.inf
        self._thread = None

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while True:
                now = time.monotonic()
                if now < self._wake_at:
                    cond.wait(None if self._wake_at == math.inf else self._wake_at - now)
                    continue
                due = [key for key, (deadline, _) in self._active.items() if deadline <= now]
                fired = [self._active.pop(key)[1] for key in due]
                self._wake_at = min((d for d, _ in self._active.values()), default=math.inf)
                if fired:
                    cond.release()
                    try:
                        for inv in fired:
                            inv.timeout_imminent()
                    finally:
                        cond.acquire()


_watchdog = _Watchdog()


def _reset() -> None:
    global _first_invocation
    _reset_cold_start()
    _watchdog.clear()
    _first_invocation = True


_pipeline.on_reset(_reset)
_pipeline.on_fork(_watchdog.after_fork)


# --- one invocation ------------------------------------------------------------------------------
_arn_regions: dict[str, str | None] = {}


def _region(arn: str | None) -> str | None:
    if arn.__class__ is not str:
        return None
    got = _arn_regions.get(arn, "")
    if got == "":
        parts = arn.split(":")
        got = parts[3] if len(parts) > 4 and parts[3] else None
        if len(_arn_regions) < 64:
            _arn_regions[arn] = got
    return got


def _attr(context: Any, name: str) -> Any:
    try:
        value = getattr(context, name, None)
    except Exception:
        return None
    cls = value.__class__
    if cls is str or cls is int:  # Lambda's own context: no isinstance walk
        return value
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _describe(ev: Any, context: Any, cold: bool, settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The invocation's log fields and span attributes, from the parsed event and the Lambda context."""
    name = _attr(context, "function_name")
    request_id = _attr(context, "aws_request_id")
    arn = _attr(context, "invoked_function_arn")
    fields = {
        LOG_COLD_START: cold,
        LOG_FUNCTION_NAME: name,
        LOG_FUNCTION_REQUEST_ID: request_id,
        LOG_FUNCTION_ARN: arn,
        LOG_FUNCTION_MEMORY_SIZE: _attr(context, "memory_limit_in_mb"),
    }
    attrs = ev.attributes
    attrs[ATTR_FAAS_TRIGGER] = ev.faas_trigger
    attrs[ATTR_FAAS_COLDSTART] = cold
    if request_id is not None:
        attrs[ATTR_FAAS_INVOCATION_ID] = request_id
        attrs[ATTR_AWS_REQUEST_ID] = request_id
    if name is not None:
        attrs[ATTR_FAAS_NAME] = name
    if arn is not None:
        attrs[ATTR_CLOUD_RESOURCE_ID] = arn
        region = _region(arn)
        if region:
            attrs[ATTR_CLOUD_REGION] = region
    if settings is not None:  # Powertools' filterable annotations (annotation.ColdStart = true)
        attrs[ATTR_XRAY_COLD_START] = cold
        attrs[ATTR_XRAY_SERVICE] = settings.config.service
    return fields, attrs


class _Invocation(request_scope):
    """One invocation: ``request_scope`` plus the event, the guard and the cold-start flag.

    Built in two steps, so that a failure half way leaves nothing behind: the constructor only
    sets the slots (no context, no span, no watchdog); ``open`` starts the invocation's
    telemetry (see ``_begin``).
    """

    __slots__ = ("cold_start", "event", "extras", "margin_ms", "watched")

    def __init__(self, extras: _Extras) -> None:
        # Only this class's own slots: ``begin`` sets request_scope's (``_clear``), and until then
        # nothing reads them (``abandon`` looks the tokens up with defaults).
        self.extras = extras
        self.event: Any = None
        self.cold_start = False
        self.watched = False
        self.margin_ms = 0

    def open(self, event: Any, context: Any, options: ScopeOptions) -> None:
        """Start the invocation: the event read, the scope begun, then what follows a begin."""
        if _first_invocation:
            _adopt_context(context)
        ev = self.event = parse_event(event)
        cold = self.cold_start = _take_cold_start()
        settings = options.settings()
        fields, attrs = _describe(ev, context, cold, settings)
        context_of = self.extras.context_of
        if ev.http:
            self.begin(
                settings, excluded=settings is None or settings.excluded(ev.path), method=ev.method, path=ev.path,
                route=ev.route, carrier=ev.headers, getter=mapping_getter, context=context_of(event, ev.headers),
                attributes=attrs, fields=fields, peer=ev.peer, forwarded_for=ev.forwarded_for,
                user_agent=ev.user_agent, scheme=ev.scheme, host=ev.host, request=event,
                correlation_id=ev.request_id,
            )
        else:
            self.begin(
                settings, excluded=settings is None, method=None,
                operation=ev.operation or fields[LOG_FUNCTION_NAME] or "invoke", carrier=ev.headers,
                getter=mapping_getter, context=context_of(event, ev.headers), links=ev.links, kind=ev.kind,
                attributes=attrs, fields=fields, request=event, correlation_id=ev.request_id,
            )
        if self.active:
            self._started(event, context, fields[LOG_FUNCTION_NAME])

    def _started(self, event: Any, context: Any, name: Any) -> None:
        """After the begin: the ColdStart metric, Powertools-style options, captured headers, the guard."""
        global _record_cold_start
        extras = self.extras
        opts = extras.options.resolved()
        if self.cold_start and opts.cold_start_metric:
            if _record_cold_start is None:
                from obskit.metrics import record_cold_start

                _record_cold_start = record_cold_start
            try:
                _record_cold_start(name)
            except Exception:  # metrics never raise; belt and braces for the one-off path
                _diagnostics.incr(DIAG_ERROR)
        if opts.at_begin:
            extras.singles = _lambda_options.begin(opts, event)
        settings = self._settings
        if self.event.http:
            sc = extras.capture.get(settings)
            if sc is not None and isinstance(self.event.headers, dict):
                sc.requested(self.span, self.event.headers.items())
        margin = settings.timeout_margin_ms if settings is not None else 0
        if margin:
            self._guard(context, margin)

    def _guard(self, context: Any, margin: int) -> None:
        try:
            remaining = context.get_remaining_time_in_millis()
        except Exception:  # no context, or not Lambda's: no guard
            return
        if not isinstance(remaining, (int, float)) or isinstance(remaining, bool) or remaining <= 0:
            return
        self.margin_ms = margin
        self.watched = True
        _watchdog.watch(self, time.monotonic() + max(0.0, remaining - margin) / 1000.0)

    def complete(self, response: Any, exc: BaseException | None) -> Any:
        """Finish the invocation (unless the guard did) and return the response to hand back."""
        if self.watched and not _watchdog.release(self):
            self.detach()  # the guard wrote this invocation's telemetry already
            return response
        ev = self.event
        extra = {LOG_TRIGGER: ev.trigger}
        extras = self.extras
        opts = extras.options.resolved()
        if opts.at_end:
            _lambda_options.end(opts, self, extras.handler, response, extras.singles)
        if exc is None:
            try:
                if ev.http:
                    self.set_status(response_status(ev, response))
                    response = self._with_headers(response)
                    sc = extras.capture.get(self._settings)
                    if sc is not None:
                        sc.responded(self.span, self.status, _response_headers(response))
                failures = batch_failures(response)
                if failures is not None:
                    extra[LOG_BATCH_FAILURES] = failures
                    extra[LOG_BATCH_SIZE] = ev.attributes.get(ATTR_MESSAGING_BATCH_COUNT)
            except Exception:  # a response of an odd shape goes back as the handler made it
                _diagnostics.incr(DIAG_ERROR)
        self.finish(exc, extra=extra)
        self.detach()
        return response

    def _with_headers(self, response: Any) -> Any:
        if not isinstance(response, dict) or "statusCode" not in response:
            return response
        add = self.response_headers()
        if not add:
            return response
        out = dict(response)  # never mutate what the handler returned: it may be a shared constant
        multi = out.get("multiValueHeaders")
        headers = out.get("headers")
        if headers is None and multi is None:  # the usual small response: nothing to merge with
            out["headers"] = dict(add)
            return out
        if isinstance(multi, dict) and not isinstance(headers, dict):
            present = {k.lower() for k in multi}
            out["multiValueHeaders"] = {**multi, **{k: [v] for k, v in add if k not in present}}
        else:
            headers = headers if isinstance(headers, dict) else {}
            present = {k.lower() for k in headers if isinstance(k, str)}
            out["headers"] = {**headers, **{k: v for k, v in add if k not in present}}
        return out

    def timeout_imminent(self) -> None:
        """Called by the watchdog thread: leave the invocation's telemetry before Lambda kills it."""
        ctx = self.context
        token = CURRENT.set(ctx) if ctx is not None else None
        stoken = SCOPE.set(self)
        try:
            settings = self._settings
            if settings is not None:
                try:
                    settings.logger.warning(TIMEOUT_MESSAGE, **{LOG_REMAINING_MS: self.margin_ms,
                                                                LOG_TRIGGER: self.event.trigger})
                except Exception:
                    _diagnostics.incr(DIAG_ERROR)
            span = self.span
            if span is not None:
                span.set_attribute(ATTR_FAAS_TIMEOUT_IMMINENT, True)
            self.finish(error_type="timeout", extra={LOG_TRIGGER: self.event.trigger})
        finally:
            SCOPE.reset(stoken)
            if token is not None:
                CURRENT.reset(token)
            _pipeline.flush(self.margin_ms / 2000.0)  # half the margin left before Lambda's kill


_MISSING: Any = object()


class correlation_paths:
    """JMESPath expressions for ``instrument_handler(correlation_id_path=...)``, per event source."""

    API_GATEWAY_REST = "requestContext.requestId"
    API_GATEWAY_HTTP = "requestContext.requestId"
    LAMBDA_FUNCTION_URL = "requestContext.requestId"
    APPLICATION_LOAD_BALANCER = 'headers."x-amzn-trace-id"'
    EVENT_BRIDGE = "id"
    SQS = "Records[0].messageId"
    SNS = "Records[0].Sns.MessageId"


def _compile_path(path: Any) -> Any:
    """``correlation_id_path`` compiled once, at decoration time (``ConfigError`` if it cannot be)."""
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"correlation_id_path={path!r}: expected a JMESPath expression such as "
                          "'requestContext.requestId' (see obskit.integrations.aws_lambda.correlation_paths)")
    jmespath = require("jmespath", "aws", feature="correlation_id_path")
    try:
        return jmespath.compile(path)
    except Exception as exc:  # jmespath's ParseError and friends
        raise ConfigError(f"correlation_id_path={path!r}: not a JMESPath expression ({exc})") from None


class _Extras:
    """What one handler adds to its invocations: its Powertools-style options (``_lambda_options``)."""

    __slots__ = ("capture", "correlation_path", "handler", "options", "singles")

    def __init__(self, handler: Any, options: LambdaOptions, correlation_path: Any = None) -> None:
        self.handler = handler
        self.options = options
        self.singles = 0
        self.capture = CaptureCache()
        self.correlation_path = correlation_path

    def context_of(self, event: Any, headers: Any) -> Any:
        """The incoming context with the correlation id ``correlation_id_path`` names, or ``None``.

        ``None`` (the usual case, no path given) lets the scope extract the context itself. The
        path's value wins over a correlation header: it is what the user asked for.
        """
        path = self.correlation_path
        if path is None:
            return None
        try:
            value = path.search(event)
        except Exception:  # an event the expression cannot walk: no id from it
            value = None
        if value is None or isinstance(value, (dict, list, bool)):
            _diagnostics.incr(DIAG_NO_CORRELATION)
            return None
        return extract(headers if isinstance(headers, dict) else {}, mapping_getter).with_correlation(str(value))


DIAG_NO_CORRELATION = "lambda.correlation_id_path_missed"


# --- the first invocation ------------------------------------------------------------------------
_first_invocation = True


def _adopt_context(context: Any) -> None:
    """Once per process: what ``configure()`` would have set up, from the Lambda context.

    The function's name (and the default service) from ``context.function_name`` when the
    environment lacks ``AWS_LAMBDA_FUNCTION_NAME``; and, inside Lambda, the standard library
    bridge, so the app's and botocore's ``logging`` records are the same JSON lines with the
    invocation's ids even without an explicit ``configure()``.
    """
    global _first_invocation
    _first_invocation = False
    try:
        name = _attr(context, "function_name")
        if isinstance(name, str):
            adopt_function_name(name)
        bridge_implicitly()
    except Exception:
        _diagnostics.incr(DIAG_ERROR)


def _response_headers(response: Any) -> list[tuple[str, str]]:
    """An API Gateway / ALB / Function URL response's headers as ``(name, value)`` pairs."""
    if not isinstance(response, dict):
        return []
    out = [(k, str(v)) for k, v in (response.get("headers") or {}).items() if isinstance(k, str)]
    for k, values in (response.get("multiValueHeaders") or {}).items():
        if isinstance(k, str) and isinstance(values, list):
            out.extend((k, str(v)) for v in values)
    return out


def _begin(event: Any, context: Any, options: ScopeOptions, extras: _Extras) -> _Invocation | None:
    """The invocation's telemetry, set up; ``None`` (counted) if that failed: the handler then runs untraced."""
    inv = _Invocation(extras)
    try:
        inv.open(event, context, options)
    except Exception:
        if inv.watched:
            _watchdog.release(inv)
        abandon(inv)
        return None
    return inv


def _build(handler: H, options: ScopeOptions, lambda_options: LambdaOptions, correlation_path: Any = None) -> H:
    extras = _Extras(handler, lambda_options, correlation_path)
    if is_coroutine_function(handler):

        @functools.wraps(handler)
        async def async_wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            inv = _begin(event, context, options, extras)
            if inv is None or not inv.active:
                return await handler(event, context, *args, **kwargs)
            response = _MISSING
            try:
                response = await handler(event, context, *args, **kwargs)
            except Exception as exc:
                response = None
                inv.complete(None, exc)
                _pipeline.freeze_flush(context)
                raise
            finally:
                if response is _MISSING:  # cancelled or exiting: still leave the telemetry
                    inv.complete(None, None)
                    _pipeline.freeze_flush(context)
            response = inv.complete(response, None)
            _pipeline.freeze_flush(context)
            return response

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        inv = _begin(event, context, options, extras)
        if inv is None or not inv.active:
            return handler(event, context, *args, **kwargs)
        response = _MISSING
        try:
            response = handler(event, context, *args, **kwargs)
        except Exception as exc:
            response = None
            inv.complete(None, exc)
            _pipeline.freeze_flush(context)
            raise
        finally:
            if response is _MISSING:  # SystemExit and friends: still leave the telemetry
                inv.complete(None, None)
                _pipeline.freeze_flush(context)
        response = inv.complete(response, None)
        _pipeline.freeze_flush(context)
        return response

    return wrapper  # type: ignore[return-value]


@overload
def instrument_handler(handler: H, /, **options: Any) -> H: ...


@overload
def instrument_handler(handler: None = None, /, **options: Any) -> Callable[[H], H]: ...


def instrument_handler(handler: H | None = None, /, **options: Any) -> H | Callable[[H], H]:
    """Trace, log and measure every invocation of a Lambda handler (sync or async).

    Example::

        @obskit.integrations.aws_lambda.instrument_handler
        def handler(event, context):
            ...

        @instrument_handler(lambda_timeout_margin_ms=500, excluded_routes=["/ping"])
        def handler(event, context): ...

    The handler's result and exceptions pass through unchanged, except that for HTTP
    events the response gets the configured ``response_headers`` (in a copy of the dict).

    Args:
        handler: the handler; omit it to pass options (decorator with arguments).
        **options: ``lambda_timeout_margin_ms``, ``excluded_routes``, ``record_4xx_as_error``,
            ``response_headers``, ``access_log``, ``request_metrics``, ``correlation_headers``,
            ``request_hook(span, event)``, ``response_hook(span, status, headers)`` and
            ``log_fields(event) -> mapping``; ``correlation_id_path``, a JMESPath expression
            (``correlation_paths.API_GATEWAY_REST``, ``...SQS``...) naming the event's value
            that becomes the correlation id (it wins over a correlation header; an EventBridge
            event's own ``id`` is the default for those events); and, as Powertools has them, ``log_event``,
            ``capture_response``, ``cold_start_metric`` and ``warn_empty_metrics`` (see
            ``obskit.integrations._lambda_options``).

    Returns:
        The wrapped handler, or a decorator when ``handler`` is omitted.

    Raises:
        ConfigError: for an unknown option or a bad value, at decoration time.
    """
    correlation_path = _compile_path(options.pop("correlation_id_path", None))
    lambda_options = LambdaOptions(options)  # takes its four options out; the rest are the scope's
    scope_options = ScopeOptions(options)
    if handler is None:
        return lambda fn: _build(fn, scope_options, lambda_options, correlation_path)
    return _build(handler, scope_options, lambda_options, correlation_path)

