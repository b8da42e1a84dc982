"""Structured log lines that carry the trace: ``get_logger()``, the stdlib bridge, debug buffering.

Imports: standard library and obskit's core at import time. ``configure()`` imports this module
and ``import obskit`` must stay stdlib-only, so orjson (the fast serialiser), structlog (the
console renderer, user processors) and ``logging`` (the bridge) are imported when a
configuration asks for them, never here.

One line is one JSON object, keys in this order: ``timestamp`` (RFC 3339 UTC, milliseconds),
``level``, ``message``, ``logger``, ``service``, ``trace_id``, ``span_id``, ``xray_trace_id``,
``correlation_id`` (from ``obskit.current()``, absent outside a trace), ``environment`` (when
configured), the fields bound with ``obskit.bound``, the logger's bound fields, the call's
keywords, and ``exception`` as data. Keys whose value is ``None`` are left out.

How it stays fast (an emitted line costs a few times a bare ``orjson.dumps``; see
``benchmarks/bench_logs.py``):

- Loggers are plain objects whose level methods live on the class and are swapped when the
  configuration changes (structlog's trick): a call below the level is a call to a function
  that returns at once. No ``__getattr__``, no lazy proxy, no ``bind`` per call.
- The RFC 3339 timestamp is formatted once per millisecond (``strftime`` costs more than the
  rest of the line) and the per-key decisions (redact? reserved?) once per distinct key.
- Everything rare (hostile values, exceptions, oversized lines) is in ``obskit._logs_render``.

DEBUG lines inside a request (``RequestScope``) that the level would drop are rendered and held
in the request's accumulator, bounded in bytes, and written only if the request fails (an
ERROR line, a 5xx, an exception); otherwise they are dropped and counted. A request whose debug
logging was sampled in at the edge (``sample_rate``, or baggage ``obskit.debug=1`` from
upstream) writes its DEBUG lines directly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from random import random as _random
from typing import TYPE_CHECKING, Any

from obskit import _diagnostics, _pipeline, semconv
from obskit import _logs_render as _render
from obskit._context import CURRENT, SCOPE, RequestScope, TelemetryContext
from obskit.config import _LEVELS, Option, _choice, _fail, parse_number, parse_str_tuple
from obskit.ids import INVALID_TRACE_ID, trace_id_to_xray

if TYPE_CHECKING:
    from obskit._pipeline import Runtime

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "OPTIONS",
    "Logger",
    "end_request",
    "get_logger",
    "is_secret",
    "redact",
    "start_request",
]

DEFAULT_REDACT_KEYS = _render.DEFAULT_REDACT_KEYS

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
_LEVEL_NAMES = {5: "TRACE", DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}

BRIDGE_MODES = ("auto", "root", "replace", "none")
SERIALIZERS = ("auto", "orjson", "json")


# --- options -------------------------------------------------------------------------------------
def _parse_bridge(name: str, value: Any) -> str:
    return _choice(name, value, BRIDGE_MODES)


def _parse_serializer(name: str, value: Any) -> str:
    return _choice(name, value, SERIALIZERS)


def _parse_stream(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return _choice(name, value, ("stdout", "stderr"))
    if callable(getattr(value, "write", None)):
        return value
    raise _fail(name, value, "'stdout', 'stderr' or an object with a write() method")


def _parse_processors(name: str, value: Any) -> tuple[Callable[..., Any], ...]:
    items = (value,) if callable(value) else value
    try:
        out = tuple(items)
    except TypeError:
        raise _fail(name, value, "a list of structlog processors (callables)") from None
    if not all(callable(p) for p in out):
        raise _fail(name, value, "a list of structlog processors (callables)")
    return out


OPTIONS: dict[str, Option] = {
    "log_redact_keys": Option(
        DEFAULT_REDACT_KEYS, parse_str_tuple,
        "Keys whose values are replaced by '***' (whole words, case-insensitive, nested too); "
        "replaces the default list; an empty list turns redaction off.",
    ),
    "logs_bridge": Option(
        "auto", _parse_bridge,
        "Standard library logging: 'root' adds obskit's handler to the root logger next to yours, "
        "'replace' makes it the only one, 'none' leaves logging alone; 'auto' is 'replace' in "
        "Lambda (whose runtime handler would print every line twice) and 'root' elsewhere.",
    ),
    "log_debug_buffer_bytes": Option(
        65536, parse_number(0, 1 << 30, integer=True),
        "Bytes of DEBUG lines held per request and written only if it fails; 0 turns buffering off.",
    ),
    "log_max_bytes": Option(
        262144, parse_number(1024, 1 << 30, integer=True),
        "The longest line written; longer messages and fields are clipped with a marker and counted.",
    ),
    "log_serializer": Option(
        "auto", _parse_serializer, "'orjson', 'json' (standard library) or 'auto' (orjson when installed).",
    ),
    "log_stream": Option(
        None, _parse_stream,
        "Where lines go: 'stdout' (the default, looked up at every write), 'stderr', or a stream.",
    ),
    "log_processors": Option(
        (), _parse_processors,
        "structlog processors run on each line's dict before redaction and rendering.",
    ),
}

# The line's own keys: a user field with one of these names gets a trailing '_'.
_RESERVED = (
    semconv.LOG_TIMESTAMP, semconv.LOG_LEVEL, semconv.LOG_MESSAGE, semconv.LOG_LOGGER,
    semconv.LOG_SERVICE, semconv.LOG_TRACE_ID, semconv.LOG_SPAN_ID, semconv.LOG_XRAY_TRACE_ID,
    semconv.LOG_CORRELATION_ID, semconv.LOG_EXCEPTION,
)
_PLAIN_TYPES = frozenset({str, int, float, bool})


# --- the state the hot path reads: one object, swapped whole ------------------------------------
class _State:
    __slots__ = (
        "buffer_bytes",
        "capture",
        "classifier",
        "clock",
        "decode",
        "dumps",
        "environment",
        "level",
        "max_bytes",
        "odumps",
        "off",
        "opt",
        "plain",
        "processors",
        "redacting",
        "runtime",
        "sample_rate",
        "service",
        "swrite",
        "text",
    )

    buffer_bytes: int
    capture: Any
    classifier: _render.KeyClassifier
    clock: Callable[[], int]
    decode: bool
    dumps: Callable[[dict[str, Any]], Any]
    environment: str | None
    level: int
    max_bytes: int
    odumps: Callable[..., bytes] | None
    off: bool
    opt: int
    plain: set[str]
    processors: tuple[Callable[..., Any], ...]
    redacting: bool
    sample_rate: float
    service: str
    swrite: Callable[[Any], Any] | None
    text: bool

    def __init__(self, runtime: Runtime | None) -> None:
        self.runtime = runtime
        self.off = True
        self.level = INFO
        self.buffer_bytes = 0
        self.sample_rate = 0.0


_state = _State(None)
_ts_cache: tuple[int, str] = (-1, "")
_sec_cache: tuple[int, str] = (-1, "")

# Field names bound once (a global load is cheaper than semconv.X on every line).
_K_TS = semconv.LOG_TIMESTAMP
_K_LEVEL = semconv.LOG_LEVEL
_K_MSG = semconv.LOG_MESSAGE
_K_LOGGER = semconv.LOG_LOGGER
_K_SERVICE = semconv.LOG_SERVICE
_K_TRACE = semconv.LOG_TRACE_ID
_K_SPAN = semconv.LOG_SPAN_ID
_K_XRAY = semconv.LOG_XRAY_TRACE_ID
_K_CORR = semconv.LOG_CORRELATION_ID
_K_ENV = semconv.LOG_ENVIRONMENT
_K_EXC = semconv.LOG_EXCEPTION
_get_context = CURRENT.get
_get_scope = SCOPE.get


def _timestamp(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, formatted once per second plus the millisecond suffix."""
    global _ts_cache, _sec_cache
    sec = ms // 1000
    s = _sec_cache
    if s[0] != sec:
        import time

        s = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        _sec_cache = s
    text = f"{s[1]}.{ms % 1000:03d}Z"
    _ts_cache = (ms, text)
    return text


