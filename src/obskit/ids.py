"""Trace and span id generation, and the mapping between W3C and X-Ray trace ids.

Imports: standard library only.

A trace id is 128 bits whose first 32 are the epoch seconds, so every id obskit makes is valid as
a W3C trace id *and* as an X-Ray trace id (``1-{8 hex}-{24 hex}``) without translation, and
X-Ray, CloudWatch Transaction Search and log queries all join on it. (X-Ray no longer validates
the epoch part, so ids that arrive from elsewhere are accepted as they are.)
"""

from __future__ import annotations

import random as _random
import time
from typing import Protocol, runtime_checkable

__all__ = [
    "INVALID_SPAN_ID",
    "INVALID_TRACE_ID",
    "Clock",
    "IdGenerator",
    "RandomIdGenerator",
    "format_span_id",
    "format_trace_id",
    "trace_id_to_xray",
    "xray_to_trace_id",
]

INVALID_TRACE_ID = "0" * 32
INVALID_SPAN_ID = "0" * 16


@runtime_checkable
class IdGenerator(Protocol):
    """Makes ids. Inject a deterministic one through ``configure(id_generator=...)`` in tests."""

    def trace_id(self) -> int:
        """A non-zero 128-bit trace id."""
        ...

    def span_id(self) -> int:
        """A non-zero 64-bit span id."""
        ...


class Clock(Protocol):
    """Wall-clock time in nanoseconds since the epoch (``time.time_ns`` by default)."""

    def __call__(self) -> int: ...


class RandomIdGenerator:
    """Epoch-prefixed 128-bit trace ids and random 64-bit span ids.

    Uses a ``random.Random`` seeded from ``os.urandom``: ids must be unique, not secret, and
    ``getrandbits`` costs a tenth of ``os.urandom``. The generator is re-seeded in a forked
    child (see ``obskit.config``) so pre-fork workers never share a sequence.
    """

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = _random.Random().getrandbits

    def reseed(self) -> None:
        """Start a new random sequence (called in a child after ``fork``)."""
        self._bits = _random.Random().getrandbits

    def trace_id(self) -> int:
        return (int(time.time()) << 96) | (self._bits(96) or 1)

    def span_id(self) -> int:
        return self._bits(64) or 1


def format_trace_id(value: int) -> str:
    """32 lower-case hex digits."""
    return f"{value:032x}"


def format_span_id(value: int) -> str:
    """16 lower-case hex digits."""
    return f"{value:016x}"


_last_xray: tuple[str, str] = ("", "")
"""The last conversion: a request's log lines and its X-Ray documents all ask for the same trace."""


def trace_id_to_xray(trace_id: str) -> str:
    """``5759e988bd862e3fe1be46a994272793`` -> ``1-5759e988-bd862e3fe1be46a994272793``."""
    global _last_xray
    last = _last_xray
    if trace_id is last[0] or trace_id == last[0]:
        return last[1]
    xray = f"1-{trace_id[:8]}-{trace_id[8:]}"
    _last_xray = (trace_id, xray)
    return xray


def xray_to_trace_id(root: str) -> str:
    """``1-5759e988-bd862e3fe1be46a994272793`` -> ``5759e988bd862e3fe1be46a994272793`` (no checks)."""
    return root[2:10] + root[11:]
