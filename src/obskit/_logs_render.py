"""The cold half of log rendering: serialisers, hostile values, exceptions, redaction, console.

Imports: standard library, ``obskit._diagnostics`` and ``obskit.semconv``. orjson is imported by ``json_serializer`` and
structlog by ``console_renderer``, both at configure time, never at import.

``obskit.logs`` keeps the per-line hot path to a handful of dict operations; everything that is
rare (a value the serialiser refuses, an exception, a key seen for the first time, a line over
the size bound) lands here, where clarity beats speed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from obskit import _diagnostics, semconv

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "KeyClassifier",
    "console_renderer",
    "exception_info",
    "json_default",
    "json_serializer",
    "redact_value",
    "sanitize",
    "shrink",
]

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password", "passwd", "secret", "token", "authorization", "cookie", "set-cookie",
    "api_key", "apikey", "x-api-key", "private_key", "credentials", "session_id",
)
"""Keys whose values never reach a log line (matched as whole words; see ``KeyClassifier``)."""

MAX_FRAMES = 30
"""Frames kept per exception (the innermost ones: that is where it was raised)."""
MAX_CAUSES = 3
"""Chained causes followed (``raise ... from ...`` and implicit context)."""
MAX_GROUP = 5
"""Sub-exceptions of an ``ExceptionGroup`` rendered."""
MAX_DEPTH = 12
"""Nesting depth walked by redaction and sanitising; deeper values become a marker."""
MAX_REPR = 4096
"""Characters kept from ``repr()`` of a value the serialiser does not know."""

PLAIN, REDACT, RESERVED = 0, 1, 2

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = str.maketrans({"-": "_", ".": "_", " ": "_"})


def _normalise(key: str) -> str:
    """``xApiKey`` / ``X-Api-Key`` / ``x.api.key`` -> ``x_api_key``."""
    return _CAMEL.sub("_", key).lower().translate(_SEPARATORS)


class KeyClassifier:
    """Decides, once per distinct key, whether a field is plain, redacted or reserved.

    A key is redacted when one of the deny-list entries appears in it as whole words, after
    splitting camelCase and treating ``-``, ``.`` and spaces as ``_``: ``token`` catches
    ``access_token`` and ``refreshToken`` but not ``tokens_used``; ``secret`` catches
    ``aws_secret_access_key``. Reserved keys are the line's own fields (``timestamp``,
    ``level``, ``trace_id``...): a user field with one of those names is written with a
    trailing ``_`` so it can never forge a trace id or a level.

    The answers are cached in a plain dict that the hot path reads directly; the cache is
    bounded, so a service that logs unbounded distinct keys only pays the slow path again.
    """

    __slots__ = ("_words", "cache", "plain", "reserved")

    LIMIT = 8192

    def __init__(self, deny: Iterable[str], reserved: Iterable[str]) -> None:
        self._words = tuple(f"_{_normalise(k)}_" for k in deny if k)
        self.reserved = frozenset(reserved)
        self.cache: dict[str, int] = {}
        self.plain: set[str] = set()
        """Keys known to be neither secret nor reserved: the hot path's one-lookup test."""

    @property
    def redacting(self) -> bool:
        return bool(self._words)

    def is_secret(self, key: Any) -> bool:
        if not self._words or not isinstance(key, str):
            return False
        padded = f"_{_normalise(key)}_"
        return any(w in padded for w in self._words)

    def classify(self, key: str) -> int:
        code = RESERVED if key in self.reserved else (REDACT if self.is_secret(key) else PLAIN)
        cache = self.cache
        if len(cache) >= self.LIMIT:
            cache.clear()
            self.plain.clear()
        cache[key] = code
        if code == PLAIN:
            self.plain.add(key)
        return code