def _merge(d: dict[str, Any], src: Mapping[str, Any], st: _State) -> None:
    """Copy user fields into the line: None removes, secrets masked, reserved names suffixed."""
    plain = st.plain
    for k, v in src.items():
        if k in plain and type(v) in _PLAIN_TYPES:
            d[k] = v
        else:
            _merge_one(d, k, v, st)


def _merge_one(d: dict[str, Any], k: Any, v: Any, st: _State) -> None:
    code = st.classifier.cache.get(k) if isinstance(k, str) else _render.PLAIN
    if code is None:
        code = st.classifier.classify(k)
    if code == _render.REDACT:
        v = semconv.LOG_REDACTED if v is not None else None
    elif code == _render.RESERVED:
        k = f"{k}_"
    if v is None:
        d.pop(k, None)
    elif type(v) in _PLAIN_TYPES or not st.redacting:
        d[k] = v
    else:
        d[k] = _render.redact_value(v, st.classifier)


def _render_line(
    st: _State, name: str | None, bound: Mapping[str, Any], level_name: str,
    event: Any, args: tuple[Any, ...], kw: dict[str, Any], now_ns: int | None = None,
    plain_values: bool = False,
) -> Any:
    """Build and serialise one line; ``None`` when a user processor dropped it. Never raises.

    ``now_ns``: the clock as the caller just read it (the access line's request end), else read here.
    ``plain_values``: every value in ``kw`` is a str, int, float or bool (the access line, typed by
    the request scope): once its keys are known to need no masking or renaming, ``kw`` is copied
    in one step.

    The steps: the fixed head (time, level, message, trace ids), then the fields (the request
    context's, the logger's bound ones, the call's), then the user processors, then the bytes.
    """
    ms = (st.clock() if now_ns is None else now_ns) // 1_000_000
    c = _ts_cache
    ts = c[1] if c[0] == ms else _timestamp(ms)
    if args or type(event) is not str or len(event) > st.max_bytes:
        event = _message(st, event, args)
    ctx = _get_context()
    d = _head(st, ts, level_name, event, name, ctx)
    fixed = len(d)
    exc = _add_fields(st, d, ctx[6], bound, kw, plain_values)
    if exc is not None:
        d[_K_EXC] = _exception_info(exc)
    if st.processors:
        processed = _run_processors(st, level_name, d)
        if processed is None:
            return None
        d = processed
    return _serialise(st, d, fixed)


