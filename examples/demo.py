"""``make demo``: two instrumented services, a few requests, and every signal grouped by trace.

What happens, in a few seconds and with nothing to set up:

1. the "inventory" service (``examples/downstream_app.py``) starts in its own process under
   uvicorn, configured as in production: JSON logs and EMF documents on stdout, spans to an
   X-Ray daemon (here a UDP socket this script listens on);
2. the "checkout" service (``examples/fastapi_app.py``) starts under uvicorn in a thread of this
   process, with its telemetry captured in memory by ``obskit.testing.capture()``;
3. a scripted client sends a normal call, a call that goes downstream to inventory through the
   instrumented httpx client, a 404, a 500 and a slow call;
4. for each request the log lines (console style), the EMF documents and the span tree of both
   services are printed under the request's ``trace_id``;
5. the CloudWatch alarms for ``examples/slo.yaml`` are generated and explained.

Run it with ``make demo`` or ``.venv/bin/python examples/demo.py``. Colours only on a terminal
(and never with ``NO_COLOR`` set). Exit status 0 when every step worked.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
LEVEL_COLORS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31;1", "CRITICAL": "31;1"}
SCRIPT = [  # (what, method, path, body)
    ("a normal call", "GET", "/orders/1001", None),
    ("a call that goes downstream to inventory", "POST", "/orders", {"sku": "sku-1", "quantity": 1}),
    ("an order that does not exist (404)", "GET", "/orders/9999", None),
    ("a handler that raises (500)", "GET", "/fail", None),
    ("a slow call (over the 300 ms latency objective)", "GET", "/reports/daily", None),
]
LOG_HIDDEN = {"timestamp", "level", "message", "logger", "service", "xray_trace_id", "environment", "trace_id"}


def paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if COLOR else text


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- the inventory service: a real process, read back from its stdout and its "X-Ray daemon" ---
class Inventory:
    """``examples/downstream_app.py`` under uvicorn in a child process, on an inherited socket."""

    def __init__(self) -> None:
        self.logs: list[dict] = []
        self.metrics: list[dict] = []
        self.spans: list[dict] = []
        self._daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._daemon.bind(("127.0.0.1", 0))
        self._daemon.settimeout(0.2)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        env = {
            **os.environ,
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{self._daemon.getsockname()[1]}",
            "OBSKIT_METRICS_FLUSH_INTERVAL": "0.1",  # write EMF quickly, so the demo need not wait
            "PYTHONUNBUFFERED": "1",
        }
        fd = self._listener.fileno()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.downstream_app:app", "--fd", str(fd),
             "--log-level", "warning", "--no-access-log", "--lifespan", "off"],
            cwd=ROOT, env=env, pass_fds=[fd], stdout=subprocess.PIPE, text=True,
        )
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._read_stdout, self._read_daemon)]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            (self.metrics if "_aws" in doc else self.logs).append(doc)

    def _read_daemon(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._daemon.recv(65536)
            except OSError:
                continue
            _header, _, body = datagram.partition(b"\n")  # {"format":"json","version":1}\n{segment}
            try:
                self._add_segment(json.loads(body), None, None)
            except ValueError:
                continue

    def _add_segment(self, seg: dict, trace_id: str | None, parent: str | None) -> None:
        """X-Ray (sub)segments as the same span dicts ``capture()`` gives for checkout."""
        trace_id = trace_id or seg["trace_id"].replace("1-", "", 1).replace("-", "")
        meta = seg.get("metadata", {}).get("obskit", {})
        self.spans.append({
            "name": meta.get("span_name", seg.get("name")), "trace_id": trace_id, "span_id": seg["id"],
            "parent_span_id": seg.get("parent_id", parent), "service": "inventory",
            "kind": "server" if seg.get("type") != "subsegment" and parent is None else "internal",
            "start_ns": int(seg["start_time"] * 1e9), "end_ns": int(seg.get("end_time", seg["start_time"]) * 1e9),
            "status": "error" if seg.get("fault") else "unset",
            "attributes": {"http.response.status_code": seg.get("http", {}).get("response", {}).get("status")},
        })
        for sub in seg.get("subsegments", ()):
            self._add_segment(sub, trace_id, seg["id"])

    def ready(self) -> bool:
        try:
            with socket.create_connection(self._listener.getsockname(), timeout=0.2) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                return s.recv(16).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self._daemon.close()
        self._listener.close()


# --- the checkout service: a uvicorn server in a thread of this process --------------------------
def serve_in_thread(app):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, host="127.0.0.1", port=sock.getsockname()[1], log_config=None,
                            log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not wait_for(lambda: server.started, 15):
        raise RuntimeError("the checkout server did not start")

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


# --- printing ------------------------------------------------------------------------------------
def log_line(d: dict) -> str:
    """A log dict, console style: time, level, service, message, logger, then the fields."""
    clock = str(d.get("timestamp", ""))[11:23]
    level = str(d.get("level", ""))
    fields = " ".join(
        f"{paint(k, '36')}={v}" for k, v in d.items() if k not in LOG_HIDDEN
    )
    return "{} {} {:<13} {} {} {}  trace_id={}".format(
        paint(clock, "2"), paint(f"{level:<7}", LEVEL_COLORS.get(level, "0")), d.get("service", ""),
        paint(f"{d.get('message', '')!s:<16}", "1"), paint(f"[{d.get('logger', '')}]", "34"), fields,
        d.get("trace_id"),
    )


def span_tree(spans: list[dict]) -> list[str]:
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict]] = {}
    for s in spans:
        parent = s.get("parent_span_id") if s.get("parent_span_id") in ids else None
        children.setdefault(parent, []).append(s)
    out: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: s["start_ns"]):
            ms = (s["end_ns"] - s["start_ns"]) / 1e6
            status = s.get("attributes", {}).get("http.response.status_code")
            if s.get("status") == "error":
                flag = paint(f"error ({s.get('status_description') or 'fault'})", "31;1")
            else:
                flag = paint("ok", "32")
            tail = f"  trace_id={s['trace_id']}" if depth == 0 else ""
            out.append("{}{} {}  {:.1f} ms  {}{}  span_id={}{}".format(
                "  " * depth + ("└─ " if depth else ""), paint(s["name"], "1"),
                paint(f"({s.get('service', 'checkout-api')}, {s.get('kind')})", "2"), ms, flag,
                f" {status}" if status else "", s["span_id"], tail,
            ))
            walk(s["span_id"], depth + 1)

    walk(None, 0)
    return out


def section(title: str) -> None:
    print()
    print(paint(f"== {title} ", "1;35") + paint("=" * max(0, 90 - len(title)), "35"))


def main() -> int:
    import httpx

    inventory = Inventory()
    os.environ["INVENTORY_URL"] = inventory.url
    sys.path.insert(0, str(HERE))
    import fastapi_app  # configures obskit for "checkout-api", as it would in production
    import obskit
    from obskit.testing import capture

    status = 0
    with capture() as cap:
        base, stop = serve_in_thread(fastapi_app.app)
        try:
            if not wait_for(inventory.ready, 20):
                raise RuntimeError("the inventory service did not start")
            section(f"checkout on {base}, inventory on {inventory.url}: five requests")
            with httpx.Client(base_url=base, timeout=10) as client:
                client.get("/health")  # excluded from telemetry: nothing below comes from it
                for n, (what, method, path, body) in enumerate(SCRIPT, 1):
                    seen = len(cap.logs)
                    response = client.request(method, path, json=body)

                    def access_line(seen=seen, path=path):
                        return next((d for d in cap.logs[seen:] if d.get("logger") == "obskit.access"
                                     and d.get("path") == path), None)

                    wait_for(access_line)  # the server finishes a request after the client sees it
                    line = access_line()
                    if line is None:
                        print(f"no access line for {method} {path}")
                        status = 1
                        continue
                    trace_id = line["trace_id"]
                    obskit.flush()  # write this request's metrics now (a server batches them per interval)
                    if "inventory" in what:
                        wait_for(lambda t=trace_id: any(s["trace_id"] == t for s in inventory.spans)
                                 and any(m.get("trace_id") == t for m in inventory.metrics), 3)
                    logs = [d for d in cap.logs + inventory.logs if d.get("trace_id") == trace_id]
                    docs = [m for m in cap.metrics + inventory.metrics if m.get("trace_id") == trace_id]
                    spans = [{**s, "service": s.get("service", "checkout-api")} for s in cap.spans
                             if s["trace_id"] == trace_id] + [s for s in inventory.spans if s["trace_id"] == trace_id]
                    section(f"{n}. {what}: {method} {path} -> {response.status_code}")
                    print(paint(f"trace_id {trace_id}", "1"))
                    print(paint("logs", "1;4"))
                    for d in sorted(logs, key=lambda d: d.get("timestamp", "")):
                        print("  " + log_line(d))
                    print(paint("metrics (EMF documents)", "1;4"))
                    for doc in docs:
                        print("  " + json.dumps(doc, separators=(",", ":")))
                    print(paint("spans", "1;4"))
                    for row in span_tree(spans):
                        print("  " + row)
        finally:
            stop()
            inventory.close()

    from obskit.cli import main as obskit_cli
    from obskit.slo import build, load

    slo_file = os.path.relpath(HERE / "slo.yaml")
    alarms = build(load(slo_file))
    section(f"the alarms generated for {slo_file}")
    print(f"{len(alarms.metric_alarms)} burn-rate metric alarms and {len(alarms.composite_alarms)} composite alarms "
          f"(write them with: obskit slo generate {slo_file} --format cloudformation)")
    for composite in alarms.composite_alarms:
        print(f"  {paint(f'{composite.severity:<7}', '1')} {composite.name}")
    section(f"obskit slo explain {slo_file}")
    sys.stdout.flush()
    status |= obskit_cli(["slo", "explain", slo_file])
    return status


if __name__ == "__main__":
    sys.exit(main())
