"""The X-Ray span emitter: finished spans as segment documents, sent to the daemon over UDP.

Imports: standard library and obskit's core at import time; ``orjson`` (when installed) inside
``create()``; ``aws_xray_sdk`` only inside ``use_with_aws_xray_sdk()``.

Segment documents are built here as plain dicts and serialised in one call: aws-xray-sdk's
entity model costs about 50 us per segment with one subsegment, most of it in ``to_dict`` and
``json.dumps``. The rules (X-Ray segment documents, as the daemon accepts them):

* Each datagram is ``{"format":"json","version":1}\\n`` plus one document, under 64 KB.
* A server span, or a span whose parent is remote or absent, is a *segment* named after the
  service (X-Ray's convention; the span name goes to ``metadata.obskit.span_name``). Other
  spans are *subsegments*: embedded in their segment's document while it is open and holds
  fewer than ``xray_streaming_threshold`` of them, otherwise sent on their own (``type``,
  ``trace_id``, ``parent_id``), as is anything that would push a document past 64 KB.
* In Lambda the function's segment is Lambda's own (the facade named by ``_X_AMZN_TRACE_ID``):
  every span is a subsegment, sent on its own as soon as it ends, parented to the facade.
* Client and producer spans get ``namespace: "remote"`` (``"aws"`` for AWS SDK calls, with the
  ``aws`` block); database spans an ``sql`` block, span links ``links``, as AWS's
  OpenTelemetry-to-X-Ray translation does (``_xray_map``); ``http`` blocks come from the
  ``semconv.ATTR_*`` attributes (older HTTP names too); ``error`` (4xx),
  ``throttle`` (429) and ``fault`` (5xx, or a failed span without a status code) from the
  status; ``cause`` from exception events, with at most 10 frames.
* Attributes with an annotation-safe key (letters, digits, ``_``) and a str/number/bool value
  become ``annotations`` (at most 50); the rest goes to ``metadata.default``.

Outside Lambda, datagrams leave in bursts of ``xray_batch_size`` (16), and a daemon thread
sends what is left within 0.1 s: one ``send`` costs 3 us alone but about twice that between
requests, as the kernel's path and the app's code evict each other from the caches. For the
same reason a finished span tree waits for its burst as it is, and the burst's documents are
built and serialised one after the other when it leaves (a record is read-only once ended). On Linux
a burst goes to the kernel in one ``sendmsg`` with UDP segmentation offload (``UDP_SEGMENT``,
kernel 4.18+; option ``xray_gso``): the kernel cuts it into the same datagrams, about 0.8 us
each instead of 2.8. Segmentation needs every datagram but the last to be the same size, so
the shorter ones are padded with trailing spaces, which JSON allows after a document; a
datagram is grouped only with others at least half its size, and a group stays within the
path's MTU, 64 segments and 65,000 bytes. A kernel or path that refuses it turns it off for
the emitter, and the burst is sent datagram by datagram. Lambda sends each document as its
span ends (the invocation is flushed before the freeze anyway).
``obskit.flush()`` and ``obskit.shutdown()`` send what is pending; a forked child drops the
parent's.

A dead daemon or a full socket buffer never raises: the datagram is dropped and counted
(``traces.dropped.daemon_unreachable``).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from obskit import _diagnostics
from obskit._env import DEFAULT_XRAY_DAEMON_ADDRESS, detect_origin
from obskit.config import Option, parse_bool, parse_number
from obskit.emitters._xray_map import LEGACY_HTTP, legacy_url, links, subsegment_fields
from obskit.errors import ConfigError
from obskit.ids import trace_id_to_xray
from obskit.semconv import (
    ATTR_AWS_REQUEST_ID,
    ATTR_AWS_SERVICE,
    ATTR_CLIENT_ADDRESS,
    ATTR_CLOUD_REGION,
    ATTR_DB_SYSTEM,
    ATTR_DB_SYSTEM_NAME,
    ATTR_HTTP_HOST_OLD,
    ATTR_HTTP_METHOD,
    ATTR_HTTP_METHOD_OLD,
    ATTR_HTTP_RESPONSE_SIZE,
    ATTR_HTTP_STATUS,
    ATTR_HTTP_STATUS_OLD,
    ATTR_HTTP_USER_AGENT_OLD,
    ATTR_NET_PEER_NAME,
    ATTR_PEER_SERVICE,
    ATTR_RPC_METHOD,
    ATTR_RPC_SERVICE,
    ATTR_RPC_SYSTEM,
    ATTR_SERVER_ADDRESS,
    ATTR_URL_FULL,
    ATTR_URL_PATH,
    ATTR_URL_SCHEME,
    ATTR_USER_AGENT,
    ATTR_XRAY_SAMPLING_RULE,
    SPAN_KIND_CLIENT,
    SPAN_KIND_PRODUCER,
    SPAN_KIND_SERVER,
)

__all__ = ["OPTIONS", "XRayEmitter", "create", "parse_daemon_address", "use_with_aws_xray_sdk"]

DEFAULT_DAEMON_ADDRESS = DEFAULT_XRAY_DAEMON_ADDRESS
HEADER = b'{"format":"json","version":1}\n'
MAX_DATAGRAM = 64 * 1000
"""Bytes per datagram, header included: under the daemon's 64 KiB buffer and UDP's 65,507."""
MAX_ANNOTATIONS = 50
MAX_ANNOTATION_LENGTH = 250
MAX_NAME_LENGTH = 200
DEFAULT_STREAMING_THRESHOLD = 30
DEFAULT_BATCH_SIZE = 16
SEND_INTERVAL_S = 0.1
"""The longest a datagram waits for its burst: the sender thread's period."""
_SENDER_IDLE_ROUNDS = 100
"""Periods with nothing to send before the sender thread leaves (the next datagram starts another)."""
_MAX_OPEN = 10_000
"""Open spans tracked for embedding; beyond that (spans never ended) everything streams."""
_INVALID_NAME_CHARS = str.maketrans("", "", "?;*()!$~^<>")
_MAX_BODY = MAX_DATAGRAM - len(HEADER)
_REMOTE_KINDS = frozenset({SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER})
_SDK_NAME = "obskit"
_SOL_UDP = 17
_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
"""Linux's ``UDP_SEGMENT`` socket option (``<netinet/udp.h>``); Python names it from 3.12 only."""
_GSO_MAX_SEGMENTS = 64
"""Datagrams per segmented send: every kernel with ``UDP_SEGMENT`` takes 64 (newer ones more)."""
_GSO_MAX_BYTES = 65_000
"""Bytes per segmented send, padding included: it is one UDP payload until the kernel cuts it."""
_SPACES = memoryview(b" " * _GSO_MAX_BYTES)
"""Padding for segmented sends (JSON allows whitespace after a document)."""
_GSO_REFUSED = frozenset({errno.ENOPROTOOPT, errno.EINVAL, errno.EMSGSIZE, errno.EOPNOTSUPP, errno.EIO})
"""Errors that mean the kernel or the route cannot segment (as opposed to a full buffer or a dead daemon)."""


