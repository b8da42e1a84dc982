"""Configuration time of the request path: the options, their parsers and ``ScopeSettings``.

Imports: standard library and obskit's core (``config``, ``errors``, ``semconv``, ``_pipeline``).
Everything here runs when an app is instrumented or a configuration is installed, never per
request: ``ScopeOptions`` validates what ``instrument()`` was given (``ConfigError`` at once), and
``ScopeSettings`` resolves it against the configuration in force, once per configuration.
The lifecycle of one request is in ``obskit.scope._request``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from obskit import _diagnostics, _pipeline
from obskit.config import Option, parse_bool, parse_number, parse_str_tuple
from obskit.errors import ConfigError
from obskit.semconv import (
    ACCESS_LOGGER,
    HEADER_CORRELATION_ID,
    HEADER_TRACEPARENT,
    HEADER_XRAY,
)

_RESPONSE_HEADER_CHOICES = (HEADER_CORRELATION_ID, HEADER_TRACEPARENT, HEADER_XRAY)


def _parse_response_headers(name: str, value: Any) -> tuple[str, ...]:
    items = tuple(v.lower() for v in parse_str_tuple(name, value))
    bad = [v for v in items if v not in _RESPONSE_HEADER_CHOICES]
    if bad:
        raise ConfigError(
            f"{name}={value!r}: unknown response header {bad[0]!r}; accepted: "
            f"{', '.join(repr(c) for c in _RESPONSE_HEADER_CHOICES)} (or an empty list for none)"
        )
    return items


def _parse_routes(name: str, value: Any) -> tuple[str, ...]:
    items = parse_str_tuple(name, value)
    bad = [v for v in items if not v.startswith("/")]
    if bad:
        raise ConfigError(f"{name}={value!r}: {bad[0]!r} is not a path; routes start with '/' (e.g. '/health')")
    return items


def _parse_proxies(name: str, value: Any) -> tuple[str, ...]:
    items = parse_str_tuple(name, value)
    import ipaddress

    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name}={value!r}: {item!r} is not an IP address or network; "
                "expected addresses or CIDRs like '10.0.0.0/8', or '*' for any peer"
            ) from None
    return items


OPTIONS: dict[str, Option] = {
    "excluded_routes": Option(
        (), _parse_routes,
        "Paths that get no span, no metrics and no access line (health checks); "
        "an entry ending in '*' is a prefix. Matched against the raw path.",
    ),
    "record_4xx_as_error": Option(True, parse_bool, "Count 4xx responses in the Error metric."),
    "response_headers": Option(
        (HEADER_CORRELATION_ID,), _parse_response_headers,
        "Headers added to every response so clients can quote the ids: "
        "'x-correlation-id', 'traceparent', 'x-amzn-trace-id'.",
    ),
    "trust_forwarded_for": Option(
        False, parse_bool,
        "Take client_ip from X-Forwarded-For (from any peer); set it behind a load balancer.",
    ),
    "trusted_proxies": Option(
        (), _parse_proxies,
        "Peers (addresses or CIDRs, '*' for any) whose X-Forwarded-For is believed; the client is "
        "the right-most address that is not a trusted proxy.",
    ),
    "access_log": Option(True, parse_bool, "Write one access line per request on the 'obskit.access' logger."),
    "request_metrics": Option(
        True, parse_bool,
        "Record Latency, Error and Fault for each request (each Operation is a CloudWatch custom metric).",
    ),
    "lambda_timeout_margin_ms": Option(
        300, parse_number(0, 900_000, integer=True),
        "Lambda: flush telemetry and log 'timeout_imminent' this many ms before the function "
        "times out (0 turns the guard off).",
    ),
}
"""Options of ``configure()`` (and of every ``instrument()``, which override them per app)."""

_HOOKS = ("request_hook", "response_hook", "log_fields", "correlation_headers")
"""Options only ``instrument()``/middleware take: callables and per-app header lists."""

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_OTHER_METHOD = "_OTHER"
"""What an unknown HTTP method becomes in span names and the Operation dimension (OTel's rule):
a client that sends ``FOO1``, ``FOO2``... must not create a metric per method."""

_MAX_TEXT = 1024
"""Longest user agent / path / forwarded-for value written to logs and spans."""
_MAX_FORWARDED = 2048

DIAG_ERROR = "scope.error"
DIAG_HOOK = "scope.hook_failure"
DIAG_CLIPPED = "scope.clipped"


def normalize_method(method: str) -> str:
    """The method as it may appear in a span name or a dimension (``_OTHER`` if unknown)."""
    if method in _KNOWN_METHODS:
        return method
    upper = method.upper() if method.__class__ is str else ""
    return upper if upper in _KNOWN_METHODS else _OTHER_METHOD


def _clip(value: str | None) -> str | None:
    if value is None or len(value) <= _MAX_TEXT:
        return value
    _diagnostics.incr(DIAG_CLIPPED)
    return value[:_MAX_TEXT]


class NotText(Exception):
    """Raised inside ``request_scope.begin`` when request values are not plain text: the begin is
    retried once with them cleaned (counted as ``scope.cleaned_arguments``). Only this, or a
    ``TypeError`` / ``AttributeError`` while an argument is of the wrong type, leads to the retry:
    any other failure is a bug, counted as ``scope.error.begin``."""


def request_text(value: Any) -> Any:
    """A request's own text (path, host, user agent...) as the span and the access line take it.

    The one check of those values: a plain str, clipped to ``_MAX_TEXT`` (counted); ``None``
    stays ``None``; anything else raises ``NotText`` (``begin`` retries with it made text).
    """
    if value.__class__ is not str:
        if value is None:
            return None
        raise NotText
    return value if len(value) <= _MAX_TEXT else _clip(value)


class ScopeSettings:
    """What ``request_scope`` needs, resolved once per configuration and per app.

    Built by ``ScopeOptions.settings()``: the options given to ``instrument()`` win over
    ``configure()``/environment, which win over the defaults in ``OPTIONS``.
    """

    __slots__ = (
        "access_log",
        "clock",
        "config",
        "correlation",
        "debug_sampling",
        "excluded_exact",
        "excluded_prefixes",
        "log_fields",
        "logger",
        "record_4xx",
        "request_hook",
        "request_metrics",
        "response_hook",
        "rh_correlation",
        "rh_traceparent",
        "rh_xray",
        "timeout_margin_ms",
        "trust_all",
        "trusted_exact",
        "trusted_networks",
    )

    def __init__(self, runtime: Any, values: Mapping[str, Any], hooks: Mapping[str, Any]) -> None:
        from obskit.logs import get_logger
        from obskit.scope import _request

        _request.bind()  # the signal modules the request path calls, bound once
        self.config = runtime.config
        self.clock: Callable[[], int] = runtime.clock
        excluded = values["excluded_routes"]
        self.excluded_exact = frozenset(r for r in excluded if not r.endswith("*"))
        self.excluded_prefixes = tuple(r[:-1] for r in excluded if r.endswith("*"))
        self.record_4xx: bool = values["record_4xx_as_error"]
        headers = values["response_headers"]
        self.rh_correlation = HEADER_CORRELATION_ID in headers
        self.rh_traceparent = HEADER_TRACEPARENT in headers
        self.rh_xray = HEADER_XRAY in headers
        self.access_log: bool = values["access_log"]
        self.request_metrics: bool = values["request_metrics"]
        self.timeout_margin_ms: int = values["lambda_timeout_margin_ms"]
        proxies = values["trusted_proxies"]
        self.trust_all = "*" in proxies or (not proxies and values["trust_forwarded_for"])
        self.trusted_exact: frozenset[str] = frozenset()
        self.trusted_networks: tuple[Any, ...] = ()
        if proxies and not self.trust_all:
            import ipaddress

            nets = [ipaddress.ip_network(p, strict=False) for p in proxies]
            self.trusted_exact = frozenset(str(n.network_address) for n in nets if n.num_addresses == 1)
            self.trusted_networks = tuple(n for n in nets if n.num_addresses > 1)
        self.request_hook: Callable[[Any, Any], None] | None = hooks.get("request_hook")
        self.log_fields: Callable[[Any], Mapping[str, Any] | None] | None = hooks.get("log_fields")
        self.response_hook: Callable[[Any, int | None, list[tuple[str, str]]], None] | None = hooks.get(
            "response_hook")
        """``response_hook(span, status, headers)`` when the response starts (the integration calls it)."""
        self.correlation: Any = None
        self.debug_sampling = bool(runtime.config.sample_rate)
        """DEBUG logging is sampled per request (``sample_rate`` > 0): ask the log module each time."""
        if hooks.get("correlation_headers"):
            from obskit.propagation import CompositePropagator

            self.correlation = CompositePropagator((), correlation_headers=hooks["correlation_headers"])
        self.logger = get_logger(ACCESS_LOGGER)

    def excluded(self, path: str | None) -> bool:
        """Whether requests to ``path`` get no telemetry at all (health checks)."""
        if path.__class__ is not str:
            if path is None or not isinstance(path, str):
                return False  # not a path (a hand-built environ or scope): nothing matches it
            path = str.__str__(path)
        if path in self.excluded_exact:
            return True
        prefixes = self.excluded_prefixes
        return bool(prefixes) and path.startswith(prefixes)

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` is a proxy whose ``X-Forwarded-For`` is believed."""
        if self.trust_all:
            return True
        if peer is None or not (self.trusted_exact or self.trusted_networks):
            return False
        if peer in self.trusted_exact:
            return True
        if self.trusted_networks:
            import ipaddress

            try:
                addr = ipaddress.ip_address(peer)
            except ValueError:
                return False
            return any(addr in net for net in self.trusted_networks)
        return False

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: the peer, or from ``X-Forwarded-For`` when the peer is trusted.

        Walks ``X-Forwarded-For`` from the right (the entries nearest to us were added by our
        own proxies) and returns the first address that is not a trusted proxy. With
        ``trust_forwarded_for`` every proxy is trusted, so that is the left-most entry. A
        client can prepend anything it likes to the header; only what our proxies appended
        is believed.
        """
        if not forwarded_for or not self.trusts(peer):
            return peer
        if len(forwarded_for) > _MAX_FORWARDED:
            _diagnostics.incr(DIAG_CLIPPED)
            forwarded_for = forwarded_for[-_MAX_FORWARDED:]
        hops = [h.strip() for h in forwarded_for.split(",")]
        hops = [h for h in hops if h]
        if not hops:
            return peer
        if self.trust_all:
            return _clip(hops[0])
        for hop in reversed(hops):
            if not self.trusts(hop):
                return _clip(hop)
        return _clip(hops[0])


class ScopeOptions:
    """The options one app was instrumented with, validated at once, settings built lazily.

    ``instrument(app, excluded_routes=[...])`` validates here, at import time of the app, and
    raises ``ConfigError`` for a bad name or value. The settings derived from them and from
    the live configuration are rebuilt only when ``configure()`` installs a new configuration
    (also inside ``obskit.testing.capture()``), so apps can be instrumented before
    ``configure()`` runs.
    """

    __slots__ = ("_cfg", "_given", "_hooks", "_settings")

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        given: dict[str, Any] = {}
        hooks: dict[str, Any] = {}
        for key, value in (options or {}).items():
            if key in OPTIONS:
                if value is not None:
                    given[key] = OPTIONS[key].parse(key, value)
            elif key in _HOOKS:
                if key == "correlation_headers":
                    value = tuple(h.lower() for h in parse_str_tuple(key, value)) if value is not None else None
                elif value is not None and not callable(value):
                    raise ConfigError(f"{key}={value!r}: expected a callable or None")
                hooks[key] = value
            else:
                import difflib

                known = sorted((*OPTIONS, *_HOOKS))
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown option {key!r}{hint}; known options: {', '.join(known)}")
        self._given = MappingProxyType(given)
        self._hooks = MappingProxyType(hooks)
        self._cfg: Any = None
        self._settings: ScopeSettings | None = None

    def settings(self) -> ScopeSettings | None:
        """The settings for the configuration in force; ``None`` when obskit is disabled."""
        rt = _pipeline.get()
        cfg = rt.config
        if cfg is self._cfg:
            return self._settings
        return self._rebuild(rt)

    def _rebuild(self, rt: Any) -> ScopeSettings | None:
        cfg = rt.config
        settings: ScopeSettings | None = None
        if not cfg.disabled:
            values = {}
            for key, opt in OPTIONS.items():
                if key in self._given:
                    values[key] = self._given[key]
                else:
                    try:
                        values[key] = cfg.option(key)
                    except KeyError:  # a configuration built without this module's options
                        values[key] = opt.default
            settings = ScopeSettings(rt, values, self._hooks)
        self._settings = settings
        self._cfg = cfg
        return settings


_DEFAULT_OPTIONS = ScopeOptions()
