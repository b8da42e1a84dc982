"""FastAPI (and Starlette): ``instrument(app)`` puts obskit's ASGI middleware outermost.

Imports: standard library and ``obskit.integrations.asgi``; FastAPI itself is never imported
(any Starlette application works).

Why outermost, and not ``app.add_middleware``: Starlette always wraps user middleware in its
``ServerErrorMiddleware``, which turns an unhandled exception into the 500 response and then
re-raises it. Inside that layer a middleware sees the exception but not the 500 that the
client gets, and its span ends before the response is sent. Wrapping the whole stack that
``build_middleware_stack`` returns puts obskit around ``ServerErrorMiddleware``: it sees the
500 go out and the exception come back, so an unhandled exception is one request with
``Fault=1``, its status 500 and the exception on the span.

Sync endpoints run in Starlette's thread pool through ``anyio.to_thread``, which copies the
context: their log lines and spans carry the request's ids with nothing else to do.
"""

from __future__ import annotations

from typing import Any, TypeVar

from obskit.integrations.asgi import ObskitMiddleware
from obskit.scope import ScopeOptions

__all__ = ["instrument", "uninstrument"]

App = TypeVar("App")

_MARK = "_obskit_instrumented"
_ORIGINAL = "_obskit_original_build_middleware_stack"
_NATIVE = "_obskit_native_tracing"


def _native_tracing(app: Any, on: bool) -> bool | None:
    """Switch FastAPI's own request tracing for ``app``; returns what it was (``None``: this FastAPI has none).

    FastAPI 0.16x traces each request itself through the OpenTelemetry API as soon as a tracer
    provider is set, which obskit's OpenTelemetry bridge does: with obskit's middleware there
    too, every request would have two server spans. obskit's middleware is the app's request
    telemetry, so FastAPI's tracing is turned off for the app it instruments (its metrics and
    logs are left alone). The switch is the app's telemetry configuration
    (``FastAPI(telemetry={"tracing": False})``), read on every request.
    """
    config = getattr(app, "_telemetry", None)
    if not isinstance(config, dict) or "tracing" not in config:
        return None
    before = bool(config["tracing"])
    config["tracing"] = on
    return before


def instrument(app: App, **options: Any) -> App:
    """Trace, log and measure every HTTP request of a FastAPI or Starlette ``app``.

    Example::

        app = FastAPI()
        obskit.integrations.fastapi.instrument(app, excluded_routes=["/health"])

    Calling it twice does nothing the second time. Works before or after routes and other
    middleware are added; the middleware stack is rebuilt on the next request.

    Args:
        app: the FastAPI or Starlette application.
        **options: see ``obskit.integrations.asgi.ObskitMiddleware``.

    Returns:
        The same app, for chaining.

    Raises:
        ConfigError: for an unknown option or a bad value.
        TypeError: when ``app`` is not a Starlette application.
    """
    if getattr(app, _MARK, False):
        return app
    original = getattr(app, "build_middleware_stack", None)
    if original is None:
        raise TypeError(
            f"instrument() needs a FastAPI or Starlette application, got {type(app).__name__}; "
            "wrap other ASGI apps with obskit.integrations.asgi.ObskitMiddleware(app)"
        )
    ScopeOptions(options)  # validate now, where the mistake is made

    def build_middleware_stack() -> Any:
        return ObskitMiddleware(original(), **options)

    setattr(app, _ORIGINAL, original)
    setattr(app, _NATIVE, _native_tracing(app, False))
    app.build_middleware_stack = build_middleware_stack  # type: ignore[attr-defined]
    app.middleware_stack = None  # type: ignore[attr-defined]  # rebuilt (with us) on the next request
    setattr(app, _MARK, True)
    return app


def uninstrument(app: App) -> App:
    """Undo ``instrument(app)``: the app's own middleware stack is built again on the next request.

    Calling it on an app that is not instrumented does nothing.

    Returns:
        The same app.
    """
    original = getattr(app, _ORIGINAL, None)
    if original is None:
        return app
    app.build_middleware_stack = original  # type: ignore[attr-defined]
    app.middleware_stack = None  # type: ignore[attr-defined]
    delattr(app, _ORIGINAL)
    before = getattr(app, _NATIVE, None)
    if before is not None:
        _native_tracing(app, before)
    setattr(app, _MARK, False)
    return app
