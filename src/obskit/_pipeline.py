"""The live runtime: configuration, id generator, clock and emitters, swapped atomically.

Imports: standard library and obskit's stdlib-only core. Emitter modules are imported by name
(``"module:attr"`` strings, the uvicorn way) only when they are configured, so an unused
emitter costs nothing and a missing extra fails at ``configure()`` time with the fix.

Every signal module reads one global, ``RUNTIME``, through ``get()``. ``configure()`` builds a
complete new ``Runtime`` and assigns it in one step, so a request never sees half a
configuration. Emitters receive finished records and never reach back into the core; each
call into an emitter is isolated here: an exception is counted in ``obskit.diagnostics()``
and reported once, never raised into the application.
"""

from __future__ import annotations

import atexit
import importlib
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from obskit import _diagnostics
from obskit.ids import RandomIdGenerator

if TYPE_CHECKING:
    from obskit.config import Config
    from obskit.ids import Clock, IdGenerator
    from obskit.testing import Capture

__all__ = [
    "RUNTIME", "PerConfig", "Runtime", "flush", "flush_stdio", "freeze_flush", "get", "shutdown", "start_flusher",
    "stop_flusher",
]

# Built-in emitters: configuration name -> "module:factory". Third-party emitters register
# factories under the entry-point group "obskit.emitters" as "traces.NAME" or "metrics.NAME".
TRACE_EMITTERS: dict[str, str] = {
    "xray": "obskit.emitters.xray:create",
    "otel": "obskit.emitters.otel:create",
    "memory": "obskit.emitters.memory:create_span_emitter",
}
METRIC_EMITTERS: dict[str, str] = {
    "stdout": "obskit.emitters.emf:create_stdout",
    "agent": "obskit.emitters.emf:create_agent",
    "file": "obskit.emitters.emf:create_file",
    "memory": "obskit.emitters.emf:create_memory",
}


_RESERVOIR_MEMORY = 1024
"""Trace ids a runtime remembers the reservoir took: siblings deciding the same trace come soon after."""


class Runtime:
    """Everything the request path needs, fixed for the life of one configuration."""

    __slots__ = (
        "_reservoir",
        "_taken",
        "_threshold",
        "_window",
        "capture",
        "clock",
        "config",
        "ids",
        "metric_emitter",
        "sample",
        "sampler",
        "span_emitters",
    )

    def __init__(
        self,
        config: Config,
        ids: IdGenerator,
        clock: Clock,
        span_emitters: Sequence[Any] = (),
        metric_emitter: Any = None,
        capture: Capture | None = None,
    ) -> None:
        self.config = config
        self.ids = ids
        self.clock = clock
        self.span_emitters: tuple[Any, ...] = tuple(span_emitters)
        """``SpanEmitter``s: ``on_start(record)``, ``on_end(record)``, ``flush(timeout_s)``, ``close()``."""
        self.metric_emitter = metric_emitter
        """The ``MetricEmitter`` (``emit(batch)``, ``flush(timeout_s)``, ``close()``), or ``None``."""
        self.capture = capture
        """Set inside ``obskit.testing.capture()``: every signal also lands in its lists."""
        rate = config.trace_sample_rate
        self._threshold = -1 if rate >= 1.0 else int(rate * (1 << 56))
        self._reservoir = config.trace_reservoir_per_s
        self._window: tuple[int, Iterator[int]] = (-1, itertools.count())
        """The second the reservoir is counting (clock seconds) and its counter."""
        self._taken: dict[int, None] = {}
        """Trace ids the reservoir took, oldest first (at most ``_RESERVOIR_MEMORY``)."""
        self.sampler: Any = None
        """``trace_sampler="xray"``: the ``obskit.sampling.XRaySampler`` (``sample``, ``close``, ``after_fork``)."""
        self.sample: Callable[..., bool | str] = self._ratio
        """``sample(trace_id, attributes=None)``: the head-sampling decision for a new trace.

        ``True``/``False``, or the name of the X-Ray sampling rule that sampled it (the root
        span records it). ``attributes`` are the new root span's (method, path, host...).
        """
        if config.options.get("trace_sampler") == "xray":
            self.sampler = load("obskit.sampling:create")(config)
            self.sample = self.sampler.sample

    def _ratio(self, trace_id: int, attributes: Any = None) -> bool:
        """The head-sampling decision of ``trace_sampler="ratio"``: the ratio, then the reservoir.

        The ratio uses the trace id's low 56 bits, which are random in every id obskit makes
        and, by the W3C Level 2 random flag, in every id that arrives flagged random: the
        decision is the same wherever it is made. The reservoir (``trace_reservoir_per_s``)
        then takes, each clock second, up to that many traces the ratio declined, as X-Ray's
        sampling rules do. It is per process and takes no lock (``next()`` on a counter is
        atomic under the GIL): threads racing at a second's turn may each take one extra. A
        trace it took stays taken here, so spans deciding the same undecided trace (siblings
        under a ``Sampled=?`` or Root-only X-Ray parent) agree.
        """
        if self._threshold < 0 or (trace_id & 0xFFFFFFFFFFFFFF) < self._threshold:
            return True
        if not self._reservoir:
            return False
        taken = self._taken
        if trace_id in taken:
            return True
        sec = self.clock() // 1_000_000_000
        window = self._window
        if window[0] != sec:
            window = self._window = (sec, itertools.count())
        if next(window[1]) >= self._reservoir:
            return False
        taken[trace_id] = None
        if len(taken) > _RESERVOIR_MEMORY:
            try:
                del taken[next(iter(taken))]
            except (KeyError, RuntimeError, StopIteration):  # another thread trimmed it first
                pass
        return True

    @property
    def tracing(self) -> bool:
        """Whether any span emitter is configured (spans are still created for their ids)."""
        return bool(self.span_emitters)


