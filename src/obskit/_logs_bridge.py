"""The standard library bridge: one handler on the root logger that writes obskit's line.

Imports: standard library (``logging``) and ``obskit.logs``. Imported only by an explicit
``configure()`` that bridges, because ``logging`` alone costs about 10 ms of import time.

Records from any ``logging`` logger that reaches the root (botocore, urllib3, sqlalchemy,
your own) become the same JSON line as ``obskit.get_logger()`` writes, with the trace ids of
the context they were logged in, ``extra={...}`` fields, redaction and buffering.

What it does to your logging setup, and undoes in ``obskit.testing.reset()``:

- adds exactly one handler to the root logger; a second ``configure()`` replaces it, so lines
  are never doubled;
- sets the root logger's level to obskit's ``log_level`` (records must reach the handler);
- in ``replace`` mode (the default in Lambda, whose runtime puts a plain-text handler on the
  root logger) takes the other root handlers off, and puts them back on reset;
- leaves every named logger, its level, its handlers and ``propagate`` alone: a library that
  does not propagate (uvicorn's access logger) keeps writing its own way.

Records of the ``obskit`` logger (obskit's own diagnostics) go through the handler too; a
record logged while the handler is already writing one in the same thread is dropped and
counted (``logs.bridge_recursion``), so a failing stream can never loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextvars import Token
from typing import Any

from obskit import _diagnostics, logs
from obskit._context import CURRENT, EXCEPTION_CONTEXT_ATTR, TelemetryContext

__all__ = ["ObskitHandler", "install", "uninstall"]

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName", "color_message"}
"""Record attributes that are not fields: the standard ones, and uvicorn's ``color_message`` (its
message again, with terminal colour escapes)."""


class ObskitHandler(logging.Handler):
    """Turns a ``LogRecord`` into obskit's line (ids, fields, redaction, buffering)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self._busy = threading.local()

    def handle(self, record: logging.LogRecord) -> Any:
        # No handler lock: obskit writes each line with one write() call, and the lock would
        # serialise every thread of the process on logging.
        if not self.filter(record):
            return False
        self.emit(record)
        return record

    def emit(self, record: logging.LogRecord) -> None:
        busy = self._busy
        if getattr(busy, "active", False):
            _diagnostics.incr("logs.bridge_recursion")
            return
        busy.active = True
        try:
            try:
                message: Any = record.getMessage()
            except Exception:
                _diagnostics.incr("logs.bad_format")
                message = f"{record.msg!s} {record.args!r}"
            if message.__class__ is str and message.endswith("\n"):
                message = message.rstrip("\n")  # a plain-text habit (uvicorn's, before its traceback)
            extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
            token = _context_of(record)
            try:
                logs._emit_record(
                    record.name, record.levelno, record.levelname, message, extra,
                    record.exc_info, record.stack_info,
                )
            finally:
                if token is not None:
                    CURRENT.reset(token)
        except Exception:
            _diagnostics.incr("logs.bridge_failure")
        finally:
            busy.active = False


LOG_CONTEXTS: dict[str, Callable[[logging.LogRecord], TelemetryContext | None]] = {}
"""Logger name -> how to find the context a record of that logger was about, when the library
logs it after obskit's span stopped being current (httpx's "HTTP Request" line comes after the
transport returned). Integrations register here; the handler makes that context current."""


def _context_of(record: logging.LogRecord) -> Token[TelemetryContext] | None:
    token = _request_of(record.exc_info)
    if token is None and LOG_CONTEXTS:
        find = LOG_CONTEXTS.get(record.name)
        if find is not None:
            try:
                ctx = find(record)
            except Exception:
                ctx = None
            if ctx is not None:
                return CURRENT.set(ctx)
    return token


def _request_of(exc_info: Any) -> Token[TelemetryContext] | None:
    """Outside any request, make current the context of the request an exception escaped from.

    A server logs a request's unhandled exception after the request is over (uvicorn's
    "Exception in ASGI application"); the request scope marked the exception with its context,
    so that line carries the request's ids too. Returns the token to reset, or ``None``.
    """
    if not exc_info or CURRENT.get().is_valid:
        return None
    exc = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else exc_info
    ctx = getattr(exc, EXCEPTION_CONTEXT_ATTR, None)
    return CURRENT.set(ctx) if isinstance(ctx, TelemetryContext) else None


_handler: ObskitHandler | None = None
_saved_level: int | None = None
_removed: list[logging.Handler] = []


def install(level: int, *, replace: bool) -> None:
    """Put obskit's handler on the root logger (once) and set the root level to ``level``."""
    global _handler, _saved_level
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, ObskitHandler) and h is not _handler:
            root.removeHandler(h)  # left by an earlier copy of this module (reload)
    if _handler is None:
        _handler = ObskitHandler()
    if _saved_level is None:
        _saved_level = root.level
    if replace:
        for h in list(root.handlers):
            if h is not _handler:
                root.removeHandler(h)
                _removed.append(h)
    elif _removed:
        _restore_removed(root)
    if _handler not in root.handlers:
        root.addHandler(_handler)
    root.setLevel(level)


def _restore_removed(root: logging.Logger) -> None:
    while _removed:
        h = _removed.pop(0)
        if h not in root.handlers:
            root.addHandler(h)


def uninstall() -> None:
    """Take obskit's handler off, put back removed handlers and the root level."""
    global _handler, _saved_level
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler = None
    _restore_removed(root)
    if _saved_level is not None:
        root.setLevel(_saved_level)
        _saved_level = None
