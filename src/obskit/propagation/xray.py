"""AWS X-Ray trace header (``X-Amzn-Trace-Id``) and Lambda's ``_X_AMZN_TRACE_ID``.

Imports: standard library, ``obskit._context``, ``obskit._diagnostics``, ``obskit.semconv`` and
``obskit.propagation._carriers``.

AWS publishes no grammar, and the SDKs disagree (tests/propagation/test_xray.py lists the
shapes). obskit parses the way the Go and Java SDKs do, because that is what keeps the headers
AWS itself sends:

* each ``;``-separated part is trimmed; a part without ``=`` or with an empty key is skipped,
  not fatal (a trailing ``;`` or a stray space never costs the whole header);
* keys are case-sensitive (``Root``, ``Parent``, ``Sampled``); a value is split at the first
  ``=`` only, so ``Foo=a=b`` keeps ``a=b``; a repeated key keeps its last value;
* ``Root`` without ``Parent`` is a trace without a parent span (ALB, API Gateway and Function
  URLs send exactly that); ``Sampled=?`` means undecided (``sampled=None``);
* ``Lineage`` and unknown fields are kept, in order, and re-emitted downstream, because
  Lambda's recursion detection reads ``Lineage``; ``Self`` (ALB's own id) is not passed on.

Root must be ``1-`` + 8 hex + ``-`` + 24 hex (either case; ids are kept lower case). X-Ray no
longer validates the epoch part, so zero-padded ids such as SQS's are accepted.
"""

from __future__ import annotations

import os
import re
from typing import Any

from obskit import _diagnostics
from obskit._context import EMPTY_CONTEXT, TelemetryContext, remote_context
from obskit.propagation._carriers import DIAG_OVERSIZE, IGNORED, Getter, Setter, header_lines
from obskit.semconv import ENV_LAMBDA_TRACE, HEADER_XRAY

__all__ = ["LambdaEnvPropagator", "XRayPropagator", "format_xray", "parse_xray"]

DEFAULT_MAX_HEADER_BYTES = 8192
MAX_EXTRA_FIELDS = 16
"""Unknown fields re-emitted downstream, at most; more would let one caller bloat every hop."""
MAX_EXTRA_CHARS = 2048

DIAG_MALFORMED_XRAY = "propagation.malformed.x-amzn-trace-id"
DIAG_MALFORMED_LAMBDA = "propagation.malformed.lambda_env"
DIAG_DUPLICATE_XRAY = "propagation.duplicate.x-amzn-trace-id"

_HEX = "0123456789abcdef"
_HEX_ANY = "0123456789abcdefABCDEF"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_WS = " \t"
_EMPTY_MAP = EMPTY_CONTEXT.baggage

# What AWS services and SDKs send, in their order and without spaces; anything else takes
# the lenient path.
_CANONICAL = re.compile(
    r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})(?:;Parent=([0-9a-f]{16}))?(?:;Sampled=([01?]))?"
)


def _hex_id(text: str, zero: str) -> str | None:
    """``text`` as lower-case hex (X-Ray accepts either case), or ``None`` when not hex or all zeros."""
    if text.strip(_HEX):
        if text.strip(_HEX_ANY):
            return None
        text = text.lower()
    return None if text == zero else text


def _root_to_trace_id(root: str) -> str | None:
    """``1-5759e988-bd862e3fe1be46a994272793`` -> 32 lower-case hex, or ``None``."""
    if len(root) != 35 or root[0] != "1" or root[1] != "-" or root[10] != "-":
        return None
    return _hex_id(root[2:10] + root[11:], _ZERO_TRACE)


def _parent_to_span_id(parent: str) -> str | None:
    return _hex_id(parent, _ZERO_SPAN) if len(parent) == 16 else None


_DECISIONS = {"1": True, "0": False}