RUNTIME: Runtime | None = None
_lock = threading.RLock()
_flush_hooks: list[Callable[[], None]] = []
_reset_hooks: list[Callable[[], None]] = []
_fork_hooks: list[Callable[[], None]] = []
_process_hooks_installed = False


def get() -> Runtime:
    """The live runtime; on first use without ``configure()``, one built from the environment."""
    rt = RUNTIME
    if rt is None:
        rt = _default()
    return rt


def _default() -> Runtime:
    from obskit import config as _config

    with _lock:
        if RUNTIME is not None:
            return RUNTIME
        return _config.configure_implicitly()


def install(runtime: Runtime) -> Runtime | None:
    """Make ``runtime`` live in one assignment; return the one it replaced."""
    global RUNTIME
    with _lock:
        old, RUNTIME = RUNTIME, runtime
        _install_process_hooks(runtime)
    return old


def clear() -> Runtime | None:
    """Forget the live runtime (the next use builds the default again); return the old one."""
    global RUNTIME
    with _lock:
        old, RUNTIME = RUNTIME, None
    return old


def load(target: str) -> Any:
    """Import ``"module:attr"`` and return the attribute."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_T = TypeVar("_T")


class PerConfig(Generic[_T]):
    """A value derived from the configuration in force, built once per ``Config`` object.

    Calling it compares the live configuration by identity and calls ``build(config)`` again
    only when ``configure()`` (or a capture) installed a new one; ``obskit.testing.reset()``
    forgets the value. For the request path's derived settings (a compiled allowlist, header
    patterns, a propagator): no lock, a lost race only builds the value twice.
    """

    __slots__ = ("_build", "_cfg", "_value")

    def __init__(self, build: Callable[[Config], _T]) -> None:
        self._build = build
        self._cfg: Any = None
        self._value: Any = None
        on_reset(self.clear)

    def __call__(self) -> _T:
        rt = RUNTIME
        cfg = (rt if rt is not None else get()).config
        if cfg is not self._cfg:
            value = self._build(cfg)
            self._value, self._cfg = value, cfg
            return value
        return self._value  # type: ignore[no-any-return]

    def clear(self) -> None:
        self._cfg = self._value = None


# --- hooks that signal modules register when they are imported --------------------------------
def on_flush(fn: Callable[[], None]) -> None:
    """Run ``fn`` at the start of ``flush()`` (e.g. to hand process-level metric buffers over)."""
    if fn not in _flush_hooks:
        _flush_hooks.append(fn)


def on_reset(fn: Callable[[], None]) -> None:
    """Run ``fn`` in ``obskit.testing.reset()`` (cold-start flags, buffers, caches)."""
    if fn not in _reset_hooks:
        _reset_hooks.append(fn)


def on_fork(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a child process after ``fork`` (drop inherited buffers, locks, sockets)."""
    if fn not in _fork_hooks:
        _fork_hooks.append(fn)


def run_reset_hooks() -> None:
    for fn in list(_reset_hooks):
        _safely(fn, "reset")


