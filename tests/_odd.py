"""Values no caller should pass, for the tests that check obskit tolerates them."""

from __future__ import annotations


class Unprintable:
    """An object that cannot be turned into text or a truth value: both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__

    def __bool__(self) -> bool:
        raise RuntimeError("no truth")