def parse_xray(value: str) -> tuple[str, str | None, bool | None, str | None, int] | None:
    """Parse an ``X-Amzn-Trace-Id`` value leniently.

    Args:
        value: the header value (or the ``_X_AMZN_TRACE_ID`` value).

    Returns:
        ``(trace_id, span_id, sampled, extra, skipped)`` when ``Root`` is valid, else ``None``.
        ``span_id`` is ``None`` without a valid ``Parent``; ``sampled`` is ``None`` for ``?``
        or anything but ``0``/``1``; ``extra`` holds ``Lineage`` and unknown fields as
        ``;Key=value`` pairs (or ``None``); ``skipped`` counts malformed parts that were
        passed over.
    """
    m = _CANONICAL.fullmatch(value)
    if m is not None:  # what AWS sends: one C-level match instead of the field split below
        epoch, rand, span_id, flag = m.groups()
        trace_id = epoch + rand
        if trace_id != _ZERO_TRACE:
            if span_id == _ZERO_SPAN:
                return trace_id, None, _DECISIONS.get(flag), None, 1
            return trace_id, span_id, _DECISIONS.get(flag), None, 0
    return _parse_lenient(value)


def _parse_lenient(value: str) -> tuple[str, str | None, bool | None, str | None, int] | None:
    """``parse_xray`` for any other shape: split into fields, then judge each field on its own.

    Only a bad ``Root`` costs the header; a bad ``Parent``, ``Sampled`` or extra field is
    passed over and counted in ``skipped``.
    """
    root, parent, sampled, extra, skipped = _fields(value)
    if root is None:
        return None
    trace_id = _root_to_trace_id(root)
    if trace_id is None:
        return None
    span_id = None
    if parent is not None:
        span_id = _parent_to_span_id(parent)
        if span_id is None:
            skipped += 1
    decision = None
    if sampled is not None:
        decision = _DECISIONS.get(sampled)
        if decision is None and sampled != "?":
            skipped += 1
    extra_str = None
    if extra:
        extra_str, dropped = _kept_extra(extra)
        skipped += dropped
    return trace_id, span_id, decision, extra_str, skipped


def _fields(value: str) -> tuple[str | None, str | None, str | None, dict[str, str] | None, int]:
    """``(Root, Parent, Sampled, other fields, skipped)`` as written, each part trimmed.

    ``Self`` is ALB's own id and is not passed on; a part without ``=``, with an empty key or
    value, or with characters a header cannot carry, is skipped and counted. A repeated
    key keeps its last value, and an extra field takes the position of its last occurrence.
    """
    root = parent = sampled = None
    extra: dict[str, str] | None = None
    skipped = 0
    for part in value.split(";"):
        eq = part.find("=")
        if eq < 0:
            if part.strip(_WS):
                skipped += 1
            continue
        key = part[:eq].strip(_WS)
        val = part[eq + 1 :].strip(_WS)
        if key == "Root":
            root = val
        elif key == "Parent":
            parent = val
        elif key == "Sampled":
            sampled = val
        elif key == "Self":
            continue
        elif not key or not val or not (part.isascii() and part.isprintable()):
            skipped += 1
        else:
            if extra is None:
                extra = {}
            elif key in extra:
                del extra[key]  # last wins, and takes the later position
            extra[key] = val
    return root, parent, sampled, extra, skipped


def _kept_extra(extra: dict[str, str]) -> tuple[str | None, int]:
    """The extra fields re-emitted downstream as ``;Key=value`` pairs, and how many did not fit.

    At most ``MAX_EXTRA_FIELDS`` fields and ``MAX_EXTRA_CHARS`` characters, so that one
    caller cannot bloat the header at every hop; a field that does not fit is skipped and
    a shorter later one may still be kept.
    """
    parts: list[str] = []
    size = 0
    dropped = 0
    for k, v in extra.items():
        field = f";{k}={v}"
        size += len(field)
        if size > MAX_EXTRA_CHARS or len(parts) >= MAX_EXTRA_FIELDS:
            dropped += 1
            size -= len(field)
            continue
        parts.append(field)
    return "".join(parts) or None, dropped


def format_xray(trace_id: str, span_id: str | None, sampled: bool | None, extra: str | None = None) -> str:
    """``Root=1-{8}-{24};Parent={16};Sampled={1|0|?}`` followed by the kept extra fields."""
    flag = "?" if sampled is None else ("1" if sampled else "0")
    if span_id is None:
        head = f"Root=1-{trace_id[:8]}-{trace_id[8:]};Sampled={flag}"
    else:
        head = f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled={flag}"
    return head + extra if extra else head