def _message(st: _State, event: Any, args: tuple[Any, ...]) -> Any:
    """The ``msg`` field: a non-string event made printable, a long one clipped, ``%`` args applied."""
    if type(event) is not str:
        event = _coerce_event(event, st)
    elif len(event) > st.max_bytes:
        event = _clip_message(event, st.max_bytes)
    if args:
        event = _interpolate(event, args, st)
    return event


def _head(st: _State, ts: str, level_name: str, event: Any, name: str | None, ctx: TelemetryContext) -> dict[str, Any]:
    """The fields every line starts with, in a fixed order; the request's ids when there is one.

    These are the fields ``_shrink`` keeps when the line is too long, so the line can still
    be found by time, trace and correlation id.
    """
    d: dict[str, Any] = {
        _K_TS: ts, _K_LEVEL: level_name, _K_MSG: event, _K_LOGGER: name, _K_SERVICE: st.service,
    }
    if event is None:
        del d[_K_MSG]
    if name is None:
        del d[_K_LOGGER]
    tid = ctx[0]
    if tid != INVALID_TRACE_ID:
        d[_K_TRACE] = tid
        sid = ctx[1]
        if sid is not None:
            d[_K_SPAN] = sid
        d[_K_XRAY] = trace_id_to_xray(tid)
    cid = ctx[3]
    if cid is not None:
        d[_K_CORR] = cid
    if st.environment is not None:
        d[_K_ENV] = st.environment
    return d


def _add_fields(
    st: _State, d: dict[str, Any], fields: Mapping[str, Any] | None, bound: Mapping[str, Any],
    kw: dict[str, Any], plain_values: bool,
) -> BaseException | None:
    """Merge the request context's fields, then the bound ones, then the call's; later ones win.

    Returns the exception that ``exc_info=`` named, if any. A key already known to be plain
    (no masking, no renaming) with a plain value is copied as it is; ``None`` removes it.
    """
    if fields:
        _merge(d, fields, st)
    if bound:
        _merge(d, bound, st)
    exc = None
    if plain_values and kw.keys() <= st.plain:
        d.update(kw)
    elif kw:
        if "exc_info" in kw:
            exc = _render.exc_from(kw.pop("exc_info"))
        plain = st.plain
        for k, v in kw.items():
            if k in plain:
                if type(v) in _PLAIN_TYPES:
                    d[k] = v
                    continue
                if v is None:  # a known plain key: None removes it (the access line's absent fields)
                    d.pop(k, None)
                    continue
            _merge_one(d, k, v, st)
    return exc


def _serialise(st: _State, d: dict[str, Any], fixed: int) -> Any:
    """The line's bytes (or text, for a text stream); a hostile value or an oversize line is repaired."""
    odumps = st.odumps
    line: Any
    try:
        if odumps is not None:
            line = odumps(d, _json_default, st.opt)
            if st.decode:
                line = line.decode()
        else:
            line = st.dumps(d)
    except Exception:
        line = _dumps_hostile(st, d)
    if len(line) > st.max_bytes:
        line = _shrink(st, d, fixed)
    return line


_json_default = _render.json_default


def _exception_info(exc: BaseException) -> dict[str, Any]:
    try:
        return _render.exception_info(exc)
    except Exception:
        return {semconv.LOG_EXC_TYPE: type(exc).__name__}