def _safely(fn: Callable[..., Any], what: str, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        _diagnostics.incr(f"pipeline.{what}_failure")
        _diagnostics.report_once(f"pipeline.{what}.{name}", "obskit: %s hook %s failed: %r", what, name, exc)
        return None


# --- emitter calls, isolated -----------------------------------------------------------------
def emitter_failed(emitter: Any, what: str, exc: BaseException) -> None:
    """Count and report (once per emitter and operation) an exception raised by an emitter."""
    name = getattr(emitter, "name", type(emitter).__name__)
    _diagnostics.incr(f"emitter.{name}.{what}_failure")
    _diagnostics.report_once(
        f"emitter.{name}.{what}",
        "obskit: emitter %s failed in %s: %r (counted; further failures are counted silently)",
        name, what, exc,
    )


def flush(timeout_s: float | None = None) -> bool:
    """Flush buffered telemetry of every signal and emitter; ``True`` if all finished in time.

    Call it before a Lambda freeze or at the end of a test. Never raises.
    """
    if timeout_s is not None:
        if timeout_s.__class__ not in (int, float) or math.isnan(timeout_s):
            _diagnostics.incr("flush.bad_timeout")  # a str or NaN: flush as if none were given
            timeout_s = None
        elif timeout_s > threading.TIMEOUT_MAX:
            timeout_s = None  # infinity, or longer than a lock can wait: no limit
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for fn in list(_flush_hooks):
        _safely(fn, "flush")
    rt = RUNTIME
    if rt is None:
        return True
    ok = True
    for emitter in (*rt.span_emitters, rt.metric_emitter):
        if emitter is None:
            continue
        remaining = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            done = emitter.flush(remaining if deadline is not None else None)
        except Exception as exc:
            emitter_failed(emitter, "flush", exc)
            done = False
        ok = ok and done is not False
    return flush_stdio() and ok


FREEZE_FLUSH_MAX_S = 0.5
"""The longest a Lambda invocation's own flush waits (stdout needs none; an agent or daemon that
is down must not eat the invocation's time)."""


def freeze_flush(lambda_context: Any) -> bool:
    """Flush before Lambda freezes the process: wait at most half the invocation's remaining time.

    The timeout is ``FREEZE_FLUSH_MAX_S`` or half of ``get_remaining_time_in_millis()``,
    whichever is smaller (``FREEZE_FLUSH_MAX_S`` without a usable context). Never raises.
    """
    timeout = FREEZE_FLUSH_MAX_S
    try:
        remaining = lambda_context.get_remaining_time_in_millis()
        if remaining.__class__ in (int, float) and not math.isnan(remaining):
            timeout = max(0.0, min(timeout, remaining / 2000.0))
    except Exception:  # noqa: S110 - no context, or not Lambda's: the default bound
        pass
    return flush(timeout)


def flush_stdio() -> bool:
    """Push what ``sys.stdout`` and ``sys.stderr`` buffer to their file descriptors. Never raises.

    Log lines and EMF documents are written to ``sys.stdout``, which is block-buffered (8 KB)
    when it is a pipe and ``PYTHONUNBUFFERED`` is not set: most containers, systemd, supervisors.
    """
    ok = True
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except Exception:  # closed, broken pipe, or a writer that refuses re-entry
            ok = False
    return ok


# --- the flush thread --------------------------------------------------------------------------
class _Flusher:
    """The process's flush thread (one per process; a forked child starts its own)."""

    thread: threading.Thread | None = None
    stop: threading.Event | None = None
    lock = threading.Lock()


def start_flusher() -> None:
    """Start the flush thread, once per process: on first use, never at import; callers skip Lambda.

    Every ``metrics_flush_interval`` seconds it runs the flush hooks (the metrics buffer) and
    pushes ``sys.stdout`` to its file descriptor, so a line written to stdout reaches the pipe
    within the interval whatever the stream's buffering. Flushing here and not after each
    write keeps the write path as cheap as it was: a flush per line is a system call per line
    on a pipe (README, "Delivery").
    """
    thread = _Flusher.thread
    if thread is not None and thread.is_alive():
        return
    with _Flusher.lock:
        thread = _Flusher.thread
        if thread is not None and thread.is_alive():
            return
        stop = _Flusher.stop = threading.Event()
        thread = threading.Thread(target=_flusher_loop, args=(stop,), name="obskit-flush", daemon=True)
        _Flusher.thread = thread
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down, or no thread to be had: exit and fork still flush
            _Flusher.thread = None
            _diagnostics.incr("flush.thread_unavailable")


def stop_flusher() -> None:
    """Stop the flush thread (``obskit.testing.reset``); the next use starts a new one."""
    stop, thread = _Flusher.stop, _Flusher.thread
    if stop is not None:
        stop.set()
    if thread is not None and thread is not threading.current_thread():
        thread.join(1.0)
    _Flusher.stop = _Flusher.thread = None


def _flusher_loop(stop: threading.Event) -> None:
    while True:
        rt = RUNTIME
        interval = 1.0 if rt is None else rt.config.options.get("metrics_flush_interval", 1.0)
        if stop.wait(interval):
            return
        for fn in list(_flush_hooks):
            _safely(fn, "flush")
        flush_stdio()


def close_emitters(runtime: Runtime | None, timeout_s: float | None = 5.0) -> None:
    """Flush and close the emitters (and stop the sampler) of a runtime that is being replaced or shut down."""
    if runtime is None:
        return
    if runtime.sampler is not None:
        _safely(runtime.sampler.close, "close")
    for emitter in (*runtime.span_emitters, runtime.metric_emitter):
        if emitter is None:
            continue
        try:
            emitter.flush(timeout_s)
        except Exception as exc:
            emitter_failed(emitter, "flush", exc)
        try:
            emitter.close()
        except Exception as exc:
            emitter_failed(emitter, "close", exc)


def shutdown(timeout_s: float | None = 5.0) -> None:
    """Flush everything and close every emitter. Runs at interpreter exit; safe to call twice."""
    flush(timeout_s)
    close_emitters(RUNTIME, timeout_s)


def _install_process_hooks(runtime: Runtime) -> None:
    """At the first configuration (never at import): exit flush, fork safety, a SIGTERM flush."""
    global _process_hooks_installed
    if _process_hooks_installed:
        return
    _process_hooks_installed = True
    atexit.register(shutdown)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
    if runtime.config.options.get("sigterm_flush", True) and not runtime.config.in_lambda:
        _chain_sigterm()


SIGTERM_FLUSH_S = 2.0
"""How long obskit's SIGTERM handler gives the final flush before the default action ends the process."""


def _chain_sigterm() -> None:
    """Flush on SIGTERM when the default action is in place (a plain ``python app.py`` in a container).

    Only then: a handler someone else installed (a server's, the app's) is theirs, and obskit
    never replaces it; nor is it installed outside the main thread, where Python cannot. A
    server that installs its own later and restores the previous one when it is done (uvicorn)
    hands the signal back to this one.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # an embedded interpreter without signal support
        _diagnostics.incr("flush.sigterm_unavailable")


def _on_sigterm(signum: int, frame: object) -> None:
    """Flush (on a thread, bounded), then let the default action end the process as it would have.

    The flush runs on its own thread because a signal handler runs between two bytecodes of
    the main thread, which may hold a lock the flush needs: joined with a timeout, a flush that
    cannot proceed delays the exit by ``SIGTERM_FLUSH_S`` at most, never forever.
    """
    import signal

    worker = threading.Thread(target=shutdown, args=(SIGTERM_FLUSH_S,), name="obskit-sigterm", daemon=True)
    try:
        worker.start()
        worker.join(SIGTERM_FLUSH_S + 0.5)
    except RuntimeError:
        pass
    finally:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


class _ForkedWorkers:
    """The object multiprocessing's after-fork registry is keyed on (it holds it weakly)."""


_forked_workers = _ForkedWorkers()
_exit_flush_registered = False


def _before_fork() -> None:
    """Write out what this process buffers, so that a child never writes it again.

    The buffered metrics and the bytes ``sys.stdout`` holds would otherwise be copied into
    each child and written once more by each (a ``gunicorn --preload`` master's lines, once
    per worker); the child also forgets obskit's own buffers (``_after_fork_in_child``).
    """
    for fn in list(_flush_hooks):
        _safely(fn, "fork")
    flush_stdio()
    _register_worker_exit_flush()


def _register_worker_exit_flush() -> None:
    """Before a fork by multiprocessing: its workers end with ``os._exit``, past ``atexit``.

    They run multiprocessing's own finalizers first, so obskit registers one there (from its
    after-fork registry, which a worker runs after clearing the finalizers it inherited):
    without it, what a worker buffered last (X-Ray bursts, metrics) would be lost uncounted.
    Nothing is imported: a process that has not imported multiprocessing is not forking for it.
    """
    global _exit_flush_registered
    if _exit_flush_registered:
        return
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    try:
        util.register_after_fork(_forked_workers, _in_forked_worker)
        _exit_flush_registered = True
    except Exception:
        _diagnostics.incr("fork.exit_flush_unavailable")


def _in_forked_worker(_: object) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, _flush_at_worker_exit, exitpriority=0)


def _flush_at_worker_exit() -> None:
    flush(5.0)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()
    had_flusher = _Flusher.thread is not None
    _Flusher.lock = threading.Lock()
    _Flusher.thread = _Flusher.stop = None
    rt = RUNTIME
    if rt is not None:
        reseed = getattr(rt.ids, "reseed", None)
        if reseed is not None:
            _safely(reseed, "fork")
        for emitter in (*rt.span_emitters, rt.metric_emitter, rt.sampler):
            after = getattr(emitter, "after_fork", None)
            if after is not None:
                _safely(after, "fork")
    for fn in list(_fork_hooks):
        _safely(fn, "fork")
    if had_flusher:
        start_flusher()  # the parent's does not exist here


def default_ids() -> RandomIdGenerator:
    return RandomIdGenerator()
