"""Forked workers (bare ``os.fork``, ``gunicorn --preload`` with 3 workers): no output repeated, none lost."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from operations._listeners import Reader, child_env, dead_port, figures, metric_values, parse_stdout, spawn, wait_for

pytestmark = pytest.mark.slow


def test_a_bare_fork_never_repeats_the_parents_output() -> None:
    child = Reader(spawn("""
import os, sys
import obskit
from obskit import metrics
obskit.configure(service="svc", metrics="stdout", metrics_flush_interval=60)
log = obskit.get_logger("job")
for i in range(300):
    log.info("parent", i=i)
    metrics.count("ParentJobs")
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        log.info("child")
        metrics.count("ChildJobs")
        sys.exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
"""))
    out, err = child.finish()
    assert child.proc.returncode == 0, err.decode()
    emf, logs = parse_stdout(out)
    parent_lines = sum(1 for d in logs if d.get("message") == "parent")
    child_lines = sum(1 for d in logs if d.get("message") == "child")
    parent_values, child_values = metric_values(emf, "ParentJobs"), metric_values(emf, "ChildJobs")
    assert (parent_lines, parent_values, child_lines, child_values) == (300, 300, 2, 2), (
        f"parent lines {figures(300, parent_lines, 0)}; parent values {figures(300, parent_values, 0)}; "
        f"child lines {figures(2, child_lines, 0)}; child values {figures(2, child_values, 0)}"
    )


APP = """
import obskit
from obskit import metrics
from obskit.integrations.wsgi import ObskitMiddleware

obskit.configure(service="svc", metrics="stdout", metrics_flush_interval=60)
obskit.get_logger("boot").info("master ready")
metrics.count("Boots")


def hello(environ, start_response):
    metrics.count("Handled")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


app = ObskitMiddleware(hello)
"""


def test_gunicorn_preload_with_three_workers_delivers_each_line_once(tmp_path: Path) -> None:
    """The master's lines once (not once per worker), and every request's metrics after a SIGTERM stop."""
    (tmp_path / "preload_app.py").write_text(APP)
    port = dead_port(0x1)  # SOCK_STREAM
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "3", "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "5", "--chdir", str(tmp_path), "preload_app:app"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), cwd=tmp_path,
    )
    child = Reader(proc)
    requests = 60
    try:
        assert wait_for(lambda: child.err.count(b"Booting worker") >= 3, 20.0), child.err.decode()
        for _ in range(requests):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/hello")
            assert conn.getresponse().read() == b"ok"
            conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = child.finish(30.0)
    emf, logs = parse_stdout(out)
    master = sum(1 for d in logs if d.get("message") == "master ready")
    boots, handled, latency = metric_values(emf, "Boots"), metric_values(emf, "Handled"), metric_values(emf, "Latency")
    assert (master, boots) == (1, 1), f"master line {figures(1, master, 0)}; Boots {figures(1, boots, 0)}"
    assert (handled, latency) == (requests, requests), (
        f"Handled {figures(requests, handled, 0)}; Latency {figures(requests, latency, 0)}; "
        f"stderr {err.decode()[-2000:]}"
    )
