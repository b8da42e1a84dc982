"""pytest fixtures for applications that use obskit, registered through the ``pytest11`` entry point.

Imports: pytest (this module is only loaded by pytest) and ``obskit.testing``.

Installing obskit makes two fixtures available in every test suite, with nothing to import:

``obskit_capture``
    obskit reset, then every log line, EMF document and span of the test captured in memory
    (an ``obskit.testing.Capture``); reset again afterwards, so no test leaks configuration,
    cold-start state or buffered metrics into the next.

``lambda_context``
    an ``obskit.testing.LambdaContext``: the attributes of Lambda's context object and a real
    ``get_remaining_time_in_millis()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit.testing import Capture, LambdaContext, capture, reset

__all__ = ["lambda_context", "obskit_capture"]


@pytest.fixture
def obskit_capture() -> Iterator[Capture]:
    """Everything obskit writes during the test, in memory; obskit is reset before and after."""
    reset()
    try:
        with capture() as cap:
            yield cap
    finally:
        reset()


@pytest.fixture
def lambda_context() -> LambdaContext:
    """A Lambda context object with 30 s left."""
    return LambdaContext()
