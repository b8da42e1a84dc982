"""W3C Trace Context (``traceparent``, ``tracestate``) and W3C Baggage on the wire.

Imports: standard library, ``obskit._context``, ``obskit._diagnostics``, ``obskit.semconv`` and
``obskit.propagation._carriers``.

The parsers are pure functions that return ``None`` for anything invalid, so they can be
tested on their own against the W3C tables; the propagator classes add the header limits and
the diagnostics counters around them. Rules, from the W3C Trace Context and Baggage specifications:

* ``traceparent``: lower-case hex only; version ``ff`` is invalid; version ``00`` is exactly
  55 characters; a higher version is parsed at the version-00 offsets and may only continue
  with ``-``; all-zero ids are invalid; leading and trailing OWS is trimmed; two header lines
  mean the trace restarts.
* ``tracestate``: only read when ``traceparent`` is valid; Level 2 key grammar; at most 32
  members; a single invalid member discards the whole header; empty members are skipped; a
  repeated key keeps its first (left-most, most recent) value.
* ``baggage``: RFC 3986 percent-encoding (a space is ``%20``; ``+`` is a literal plus);
  properties are kept apart from values; at least 64 members and 8192 bytes pass; beyond
  obskit's limits (180 members, ``max_header_bytes``) whole members are dropped, never part
  of one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from obskit import _diagnostics
from obskit._context import EMPTY_CONTEXT, TelemetryContext, remote_context
from obskit.propagation._carriers import DIAG_OVERSIZE, IGNORED, Getter, Setter, _texts, header_lines
from obskit.semconv import HEADER_BAGGAGE, HEADER_TRACEPARENT, HEADER_TRACESTATE

__all__ = [
    "W3CBaggagePropagator",
    "W3CTraceContextPropagator",
    "format_baggage",
    "format_traceparent",
    "parse_baggage",
    "parse_traceparent",
    "parse_tracestate",
]

DEFAULT_MAX_HEADER_BYTES = 8192
"""Values longer than this are ignored (and counted); 8192 is the W3C baggage minimum."""
MAX_TRACESTATE_MEMBERS = 32
MAX_BAGGAGE_MEMBERS = 180
"""The ABNF cap of the baggage list; the spec asks implementations to pass at least 64."""

DIAG_MALFORMED_TRACEPARENT = "propagation.malformed.traceparent"
DIAG_DUPLICATE_TRACEPARENT = "propagation.duplicate.traceparent"
DIAG_MALFORMED_TRACESTATE = "propagation.malformed.tracestate"
DIAG_MALFORMED_BAGGAGE = "propagation.malformed.baggage"
DIAG_BAGGAGE_DROPPED = "propagation.baggage.dropped_members"

_OWS = " \t"
_EMPTY_MAP = EMPTY_CONTEXT.baggage
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

# Group 5 is what follows the flags; only a future version may have anything there.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(.?)", re.DOTALL)

# Level 2 key: (lcalpha / DIGIT) 0*255(keychar); value: 1..256 printable ASCII but "," and "=",
# not ending in a space. The member is matched after its surrounding OWS was trimmed.
_TRACESTATE_MEMBER = re.compile(
    r"[a-z0-9][a-z0-9_\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)

# RFC 7230 token characters (baggage keys) and baggage-octet (unencoded value characters).
_TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BAGGAGE_OCTETS = "".join(
    chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\'
)
_TOKEN_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_OCTETS_RE = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
# The common shape (no OWS, no properties) is checked by one regex and split in C.
_BAGGAGE_SIMPLE = re.compile(rf"{_TOKEN_RE}={_OCTETS_RE}(?:,{_TOKEN_RE}={_OCTETS_RE}){{0,63}}")
_ENC_CACHE: dict[str, str] = {}
_DEC_CACHE: dict[str, str] = {}
_CACHE_MAX = 1024
_SEEN_MAX = 256
_SEEN_MAX_CHARS = 512


# --- traceparent -------------------------------------------------------------------------------


def parse_traceparent(value: str) -> tuple[str, str, int] | None:
    """Parse one ``traceparent`` value.

    Args:
        value: the header value as received (OWS around it is allowed).

    Returns:
        ``(trace_id, parent_id, flags)`` for a valid value, else ``None``. A future version is
        accepted when its first 55 characters have the version-00 shape and are followed by
        ``-`` or nothing; the caller re-emits it as version ``00``.
    """
    v = value.strip(_OWS)
    m = _TRACEPARENT.match(v)
    if m is None:
        return None
    version, trace_id, span_id, flags, tail = m.groups()
    if tail and (version == "00" or tail != "-"):
        return None
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, int(flags, 16)


def format_traceparent(trace_id: str, span_id: str, sampled: bool | None, random_flag: bool = False) -> str:
    """``00-{trace_id}-{span_id}-{flags}``: bit 0 sampled, bit 1 random trace id (Level 2).

    An undecided (``None``) sampling decision goes out as not sampled: W3C has no "requested"
    state, and the receiver may still sample on its own.
    """
    flags = (1 if sampled else 0) | (2 if random_flag else 0)
    return f"00-{trace_id}-{span_id}-0{flags}"


# --- tracestate --------------------------------------------------------------------------------


def parse_tracestate(values: Iterable[str]) -> str | None:
    """Validate and normalise the ``tracestate`` header lines.

    Lines are joined with ``,`` (RFC 9110 section 5.3), members are trimmed of OWS and empty
    members skipped. Any invalid member, or more than 32 members, discards the whole header:
    passing on a state we could not read would corrupt another vendor's data.

    Args:
        values: every ``tracestate`` line, in order.

    Returns:
        The members joined with ``,`` (no OWS), or ``None`` when invalid or empty.
    """
    match = _TRACESTATE_MEMBER.fullmatch
    if values.__class__ is list and len(values) == 1:
        # Common case: one line, no OWS, no empty or repeated member: it is its own normal form.
        line = values[0]
        split = line.split(",")
        if len(split) <= MAX_TRACESTATE_MEMBERS:
            seen = set()
            for member in split:
                if match(member) is None:
                    break
                seen.add(member[: member.index("=")])
            else:
                if len(seen) == len(split):
                    return line  # type: ignore[no-any-return]
    members: list[str] = []
    keys: set[str] = set()
    for line in values:
        for raw in line.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            if match(member) is None:
                return None
            key = member[: member.index("=")]
            if key in keys:
                continue  # Level 2: a repeated key keeps its left-most (most recent) entry
            keys.add(key)
            members.append(member)
            if len(members) > MAX_TRACESTATE_MEMBERS:
                return None
    if not members:
        return None
    return ",".join(members)


def tracestate_members(tracestate: str | None) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of a normalised tracestate, left to right."""
    if not tracestate:
        return []
    out = []
    for member in tracestate.split(","):
        key, _, value = member.partition("=")
        out.append((key, value))
    return out