def _shrink(st: _State, d: dict[str, Any], fixed: int) -> Any:
    _diagnostics.incr("logs.truncated")
    try:
        return _render.shrink(d, st.max_bytes, st.dumps, fixed)
    except Exception:
        return _render.shrink(_render.sanitize(d), st.max_bytes, st.dumps, fixed)


def _coerce_event(event: Any, st: _State) -> Any:
    if event is None:
        return None
    if isinstance(event, str):  # a str subclass
        event = str.__str__(event)
        return event if len(event) <= st.max_bytes else _clip_message(event, st.max_bytes)
    if isinstance(event, (dict, list, tuple)):
        return event if not st.redacting else _render.redact_value(event, st.classifier)
    if isinstance(event, (bytes, bytearray)):
        event = bytes(event).decode("utf-8", "replace")
    else:
        try:
            event = str(event)
        except Exception:
            event = _render._safe_repr(event)
        if not isinstance(event, str):
            event = _render._safe_repr(event)
    return event if len(event) <= st.max_bytes else _clip_message(event, st.max_bytes)


def _interpolate(event: Any, args: tuple[Any, ...], st: _State) -> Any:
    """``log.info("user %s", name)``: %-formatting, and never an error for a bad pattern."""
    try:
        out = event % args
    except Exception:
        _diagnostics.incr("logs.bad_format")
        out = f"{event} {_render._safe_repr(args)}"
    if isinstance(out, str) and len(out) > st.max_bytes:
        out = _clip_message(out, st.max_bytes)
    return out


def _clip_message(event: str, limit: int) -> str:
    _diagnostics.incr("logs.truncated")
    keep = limit // 2
    return f"{event[:keep]}...[truncated {len(event) - keep} chars]"


def _dumps_hostile(st: _State, d: dict[str, Any]) -> Any:
    """The serialiser refused something (surrogates, huge ints, cycles, odd keys): clean and retry."""
    _diagnostics.incr("logs.unserializable")
    try:
        return st.dumps(_render.sanitize(d))
    except Exception:
        _diagnostics.incr("logs.render_failure")
        minimal = {k: d[k] for k in list(d)[:5]}
        minimal[_K_MSG] = _render._safe_repr(d.get(_K_MSG))
        return st.dumps(_render.sanitize(minimal))


def _run_processors(st: _State, level_name: str, d: dict[str, Any]) -> dict[str, Any] | None:
    method = level_name.lower()
    drop = _drop_event()
    for proc in st.processors:
        try:
            out = proc(None, method, d)
        except drop:  # structlog's way of dropping a line (a BaseException: control flow)
            return None
        except Exception as exc:
            _diagnostics.incr("logs.processor_failure")
            _diagnostics.report_once(
                f"logs.processor.{getattr(proc, '__qualname__', type(proc).__name__)}",
                "obskit: log processor %r failed: %r (line written without it)", proc, exc,
            )
            continue
        if isinstance(out, dict):
            d = out
    # A processor may have added anything: redact the top level again.
    if st.redacting:
        for k in list(d):
            if isinstance(k, str) and st.classifier.is_secret(k) and d[k] is not None:
                d[k] = semconv.LOG_REDACTED
    return d


def _drop_event() -> type[BaseException]:
    try:
        from structlog import DropEvent
    except ImportError:  # processors without structlog installed cannot raise it
        return _NeverRaised
    return DropEvent


class _NeverRaised(Exception):
    pass


# --- writing -------------------------------------------------------------------------------------
def _write_failed() -> None:
    _diagnostics.incr("logs.write_failure")


def _write_stderr(line: str) -> None:
    sys.stderr.write(line)


def _is_text_stream(stream: Any) -> bool:
    import io

    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, (io.RawIOBase, io.BufferedIOBase)):
        return False
    return getattr(stream, "encoding", None) is not None or "b" not in str(getattr(stream, "mode", ""))


def _deliver(st: _State, line: Any) -> None:
    """Write a rendered line (or hand it to the capture). Never raises."""
    cap = st.capture
    if cap is not None:
        import json

        try:
            cap.logs.append(json.loads(line))
        except ValueError:
            cap.logs.append({_K_MSG: line})
        return
    w = st.swrite
    try:
        if w is None:
            sys.stdout.write(line)
        else:
            w(line)
    except Exception:
        _diagnostics.incr("logs.write_failure")


def _level_number(level: Any) -> int:
    """A level given as a name (``"warning"``) or an int subclass, as a number; INFO when unknown."""
    if isinstance(level, str):
        return _LEVELS.get(level.upper(), INFO)
    if isinstance(level, int) and level.__class__ is not bool:
        return int(level)
    return INFO


