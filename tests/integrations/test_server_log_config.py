"""The servers' own lines under obskit's shipped log configs, in real server processes on 127.0.0.1.

``uvicorn app:app --log-config "$(obskit log-config uvicorn)"`` and gunicorn's
``--log-config-json``: every line the process writes is obskit's JSON, and a FastAPI 500 is
found from its trace id (the ERROR access line carries the exception; uvicorn's own traceback
line carries the request's ids).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from obskit.logconfig import load, path

pytestmark = pytest.mark.slow

FASTAPI_APP = '''
import obskit
from fastapi import FastAPI
from obskit.integrations.fastapi import instrument

obskit.configure(service="orders")
app = FastAPI()


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict:
    try:
        {}["stock"]
    except KeyError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


instrument(app)
'''

FLASK_APP = '''
import obskit
from flask import Flask
from obskit.integrations.flask import instrument

obskit.configure(service="orders")
app = Flask(__name__)


@app.get("/health")
def health() -> dict:
    return {"ok": True}


instrument(app)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_server(tmp_path: Path, source: str, argv: list[str], requests: list[str]) -> tuple[list[str], list[int]]:
    """Start the server on a free port, send ``requests``, stop it; its output lines and the statuses."""
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    port = _free_port()
    out = tmp_path / "out.txt"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NO_COLOR": "", "FORCE_COLOR": "1"}
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", *[a.replace("PORT", str(port)) for a in argv]], cwd=tmp_path, env=env,
            stdout=sink, stderr=subprocess.STDOUT,
        )
        statuses = []
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise AssertionError(out.read_text()) from None
                    time.sleep(0.05)
            statuses = [httpx.get(f"http://127.0.0.1:{port}{r}", timeout=5).status_code for r in requests]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    return [line for line in out.read_text().splitlines() if line.strip()], statuses


def _json_lines(lines: list[str]) -> list[dict]:
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def test_uvicorn_log_config_makes_a_fastapi_500_findable_by_its_trace_id(tmp_path: Path) -> None:
    """``uvicorn app:app --log-config $(obskit log-config uvicorn)``: one JSON stream, the 500 correlated."""
    lines, statuses = _run_server(
        tmp_path, FASTAPI_APP,
        ["uvicorn", "app:app", "--host", "127.0.0.1", "--port", "PORT", "--log-config", str(path("uvicorn"))],
        ["/orders/7"],
    )
    assert statuses == [500]
    records = _json_lines(lines)  # uvicorn's startup, its access lines, its traceback: all JSON
    assert not [r for r in records if "color_message" in r]
    assert any(r.get("logger") == "uvicorn.error" and "Application startup complete" in r["message"] for r in records)
    (access,) = [r for r in records if r.get("logger") == "obskit.access" and r.get("status") == 500]
    assert access["level"] == "ERROR"
    exc = access["exception"]
    assert (exc["type"], exc["message"]) == ("RuntimeError", "order 7 failed")
    assert any(f["function"] == "get_order" for f in exc["frames"])
    assert exc["cause"]["type"] == "KeyError"
    # Everything about the failure, found from its trace id (as from an X-Ray trace or a metric):
    same_trace = [r for r in records if r.get("trace_id") == access["trace_id"]]
    (uvicorn_traceback,) = [r for r in same_trace if r.get("logger") == "uvicorn.error"]
    assert uvicorn_traceback["message"] == "Exception in ASGI application"
    assert uvicorn_traceback["correlation_id"] == access["correlation_id"]
    assert uvicorn_traceback["exception"]["type"] == "RuntimeError"


def test_uvicorn_run_with_the_loaded_config_gives_the_same_lines(tmp_path: Path) -> None:
    """``uvicorn.run(app, log_config=obskit.logconfig.load("uvicorn"))`` from a script."""
    source = FASTAPI_APP + textwrap.dedent('''
        import sys
        import uvicorn
        from obskit.logconfig import load

        if __name__ == "__main__":
            uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=load("uvicorn"))
    ''')
    lines, statuses = _run_server(tmp_path, source, ["app", "PORT"], ["/orders/8"])
    assert statuses == [500]
    records = _json_lines(lines)
    (access,) = [r for r in records if r.get("logger") == "obskit.access" and r.get("status") == 500]
    assert [r.get("message") for r in records if r.get("trace_id") == access["trace_id"]].count(
        "Exception in ASGI application"
    ) == 1


def test_gunicorn_log_config_json_makes_its_lines_obskit_json(tmp_path: Path) -> None:
    """``gunicorn --log-config-json $(obskit log-config gunicorn)``: its own lines are JSON too."""
    lines, statuses = _run_server(
        tmp_path, FLASK_APP,
        ["gunicorn", "app:app", "--bind", "127.0.0.1:PORT", "--workers", "1",
         "--log-config-json", str(path("gunicorn"))],
        ["/health"],
    )
    assert statuses == [200]
    records = _json_lines(lines)
    assert any(r.get("logger") == "gunicorn.error" and "Listening at" in r["message"] for r in records)
    assert [r["status"] for r in records if r.get("logger") == "obskit.access"][-1] == 200


def test_the_cli_prints_a_path_that_each_server_loads() -> None:
    """``obskit log-config uvicorn`` prints the shipped file; ``--show`` prints its content."""
    shown = subprocess.run([sys.executable, "-m", "obskit", "log-config", "uvicorn"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert Path(shown) == path("uvicorn")
    assert Path(shown).is_file()
    content = subprocess.run([sys.executable, "-m", "obskit", "log-config", "gunicorn", "--show"],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(content) == load("gunicorn")