def _send_failed(n: int = 1) -> None:
    """Count ``n`` datagrams lost on the way to the daemon, and say so once."""
    _diagnostics.count("traces.dropped.daemon_unreachable", "obskit: X-Ray segments not delivered to the daemon "
                       "(refused, or the socket failed); counted as traces.dropped.daemon_unreachable", n=n)


class DaemonAddress(tuple[str, int]):
    """The daemon's UDP ``(host, port)``; ``tcp`` is its TCP proxy's (sampling rules), the same unless given apart."""

    tcp: tuple[str, int]


def parse_daemon_address(name: str, value: Any) -> DaemonAddress:
    """``host:port`` or ``tcp:host:port udp:host:port`` (either order) -> the UDP ``(host, port)``.

    The same forms ``AWS_XRAY_DAEMON_ADDRESS`` takes; anything else is a ``ConfigError`` now,
    not a silent loss of every trace later.
    """
    expected = "'host:port' or 'tcp:host:port udp:host:port' (e.g. '127.0.0.1:2000')"
    if isinstance(value, tuple) and len(value) == 2:
        value = f"{value[0]}:{value[1]}"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"configure({name}={value!r}): expected {expected}")
    parts = value.split()
    where = f"{name}={value!r}" if name.isupper() else f"configure({name}={value!r})"
    if len(parts) == 1:
        udp = tcp = _host_port(parts[0], where, expected)
    elif len(parts) == 2:
        found: dict[str, tuple[str, int]] = {}
        for part in parts:
            proto, sep, rest = part.partition(":")
            if not sep or proto.lower() not in ("tcp", "udp") or proto.lower() in found:
                raise ConfigError(f"{where}: expected {expected}")
            found[proto.lower()] = _host_port(rest, where, expected)
        udp, tcp = found["udp"], found["tcp"]
    else:
        raise ConfigError(f"{where}: expected {expected}")
    address = DaemonAddress(udp)
    address.tcp = tcp
    return address


