"""A UDP listener on 127.0.0.1 standing in for the X-Ray daemon."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import obskit

HEADER = b'{"format":"json","version":1}'


class Daemon:
    """Receives datagrams and checks the daemon protocol on each."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sizes: list[int] = []

    def receive(self, n: int = 1, *, flush: bool = True) -> list[dict[str, Any]]:
        """The next ``n`` documents, each checked for the header line and one JSON body.

        ``flush``: send what the emitter holds for its next burst first (``obskit.flush()``),
        instead of waiting for its sender thread.
        """
        if flush:
            obskit.flush()
        docs = []
        for _ in range(n):
            data = self.sock.recv(70_000)
            self.sizes.append(len(data))
            header, sep, body = data.partition(b"\n")
            assert sep == b"\n"
            assert header == HEADER
            docs.append(json.loads(body))
        return docs

    def nothing_more_than(self, ids: list[str]) -> bool:
        """Receive one more document into ``ids`` (its id and its embedded ones); ``True`` when none came."""
        self.sock.settimeout(0.3)
        try:
            data = self.sock.recv(70_000)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(2.0)
        doc = json.loads(data.partition(b"\n")[2])
        stack = [doc]
        while stack:
            entry = stack.pop()
            ids.append(entry["id"])
            stack.extend(entry.get("subsegments", ()))
        return False

    def ready(self) -> int:
        """How many datagrams are in the socket now, without waiting; their documents go to ``last``."""
        self.last: list[dict[str, Any]] = []
        self.sock.setblocking(False)
        try:
            while True:
                self.last.append(json.loads(self.sock.recv(70_000).partition(b"\n")[2]))
        except BlockingIOError:
            return len(self.last)
        finally:
            self.sock.settimeout(2.0)

    def nothing_more(self) -> bool:
        self.sock.settimeout(0.2)
        try:
            self.sock.recv(70_000)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(2.0)
        return False


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    d = Daemon()
    yield d
    d.sock.close()
