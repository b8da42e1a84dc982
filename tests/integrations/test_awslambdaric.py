"""The README's Lambda handler under the real runtime interface client (``awslambdaric``).

The test plays the Lambda service: a loopback Runtime API server serves
``/2018-06-01/runtime/invocation/next`` with the ``Lambda-Runtime-*`` headers and collects the
responses and errors, while ``python -m awslambdaric app.handler`` runs the function in a child
process, as the managed runtime does. What the child writes to stdout is what CloudWatch Logs
would receive, in the runtime's text format and with ``AWS_LAMBDA_LOG_FORMAT=JSON``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from obskit import semconv

pytestmark = pytest.mark.slow

TRACE_ROOT = "1-65eb7350-1234567890abcdef12345678"
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"

HANDLER = '''
import logging

import obskit
from obskit.integrations.aws_lambda import instrument_handler

log = obskit.get_logger()
stdlib = logging.getLogger("app")


@instrument_handler
def handler(event, context):
    log.info("order received")
    stdlib.warning("stdlib line")
    if event.get("boom"):
        raise RuntimeError("order failed")
    return {"statusCode": 200, "body": "ok"}
'''


class RuntimeAPI:
    """A loopback Lambda Runtime API: hands out ``events`` one by one, records what comes back."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.pending = [(f"req-{i}", e) for i, e in enumerate(events)]
        self.results: dict[str, tuple[str, Any]] = {}
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/2018-06-01/runtime/invocation/next":
                    self.send_error(404)
                    return
                if not api.pending:
                    api.done.set()
                    time.sleep(30)  # no more work: the runtime waits here until the test stops it
                    return
                request_id, event = api.pending.pop(0)
                body = json.dumps(event).encode()
                self.send_response(200)
                for name, value in (
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000)),
                    ("Lambda-Runtime-Invoked-Function-Arn", ARN),
                    ("Lambda-Runtime-Trace-Id", f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"),
                    ("Lambda-Runtime-Client-Context", ""),
                    ("Lambda-Runtime-Cognito-Identity", ""),
                    ("Content-Length", str(len(body))),
                ):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(size) or b"null")
                parts = self.path.split("/")  # /2018-06-01/runtime/invocation/<id>/<response|error>
                api.results[parts[-2]] = (parts[-1], payload)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _run_function(tmp_path: Path, events: list[dict[str, Any]], **env: str) -> tuple[list[str], RuntimeAPI]:
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER))
    api = RuntimeAPI(events)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBSKIT_", "_X_AMZN", "LAMBDA_"))}
    base.update(
        AWS_LAMBDA_RUNTIME_API=api.address, AWS_LAMBDA_FUNCTION_NAME="orders", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/orders",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/12/03/[$LATEST]0123", LAMBDA_TASK_ROOT=str(tmp_path),
        AWS_REGION="eu-west-1", PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        **env,
    )
    proc = subprocess.Popen([sys.executable, "-m", "awslambdaric", "app.handler"], cwd=tmp_path, env=base,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert api.done.wait(60), "the runtime did not ask for a next invocation after the last one"
        deadline = time.monotonic() + 10
        while len(api.results) < len(events) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        api.close()
    return out.decode().splitlines(), api


def _records(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_every_line_of_an_invocation_carries_its_ids_under_the_real_runtime(tmp_path: Path, log_format: str) -> None:
    """The README's handler, no ``configure()``: obskit's lines and the app's ``logging`` lines alike."""
    lines, api = _run_function(tmp_path, [{"order": 1}, {"boom": True}], AWS_LAMBDA_LOG_FORMAT=log_format)
    assert api.results["req-0"] == ("response", {"statusCode": 200, "body": "ok"})
    assert api.results["req-1"][0] == "error"
    records = _records(lines)
    obskit_lines = [r for r in records if "trace_id" in r]
    access = [r for r in obskit_lines if r.get("logger") == semconv.ACCESS_LOGGER]
    assert [a["function_request_id"] for a in access] == ["req-0", "req-1"]
    assert {a["xray_trace_id"] for a in access} == {TRACE_ROOT}  # the trace the Lambda service started
    stdlib = [r for r in records if r.get("message") == "stdlib line"]
    assert len(stdlib) == 2
    assert all(r.get("trace_id") == access[0]["trace_id"] and r.get("logger") == "app" for r in stdlib)
    assert [r["function_request_id"] for r in stdlib] == ["req-0", "req-1"]
    # the runtime's own format never carries the app's records
    assert not [line for line in lines if "stdlib line" in line and not line.startswith("{")]
    failed = access[1]
    assert (failed["level"], failed["exception"]["type"]) == ("ERROR", "RuntimeError")
    assert failed["exception"]["message"] == "order failed"
    assert failed["exception"]["frames"][-1]["function"] == "handler"
    assert not [line for line in lines if "ObskitWarning" in line]


def test_only_lambdas_log_level_filters_without_a_warning(tmp_path: Path) -> None:
    """``AWS_LAMBDA_LOG_LEVEL=WARN`` alone: INFO lines are dropped, WARNING kept, no ObskitWarning."""
    lines, _ = _run_function(tmp_path, [{"order": 1}], AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="WARN")
    records = _records(lines)
    assert not [r for r in records if r.get("message") == "order received"]
    assert [r.get("function_request_id") for r in records if r.get("message") == "stdlib line"] == ["req-0"]
    assert not [line for line in lines if "ObskitWarning" in line or "same level" in line]