# --- the level methods ----------------------------------------------------------------------------
def _emit(
    name: str | None, bound: Mapping[str, Any], level_no: int, level_name: str,
    event: Any, args: tuple[Any, ...], kw: dict[str, Any],
) -> None:
    """Write one line at an enabled level (the general path: errors, records, resync)."""
    st = _state
    if st.runtime is not _pipeline.RUNTIME:
        st = _resync()
        if st.off or level_no < st.level:
            _below(name, bound, level_no, level_name, event, args, kw)
            return
    try:
        if level_no >= ERROR:
            scope = _get_scope()
            if scope is not None:
                scope.failed = True
                if scope.debug_lines:
                    _flush_buffer(st, scope)
        line = _render_line(st, name, bound, level_name, event, args, kw)
    except Exception as exc:
        _render_failed(exc)
        return
    if line is not None:
        _deliver(st, line)


def write_access(
    logger: Logger, fields: dict[str, Any], clock: Callable[[], int], now_ns: int | None, plain: bool = False,
) -> None:
    """``logger.info(ACCESS_MESSAGE, **fields)`` for the request scope's access line.

    The scope read ``clock`` for the request's end an instant ago: when it is the clock in
    force, the line takes its time from there instead of reading it again, and ``fields`` go
    in without a keyword copy. ``plain``: the scope checked that every value is a str, int or
    float (see ``_render_line``). Any other state (reconfigured, below the level) takes
    ``logger.info`` as is.
    """
    st = _state
    if st.runtime is not _pipeline.RUNTIME or st.off or st.level > INFO:
        logger.info(semconv.ACCESS_MESSAGE, **fields)
        return
    try:
        line = _render_line(
            st, logger._name, logger._context, _INFO_NAME, semconv.ACCESS_MESSAGE, (), fields,
            now_ns if clock is st.clock else None, plain,
        )
    except Exception as exc:
        _render_failed(exc)
        return
    if line is not None:
        _deliver(st, line)


_INFO_NAME = _LEVEL_NAMES[INFO]


def _render_failed(exc: BaseException) -> None:
    _diagnostics.incr("logs.render_failure")
    _diagnostics.report_once("logs.render", "obskit: a log line could not be rendered: %r", exc)


def _below(
    name: str | None, bound: Mapping[str, Any], level_no: int, level_name: str,
    event: Any, args: tuple[Any, ...], kw: dict[str, Any],
) -> None:
    """A call below the configured level: an error still fails the request; DEBUG may be held."""
    try:
        scope = _get_scope()
        if scope is None:
            return
        if level_no >= ERROR:
            scope.failed = True
            return
        if level_no > DEBUG:
            return
        st = _state
        if st.off:
            return
        if scope.debug_sampled or scope.failed:
            line = _render_line(st, name, bound, level_name, event, args, kw)
            if line is not None:
                _deliver(st, line)
            return
        if st.buffer_bytes <= 0:
            return
        line = _render_line(st, name, bound, level_name, event, args, kw)
        if line is not None:
            _hold(st, scope, line)
    except Exception as exc:
        _render_failed(exc)


def _hold(st: _State, scope: RequestScope, line: Any) -> None:
    size = len(line)
    lines = scope.debug_lines
    if lines is None:
        lines = scope.debug_lines = []
    lines.append(line)
    scope.debug_bytes += size
    limit = st.buffer_bytes
    while scope.debug_bytes > limit and lines:
        scope.debug_bytes -= len(lines.pop(0))
        _diagnostics.incr("logs.debug_buffer_evicted")


def _flush_buffer(st: _State, scope: RequestScope) -> None:
    lines, scope.debug_lines, scope.debug_bytes = scope.debug_lines, None, 0
    for line in lines or ():
        _deliver(st, line)


def _nop(*args: Any, **kw: Any) -> None:
    return None


def _make_method(level_no: int, method: str) -> Callable[..., None]:
    level_name = _LEVEL_NAMES.get(level_no, str(level_no))
    if level_no >= ERROR:

        def log_error(self: Logger, event: Any = None, *args: Any, **kw: Any) -> None:
            _emit(self._name, self._context, level_no, level_name, event, args, kw)

        log_error.__name__ = log_error.__qualname__ = method
        return log_error

    def log(self: Logger, event: Any = None, *args: Any, **kw: Any) -> None:
        # The hot path: one frame for the call, one for the render, C for the rest.
        st = _state
        if st.runtime is not _pipeline.RUNTIME:
            _emit(self._name, self._context, level_no, level_name, event, args, kw)
            return
        try:
            line = _render_line(st, self._name, self._context, level_name, event, args, kw)
        except Exception as exc:
            _render_failed(exc)
            return
        if line is not None:
            _deliver(st, line)

    log.__name__ = log.__qualname__ = method
    return log


