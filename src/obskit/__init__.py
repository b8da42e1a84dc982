"""obskit: correlated logs, EMF metrics and traces for Python services on AWS.

Imports: the standard library and obskit's own stdlib-only core. Nothing happens at import:
no environment reads, handlers, patching, sockets or threads. Heavy dependencies (structlog,
orjson, aws-xray-sdk, opentelemetry, boto3, frameworks) are imported by the function that
needs them, when it is first used.
"""

from __future__ import annotations

from typing import Any

from obskit._context import TelemetryContext
from obskit.errors import (
    ConfigError,
    MissingDependencyError,
    ObskitError,
    ObskitWarning,
    SLOSpecError,
)

__all__ = [
    "ConfigError",
    "MissingDependencyError",
    "ObskitError",
    "ObskitWarning",
    "SLOSpecError",
    "TelemetryContext",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("obskit")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'obskit' has no attribute {name!r}")