def _context(parsed: tuple[str, str | None, bool | None, str | None, int]) -> TelemetryContext:
    trace_id, span_id, sampled, extra, _ = parsed
    return remote_context(trace_id, span_id, sampled, xray_extra=extra)


def _read_env(name: str) -> str | None:
    """``os.environ.get(name)`` without its cost on a miss (a raised and caught KeyError).

    Reads the live environment every call: ``os.environ`` keeps its encoded ``_data`` in step
    with ``putenv``, ``monkeypatch.setenv`` and the Lambda runtime's updates.
    """
    env = os.environ
    data = getattr(env, "_data", None)
    if data is None:
        return env.get(name)
    try:
        key = _ENV_KEYS.get(name)
        if key is None:
            key = _ENV_KEYS[name] = env.encodekey(name)
        raw = data.get(key)
        return None if raw is None else env.decodevalue(raw)
    except Exception:
        return env.get(name)


_ENV_KEYS: dict[str, Any] = {}
"""Encoded environment keys by name (a handful of names; encoding them is most of a miss)."""


class XRayPropagator:
    """Reads and writes ``X-Amzn-Trace-Id``, keeping ``Lineage`` and unknown fields.

    Args:
        max_header_bytes: values longer than this are ignored and counted.
    """

    __slots__ = ("_max",)

    fields = frozenset({HEADER_XRAY})

    def __init__(self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self._max = max_header_bytes

    def extract(self, carrier: Any, getter: Getter) -> TelemetryContext | None:
        """The trace of the header, or ``None`` when absent or without a valid ``Root``.

        When several header lines arrive the first is used (as Go's ``Header.Get`` does) and
        the repeat is counted: merging them would build a context that neither caller sent.
        """
        lines = header_lines(carrier, getter, HEADER_XRAY)
        if not lines:
            return None
        if len(lines) > 1:
            _diagnostics.incr(DIAG_DUPLICATE_XRAY)
        value = lines[0]
        if len(value) > self._max:
            _diagnostics.count(DIAG_OVERSIZE, IGNORED, "an oversized propagation header")
            return None
        parsed = parse_xray(value)
        if parsed is None:
            _diagnostics.count(DIAG_MALFORMED_XRAY, IGNORED, "an X-Amzn-Trace-Id header without a valid Root")
            return None
        if parsed[4]:
            _diagnostics.incr(DIAG_MALFORMED_XRAY + ".part", parsed[4])
        return _context(parsed)

    def inject(self, ctx: TelemetryContext, carrier: Any, setter: Setter) -> None:
        """Write ``X-Amzn-Trace-Id`` (Root, Parent, Sampled, then the kept extra fields)."""
        if not ctx.is_valid:
            return
        setter(carrier, HEADER_XRAY, format_xray(ctx.trace_id, ctx.span_id, ctx.sampled, ctx.xray_extra))


class LambdaEnvPropagator:
    """Reads Lambda's ``_X_AMZN_TRACE_ID`` at every extract; writes nothing.

    The variable changes with each invocation, so it is read every time and never cached. It
    is process-global, which is why a header from the caller (more specific to the request)
    takes precedence by default.
    """

    __slots__ = ("_max",)

    fields: frozenset[str] = frozenset()

    def __init__(self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self._max = max_header_bytes

    def extract(self, carrier: Any, getter: Getter) -> TelemetryContext | None:
        """The invocation's trace from the environment, or ``None`` when unset or invalid."""
        value = _read_env(ENV_LAMBDA_TRACE)
        if not value:
            return None
        if len(value) > self._max:
            _diagnostics.count(DIAG_OVERSIZE, IGNORED, "an oversized propagation header")
            return None
        parsed = parse_xray(value)
        if parsed is None:
            _diagnostics.count(DIAG_MALFORMED_LAMBDA, IGNORED, "a malformed _X_AMZN_TRACE_ID")
            return None
        return _context(parsed)

    def inject(self, ctx: TelemetryContext, carrier: Any, setter: Setter) -> None:
        """Nothing: the environment belongs to the Lambda runtime."""
