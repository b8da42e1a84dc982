"""obskit._logs_bridge: standard library records become obskit lines, once, and the bridge undoes itself."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

import obskit
import obskit.testing
from obskit._context import SCOPE, RequestScope, make_context
from obskit._logs_bridge import ObskitHandler
from obskit.testing import capture

TRACE_ID = "5759e988bd862e3fe1be46a994272793"


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, ObskitHandler)]


def _configure(sink: io.StringIO, **kw: Any) -> None:
    obskit.configure(log_stream=sink, traces="none", metrics="none", **kw)


def _lines(sink: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_stdlib_record_carries_ids_and_extra() -> None:
    """A logging record inside a trace gets the ids, bound fields and its extra fields."""
    with capture() as cap, obskit.activate(make_context(TRACE_ID, "53995c3f42cd8ad8", True, correlation_id="c")), \
            obskit.bound(order_id=7):
        logging.getLogger("botocore.endpoint").warning("sent %s", "req", extra={"attempt": 2})
    line = next(line for line in cap.logs if line["logger"] == "botocore.endpoint")
    assert (line["message"], line["level"], line["trace_id"]) == ("sent req", "WARNING", TRACE_ID)
    assert line["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert (line["correlation_id"], line["order_id"], line["attempt"]) == ("c", 7, 2)


def test_stdlib_exception_is_structured() -> None:
    """logger.exception() through the bridge writes the structured exception."""
    with capture() as cap:
        try:
            raise KeyError("k")
        except KeyError:
            logging.getLogger("lib").exception("failed")
    assert cap.logs[0]["exception"]["type"] == "KeyError"


def test_configure_twice_does_not_duplicate_lines() -> None:
    """Two configure() calls leave one handler and one line per record."""
    sink = io.StringIO()
    _configure(sink)
    _configure(sink)
    logging.getLogger("lib").warning("once")
    assert len(_ours()) == 1
    assert [line["message"] for line in _lines(sink)] == ["once"]


def test_root_level_follows_log_level_and_is_restored() -> None:
    """The bridge sets the root level to log_level; reset() puts the old level back."""
    root = logging.getLogger()
    before = root.level
    sink = io.StringIO()
    _configure(sink, log_level="DEBUG")
    assert root.level == logging.DEBUG
    logging.getLogger("lib").debug("visible")
    obskit.testing.reset()
    assert root.level == before
    assert _ours() == []
    assert [line["message"] for line in _lines(sink)] == ["visible"]


def test_user_handler_is_left_alone_in_root_mode() -> None:
    """In root mode a handler the user installed stays and still gets every record."""
    root = logging.getLogger()
    theirs = logging.StreamHandler(io.StringIO())
    root.addHandler(theirs)
    try:
        sink = io.StringIO()
        _configure(sink, logs_bridge="root")
        logging.getLogger("lib").warning("both")
        assert theirs in root.handlers
        assert "both" in theirs.stream.getvalue()
        assert [line["message"] for line in _lines(sink)] == ["both"]
    finally:
        root.removeHandler(theirs)


def test_replace_mode_takes_other_handlers_off_and_reset_restores_them() -> None:
    """In replace mode obskit's handler is the only root handler until reset()."""
    root = logging.getLogger()
    theirs = logging.StreamHandler(io.StringIO())
    root.addHandler(theirs)
    try:
        _configure(io.StringIO(), logs_bridge="replace")
        assert root.handlers == _ours()
        logging.getLogger("lib").warning("only obskit")
        assert theirs.stream.getvalue() == ""
        obskit.testing.reset()
        assert theirs in root.handlers
    finally:
        root.removeHandler(theirs)


def test_lambda_defaults_to_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda the runtime's own root handler is replaced (it would print every line twice)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    root = logging.getLogger()
    lambda_handler = logging.StreamHandler(io.StringIO())
    root.addHandler(lambda_handler)
    try:
        _configure(io.StringIO())
        assert lambda_handler not in root.handlers
        obskit.testing.reset()
        assert lambda_handler in root.handlers
    finally:
        root.removeHandler(lambda_handler)


def test_bridge_none_leaves_logging_alone() -> None:
    """logs_bridge="none" installs nothing and changes no level."""
    level = logging.getLogger().level
    _configure(io.StringIO(), logs_bridge="none")
    assert _ours() == []
    assert logging.getLogger().level == level


def test_implicit_configuration_does_not_bridge(capsys: pytest.CaptureFixture[str]) -> None:
    """Logging before configure() (environment defaults) does not touch the logging module."""
    obskit.get_logger("early").info("hi")
    assert _ours() == []
    assert json.loads(capsys.readouterr().out)["message"] == "hi"


def test_logs_none_removes_the_bridge() -> None:
    """Reconfiguring with logs="none" takes the handler off again."""
    _configure(io.StringIO())
    assert len(_ours()) == 1
    obskit.configure(logs="none", traces="none", metrics="none")
    assert _ours() == []


def test_stdlib_error_in_a_request_fails_it() -> None:
    """An ERROR record inside a request scope marks the request failed."""
    scope = RequestScope()
    token = SCOPE.set(scope)
    try:
        with capture():
            logging.getLogger("lib").error("bad")
    finally:
        SCOPE.reset(token)
    assert scope.failed is True


def test_logging_from_inside_the_handler_does_not_recurse() -> None:
    """A record logged while the handler writes another one is dropped and counted."""

    def chatty(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        logging.getLogger("obskit").warning("from inside")
        return event

    sink = io.StringIO()
    _configure(sink, log_processors=[chatty])
    logging.getLogger("lib").warning("outer")
    assert [line["message"] for line in _lines(sink)] == ["outer"]
    assert obskit.diagnostics()["logs.bridge_recursion"] == 1


def test_obskit_diagnostics_become_lines() -> None:
    """obskit's own warnings on the obskit logger are written as lines too, once."""
    sink = io.StringIO()
    _configure(sink)
    from obskit import _diagnostics

    _diagnostics.report_once("test.key", "obskit: something was dropped")
    _diagnostics.report_once("test.key", "obskit: something was dropped")
    assert [(line["logger"], line["message"]) for line in _lines(sink)] == [
        ("obskit", "obskit: something was dropped"),
    ]