def format_tracestate(members: Iterable[tuple[str, str]]) -> str:
    """Join ``(key, value)`` pairs into a ``tracestate`` value (no validation)."""
    return ",".join(f"{k}={v}" for k, v in members)


# --- baggage -----------------------------------------------------------------------------------


def _decode(value: str) -> str:
    """Percent-decode a baggage value (RFC 3986: ``+`` stays ``+``; bad UTF-8 becomes U+FFFD)."""
    if "%" not in value:
        return value
    got = _DEC_CACHE.get(value)
    if got is None:
        from urllib.parse import unquote

        got = unquote(value, errors="replace")
        if len(_DEC_CACHE) >= _CACHE_MAX:
            _DEC_CACHE.clear()
        _DEC_CACHE[value] = got
    return got


def _encode(value: str) -> str:
    """Percent-encode a baggage value: everything but RFC 3986 unreserved characters.

    That is what the W3C baggage harness expects (``"\\t \\"';=asdf!@#$%^&*()"`` becomes
    ``%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29``): a space is ``%20``, never ``+``.
    """
    if value.isalnum() and value.isascii():
        return value
    got = _ENC_CACHE.get(value)
    if got is None:
        from urllib.parse import quote

        got = quote(value, safe="-._~")
        if len(_ENC_CACHE) >= _CACHE_MAX:
            _ENC_CACHE.clear()
        _ENC_CACHE[value] = got
    return got


