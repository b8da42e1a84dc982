"""Shared rules for outgoing calls: which hosts may receive trace ids, and the client span.

Imports: standard library and obskit's core (``config``, ``context``, ``propagation``,
``semconv``, ``_diagnostics``, ``_pipeline``); ``obskit.tracing`` and ``ipaddress`` are imported
on first use. ``obskit.config`` imports this module by name to learn the ``propagate_to``
option, so it must stay importable with the standard library alone.

**The allowlist rule.** Trace ids, baggage and the correlation id are written into an outgoing
HTTP request only when the request's host matches a pattern of ``propagate_to``:

* ``"api.example.com"``: that host, exactly (case-insensitive, a trailing dot ignored);
* ``"*.example.com"``: any host below ``example.com`` (not ``example.com`` itself: list both);
* ``"10.0.0.0/8"``, ``"fd00::/8"``: any IP literal in that network;
* ``"*"``: every host (only for a client that talks to nothing but your own services);
* ``"@own"``: the process's own domain, the default. It matches what can only be reached from
  inside your own host or network: loopback and private IP literals (``127.0.0.1``, ``10.x``,
  ``192.168.x``, ``fd00::/8``, link-local), single-label names (``orders``, ``localhost``:
  service names resolved by Docker, ECS Service Connect or Kubernetes search domains) and the
  private-use suffixes ``.localhost``, ``.internal``, ``.local`` and ``.home.arpa``.

Public DNS names never match the default: obskit cannot know which public domains are yours, so
``https://api.stripe.com`` gets no ``traceparent``, ``baggage`` or ``x-correlation-id`` until you
list it. A pattern list *replaces* the default; add ``"@own"`` to keep it. Where the list comes
from, most specific first: the ``propagate_to=`` argument of ``instrument_client`` /
``instrument_session`` / a transport, then ``configure(propagate_to=...)``, then the environment
variable ``OBSKIT_PROPAGATE_TO`` (comma-separated), then ``("@own",)``.

The client span is created for every call, allowed or not: it stays in your own telemetry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from obskit import _diagnostics, _pipeline
from obskit.config import Option, parse_str_tuple
from obskit.context import activate
from obskit.errors import ConfigError
from obskit.semconv import (
    ATTR_ERROR_TYPE,
    ATTR_HTTP_METHOD,
    ATTR_HTTP_STATUS,
    ATTR_SERVER_ADDRESS,
    ATTR_URL_FULL,
    ATTR_URL_SCHEME,
    HEADER_BAGGAGE,
    HEADER_CORRELATION_ID,
    HEADER_TRACEPARENT,
    HEADER_TRACESTATE,
    HEADER_XRAY,
    SPAN_KIND_CLIENT,
)

if TYPE_CHECKING:
    from obskit._context import TelemetryContext
    from obskit.tracing import Span

__all__ = [
    "ALL_HOSTS",
    "OPTIONS",
    "OWN_DOMAIN",
    "ClientSettings",
    "HostPolicy",
    "configured_policy",
    "policy_from",
    "span_name",
]

OWN_DOMAIN = "@own"
"""The pattern for the process's own domain (loopback, private addresses, private-use names)."""
ALL_HOSTS = "*"
"""The pattern that matches every host."""

_PRIVATE_SUFFIXES = (".localhost", ".internal", ".local", ".home.arpa")
_CACHE_LIMIT = 1024

DIAG_USER_HEADER = "integrations.http.skipped.user_header"
"""An outgoing request already carried a header obskit would write; the user's value was kept."""
DIAG_SPAN_FAILED = "integrations.http.span_failure"
"""Starting or ending a client span failed; the request went ahead without it."""

TRACE_HEADERS = (HEADER_TRACEPARENT, HEADER_TRACESTATE, HEADER_XRAY)
"""Written together or not at all: a user who set one of them propagates the trace by hand."""


# --- the allowlist ---------------------------------------------------------------------------
def _normalize(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host, _, _zone = host.partition("%")  # fe80::1%eth0: the zone is local detail
    return host.rstrip(".")


def _ip(host: str) -> Any:
    """The ``ipaddress`` object for an IP literal, else ``None`` (names never import ipaddress)."""
    if not host or not (host[0].isdigit() or ":" in host):
        return None
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return all(
        label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label) and label.isascii()
        for label in labels
    )


