"""A UDP listener on 127.0.0.1 standing in for the X-Ray daemon."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

HEADER = b'{"format":"json","version":1}'


class Daemon:
    """Receives datagrams and checks the daemon protocol on each."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2.0)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sizes: list[int] = []

    def receive(self, n: int = 1) -> list[dict[str, Any]]:
        """The next ``n`` documents, each checked for the header line and one JSON body."""
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
