"""A deploy's SIGTERM to uvicorn: every served request's metrics and lines reach stdout.

uvicorn shuts down gracefully and then raises SIGTERM again with the default handler, so exit
hooks never run: the ASGI lifespan ``shutdown`` is where obskit must flush. The app without
lifespan support (it raises on any scope but ``http``) must get the same.
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from operations._listeners import (
    Reader,
    accepting,
    child_env,
    dead_port,
    figures,
    metric_values,
    parse_stdout,
    wait_for,
)

pytestmark = pytest.mark.slow

SERVER = """
import obskit
from obskit import metrics
from obskit.integrations.asgi import ObskitMiddleware

# sigterm_flush=False: obskit's SIGTERM handler (which uvicorn restores and re-raises) would
# flush too; without it, the lifespan shutdown is the only way, as under a server that
# installs its handlers before the app is imported.
obskit.configure(service="svc", metrics="stdout", metrics_flush_interval=60, sigterm_flush=False)

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        if {plain!r}:
            raise RuntimeError("this app does not speak lifespan")
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({{"type": "lifespan.startup.complete"}})
            else:
                obskit.get_logger("app").info("app shutdown handler")
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    assert scope["type"] == "http"
    metrics.count("Handled")
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}})
    await send({{"type": "http.response.body", "body": b"ok"}})

wrapped = ObskitMiddleware(app)
"""


def _serve_then_sigterm(argv: list[str], port: int, cwd: Path, requests: int) -> tuple[bytes, bytes]:
    """Start the server, send ``requests`` GETs on one connection, stop it with SIGTERM; (stdout, stderr)."""
    child = Reader(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), cwd=cwd))
    try:
        assert wait_for(lambda: accepting(port) or child.proc.poll() is not None, 20.0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(requests):
            conn.request("GET", "/orders")
            assert conn.getresponse().read() == b"ok"
        conn.close()
    finally:
        child.proc.send_signal(signal.SIGTERM)
        out, err = child.finish(30.0)
    assert child.proc.returncode == -signal.SIGTERM, err.decode()[-2000:]  # uvicorn's own exit, unchanged
    return out, err


@pytest.mark.parametrize("plain", [False, True], ids=["app-with-lifespan", "app-without-lifespan"])
def test_sigterm_to_uvicorn_delivers_every_served_request(plain: bool, tmp_path: Path) -> None:
    """``uvicorn module:app``, as deployed: the app is imported inside uvicorn's own signal handling."""
    port = dead_port(0x1)
    (tmp_path / "served.py").write_text(SERVER.format(plain=plain))
    requests = 150
    out, err = _serve_then_sigterm(
        [sys.executable, "-m", "uvicorn", "served:wrapped", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--lifespan", "auto", "--http", "h11", "--loop", "asyncio",
         "--timeout-graceful-shutdown", "5", "--app-dir", str(tmp_path)], port, tmp_path, requests)
    emf, logs = parse_stdout(out)
    latency, handled = metric_values(emf, "Latency"), metric_values(emf, "Handled")
    assert (latency, handled) == (requests, requests), (
        f"Latency {figures(requests, latency, 0)}; Handled {figures(requests, handled, 0)}; "
        f"stderr {err.decode()[-1500:]}"
    )
    if not plain:
        assert any(d.get("message") == "app shutdown handler" for d in logs)


def test_sigterm_to_uvicorn_is_handed_back_to_obskit_when_it_was_first(tmp_path: Path) -> None:
    """Configured at import, before uvicorn takes the signals: uvicorn restores obskit's handler and re-raises."""
    port = dead_port(0x1)
    (tmp_path / "served.py").write_text(SERVER.format(plain=True).replace(", sigterm_flush=False", ""))
    requests = 50
    out, err = _serve_then_sigterm(
        [sys.executable, "-c", "import sys; sys.path.insert(0, '.'); import served, uvicorn; "
         f"uvicorn.run(served.wrapped, host='127.0.0.1', port={port}, lifespan='off', log_config=None)"],
        port, tmp_path, requests)
    emf, _ = parse_stdout(out)
    handled = metric_values(emf, "Handled")
    assert handled == requests, f"Handled {figures(requests, handled, 0)}; stderr {err.decode()[-1500:]}"
