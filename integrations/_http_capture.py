"""HTTP headers as span attributes, as OpenTelemetry's instrumentations capture them, and excluded URLs.

Imports: standard library and obskit's core (``config``, ``_diagnostics``, ``_pipeline``);
``re`` is compiled once per configuration, ``obskit.logs`` is asked which names are secret on
first use. ``obskit.config`` imports this module by name to learn its options, so it must stay
importable with the standard library alone.

**Captured headers.** ``configure(http_capture_headers_server_request=["content-type", "x-.*"])``
or OpenTelemetry's variables (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``,
``..._SERVER_RESPONSE``, ``..._CLIENT_REQUEST``, ``..._CLIENT_RESPONSE``): comma-separated
regular expressions matched case-insensitively against the whole header name. A captured
header becomes the attribute ``http.request.header.<name>`` (or ``http.response.header.``),
lower case with ``-`` written ``_``, whose value is the list of the header's values: the
names OpenTelemetry's Python instrumentations write, so existing queries keep working.

**Sanitising.** A value is replaced by ``***`` when its header name matches a pattern of
``http_capture_headers_sanitize_fields`` (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``,
regular expressions searched case-insensitively) *or* is a secret for the log redaction
(``log_redact_keys``: ``authorization``, ``cookie``, ``x-api-key``...). A header no log line
would show is never written to a span either.

**Excluded URLs** of the HTTP clients: ``configure(requests_excluded_urls=...)`` /
``httpx_excluded_urls``, or ``OTEL_PYTHON_REQUESTS_EXCLUDED_URLS`` / ``OTEL_PYTHON_HTTPX_EXCLUDED_URLS``
(``OTEL_PYTHON_EXCLUDED_URLS`` for both): regular expressions searched in the full URL. An
excluded call gets no span and no propagation headers, as in OpenTelemetry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from obskit import _diagnostics, _pipeline
from obskit.config import Option, parse_str_tuple
from obskit.errors import ConfigError
from obskit.semconv import LOG_REDACTED

__all__ = [
    "OPTIONS", "CaptureCache", "HeaderCapture", "ServerCapture", "UrlFilter", "captures", "excluded_urls",
    "url_filter", "wsgi_headers",
]

REQUEST_PREFIX = "http.request.header."
RESPONSE_PREFIX = "http.response.header."
MAX_VALUES = 16
"""Values kept per captured header (a header repeated more often is clipped, counted)."""
MAX_VALUE_LENGTH = 1024
DIAG_CLIPPED = "integrations.http.header_clipped"


def _parse_patterns(name: str, value: Any) -> tuple[str, ...]:
    """A list of regular expressions (or a comma-separated string): compiled now, so a typo fails here."""
    import re

    patterns = parse_str_tuple(name, value)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ConfigError(f"{name}: {p!r} is not a regular expression ({exc})") from None
    return patterns


OPTIONS: dict[str, Option] = {
    "http_capture_headers_server_request": Option(
        (), _parse_patterns, "request headers (regexes, whole name, any case) the server span records",
    ),
    "http_capture_headers_server_response": Option(
        (), _parse_patterns, "response headers the server span records",
    ),
    "http_capture_headers_client_request": Option(
        (), _parse_patterns, "request headers the client spans (requests, httpx) record",
    ),
    "http_capture_headers_client_response": Option(
        (), _parse_patterns, "response headers the client spans record",
    ),
    "http_capture_headers_sanitize_fields": Option(
        (), _parse_patterns, "captured headers whose value is written as '***' (besides log_redact_keys)",
    ),
    "requests_excluded_urls": Option(
        (), _parse_patterns, "URLs (regexes searched in the full URL) requests calls leave untraced",
    ),
    "httpx_excluded_urls": Option(
        (), _parse_patterns, "URLs (regexes searched in the full URL) httpx calls leave untraced",
    ),
}


class HeaderCapture:
    """Which headers of one kind become attributes, and which values are masked.

    ``attributes(items)`` takes ``(name, value)`` pairs (str, or bytes as ASGI has them) and
    returns the attributes to set; decisions are cached per distinct header name.
    """

    __slots__ = ("_cache", "_match", "_prefix", "_sanitize")

    def __init__(self, patterns: Iterable[str], sanitize: Any, prefix: str) -> None:
        import re

        self._match = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE).fullmatch
        self._sanitize = sanitize
        self._prefix = prefix
        self._cache: dict[str, tuple[str, bool] | None] = {}

    def _decide(self, name: str) -> tuple[str, bool] | None:
        got = self._cache.get(name, False)
        if got is not False:
            return got  # type: ignore[return-value]
        lower = name.lower()
        decision: tuple[str, bool] | None = None
        if self._match(lower):
            from obskit.logs import is_secret

            secret = bool(self._sanitize is not None and self._sanitize(lower)) or is_secret(lower)
            decision = (self._prefix + lower.replace("-", "_"), secret)
        if len(self._cache) < 1024:
            self._cache[name] = decision
        return decision

    def attributes(self, items: Iterable[tuple[Any, Any]]) -> dict[str, tuple[str, ...]]:
        """The captured headers among ``items`` as ``{attribute: (value, ...)}``; never raises."""
        out: dict[str, list[str]] = {}
        try:
            for name, value in items:
                if name.__class__ is not str:
                    name = bytes(name).decode("latin-1")
                decision = self._decide(name)
                if decision is None:
                    continue
                if value.__class__ is not str:
                    value = bytes(value).decode("latin-1")
                values = out.setdefault(decision[0], [])
                if len(values) >= MAX_VALUES:
                    _diagnostics.incr(DIAG_CLIPPED)
                    continue
                values.append(LOG_REDACTED if decision[1] else value[:MAX_VALUE_LENGTH])
        except Exception:
            _diagnostics.incr(DIAG_CLIPPED)
        return {k: tuple(v) for k, v in out.items()}


class Captures:
    """The four header captures of one configuration (each ``None`` when not configured)."""

    __slots__ = ("client_request", "client_response", "server_request", "server_response")

    def __init__(self, options: Any) -> None:
        import re

        fields = options.get("http_capture_headers_sanitize_fields") or ()
        sanitize = re.compile("|".join(f"(?:{p})" for p in fields), re.IGNORECASE).search if fields else None

        def build(option: str, prefix: str) -> HeaderCapture | None:
            patterns = options.get(option) or ()
            return HeaderCapture(patterns, sanitize, prefix) if patterns else None

        self.server_request = build("http_capture_headers_server_request", REQUEST_PREFIX)
        self.server_response = build("http_capture_headers_server_response", RESPONSE_PREFIX)
        self.client_request = build("http_capture_headers_client_request", REQUEST_PREFIX)
        self.client_response = build("http_capture_headers_client_response", RESPONSE_PREFIX)


captures: _pipeline.PerConfig[Captures] = _pipeline.PerConfig(lambda cfg: Captures(cfg.options))
"""``captures()``: the header captures of the configuration in force."""


class ServerCapture:
    """What a server middleware does beyond its defaults, for one ``ScopeSettings``: captured headers, response hook.

    ``for_settings`` returns ``None`` when there is nothing to do, so a middleware pays one
    identity check per request for the feature when it is not used.
    """

    __slots__ = ("hook", "request", "response")

    def __init__(self, request: HeaderCapture | None, response: HeaderCapture | None, hook: Any) -> None:
        self.request = request
        self.response = response
        self.hook = hook

    @staticmethod
    def for_settings(settings: Any) -> ServerCapture | None:
        caps = captures()
        hook = getattr(settings, "response_hook", None)
        if caps.server_request is None and caps.server_response is None and hook is None:
            return None
        return ServerCapture(caps.server_request, caps.server_response, hook)

    def requested(self, span: Any, items: Iterable[tuple[Any, Any]]) -> None:
        """Record the captured request headers on the server span."""
        if self.request is not None and span is not None:
            span.set_attributes(self.request.attributes(items))

    def responded(self, span: Any, status: Any, headers: Any) -> None:
        """The response starts: captured response headers, then ``response_hook(span, status, headers)``.

        ``headers`` is a list of ``(name, value)`` pairs (ASGI's bytes are decoded for the hook).
        Never raises: a hook's exception is counted under ``scope.hook_failure``.
        """
        if span is None:
            return
        try:
            if self.response is not None:
                span.set_attributes(self.response.attributes(headers))
            hook = self.hook
            if hook is not None:
                pairs = [(k if k.__class__ is str else bytes(k).decode("latin-1"),
                          v if v.__class__ is str else bytes(v).decode("latin-1")) for k, v in headers or ()]
                hook(span, status, pairs)
        except Exception as exc:
            _diagnostics.count("scope.hook_failure", "obskit: response_hook raised %r (counted)", exc)


class CaptureCache:
    """A middleware's ``ServerCapture``, rebuilt when ``configure()`` hands it new settings."""

    __slots__ = ("_capture", "_seen")

    def __init__(self) -> None:
        self._seen: Any = None
        self._capture: ServerCapture | None = None

    def get(self, settings: Any) -> ServerCapture | None:
        if self._seen is not settings:
            self._capture = ServerCapture.for_settings(settings)
            self._seen = settings
        return self._capture


def wsgi_headers(environ: Any) -> list[tuple[str, str]]:
    """The request headers of a WSGI environ as ``(name, value)`` pairs (``HTTP_X_ID`` -> ``x-id``)."""
    out = []
    for key, value in environ.items():
        if key.__class__ is str and key.startswith("HTTP_"):
            out.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out.append((key.replace("_", "-").lower(), value))
    return out


class UrlFilter:
    """A compiled excluded-URL list: ``excludes(url)`` searches the patterns in the URL."""

    __slots__ = ("_search", "patterns")

    def __init__(self, patterns: Iterable[str] | str) -> None:
        import re

        self.patterns = _parse_patterns("excluded_urls", patterns)
        self._search = re.compile("|".join(f"(?:{p})" for p in self.patterns)).search if self.patterns else None

    def excludes(self, url: str) -> bool:
        search = self._search
        return search is not None and search(url) is not None


def _configured_filter(option: str) -> _pipeline.PerConfig[UrlFilter]:
    return _pipeline.PerConfig(lambda cfg: UrlFilter(cfg.options.get(option) or ()))


_filters = {library: _configured_filter(f"{library}_excluded_urls") for library in ("requests", "httpx")}


def excluded_urls(library: str) -> UrlFilter:
    """The configured excluded URLs of a client library (``"requests"`` or ``"httpx"``)."""
    return _filters[library]()


def url_filter(given: Iterable[str] | str | UrlFilter | None) -> UrlFilter | None:
    """Compile a per-client ``excluded_urls`` argument; ``None`` follows the configuration.

    Raises:
        ConfigError: for a pattern that is not a regular expression.
    """
    if given is None or isinstance(given, UrlFilter):
        return given
    return UrlFilter(given)