def _make_below(level_no: int, method: str) -> Callable[..., None]:
    level_name = _LEVEL_NAMES.get(level_no, str(level_no))

    def log(self: Logger, event: Any = None, *args: Any, **kw: Any) -> None:
        if _get_scope() is None:
            return
        _below(self._name, self._context, level_no, level_name, event, args, kw)

    log.__name__ = log.__qualname__ = method
    return log


def _make_bootstrap(level_no: int, method: str) -> Callable[..., None]:
    """Before the first configuration: build it (from the environment), then log."""

    def log(self: Logger, event: Any = None, *args: Any, **kw: Any) -> None:
        _resync()
        getattr(self, method)(event, *args, **kw)

    log.__name__ = log.__qualname__ = method
    return log


def _make_exception(method: str) -> Callable[..., None]:
    def exception(self: Logger, event: Any = None, *args: Any, **kw: Any) -> None:
        kw.setdefault("exc_info", True)
        self.error(event, *args, **kw)

    exception.__name__ = exception.__qualname__ = method
    return exception


def _make_async(method: str) -> Callable[..., Any]:
    async def alog(self: Logger, event: Any = None, *args: Any, **kw: Any) -> None:
        getattr(self, method)(event, *args, **kw)

    alog.__name__ = alog.__qualname__ = f"a{method}"
    return alog


_METHODS = (("debug", DEBUG), ("info", INFO), ("warning", WARNING), ("error", ERROR), ("critical", CRITICAL))
_ALIASES = (("warn", "warning"), ("err", "error"), ("fatal", "critical"), ("msg", "info"))


class Logger:
    """A structlog-compatible bound logger that writes obskit's line.

    It has the methods of structlog's ``FilteringBoundLogger`` (``debug`` ... ``critical``,
    ``exception``, ``log``, their ``a*`` async forms, ``bind``, ``new``, ``unbind``,
    ``try_unbind``, ``is_enabled_for``, ``get_effective_level``). Loggers are immutable:
    ``bind`` returns a new one, so passing one to another task or thread is safe.

    Call arguments: ``log.info("message %s", arg, key=value, exc_info=True)``. Nothing a call
    passes can raise: unknown values are rendered with ``repr``, bytes decoded, oversized
    lines clipped, a broken stream counted in ``obskit.diagnostics()``.
    """

    __slots__ = ("_context", "_name")

    # Level methods are assigned on the class below and re-assigned by configure().
    debug: Callable[..., None]
    info: Callable[..., None]
    warning: Callable[..., None]
    warn: Callable[..., None]
    error: Callable[..., None]
    err: Callable[..., None]
    exception: Callable[..., None]
    critical: Callable[..., None]
    fatal: Callable[..., None]
    msg: Callable[..., None]

    def __init__(self, name: str | None = None, context: Mapping[str, Any] | None = None) -> None:
        self._name = name
        self._context: Mapping[str, Any] = dict(context) if context else {}

    @property
    def name(self) -> str | None:
        """The value of the ``logger`` field."""
        return self._name

    def bind(self, **fields: Any) -> Logger:
        """A logger that adds ``fields`` to every line (after the context's bound fields)."""
        return Logger(self._name, {**self._context, **fields})

    def new(self, **fields: Any) -> Logger:
        """A logger with only ``fields`` bound (structlog's ``new``)."""
        return Logger(self._name, fields)

    def unbind(self, *keys: str) -> Logger:
        """A logger without ``keys``. Unlike structlog, a missing key is not an error."""
        return Logger(self._name, {k: v for k, v in self._context.items() if k not in keys})

    try_unbind = unbind

    def is_enabled_for(self, level: int | str) -> bool:
        """Whether a line at ``level`` (a number or a name) would be written outside a request."""
        st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
        if level.__class__ is not int:
            level = _level_number(level)
        return not st.off and level >= st.level

    def get_effective_level(self) -> int:
        """The configured level number."""
        st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
        return st.level

    def log(self, level: int | str, event: Any = None, *args: Any, **kw: Any) -> None:
        """Log at a level given as a number or a name."""
        if isinstance(level, str):
            method = getattr(self, level.lower(), None)
            if method is None or level.lower() not in _LEVEL_METHOD_NAMES:
                method = self.info
            method(event, *args, **kw)
            return
        st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
        level_no = level if isinstance(level, int) and level.__class__ is not bool else INFO
        level_name = _LEVEL_NAMES.get(level_no, f"LEVEL{level_no}")
        if st.off or level_no < st.level:
            _below(self._name, self._context, level_no, level_name, event, args, kw)
        else:
            _emit(self._name, self._context, level_no, level_name, event, args, kw)

    async def alog(self, level: int | str, event: Any = None, *args: Any, **kw: Any) -> None:
        self.log(level, event, *args, **kw)

    def __repr__(self) -> str:
        return f"<obskit.logs.Logger name={self._name!r} context={dict(self._context)!r}>"


