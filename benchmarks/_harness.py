"""A small round-robin timing harness shared by every ``bench_*.py`` module.

Imports: standard library only.

Method (the same in every module, so numbers are comparable across them and across runs):

* each case is a zero-argument callable doing one operation;
* it is calibrated so one timed block lasts about 40 ms (``perf_counter_ns`` around a
  ``for _ in repeat(None, n)`` loop; the loop's own cost is included, not subtracted);
* blocks run round-robin over all cases for N rounds, so drift on a shared, noisy machine
  hits every case alike; ``gc.collect()`` runs before each block and GC stays enabled;
* the report is the median of the per-round microseconds per operation, with the minimum and
  the inter-quartile range as a percentage of the median, and a ratio against a reference
  case (a floor or a peer) measured in the same process.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

__all__ = [
    "PEER_PACKAGES", "NoopSpanEmitter", "Stats", "install_noop_span_runtime", "machine", "markdown_table", "measure",
    "package_versions", "rows",
]

# Peers that use OpenTelemetry (the SDK, its instrumentations) are measured as they run without
# obskit: its OpenTelemetry bridge stays off unless a module turns it on (bench_otel_bridge).
os.environ.setdefault("OBSKIT_OPENTELEMETRY_BRIDGE", "false")

_TIMES = "\u00d7"  # the multiplication sign of the ratio column
BLOCK_S = 0.040
ROUNDS = 11
QUICK_BLOCK_S = 0.010
QUICK_ROUNDS = 3


@dataclass(frozen=True)
class Stats:
    """Per-round timings of one case, in microseconds per operation."""

    name: str
    per_round_us: tuple[float, ...]

    @property
    def median_us(self) -> float:
        return statistics.median(self.per_round_us)

    @property
    def min_us(self) -> float:
        return min(self.per_round_us)

    @property
    def iqr_pct(self) -> float:
        values = sorted(self.per_round_us)
        if len(values) < 4:
            return 100.0 * (values[-1] - values[0]) / self.median_us if self.median_us else 0.0
        q = statistics.quantiles(values, n=4)
        return 100.0 * (q[2] - q[0]) / self.median_us if self.median_us else 0.0


def _time_block(fn: Callable[[], Any], n: int) -> int:
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in repeat(None, n):
        fn()
    return time.perf_counter_ns() - t0


def _calibrate(fn: Callable[[], Any], block_s: float) -> int:
    """How many calls fill one block of ``block_s`` seconds."""
    n = 1
    while True:
        elapsed = _time_block(fn, n)
        if elapsed >= block_s * 1e9 / 4 or n >= 1 << 24:
            return max(1, int(n * block_s * 1e9 / max(elapsed, 1)))
        n *= 4


def measure(
    cases: Mapping[str, Callable[[], Any]], *, quick: bool = False, rounds: int | None = None,
    block_s: float | None = None,
) -> list[Stats]:
    """Time every case, round-robin, and return their per-round timings in input order.

    Args:
        cases: case name to a zero-argument callable doing one operation.
        quick: fewer, shorter rounds (a smoke run; numbers are indicative only).
        rounds: override the number of rounds.
        block_s: override the length of one timed block.
    """
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    block_s = block_s or (QUICK_BLOCK_S if quick else BLOCK_S)
    for fn in cases.values():  # warm up caches and lazy imports outside the timed blocks
        fn()
    sizes = {name: _calibrate(fn, block_s) for name, fn in cases.items()}
    per_round: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            n = sizes[name]
            per_round[name].append(_time_block(fn, n) / n / 1000.0)
    return [Stats(name, tuple(values)) for name, values in per_round.items()]


def rows(
    stats: Sequence[Stats], reference: str, peers: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """One dict per case: case, median_us, min_us, iqr_pct, ratio (to ``reference``), reference.

    ``peers`` maps a case to the peer case that did the same work on the same input; those rows
    also get ``peer_ratio`` (case median / peer median), the fairest single number on a noisy
    machine because both sides of it ran in the same rounds.
    """
    ref = next(s for s in stats if s.name == reference).median_us
    by_name = {s.name: s for s in stats}
    out = [
        {
            "case": s.name,
            "median_us": round(s.median_us, 3),
            "min_us": round(s.min_us, 3),
            "iqr_pct": round(s.iqr_pct, 1),
            "ratio": round(s.median_us / ref, 3) if ref else float("nan"),
            "reference": reference,
        }
        for s in stats
    ]
    for row in out:
        peer = (peers or {}).get(row["case"])
        if peer in by_name and by_name[peer].median_us:
            row["peer_ratio"] = round(by_name[row["case"]].median_us / by_name[peer].median_us, 3)
    return out


def markdown_table(table: Sequence[Mapping[str, Any]]) -> str:
    """Render ``rows()`` output as a Markdown table."""
    if not table:
        return "(no rows)\n"
    reference = table[0].get("reference", "reference")
    mixed = len({r.get("reference") for r in table}) > 1  # rows measured against different references
    paired = any("peer_ratio" in r for r in table)
    head = f"| case | median µs | min µs | IQR % | {_TIMES} {'reference (named)' if mixed else reference} |"
    rule = "|---|---:|---:|---:|---:|"
    lines = [head + (f" {_TIMES} same-input peer |" if paired else ""), rule + ("---:|" if paired else "")]
    for r in table:
        median, low, iqr, ratio = r["median_us"], r["min_us"], r["iqr_pct"], r["ratio"]
        ref = f" {r.get('reference')}" if mixed else ""
        line = f"| {r['case']} | {median:.3g} | {low:.3g} | {iqr:.0f} | {ratio:.2f}{_TIMES}{ref} |"
        if paired:
            peer = r.get("peer_ratio")
            line += f" {peer:.2f}{_TIMES} |" if peer is not None else " |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _memory() -> str | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> str:
    """A one-paragraph description of the machine and interpreter, for the results file."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = _memory()
    return (
        f"{cpu}, {os.cpu_count()} CPU{f', {memory}' if memory else ''}; {platform.system()} {platform.release()}; "
        f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    )


PEER_PACKAGES = (
    "obskit", "structlog", "orjson", "aws-lambda-powertools", "aws-embedded-metrics", "aws-xray-sdk",
    "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-propagator-aws-xray",
    "opentelemetry-sdk-extension-aws", "opentelemetry-instrumentation-flask",
    "opentelemetry-instrumentation-fastapi", "opentelemetry-instrumentation-httpx",
    "opentelemetry-instrumentation-botocore", "opentelemetry-instrumentation-requests",
    "python-json-logger", "boto3", "flask", "fastapi", "starlette", "uvicorn", "gunicorn", "httpx", "requests",
)
"""obskit, its optional dependencies, the peers it is measured against and the frameworks used."""


def package_versions(names: Sequence[str] = PEER_PACKAGES) -> str:
    """``name version`` for each installed package of ``names`` (``not installed`` otherwise)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


class NoopSpanEmitter:
    """A span emitter that does nothing: what obskit's spans cost before any emission."""

    name = "noop"

    def on_start(self, record: Any) -> None:
        pass

    def on_end(self, record: Any) -> None:
        pass

    def flush(self, timeout_s: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def install_noop_span_runtime() -> None:
    """Configure obskit with no signals, then make a ``NoopSpanEmitter`` its one span emitter."""
    import obskit
    from obskit import _pipeline
    from obskit.ids import RandomIdGenerator

    cfg = obskit.configure(traces="none", metrics="none", logs="none")
    _pipeline.install(_pipeline.Runtime(cfg, RandomIdGenerator(), time.time_ns, [NoopSpanEmitter()]))
