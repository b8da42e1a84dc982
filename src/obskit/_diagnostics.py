"""Counters of what obskit dropped, clipped or failed to send, and why.

Imports: standard library only.

Telemetry never raises into the application, but nothing may be lost silently either: every
drop is counted here under a dotted key (``metrics.dropped.non_finite``,
``propagation.malformed.traceparent``, ``emitter.xray.failure``) and reported once on the
``obskit`` logger (stderr by default: stdout is the EMF and log channel). Users read the counters
with ``obskit.diagnostics()``; a health endpoint or a test can assert on them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["count", "diagnostics", "incr", "report_once", "reset"]

_lock = threading.Lock()
_counts: dict[str, int] = {}
_reported: set[str] = set()


def incr(key: str, n: int = 1) -> None:
    """Add ``n`` to counter ``key``. Cheap enough for the request path (drops are rare)."""
    with _lock:
        _counts[key] = _counts.get(key, 0) + n


def report_once(key: str, message: str, *args: object) -> None:
    """Log ``message % args`` as a warning on the ``obskit`` logger, once per ``key`` per process.

    Never raises: a broken logging configuration must not turn a dropped datum into an
    application error.
    """
    if key in _reported:
        return
    with _lock:
        if key in _reported:
            return
        _reported.add(key)
    try:
        import logging  # lazily: `logging` costs 8 ms of import time and drops are rare

        logging.getLogger("obskit").warning(message, *args)
    except Exception:  # noqa: S110 - a broken logging setup must not become an app error
        pass


def count(key: str, message: str, *args: object, n: int = 1) -> None:
    """Count ``n`` under ``key`` and report ``message % args`` once: the usual pair for a drop."""
    incr(key, n)
    report_once(key, message, *args)


def diagnostics() -> Mapping[str, int]:
    """A snapshot of every counter: what was dropped, clipped or failed, and why.

    Returns:
        A read-only mapping from dotted counter names to counts; counters that never moved
        are absent.
    """
    with _lock:
        return MappingProxyType(dict(_counts))


def reset() -> None:
    """Zero every counter and forget which reports were made (tests, ``obskit.testing.reset``)."""
    with _lock:
        _counts.clear()
        _reported.clear()