_LEVEL_METHOD_NAMES = frozenset(
    [m for m, _ in _METHODS] + [a for a, _ in _ALIASES] + ["exception"]
)


def _install_methods(level: int | None, off: bool) -> None:
    """Point the class's level methods at the right function for this configuration.

    ``level=None`` installs the bootstrap methods (unconfigured). Below the level, ERROR and
    CRITICAL still mark the request failed and DEBUG may be held or sampled in (any request
    can arrive with ``obskit.debug=1``), so those check the request scope; the rest are
    ``_nop``.
    """
    for method, level_no in _METHODS:
        if level is None:
            fn = _make_bootstrap(level_no, method)
        elif not off and level_no >= level:
            fn = _make_method(level_no, method)
        elif level_no >= ERROR or (level_no == DEBUG and not off):
            fn = _make_below(level_no, method)
        else:
            fn = _nop
        setattr(Logger, method, fn)
    for alias, target in _ALIASES:
        setattr(Logger, alias, getattr(Logger, target))
    Logger.exception = _make_exception("exception")
    for method in [m for m, _ in _METHODS] + [a for a, _ in _ALIASES] + ["exception"]:
        setattr(Logger, f"a{method}", _make_async(method))


_install_methods(None, off=False)


# --- public API ----------------------------------------------------------------------------------
def get_logger(name: str | None = None, **fields: Any) -> Logger:
    """A structlog-compatible logger writing obskit's JSON line; usable before ``configure()``.

    Args:
        name: the ``logger`` field; defaults to the calling module's ``__name__`` (as with
            ``logging.getLogger(__name__)``).
        **fields: fields bound to this logger, written on each of its lines.

    Returns:
        A ``Logger``. Create it at module level: it follows later ``configure()`` calls.
    """
    if name is None:
        try:
            name = sys._getframe(1).f_globals.get("__name__")
        except (AttributeError, ValueError):
            name = None
    return Logger(name, fields)


def start_request(scope: RequestScope, ctx: TelemetryContext) -> None:
    """Decide, once at the edge of a request, whether it logs at DEBUG (``scope.debug_sampled``).

    Sampled in when upstream already decided so (baggage ``obskit.debug=1``) or with
    probability ``sample_rate``. The integration passes the decision downstream in baggage.
    Never raises.
    """
    try:
        if scope.debug_sampled:
            return
        if ctx.baggage.get(semconv.BAGGAGE_DEBUG_KEY) == "1":
            scope.debug_sampled = True
            return
        st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
        rate = st.sample_rate
        if rate > 0.0 and (rate >= 1.0 or _random() < rate):
            scope.debug_sampled = True
    except Exception:
        _diagnostics.incr("logs.sampling_failure")


def end_request(scope: RequestScope, *, failed: bool) -> None:
    """Write the request's held DEBUG lines if it failed, else drop them and count them.

    Args:
        scope: the request's accumulator.
        failed: the request ended in a 5xx or an exception (an ERROR line logged inside it
            counts too: it set ``scope.failed``).
    """
    try:
        lines = scope.debug_lines
        if not lines:
            return
        if failed or scope.failed:
            st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
            _flush_buffer(st, scope)
        else:
            scope.debug_lines, scope.debug_bytes = None, 0
            _diagnostics.incr("logs.debug_buffer_dropped", len(lines))
    except Exception:
        _diagnostics.incr("logs.render_failure")


# --- configuration -------------------------------------------------------------------------------
def _resync() -> _State:
    """The runtime changed under us (first use, a capture ended): rebuild from the live one."""
    rt = _pipeline.get()
    if _state.runtime is not rt:
        from obskit import config as _config

        _on_configure(rt, explicit=_config.is_explicit())
    return _state


