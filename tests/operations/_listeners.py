"""Loopback stand-ins for a sick CloudWatch agent or X-Ray daemon, and a child-process runner.

Every listener binds 127.0.0.1 on an ephemeral port, runs its loop on a daemon thread and is
bounded in time; ``close()`` stops it. What a reading listener ``received`` is what "arrived".
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def accepting(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def dead_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class TCPAgent:
    """A TCP listener in one of three moods.

    * ``"read"``: reads newline-delimited documents into ``received``.
    * ``"reset"``: accepts each connection and resets it at once (``SO_LINGER`` 0), unread:
      Docker's port proxy while the agent sidecar behind it is down.
    * ``"stall"``: accepts and never reads until ``drain()`` (an agent stuck behind a full queue).
    """

    def __init__(self, mood: str = "read", port: int = 0) -> None:
        self.mood = mood
        self.received: list[bytes] = []
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(64)
        self.port: int = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._readers: list[threading.Thread] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if self.mood == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                time.sleep(0.002)  # the client's first document is in flight, unread
                conn.close()
                continue
            self.conns.append(conn)
            if self.mood == "read":
                self._start_reader(conn)

    def _start_reader(self, conn: socket.socket) -> None:
        t = threading.Thread(target=self._read, args=(conn,), daemon=True)
        self._readers.append(t)
        t.start()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(10)
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                conn.close()  # as the agent does at the end of a stream: its FIN says it read it all
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            with self._lock:
                self.received.extend(line for line in lines if line)
        # a partial line left in ``buf`` did not arrive (the agent drops it too)

    def drain(self) -> None:
        """A stalled agent recovers: read everything its connections hold, until they close."""
        for conn in self.conns:
            self._start_reader(conn)

    def stop(self, *, graceful: bool = True) -> None:
        """Close the listening socket and every connection (after reading what they hold when graceful)."""
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), which holds the socket open
        except OSError:
            pass
        self.server.close()
        for t in self._readers:
            t.join(5)
        for conn in self.conns:
            try:
                if not graceful:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            except OSError:
                pass

    def close_connections(self) -> None:
        """Close accepted connections: their reader threads have seen everything sent so far."""
        for conn in list(self.conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._readers:
            t.join(5)
        for conn in self.conns:
            conn.close()
        self.conns.clear()


class UDPListener:
    """Collects datagrams sent to it."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                self.received.append(self.sock.recv(65536))
            except TimeoutError:
                if self._stop.is_set():
                    return  # stopped, and nothing more came for a while: everything sent was read
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def lost(counters: Mapping[str, int], prefix: str = "metrics.dropped.") -> int:
    """Everything counted as lost under ``prefix``."""
    return sum(n for key, n in counters.items() if key.startswith(prefix))


def figures(produced: int, arrived: int, counted: int, counters: Mapping[str, int] | None = None) -> str:
    extra = f"; counters {dict(counters)}" if counters is not None else ""
    return f"produced {produced}, arrived {arrived}, counted as lost {counted}{extra}"


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without PYTHONUNBUFFERED or OBSKIT_* (a container's, roughly)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OBSKIT_", "PYTHONUNBUFFERED", "AWS_", "OTEL_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "tests"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def spawn(code: str, **env: str) -> subprocess.Popen[bytes]:
    """Start ``python -c code`` with stdout on a pipe (block-buffered, as in a container)."""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(**env))


class Reader:
    """Reads a child's stdout and stderr as they arrive (on threads): what reached the pipe, and when."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.data = b""
        self.err = b""
        self._threads = [threading.Thread(target=self._read, args=(name,), daemon=True) for name in ("data", "err")]
        for t in self._threads:
            t.start()

    def _read(self, name: str) -> None:
        stream = self.proc.stdout if name == "data" else self.proc.stderr
        assert stream is not None
        while True:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return
            setattr(self, name, getattr(self, name) + chunk)

    def finish(self, timeout_s: float = 20.0) -> tuple[bytes, bytes]:
        """Wait for the child to exit and for its output to end; (stdout, stderr)."""
        try:
            self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            for t in self._threads:
                t.join(5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        return self.data, self.err


def parse_stdout(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a child's stdout into (EMF documents, log lines)."""
    emf, logs = [], []
    for line in data.splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        (emf if "_aws" in doc else logs).append(doc)
    return emf, logs


def metric_values(docs: list[dict[str, Any]], name: str) -> int:
    """How many values of metric ``name`` the EMF documents carry."""
    n = 0
    for doc in docs:
        value = doc.get(name)
        if value is None:
            continue
        n += len(value) if isinstance(value, list) else 1
    return n
