"""Logging configurations that make a server's own lines obskit's JSON (uvicorn, gunicorn).

Imports: the standard library (``logging``, ``json``) and obskit's standard library bridge.
Imported only by a server loading one of these configurations, or by the ``obskit log-config``
command that prints their paths.

A server configures its loggers before it imports your app, so ``obskit.configure()`` in the app
cannot reach the lines it writes first (startup, errors) or the loggers it keeps to itself
(uvicorn's do not propagate to the root logger). These files hand those loggers to obskit's
handler instead:

    uvicorn app:app --no-access-log --log-config "$(obskit log-config uvicorn)"
    gunicorn app:app --log-config-json "$(obskit log-config gunicorn)"

or, from Python, ``uvicorn.run(app, log_config=obskit.logconfig.load("uvicorn"))``. Every line
is then one JSON object, as obskit writes it, without uvicorn's ``color_message`` duplicate; the
line a server writes about a request's unhandled exception ("Exception in ASGI application")
carries that request's ``trace_id``, ``span_id`` and ``correlation_id`` (obskit's own access line
of the request, level ERROR, carries the exception too). ``--no-access-log``: obskit's access
line already is one per request, with the route, status, duration and ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from obskit._logs_bridge import ObskitHandler
from obskit.errors import ConfigError

__all__ = ["SERVERS", "Handler", "load", "path"]

Handler = ObskitHandler
"""The handler the configurations name (``obskit.logconfig.Handler``): a record becomes
obskit's JSON line, with the ids of the request it was logged in (or escaped from)."""

SERVERS = ("uvicorn", "gunicorn")
"""The servers obskit ships a configuration for."""

_HERE = Path(__file__).resolve().parent


def path(server: str) -> Path:
    """The path of the shipped ``logging.config.dictConfig`` JSON file for ``server``.

    Raises:
        ConfigError: for a server obskit ships no configuration for.
    """
    if server not in SERVERS:
        raise ConfigError(f"no log configuration for {server!r}; obskit ships one for: {', '.join(SERVERS)}")
    return _HERE / f"log_config_{server}.json"


def load(server: str) -> dict[str, Any]:
    """The configuration for ``server`` as a dict (``uvicorn.run(app, log_config=load("uvicorn"))``)."""
    config: dict[str, Any] = json.loads(path(server).read_text(encoding="utf-8"))
    return config
