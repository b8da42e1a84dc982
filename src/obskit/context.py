"""Read and scope the telemetry context: current(), activate(), bound(), new_trace(), executors.

Imports: standard library and obskit's core (``_context``, ``ids``, ``_pipeline``).

Every writer follows one rule: set a new immutable context, keep the token, reset it in
``finally``. So nested scopes restore the outer context on exit, also on exceptions, and no
asyncio task or thread can change what its parent sees.

Thread pools do not inherit ``contextvars``: submit work through ``run_in_context`` or a
``ContextThreadPoolExecutor`` so log lines and spans in the worker carry the caller's ids.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from obskit import _diagnostics, _pipeline
from obskit._context import CURRENT, EMPTY_CONTEXT, TelemetryContext, make_context

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

# ContextThreadPoolExecutor is public too, built on first access (see __getattr__).
__all__ = [
    "activate",
    "bound",
    "current",
    "new_trace",
    "run_in_context",
]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


def current() -> TelemetryContext:
    """The telemetry context of the running code.

    Outside any trace this is a context whose ``is_valid`` is ``False`` (an all-zero trace id):
    log lines then carry no ids instead of ids that no trace will ever have.
    """
    return CURRENT.get()


def new_trace(
    *,
    sampled: bool | None = None,
    correlation_id: str | None = None,
    baggage: Mapping[str, str] | None = None,
) -> TelemetryContext:
    """A context for a new trace: fresh epoch-prefixed trace id, no parent span.

    The ids come from the configured ``IdGenerator`` (``configure(id_generator=...)``), so
    tests can make them deterministic. Bound fields of the current context are kept: they
    describe the code that starts the trace, not the trace.
    """
    rt = _pipeline.get()
    tid = rt.ids.trace_id()
    given: Any = sampled  # typed bool, but callers pass what they have
    if given is not None and given.__class__ is not bool:
        sampled = _checked(bool, given)
    if sampled is None:
        sampled = rt.sample(tid) is not False  # True, or the name of the X-Ray rule that sampled it
    if correlation_id is not None and correlation_id.__class__ is not str:
        correlation_id = _checked(_as_text, correlation_id)
    if baggage is not None:
        baggage = _checked(_text_pairs, baggage)
    return make_context(
        f"{tid:032x}", None, sampled, correlation_id=correlation_id, baggage=baggage, fields=CURRENT.get().fields,
        random_flag=True,
    )


def _as_text(value: Any) -> str | None:
    return str.__str__(value) if isinstance(value, str) else None


def _text_pairs(mapping: Any) -> dict[str, str]:
    items = list(mapping.items())
    kept = {k: v for k, v in items if isinstance(k, str) and isinstance(v, str)}
    if len(kept) != len(items):
        _diagnostics.incr(DIAG_BAD_ARGUMENT)
    return kept


def _checked(fn: Callable[[Any], Any], value: Any) -> Any:
    """``fn(value)``, or ``None`` (counted) when the argument cannot be read that way: never raised."""
    try:
        out = fn(value)
    except Exception:
        out = None
    if out is None:
        _diagnostics.incr(DIAG_BAD_ARGUMENT)
    return out


DIAG_BAD_ARGUMENT = "context.bad_argument"


class activate:
    """Make ``ctx`` the current context inside a ``with`` block; the outer one returns after.

    A class rather than ``@contextmanager``: this sits on every request's path and a
    generator-based context manager costs several times as much.
    """

    __slots__ = ("_ctx", "_token")

    def __init__(self, ctx: TelemetryContext) -> None:
        given: Any = ctx
        if given.__class__ is not TelemetryContext and not isinstance(given, TelemetryContext):
            _diagnostics.incr(DIAG_BAD_ARGUMENT)  # not a context: the block runs in the current one
            ctx = CURRENT.get()
        self._ctx = ctx
        self._token: contextvars.Token[TelemetryContext] | None = None

    def __enter__(self) -> TelemetryContext:
        self._token = CURRENT.set(self._ctx)
        return self._ctx

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            CURRENT.reset(token)


class bound:
    """Bind log fields for the duration of a block or a function call (sync or async).

    Example::

        with obskit.bound(order_id=7):
            log.info("charged")          # carries order_id=7

        @obskit.bound(job="nightly")
        async def run(): ...

    The fields live in the immutable context, so concurrent requests never see each
    other's fields and nothing is left behind when the block ends.
    """

    __slots__ = ("_fields", "_tokens")

    def __init__(self, **fields: Any) -> None:
        self._fields = fields
        self._tokens: list[contextvars.Token[TelemetryContext]] = []

    def __enter__(self) -> Mapping[str, Any]:
        ctx = CURRENT.get()
        merged = MappingProxyType({**ctx.fields, **self._fields})
        new = ctx.with_fields(merged)
        self._tokens.append(CURRENT.set(new))
        return merged

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tokens:
            CURRENT.reset(self._tokens.pop())

    def __call__(self, fn: F) -> F:
        fields = self._fields
        if is_coroutine_function(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with bound(**fields):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with bound(**fields):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def run_in_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``fn`` so it runs in a copy of the *caller's* context, wherever it is called.

    Use it for ``loop.run_in_executor(None, run_in_context(work))`` or any callback handed to
    another thread: the worker's log lines and spans then carry the caller's ids.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return wrapper


_CO_COROUTINE = 0x80
_CO_GENERATOR = 0x20
_CO_ASYNC_GENERATOR = 0x200


def _code_flags(fn: Any) -> int:
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    return code.co_flags if code is not None else 0


def is_coroutine_function(fn: Any) -> bool:
    """``inspect.iscoroutinefunction`` without importing ``inspect`` (8 ms of import time)."""
    return bool(_code_flags(fn) & _CO_COROUTINE) or getattr(fn, "_is_coroutine", None) is not None


def is_generator_function(fn: Any) -> bool:
    """Whether calling ``fn`` returns a generator."""
    return bool(_code_flags(fn) & _CO_GENERATOR)


def is_async_generator_function(fn: Any) -> bool:
    """Whether calling ``fn`` returns an async generator."""
    return bool(_code_flags(fn) & _CO_ASYNC_GENERATOR)


def _make_executor_class() -> type[ThreadPoolExecutor]:
    from concurrent.futures import Future, ThreadPoolExecutor

    class ContextThreadPoolExecutor(ThreadPoolExecutor):
        """A ``ThreadPoolExecutor`` whose tasks run in a copy of the submitter's context.

        Plain thread pools do not inherit ``contextvars``; with this one, log lines and
        spans in the worker carry the ids of the code that submitted the task.
        """

        def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
            ctx = contextvars.copy_context()
            return super().submit(ctx.run, fn, *args, **kwargs)

    ContextThreadPoolExecutor.__module__ = __name__
    return ContextThreadPoolExecutor


def __getattr__(name: str) -> Any:
    # concurrent.futures costs 12 ms of import time: build the class on first use.
    if name == "ContextThreadPoolExecutor":
        cls = _make_executor_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _reset_current() -> None:
    """Return the calling context to 'no trace' (``obskit.testing.reset``)."""
    CURRENT.set(EMPTY_CONTEXT)