def redact_value(value: Any, classifier: KeyClassifier, depth: int = 0) -> Any:
    """A copy of ``value`` with secret keys of nested mappings replaced; the input is untouched."""
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            out[k] = semconv.LOG_REDACTED if classifier.is_secret(k) else redact_value(v, classifier, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [redact_value(v, classifier, depth + 1) for v in value]
    return value


# --- serialisation -----------------------------------------------------------------------------
def _safe_repr(value: Any) -> str:
    try:
        text: Any = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"
    if not isinstance(text, str):  # a C extension's repr can return anything
        return f"<unrepresentable {type(value).__qualname__}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "...[truncated]"


def json_default(value: Any) -> Any:
    """What the serialisers call for a value they do not know: never raises.

    Bytes are decoded as UTF-8 with replacement characters, sets become lists, mappings
    dicts, dates ISO 8601 text, enums their value, exceptions ``Type: message``; anything
    else its (clipped) ``repr``.
    """
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("utf-8", "replace")
        if isinstance(value, (set, frozenset, tuple)):
            return list(value)
        if isinstance(value, Mapping):
            return dict(value)
        if isinstance(value, BaseException):
            return f"{type(value).__name__}: {_safe_str(value)}"
        iso = getattr(type(value), "isoformat", None)
        if iso is not None:
            return str(iso(value))
        enum_value = getattr(value, "_value_", None)
        if enum_value is not None and type(value).__module__ != "builtins":
            return enum_value
    except Exception:  # noqa: S110 - a hostile __iter__/__getattr__: fall back to repr
        pass
    return _safe_repr(value)


def sanitize(value: Any, depth: int = 0, seen: set[int] | None = None) -> Any:
    """A deep copy that any JSON serialiser accepts: the slow path after a refusal.

    Handles what orjson or ``json`` reject: lone surrogates, integers beyond 64 bits,
    non-string keys, cycles, nesting beyond ``MAX_DEPTH``, unknown types.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
            return value
        _diagnostics.count("logs.clipped.non_finite", "obskit: a log field held NaN or infinity, which JSON "
                           "cannot carry; written as null (counted as logs.clipped.non_finite)")
        return None
    if isinstance(value, int):
        return value if -(1 << 63) <= value < (1 << 64) else str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if depth >= MAX_DEPTH:
        return "<max depth>"
    seen = set() if seen is None else seen
    if isinstance(value, (dict, list, tuple, set, frozenset, Mapping)):
        if id(value) in seen:
            return "<cycle>"
        seen.add(id(value))
        try:
            if isinstance(value, Mapping):
                return {
                    (k if isinstance(k, str) else _safe_str(k)): sanitize(v, depth + 1, seen)
                    for k, v in list(value.items())
                }
            return [sanitize(v, depth + 1, seen) for v in list(value)]
        except Exception:
            return _safe_repr(value)
        finally:
            seen.discard(id(value))
    return sanitize(json_default(value), depth + 1, seen)


def _safe_str(value: Any) -> str:
    try:
        text = str(value)
    except Exception:
        return _safe_repr(value)
    return text if isinstance(text, str) else _safe_repr(value)


def json_serializer(name: str, text: bool) -> tuple[Callable[[dict[str, Any]], Any], str]:
    """The line serialiser: ``(dumps, name_used)``; ``dumps(d)`` returns one line with ``\\n``.

    Args:
        name: ``"auto"`` (orjson when installed), ``"orjson"`` or ``"json"``.
        text: ``True`` to produce ``str`` (text streams), ``False`` for ``bytes``.
    """
    if name in ("auto", "orjson"):
        try:
            import orjson
        except ImportError:
            if name == "orjson":
                from obskit.errors import MissingDependencyError

                raise MissingDependencyError(
                    "configure(log_serializer='orjson') needs the 'orjson' package; "
                    "install it with: pip install 'obskit[fast]'"
                ) from None
        else:
            odumps = orjson.dumps
            opt = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
            default = json_default
            if text:

                def dumps_text(d: dict[str, Any]) -> str:
                    return odumps(d, default, opt).decode()

                return dumps_text, "orjson"

            def dumps_bytes(d: dict[str, Any]) -> bytes:
                return odumps(d, default, opt)

            return dumps_bytes, "orjson"
    # ensure_ascii: the output is then plain ASCII, which any stream encoding accepts (a lone
    # surrogate in a field would otherwise fail at write time, after serialisation succeeded).
    # check_circular=False: a cycle then ends in RecursionError, which the caller's slow path
    # catches and sanitises; the per-container bookkeeping is saved on every line.
    # allow_nan=False: NaN and infinity are not JSON (CloudWatch Logs Insights would not parse
    # the line); the encoder refuses them and the caller's slow path writes them as null, as
    # orjson does, and counts them (``logs.clipped.non_finite``).
    encode = json.JSONEncoder(separators=(",", ":"), default=json_default, check_circular=False,
                              allow_nan=False).encode
    if text:

        def json_text(d: dict[str, Any]) -> str:
            return encode(d) + "\n"

        return json_text, "json"

    def json_bytes(d: dict[str, Any]) -> bytes:
        return (encode(d) + "\n").encode("ascii")

    return json_bytes, "json"


def shrink(d: dict[str, Any], max_bytes: int, dumps: Callable[[dict[str, Any]], Any], fixed: int) -> Any:
    """Cut a line that is longer than ``max_bytes`` down to size, flagged ``truncated``.

    First every long string (the message included) and every large field is clipped to an
    eighth of the bound; if that is not enough, the user fields are dropped. The first
    ``fixed`` keys (timestamp, level, ids...) always stay.
    """
    limit = max(64, max_bytes // 8)
    for i, key in enumerate(list(d)):
        value = d[key]
        if isinstance(value, str):
            if len(value) > limit:
                d[key] = f"{value[:limit]}...[truncated {len(value) - limit} chars]"
        elif i >= fixed and not isinstance(value, (int, float, bool)):
            size = len(dumps({"v": value}))
            if size > limit:
                d[key] = f"{_safe_repr(value)[:limit]}...[truncated]"
    d[semconv.LOG_TRUNCATED] = True
    line = dumps(d)
    if len(line) <= max_bytes:
        return line
    for key in list(d)[fixed:]:
        if key not in (semconv.LOG_TRUNCATED, semconv.LOG_MESSAGE):
            del d[key]
    return dumps(d)


# --- exceptions ----------------------------------------------------------------------------------
def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def exception_info(exc: BaseException, depth: int = 0) -> dict[str, Any]:
    """An exception as data: type, message, innermost frames, chained cause (bounded).

    Source lines are not read (no file I/O on the logging path); file, line and function
    are what a reader needs to find the code, and they stay small and queryable.
    """
    out: dict[str, Any] = {
        semconv.LOG_EXC_TYPE: _type_name(type(exc)),
        semconv.LOG_EXC_MESSAGE: _safe_str(exc),
    }
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append({
            semconv.LOG_FRAME_FILE: code.co_filename,
            semconv.LOG_FRAME_LINE: tb.tb_lineno,
            semconv.LOG_FRAME_FUNCTION: code.co_name,
        })
        tb = tb.tb_next
    if len(frames) > MAX_FRAMES:
        out[semconv.LOG_EXC_FRAMES_OMITTED] = len(frames) - MAX_FRAMES
        frames = frames[-MAX_FRAMES:]
    out[semconv.LOG_EXC_FRAMES] = frames
    group = getattr(exc, "exceptions", None)
    if depth < MAX_CAUSES and isinstance(group, tuple) and isinstance(exc, BaseException) \
            and type(exc).__name__.endswith("ExceptionGroup"):
        out[semconv.LOG_EXC_GROUP] = [
            exception_info(e, depth + 1) for e in group[:MAX_GROUP] if isinstance(e, BaseException)
        ]
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and depth < MAX_CAUSES:
        out[semconv.LOG_EXC_CAUSE] = exception_info(cause, depth + 1)
    return out


def exc_from(value: Any) -> BaseException | None:
    """The exception that an ``exc_info`` argument names (``True``, an exception, a 3-tuple)."""
    if value is None or value is False:
        return None
    if isinstance(value, BaseException):
        return value
    if value is True:
        import sys

        return sys.exc_info()[1]
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value[1]
    return None


def format_exception_text(info: Mapping[str, Any]) -> str:
    """The structured ``exception`` as a readable traceback, for the console renderer."""
    lines: list[str] = []
    chain: list[Mapping[str, Any]] = []
    node: Mapping[str, Any] | None = info
    while node is not None:
        chain.append(node)
        nxt = node.get(semconv.LOG_EXC_CAUSE)
        node = nxt if isinstance(nxt, Mapping) else None
    for i, item in enumerate(reversed(chain)):
        if i:
            lines.append("\nwhich led to:\n")
        lines.append("Traceback (most recent call last):")
        for f in item.get(semconv.LOG_EXC_FRAMES, ()):
            lines.append(
                f'  File "{f.get(semconv.LOG_FRAME_FILE)}", line {f.get(semconv.LOG_FRAME_LINE)}, '
                f"in {f.get(semconv.LOG_FRAME_FUNCTION)}"
            )
        lines.append(f"{item.get(semconv.LOG_EXC_TYPE)}: {item.get(semconv.LOG_EXC_MESSAGE)}")
    return "\n".join(lines)


# --- console ---------------------------------------------------------------------------------------
def console_renderer(colors: bool) -> Callable[[dict[str, Any]], str]:
    """structlog's ``ConsoleRenderer`` fed with obskit's line: ``render(d) -> str`` with ``\\n``.

    The JSON line's keys map onto structlog's (``message`` -> ``event``, level lower case);
    the structured exception is shown as a traceback under the line.
    """
    from structlog.dev import ConsoleRenderer

    renderer = ConsoleRenderer(colors=colors)

    def render(d: dict[str, Any]) -> str:
        event = dict(d)
        event["event"] = event.pop(semconv.LOG_MESSAGE, "")
        level = event.get(semconv.LOG_LEVEL)
        if isinstance(level, str):
            event[semconv.LOG_LEVEL] = level.lower()
        exc = event.pop(semconv.LOG_EXCEPTION, None)
        if isinstance(exc, Mapping):
            event["exception"] = format_exception_text(exc)
        try:
            text = renderer(None, str(level).lower(), event)
        except Exception:
            text = " ".join(f"{k}={v!r}" for k, v in event.items())
        return f"{text}\n"

    return render