_TOKENS_SEEN: set[str] = set()


def _is_token(key: str) -> bool:
    """Is ``key`` an RFC 7230 token? Keys repeat across requests, so valid ones are remembered."""
    if key in _TOKENS_SEEN:
        return True
    if not key or key.strip(_TCHAR):
        return False
    if len(_TOKENS_SEEN) < _CACHE_MAX:
        _TOKENS_SEEN.add(key)
    return True


def _clean_properties(raw: str) -> str | None:
    """Normalise ``;``-separated properties (``p1;p2=v``) or ``None`` when one is invalid."""
    out = []
    for prop in raw.split(";"):
        prop = prop.strip(_OWS)
        if not prop:
            continue
        key, eq, val = prop.partition("=")
        key = key.rstrip(_OWS)
        if not _is_token(key):
            return None
        if eq:
            val = val.lstrip(_OWS)
            if val.strip(_BAGGAGE_OCTETS):
                return None
            out.append(f"{key}={val}")
        else:
            out.append(key)
    return ";".join(out) if out else ""


def parse_baggage(
    values: Iterable[str],
    *,
    max_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    max_members: int = MAX_BAGGAGE_MEMBERS,
) -> tuple[dict[str, str], dict[str, str], int, int]:
    """Parse ``baggage`` header lines into values and properties.

    An invalid member is dropped on its own (the spec leaves invalid input undefined, and one
    bad member from one vendor should not cost the others theirs). Members past ``max_bytes``
    (counted over all lines) or past ``max_members`` are dropped whole.

    Args:
        values: every ``baggage`` line, in order.
        max_bytes: the byte budget over all lines.
        max_members: the most members kept.

    Returns:
        ``(baggage, properties, invalid, dropped)``: decoded values by key, raw properties by
        key (``"p1;p2=v"``, only for members that have some), how many members were invalid
        and how many were dropped for the limits. A repeated key keeps its last value.
    """
    if values.__class__ is list and len(values) == 1:
        simple = _parse_simple(values[0], max_bytes, max_members)
        if simple is not None:
            return simple, {}, 0, 0
    return _parse_members(values, max_bytes, max_members)


def _parse_simple(line: str, max_bytes: int, max_members: int) -> dict[str, str] | None:
    """The common line (``k=v,k=v``: no spaces, no properties) checked by one regex and split in C.

    ``None`` when the line has another shape or too many members: ``_parse_members`` then
    judges each member on its own. This is the shape ``bench_propagation`` sends.
    """
    if len(line) > max_bytes or _BAGGAGE_SIMPLE.fullmatch(line) is None:
        return None
    simple = dict(member.split("=", 1) for member in line.split(","))
    if len(simple) > max_members:
        return None
    if "%" in line:
        for k, v in simple.items():
            if "%" in v:
                simple[k] = _decode(v)
    return simple


def _parse_members(
    values: Iterable[str], max_bytes: int, max_members: int,
) -> tuple[dict[str, str], dict[str, str], int, int]:
    """``parse_baggage`` member by member: each one trimmed, counted against the limits, then checked.

    The byte budget counts every non-empty member with its separator, in order, so members past it
    are dropped whole, never cut.
    """
    baggage: dict[str, str] = {}
    props: dict[str, str] = {}
    invalid = dropped = 0
    used = 0
    count = 0
    for line in values:
        for raw in line.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            used += len(member) + 1
            if used > max_bytes + 1 or count >= max_members:
                dropped += 1
                continue
            semi = member.find(";")
            if semi >= 0:
                kv = member[:semi]
                prop = _clean_properties(member[semi + 1 :])
                if prop is None:
                    invalid += 1
                    continue
            else:
                kv = member
                prop = ""
            key, eq, val = kv.partition("=")
            key = key.rstrip(_OWS)
            val = val.strip(_OWS)
            if not eq or not _is_token(key) or val.strip(_BAGGAGE_OCTETS):
                invalid += 1
                continue
            count += 1
            baggage[key] = _decode(val)
            if prop:
                props[key] = prop
            elif key in props:
                del props[key]
    return baggage, props, invalid, dropped


