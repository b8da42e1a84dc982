"""configure(): arguments, environment and defaults become one frozen, validated ``Config``.

Imports: standard library and obskit's core. Emitter modules are imported by name, only when
they are configured (see ``obskit._pipeline``).

Precedence for every setting: argument > ``OBSKIT_*`` variable > compatible variable
(``OTEL_SERVICE_NAME``, ``POWERTOOLS_*``, ``LOG_LEVEL``, ``AWS_*``) > default. Every value is
checked here, at configuration time, and a bad one raises ``ConfigError`` naming the option,
the value and what is accepted; the request path then never has to validate settings.
Calling ``configure()`` again builds a complete new runtime and swaps it in one assignment.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from obskit import _diagnostics, _env, _pipeline
from obskit.errors import ConfigError, MissingDependencyError, ObskitWarning
from obskit.ids import Clock, IdGenerator, RandomIdGenerator
from obskit.semconv import DEFAULT_NAMESPACE

__all__ = ["Config", "Option", "configure", "current_config"]

TRACE_NAMES = ("xray", "otel")
METRIC_NAMES = ("stdout", "agent", "file")
LOG_NAMES = ("json", "console", "none")
PROPAGATOR_NAMES = ("tracecontext", "xray", "lambda")
DEFAULT_PROPAGATION = ("tracecontext", "xray", "lambda")
DEFAULT_CORRELATION_HEADERS = ("x-correlation-id", "x-request-id")
DEFAULT_SERVICE = "unknown_service"

_LEVELS = {
    "TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30,
    "ERROR": 40, "FATAL": 50, "CRITICAL": 50,
}

# Modules that may declare extra options (``OPTIONS: dict[str, Option]``) and may react to a
# new configuration (``_on_configure(runtime, explicit)``). Each is stdlib-only at import.
_OPTION_PROVIDERS = (
    "obskit.logs",
    "obskit.metrics",
    "obskit.tracing",
    "obskit.scope",
    "obskit.emitters.emf",
    "obskit.emitters.sinks",
    "obskit.emitters.xray",
    "obskit.emitters.otel",
    "obskit.sampling",
    "obskit.integrations._outbound",
    "obskit.integrations._http_capture",
    "obskit.integrations._lambda_options",
)
_SIGNAL_MODULES = ("obskit.logs", "obskit.metrics", "obskit.tracing")


class Option(NamedTuple):
    """An extra ``configure()`` option declared by a signal or emitter module.

    ``parse(name, value)`` gets the argument or the environment string and returns the value
    to keep, or raises ``ConfigError`` saying what is accepted.
    """

    default: Any
    parse: Callable[[str, Any], Any]
    doc: str = ""


@dataclass(frozen=True)
class Config:
    """The validated configuration in force. Read it with ``obskit.config.current_config()``."""

    service: str
    namespace: str
    environment: str | None
    traces: tuple[str, ...]
    metrics: str
    logs: str
    log_level: int
    sample_rate: float
    trace_sample_rate: float
    trace_reservoir_per_s: int
    propagation: tuple[str, ...]
    correlation_headers: tuple[str, ...]
    max_header_bytes: int
    disabled: bool
    debug: bool
    in_lambda: bool
    function_name: str | None
    id_generator: IdGenerator | None = field(default=None, repr=False)
    clock: Clock = field(default=time.time_ns, repr=False)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    """Where each setting came from: ``"argument"``, an environment variable's name, or ``"default"``."""

    def option(self, name: str) -> Any:
        """The value of an emitter option (its default when not given)."""
        return self.options[name]


# --- parsers that option providers reuse -------------------------------------------------------
def _fail(name: str, value: Any, expected: str) -> ConfigError:
    """``configure(name=value): expected ...``, or ``VARIABLE=value: ...`` when it came from the environment."""
    where = f"{name}={value!r}" if name.isupper() else f"configure({name}={value!r})"
    return ConfigError(f"{where}: expected {expected}")


def parse_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, value, "a non-empty string")
    return value.strip()


def parse_optional_str(name: str, value: Any) -> str | None:
    if value is None:
        return None
    return parse_str(name, value)


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        got = _env.parse_bool(value)
        if got is not None:
            return got
    raise _fail(name, value, "a boolean (true/false, 1/0, yes/no, on/off)")


