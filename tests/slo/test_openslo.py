"""OpenSLO v1 documents as an alternative input, mapped onto the same model."""

from __future__ import annotations

from pathlib import Path

from obskit.slo.alarms import build
from obskit.slo.spec import load

OPENSLO = Path(__file__).resolve().parents[2] / "examples" / "openslo.yaml"


def test_openslo_example_maps_onto_the_model() -> None:
    """Service, period, objective, ratio metrics, tiers (short = long/12) and topics are mapped."""
    config = load(OPENSLO)
    assert (config.service, config.period_s, config.source_format) == ("checkout-api", 30 * 86_400, "openslo")
    (slo,) = config.slos
    assert slo.objective == 99.9
    assert slo.sli.kind == "ratio"
    assert (slo.sli.bad.metric, slo.sli.bad.stat, slo.sli.total.stat) == ("Fault", "Sum", "SampleCount")
    assert [(w.severity, w.long_s, w.short_s, w.burn_rate) for w in slo.alerting.windows] == [
        ("page", 3600, 300, 14.4), ("ticket", 86_400, 7200, 3.0)]
    assert slo.alerting.page == ("arn:aws:sns:eu-west-1:111111111111:page",)
    assert slo.alerting.no_data == "ticket"


def test_openslo_builds_the_same_kind_of_alarms() -> None:
    """The OpenSLO file yields burn-rate children and page/ticket composites."""
    alarm_set = build(load(OPENSLO))
    assert [c.part for c in alarm_set.composite_alarms] == ["page", "ticket"]
    assert alarm_set.metric_alarms[0].threshold == 14.4


def test_threshold_metric_becomes_a_latency_sli(write) -> None:
    """A thresholdMetric with op lte and value T reads PR(:T) on that metric."""
    config = load(write("""\
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: latency}
        spec:
          service: checkout-api
          budgetingMethod: Occurrences
          timeWindow: [{duration: 4w, isRolling: true}]
          indicator:
            metadata: {name: lat}
            spec:
              thresholdMetric:
                metricSource: {type: CloudWatch, spec: {namespace: Shop, metricName: Latency}}
          objectives: [{op: lte, value: 300, target: 0.99}]
        """))
    (slo,) = config.slos
    assert (slo.sli.kind, slo.sli.threshold_ms, slo.sli.metric.metric) == ("latency", 300, "Latency")
    assert config.period_s == 28 * 86_400
    assert build(config).metric_alarms[0].queries[0].stat == "PR(:300)"


def test_openslo_mistakes_are_all_reported_with_lines(problems_of) -> None:
    """Unmappable OpenSLO constructs are refused with lines and fixes, all at once."""
    problems = problems_of("""\
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: availability}
        spec:
          service: checkout-api
          budgetingMethod: Timeslices
          timeWindow: [{duration: 1M, isRolling: true}]
          indicator: {metadata: {name: x}, spec: {ratioMetric: {rawType: failure, raw: {}}}}
          objectives: [{target: 0.999}, {target: 0.99}]
          alertPolicies:
            - kind: AlertPolicy
              metadata: {name: inverted}
              spec:
                conditions:
                  - kind: AlertCondition
                    metadata: {name: c}
                    spec: {severity: page, condition: {kind: burnrate, op: lte, threshold: 2, lookbackWindow: 1h}}
                notificationTargets: [{targetRef: missing}]
        """)
    by_line = {p.line: p for p in problems}
    assert "Occurrences" in (by_line[6].fix or "")
    assert "M, Q, Y" in (by_line[7].fix or "")
    assert "raw ratio" in by_line[8].message
    assert "exactly one" in by_line[9].message
    assert "op: gte" in (by_line[17].fix or "")


def test_indicator_by_reference_and_inline_with_kind(write) -> None:
    """An SLI document named by indicatorRef and an inline `kind: SLI` indicator both map to ratios."""
    sli = ("{ratioMetric: {bad: {metricSource: {type: CloudWatch, spec: {metricName: Fault}}}, "
           "total: {metricSource: {type: CloudWatch, spec: {metricName: Fault, stat: SampleCount}}}}}")
    slo = ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: {name}}}\nspec:\n  service: s\n"
           "  budgetingMethod: Occurrences\n  timeWindow: [{{duration: 30d, isRolling: true}}]\n"
           "  objectives: [{{targetPercent: 99.9}}]\n  {indicator}\n")
    config = load(write(
        f"apiVersion: openslo/v1\nkind: SLI\nmetadata: {{name: faults}}\nspec: {sli}\n---\n"
        + slo.format(name="by-ref", indicator="indicatorRef: faults") + "---\n"
        + slo.format(name="inline", indicator=f"indicator: {{kind: SLI, metadata: {{name: f2}}, spec: {sli}}}")))
    assert [(s.name, s.sli.kind, s.sli.total.stat) for s in config.slos] == [
        ("by-ref", "ratio", "SampleCount"), ("inline", "ratio", "SampleCount")]


def test_openslo_without_alert_policies_gets_the_standard_profile(write) -> None:
    """No alertPolicies: the standard profile's four pairs at 14.4, 6, 3 and 1 (on a 7-day window too)."""
    text = OPENSLO.read_text(encoding="utf-8")
    head = text[: text.index("alertPolicies:")].replace("duration: 30d", "duration: 7d")
    (slo,) = load(write(head)).slos
    assert [w.burn_rate for w in slo.alerting.windows] == [14.4, 6.0, 3.0, 1.0]


def test_openslo_burn_rate_under_1x_is_refused(problems_of) -> None:
    """A burnrate condition with threshold 0.7 would fire while the SLO is met: refused at its line."""
    text = OPENSLO.read_text(encoding="utf-8").replace("threshold: 14.4", "threshold: 0.7", 1)
    problems = problems_of(text)
    assert any("below 1x" in p.message for p in problems)
