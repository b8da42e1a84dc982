"""SLO generator: 1,000 SLOs from YAML to a CloudFormation template (target: under 2 s end to end).

Imports: the standard library, ``benchmarks._harness`` and ``obskit.slo`` (PyYAML for parsing).

One service file with 1,000 SLOs (a quarter each availability, latency, per-operation
availability and synthetic; standard profile, so about 8,000 alarms). Each case is one whole run;
the harness times them round-robin (one call per block at this size) and reports medians.
"""

from __future__ import annotations

from typing import Any

from benchmarks._harness import markdown_table, measure, rows

SLO_COUNT = 1000
REFERENCE = "end to end: parse + build + CloudFormation YAML"


def slo_file(count: int = SLO_COUNT) -> str:
    """An SLO file with ``count`` SLOs of the four built-in kinds."""
    lines = [
        "service: checkout-api",
        "namespace: Shop",
        "environment: prod",
        "alerting:",
        '  page: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}',
        '  ticket: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}',
        "  runbook_url: https://wiki.example.com/checkout/slo",
        "slos:",
    ]
    slis = ["{kind: availability}", "{kind: latency, threshold_ms: 300}", "{kind: availability}",
            "{kind: synthetic, canary: canary-%d}"]
    for i in range(count):
        kind = i % 4
        lines += [f"  - name: slo-{i}", f"    objective: {99.9 if kind != 1 else 99}",
                  f"    sli: {slis[kind] % i if '%d' in slis[kind] else slis[kind]}"]
        if kind == 2:
            lines.append(f'    operation: "GET /orders/{i}/{{id}}"')
    return "\n".join(lines) + "\n"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time parsing, building, rendering and the whole pipeline for 1,000 SLOs."""
    from obskit.slo.alarms import build
    from obskit.slo.render import to_cloudformation, to_terraform
    from obskit.slo.spec import parse

    text = slo_file()
    config = parse(text, "bench.yaml")
    alarm_set = build(config)
    cases = {
        REFERENCE: lambda: to_cloudformation(build(parse(text, "bench.yaml"))),
        "parse + validate the YAML file": lambda: parse(text, "bench.yaml"),
        "build the alarm set (burn-rate math + limit checks)": lambda: build(config),
        "render CloudFormation YAML": lambda: to_cloudformation(alarm_set),
        "render CloudFormation JSON": lambda: to_cloudformation(alarm_set, fmt="json"),
        "render Terraform JSON": lambda: to_terraform(alarm_set),
    }
    table = rows(measure(cases, quick=quick, rounds=2 if quick else 5), reference=REFERENCE)
    n = len(alarm_set.metric_alarms) + len(alarm_set.composite_alarms)
    for r in table:
        r["case"] = f"{r['case']} ({SLO_COUNT} SLOs, {n} alarms)" if r["case"] == REFERENCE else r["case"]
    return table


if __name__ == "__main__":
    import sys

    print(markdown_table(run(quick="--quick" in sys.argv)))