class HostPolicy:
    """A compiled ``propagate_to`` list: ``allows(host)`` says whether ids may go there.

    Decisions are cached per host (a client talks to few hosts), so the check on the request
    path is one dict lookup.

    Args:
        patterns: host patterns as described in the module docstring.
        option: the option name quoted in errors.

    Raises:
        ConfigError: for a pattern that is not a host name, ``*.`` suffix, IP literal, CIDR
            network, ``"*"`` or ``"@own"``.
    """

    __slots__ = ("_all", "_cache", "_exact", "_networks", "_own", "_suffixes", "patterns")

    def __init__(self, patterns: Iterable[str], *, option: str = "propagate_to") -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        self.patterns: tuple[str, ...] = tuple(patterns)
        self._all = False
        self._own = False
        exact: set[str] = set()
        suffixes: list[str] = []
        networks: list[Any] = []
        for raw in self.patterns:
            if not isinstance(raw, str):
                raise ConfigError(f"{option}={raw!r}: expected a host pattern string")
            pattern = raw.strip()
            if pattern == ALL_HOSTS:
                self._all = True
            elif pattern.lower() == OWN_DOMAIN:
                self._own = True
            elif "://" in pattern:
                host = pattern.split("://", 1)[1].split("/", 1)[0]
                raise ConfigError(f"{option}: {raw!r} is a URL; patterns are host names only (use {host!r})")
            elif "/" in pattern:
                import ipaddress

                try:
                    networks.append(ipaddress.ip_network(pattern, strict=False))
                except ValueError:
                    raise ConfigError(
                        f"{option}: {raw!r} is not a CIDR network; expected e.g. '10.0.0.0/8' or 'fd00::/8'"
                    ) from None
            elif pattern.startswith("*."):
                rest = _normalize(pattern[2:])
                if not rest or not _valid_name(rest):
                    raise ConfigError(f"{option}: {raw!r} is not a valid '*.domain' pattern; expected e.g. "
                                      "'*.example.com'")
                suffixes.append("." + rest)
            else:
                host = _normalize(pattern)
                ip = _ip(host)
                if ip is not None:
                    exact.add(str(ip))
                elif ":" in host:
                    raise ConfigError(f"{option}: {raw!r} has a port; patterns are host names only "
                                      f"(use {host.split(':')[0]!r})")
                elif not host or not _valid_name(host):
                    raise ConfigError(
                        f"{option}: {raw!r} is not a host pattern; expected a host name ('api.example.com'), "
                        "'*.example.com', an IP address or CIDR network, '*' or '@own'"
                    )
                else:
                    exact.add(host)
        self._exact = frozenset(exact)
        self._suffixes = tuple(suffixes)
        self._networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    def allows(self, host: str | None) -> bool:
        """Whether trace ids and the correlation id may be sent to ``host``."""
        if self._all:
            return True
        if not host:
            return False
        got = self._cache.get(host)
        if got is None:
            got = self._decide(host)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[host] = got
        return got

    def _decide(self, raw: str) -> bool:
        host = _normalize(raw)
        if host in self._exact:
            return True
        if host.endswith(self._suffixes):
            return True
        ip = _ip(host)
        if ip is not None:
            if str(ip) in self._exact:
                return True
            if any(ip.version == net.version and ip in net for net in self._networks):
                return True
        return self._own and _is_own(host, ip)

    def __repr__(self) -> str:
        return f"HostPolicy({list(self.patterns)!r})"


def _is_own(host: str, ip: Any) -> bool:
    """Loopback, private and link-local addresses; single-label and private-use names."""
    if ip is not None:
        return bool(ip.is_loopback or ip.is_private or ip.is_link_local)
    if ":" in host:
        return False
    return "." not in host or host.endswith(_PRIVATE_SUFFIXES)


def _parse_option(name: str, value: Any) -> tuple[str, ...]:
    patterns = parse_str_tuple(name, value)
    HostPolicy(patterns, option=name)  # validate now: a typo fails at configure() time
    return patterns


OPTIONS: dict[str, Option] = {
    "propagate_to": Option(
        None,
        _parse_option,
        "Host patterns that outgoing HTTP calls may send trace ids and the correlation id to "
        "(default: '@own', the process's own domain).",
    ),
}

_DEFAULT_POLICY: HostPolicy | None = None


def _policy_of(cfg: Any) -> HostPolicy:
    global _DEFAULT_POLICY
    try:
        patterns = cfg.options.get("propagate_to")
    except Exception:
        patterns = None
    if patterns is not None:
        return HostPolicy(patterns)
    if _DEFAULT_POLICY is None:
        _DEFAULT_POLICY = HostPolicy((OWN_DOMAIN,))
    return _DEFAULT_POLICY


configured_policy: _pipeline.PerConfig[HostPolicy] = _pipeline.PerConfig(_policy_of)
"""``configured_policy()``: the policy of the configuration in force (``configure(propagate_to=...)``,
else ``@own``)."""


