"""Getters and setters: how propagators read and write headers on any kind of carrier.

Imports: standard library only.

A *getter* is a plain callable ``(carrier, key) -> list[str]``: every value of header ``key``
(one per header line), an empty list when it is absent, with HTTP field names matched
case-insensitively. A *setter* is ``(carrier, key, value) -> None``. Both are plain functions,
like structlog processors, so a new carrier type costs one small function and no class.

Keys passed in are always the lower-case names from ``obskit.semconv``. The built-in getters
also have a *bulk* twin (``_BULK``) that reads every header obskit wants in one pass over the
carrier; ``obskit.propagation.extract`` uses it so that a request with ten headers is scanned
once, not once per header name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

DIAG_OVERSIZE = "propagation.oversize_header"
IGNORED = "obskit ignored %s (counted in obskit.diagnostics())"
"""The message reported once per cause when a header is ignored (argument: what was ignored)."""

__all__ = [
    "Getter",
    "Setter",
    "asgi_getter",
    "asgi_setter",
    "mapping_getter",
    "mapping_setter",
    "wsgi_getter",
]

Getter = Callable[[Any, str], list[str]]
"""``(carrier, key) -> list[str]``: all values of header ``key``; ``[]`` when absent."""

Setter = Callable[[Any, str, str], None]
"""``(carrier, key, value) -> None``: write one header."""

_EMPTY: list[str] = []


def header_lines(carrier: Any, getter: Getter, name: str) -> list[str]:
    """The values of header ``name`` as a list of strings, ``[]`` when absent.

    The built-in getters already return lists; a user's getter may return a string, a tuple
    or bytes, which ``_texts`` normalises.
    """
    lines = getter(carrier, name)
    if not lines:
        return []
    return lines if lines.__class__ is list else _texts(lines)


def _texts(raw: object) -> list[str]:
    """Normalise what a mapping holds for a header into a list of strings.

    A string is one value; a list or tuple (``multiValueHeaders``, a ``MultiDict`` list) is
    several; bytes are decoded as latin-1 (HTTP's historical charset, which never fails);
    anything else is ignored rather than guessed at.
    """
    cls = raw.__class__
    if cls is str:
        return [raw]  # type: ignore[list-item]
    if cls is list or cls is tuple:
        out: list[str] = []
        for item in raw:  # type: ignore[attr-defined]
            if item.__class__ is str:
                out.append(item)
            elif isinstance(item, (bytes, bytearray)):
                out.append(bytes(item).decode("latin-1"))
            elif isinstance(item, str):
                out.append(str(item))
        return out
    if isinstance(raw, str):
        return [str(raw)]
    if isinstance(raw, (bytes, bytearray)):
        return [bytes(raw).decode("latin-1")]
    return _EMPTY


def mapping_getter(carrier: Mapping[Any, Any], key: str) -> list[str]:
    """Read header ``key`` from a mapping of headers, matching the name case-insensitively.

    Tries the exact (lower-case) key first, which is how ASGI frameworks, Lambda HTTP API v2,
    ALB and Function URL events spell headers, then falls back to one scan of the mapping so
    that ``{"X-Amzn-Trace-Id": ...}`` (REST API v1 events, ``requests``) is found too. Every
    spelling of the name that is present contributes its values, so two lines that differ only
    in case count as duplicates, as they would on the wire.

    Args:
        carrier: a ``dict`` or any ``Mapping`` of header name to value (a string, or a list
            or tuple of strings for repeated headers).
        key: the lower-case header name.

    Returns:
        Every value found, in order; an empty list when the header is absent.
    """
    try:
        raw = carrier.get(key)
    except Exception:
        raw = None
    if raw is not None and carrier.__class__ is not dict:
        # A case-insensitive mapping (werkzeug, starlette, httpx): it already merged spellings.
        return _texts(raw)
    found: list[str] = []
    for name, value in carrier.items():
        if name.__class__ is not str:
            if isinstance(name, (bytes, bytearray)):
                name = bytes(name).decode("latin-1")
            elif not isinstance(name, str):
                continue
        if name.lower() == key:
            found.extend(_texts(value))
    return found


_NAMES: dict[frozenset[str], dict[str, str]] = {}
_NAMES_MAX = 1024


def _names(wanted: frozenset[str]) -> dict[str, str]:
    got = _NAMES.get(wanted)
    if got is None:
        if len(_NAMES) > 32:  # configurations are few; never grow without bound
            _NAMES.clear()
        got = _NAMES[wanted] = {w: w for w in wanted}
    return got


def _bulk_mapping(carrier: Mapping[Any, Any], wanted: frozenset[str]) -> dict[str, list[str]]:
    """Every wanted header of a mapping, keyed by lower-case name, in one pass.

    Header names repeat from request to request, so each spelling seen is remembered with its
    verdict (the wanted lower-case name, or ``""``): one dict lookup per header after the first.
    """
    out: dict[str, list[str]] = {}
    known = _names(wanted)
    for name, value in carrier.items():
        if name.__class__ is not str:
            if isinstance(name, str):
                name = str(name)
            elif isinstance(name, (bytes, bytearray)):
                name = bytes(name).decode("latin-1")
            else:
                continue
        lname = known.get(name)
        if lname is None:
            lname = name.lower()
            if lname not in wanted:
                lname = ""
            if len(known) >= _NAMES_MAX:  # many distinct names (hostile input): start over
                known.clear()
                known.update((w, w) for w in wanted)
            known[name] = lname
        if lname:
            values = [value] if value.__class__ is str else _texts(value)
            if lname in out:
                out[lname].extend(values)
            else:
                out[lname] = values
    return out


def _asgi_headers(carrier: Any) -> Iterable[Any]:
    """The ``(name, value)`` list of an ASGI scope, or the list itself."""
    if isinstance(carrier, Mapping):
        return carrier.get("headers") or ()
    return carrier  # type: ignore[no-any-return]


def _asgi_pair(item: Any) -> tuple[str, str] | None:
    """Decode one ASGI header pair as latin-1, or ``None`` when it is not a pair of bytes."""
    try:
        name, value = item
    except Exception:
        return None
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).decode("latin-1")
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")
    if not isinstance(name, str) or not isinstance(value, str):
        return None
    return name.lower(), value


def asgi_getter(carrier: Any, key: str) -> list[str]:
    """Read header ``key`` from an ASGI scope or its ``headers`` list of ``(bytes, bytes)``.

    ASGI servers send names in lower case but obskit lowers them again (a hand-built scope in a
    test may not), and decodes values as latin-1, as the ASGI spec says headers are.

    Args:
        carrier: an ASGI ``scope`` (anything with a ``"headers"`` item) or the header list.
        key: the lower-case header name.

    Returns:
        Every value of that header, in order; ``[]`` when absent.
    """
    out: list[str] = []
    for item in _asgi_headers(carrier):
        pair = _asgi_pair(item)
        if pair is not None and pair[0] == key:
            out.append(pair[1])
    return out


def _bulk_asgi(carrier: Any, wanted: frozenset[str]) -> dict[str, list[str]]:
    """Every wanted header of an ASGI scope or header list, in one pass.

    Header names repeat from request to request, so each raw name seen is remembered with its
    verdict (the wanted lower-case name, or ``""``): a header obskit does not read costs one
    dict lookup, whatever its spelling.
    """
    out: dict[str, list[str]] = {}
    known = _known_bytes(wanted)
    for item in _asgi_headers(carrier):
        try:
            name, value = item
            lname = known.get(name)
        except Exception:  # not a pair, or an unhashable name (a bytearray)
            try:
                name, value = item
            except Exception:
                continue
            lname = None
        if lname is None:
            lname = _verdict(known, wanted, name)
        if not lname:
            continue
        text = value.decode("latin-1") if value.__class__ is bytes else _asgi_text(value)
        if text is None:
            continue
        prev = out.get(lname)
        if prev is None:
            out[lname] = [text]
        else:
            prev.append(text)
    return out


def _asgi_text(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else None


def _verdict(known: dict[Any, str], wanted: frozenset[str], name: Any) -> str:
    """The wanted lower-case name for raw header ``name``, or ``""``; remembered for bytes and str names."""
    if isinstance(name, (bytes, bytearray)):
        text = bytes(name).decode("latin-1")
    elif isinstance(name, str):
        text = name
    else:
        return ""
    lname = text.lower()
    if lname not in wanted:
        lname = ""
    if name.__class__ in (bytes, str):
        if len(known) >= _NAMES_MAX:  # many distinct names (hostile input): start over
            known.clear()
        known[name] = lname
    return lname


_KNOWN_BYTES: dict[frozenset[str], dict[Any, str]] = {}


def _known_bytes(wanted: frozenset[str]) -> dict[Any, str]:
    got = _KNOWN_BYTES.get(wanted)
    if got is None:
        if len(_KNOWN_BYTES) > 32:  # configurations are few; never grow without bound
            _KNOWN_BYTES.clear()
        got = _KNOWN_BYTES[wanted] = {w.encode("latin-1"): w for w in wanted}
    return got


_ENVIRON_KEYS: dict[str, str] = {}


def _environ_key(key: str) -> str:
    got = _ENVIRON_KEYS.get(key)
    if got is None:
        got = "HTTP_" + key.upper().replace("-", "_")
        if len(_ENVIRON_KEYS) < 256:
            _ENVIRON_KEYS[key] = got
    return got


def wsgi_getter(carrier: Mapping[str, Any], key: str) -> list[str]:
    """Read header ``key`` from a WSGI ``environ`` (``traceparent`` is ``HTTP_TRACEPARENT``).

    The WSGI server has already merged repeated lines into one comma-separated value, so a
    duplicated ``traceparent`` arrives as one over-long value and is rejected by its parser,
    which is what the W3C rule (restart the trace) asks for anyway.

    Args:
        carrier: the WSGI environ.
        key: the lower-case header name.

    Returns:
        ``[value]`` or ``[]``.
    """
    raw = carrier.get(_environ_key(key))
    if raw is None:
        return _EMPTY
    return _texts(raw)


_WSGI_PLANS: dict[frozenset[str], tuple[tuple[str, str], ...]] = {}


def _bulk_wsgi(carrier: Mapping[str, Any], wanted: frozenset[str]) -> dict[str, list[str]]:
    """Every wanted header of a WSGI environ: one ``get`` per name, environ keys computed once."""
    plan = _WSGI_PLANS.get(wanted)
    if plan is None:
        plan = tuple((w, _environ_key(w)) for w in sorted(wanted))
        if len(_WSGI_PLANS) > 32:  # configurations are few; never grow without bound
            _WSGI_PLANS.clear()
        _WSGI_PLANS[wanted] = plan
    out: dict[str, list[str]] = {}
    get = carrier.get
    for name, key in plan:
        raw = get(key)
        if raw is not None:
            values = [raw] if raw.__class__ is str else _texts(raw)
            if values:
                out[name] = values
    return out


def mapping_setter(carrier: MutableMapping[str, str], key: str, value: str) -> None:
    """Write header ``key`` into a mutable mapping, replacing any other spelling of the name.

    A plain ``dict`` that already holds ``X-Amzn-Trace-Id`` would otherwise end up with a
    second, lower-case ``x-amzn-trace-id`` and the request would carry two trace headers.
    """
    if carrier and carrier.__class__ is dict and key not in carrier:
        stale = [k for k in carrier if k.__class__ is str and k.lower() == key]
        for k in stale:
            del carrier[k]
    carrier[key] = value


def asgi_setter(carrier: Any, key: str, value: str) -> None:
    """Write header ``key`` into an ASGI header list (or a message dict with ``"headers"``).

    Existing lines with the same name are removed first, so injecting twice never sends two
    ``traceparent`` lines (which a receiver must treat as a restart).
    """
    headers = carrier.setdefault("headers", []) if isinstance(carrier, dict) else carrier
    if not isinstance(headers, list):  # a tuple in the message: replace it with a list
        headers = list(headers)
        carrier["headers"] = headers
    name = key.encode("latin-1")
    if headers:
        headers[:] = [h for h in headers if bytes(h[0]).lower() != name]
    headers.append((name, value.encode("latin-1")))


def _prepared_getter(carrier: Mapping[str, list[str]], key: str) -> list[str]:
    """The getter for a carrier already collected by a ``_BULK`` function."""
    return carrier.get(key, _EMPTY)


_BULK: dict[Any, Callable[[Any, frozenset[str]], dict[str, list[str]]]] = {
    mapping_getter: _bulk_mapping,
    asgi_getter: _bulk_asgi,
    wsgi_getter: _bulk_wsgi,
}
"""Built-in getters whose carrier can be read for every wanted header in one pass."""
