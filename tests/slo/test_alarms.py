"""The burn-rate math and the alarm set it produces, before any rendering."""

from __future__ import annotations

import pytest

from obskit import semconv
from obskit.slo.alarms import build, detection_seconds
from obskit.slo.spec import load


def _by_part(alarm_set, slo: str) -> dict:
    return {a.part: a for a in (*alarm_set.metric_alarms, *alarm_set.composite_alarms) if a.slo == slo}


def test_default_profile_is_eight_children_and_two_composites(minimal, config_of) -> None:
    """Per SLO: 1h/5m at 14.4, 6h/30m at 6, 1d/2h at 3, 3d/6h at 1, a page and a ticket composite."""
    alarms = _by_part(build(config_of(minimal)), "availability")
    children = {p: a.threshold for p, a in alarms.items() if p not in ("page", "ticket")}
    assert children == {"page-1h": 14.4, "page-5m": 14.4, "page-6h": 6.0, "page-30m": 6.0,
                        "ticket-1d": 3.0, "ticket-2h": 3.0, "ticket-3d": 1.0, "ticket-6h": 1.0}
    assert alarms["page"].rule == (("obskit/checkout-api/availability/page-1h",
                                    "obskit/checkout-api/availability/page-5m"),
                                   ("obskit/checkout-api/availability/page-6h",
                                    "obskit/checkout-api/availability/page-30m"))
    assert alarms["ticket"].rule_text() == ('(ALARM("obskit/checkout-api/availability/ticket-1d") AND '
                                            'ALARM("obskit/checkout-api/availability/ticket-2h")) OR '
                                            '(ALARM("obskit/checkout-api/availability/ticket-3d") AND '
                                            'ALARM("obskit/checkout-api/availability/ticket-6h"))')


def test_page_rule_text_ors_the_tiers(minimal, config_of) -> None:
    """The page rule is (1h AND 5m) OR (6h AND 30m)."""
    page = _by_part(build(config_of(minimal)), "availability")["page"]
    assert page.rule_text(lambda n: n.rsplit("-", 1)[1]) == (
        '(ALARM("1h") AND ALARM("5m")) OR (ALARM("6h") AND ALARM("30m"))')


def test_children_have_no_actions_composites_notify(minimal, config_of) -> None:
    """Only the composites notify: page to the page topic, ticket to the ticket topic."""
    alarm_set = build(config_of(minimal))
    assert all(not a.actions_enabled and not a.alarm_actions for a in alarm_set.metric_alarms)
    page, ticket = alarm_set.composite_alarms
    assert page.alarm_actions == page.ok_actions == ("arn:aws:sns:eu-west-1:111111111111:page",)
    assert ticket.alarm_actions == ("arn:aws:sns:eu-west-1:111111111111:ticket",)


def test_ticket_is_suppressed_while_page_fires(minimal, config_of) -> None:
    """The ticket composite names the page composite as its actions suppressor."""
    page, ticket = build(config_of(minimal)).composite_alarms
    assert ticket.suppressor == page.name
    assert page.suppressor is None
    assert ticket.suppressor_wait_s > 0
    assert ticket.suppressor_extension_s > 0


def test_availability_reads_fault_sum_over_samplecount(minimal, config_of) -> None:
    """Availability is Sum(Fault) / SampleCount(Fault), divided by the budget."""
    child = _by_part(build(config_of("environment: prod\n" + minimal)), "availability")["page-1h"]
    bad, total, burn = child.queries
    assert (bad.metric, bad.stat, total.metric, total.stat) == (semconv.METRIC_FAULT, "Sum",
                                                                 semconv.METRIC_FAULT, "SampleCount")
    assert bad.dimensions == ((semconv.DIM_SERVICE, "checkout-api"), (semconv.DIM_ENVIRONMENT, "prod"))
    assert bad.period == total.period == 3600
    assert burn.expression == "IF(total >= 1, bad / total, 0) / 0.001"
    assert burn.return_data
    assert not bad.return_data
    assert not total.return_data


def test_latency_reads_percentile_rank(minimal, config_of) -> None:
    """Latency reads PR(:T) and SampleCount of Latency; bad share = 1 - PR/100."""
    text = minimal.replace("{kind: availability}", "{kind: latency, threshold_ms: 300}")
    good, total, burn = _by_part(build(config_of(text)), "availability")["page-5m"].queries
    assert (good.metric, good.stat, total.stat) == (semconv.METRIC_LATENCY, "PR(:300)", "SampleCount")
    assert burn.expression == "IF(total >= 1, (100 - good_pct) / 100, 0) / 0.001"


def test_operation_adds_the_operation_dimension(minimal, config_of) -> None:
    """An operation SLO reads the [Service, Operation] dimension set."""
    text = minimal.replace("    sli:", '    operation: "GET /orders/{order_id}"\n    sli:')
    bad = _by_part(build(config_of(text)), "availability")["page-1h"].queries[0]
    assert bad.dimensions == ((semconv.DIM_SERVICE, "checkout-api"),
                              (semconv.DIM_OPERATION, "GET /orders/{order_id}"))


