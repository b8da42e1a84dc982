"""Lambda handlers written from the README alone: no ``configure()``, run as Lambda or locally."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import pytest

import obskit
from obskit import semconv
from obskit.config import current_config
from obskit.errors import ConfigError
from obskit.integrations.aws_lambda import correlation_paths, instrument_handler
from obskit.testing import LambdaContext, capture

EVENTS = pathlib.Path(__file__).with_name("events")


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def _access(cap) -> dict:
    (line,) = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    return line


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")


@pytest.mark.parametrize(("source", "path", "expected"), [
    ("apigw_rest_v1", correlation_paths.API_GATEWAY_REST, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
    ("sqs", correlation_paths.SQS, None),
    ("eventbridge", "detail.orderId", None),
])
def test_correlation_id_path_takes_the_id_from_the_event(source: str, path: str, expected: str | None) -> None:
    """``correlation_id_path`` (JMESPath) names the event's value that is the correlation id."""
    ev = event(source)
    if source == "sqs":
        expected = ev["Records"][0]["messageId"]
    elif expected is None:
        expected = ev.setdefault("detail", {}).setdefault("orderId", "o-7")
    seen = []
    handler = instrument_handler(lambda e, c: seen.append(obskit.current().correlation_id),
                                 correlation_id_path=path)
    with capture() as cap:
        handler(ev, LambdaContext())
    assert seen == [expected]
    assert _access(cap)["correlation_id"] == expected


def test_correlation_id_path_wins_over_a_correlation_header() -> None:
    """The path is what the user asked for: it wins over an ``x-correlation-id`` header."""
    ev = event("apigw_rest_v1")
    ev["headers"]["x-correlation-id"] = "from-the-header"
    handler = instrument_handler(lambda e, c: {"statusCode": 200},
                                 correlation_id_path=correlation_paths.API_GATEWAY_REST)
    with capture() as cap:
        handler(ev, LambdaContext())
    assert _access(cap)["correlation_id"] == ev["requestContext"]["requestId"]


def test_a_path_that_finds_nothing_keeps_the_usual_correlation_id() -> None:
    """No value at the path: the request still gets a correlation id, and the miss is counted."""
    handler = instrument_handler(lambda e, c: None, correlation_id_path="detail.missing")
    with capture() as cap:
        handler({"detail": {}}, LambdaContext())
    assert _access(cap)["correlation_id"]
    assert obskit.diagnostics()["lambda.correlation_id_path_missed"] == 1


@pytest.mark.parametrize("bad", ["", "a[", 7])
def test_a_bad_correlation_id_path_fails_at_decoration(bad: Any) -> None:
    with pytest.raises(ConfigError, match="correlation_id_path"):
        instrument_handler(lambda e, c: None, correlation_id_path=bad)


def test_an_eventbridge_events_own_id_is_the_correlation_id() -> None:
    """By default an EventBridge event's ``id`` is the invocation's correlation id."""
    ev = event("eventbridge")
    handler = instrument_handler(lambda e, c: None)
    with capture() as cap:
        handler(ev, LambdaContext())
    assert _access(cap)["correlation_id"] == ev["id"]


def test_without_the_environment_the_context_names_the_function_and_the_service() -> None:
    """A local run (no ``AWS_LAMBDA_FUNCTION_NAME``): ``context.function_name`` is the service too."""
    handler = instrument_handler(lambda e, c: obskit.get_logger("app").info("inside"))
    with capture() as cap:
        handler({}, LambdaContext("checkout"))
        assert current_config().function_name == "checkout"
    assert {line["service"] for line in cap.logs} == {"checkout"}
    assert cap.metric_values("ColdStart", {"FunctionName": "checkout", "Service": "checkout"}) == [1]


def test_a_configured_service_is_kept_when_the_context_names_the_function() -> None:
    obskit.configure(service="orders-api")
    handler = instrument_handler(lambda e, c: None)
    with capture() as cap:
        handler({}, LambdaContext("checkout"))
    assert _access(cap)["service"] == "orders-api"
    assert cap.metric_values("ColdStart", {"FunctionName": "checkout"}) == [1]


def test_only_lambdas_own_log_level_is_the_level_without_a_warning(
    in_lambda: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``AWS_LAMBDA_LOG_LEVEL=WARN`` alone: no ObskitWarning, and WARN is obskit's level."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert current_config().log_level == 30


def test_the_raising_handlers_error_access_line_carries_the_exception() -> None:
    """The ERROR access line of a raising handler has the exception's type, message and frames."""
    def handler(event: Any, context: Any) -> None:
        raise KeyError("sku-1")

    with capture() as cap, pytest.raises(KeyError):
        instrument_handler(handler)({}, LambdaContext())
    line = _access(cap)
    assert line["level"] == "ERROR"
    assert (line["exception"]["type"], line["exception"]["message"]) == ("KeyError", "'sku-1'")
    assert line["exception"]["frames"][-1]["function"] == "handler"


SCRIPT = '''
import logging, sys
logging.basicConfig(format="[%(levelname)s] %(message)s", stream=sys.stdout)  # as Lambda's runtime does
from obskit.integrations.aws_lambda import instrument_handler
from obskit.testing import LambdaContext

@instrument_handler
def handler(event, context):
    logging.getLogger("app").warning("stdlib line")
    return {"statusCode": 200}

handler({}, LambdaContext("orders"))
logging.getLogger("app").warning("after the invocation")
'''


def test_instrument_handler_alone_bridges_the_standard_library_in_lambda(tmp_path: pathlib.Path) -> None:
    """No ``configure()``: the app's ``logging`` records are obskit JSON with the invocation's ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBSKIT_", "_X_AMZN"))}
    env.update(AWS_LAMBDA_FUNCTION_NAME="orders", LAMBDA_TASK_ROOT=str(tmp_path), AWS_LAMBDA_LOG_LEVEL="INFO")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert not [line for line in out.stdout.splitlines() if line.startswith("[WARNING]")], out.stdout
    (inside,) = [line for line in lines if line.get("message") == "stdlib line"]
    access = next(line for line in lines if line.get("logger") == semconv.ACCESS_LOGGER)
    assert (inside["trace_id"], inside["function_name"]) == (access["trace_id"], "orders")
    (after,) = [line for line in lines if line.get("message") == "after the invocation"]
    assert "trace_id" not in after
    assert out.stderr == ""