def format_baggage(
    baggage: Mapping[str, str],
    properties: Mapping[str, str] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    max_members: int = MAX_BAGGAGE_MEMBERS,
) -> tuple[str, int]:
    """Serialise baggage, percent-encoding values and re-emitting properties.

    Members whose key is not a token, or that would exceed the limits, are left out whole.

    Returns:
        ``(header_value, dropped)``; the value is ``""`` when nothing is left.
    """
    if not properties:
        # Common case: no properties, every key a token already seen, within the limits.
        try:
            parts = [
                f"{k}={v if (v.isalnum() and v.isascii()) else _encode(v)}"
                for k, v in baggage.items()
                if k in _TOKENS_SEEN
            ]
        except AttributeError:  # a value that is not a string: take the careful path
            parts = []
        if len(parts) == len(baggage) and len(parts) <= max_members:
            value = ",".join(parts)
            if len(value) <= max_bytes:
                return value, 0
    parts = []
    used = 0
    dropped = 0
    for key, value in baggage.items():
        if key.__class__ is not str or value.__class__ is not str or not _is_token(key):
            dropped += 1
            continue
        member = f"{key}={_encode(value)}"
        if properties:
            prop = properties.get(key)
            if prop:
                member = f"{member};{prop}"
        used += len(member) + (1 if parts else 0)
        if used > max_bytes or len(parts) >= max_members:
            dropped += 1
            used -= len(member) + (1 if parts else 0)
            continue
        parts.append(member)
    return ",".join(parts), dropped


# --- propagators -------------------------------------------------------------------------------


