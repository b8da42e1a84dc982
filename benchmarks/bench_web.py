"""Per-request cost of the Flask and FastAPI middleware, in process and under a real server.

In process: one hello-world request through the WSGI app (prebuilt environ) or the ASGI app
(prebuilt scope, the coroutine driven by hand since the app never waits on I/O), bare and
instrumented (see ``benchmarks/_webapps.py`` for the variants). The reference is the bare app;
"+ µs" is what the instrumentation adds per request.

Under a server: the FastAPI app under uvicorn (one process per variant, h11, asyncio) and
the Flask app under gunicorn (one threaded worker per variant, 4 threads), driven over
loopback by a small asyncio load generator (keep-alive connections, one request in flight
per connection), rounds round-robin over the variants. Reported as requests per
second and as a share of the bare server's. With two CPUs or more, the servers run on one CPU
and the load generator on another (``sched_setaffinity``): left to the scheduler, the two
share a CPU now and then, and the bare server's rate moved by a third from run to run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks._harness import markdown_table, measure, rows

ENVIRON = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "bench",
    "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "bench",
    "HTTP_USER_AGENT": "bench/1.0", "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": False,
    "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.errors": sys.stderr,
}
SCOPE = {
    "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "GET",
    "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
    "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
}


def _start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
    return None


def wsgi_call(app: Any) -> Any:
    def call() -> None:
        env = dict(ENVIRON)
        env["wsgi.input"] = io.BytesIO()
        body = app(env, _start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def asgi_call(app: Any) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    def call() -> None:
        coro = app(dict(SCOPE), receive, send)
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise RuntimeError("the app waited on I/O; drive it with an event loop")

    return call


def in_process(quick: bool) -> list[dict[str, Any]]:
    from benchmarks import _webapps

    cases = {
        "Flask bare (direct WSGI)": wsgi_call(_webapps.flask_app("bare")),
        "Flask obskit": wsgi_call(_webapps.flask_app("obskit")),
        "Flask OpenTelemetry": wsgi_call(_webapps.flask_app("otel")),
        "Flask aws-xray-sdk": wsgi_call(_webapps.flask_app("xray")),
        "FastAPI bare (direct ASGI)": asgi_call(_webapps.fastapi_app("bare")),
        "FastAPI obskit": asgi_call(_webapps.fastapi_app("obskit")),
        "FastAPI OpenTelemetry": asgi_call(_webapps.fastapi_app("otel")),
    }
    import logging

    logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
    stats = measure(cases, quick=quick, rounds=3 if quick else 9, block_s=0.01 if quick else 0.06)
    flask = rows([s for s in stats if s.name.startswith("Flask")], "Flask bare (direct WSGI)")
    fast = rows([s for s in stats if s.name.startswith("FastAPI")], "FastAPI bare (direct ASGI)")
    out = []
    for table in (flask, fast):
        base = table[0]["median_us"]
        for row in table:
            row["added_us"] = round(row["median_us"] - base, 1)
            out.append(row)
    return out


# --- real server ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpus() -> tuple[int, int] | None:
    """A CPU for the servers and another for the load generator, or ``None`` (one CPU, or not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


def _start(framework: str, variant: str, cpu: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """The server of ``framework`` running ``variant``, on ``cpu`` (its worker processes too)."""
    port = _free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    saved = os.sched_getaffinity(0) if cpu is not None else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # inherited by the server and every process it forks
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._webapps", framework, variant, str(port)], cwd=root,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{framework} server {variant} did not start")


async def _connection(port: int, n: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1.0\r\n\r\n"
    for _ in range(n):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        i = head.lower().find(b"content-length:")
        await reader.readexactly(int(head[i + 15:head.index(b"\r\n", i)]))
    writer.close()
    await writer.wait_closed()


def _load(port: int, requests: int, connections: int) -> float:
    """Requests per second for ``requests`` requests over ``connections`` keep-alive connections."""
    async def run() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(_connection(port, requests // connections) for _ in range(connections)))
        return (requests // connections * connections) / (time.perf_counter() - t0)

    return asyncio.run(run())


SERVERS = {"fastapi": ("uvicorn FastAPI", ("bare", "obskit", "otel")),
           "flask": ("gunicorn Flask", ("bare", "obskit", "otel"))}
"""Per framework: the rows' name and the variants served."""


def under_server(quick: bool) -> list[dict[str, Any]]:
    """Requests per second of each server variant, rounds round-robin over the variants of a framework."""
    out = []
    for framework, (label, variants) in SERVERS.items():
        if framework == "flask" and importlib.util.find_spec("gunicorn") is None:
            continue  # gunicorn comes with the bench extra
        out += _serve_and_load(framework, label, variants, quick)
    return out


def _serve_and_load(framework: str, label: str, variants: tuple[str, ...], quick: bool) -> list[dict[str, Any]]:
    cpus = _cpus()
    servers = {v: _start(framework, v, None if cpus is None else cpus[0]) for v in variants}
    requests, rounds = (600, 2) if quick else (3000, 5)
    saved = os.sched_getaffinity(0) if cpus is not None else None
    if cpus is not None:
        os.sched_setaffinity(0, {cpus[1]})
    try:
        for port in (p for _, p in servers.values()):
            _load(port, 200, 4)  # warm up
        results: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(rounds):
            for v in variants:
                results[v].append(_load(servers[v][1], requests, 4))
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
    bare = statistics.median(results["bare"])
    out = []
    for v in variants:
        rps = statistics.median(results[v])
        out.append({
            "case": f"{label} {v}", "req_per_s": round(rps), "us_per_req": round(1e6 / rps, 1),
            "added_us": round(1e6 / rps - 1e6 / bare, 1), "share_of_bare": round(rps / bare, 3),
        })
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    """In-process rows (with ``added_us``) followed by the uvicorn rows (``req_per_s``)."""
    return in_process(quick) + under_server(quick)


def main() -> None:
    quick = "--quick" in sys.argv
    table = run(quick)
    print(markdown_table([r for r in table if "median_us" in r]))
    print("| case | + µs vs bare |\n|---|---:|")
    for r in table:
        if "median_us" in r:
            print(f"| {r['case']} | {r['added_us']} |")
    print("\n| server | req/s | µs/req | + µs vs bare | share of bare |\n|---|---:|---:|---:|---:|")
    for r in table:
        if "req_per_s" in r:
            print(f"| {r['case']} | {r['req_per_s']} | {r['us_per_req']} | {r['added_us']} | "
                  f"{r['share_of_bare']:.0%} |")


if __name__ == "__main__":
    main()
