"""Flask: ``instrument(app)`` wraps ``app.wsgi_app`` and names each request by its URL rule.

Imports: standard library, Flask, and ``obskit.integrations.wsgi``.

Three hooks, each doing one thing:

* ``app.wsgi_app`` is wrapped by obskit's WSGI middleware (span, access line, metrics, the
  end of a streamed body);
* at ``start_response`` the middleware reads the matched ``url_rule`` from the request Flask
  keeps in the environ and names the request ``GET /orders/{order_id}`` (Flask writes
  ``/orders/<int:order_id>``; the Operation uses the ``{name}`` form every other integration
  and X-Ray use), unless the app named it already. Not a ``before_request`` function: Flask
  would wrap and call it on every request, and the name is only needed at the end;
* ``got_request_exception`` records an unhandled exception on the span (and names the
  request, which a propagated exception never brings to ``start_response``). Flask turns it
  into a 500 response (unless ``PROPAGATE_EXCEPTIONS``), so without the signal the middleware
  would see only the status. Error handlers and ``abort()`` need nothing: their status is
  what ``start_response`` receives.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import Flask, got_request_exception, request

from obskit.integrations.wsgi import ObskitMiddleware
from obskit.scope import current_request

__all__ = ["instrument", "route_template", "uninstrument"]

App = TypeVar("App", bound=Flask)

_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
_templates: dict[str, str] = {}
_MAX_CACHED = 4096


def route_template(rule: str) -> str:
    """Flask's rule in ``{name}`` form: ``/orders/<int:order_id>`` -> ``/orders/{order_id}``."""
    got = _templates.get(rule)
    if got is None:
        got = _CONVERTER.sub(r"{\1}", rule)
        if len(_templates) < _MAX_CACHED:  # rules are few; a bound keeps a misuse from growing it
            _templates[rule] = got
    return got


def _route_of(environ: dict[str, Any]) -> str | None:
    """The matched rule's template, from the request Flask keeps in the environ until teardown."""
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    return None if rule is None else route_template(rule.rule)


def _record_exception(sender: Any, exception: BaseException | None = None, **_: Any) -> None:
    req = current_request()
    if req is not None and exception is not None:
        req.exception = exception
        if req.route is None:  # a propagated exception never reaches start_response: name it now
            rule = request.url_rule
            if rule is not None:
                req.set_route(route_template(rule.rule))


def instrument(app: App, **options: Any) -> App:
    """Trace, log and measure every request of a Flask ``app``.

    Example::

        app = Flask(__name__)
        obskit.integrations.flask.instrument(app)

    Calling it twice does nothing the second time.

    Args:
        app: the Flask application.
        **options: see ``obskit.integrations.wsgi.ObskitMiddleware``; the hooks receive the
            WSGI environ.

    Returns:
        The same app, for chaining.

    Raises:
        ConfigError: for an unknown option or a bad value.
    """
    if app.extensions.get("obskit") is not None:
        return app
    middleware = ObskitMiddleware(app.wsgi_app, **options)
    middleware._route_of = _route_of
    app.wsgi_app = middleware  # type: ignore[method-assign]
    got_request_exception.connect(_record_exception, app, weak=False)
    app.extensions["obskit"] = middleware
    return app


def uninstrument(app: App) -> App:
    """Undo ``instrument(app)``: the original ``wsgi_app`` back, the signal receiver disconnected.

    When other middleware wrapped ``app.wsgi_app`` after obskit's, only the signal is
    disconnected and obskit's middleware stays inside theirs (it cannot be taken out from under
    them); the next ``instrument`` then does nothing. Calling it on an app that is not
    instrumented does nothing.

    Returns:
        The same app.
    """
    middleware: ObskitMiddleware | None = app.extensions.get("obskit")
    if middleware is None:
        return app
    got_request_exception.disconnect(_record_exception, app)
    inner = middleware.app
    if app.wsgi_app is middleware:
        app.wsgi_app = inner  # type: ignore[method-assign]
        del app.extensions["obskit"]
    return app