def test_synthetic_reads_success_percent(minimal, config_of) -> None:
    """A synthetic SLO reads SuccessPercent of its canary; failures are counted exactly (runs - Sum/100)."""
    text = minimal.replace("{kind: availability}", "{kind: synthetic, canary: c1, min_bad_events: 2}")
    ok, _runs, burn = _by_part(build(config_of(text)), "availability")["page-1h"].queries
    assert (ok.namespace, ok.metric, ok.stat) == (semconv.SYNTHETICS_NAMESPACE, semconv.METRIC_SYNTHETICS_SUCCESS,
                                                  "Sum")
    assert ok.dimensions == ((semconv.DIM_CANARY_NAME, "c1"),)
    assert burn.expression == "IF(runs >= 1 AND runs - ok_sum / 100 >= 2, (runs - ok_sum / 100) / runs, 0) / 0.001"


def test_min_requests_guards_low_traffic(minimal, config_of) -> None:
    """min_requests becomes the IF condition of every burn-rate expression."""
    text = minimal.replace("alerting:\n", "alerting:\n  min_requests: 50\n")
    alarm_set = build(config_of(text))
    assert all("IF(total >= 50," in (a.queries[-1].expression or "") for a in alarm_set.metric_alarms)


def test_no_data_alarm_notifies_on_missing_requests(minimal, config_of) -> None:
    """no_data adds an alarm on SampleCount that treats missing data as breaching."""
    text = minimal.replace("alerting:\n", "alerting:\n  no_data: ticket\n")
    alarm = _by_part(build(config_of(text)), "availability")["no-data"]
    assert alarm.treat_missing_data == "breaching"
    assert alarm.comparison == "LessThanThreshold"
    assert alarm.alarm_actions == ("arn:aws:sns:eu-west-1:111111111111:ticket",)
    assert alarm.queries[0].stat == "SampleCount"


def test_names_and_tags_are_deterministic(minimal, config_of) -> None:
    """Names are {prefix}-{service}-{slo}-{part}; tags mark generator, service, SLO and window."""
    alarm_set = build(config_of(minimal))
    child = alarm_set.metric_alarms[0]
    assert child.name == "obskit/checkout-api/availability/page-1h"
    tags = dict(child.tags)
    assert tags[semconv.SLO_TAG_GENERATOR] == "obskit"
    assert tags[semconv.SLO_TAG_SLO] == "availability"
    assert tags[semconv.SLO_TAG_WINDOW] == "1h"
    assert semconv.SLO_TAG_GENERATOR_VERSION in tags
    again = build(config_of(minimal))
    assert (again.metric_alarms, again.composite_alarms) == (alarm_set.metric_alarms, alarm_set.composite_alarms)


def test_descriptions_explain_the_window(minimal, config_of) -> None:
    """A child's description says the SLO, window, burn rate, budget share and time to exhaustion."""
    desc = build(config_of(minimal)).metric_alarms[0].description
    for part in ("checkout-api/availability", "99.9%", "over 1h", ">= 14.4x", "2% of the 30d error budget",
                 "budget lasts 2.1 d"):
        assert part in desc


def test_same_window_with_two_burn_rates_gets_two_alarms(minimal, config_of) -> None:
    """Two page tiers sharing a 1h window at different burn rates get distinct child alarms."""
    text = minimal + """\
    alerting:
      windows:
        - {severity: page, long: 1h, short: 5m, budget_percent: 2}
        - {severity: page, long: 6h, short: 1h, budget_percent: 5}
"""
    parts = {a.part for a in build(config_of(text)).metric_alarms}
    assert parts == {"page-1h-x14.4", "page-5m", "page-6h", "page-1h-x6"}


def test_too_long_name_is_refused_at_the_slo(minimal, problems_of) -> None:
    """A generated name over 255 characters is an SLOSpecError pointing at the SLO, found while parsing."""
    (problem,) = problems_of(minimal.replace("service: checkout-api", "service: " + "s" * 250))
    assert problem.line == 6
    assert "255" in problem.message


@pytest.mark.parametrize(("error_ratio", "minutes"), [
    (1.0, (0.864, 2.16, 4.32, 4.32)), (0.1, (8.64, 21.6, 43.2, 43.2)), (0.02, (43.2, 108.0, 216.0, 216.0)),
    (0.01, (None, 216.0, 432.0, 432.0)),
])
def test_detection_times_match_the_workbook(minimal, config_of, error_ratio: float, minutes: tuple) -> None:
    """Detection times of the default tiers at 99.9 % match the SRE Workbook's numbers."""
    slo = config_of(minimal).slos[0]
    got = tuple(None if (s := detection_seconds(w, slo.budget, error_ratio)) is None else round(s / 60, 3)
                for w in slo.alerting.windows)
    assert got == minutes


def test_example_builds(example) -> None:
    """The example builds: 5 SLOs, 8 children each with the standard profile, a no-data alarm, a budget alarm."""
    alarm_set = build(load(example))
    counts = {}
    for a in alarm_set.metric_alarms:
        counts[a.slo] = counts.get(a.slo, 0) + 1
    assert counts == {"availability": 9, "latency": 8, "orders-availability": 8, "uptime": 9, "payments": 4}