def _build_state(runtime: Runtime) -> _State:
    cfg = runtime.config
    st = _State(runtime)
    st.capture = runtime.capture
    st.off = cfg.logs == "none" and runtime.capture is None
    st.level = cfg.log_level
    st.service = cfg.service
    st.environment = cfg.environment
    st.clock = runtime.clock
    st.sample_rate = cfg.sample_rate
    opts = cfg.options
    st.buffer_bytes = opts.get("log_debug_buffer_bytes", 65536)
    st.max_bytes = opts.get("log_max_bytes", 262144)
    st.processors = tuple(opts.get("log_processors", ()))
    st.classifier = _render.KeyClassifier(opts.get("log_redact_keys", DEFAULT_REDACT_KEYS), _RESERVED)
    st.plain = st.classifier.plain
    st.redacting = st.classifier.redacting
    stream = opts.get("log_stream")
    if stream is None or stream == "stdout":
        st.swrite, st.text = None, True
    elif stream == "stderr":
        st.swrite, st.text = _write_stderr, True
    else:
        st.swrite, st.text = stream.write, _is_text_stream(stream)
    if st.swrite is None and not st.off and runtime.capture is None and not cfg.in_lambda:
        _pipeline.start_flusher()  # stdout on a pipe holds 8 KB: pushed every metrics_flush_interval
    st.odumps = None
    st.opt = 0
    st.decode = False
    if cfg.logs == "console" and runtime.capture is None:
        render = _render.console_renderer(_is_tty(stream))
        st.dumps = render if st.text else (lambda d: render(d).encode("utf-8", "replace"))
    else:
        text = st.text or runtime.capture is not None
        st.dumps, used = _render.json_serializer(opts.get("log_serializer", "auto"), text)
        if used == "orjson":
            import orjson

            st.odumps = orjson.dumps
            st.opt = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
            st.decode = text
    return st


def _is_tty(stream: Any) -> bool:
    target = sys.stderr if stream == "stderr" else (sys.stdout if stream in (None, "stdout") else stream)
    try:
        return bool(target.isatty())
    except Exception:
        return False


def _on_configure(runtime: Runtime, explicit: bool) -> None:
    """Rebuild the line renderer, the level methods and the stdlib bridge for a new runtime."""
    global _state
    st = _build_state(runtime)
    _state = st
    _install_methods(st.level, st.off)
    mode = runtime.config.options.get("logs_bridge", "auto")
    if mode == "auto":
        mode = "replace" if runtime.config.in_lambda else "root"
    if explicit and not st.off and mode != "none":
        from obskit import _logs_bridge

        _logs_bridge.install(st.level, replace=mode == "replace")
    elif "obskit._logs_bridge" in sys.modules:
        sys.modules["obskit._logs_bridge"].uninstall()


def bridge_implicitly() -> None:
    """Inside Lambda, install the standard library bridge as an explicit ``configure()`` would.

    For ``instrument_handler`` without ``configure()`` (the README's Lambda example): Lambda's
    runtime puts its own plain-text (or JSON) handler on the root logger, so without the bridge
    the app's and botocore's ``logging`` records would carry no trace ids. Outside Lambda it does
    nothing: a local test run's logging stays as the user set it up.
    """
    cfg = _pipeline.get().config
    st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
    mode = cfg.options.get("logs_bridge", "auto")
    if not cfg.in_lambda or st.off or mode == "none":
        return
    from obskit import _logs_bridge

    _logs_bridge.install(st.level, replace=mode in ("auto", "replace"))


def _emit_record(
    name: str, level_no: int, level_name: str, message: Any, extra: Mapping[str, Any],
    exc: Any, stack_info: str | None,
) -> None:
    """A standard library record, through the same line as ``Logger`` (used by the bridge)."""
    kw: dict[str, Any] = dict(extra) if extra else {}
    if exc:
        kw["exc_info"] = exc
    if stack_info:
        kw[semconv.LOG_STACK_INFO] = stack_info
    rt = _pipeline.RUNTIME
    # (None before anything is configured: a server's log config hands records over that early)
    st = _state if rt is not None and _state.runtime is rt else _resync()
    if st.off or level_no < st.level:
        _below(name, {}, level_no, level_name, message, (), kw)
    else:
        _emit(name, {}, level_no, level_name, message, (), kw)


def _reset() -> None:
    """``obskit.testing.reset()``: back to unconfigured, bridge removed, caches emptied."""
    global _state, _ts_cache, _sec_cache
    _state = _State(None)
    _ts_cache = (-1, "")
    _sec_cache = (-1, "")
    _install_methods(None, off=False)
    if "obskit._logs_bridge" in sys.modules:
        sys.modules["obskit._logs_bridge"].uninstall()


_pipeline.on_reset(_reset)


def redact(value: Any) -> Any:
    """``value`` with the secrets of nested mappings replaced, as a log line would carry it.

    The same rule (``log_redact_keys``) for what goes elsewhere: span metadata, captured
    headers, a logged Lambda event. The input is never changed.
    """
    st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
    return _render.redact_value(value, st.classifier) if st.redacting else value


def is_secret(key: str) -> bool:
    """Whether a field named ``key`` is redacted on log lines (``log_redact_keys``)."""
    st = _state if _state.runtime is _pipeline.RUNTIME else _resync()
    return st.classifier.is_secret(key)

