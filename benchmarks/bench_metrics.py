"""EMF metrics: record one value, and record + flush one document, obskit next to Powertools and aws-embedded-metrics.

Cases (two dimensions, unit Milliseconds, for every library):

* **record**: one value into a live buffer. Peers are cleared every 90 values (Powertools
  auto-flushes at 100); obskit runs its real path, including its own size-bound writes.
* **flush(N)**: the per-invocation cycle: 2 dimensions, N metrics, one EMF document serialised
  and written to stdout. obskit's defaults are ``Service`` and ``Environment`` (2 dimensions);
  the "+2 call dims" rows add two per-call dimensions (4 in all).
* **FLOOR**: a hand-built EMF dict + ``orjson.dumps`` + write (the least work in Python).

Everything printed goes to a null stream (``redirect_stdout``), the same for every case.
aws-embedded-metrics runs with ``AWS_EMF_ENVIRONMENT=Lambda`` so it never probes EC2 metadata.
``memory_rows`` runs a million records in a fresh interpreter and reports RSS growth and peak.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks._harness import markdown_table, measure, rows

REFERENCE = "FLOOR flush(1): EMF dict + orjson + write"


class _Null:
    """A stdout stand-in that discards what it is given (the same for every case)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _floor_cases() -> dict[str, Any]:
    import orjson

    out = sys.stdout
    store: dict[str, list[float]] = {"Latency": []}

    def floor_record() -> None:
        values = store["Latency"]
        values.append(12.5)
        if len(values) >= 90:
            values.clear()

    def floor_doc(n: int) -> Any:
        names = [f"Metric{i}" for i in range(n)]

        def run() -> None:
            doc: dict[str, Any] = {
                "_aws": {
                    "Timestamp": time.time_ns() // 1_000_000,
                    "CloudWatchMetrics": [{
                        "Namespace": "bench",
                        "Dimensions": [["environment", "operation"]],
                        "Metrics": [{"Name": m, "Unit": "Milliseconds"} for m in names],
                    }],
                },
                "environment": "prod",
                "operation": "GET /orders/{id}",
            }
            for m in names:
                doc[m] = 12.5
            out.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE).decode())

        return run

    return {
        "FLOOR record: dict-of-lists append": floor_record,
        REFERENCE: floor_doc(1),
        "FLOOR flush(10)": floor_doc(10),
    }


def _obskit_cases() -> dict[str, Any]:
    import obskit
    from obskit import metrics
    from obskit._context import SCOPE, RequestScope

    obskit.configure(service="bench", environment="prod", namespace="bench", metrics="stdout", logs="none",
                     traces="none")
    record, flush = metrics.record, metrics.flush
    extra = {"Operation": "GET /orders/{id}", "Region": "eu-west-1"}
    names10 = [f"Metric{i}" for i in range(10)]

    def flush1() -> None:
        record("Latency", 12.5, "Milliseconds")
        flush()

    def flush1_dims() -> None:
        record("Latency", 12.5, "Milliseconds", dimensions=extra)
        flush()

    def flush10() -> None:
        for m in names10:
            record(m, 12.5, "Milliseconds")
        flush()

    def request_scope() -> None:
        scope = RequestScope()
        token = SCOPE.set(scope)
        try:
            record("Latency", 12.5, "Milliseconds")
        finally:
            metrics.flush_scope(scope)
            SCOPE.reset(token)

    return {
        "obskit record (default dims)": lambda: record("Latency", 12.5, "Milliseconds"),
        "obskit record (+2 call dims)": lambda: record("Latency", 12.5, "Milliseconds", dimensions=extra),
        "obskit count": lambda: metrics.count("Hits"),
        "obskit flush(1): record + flush()": flush1,
        "obskit flush(1) +2 call dims": flush1_dims,
        "obskit flush(10): 10 records + flush()": flush10,
        "obskit request scope: record + flush_scope (server, aggregated)": request_scope,
    }


def _powertools_cases() -> dict[str, Any]:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    m = Metrics(namespace="bench")
    counter = [0]

    def record() -> None:
        m.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=12.5)
        counter[0] += 1
        if counter[0] >= 90:
            counter[0] = 0
            m.clear_metrics()

    def flush_n(n: int) -> Any:
        names = [f"Metric{i}" for i in range(n)]

        def run() -> None:
            m.add_dimension(name="environment", value="prod")
            m.add_dimension(name="operation", value="GET /orders/{id}")
            for name in names:
                m.add_metric(name=name, unit=MetricUnit.Milliseconds, value=12.5)
            m.flush_metrics()

        return run

    m.clear_metrics()
    return {
        "Powertools add_metric (steady state)": record,
        "Powertools flush(1)": flush_n(1),
        "Powertools flush(10)": flush_n(10),
    }


