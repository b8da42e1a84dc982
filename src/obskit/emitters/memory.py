"""The in-memory span emitter: finished spans as dicts in a list (``obskit.testing.capture``).

Imports: standard library only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MemorySpanEmitter", "create_span_emitter"]


class MemorySpanEmitter:
    """Appends ``record.to_dict()`` to a list when a span ends; the list is the test's view."""

    name = "memory"

    def __init__(self, spans: list[dict[str, Any]]) -> None:
        self.spans = spans

    def on_start(self, record: Any) -> None:
        """Nothing to do: only finished spans are kept."""

    def on_end(self, record: Any) -> None:
        self.spans.append(record.to_dict())

    def flush(self, timeout_s: float | None = None) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release."""


def create_span_emitter(config: Any, spans: list[dict[str, Any]]) -> MemorySpanEmitter:
    """Factory used by ``obskit.testing.capture()`` (``traces="memory"``)."""
    return MemorySpanEmitter(spans)
