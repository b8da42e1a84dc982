"""Piped stdout without PYTHONUNBUFFERED, and every way a process ends: what was written arrives.

Each child writes log lines and EMF documents to a block-buffered pipe, as in a container, a
systemd unit or a supervisor; nothing is counted lost on stdout, so arrived must equal produced.
"""

from __future__ import annotations

import signal
import time

import pytest

from operations._listeners import Reader, figures, metric_values, parse_stdout, spawn, wait_for

pytestmark = pytest.mark.slow

PRELUDE = """
import os, signal, sys, threading, time
import obskit
from obskit import metrics
obskit.configure(service="svc", metrics="stdout", metrics_flush_interval={interval})
log = obskit.get_logger("job")
"""


def _child(body: str, interval: float = 60.0) -> Reader:
    return Reader(spawn(PRELUDE.format(interval=interval) + body))


def _arrived(data: bytes, message: str, metric: str) -> tuple[int, int]:
    emf, logs = parse_stdout(data)
    return sum(1 for d in logs if d.get("message") == message), metric_values(emf, metric)


def test_lines_reach_the_pipe_within_the_flush_interval() -> None:
    """A process that logs and counts for a while: each line is on the pipe within the interval, not at exit."""
    child = _child("""
for i in range(10):
    log.info("tick", i=i)
    metrics.count("Ticks")
    time.sleep(0.05)
sys.stderr.write("WROTE\\n"); sys.stderr.flush()
time.sleep(30)
""", interval=0.2)
    try:
        start = time.monotonic()
        seen = wait_for(lambda: _arrived(child.data, "tick", "Ticks") == (10, 10), 5.0)
        took = time.monotonic() - start
        arrived = _arrived(child.data, "tick", "Ticks")
        assert child.proc.poll() is None  # still running: nothing was delivered by the exit
        assert seen, f"after {took:.1f} s: log lines {figures(10, arrived[0], 0)}; values {figures(10, arrived[1], 0)}"
    finally:
        child.proc.kill()
        child.finish()


def test_sigterm_with_the_default_handler_delivers_everything() -> None:
    """``python app.py`` in a container, stopped by a deploy: obskit flushes, then SIGTERM ends it as before."""
    child = _child("""
for i in range(500):
    log.info("work", i=i)
    metrics.count("Jobs")
sys.stderr.write("READY\\n"); sys.stderr.flush()
time.sleep(30)
""")
    assert wait_for(lambda: b"READY" in child.err, 10.0), child.err.decode()
    child.proc.send_signal(signal.SIGTERM)
    out, err = child.finish()
    assert child.proc.returncode == -signal.SIGTERM, err.decode()  # the default action still ends it
    lines, values = _arrived(out, "work", "Jobs")
    assert (lines, values) == (500, 500), f"log lines {figures(500, lines, 0)}; values {figures(500, values, 0)}"


def test_an_own_sigterm_handler_is_never_replaced() -> None:
    child = Reader(spawn("""
import signal, sys
def mine(signum, frame):
    sys.exit(3)
signal.signal(signal.SIGTERM, mine)
import obskit
obskit.configure(service="svc", metrics="stdout")
obskit.get_logger("job").info("configured")
sys.stdout.write("MINE\\n" if signal.getsignal(signal.SIGTERM) is mine else "REPLACED\\n")
"""))
    out, err = child.finish()
    assert out.splitlines()[-1] == b"MINE", (out + err).decode()


@pytest.mark.parametrize("how", ["main", "thread"])
def test_sys_exit_in_any_thread_delivers_everything(how: str) -> None:
    """``sys.exit`` from the main thread, or from a worker thread (which ends only that thread)."""
    child = _child(f"""
def work():
    for i in range(300):
        log.info("work", i=i)
        metrics.count("Jobs")
    if {how!r} == "thread":
        sys.exit(1)  # ends this thread only
t = threading.Thread(target=work)
t.start(); t.join()
sys.exit(3)
""")
    out, err = child.finish()
    assert child.proc.returncode == 3, err.decode()
    lines, values = _arrived(out, "work", "Jobs")
    assert (lines, values) == (300, 300), f"log lines {figures(300, lines, 0)}; values {figures(300, values, 0)}"