class W3CTraceContextPropagator:
    """Reads and writes ``traceparent`` and ``tracestate``.

    Args:
        max_header_bytes: values longer than this are ignored and counted.
    """

    __slots__ = ("_max",)

    fields = frozenset({HEADER_TRACEPARENT, HEADER_TRACESTATE})

    def __init__(self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self._max = max_header_bytes

    def extract(self, carrier: Any, getter: Getter) -> TelemetryContext | None:
        """The remote parent from ``traceparent`` (and its ``tracestate``), or ``None``.

        ``None`` when the header is absent, invalid (counted) or repeated (counted: the W3C
        rule is to restart the trace). The context has ``remote=True`` and the caller's span id.
        """
        lines = header_lines(carrier, getter, HEADER_TRACEPARENT)
        if not lines:
            return None
        if len(lines) != 1:
            _diagnostics.count(DIAG_DUPLICATE_TRACEPARENT, IGNORED, "repeated traceparent headers (the trace restarts)")
            return None
        value = lines[0]
        if value.__class__ is not str:
            texts = _texts(value)
            value = texts[0] if texts else ""
        if len(value) > self._max:
            _diagnostics.count(DIAG_OVERSIZE, IGNORED, "an oversized propagation header")
            return None
        parsed = parse_traceparent(value)
        if parsed is None:
            _diagnostics.count(DIAG_MALFORMED_TRACEPARENT, IGNORED, "a malformed traceparent header")
            return None
        trace_id, span_id, flags = parsed
        tracestate = None
        states = header_lines(carrier, getter, HEADER_TRACESTATE)
        if states:
            if len(states) == 1:
                size = len(states[0])
            else:
                size = len(states) - 1
                for s in states:
                    size += len(s)
            if size > self._max:
                _diagnostics.count(DIAG_OVERSIZE, IGNORED, "an oversized propagation header")
            else:
                tracestate = parse_tracestate(states)
                if tracestate is None and any(s.strip(_OWS) for s in states):
                    _diagnostics.count(DIAG_MALFORMED_TRACESTATE, IGNORED, "a malformed tracestate header")
        return remote_context(trace_id, span_id, flags & 1 == 1, tracestate=tracestate, random_flag=flags & 2 == 2)

    def inject(self, ctx: TelemetryContext, carrier: Any, setter: Setter) -> None:
        """Write ``traceparent`` (and ``tracestate`` if any); nothing without a span id."""
        span_id = ctx.span_id
        if span_id is None or not ctx.is_valid:
            return
        flags = (1 if ctx.sampled else 0) | (2 if ctx.random_flag else 0)
        setter(carrier, HEADER_TRACEPARENT, f"00-{ctx.trace_id}-{span_id}-0{flags}")
        if ctx.tracestate:
            setter(carrier, HEADER_TRACESTATE, ctx.tracestate)


class W3CBaggagePropagator:
    """Reads and writes ``baggage``; its contexts carry baggage only (no trace).

    Args:
        max_header_bytes: the byte budget over all ``baggage`` lines.
        max_members: the most members kept (at least 64, as the spec asks).
    """

    __slots__ = ("_last", "_max", "_max_members", "_seen")

    fields = frozenset({HEADER_BAGGAGE})

    def __init__(
        self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES, max_members: int = MAX_BAGGAGE_MEMBERS
    ) -> None:
        self._max = max_header_bytes
        self._max_members = max(64, max_members)
        self._last: tuple[Any, Any, str] = (None, None, "")
        self._seen: dict[str, TelemetryContext] = {}

    def extract(self, carrier: Any, getter: Getter) -> TelemetryContext | None:
        """A context whose ``baggage`` (and ``baggage_properties``) hold the members, or ``None``."""
        lines = header_lines(carrier, getter, HEADER_BAGGAGE)
        if not lines:
            return None
        if len(lines) == 1:
            # Services often receive the same baggage on every request (tenant, environment):
            # the parsed result is immutable, so it is shared, and inject's memo then hits too.
            cached = self._seen.get(lines[0])
            if cached is not None:
                return cached
        baggage, props, invalid, dropped = parse_baggage(
            lines, max_bytes=self._max, max_members=self._max_members
        )
        if invalid:
            _diagnostics.incr(DIAG_MALFORMED_BAGGAGE, invalid)
            _diagnostics.report_once(DIAG_MALFORMED_BAGGAGE, "obskit dropped malformed baggage members")
        if dropped:
            _diagnostics.incr(DIAG_BAGGAGE_DROPPED, dropped)
            _diagnostics.report_once(
                DIAG_BAGGAGE_DROPPED, "obskit dropped baggage members beyond %d members / %d bytes",
                self._max_members, self._max,
            )
        if not baggage:
            return None
        ctx = EMPTY_CONTEXT.with_baggage(baggage, props)
        if len(lines) == 1 and not invalid and not dropped and len(lines[0]) <= _SEEN_MAX_CHARS:
            seen = self._seen
            if len(seen) >= _SEEN_MAX:
                seen.clear()
            seen[lines[0]] = ctx
        return ctx

    def inject(self, ctx: TelemetryContext, carrier: Any, setter: Setter) -> None:
        """Write ``baggage`` when the context has any.

        The last result is remembered against the (immutable) baggage mappings, so a request
        that makes several outgoing calls encodes its baggage once.
        """
        baggage = ctx.baggage
        if not baggage:
            return
        props = ctx.baggage_properties
        last = self._last
        if last[0] is baggage and last[1] is props:
            value = last[2]
        else:
            value, dropped = format_baggage(baggage, props, max_bytes=self._max, max_members=self._max_members)
            if dropped:
                _diagnostics.incr(DIAG_BAGGAGE_DROPPED, dropped)
            self._last = (baggage, props, value)
        if value:
            setter(carrier, HEADER_BAGGAGE, value)
