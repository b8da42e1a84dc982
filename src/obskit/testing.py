"""Test helpers: capture every signal in memory, reset global state, deterministic ids and time.

Imports: standard library and obskit's core; the in-memory emitters are loaded by name.

Use it in your own tests as we do in ours::

    from obskit.testing import capture

    def test_checkout_logs_the_order():
        with capture() as cap:
            checkout(order_id=7)
        assert cap.logs[-1]["order_id"] == 7
        assert cap.metric_values("Latency")

``capture()`` keeps the configuration you set (service, namespace, environment, ...) and routes
logs, EMF documents and spans to lists, exactly as they would have been written.

The rule for metrics: **a finished request's metrics are in ``cap.metrics`` as soon as the
request is over**, on a server as in Lambda. A server normally gathers requests into one EMF
document per flush interval; under ``capture()`` that interval ends with every request, so a
test reads ``cap.metric_values("Fault")`` right after ``client.get(...)`` without calling
``obskit.flush()``. Metrics recorded outside any request are flushed when the block ends (or by
``obskit.flush()``). ``capture(per_request=False)`` keeps the server's aggregation, to test the
documents a server really writes. ``reset()``
puts obskit back to its unconfigured state; call it between tests (an autouse fixture).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from obskit import _diagnostics, _pipeline, config
from obskit._context import SCOPE
from obskit.context import _reset_current

__all__ = ["Capture", "FixedClock", "LambdaContext", "SequentialIdGenerator", "capture", "reset"]


class Capture:
    """What ``capture()`` collected. Lists fill in the order things were written."""

    def __init__(self, *, per_request: bool = True) -> None:
        self.per_request = per_request
        """Whether a server request's metrics are written as it ends (see the module docstring)."""
        self.logs: list[dict[str, Any]] = []
        """Log lines as dicts, as they would have been written (after redaction and rendering)."""
        self.metrics: list[dict[str, Any]] = []
        """EMF documents as dicts, one per document written."""
        self.spans: list[dict[str, Any]] = []
        """Finished spans: ``name``, ``trace_id``, ``span_id``, ``parent_span_id``, ``kind``,
        ``attributes``, ``status``, ``start_ns``, ``end_ns`` and more."""
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget everything captured so far."""
        self.logs.clear()
        self.metrics.clear()
        self.spans.clear()

    def metric_values(self, name: str, dimensions: Mapping[str, str] | None = None) -> list[float]:
        """Every value recorded for metric ``name`` (optionally only where dimensions match).

        Reads the EMF documents, so it checks what CloudWatch would extract: a metric
        counts only if a directive declares it.
        """
        out: list[float] = []
        for doc in self.metrics:
            directives = doc.get("_aws", {}).get("CloudWatchMetrics", [])
            declared = {m.get("Name") for d in directives for m in d.get("Metrics", [])}
            if name not in declared or name not in doc:
                continue
            if dimensions and any(doc.get(k) != v for k, v in dimensions.items()):
                continue
            value = doc[name]
            out.extend(value if isinstance(value, list) else [value])
        return out

    def spans_named(self, name: str) -> list[dict[str, Any]]:
        """Finished spans with this name."""
        return [s for s in self.spans if s.get("name") == name]

    def logs_with(self, **fields: Any) -> list[dict[str, Any]]:
        """Log lines whose fields include all of ``fields``."""
        return [line for line in self.logs if all(line.get(k) == v for k, v in fields.items())]


@contextmanager
def capture(*, per_request: bool = True, **overrides: Any) -> Iterator[Capture]:
    """Route logs, metrics and spans to memory for the duration of the block.

    Args:
        per_request: write a server request's metrics as soon as it ends (the default), or
            keep the server's aggregation into one document per flush interval (``False``).
        **overrides: ``configure()`` arguments to apply on top of the current configuration
            while capturing (e.g. ``log_level="DEBUG"``).

    Yields:
        The ``Capture`` whose lists fill as telemetry is written. Buffered metrics are
        flushed into it when the block ends.
    """
    cap = Capture(per_request=per_request)
    args = {**config.last_arguments(), **overrides}
    args.pop("traces", None)
    args.pop("metrics", None)
    if args.get("logs") in (None, "none"):
        args["logs"] = "json"
    cfg = config.resolve({**args, "traces": "none", "metrics": "none"})
    runtime = config.build_runtime(cfg, capture=cap)
    previous = _pipeline.install(runtime)
    was_explicit = config.is_explicit()
    config._notify(runtime, explicit=True)
    try:
        yield cap
    finally:
        _pipeline.flush()
        if runtime.sampler is not None:
            runtime.sampler.close()  # its own X-Ray sampling poller, if it started one
        if previous is None:
            _pipeline.clear()
        else:
            _pipeline.install(previous)
            config._notify(previous, explicit=was_explicit)


def reset() -> None:
    """Return obskit to its unconfigured state: defaults, no emitters, counters at zero.

    Flushes and closes the live emitters, forgets ``configure()`` arguments, zeroes
    ``obskit.diagnostics()``, resets cold-start flags and buffers, and clears the calling
    context. Call it between tests.
    """
    old = _pipeline.clear()
    _pipeline.close_emitters(old, timeout_s=1.0)
    config.forget_arguments()
    _pipeline.run_reset_hooks()
    _diagnostics.reset()
    _reset_current()
    SCOPE.set(None)


class SequentialIdGenerator:
    """Deterministic ids for tests: trace ids ``{epoch:08x}00..01``, ``..02``; span ids 1, 2, ...

    Args:
        epoch: the epoch seconds in the first 32 bits of every trace id.
    """

    def __init__(self, epoch: int = 0x5759E988) -> None:
        self._epoch = epoch << 96
        self._traces = itertools.count(1)
        self._spans = itertools.count(1)

    def trace_id(self) -> int:
        return self._epoch | next(self._traces)

    def span_id(self) -> int:
        return next(self._spans)


class FixedClock:
    """A clock that only moves when told to; pass it as ``configure(clock=...)``."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, *, seconds: float = 0.0, ms: float = 0.0) -> None:
        """Move the clock forward."""
        self.now_ns += int(seconds * 1e9 + ms * 1e6)


class LambdaContext:
    """A stand-in for the context object Lambda passes to a handler, for tests and local runs.

    It has the documented attributes and ``get_remaining_time_in_millis()``, counting down from
    ``timeout_s`` in real time, so the timeout guard of ``instrument_handler`` can be exercised.

    Args:
        function_name: also used in the ARN, log group and stream.
        timeout_s: the time left when the invocation starts.
        aws_request_id: a fresh UUID when not given.
        region, account_id, memory_limit_in_mb, function_version: the rest of the identity.
    """

    def __init__(
        self,
        function_name: str = "orders",
        *,
        timeout_s: float = 30.0,
        aws_request_id: str | None = None,
        region: str = "eu-west-1",
        account_id: str = "111111111111",
        memory_limit_in_mb: int = 256,
        function_version: str = "$LATEST",
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2026/01/01/[{function_version}]0123456789abcdef"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the (simulated) function timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))
