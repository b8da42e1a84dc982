"""obskit: correlated logs, EMF metrics and traces for Python services on AWS.

Imports: nothing at import time but ``obskit.errors``. Every other public name is loaded on first
access (PEP 562), so ``import obskit`` costs well under a millisecond and starts nothing: no
environment reads, handlers, patching, sockets or threads. Heavy dependencies (structlog,
orjson, aws-xray-sdk, opentelemetry, boto3, frameworks) are imported by the function that needs
them, when it is first used.
"""


from obskit.errors import (
    ConfigError,
    MissingDependencyError,
    ObskitError,
    ObskitWarning,
    SLOSpecError,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs 2 ms
if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and IDEs
    from obskit import metrics
    from obskit._context import TelemetryContext
    from obskit._diagnostics import diagnostics
    from obskit._otel_bridge import instrument_installed
    from obskit._pipeline import flush, shutdown
    from obskit.config import Config, configure
    from obskit.context import (
        ContextThreadPoolExecutor,
        activate,
        bound,
        current,
        new_trace,
        run_in_context,
    )
    from obskit.logs import get_logger
    from obskit.propagation import extract, inject
    from obskit.tracing import Span, current_span, span

__all__ = [
    "Config",
    "ConfigError",
    "ContextThreadPoolExecutor",
    "MissingDependencyError",
    "ObskitError",
    "ObskitWarning",
    "SLOSpecError",
    "Span",
    "TelemetryContext",
    "activate",
    "bound",
    "configure",
    "current",
    "current_span",
    "diagnostics",
    "extract",
    "flush",
    "get_logger",
    "inject",
    "instrument_installed",
    "metrics",
    "new_trace",
    "run_in_context",
    "shutdown",
    "span",
]

_LAZY = {
    "Config": "obskit.config:Config",
    "ContextThreadPoolExecutor": "obskit.context:ContextThreadPoolExecutor",
    "Span": "obskit.tracing:Span",
    "TelemetryContext": "obskit._context:TelemetryContext",
    "activate": "obskit.context:activate",
    "bound": "obskit.context:bound",
    "configure": "obskit.config:configure",
    "current": "obskit.context:current",
    "current_span": "obskit.tracing:current_span",
    "diagnostics": "obskit._diagnostics:diagnostics",
    "extract": "obskit.propagation:extract",
    "flush": "obskit._pipeline:flush",
    "get_logger": "obskit.logs:get_logger",
    "inject": "obskit.propagation:inject",
    "instrument_installed": "obskit._otel_bridge:instrument_installed",
    "metrics": "obskit.metrics",
    "new_trace": "obskit.context:new_trace",
    "run_in_context": "obskit.context:run_in_context",
    "shutdown": "obskit._pipeline:shutdown",
    "span": "obskit.tracing:span",
}


def __getattr__(name: str) -> object:
    target = _LAZY.get(name)
    if target is not None:
        import importlib

        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        value = getattr(module, attr) if attr else module
        globals()[name] = value  # later accesses skip this function
        return value
    if name == "__version__":
        from obskit._version import __version__

        return __version__
    raise AttributeError(f"module 'obskit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
