"""Transports for serialised telemetry: stdout, an appended file, memory, and the CloudWatch agent.

Imports: standard library and ``obskit.config``/``obskit.errors`` (option parsing, ``ConfigError``).

A ``Sink`` has ``write(payload: bytes) -> None``, ``flush(timeout_s) -> bool`` and
``close() -> None``; it knows nothing of the format. ``write`` is called on the request path
(or the metrics flusher thread) and never raises for a transport problem: the loss is counted
in ``obskit.diagnostics()`` instead. The agent sink never blocks the caller on the network: it
appends to a bounded queue that a background thread (started on the first write) sends,
reconnecting with exponential back-off; what does not fit in the queue is dropped and counted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from obskit import _diagnostics
from obskit.config import Option, parse_number
from obskit.errors import ConfigError

if TYPE_CHECKING:
    from obskit.config import Config

__all__ = ["AgentSink", "Endpoint", "FileSink", "MemorySink", "StdoutSink", "parse_endpoint"]

DEFAULT_AGENT_PORT = 25888
DEFAULT_AGENT_HOST = "127.0.0.1"
DEFAULT_FLUSH_TIMEOUT_S = 2.0
"""``flush(None)`` on the agent sink waits at most this long: an unreachable agent must not
hang ``obskit.flush()`` or interpreter exit."""
_CLOSE_WAIT_S = 0.5
"""How long ``close()`` waits for a TCP agent to confirm, by closing its end, that it read everything."""
_MAX_BACKOFF_S = 5.0
_MIN_BACKOFF_S = 0.05


class Endpoint(NamedTuple):
    """A parsed ``tcp://host:port`` or ``udp://host:port``."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_endpoint(name: str, value: Any) -> Endpoint:
    """Parse the agent endpoint (``tcp://host:port`` or ``udp://host:port``; port 25888 by default).

    Raises:
        ConfigError: not a string, another scheme, no host, or a bad port; the message quotes
            the option, the value and the accepted form.
    """
    where = f"{name}={value!r}" if name.isupper() else f"configure({name}={value!r})"
    expected = "expected 'tcp://host:port' or 'udp://host:port' (port defaults to 25888)"
    if isinstance(value, Endpoint):
        return value
    if not isinstance(value, str) or "://" not in value:
        raise ConfigError(f"{where}: {expected}")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}; {expected}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("tcp", "udp"):
        raise ConfigError(f"{where}: scheme {parts.scheme!r} is not supported; {expected}")
    if not parts.hostname:
        raise ConfigError(f"{where}: no host; {expected}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"{where}: unexpected path, query or credentials; {expected}")
    if port == 0:
        raise ConfigError(f"{where}: port 0 is not a port; {expected}")
    return Endpoint(scheme, parts.hostname, port or DEFAULT_AGENT_PORT)


OPTIONS: dict[str, Option] = {
    "emf_agent_endpoint": Option(
        None, parse_endpoint, "CloudWatch agent EMF endpoint, tcp://host:port or udp://host:port (port 25888)"
    ),
    "emf_agent_queue_size": Option(
        1000, parse_number(1, 1_000_000, integer=True),
        "EMF documents held for the agent while it is slow or down; more are dropped and counted",
    ),
}


def _dropped(reason: str, n: int, message: str, *args: object) -> None:
    key = f"metrics.dropped.{reason}"
    _diagnostics.count(key, message + " (counted as %s)", *args, key, n=n)


class StdoutSink:
    """Writes each payload to ``sys.stdout`` as one text write, so lines from threads never interleave.

    ``sys.stdout`` is looked up at each write, so ``contextlib.redirect_stdout`` and test
    capture work. ``flush`` flushes the stream: call ``obskit.flush()`` before a Lambda freeze.
    """

    __slots__ = ()

    def write(self, payload: bytes) -> None:
        self.write_text(payload.decode("utf-8"))

    @staticmethod
    def write_text(text: str) -> None:
        """Write a document that is already text (the EMF emitter builds small ones as ``str``)."""
        out = sys.stdout
        if out is None:
            _dropped("stdout_unavailable", 1, "obskit: no sys.stdout to write EMF to")
            return
        try:
            out.write(text)
        except (OSError, ValueError) as exc:  # closed or broken stdout
            _dropped("stdout_failure", 1, "obskit: writing EMF to stdout failed: %r", exc)

    def flush(self, timeout_s: float | None = None) -> bool:
        out = sys.stdout
        if out is not None:
            try:
                out.flush()
            except (OSError, ValueError):
                return False
        return True

    def close(self) -> None:
        self.flush()


class FileSink:
    """Appends each payload to a file with one unbuffered ``os.write`` (``O_APPEND``).

    Unbuffered, so a forked child never re-writes the parent's pending bytes, and appends from
    several processes land as whole lines.
    """

    __slots__ = ("_fd", "_lock", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> FileSink:
        path = config.option("emf_file_path")
        if not path:
            raise ConfigError("configure(metrics='file') needs emf_file_path='<file to append EMF lines to>'")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ConfigError(f"configure(emf_file_path={path!r}): directory {directory!r} does not exist")
        if os.path.isdir(path):
            raise ConfigError(f"configure(emf_file_path={path!r}): is a directory, expected a file path")
        return cls(path)

    def write(self, payload: bytes) -> None:
        try:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(self._fd, payload)
        except OSError as exc:
            _dropped("file_failure", 1, "obskit: appending EMF to %s failed: %r", self.path, exc)

    def flush(self, timeout_s: float | None = None) -> bool:
        return True  # every write is already in the kernel

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def after_fork(self) -> None:
        self._lock = threading.Lock()


class MemorySink:
    """Parses each payload and appends the document (a dict) to a list: ``obskit.testing.capture``."""

    __slots__ = ("documents",)

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents

    def write(self, payload: bytes) -> None:
        import json

        self.documents.append(json.loads(payload))

    def flush(self, timeout_s: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


class AgentSink:
    """Sends payloads to the CloudWatch agent over TCP (newline-delimited) or UDP (one datagram each).

    ``write`` appends to a bounded queue and returns; a daemon thread, started on the first
    write, sends in order. A payload leaves the queue only once sent, so while the agent is
    down the queue holds what it can (``emf_agent_queue_size`` documents), retried with
    exponential back-off (0.05 s doubling to 5 s; ``flush()`` retries at once), and what does
    not fit is dropped and counted (``metrics.dropped.agent_queue_full``).

    What was sent but never read is counted too, never re-sent. The agent's protocol has no
    acknowledgement, so a re-send could only guess, and a guess that repeats a document
    inflates a metric silently, where a counted loss is visible. Before each send (and at
    close) the connection is examined; a TCP peer that closed after reading everything sends
    FIN, one that closed with data unread sends RST instead:

    * FIN only: nothing lost (the agent read everything before it closed).
    * FIN, then an error: the one document sent after the agent closed met a reset
      (``metrics.dropped.agent_reset``).
    * RST without FIN (the agent was killed, or Docker's port proxy accepted with no agent
      behind it): every document sent on that connection may be unread, and all of them are
      counted (``metrics.dropped.agent_reset``): an upper bound, exact when the agent read
      none of them.

    Over UDP the socket is connected, so the kernel reports an ICMP "port unreachable" on the
    next send or at close: each refusal is one datagram lost (``metrics.dropped.agent_refused``).
    """

    def __init__(self, endpoint: Endpoint, *, queue_size: int = 1000, timeout_s: float = 1.0) -> None:
        self.endpoint = endpoint
        self.scheme = endpoint.scheme
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self._fresh()

    @classmethod
    def from_config(cls, config: Config) -> AgentSink:
        endpoint = config.option("emf_agent_endpoint") or Endpoint("tcp", DEFAULT_AGENT_HOST, DEFAULT_AGENT_PORT)
        return cls(endpoint, queue_size=config.option("emf_agent_queue_size"))

    def _fresh(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[bytes] = deque()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._closed = False
        self._retry_now = False
        self._sending = False
        self._down = False
        self._started = 0
        """Send attempts started; ``flush`` waits for one that started after it was called."""
        self._failed_at = 0
        self._on_conn = 0
        """Documents sent on the current TCP connection since it was opened (UDP: since it was examined)."""
        self._refused = 0
        """UDP refusals in a row: after a second one the sender backs off (each refusal costs a datagram)."""

    # --- request path -----------------------------------------------------------------------
    def write(self, payload: bytes) -> None:
        if self.scheme == "udp" and len(payload) > 65_507:
            _dropped("datagram_too_large", 1, "obskit: an EMF document of %d bytes does not fit a datagram",
                     len(payload))
            return
        with self._cond:
            if self._closed:
                _dropped("agent_closed", 1, "obskit: EMF written after the agent sink was closed")
                return
            if len(self._queue) >= self.queue_size:
                _dropped("agent_queue_full", 1, "obskit: the CloudWatch agent queue (%d documents) is full",
                         self.queue_size)
                return
            self._queue.append(payload)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="obskit-emf-agent", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued document is sent; retries a down agent at once."""
        deadline = time.monotonic() + (DEFAULT_FLUSH_TIMEOUT_S if timeout_s is None else timeout_s)
        with self._cond:
            self._retry_now = True
            mark = self._started
            self._cond.notify_all()
            while self._queue or self._sending:
                if self._down and self._failed_at > mark:
                    return False  # retried at once and still down: do not wait out the back-off
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        self.flush(0.0 if self._down else DEFAULT_FLUSH_TIMEOUT_S)  # a down agent was just tried by flush()
        with self._cond:
            self._closed = True
            left = len(self._queue) - self._sending  # the one in flight: its outcome counts it
            self._queue.clear()
            self._cond.notify_all()
            thread = self._thread
        if left:
            _dropped("agent_unavailable", left, "obskit: %d EMF document(s) not delivered to the agent %s at close",
                     left, self.endpoint)
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout_s)  # it is between sends: it leaves without touching the socket
        sock = self._sock
        if sock is not None:
            self._retire(sock, _goodbye(sock, self.scheme, _CLOSE_WAIT_S))

    def _is_closed(self) -> bool:
        """``close()`` ran (read anew: another thread sets it while this one sends)."""
        return self._closed

    def after_fork(self) -> None:
        """In a child: no inherited queue, thread or socket (they belong to the parent)."""
        self._fresh()

    # --- sender thread --------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.0
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._closed:
                    cond.wait()
                if self._closed:
                    return
                payload = self._queue[0]
                self._sending = True
                self._started += 1
                attempt = self._started
            try:
                sent = self._send(payload)
            except Exception as exc:  # the thread must survive anything
                sent = None
                _dropped("agent_failure", 1, "obskit: sending EMF to the agent failed: %r", exc)
            with cond:
                self._sending = False
                if sent is False and self._is_closed():  # close() left this one to its attempt
                    _dropped("agent_unavailable", 1, "obskit: an EMF document not delivered to the agent %s at close",
                             self.endpoint)
                self._down = sent is False
                if sent is False:
                    self._failed_at = attempt
                if sent is not False:  # sent, or unsendable (counted): either way it leaves
                    if self._queue and self._queue[0] is payload:
                        self._queue.popleft()
                    backoff = 0.0
                    cond.notify_all()
                    continue
                cond.notify_all()
                backoff = min(_MAX_BACKOFF_S, max(_MIN_BACKOFF_S, backoff * 2))
                if self._retry_now:  # a flush() asked for one attempt now
                    self._retry_now = False
                    continue
                end = time.monotonic() + backoff
                while not self._retry_now and not self._closed:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    cond.wait(left)
                self._retry_now = False

    def _send(self, payload: bytes) -> bool | None:
        """``True`` sent, ``False`` retry later, ``None`` unsendable (counted)."""
        sock = self._sock
        if sock is not None:
            verdict = _verdict(sock, self.scheme)
            if verdict:
                self._retire(sock, verdict)
                sock = None
                if self.scheme == "udp":
                    self._refused += 1
                    if self._refused > 1:  # refused again: the agent is down, back off (this one waits)
                        return False
            elif self.scheme == "udp" and self._on_conn:
                self._refused = 0  # the last datagram was not refused
                self._on_conn = 0  # UDP: counts the datagrams sent since the last examination
        try:
            if sock is None:
                sock = self._sock = self._connect()
                self._on_conn = 0
            if self.scheme == "udp":
                sock.send(payload)
            else:
                sock.sendall(payload)
        except OSError as exc:
            if self.scheme == "udp" and getattr(exc, "errno", None) == errno.EMSGSIZE:
                _dropped("datagram_too_large", 1, "obskit: an EMF datagram was too large: %r", exc)
                return None
            if sock is not None and sock is self._sock:
                self._retire(sock, _error_verdict(exc, self.scheme))
            _diagnostics.incr("metrics.agent.send_failure")
            _diagnostics.report_once(
                "metrics.agent.send_failure",
                "obskit: the CloudWatch agent at %s is unreachable (%r); retrying with back-off",
                self.endpoint, exc,
            )
            return False
        self._on_conn += 1
        return True

    def _retire(self, sock: socket.socket, verdict: str) -> None:
        """Close the socket, counting what it carried that the agent provably or possibly never read.

        ``verdict`` (see ``_verdict``): ``""`` or ``"closed"`` nothing lost; ``"refused"`` the
        last document sent; ``"reset"`` every document sent since the socket was opened.
        """
        n = {"refused": min(self._on_conn, 1), "reset": self._on_conn}.get(verdict, 0)
        self._on_conn = 0
        if n:
            if self.scheme == "udp":
                _dropped("agent_refused", n, "obskit: the CloudWatch agent's UDP port %s refused EMF datagrams",
                         self.endpoint)
            else:
                _dropped("agent_reset", n, "obskit: the CloudWatch agent at %s reset the connection with %d "
                         "EMF document(s) possibly unread", self.endpoint, n)
        if sock is self._sock:
            self._disconnect()

    def _connect(self) -> socket.socket:
        host, port = self.endpoint.host, self.endpoint.port
        if self.scheme == "udp":
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect((host, port))  # connected: the kernel reports ICMP refusals to us
            except OSError:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((host, port), timeout=self.timeout_s)
        sock.settimeout(self.timeout_s)
        return sock

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _verdict(sock: socket.socket, scheme: str) -> str:
    """What became of the agent's end: ``""`` still open, else ``"closed"``, ``"refused"`` or ``"reset"``.

    TCP (examined without blocking): ``"closed"`` the agent closed after reading everything
    (FIN); ``"refused"`` it closed and a later document met a reset (FIN, then an error);
    ``"reset"`` it closed with data unread, or was killed (RST without FIN). UDP: ``"refused"``
    when an ICMP "port unreachable" is pending.
    """
    try:
        if scheme == "udp":
            return "refused" if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) else ""
        timeout = sock.gettimeout()
        sock.setblocking(False)  # a socket with a timeout would wait for data instead of answering
        try:
            if sock.recv(1, socket.MSG_PEEK) != b"":
                return ""  # the agent wrote something: still there
        except (BlockingIOError, InterruptedError):
            return ""
        except OSError:
            return "reset"
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(timeout)
        return "refused" if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) else "closed"
    except OSError:
        return "reset"


def _goodbye(sock: socket.socket, scheme: str, wait_s: float) -> str:
    """Close our side and wait up to ``wait_s`` for the agent's verdict on what it was sent.

    A TCP agent reads to the end of the stream and then closes: its FIN is the proof that it
    read everything, a reset that it did not. No answer in time (an agent that is slow, not
    gone) counts nothing: what it holds, it may still read.
    """
    if scheme == "udp":
        return _verdict(sock, scheme)
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(wait_s)
        deadline = time.monotonic() + wait_s
        while sock.recv(65536):  # an agent does not write: anything read is ignored
            left = deadline - time.monotonic()
            if left <= 0:
                return ""
            sock.settimeout(left)
    except TimeoutError:
        return ""
    except OSError:
        return "reset"
    try:
        return "refused" if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) else "closed"
    except OSError:
        return "reset"


def _error_verdict(exc: OSError, scheme: str) -> str:
    """What a failed send says about the documents sent before it (see ``_verdict``)."""
    if isinstance(exc, TimeoutError):
        return "closed"  # a stalled agent: what it holds, it may still read
    if isinstance(exc, ConnectionRefusedError) or (scheme == "udp" and exc.errno == errno.ECONNREFUSED):
        return "refused"  # an ICMP refusal of the datagram sent before
    if isinstance(exc, BrokenPipeError):
        return "refused"  # the agent closed (FIN): only what was sent after that met the reset
    if scheme == "udp":
        return ""  # a full socket buffer, no route: this datagram is retried, none before was lost
    return "reset"
