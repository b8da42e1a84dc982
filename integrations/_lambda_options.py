"""The Lambda handler options Powertools users reach for: log_event, capture_response, cold start, empty metrics.

Imports: standard library and obskit's core (``config``, ``_diagnostics``, ``_pipeline``,
``semconv``); ``obskit.logs`` and ``obskit.metrics`` when an invocation needs them.
``obskit.config`` imports this module by name to learn its options, so it must stay
importable with the standard library alone.

Each option is a ``configure()`` setting (with its environment variables, Powertools' among
them) and an ``instrument_handler`` argument that overrides it for one handler:

=====================  ==========================  ==============================================
``instrument_handler``  ``configure()``             environment
=====================  ==========================  ==============================================
``log_event``           ``lambda_log_event``        ``POWERTOOLS_LOGGER_LOG_EVENT``
``capture_response``    ``lambda_capture_response``  ``POWERTOOLS_TRACER_CAPTURE_RESPONSE``
``cold_start_metric``   ``metrics_cold_start``      ``OBSKIT_METRICS_COLD_START``
``warn_empty_metrics``  ``metrics_warn_empty``      ``OBSKIT_METRICS_WARN_EMPTY``
=====================  ==========================  ==============================================

The event is logged as the message of one INFO line on ``obskit.lambda`` (as Powertools logs
it, so ``message.detail.orderId`` queries keep working), redacted by ``log_redact_keys``. The
response is X-Ray metadata ``"<handler> response"`` in the service's namespace (Powertools'
place for it), redacted the same way. Both are off by default: events and responses carry
personal data more often than not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obskit import _diagnostics, _pipeline
from obskit.config import Option, parse_bool
from obskit.semconv import EMPTY_METRICS_MESSAGE, LAMBDA_LOGGER

__all__ = ["OPTIONS", "LambdaOptions"]

OPTIONS: dict[str, Option] = {
    "lambda_log_event": Option(
        False, parse_bool, "log each invocation's event (redacted) as one INFO line on 'obskit.lambda'",
    ),
    "lambda_capture_response": Option(
        False, parse_bool, "keep each invocation's response (redacted) as X-Ray metadata of its span",
    ),
}

_HANDLER_OPTIONS = {
    "log_event": "lambda_log_event",
    "capture_response": "lambda_capture_response",
    "cold_start_metric": "metrics_cold_start",
    "warn_empty_metrics": "metrics_warn_empty",
}
"""``instrument_handler`` argument -> the ``configure()`` option it overrides."""

DIAG_FAILURE = "integrations.lambda.option_failure"


class _Resolved:
    """The four options resolved for one configuration."""

    __slots__ = ("at_begin", "at_end", "capture_response", "cold_start_metric", "log_event", "warn_empty_metrics")

    def __init__(self) -> None:
        self.log_event = False
        self.capture_response = False
        self.cold_start_metric = True
        self.warn_empty_metrics = False
        self.at_begin = self.at_end = False
        """Whether ``begin`` / ``end`` have anything to do (an invocation skips the calls otherwise)."""


class LambdaOptions:
    """The four options of one handler: given ones win, the rest follow the configuration in force.

    Args:
        options: ``instrument_handler``'s keyword arguments; the four are taken out of it
            (the rest are the request scope's).

    Raises:
        ConfigError: for a value that is not a boolean.
    """

    __slots__ = ("_cfg", "_given", "_resolved")

    def __init__(self, options: dict[str, Any]) -> None:
        self._given: dict[str, bool] = {}
        for key in [k for k in options if k in _HANDLER_OPTIONS]:
            value = options.pop(key)
            if value is not None:  # None: follow the configuration
                self._given[key] = parse_bool(key, value)
        self._cfg: Any = None
        self._resolved = _Resolved()

    def resolved(self) -> _Resolved:
        """The options for the configuration in force (rebuilt when ``configure()`` runs)."""
        cfg = _pipeline.get().config
        if cfg is not self._cfg:
            out = _Resolved()
            for arg, option in _HANDLER_OPTIONS.items():
                value = self._given.get(arg)
                setattr(out, arg, bool(cfg.options.get(option, False) if value is None else value))
            out.at_begin = out.log_event or out.warn_empty_metrics
            out.at_end = out.capture_response or out.warn_empty_metrics
            self._resolved, self._cfg = out, cfg
        return self._resolved


def begin(opts: _Resolved, event: Any) -> int:
    """At the start of an invocation (when ``opts.at_begin``): the event's log line, when asked.

    Returns the count of ``single_metric`` writes so far (for the empty-metrics check).
    """
    try:
        if opts.log_event:
            from obskit.logs import get_logger

            get_logger(LAMBDA_LOGGER).info(event if isinstance(event, Mapping) else {"event": event})
        if opts.warn_empty_metrics:
            from obskit.metrics import single_metric_count

            return single_metric_count()
    except Exception:
        _diagnostics.incr(DIAG_FAILURE)
    return 0


def end(opts: _Resolved, scope: Any, handler: Any, response: Any, singles: int) -> None:
    """At the end of an invocation (when ``opts.at_end``, before its telemetry is written): response
    metadata, the empty-metrics check."""
    try:
        if opts.capture_response and scope.span is not None:
            name = getattr(handler, "__name__", "handler")
            scope.span.set_metadata(f"{name} response", response, namespace=_pipeline.get().config.service)
        if opts.warn_empty_metrics:
            from obskit.metrics import has_own_metrics, single_metric_count

            if not has_own_metrics(scope) and single_metric_count() == singles:
                from obskit.logs import get_logger

                _diagnostics.incr("metrics.empty_invocation")
                get_logger(LAMBDA_LOGGER).warning(EMPTY_METRICS_MESSAGE, handler=getattr(handler, "__name__", None))
    except Exception:
        _diagnostics.incr(DIAG_FAILURE)