def _aws_emf_cases() -> dict[str, Any]:
    os.environ.setdefault("AWS_EMF_ENVIRONMENT", "Lambda")
    from aws_embedded_metrics import metric_scope
    from aws_embedded_metrics.logger.metrics_logger_factory import create_metrics_logger

    logger = create_metrics_logger()
    counter = [0]

    def record() -> None:
        logger.put_metric("Latency", 12.5, "Milliseconds")
        counter[0] += 1
        if counter[0] >= 90:
            counter[0] = 0
            logger.context = logger.context.create_copy_with_context()

    def scoped(n: int) -> Any:
        names = [f"Metric{i}" for i in range(n)]

        @metric_scope
        def run(metrics: Any) -> None:
            metrics.set_dimensions({"environment": "prod", "operation": "GET /orders/{id}"})
            for name in names:
                metrics.put_metric(name, 12.5, "Milliseconds")

        return run

    return {
        "aws-emf put_metric (steady state)": record,
        "aws-emf @metric_scope flush(1)": scoped(1),
        "aws-emf @metric_scope flush(10)": scoped(10),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every case round-robin in this process; ratios against the flush(1) floor."""
    saved = dict(os.environ)
    try:
        cases: dict[str, Any] = {}
        with contextlib.redirect_stdout(_Null()):
            cases.update(_floor_cases())
            cases.update(_obskit_cases())
            cases.update(_powertools_cases())
            cases.update(_aws_emf_cases())
            peers = {
                "obskit record (default dims)": "Powertools add_metric (steady state)",
                "obskit record (+2 call dims)": "Powertools add_metric (steady state)",
                "obskit flush(1): record + flush()": "Powertools flush(1)",
                "obskit flush(1) +2 call dims": "Powertools flush(1)",
                "obskit flush(10): 10 records + flush()": "Powertools flush(10)",
                "obskit request scope: record + flush_scope (server, aggregated)": "Powertools flush(1)",
            }
            table = rows(measure(cases, quick=quick), reference=REFERENCE, peers=peers)
            import obskit.testing

            obskit.testing.reset()  # inside the redirect: nothing buffered may reach the real stdout
        return table + memory_rows(quick=quick)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        import obskit.testing

        obskit.testing.reset()


_MEMORY_SCRIPT = """
import contextlib, gc, json, resource, sys, time
class Null:
    def write(self, s): return len(s)
    def flush(self): pass
def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
import obskit
from obskit import metrics
obskit.configure(service="bench", environment="prod", metrics="stdout", logs="none", traces="none")
n = int(sys.argv[1])
with contextlib.redirect_stdout(Null()):
    for i in range(1000):
        metrics.record("Latency", i * 0.5, "Milliseconds", dimensions={"Operation": "op%d" % (i % 10)})
    metrics.flush()
    gc.collect()
    before = rss_kib()
    t0 = time.perf_counter()
    for i in range(n):
        metrics.record("Latency", i * 0.5, "Milliseconds", dimensions={"Operation": "op%d" % (i % 10)})
    elapsed = time.perf_counter() - t0
    metrics.flush()
    gc.collect()
    after = rss_kib()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(json.dumps({"before": before, "after": after, "peak": peak, "us": elapsed / n * 1e6}))
"""


def memory_rows(quick: bool = False) -> list[dict[str, Any]]:
    """A million records (10 operations) in a fresh interpreter: RSS growth and peak RSS."""
    n = 100_000 if quick else 1_000_000
    proc = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(n)], capture_output=True, text=True,
                          check=True, timeout=600)
    got = json.loads(proc.stderr.strip().splitlines()[-1])
    growth = got["after"] - got["before"]
    return [{
        "case": f"memory: obskit {n:,} records, RSS growth {growth} KiB, peak RSS {got['peak'] / 1024:.1f} MiB",
        "median_us": round(got["us"], 3), "min_us": round(got["us"], 3), "iqr_pct": 0.0, "ratio": float("nan"),
        "reference": REFERENCE,
    }]


if __name__ == "__main__":
    print(markdown_table(run(quick="--quick" in sys.argv)))