def _host_port(text: str, where: str, expected: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # [IPv6]:port
        host = host[1:-1]
        ok = bool(host) and all(c in "0123456789abcdefABCDEF:." for c in host)
    else:
        ok = bool(host) and all(c.isalnum() or c in ".-_" for c in host)
    if not sep or not ok or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected {expected}")
    return host, int(port)


def _parse_address_option(name: str, value: Any) -> DaemonAddress | None:
    return None if value is None else parse_daemon_address(name, value)


OPTIONS: dict[str, Option] = {
    "xray_daemon_address": Option(
        None, _parse_address_option,
        "UDP address of the X-Ray daemon ('host:port' or 'tcp:h:p udp:h:p'); default 127.0.0.1:2000",
    ),
    "xray_streaming_threshold": Option(
        DEFAULT_STREAMING_THRESHOLD, parse_number(0, 1000, integer=True),
        "subsegments embedded in an open segment's document before the rest are sent on their own",
    ),
    "xray_batch_size": Option(
        DEFAULT_BATCH_SIZE, parse_number(1, 256, integer=True),
        "datagrams sent together in one burst (1: each as its span ends); the rest leave within 0.1 s",
    ),
    "xray_gso": Option(
        True, parse_bool,
        "send each burst in one sendmsg with UDP segmentation offload (Linux), padding datagrams with spaces",
    ),
}


def sanitize_name(name: str, fallback: str = "unnamed") -> str:
    """An X-Ray-safe segment name: no ``?;*()!$~^<>`` (as aws-xray-sdk strips), at most 200 characters."""
    cleaned = name.translate(_INVALID_NAME_CHARS).strip()[:MAX_NAME_LENGTH]
    return cleaned or fallback


_MAPPED = frozenset({
    ATTR_HTTP_METHOD, ATTR_HTTP_STATUS, ATTR_URL_FULL, ATTR_URL_PATH, ATTR_URL_SCHEME, ATTR_SERVER_ADDRESS,
    ATTR_CLIENT_ADDRESS, ATTR_USER_AGENT, ATTR_HTTP_RESPONSE_SIZE, ATTR_RPC_SYSTEM, ATTR_RPC_SERVICE,
    ATTR_RPC_METHOD, ATTR_CLOUD_REGION, ATTR_AWS_REQUEST_ID, ATTR_XRAY_SAMPLING_RULE, *LEGACY_HTTP,
})
"""Attributes that become ``http``/``aws`` fields instead of annotations or metadata."""

_MAP_TRIGGERS = frozenset({
    ATTR_PEER_SERVICE, ATTR_RPC_SYSTEM, ATTR_RPC_SERVICE, ATTR_AWS_SERVICE, ATTR_DB_SYSTEM, ATTR_DB_SYSTEM_NAME,
    ATTR_HTTP_HOST_OLD, ATTR_NET_PEER_NAME,
})
"""Attributes that can name a non-remote subsegment or give it a block (see ``_xray_map``)."""

_key_ok: dict[str, bool] = {}


def _annotation_key_ok(key: str) -> bool:
    ok = _key_ok.get(key)
    if ok is None:
        ok = key.isascii() and key.replace("_", "a").isalnum()
        if len(_key_ok) < 4096:
            _key_ok[key] = ok
    return ok


_MAPPED_KEY = 0
_ANNOTATION_KEY = 1
_METADATA_KEY = 2
_key_kind: dict[str, int] = {}
"""Attribute key -> where its values go (mapped to ``http``/``aws``, annotation-safe, metadata)."""


def _classify(key: str) -> int:
    kind = _MAPPED_KEY if key in _MAPPED else _ANNOTATION_KEY if _annotation_key_ok(key) else _METADATA_KEY
    if len(_key_kind) < 4096:
        _key_kind[key] = kind
    return kind


_clean_names: dict[str, str] = {}


def _subsegment_name(name: str) -> str:
    """``sanitize_name`` memoised: span names are few and repeat on every request."""
    got = _clean_names.get(name)
    if got is None:
        got = sanitize_name(name)
        if len(_clean_names) < 4096:
            _clean_names[name] = got
    return got


_segment_metadata_cache: dict[tuple[str, str], dict[str, Any]] = {}


def _segment_metadata(name: str, kind: str) -> dict[str, Any]:
    """A segment's ``metadata`` when it has only obskit's block: shared, read-only, one per route."""
    key = (name, kind)
    got = _segment_metadata_cache.get(key)
    if got is None:
        got = {_SDK_NAME: {"span_name": name, "span_kind": kind}}
        if len(_segment_metadata_cache) < 4096:
            _segment_metadata_cache[key] = got
    return got


def _user_placement(
    rec: Any, annotations: dict[str, Any] | None, metadata: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Move the attributes the user placed (``set_attribute(..., annotation=...)``) where they asked.

    An annotation needs a key of letters, digits and ``_`` and a str/number/bool value; a
    request X-Ray would reject stays in metadata and is counted.
    """
    for key, wanted in (rec.placement or {}).items():
        if key not in rec.attributes:
            continue
        value = rec.attributes[key]
        if wanted:
            t = type(value)
            if not (_annotation_key_ok(key) and (t is str or t is int or t is float or t is bool)):
                _diagnostics.incr("xray.annotation_refused")
                continue
            if metadata is not None:
                metadata.pop(key, None)
            annotations = annotations if annotations is not None else {}
            if key in annotations or len(annotations) < MAX_ANNOTATIONS:
                annotations[key] = value
        elif annotations is not None and key in annotations:
            del annotations[key]
            metadata = metadata if metadata is not None else {}
            metadata[key] = value
    return annotations or None, metadata


def _add_metadata(doc: dict[str, Any], namespaces: dict[str, dict[str, Any]]) -> None:
    """Merge the user's metadata namespaces (``Span.set_metadata``) into a document's ``metadata``."""
    have = doc.get("metadata")
    out = {ns: dict(values) for ns, values in have.items()} if have else {}  # have may be a shared cache entry
    for ns, values in namespaces.items():
        out[ns] = {**out.get(ns, {}), **values}
    doc["metadata"] = out


def _annotations_and_metadata(
    attrs: dict[str, Any], taken: tuple[str, ...],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Split a span's attributes into X-Ray annotations (indexed, searchable) and metadata.

    An annotation needs a key X-Ray accepts and a short str, a number or a bool, and there
    are at most ``MAX_ANNOTATIONS``; the rest is metadata. Keys mapped to the ``http`` or
    ``aws`` blocks are skipped, and what a subsegment's ``sql``/``aws`` blocks took
    (``taken``) is not repeated. ``None`` for a side with nothing in it.
    """
    annotations: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    key_kind = _key_kind
    for key, value in attrs.items():
        where = key_kind.get(key)
        if where is None:
            where = _classify(key)
        if where == _MAPPED_KEY:
            continue
        if where == _ANNOTATION_KEY:
            t = type(value)
            if (t is str and len(value) <= MAX_ANNOTATION_LENGTH) or t is int or t is float or t is bool:
                if annotations is None:
                    annotations = {key: value}
                    continue
                if len(annotations) < MAX_ANNOTATIONS:
                    annotations[key] = value
                    continue
        if metadata is None:
            metadata = {key: value}
        else:
            metadata[key] = value
    for key in taken:
        if annotations is not None:
            annotations.pop(key, None)
        if metadata is not None:
            metadata.pop(key, None)
    return annotations, metadata


class XRayEmitter:
    """``SpanEmitter`` that writes X-Ray segment documents to the daemon over UDP.

    Args:
        service: the service name (segment ``name``).
        address: the daemon's UDP ``(host, port)``.
        dumps: a serialiser returning bytes (``orjson.dumps`` when installed).
        in_lambda: stream every span as a subsegment of Lambda's facade segment.
        streaming_threshold: subsegments embedded per open segment before the rest stream.
        origin: the segment ``origin`` (``AWS::ECS::Container``...) or ``None``.
        fast_dumps: a stricter, faster serialiser tried first (plain ``orjson.dumps``); when
            it raises, ``dumps`` decides.
        batch_size: datagrams sent together; 1 sends each at once (always so in Lambda).
        gso: send a burst in one segmented ``sendmsg`` where the kernel can (Linux).
    """

    name = "xray"

    def __init__(self, service: str, address: tuple[str, int], dumps: Callable[[Any], bytes], *,
                 in_lambda: bool = False, streaming_threshold: int = DEFAULT_STREAMING_THRESHOLD,
                 origin: str | None = None, sdk_version: str = "0",
                 fast_dumps: Callable[[Any], bytes] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 gso: bool = True) -> None:
        self._service = sanitize_name(service, "unknown_service")
        self._address = address
        self._dumps = dumps
        self._fast_dumps = fast_dumps or dumps
        self._lambda = in_lambda
        self._threshold = streaming_threshold
        self._origin = origin
        self._aws = {"xray": {"sdk": _SDK_NAME, "sdk_version": sdk_version}}
        import platform

        self._service_block = {
            "runtime": platform.python_implementation(), "runtime_version": platform.python_version(),
        }
        self._cwd = os.getcwd()
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        """Open segments by id -> how many subsegments are embedded in them so far."""
        self._children: dict[str, list[tuple[Any, Any]]] = {}
        """Finished subsegments, with their own children, waiting for their parent (segment or subsegment) to end."""
        self._owner: dict[str, str] = {}
        """Open subsegments' ids -> the id of the open segment they belong to."""
        self._sock: socket.socket | None = None
        self._batch = 1 if in_lambda else max(1, batch_size)
        self._pending: deque[Any] = deque()
        """Datagrams and finished span trees waiting for their burst (appends and pops are atomic: no lock)."""
        self._sender: threading.Thread | None = None
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        """Held by the sender thread while it drains, so that ``flush()`` waits for it."""
        self._gso = gso and self._batch > 1 and sys.platform.startswith("linux")
        self._gso_max = 0
        """Largest datagram a segmented send may carry (the path's MTU); 0: send one by one."""
        self._last_sent = 1
        """Datagrams in the last send that left: what an ECONNREFUSED on the next one says was lost."""
        self._connect()

    # --- transport ---------------------------------------------------------------------------
    def _connect(self) -> None:
        """A connected, non-blocking UDP socket: ``send`` skips per-datagram address handling."""
        sock = None
        try:
            family = socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(self._address)
        except OSError as exc:
            if sock is not None:
                sock.close()
            _diagnostics.incr("xray.connect_failed")
            _diagnostics.report_once("xray.connect", "obskit: cannot reach the X-Ray daemon at %s:%s: %r",
                                     self._address[0], self._address[1], exc)
            self._sock = None
            return
        self._sock = sock
        self._gso_max = _segment_limit(sock, family) if self._gso else 0

    def _queue(self, item: Any) -> None:
        pending = self._pending
        pending.append(item)
        if len(pending) >= self._batch:
            self._drain(self._batch)  # at most one burst on a request's path
        elif self._sender is None:
            self._start_sender()

    def _drain(self, limit: int = -1) -> None:
        """Send pending items (``limit`` of them, or all); any thread may drain, each leaves once.

        An item is a datagram, or a finished span tree whose documents are built here: a
        burst's documents are built one after the other, while that code is in the caches.
        """
        pending = self._pending
        popleft = pending.popleft
        burst: list[bytes] = []
        while pending and limit:
            try:
                item = popleft()
            except IndexError:  # another thread took the last one
                break
            if item.__class__ is bytes:
                burst.append(item)
            else:
                self._render(item, burst)
            limit -= 1
        if len(burst) > 1 and self._gso_max:
            self._send_burst(burst)
            return
        for payload in burst:
            self._send_now(payload)

    def _send_burst(self, burst: list[bytes]) -> None:
        """Send ``burst`` in order, runs of similar sizes each in one segmented ``sendmsg``.

        A run grows while its shortest datagram is over half its longest (padding at most
        doubles a datagram), and while it fits the path's MTU, the segment count and the
        payload size.
        """
        n = len(burst)
        i = 0
        while i < n:
            top = low = len(burst[i])
            j = i + 1
            if top <= self._gso_max:
                cap = min(n, i + _GSO_MAX_SEGMENTS)
                while j < cap:
                    size = len(burst[j])
                    if size > top:
                        if size > self._gso_max or (j - i + 1) * size > _GSO_MAX_BYTES or low * 2 <= size:
                            break
                        top = size
                    elif size * 2 <= top or (j - i + 1) * top > _GSO_MAX_BYTES:
                        break
                    elif size < low:
                        low = size
                    j += 1
            if j - i == 1:
                self._send_now(burst[i])
            else:
                self._send_segments(burst[i:j], top)
            i = j

    def _send_segments(self, run: list[bytes], size: int) -> None:
        """One ``sendmsg`` that the kernel cuts into the datagrams of ``run``, each padded to ``size`` but the last."""
        sock = self._sock
        if sock is None or not self._gso_max:
            for payload in run:
                self._send_now(payload)
            return
        parts: list[Any] = []
        for payload in run:
            parts.append(payload)
            pad = size - len(payload)
            if pad:
                parts.append(_SPACES[:pad])  # a view: the kernel gathers it, nothing is copied here
        if pad:
            parts.pop()  # the last datagram may be shorter
        cmsg = [(_SOL_UDP, _UDP_SEGMENT, size.to_bytes(2, sys.byteorder))]
        try:
            sock.sendmsg(parts, cmsg)
        except OSError as exc:
            if exc.errno not in _GSO_REFUSED:
                self._send_failed(sock, run, exc, (parts, cmsg))
                return
            self._gso_max = 0
            _diagnostics.incr("xray.gso_refused")
            for payload in run:
                self._send_now(payload)
            return
        self._last_sent = len(run)

    def _start_sender(self) -> None:
        with self._lock:
            if self._sender is not None or self._stop.is_set():
                return
            thread = threading.Thread(target=self._run_sender, name="obskit-xray-send", daemon=True)
            self._sender = thread
        try:
            thread.start()
        except RuntimeError:  # no thread to be had (interpreter exiting, a thread limit): send at once
            self._batch = 1
            _diagnostics.incr("xray.sender_unavailable")
            self._drain()

    def _run_sender(self) -> None:
        """Send what waits, every ``SEND_INTERVAL_S``; leave after a while with nothing to do.

        Its drains hold ``_send_lock`` so that ``flush()`` can wait for one in progress. It
        gives up its place before its last look at the queue, so a datagram queued meanwhile
        either is seen here or starts a new sender.
        """
        stop = self._stop
        idle = 0
        while not stop.wait(SEND_INTERVAL_S):
            if not self._pending:
                idle += 1
                if idle < _SENDER_IDLE_ROUNDS:
                    continue
                with self._lock:
                    self._sender = None
                if not self._pending or not self._reclaim():
                    return
            idle = 0
            with self._send_lock:
                try:
                    self._drain()
                except Exception:  # a sender that dies would strand every later datagram
                    _send_failed()

    def _reclaim(self) -> bool:
        """Take the sender's place back (a datagram came as it was leaving), unless a new sender has."""
        with self._lock:
            if self._sender is not None:
                return False
            self._sender = threading.current_thread()
            return True

    def _send_now(self, payload: bytes) -> None:
        sock = self._sock
        if sock is None:
            if self._stop.is_set():  # a span that outlived close(): a socket of its own
                self._send_once(payload)
                return
            self._connect()
            sock = self._sock
            if sock is None:
                _send_failed()
                return
        try:
            sock.send(payload)
        except OSError as exc:
            self._send_failed(sock, [payload], exc, None)
            return
        self._last_sent = 1

    def _send_failed(self, sock: socket.socket, run: list[bytes], exc: OSError,
                     segmented: tuple[list[Any], Any] | None) -> None:
        """After ``run`` failed to leave on ``sock``: send it again where that can work, else count it dropped.

        * The socket was closed or replaced meanwhile (``close()``, a fork): ``run`` goes on
          whatever is there now (a socket of its own after ``close()``).
        * ECONNREFUSED is the kernel reporting an ICMP "port unreachable" for an earlier send,
          and clearing it: that send's datagrams were lost (counted now), and ``run`` is tried
          once more (after a daemon restart, the first burst arrives).
        * Anything else (a full socket buffer): ``run`` is lost, and counted.

        ``segmented``: the ``sendmsg`` arguments when ``run`` was one segmented send.
        """
        if self._sock is not sock:
            for payload in run:
                self._send_now(payload)
            return
        if exc.__class__ is ConnectionRefusedError:
            _send_failed(self._last_sent)
            try:
                if segmented is None:
                    sock.send(run[0])
                else:
                    sock.sendmsg(*segmented)
            except OSError:
                pass
            else:
                self._last_sent = len(run)
                return
        _send_failed(len(run))

    def _send_once(self, payload: bytes) -> None:
        """Send one datagram on a socket opened for it: the emitter's own is closed."""
        family = socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.connect(self._address)
                sock.send(payload)
        except OSError:
            _send_failed()

    def _payloads(self, doc: dict[str, Any]) -> list[bytes]:
        """The datagrams of ``doc``: one, or its subsegments on their own and then the rest, each under 64 KB.

        A document still too large loses ``metadata``, ``cause``, ``annotations``, ``http``,
        ``aws`` in that order (clipped, counted), or is dropped (counted).
        """
        try:
            body = self._dumps(doc)
        except Exception:
            # Something no serialiser takes (a lone surrogate, an int past 64 bits): the
            # document is cleaned (such values replaced, counted) rather than dropped.
            _diagnostics.incr("xray.cleaned")
            try:
                from obskit._logs_render import sanitize

                doc = sanitize(doc)
                body = self._dumps(doc)
            except Exception:
                _diagnostics.incr("traces.dropped.unserialisable")
                return []
        if len(body) + len(HEADER) <= MAX_DATAGRAM:
            return [HEADER + body]
        children = doc.pop("subsegments", None)
        if children:
            _diagnostics.incr("xray.split")
            out: list[bytes] = []
            trace_id = doc.get("trace_id")
            for child in children:
                if trace_id is not None:
                    child["type"] = "subsegment"
                    child["trace_id"] = trace_id
                    child["parent_id"] = doc["id"]
                    out += self._payloads(child)
            return out + self._payloads(doc)
        for field in ("metadata", "cause", "annotations", "http", "aws"):
            if field in doc:
                doc.pop(field)
                _diagnostics.incr("xray.clipped.too_large")
                return self._payloads(doc)
        _diagnostics.incr("traces.dropped.too_large")
        return []

    # --- SpanEmitter -------------------------------------------------------------------------
    def on_start(self, rec: Any) -> None:
        """Note which open segment a span belongs to; no lock (single dict stores are atomic).

        A segment is marked open with no subsegments embedded yet; a subsegment notes its
        segment, found through its parent, so that its own children, which end before it
        does, find the segment too.
        """
        if self._lambda:
            return
        parent = rec.parent_span_id
        open_ = self._open
        if parent is None or rec.remote_parent or rec.kind == SPAN_KIND_SERVER:
            if len(open_) < _MAX_OPEN:
                open_[rec.span_id] = 0
            return
        owners = self._owner
        owner = parent if parent in open_ else owners.get(parent)
        if owner is not None and len(owners) < _MAX_OPEN:
            owners[rec.span_id] = owner

    def on_end(self, rec: Any) -> None:
        """Leave a finished subsegment with its parent, or emit the span tree that ends here.

        Under the lock, a span takes the (unbuilt) children its children left for it
        (``_children``) and, if its segment is still open and under the streaming threshold,
        leaves itself with them for its parent; otherwise its tree is emitted now. A
        segment's end closes it under the same lock, so a child ending at that moment is
        either embedded or sent on its own, never lost. A subsegment that outlives its
        segment still takes its own children along.
        """
        sid = rec.span_id
        parent = rec.parent_span_id
        lam = self._lambda
        if parent is None or (not lam and (rec.remote_parent or rec.kind == SPAN_KIND_SERVER)):
            mine = None
            if not lam:
                lock = self._lock
                lock.acquire()  # not ``with``: acquire/release in try/finally costs half as much
                try:
                    self._open.pop(sid, None)
                    if self._children:
                        mine = self._children.pop(sid, None)
                finally:
                    lock.release()
            self._emit((rec, True, mine, trace_id_to_xray(rec.trace_id)))
            return
        mine = None
        if not lam:
            lock = self._lock
            lock.acquire()
            try:
                children = self._children
                if children:
                    mine = children.pop(sid, None)
                owner = self._owner.pop(sid, None)
                if owner is not None:
                    embedded = self._open.get(owner)
                    if embedded is not None and embedded < self._threshold and len(children) < _MAX_OPEN:
                        self._open[owner] = embedded + 1
                        siblings = children.get(parent)
                        if siblings is None:
                            children[parent] = [(rec, mine)]
                        else:
                            siblings.append((rec, mine))
                        return
            finally:
                lock.release()
        self._emit((rec, False, mine, trace_id_to_xray(rec.trace_id)))

    def _emit(self, tree: tuple[Any, bool, list[Any] | None, str]) -> None:
        """Queue a finished span tree for the next burst, or send its documents now."""
        if self._batch > 1:
            self._queue(tree)
            return
        out: list[bytes] = []
        self._render(tree, out)
        for payload in out:
            self._send_now(payload)

    def _render(self, tree: tuple[Any, bool, list[Any] | None, str], out: list[bytes]) -> None:
        """Add the datagrams of ``(record, is_segment, children, X-Ray trace id)`` to ``out``: usually one.

        The X-Ray trace id is converted when the span ends, next to the request's log lines
        that ask for the same one (``trace_id_to_xray`` remembers the last).
        """
        rec, segment, mine, xray_tid = tree
        try:
            if segment:
                doc = self._segment(rec, xray_tid, rec.parent_span_id)
            else:
                doc = self._subsegment(rec, xray_tid, rec.parent_span_id)
            if mine:
                doc["subsegments"] = self._subsegments(mine, xray_tid)
        except Exception:  # a tree deeper than the interpreter's recursion limit
            _diagnostics.incr("traces.dropped.unserialisable")
            return
        try:
            body = self._fast_dumps(doc)
        except Exception:
            out += self._payloads(doc)  # unusual content: the tolerant serialiser decides
            return
        if len(body) > _MAX_BODY:
            out += self._payloads(doc)
            return
        out.append(HEADER + body)

    def _subsegments(self, mine: list[Any], xray_tid: str) -> list[dict[str, Any]]:
        """The documents of embedded subsegments (``(record, children)`` pairs), with theirs inside."""
        docs = []
        subsegment = self._subsegment
        for rec, theirs in mine:
            doc = subsegment(rec, xray_tid, rec.parent_span_id)
            if theirs:
                doc["subsegments"] = self._subsegments(theirs, xray_tid)
            docs.append(doc)
        return docs

    # --- documents ---------------------------------------------------------------------------
    # Every finished span becomes one document: a head (segment or subsegment), then the
    # common body (_finish: http, annotations and metadata, the outcome, links and cause).
    # The steps are the fewest calls that read top to bottom: one more per span than a single
    # function, two with attributes (a call costs about 0.05-0.1 us; bench_tracing's X-Ray rows).
    def _segment(self, rec: Any, xray_tid: str, parent: str | None) -> dict[str, Any]:
        """A segment: named after the service, with the per-configuration blocks, then the body.

        ``origin``, ``aws`` and ``service`` are built once per configuration and shared; only
        the name of the sampling rule that chose the trace (where the X-Ray SDKs put it) gives
        a segment its own ``aws`` block.
        """
        attrs = rec.attributes
        doc: dict[str, Any] = {
            "name": self._service,
            "id": rec.span_id,
            "trace_id": xray_tid,
            "start_time": rec.start_ns / 1e9,
            "end_time": rec.end_ns / 1e9,
            "in_progress": False,
        }
        if parent is not None:
            doc["parent_id"] = parent
        if self._origin is not None:
            doc["origin"] = self._origin
        doc["aws"] = self._aws
        rule = attrs.get(ATTR_XRAY_SAMPLING_RULE) if attrs else None
        if rule is not None:
            doc["aws"] = {**self._aws, "xray": {**self._aws["xray"], "sampling_rule_name": rule}}
        doc["service"] = self._service_block
        return self._finish(doc, rec, attrs, True, ())

    def _subsegment(self, rec: Any, xray_tid: str, parent: str | None) -> dict[str, Any]:
        """A subsegment: its own name and namespace, what ``subsegment_fields`` maps, then the body.

        ``trace_id``, ``parent_id`` and ``type`` are required only when it is sent on its own;
        aws-xray-sdk writes them on embedded ones too, and so do we (X-Ray accepts both). A
        client or producer span, or one with database or AWS attributes, gets its ``sql`` or
        ``aws`` block (and maybe a better name); the keys those took are not repeated.
        """
        attrs = rec.attributes
        doc: dict[str, Any] = {
            "name": _subsegment_name(rec.name),
            "id": rec.span_id,
            "trace_id": xray_tid,
            "parent_id": parent,
            "type": "subsegment",
            "start_time": rec.start_ns / 1e9,
            "end_time": rec.end_ns / 1e9,
            "in_progress": False,
            "namespace": "local",
        }
        taken: tuple[str, ...] = ()
        kind = rec.kind
        if attrs and (kind in _REMOTE_KINDS or not _MAP_TRIGGERS.isdisjoint(attrs)):
            name, taken = subsegment_fields(doc, rec.name, kind in _REMOTE_KINDS, attrs)
            if name is not None:
                doc["name"] = sanitize_name(name)
        elif kind in _REMOTE_KINDS:
            doc["namespace"] = "remote"
        return self._finish(doc, rec, attrs, False, taken)

    def _finish(
        self, doc: dict[str, Any], rec: Any, attrs: Any, segment: bool, taken: tuple[str, ...],
    ) -> dict[str, Any]:
        """The body every document shares, in aws-xray-sdk's field order.

        ``http`` from the HTTP attributes; the outcome from the status code, else from the
        span's status (``fault`` for a 5xx or an error, ``error`` for a 4xx, ``throttle`` for
        429 too); links; the exception as ``cause``; then annotations and metadata, where the
        user's own placements (``annotation=``, ``set_metadata``) win. A segment always
        carries obskit's block (span name and kind), shared per route when it is alone.
        """
        annotations: dict[str, Any] | None = None
        metadata: dict[str, Any] | None = None
        status_code = None
        if attrs:
            status_code = attrs.get(ATTR_HTTP_STATUS)
            if status_code is None:
                status_code = attrs.get(ATTR_HTTP_STATUS_OLD)
            if status_code is not None or ATTR_HTTP_METHOD in attrs or ATTR_HTTP_METHOD_OLD in attrs:
                doc["http"] = self._http(attrs, segment, status_code)
            annotations, metadata = _annotations_and_metadata(attrs, taken)
        if type(status_code) is int and status_code >= 400:
            if status_code >= 500:
                doc["fault"] = True
            else:
                doc["error"] = True
                if status_code == 429:
                    doc["throttle"] = True
        elif rec.status == "error":
            doc["fault"] = True
        if rec.links:
            doc["links"] = links(rec)
        if rec.events:
            cause = self._cause(rec)
            if cause is not None:
                doc["cause"] = cause
        if rec.placement is not None or rec.metadata is not None:
            annotations, metadata = _user_placement(rec, annotations, metadata)
        if annotations is not None:
            doc["annotations"] = annotations
        if segment:
            if metadata is not None:
                doc["metadata"] = {"default": metadata, _SDK_NAME: {"span_name": rec.name, "span_kind": rec.kind}}
            else:
                doc["metadata"] = _segment_metadata(rec.name, rec.kind)
        elif metadata is not None:
            doc["metadata"] = {"default": metadata}
        if rec.metadata is not None:
            _add_metadata(doc, rec.metadata)
        return doc

    def flush(self, timeout_s: float | None = None) -> bool:
        """Send the pending datagrams, after any the sender thread is sending; open segments wait for their end.

        Returns ``False`` when the sender's drain did not finish within ``timeout_s``.
        """
        done = self._send_lock.acquire(timeout=-1 if timeout_s is None else max(timeout_s, 0.0))
        try:
            self._drain()
        finally:
            if done:
                self._send_lock.release()
        return done

    def close(self) -> None:
        self._stop.set()
        self._batch = 1  # a span that ends after this (begun under the old configuration) is sent at once
        self.flush(5.0)
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED:
                    _send_failed(self._last_sent)  # the last send was refused, and no later one will say so
                sock.close()
            except OSError:
                pass

    def after_fork(self) -> None:
        """A forked worker gets its own socket and sender, and forgets the parent's spans and datagrams."""
        self._lock = threading.Lock()
        self._open = {}
        self._owner = {}
        self._children = {}
        self._pending = deque()
        self._sender = None
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._connect()

    def _http(self, attrs: dict[str, Any], segment: bool, status_code: Any) -> dict[str, Any]:
        request: dict[str, Any] = {}
        method = attrs.get(ATTR_HTTP_METHOD)
        if method is None:
            method = attrs.get(ATTR_HTTP_METHOD_OLD)
        if method is not None:
            request["method"] = method
        url = attrs.get(ATTR_URL_FULL)
        if url is None:
            path = attrs.get(ATTR_URL_PATH)
            host = attrs.get(ATTR_SERVER_ADDRESS)
            url = f"{attrs.get(ATTR_URL_SCHEME) or 'http'}://{host}{path or ''}" if host is not None else path
            if url is None:
                url = legacy_url(attrs)
        if url is not None:
            request["url"] = url
        agent = attrs.get(ATTR_USER_AGENT)
        if agent is None:
            agent = attrs.get(ATTR_HTTP_USER_AGENT_OLD)
        if agent is not None:
            request["user_agent"] = agent
        if segment:
            client = attrs.get(ATTR_CLIENT_ADDRESS)
            if client is not None:
                request["client_ip"] = client
        http: dict[str, Any] = {"request": request} if request else {}
        response: dict[str, Any] = {}
        if type(status_code) is int:
            response["status"] = status_code
        size = attrs.get(ATTR_HTTP_RESPONSE_SIZE)
        if type(size) is int:
            response["content_length"] = size
        if response:
            http["response"] = response
        return http

    def _cause(self, rec: Any) -> dict[str, Any] | None:
        exceptions = []
        for event in rec.events:
            if event.name != "exception":
                continue
            attrs = event.attributes
            entry: dict[str, Any] = {
                "id": f"{int.from_bytes(os.urandom(8), 'big'):016x}",
                "type": attrs.get("exception.type"),
                "message": attrs.get("exception.message"),
                "remote": False,
            }
            if event.frames:
                # outermost first, as aws-xray-sdk writes them; file names only, like the SDK
                entry["stack"] = [
                    {"path": os.path.basename(path), "line": line, "label": label}
                    for path, line, label in event.frames
                ]
            exceptions.append(entry)
        if not exceptions:
            return None
        return {"working_directory": self._cwd, "exceptions": exceptions}


def _segment_limit(sock: socket.socket, family: int) -> int:
    """The largest datagram a segmented send to ``sock``'s peer may carry: its path MTU less the headers.

    0 when the kernel has no segmentation offload or does not say (the emitter then sends datagram by datagram).
    """
    try:
        sock.setsockopt(_SOL_UDP, _UDP_SEGMENT, 0)  # the kernel has the option (4.18+); 0 leaves plain sends be
        if family == socket.AF_INET6:
            mtu = sock.getsockopt(socket.IPPROTO_IPV6, 24) - 48  # IPV6_MTU; IPv6 and UDP headers
        else:
            mtu = sock.getsockopt(socket.IPPROTO_IP, 14) - 28  # IP_MTU; IPv4 and UDP headers
    except OSError:
        return 0
    return max(0, min(mtu, MAX_DATAGRAM))


def _json_dumps() -> Callable[[Any], bytes]:
    try:
        import orjson
    except ImportError:
        import json

        encode = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False).encode

        def dumps(doc: Any) -> bytes:
            return encode(doc).encode("utf-8")

        return dumps
    opts = orjson.OPT_NON_STR_KEYS

    def orjson_dumps(doc: Any) -> bytes:
        return orjson.dumps(doc, default=str, option=opts)

    return orjson_dumps


def _fast_json_dumps() -> Callable[[Any], bytes] | None:
    """``orjson.dumps`` without options: string keys only, a third cheaper than with them."""
    try:
        import orjson
    except ImportError:
        return None
    return orjson.dumps


def _version() -> str:
    from obskit._version import __version__

    return __version__


def create(config: Any) -> XRayEmitter:
    """Factory for ``traces="xray"``: checks the daemon address now, opens the UDP socket.

    Raises:
        ConfigError: the daemon address is malformed (``AWS_XRAY_DAEMON_ADDRESS`` or the option).
    """
    address = config.option("xray_daemon_address") or DEFAULT_DAEMON_ADDRESS
    return XRayEmitter(
        config.service,
        address,
        _json_dumps(),
        in_lambda=config.in_lambda,
        streaming_threshold=0 if config.in_lambda else config.option("xray_streaming_threshold"),
        origin=None if config.in_lambda else detect_origin(),
        sdk_version=_version(),
        fast_dumps=_fast_json_dumps(),
        batch_size=config.option("xray_batch_size"),
        gso=config.option("xray_gso"),
    )


def use_with_aws_xray_sdk(recorder: Any = None) -> Any:
    """Let aws-xray-sdk's patchers (botocore, requests, httpx...) record under obskit's spans.

    Installs a context on the SDK's recorder whose segment is always the *current obskit span*
    (a facade, never sent, as in Lambda), and sets ``streaming_threshold=0`` so each SDK
    subsegment is sent on its own as it ends, with ``parent_id`` = the obskit span id and
    obskit's trace id. Outside an obskit span, or in an unsampled trace, the SDK records
    nothing. Call it once after ``obskit.configure()`` and ``aws_xray_sdk.core.patch(...)``;
    the SDK sends to its own daemon address (``AWS_XRAY_DAEMON_ADDRESS``), the same daemon.

    Args:
        recorder: the recorder to configure; defaults to ``aws_xray_sdk.core.xray_recorder``.

    Returns:
        The recorder.
    """
    from obskit._deps import require

    core = require("aws_xray_sdk.core", "xray", feature="use_with_aws_xray_sdk")
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.models.dummy_entities import DummySegment
    from aws_xray_sdk.core.models.facade_segment import FacadeSegment

    from obskit._context import CURRENT

    class ObskitSDKContext(Context):  # type: ignore[misc]
        """aws-xray-sdk context whose segment follows obskit's current span."""

        def __init__(self) -> None:
            super().__init__(context_missing="IGNORE_ERROR")

        def put_segment(self, segment: Any) -> None:
            """Segments belong to obskit: a segment the SDK opens itself is ignored."""

        def end_segment(self, end_time: Any = None) -> None:
            """See ``put_segment``."""

        def _facade(self) -> Any:
            ctx = CURRENT.get()
            if not ctx.is_valid or ctx.span_id is None:
                return None
            local = self._local
            key = (ctx.trace_id, ctx.span_id)
            if getattr(local, "obskit_key", None) != key:
                if ctx.sampled:
                    segment = FacadeSegment(name="obskit", traceid=ctx.xray_trace_id,
                                            entityid=ctx.span_id, sampled=True)
                else:
                    segment = DummySegment()
                local.obskit_key = key
                local.segment = segment
                local.entities = []
            return local.segment

        def put_subsegment(self, subsegment: Any) -> None:
            entity = self.get_trace_entity()
            if entity is None:
                return
            entity.add_subsegment(subsegment)
            self._local.entities.append(subsegment)

        def get_trace_entity(self) -> Any:
            segment = self._facade()
            if segment is None:
                return None
            entities = getattr(self._local, "entities", None)
            return entities[-1] if entities else segment

        def set_trace_entity(self, trace_entity: Any) -> None:
            self._local.entities = [trace_entity] if self._is_subsegment(trace_entity) else []

        def handle_context_missing(self) -> None:
            """Outside an obskit span the SDK records nothing, quietly."""

    rec = recorder if recorder is not None else core.xray_recorder
    if getattr(rec, _PREVIOUS, None) is None:  # a second call keeps the settings from before the first
        setattr(rec, _PREVIOUS, (rec.context, rec.streaming_threshold, rec.sampling))
    rec.configure(context=ObskitSDKContext(), streaming_threshold=0, sampling=False)
    return rec


_PREVIOUS = "_obskit_previous_settings"


def stop_using_aws_xray_sdk(recorder: Any = None) -> Any:
    """Undo ``use_with_aws_xray_sdk``: the recorder's own context, streaming threshold and sampling back.

    Calling it on a recorder obskit never configured does nothing.

    Args:
        recorder: the recorder; defaults to ``aws_xray_sdk.core.xray_recorder``.

    Returns:
        The recorder.
    """
    from obskit._deps import require

    core = require("aws_xray_sdk.core", "xray", feature="stop_using_aws_xray_sdk")
    rec = recorder if recorder is not None else core.xray_recorder
    previous = getattr(rec, _PREVIOUS, None)
    if previous is not None:
        context, threshold, sampling = previous
        rec.configure(context=context, streaming_threshold=threshold, sampling=sampling)
        delattr(rec, _PREVIOUS)
    return rec
