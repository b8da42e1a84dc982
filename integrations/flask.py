"""Flask: ``instrument(app)`` wraps ``app.wsgi_app`` and names each request by its URL rule.

Imports: standard library, Flask, and ``obskit.integrations.wsgi``.

Three hooks, each doing one thing:

* ``app.wsgi_app`` is wrapped by obskit's WSGI middleware (span, access line, metrics, the
  end of a streamed body);
* a first ``before_request`` function reads ``request.url_rule.rule`` and names the request
  ``GET /orders/{order_id}`` (Flask writes ``/orders/<int:order_id>``; the Operation uses the
  ``{name}`` form every other integration and X-Ray use);
* ``got_request_exception`` records an unhandled exception on the span. Flask turns it into a
  500 response (unless ``PROPAGATE_EXCEPTIONS``), so without the signal the middleware would
  see only the status. Error handlers and ``abort()`` need nothing: their status is what
  ``start_response`` receives.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import Flask, got_request_exception, request

from obskit._context import SCOPE
from obskit.integrations.wsgi import ObskitMiddleware
from obskit.scope import current_request, request_scope

__all__ = ["instrument", "route_template"]

App = TypeVar("App", bound=Flask)

_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
_templates: dict[str, str] = {}
_MAX_CACHED = 4096
_scope_get = SCOPE.get


def route_template(rule: str) -> str:
    """Flask's rule in ``{name}`` form: ``/orders/<int:order_id>`` -> ``/orders/{order_id}``."""
    got = _templates.get(rule)
    if got is None:
        got = _CONVERTER.sub(r"{\1}", rule)
        if len(_templates) < _MAX_CACHED:  # rules are few; a bound keeps a misuse from growing it
            _templates[rule] = got
    return got


def _name_request() -> None:
    req = _scope_get()
    if isinstance(req, request_scope):
        rule = request.url_rule
        if rule is not None:
            template = _templates.get(rule.rule)
            req.set_route(template if template is not None else route_template(rule.rule))


def _record_exception(sender: Any, exception: BaseException | None = None, **_: Any) -> None:
    req = current_request()
    if req is not None and exception is not None:
        req.exception = exception


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
    app.wsgi_app = middleware  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _name_request)
    got_request_exception.connect(_record_exception, app, weak=False)
    app.extensions["obskit"] = middleware
    return app