def policy_from(propagate_to: Iterable[str] | str | HostPolicy | None) -> HostPolicy | None:
    """Compile a per-client ``propagate_to`` argument; ``None`` means "follow the configuration".

    Raises:
        ConfigError: for an invalid pattern, when the client is instrumented (not per request).
    """
    if propagate_to is None or isinstance(propagate_to, HostPolicy):
        return propagate_to
    return HostPolicy(propagate_to)


# --- headers ---------------------------------------------------------------------------------
def headers_for(ctx: TelemetryContext, present: Callable[[str], bool]) -> list[tuple[str, str]]:
    """The propagation headers to add to a request, leaving alone every header the user set.

    The trace headers (``traceparent``, ``tracestate``, ``X-Amzn-Trace-Id``) go together: if
    the user set any of them they propagate the trace themselves, and adding ours would give
    the receiver two different parents. ``baggage`` and ``x-correlation-id`` are each skipped
    only when present. Every skip is counted under ``integrations.http.skipped.user_header``.

    Args:
        ctx: the context to write (the client span's).
        present: ``name -> bool``, case-insensitive membership in the request's headers.
    """
    from obskit.propagation import inject

    values: dict[str, str] = inject({}, context=ctx)
    skipped = 0
    trace_ok = True
    for name in TRACE_HEADERS:
        if present(name):
            trace_ok = False
            break
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if name in TRACE_HEADERS:
            if not trace_ok:
                skipped += 1
                continue
        elif present(name):
            skipped += 1
            continue
        out.append((name, value))
    if skipped:
        _diagnostics.incr(DIAG_USER_HEADER, skipped)
    return out


PROPAGATED_HEADERS = (*TRACE_HEADERS, HEADER_BAGGAGE, HEADER_CORRELATION_ID)
"""Every header an outgoing HTTP call may carry from obskit (documentation and tests)."""


# --- the client span -------------------------------------------------------------------------
_start_span: Callable[..., Span] | None = None


def start_span(name: str, attributes: Mapping[str, Any], kind: str = SPAN_KIND_CLIENT) -> Span | None:
    """Start a client span under the current context; ``None`` (counted) if tracing fails."""
    global _start_span
    try:
        fn = _start_span
        if fn is None:
            from obskit.tracing import start_span as tracing_start_span

            fn = _start_span = tracing_start_span
        return fn(name, kind=kind, attributes=attributes)
    except Exception:
        _diagnostics.incr(DIAG_SPAN_FAILED)
        _diagnostics.report_once(DIAG_SPAN_FAILED, "obskit: could not start a client span; calls go on untraced")
        return None


def http_attributes(method: str, scheme: str, host: str, port: int | None, path: str) -> dict[str, Any]:
    """Span attributes of an outgoing HTTP request.

    ``url.full`` leaves out the query string and any user:password: they often carry tokens,
    and spans are kept far longer than requests.
    """
    default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    shown = f"[{host}]" if ":" in host else host
    netloc = shown if port is None or default_port else f"{shown}:{port}"
    return {
        ATTR_HTTP_METHOD: method,
        ATTR_SERVER_ADDRESS: host,
        ATTR_URL_SCHEME: scheme,
        ATTR_URL_FULL: f"{scheme}://{netloc}{path}",
    }


def end_http_span(span: Span, status: int | None, exc: BaseException | None) -> None:
    """Record the outcome on a client span and end it; never raises.

    A status of 400 or more marks the span as failed (for a client, a 4xx is as much a
    failed call as a 5xx); the X-Ray emitter tells error (4xx) from fault (5xx) by the status
    attribute. An exception is recorded with its type in ``error.type``.
    """
    try:
        if status is not None:
            span.set_attribute(ATTR_HTTP_STATUS, status)
            if status >= 400:
                span.set_attribute(ATTR_ERROR_TYPE, str(status))
                span.set_status(False)
        if exc is not None:
            span.record_exception(exc)
            span.set_attribute(ATTR_ERROR_TYPE, type(exc).__qualname__)
            span.set_status(False, str(exc) or type(exc).__qualname__)
        span.end()
    except Exception:
        _diagnostics.incr(DIAG_SPAN_FAILED)


def call_in_span(span: Span, client: ClientSettings, request: Any, send: Callable[..., Any], /,
                 *args: Any, **kwargs: Any) -> Any:
    """``send(*args, **kwargs)`` with ``span`` current; its status or exception recorded, the span ended.

    The synchronous shape every HTTP client integration shares (the async one differs only by
    its ``await``). The response only needs a ``status_code`` (and ``headers`` for the
    captured headers); ``client.response_hook`` sees it before the span ends.
    """
    status: int | None = None
    error: BaseException | None = None
    try:
        with activate(span.context):
            response = send(*args, **kwargs)
        status = response.status_code
        client.responded(span, request, response)
        return response
    except Exception as exc:
        error = exc
        raise
    finally:
        end_http_span(span, status, error)


