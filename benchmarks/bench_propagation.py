"""Extract + inject of a full header set, obskit next to OpenTelemetry's composite propagator.

The request carries ``traceparent``, ``tracestate`` (2 members), ``baggage`` (3 members, one
percent-encoded), ``X-Amzn-Trace-Id`` (Root, Parent, Sampled) and ``x-correlation-id`` among
ordinary headers. One operation = read the incoming context and write a full outgoing set.

The reference is OpenTelemetry's ``CompositePropagator`` of ``TraceContextTextMapPropagator``,
``W3CBaggagePropagator`` and ``AwsXRayPropagator`` (opentelemetry-propagator-aws-xray), with a
case-insensitive getter (its default getter is a case-sensitive ``dict.get``, which misses
``X-Amzn-Trace-Id`` in lower-case carriers). obskit does more per call: it validates
tracestate and baggage fully, keeps X-Ray Lineage, reads the Lambda variable, generates a
correlation id when absent and a new parent span id on inject.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any

from benchmarks._harness import markdown_table, measure, rows

HEADERS = {
    "host": "api.example.com",
    "user-agent": "python-httpx/0.28.1",
    "accept": "application/json",
    "content-type": "application/json",
    "content-length": "42",
    "traceparent": "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
    "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    "baggage": "userId=alice,serverNode=DF%2028,isProduction=false",
    "x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "x-correlation-id": "3f1c2a9e-7d4b-4c1e-9a57-2b8e1f0c6d3a",
}

def _unique(i: int) -> dict[str, str]:
    """The same header set with per-request values (no two requests alike)."""
    h = dict(HEADERS)
    h["traceparent"] = f"00-5759e988bd862e3fe1be46a9{i:08x}-{i + 1:016x}-01"
    h["tracestate"] = f"rojo={i + 7:016x},congo=t61rcWkgMzE"
    h["baggage"] = f"userId=user{i},serverNode=DF%20{i % 97},isProduction=false"
    h["x-amzn-trace-id"] = f"Root=1-5759e988-bd862e3fe1be46a9{i:08x};Parent={i + 1:016x};Sampled=1"
    h["x-correlation-id"] = f"3f1c2a9e-7d4b-4c1e-9a57-{i:012x}"
    return h


UNIQUE = [_unique(i) for i in range(4096)]
"""More distinct requests than obskit's baggage memo holds, so every call parses afresh."""

MIXED_CASE = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in HEADERS.items()}
ASGI = [(k.encode(), v.encode()) for k, v in HEADERS.items()]

REFERENCE = "OTel composite: extract + inject"


def _otel_cases() -> dict[str, Any]:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.propagators.textmap import Getter
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    class CaseInsensitiveGetter(Getter[dict[str, str]]):
        def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
            value = carrier.get(key)
            if value is None:
                lower = key.lower()
                for name, v in carrier.items():
                    if name.lower() == lower:
                        return [v]
                return None
            return [value]

        def keys(self, carrier: dict[str, str]) -> list[str]:
            return list(carrier)

    prop = CompositePropagator(
        [TraceContextTextMapPropagator(), W3CBaggagePropagator(), AwsXRayPropagator()]
    )
    getter = CaseInsensitiveGetter()
    incoming = prop.extract(HEADERS, getter=getter)

    def both() -> object:
        out: dict[str, str] = {}
        prop.inject(out, context=prop.extract(HEADERS, getter=getter))
        return out

    def both_mixed() -> object:
        out: dict[str, str] = {}
        prop.inject(out, context=prop.extract(MIXED_CASE, getter=getter))
        return out

    unique = cycle(UNIQUE)

    def both_unique() -> object:
        out: dict[str, str] = {}
        prop.inject(out, context=prop.extract(next(unique), getter=getter))
        return out

    return {
        REFERENCE: both,
        "OTel composite: extract + inject (unique values per request)": both_unique,
        "OTel composite: extract + inject (mixed-case names)": both_mixed,
        "OTel composite: extract only": lambda: prop.extract(HEADERS, getter=getter),
        "OTel composite: inject only": lambda: prop.inject({}, context=incoming),
    }


def _obskit_cases() -> dict[str, Any]:
    import obskit.propagation as p

    incoming = p.extract(HEADERS)
    unique = cycle(UNIQUE)
    return {
        "obskit: extract + inject": lambda: p.inject(context=p.extract(HEADERS)),
        "obskit: extract + inject (unique values per request)": lambda: p.inject(context=p.extract(next(unique))),
        "obskit: extract + inject (mixed-case names)": lambda: p.inject(context=p.extract(MIXED_CASE)),
        "obskit: extract + inject (ASGI header list)": lambda: p.inject(context=p.extract(ASGI)),
        "obskit: extract only": lambda: p.extract(HEADERS),
        "obskit: inject only": lambda: p.inject(context=incoming),
    }


def _floor() -> object:
    """The least work: read five headers and build a five-header dict."""
    h = HEADERS
    return {
        "traceparent": h.get("traceparent"),
        "tracestate": h.get("tracestate"),
        "x-amzn-trace-id": h.get("x-amzn-trace-id"),
        "baggage": h.get("baggage"),
        "x-correlation-id": h.get("x-correlation-id"),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure every case; ratios are against OpenTelemetry's extract + inject."""
    import logging

    logging.getLogger("obskit").setLevel(logging.ERROR)  # keep one-time notices out of the table
    cases: dict[str, Any] = {"floor: 5 dict reads + 5-key dict": _floor}
    cases.update(_obskit_cases())
    cases.update(_otel_cases())
    peers = {
        "obskit: extract + inject": REFERENCE,
        "obskit: extract + inject (unique values per request)":
            "OTel composite: extract + inject (unique values per request)",
        "obskit: extract + inject (mixed-case names)": "OTel composite: extract + inject (mixed-case names)",
        "obskit: extract only": "OTel composite: extract only",
        "obskit: inject only": "OTel composite: inject only",
    }
    return rows(measure(cases, quick=quick), reference=REFERENCE, peers=peers)


if __name__ == "__main__":
    import sys

    print(markdown_table(run(quick="--quick" in sys.argv)))