def parse_number(low: float, high: float, *, integer: bool = False) -> Callable[[str, Any], Any]:
    """A parser for a number in ``[low, high]`` (from a number or its string form)."""

    def parse(name: str, value: Any) -> Any:
        raw = value
        if isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                raise _fail(name, raw, f"a number from {low:g} to {high:g}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise _fail(name, raw, f"{'an integer' if integer else 'a number'} from {low:g} to {high:g}")
        if not (math.isfinite(value) and low <= value <= high):
            raise _fail(name, raw, f"a number from {low:g} to {high:g}")
        return value

    return parse


def parse_str_tuple(name: str, value: Any) -> tuple[str, ...]:
    """A comma-separated string or an iterable of strings, stripped, empty items dropped."""
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    try:
        out = tuple(str(v).strip() for v in items if str(v).strip())
    except TypeError:
        raise _fail(name, value, "a list of strings or a comma-separated string") from None
    if any(not isinstance(v, str) for v in (value if not isinstance(value, str) else ())):
        raise _fail(name, value, "a list of strings or a comma-separated string")
    return out


def parse_level(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 50:
        return value
    if isinstance(value, str):
        key = value.strip().upper()
        if key in _LEVELS:
            return _LEVELS[key]
        if key.isdigit() and 0 <= int(key) <= 50:
            return int(key)
    raise _fail(name, value, "a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) or number 0-50")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _choice(name: str, value: Any, choices: tuple[str, ...], extra: tuple[str, ...] = ()) -> str:
    allowed = choices + extra
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    listed = ", ".join(repr(c) for c in allowed)
    hint = _did_you_mean(value, allowed) if isinstance(value, str) else ""
    if isinstance(value, str) and value.strip().lower() == "memory":
        hint = " (tests keep every signal in memory with obskit.testing.capture())"
    raise _fail(name, value, f"one of {listed}{hint}")


def _item_choice(name: str, whole: Any, item: Any, choices: tuple[str, ...], extra: tuple[str, ...] = ()) -> str:
    """``_choice`` for one item of a list-valued setting: an error quotes the whole value and the item."""
    try:
        return _choice(name, item, choices, extra)
    except ConfigError as exc:
        if isinstance(whole, str) and "," not in whole:
            raise  # a single value: the item is the whole value
        hint = str(exc).partition(": expected one of ")[2]
        raise _fail(name, whole, f"items from {hint} ({item!r} is not one)") from None


# --- resolution -------------------------------------------------------------------------------
class _Resolver:
    """Applies argument > environment > default to each setting and records the source."""

    def __init__(self, args: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.args = args
        self.environ = environ
        self.sources: dict[str, str] = {}

    def get(self, setting: str, default: Any) -> Any:
        value = self.args.get(setting)
        if value is not None:
            self.sources[setting] = "argument"
            return value
        found = _env.lookup(setting, self.environ)
        if found is not None:
            self.sources[setting] = found[0]
            return found[1]
        self.sources[setting] = "default"
        return default

    def where(self, setting: str) -> str:
        """The name to quote in an error: the argument's, or the environment variable's.

        Callers write ``parse(r.where(name), r.get(name, default))``, so ``where`` runs
        before ``get`` has recorded the source: it looks the source up itself.
        """
        src = self.sources.get(setting)
        if src is None:
            found = None if self.args.get(setting) is not None else _env.lookup(setting, self.environ)
            src = found[0] if found is not None else "argument"
        return src if src not in ("argument", "default") else setting


def _in_lambda(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(_env.LAMBDA_FUNCTION_NAME)) and (
        bool(environ.get(_env.LAMBDA_TASK_ROOT))
        or environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda")
    )


def _otel_wanted(environ: Mapping[str, str], options: Mapping[str, Any]) -> bool:
    if options.get("tracer_provider") is not None:
        return True
    exporter = environ.get(_env.OTEL_TRACES_EXPORTER, "").strip().lower()
    if exporter == "none":
        return False
    if not (exporter or environ.get(_env.OTEL_EXPORTER_OTLP_ENDPOINT)
            or environ.get(_env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)):
        return False
    import importlib.util

    # "auto" must never pick an emitter that would then fail: the SDK, and for OTLP (the
    # default exporter) the OTLP exporter package, must be installed.
    needed = ["opentelemetry.sdk"]
    if exporter in ("", "otlp"):
        needed.append("opentelemetry.exporter.otlp")
    try:
        return all(importlib.util.find_spec(m) is not None for m in needed)
    except (ImportError, ValueError):
        return False


def _resolve_traces(r: _Resolver, in_lambda: bool, options: Mapping[str, Any]) -> tuple[str, ...]:
    raw = r.get("traces", "auto")
    name = r.where("traces")
    items = [raw] if isinstance(raw, str) and "," not in raw else (
        raw.split(",") if isinstance(raw, str) else raw
    )
    try:
        names = [_item_choice(name, raw, v, TRACE_NAMES, ("none", "auto")) for v in items]
    except ConfigError:
        raise
    except Exception:
        raise _fail(name, raw, "'xray', 'otel', 'none', 'auto' or a list of them") from None
    if not names:
        raise _fail(name, raw, "'xray', 'otel', 'none', 'auto' or a list of them")
    if "none" in names:
        if len(names) > 1:
            raise _fail(name, raw, "'none' alone, not combined with other trace emitters")
        return ()
    if "auto" in names:
        if len(names) > 1:
            raise _fail(name, raw, "'auto' alone, not combined with other trace emitters")
        if _otel_wanted(r.environ, options):
            return ("otel",)
        if in_lambda or options.get("xray_daemon_address"):
            return ("xray",)
        return ()
    return tuple(dict.fromkeys(names))


def _resolve_metrics(r: _Resolver, options: Mapping[str, Any]) -> str:
    value = _choice(r.where("metrics"), r.get("metrics", "auto"), METRIC_NAMES, ("none", "auto"))
    if value == "auto":
        return "agent" if options.get("emf_agent_endpoint") else "stdout"
    return value


def _switched_off(r: _Resolver, setting: str) -> bool:
    """Powertools' ``POWERTOOLS_TRACE_DISABLED`` / ``POWERTOOLS_METRICS_DISABLED`` is ``true`` and
    nothing more specific (an argument, an ``OBSKIT_*`` variable) chose the emitters."""
    var = _env.OFF_SWITCHES[setting]
    raw = r.environ.get(var)
    if raw is None or r.sources.get(setting) != "default" or _env.parse_bool(raw) is not True:
        return False
    r.sources[setting] = var
    return True


def _resolve_log_level(r: _Resolver, in_lambda: bool) -> int:
    level = parse_level(r.where("log_level"), r.get("log_level", "INFO"))
    lambda_level = r.environ.get(_env.LAMBDA_LOG_LEVEL, "").strip().upper()
    if lambda_level and in_lambda:
        try:
            alc = parse_level(_env.LAMBDA_LOG_LEVEL, lambda_level)
        except ConfigError:
            return level
        if r.sources.get("log_level") == "default":
            # Lambda's own setting is the only level the user chose: it is the level, no warning
            r.sources["log_level"] = _env.LAMBDA_LOG_LEVEL
            return alc
        if alc > level:
            warnings.warn(
                f"AWS_LAMBDA_LOG_LEVEL={lambda_level} is less verbose than the configured log level; "
                "Lambda would drop the extra lines anyway, so obskit uses it (set both to the same level "
                "to silence this warning)",
                ObskitWarning,
                stacklevel=4,
            )
            r.sources["log_level"] = _env.LAMBDA_LOG_LEVEL
            return alc
    return level


def _options_from_providers() -> dict[str, Option]:
    declared: dict[str, Option] = {}
    for module_name in _OPTION_PROVIDERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not part of this build
            raise
        declared.update(getattr(module, "OPTIONS", {}))
    return declared


def _resolve_options(r: _Resolver, given: Mapping[str, Any]) -> dict[str, Any]:
    declared = _options_from_providers()
    unknown = [k for k in given if k not in declared]
    if unknown:
        names = sorted(declared)
        key = unknown[0]
        raise ConfigError(
            f"configure() got an unknown option {key!r}{_did_you_mean(key, names)}; "
            f"known options: {', '.join(names) or '(none)'}"
        )
    out: dict[str, Any] = {}
    for key, opt in declared.items():
        value = r.get(key, None)
        out[key] = opt.default if value is None else opt.parse(r.where(key), value)
    return out


def resolve(args: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Turn ``configure()``'s arguments plus the environment into a validated ``Config``."""
    env = os.environ if environ is None else environ
    core = {k: v for k, v in args.items() if k in _CORE_ARGS}
    given = {k: v for k, v in args.items() if k not in _CORE_ARGS}
    r = _Resolver(core, env)
    in_lambda = _in_lambda(env)
    options_resolver = _Resolver(given, env)
    options = _resolve_options(options_resolver, given)
    disabled = parse_bool(r.where("disabled"), r.get("disabled", False))
    traces = _resolve_traces(r, in_lambda, options)
    if _switched_off(r, "traces"):
        traces = ()
    metrics = _resolve_metrics(r, options)
    if _switched_off(r, "metrics"):
        metrics = "none"
    logs = _choice(r.where("logs"), r.get("logs", "json"), LOG_NAMES)
    if disabled:
        traces, metrics, logs = (), "none", "none"
    raw_propagation = r.get("propagation", DEFAULT_PROPAGATION)
    propagation = parse_str_tuple(r.where("propagation"), raw_propagation)
    for p in propagation:
        _item_choice(r.where("propagation"), raw_propagation, p, PROPAGATOR_NAMES)
    if not propagation:
        raise _fail("propagation", args.get("propagation"), f"a non-empty list from {PROPAGATOR_NAMES}")
    headers = tuple(
        h.lower() for h in parse_str_tuple(r.where("correlation_headers"),
                                           r.get("correlation_headers", DEFAULT_CORRELATION_HEADERS))
    )
    ids = args.get("id_generator")
    if ids is not None and not (callable(getattr(ids, "trace_id", None)) and callable(getattr(ids, "span_id", None))):
        raise _fail("id_generator", ids, "an object with trace_id() and span_id() methods returning ints")
    clock = args.get("clock")
    if clock is not None and not callable(clock):
        raise _fail("clock", clock, "a callable returning the time in nanoseconds since the epoch")
    environment = r.get("environment", None)
    return Config(
        service=parse_str(r.where("service"), r.get("service", DEFAULT_SERVICE)),
        namespace=_parse_namespace(r.where("namespace"), r.get("namespace", DEFAULT_NAMESPACE)),
        environment=parse_optional_str(r.where("environment"), environment),
        traces=traces,
        metrics=metrics,
        logs=logs,
        log_level=_resolve_log_level(r, in_lambda),
        sample_rate=parse_number(0.0, 1.0)(r.where("sample_rate"), r.get("sample_rate", 0.0)),
        trace_sample_rate=parse_number(0.0, 1.0)(r.where("trace_sample_rate"), r.get("trace_sample_rate", 1.0)),
        trace_reservoir_per_s=parse_number(0, 1_000_000, integer=True)(
            r.where("trace_reservoir_per_s"), r.get("trace_reservoir_per_s", 0)),
        propagation=tuple(p.strip().lower() for p in propagation),
        correlation_headers=headers,
        max_header_bytes=parse_number(256, 1 << 20, integer=True)(
            "max_header_bytes", core.get("max_header_bytes") or 8192),
        disabled=disabled,
        debug=parse_bool(r.where("debug"), r.get("debug", False)),
        in_lambda=in_lambda,
        function_name=env.get(_env.LAMBDA_FUNCTION_NAME) or None,
        id_generator=ids,
        clock=clock or time.time_ns,
        options=MappingProxyType(options),
        sources=MappingProxyType({**options_resolver.sources, **r.sources}),
    )


def _parse_namespace(name: str, value: Any) -> str:
    text = parse_str(name, value)
    if len(text) > 255 or text.startswith(":") or not text.isascii():
        raise _fail(name, value, "a CloudWatch namespace: 1-255 ASCII characters, not starting with ':'")
    return text


_CORE_ARGS = frozenset({
    "service", "namespace", "environment", "traces", "metrics", "logs", "log_level", "sample_rate",
    "trace_sample_rate", "trace_reservoir_per_s", "propagation", "correlation_headers", "max_header_bytes",
    "disabled", "debug", "id_generator", "clock",
})


# --- building and installing the runtime --------------------------------------------------------
def _factory(kind: str, name: str, table: Mapping[str, str]) -> Callable[..., Any]:
    target = table.get(name)
    if target is None:
        from importlib.metadata import entry_points

        for ep in entry_points(group="obskit.emitters"):
            if ep.name == f"{kind}.{name}":
                return ep.load()  # type: ignore[no-any-return]
        raise ConfigError(f"no {kind[:-1]} emitter named {name!r}")
    module = target.partition(":")[0]
    try:
        return _pipeline.load(target)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise ConfigError(
                f"the {name!r} {kind[:-1]} emitter is not available in this version of obskit"
            ) from None
        raise MissingDependencyError(
            f"the {name!r} {kind[:-1]} emitter needs the {exc.name!r} package; "
            f"install it with: pip install 'obskit[{'xray' if name == 'xray' else name}]'"
        ) from None
    except AttributeError:
        raise ConfigError(f"the {name!r} {kind[:-1]} emitter is not available in this version of obskit") from None


def build_runtime(config: Config, capture: Any = None) -> _pipeline.Runtime:
    """Build the emitters a configuration names (or the in-memory ones of a capture)."""
    ids = config.id_generator or RandomIdGenerator()
    if capture is not None:
        spans = []
        try:
            spans = [_factory("traces", "memory", _pipeline.TRACE_EMITTERS)(config, capture.spans)]
        except ConfigError:
            pass  # tracing not part of this build yet: capture.spans stays empty
        metric = None
        try:
            metric = _factory("metrics", "memory", _pipeline.METRIC_EMITTERS)(config, capture.metrics)
        except ConfigError:
            pass
        return _pipeline.Runtime(config, ids, config.clock, spans, metric, capture)
    span_emitters = [_factory("traces", n, _pipeline.TRACE_EMITTERS)(config) for n in config.traces]
    metric_emitter = None
    if config.metrics != "none":
        try:
            metric_emitter = _factory("metrics", config.metrics, _pipeline.METRIC_EMITTERS)(config)
        except ConfigError:
            if config.sources.get("metrics") != "default":
                raise  # asked for by name: say so; the unconfigured default just goes without
            _diagnostics.report_once("config.metrics_default", "obskit: no metric emitter available")
    return _pipeline.Runtime(config, ids, config.clock, span_emitters, metric_emitter)


def _notify(runtime: _pipeline.Runtime, *, explicit: bool) -> None:
    for module_name in _SIGNAL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        hook = getattr(module, "_on_configure", None)
        if hook is not None:
            hook(runtime, explicit)


_last_args: Mapping[str, Any] = MappingProxyType({})
_explicit = False


def configure(
    service: str | None = None,
    namespace: str | None = None,
    environment: str | None = None,
    traces: str | Iterable[str] | None = None,
    metrics: str | None = None,
    logs: str | None = None,
    log_level: str | int | None = None,
    sample_rate: float | None = None,
    *,
    trace_sample_rate: float | None = None,
    trace_reservoir_per_s: int | None = None,
    propagation: str | Iterable[str] | None = None,
    correlation_headers: str | Iterable[str] | None = None,
    max_header_bytes: int | None = None,
    disabled: bool | None = None,
    debug: bool | None = None,
    id_generator: IdGenerator | None = None,
    clock: Clock | None = None,
    **emitter_options: Any,
) -> Config:
    """Configure obskit for this process; calling it again replaces the configuration atomically.

    Every argument left as ``None`` comes from the environment, then from the default; see
    the README's configuration table for each variable.

    Args:
        service: the service name on every log line, span and metric (``OBSKIT_SERVICE``,
            ``OTEL_SERVICE_NAME``, ``POWERTOOLS_SERVICE_NAME``, ``AWS_LAMBDA_FUNCTION_NAME``).
        namespace: the CloudWatch namespace of the metrics (default ``"obskit"``).
        environment: adds an ``Environment`` dimension and log field when set.
        traces: ``"xray"``, ``"otel"``, ``"none"``, a list of those, or ``"auto"`` (OpenTelemetry
            when an exporter is configured through ``OTEL_*``, X-Ray in Lambda or when a daemon
            address is set, otherwise none: spans then still give logs their ids).
        metrics: ``"stdout"`` (EMF on stdout), ``"agent"`` (the CloudWatch agent), ``"file"``,
            ``"none"`` or ``"auto"`` (agent when an endpoint is set, else stdout). In tests,
            ``obskit.testing.capture()`` keeps every signal in memory.
        logs: ``"json"``, ``"console"`` (for development) or ``"none"``.
        log_level: a level name or number; Lambda's ``AWS_LAMBDA_LOG_LEVEL`` wins when it is
            less verbose (with a warning), because Lambda would drop the lines anyway.
        sample_rate: share of requests (0-1) that log at DEBUG, decided once at the edge.
        trace_sample_rate: share of new traces that are sampled (parent decisions are kept).
        trace_reservoir_per_s: new traces recorded each second beyond those
            ``trace_sample_rate`` selects, so a quiet service still has traces to look at.
            With ``trace_sample_rate=0.05`` and ``1``, it is X-Ray's default sampling rule.
        propagation: header formats to read, in precedence order (``tracecontext``, ``xray``,
            ``lambda``).
        correlation_headers: incoming headers that carry a correlation id, first match wins.
        max_header_bytes: incoming header values longer than this are ignored and counted.
        disabled: turn every emitter off (``OBSKIT_DISABLED``); ids and context still work.
        debug: report obskit's own diagnostics verbosely.
        id_generator: an ``IdGenerator`` (tests: deterministic ids).
        clock: a callable returning epoch nanoseconds (tests: a fixed clock).
        **emitter_options: options of the emitters and signals, e.g.
            ``xray_daemon_address="127.0.0.1:2000"``, ``tracer_provider=...``,
            ``emf_agent_endpoint="tcp://127.0.0.1:25888"``.

    Returns:
        The new configuration.

    Raises:
        ConfigError: an option has a value obskit cannot use (the message names the option,
            the value and what is accepted).
        MissingDependencyError: a configured emitter needs an extra that is not installed.
    """
    global _last_args, _explicit
    args: dict[str, Any] = {
        "service": service, "namespace": namespace, "environment": environment, "traces": traces,
        "metrics": metrics, "logs": logs, "log_level": log_level, "sample_rate": sample_rate,
        "trace_sample_rate": trace_sample_rate, "trace_reservoir_per_s": trace_reservoir_per_s,
        "propagation": propagation,
        "correlation_headers": correlation_headers, "max_header_bytes": max_header_bytes,
        "disabled": disabled, "debug": debug, "id_generator": id_generator, "clock": clock,
        **emitter_options,
    }
    args = {k: v for k, v in args.items() if v is not None}
    config = resolve(args)
    runtime = build_runtime(config)
    old = _pipeline.install(runtime)
    _last_args = MappingProxyType(args)
    _explicit = True
    _notify(runtime, explicit=True)
    if old is not None and old is not runtime:
        _pipeline.close_emitters(old)
    return config


def configure_implicitly() -> _pipeline.Runtime:
    """The configuration used before (or without) ``configure()``: the environment's.

    Never raises: a bad environment variable must not turn the first log line of an
    unconfigured app into a crash. It is reported once and the defaults are used instead.
    """
    try:
        config = resolve({})
        runtime = build_runtime(config)
    except Exception as exc:
        _diagnostics.incr("config.implicit_failure")
        _diagnostics.report_once(
            "config.implicit", "obskit: ignoring the environment's configuration: %s", exc
        )
        config = resolve({"traces": "none"}, environ={})
        runtime = build_runtime(config)
    _pipeline.install(runtime)
    _notify(runtime, explicit=False)
    return runtime


def adopt_function_name(name: str) -> None:
    """Name the Lambda function from its context when the environment does not (a local run, a test).

    ``instrument_handler`` calls it on the first invocation. Inside Lambda the runtime sets
    ``AWS_LAMBDA_FUNCTION_NAME``; a test, ``sam local``-like script or another runtime interface
    client may not, though ``context.function_name`` is set. The configuration in force keeps its
    emitters; only ``function_name`` and a defaulted ``service`` change, as the variable would have.
    """
    rt = _pipeline.get()
    cfg = rt.config
    if cfg.function_name is not None or not name or name.__class__ is not str:
        return
    changes: dict[str, Any] = {"function_name": name}
    if cfg.sources.get("service") == "default":
        changes["service"] = name
        changes["sources"] = MappingProxyType({**cfg.sources, "service": "context.function_name"})
    runtime = copy.copy(rt)  # the same emitters, sampler and capture: only the configuration changes
    runtime.config = dataclasses.replace(cfg, **changes)
    with _pipeline._lock:
        if _pipeline.RUNTIME is not rt:
            return  # configured meanwhile: that configuration wins
        _pipeline.install(runtime)
    _notify(runtime, explicit=_explicit)


def last_arguments() -> Mapping[str, Any]:
    """The arguments of the last explicit ``configure()`` call (``obskit.testing.capture``)."""
    return _last_args


def forget_arguments() -> None:
    global _last_args, _explicit
    _last_args = MappingProxyType({})
    _explicit = False


def is_explicit() -> bool:
    """Whether ``configure()`` was called (rather than the environment's defaults in use)."""
    return _explicit


def current_config() -> Config:
    """The configuration in force (the environment's until ``configure()`` is called)."""
    return _pipeline.get().config
