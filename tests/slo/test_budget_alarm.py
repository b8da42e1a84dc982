"""``alerting.budget_remaining``: an alarm when less than a share of the period's error budget is left."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obskit.errors import SLOProblem
from obskit.slo.alarms import build
from obskit.slo.explain import explain
from obskit.slo.spec import SLOConfig, parse

from .replay import ALARM, Replay, Traffic

DAY = 1440

HEAD = """\
service: checkout-api
period: {period}
alerting:
  page: {{sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}}
  ticket: {{sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}}
  budget_remaining: {budget}
slos:
  - name: s
    objective: {objective}
    sli: {{kind: availability}}
"""
BUDGET = "obskit/checkout-api/s/budget"


def _config(period: str = "7d", budget: str = "{below_percent: 25}", objective: float = 99.9,
            extra: str = "") -> SLOConfig:
    return parse(HEAD.format(period=period, budget=budget, objective=objective) + extra, "budget.yaml")


def test_seven_day_period_alarms_exactly_when_a_quarter_is_left() -> None:
    """7d at 99.9 %: a day at 0.05 % then 0.2 % errors leaves 25 % of the budget at minute 1,728 (by hand).

    Spent share after t minutes = (0.0005 * 1440 + 0.002 * (t - 1440)) / t / 0.001 = 0.75 at t = 1728.
    """
    timeline = Replay.of(build(_config())).run(Traffic().steady(DAY, error_ratio=0.0005).steady(DAY, error_ratio=0.002))
    fired = timeline.first(BUDGET)
    assert fired == 1728  # the evaluation at minute 1728 sees minutes 0..1727
    assert all(s[BUDGET] == ALARM for s in timeline.states[fired:])  # and it stays in ALARM while the burn goes on


def test_budget_alarm_notifies_its_severity_and_carries_ownership_tags() -> None:
    """The alarm notifies the ticket topic itself (no composite), tagged as the SLO's ticket alarm."""
    alarm = next(a for a in build(_config()).metric_alarms if a.part == "budget")
    assert alarm.actions_enabled
    assert alarm.alarm_actions == alarm.ok_actions == ("arn:aws:sns:eu-west-1:111111111111:ticket",)
    assert ("obskit:severity", "ticket") in alarm.tags
    assert alarm.period == 7 * DAY * 60
    assert alarm.threshold == 0.75


def test_thirty_day_period_reads_the_last_seven_days_and_says_so() -> None:
    """30d: an alarm sees 7 days, so it fires when they alone spent 75 % of the budget (3.214286x) and says so."""
    config = _config(period="30d", budget="{below_percent: 25, severity: page}")
    alarm = next(a for a in build(config).metric_alarms if a.part == "budget")
    assert alarm.period == 7 * 86_400
    assert alarm.threshold == pytest.approx(0.75 * 30 / 7, abs=1e-6)
    assert alarm.alarm_actions == ("arn:aws:sns:eu-west-1:111111111111:page",)
    assert "CloudWatch alarms see at most 7 days" in alarm.description
    assert "an alarm sees 7 days" in explain(config)


def test_an_slo_can_turn_the_budget_alarm_off() -> None:
    """`budget_remaining: off` under one SLO drops the alarm the file-wide setting would add."""
    config = _config(extra="    alerting: {budget_remaining: off}\n")
    assert [a.part for a in build(config).metric_alarms if a.part == "budget"] == []


@pytest.mark.parametrize(("budget", "message"), [
    ("{below_percent: 0}", "0 is outside (0, 100)"),
    ("{below_percent: 25, severity: sms}", "unknown severity 'sms'"),
    ("{severity: ticket}", "is required"),
    ("{below_percent: 25, when: now}", "unknown key"),
])
def test_budget_mistakes_are_reported_with_their_line(budget: str, message: str,
                                                      problems_of: Callable[[str], list[SLOProblem]]) -> None:
    """Each mistake in budget_remaining is located at its line (6) with a fix."""
    problems = problems_of(HEAD.format(period="7d", budget=budget, objective=99.9))
    assert [(p.line, message in p.message) for p in problems] == [(6, True)]


def test_a_budget_alarm_no_outage_can_reach_is_refused() -> None:
    """At 50 % over 30d a 7-day window cannot spend 75 % of the budget (3.2x x 0.5 >= 1): refused with a fix."""
    from obskit.errors import SLOSpecError

    with pytest.raises(SLOSpecError) as info:
        build(_config(period="30d", objective=50, extra="    alerting: {windows: "
                      "[{severity: page, long: 1h, short: 5m, burn_rate: 1.5}]}\n"))
    (problem,) = info.value.problems
    assert "cannot spend that much of the budget" in problem.message
    assert problem.fix == "raise budget_remaining.below_percent or the objective"