# --- per-client settings: excluded URLs, hooks, the allowlist -------------------------------
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
DIAG_HOOK = "integrations.http.hook_failure"
"""A client's request_hook or response_hook raised; the call went on."""


def span_name(method: Any) -> str:
    """A client span's name by OpenTelemetry's HTTP conventions: the method, or ``HTTP`` for an unknown one.

    ``GET /orders/{id}`` when the route is known: a ``request_hook`` can set ``span.name``.
    """
    if method in _KNOWN_METHODS:
        return method  # type: ignore[no-any-return]
    upper = method.upper() if isinstance(method, str) else ""
    return upper if upper in _KNOWN_METHODS else "HTTP"


def call_hook(fn: Callable[..., Any], *args: Any) -> None:
    """Run a user's hook; what it raises is counted and reported once, never passed on."""
    try:
        fn(*args)
    except Exception as exc:
        _diagnostics.count(DIAG_HOOK, "obskit: an HTTP client hook raised %r (counted)", exc)


def _check_hook(name: str, fn: Any) -> Any:
    if fn is not None and not callable(fn):
        raise ConfigError(f"{name}={fn!r}: expected a callable or None")
    return fn


class ClientSettings:
    """What one instrumented HTTP client (transport or adapter) was given, with the configuration's fallbacks.

    Args:
        library: ``"requests"`` or ``"httpx"`` (which ``*_excluded_urls`` setting applies).
        propagate_to: host patterns that may receive trace ids (see ``HostPolicy``).
        excluded_urls: regular expressions searched in the full URL: a matching call gets no
            span and no propagation headers (OpenTelemetry's ``excluded_urls``); when omitted,
            ``configure(requests_excluded_urls=...)`` / ``OTEL_PYTHON_REQUESTS_EXCLUDED_URLS``.
        request_hook: ``request_hook(span, request)`` before the request is sent (the span is
            current; set ``span.name = "GET /orders/{id}"`` when you know the route).
        response_hook: ``response_hook(span, request, response)`` when the response headers arrive.

    Raises:
        ConfigError: for an invalid host pattern, URL pattern or a hook that is not callable.
    """

    def __init__(self, library: str, *, propagate_to: Iterable[str] | str | HostPolicy | None = None,
                 excluded_urls: Iterable[str] | str | None = None, request_hook: Callable[..., Any] | None = None,
                 response_hook: Callable[..., Any] | None = None) -> None:
        from obskit.integrations._http_capture import url_filter

        self.library = library
        self.policy = policy_from(propagate_to)
        self.excluded = url_filter(excluded_urls)
        self.request_hook = _check_hook("request_hook", request_hook)
        self.response_hook = _check_hook("response_hook", response_hook)

    def settings_from(self, other: ClientSettings) -> None:
        """Take another client's settings (``instrument_*`` called again on an instrumented client)."""
        self.policy, self.excluded = other.policy, other.excluded
        self.request_hook, self.response_hook = other.request_hook, other.response_hook

    def begin(self, request: Any, method: str, url: str, scheme: str, host: str, port: int | None, path: str,
              present: Callable[[str], bool], add_header: Callable[[str, str], None],
              header_items: Callable[[], Any]) -> Span | None:
        """Start the call's span and add the propagation headers; ``None`` for an excluded URL (or on failure)."""
        from obskit.integrations._http_capture import captures, excluded_urls

        if (self.excluded or excluded_urls(self.library)).excludes(url):
            return None
        span = start_span(span_name(method), http_attributes(method, scheme, host, port, path))
        if (self.policy or configured_policy()).allows(host):
            from obskit.context import current

            ctx = span.context if span is not None else current()
            for name, value in headers_for(ctx, present):
                add_header(name, value)
        if span is not None:
            capture = captures().client_request
            if capture is not None:
                span.set_attributes(capture.attributes(header_items()))
            if self.request_hook is not None:
                with activate(span.context):
                    call_hook(self.request_hook, span, request)
        return span

    def responded(self, span: Span, request: Any, response: Any) -> None:
        """The response headers arrived: capture the configured ones, run the response hook. Never raises."""
        from obskit.integrations._http_capture import captures

        try:
            capture = captures().client_response
            if capture is not None:
                headers = response.headers
                items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
                span.set_attributes(capture.attributes(items))
        except Exception:
            _diagnostics.incr(DIAG_SPAN_FAILED)
        if self.response_hook is not None:
            call_hook(self.response_hook, span, request, response)
