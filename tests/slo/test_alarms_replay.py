"""The guarantees of the generated alarms, replayed through ``tests/slo/replay.py``'s CloudWatch.

Every test builds a file, renders its CloudFormation and replays per-minute traffic through it
(children over sliding windows every minute, composite rules, the ticket's suppressor). The
invariant suite (no alert below the SLO's rate, every burn above it alerts before the budget is
gone, a full outage pages within minutes, one outage notifies once) holds for every built-in
profile and for 30, 28 and 7 day periods, for availability, latency and synthetic SLIs.
"""

from __future__ import annotations

import math
import random

import pytest

from obskit.slo.alarms import build
from obskit.slo.explain import detection_minutes
from obskit.slo.spec import PROFILES, parse

from .replay import ALARM, Replay, Timeline, Traffic

DAY = 1440
TOPICS = """\
  page: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}
  ticket: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}
"""
SLIS = {
    "availability": "{kind: availability}",
    "latency": "{kind: latency, threshold_ms: 300}",
    "synthetic": "{kind: synthetic, canary: shop-canary}",
}
PAGE, TICKET = "obskit/checkout-api/s/page", "obskit/checkout-api/s/ticket"


def _text(objective: float = 99.9, kind: str = "availability", *, period: str = "30d", alerting: str = "",
          sli: str | None = None) -> str:
    return (f"service: checkout-api\nperiod: {period}\nalerting:\n{TOPICS}{alerting}"
            f"slos:\n  - name: s\n    objective: {objective}\n    sli: {sli or SLIS[kind]}\n")


def _replay(objective: float = 99.9, kind: str = "availability", **kw: str) -> Replay:
    return Replay.of(build(parse(_text(objective, kind, **kw), "replay.yaml")))


def _burn(kind: str, minutes: int, ratio: float, *, rate: int = 1000) -> Traffic:
    """``minutes`` of a steady bad-event ratio for ``kind`` (a once-a-minute canary for synthetic)."""
    if kind == "synthetic":
        return Traffic().sparse(minutes, every=1, fail=lambda i: math.floor((i + 1) * ratio) > math.floor(i * ratio))
    if kind == "latency":
        return Traffic().steady(minutes, slow_ratio=ratio, rate=rate)
    return Traffic().steady(minutes, error_ratio=ratio, rate=rate)


def _any_composite(timeline: Timeline) -> int | None:
    found = [t for t in (timeline.first(PAGE), timeline.first(TICKET)) if t is not None]
    return min(found) if found else None


def _stop_on_alert(states: dict[str, str]) -> bool:
    return ALARM in (states[PAGE], states[TICKET])


# --- the invariants, for every profile, period and SLI kind --------------------------------------
CASES = [(p, period, kind) for p in PROFILES for period in ("30d", "28d", "7d") for kind in SLIS
         if kind == "availability" or p == "standard"]


@pytest.mark.slow
@pytest.mark.parametrize(("profile", "period", "kind"), CASES)
@pytest.mark.parametrize("factor", [0.5, 0.9])
def test_no_alert_below_1x(profile: str, period: str, kind: str, factor: float) -> None:
    """A steady burn under 1x (the SLO will be met) fires no composite over 3.5 days."""
    replay = _replay(kind=kind, period=period, alerting=f"  profile: {profile}\n")
    timeline = replay.run(_burn(kind, 3 * DAY + DAY // 2, factor * 0.001), until=_stop_on_alert)
    assert _any_composite(timeline) is None


@pytest.mark.slow
@pytest.mark.parametrize(("profile", "period", "kind"), CASES)
@pytest.mark.parametrize("factor", [1.1, 1.5, 2.9, 6.5, 20, 1000])
def test_every_burn_above_1x_alerts_before_the_budget_is_gone(profile: str, period: str, kind: str,
                                                            factor: float) -> None:
    """A steady burn above 1x alerts (page or ticket) before it has spent the whole budget."""
    days = int(period[:-1])
    exhausted = math.floor(days * DAY / factor)  # minutes until the budget is gone
    replay = _replay(kind=kind, period=period, alerting=f"  profile: {profile}\n")
    timeline = replay.run(_burn(kind, min(exhausted, 4 * DAY), factor * 0.001), until=_stop_on_alert)
    fired = _any_composite(timeline)
    assert fired is not None, f"{factor}x on {period} never alerted; budget gone after {exhausted} min"
    assert fired < exhausted


@pytest.mark.parametrize(("profile", "period", "kind"), CASES)
def test_full_outage_pages_within_six_minutes(profile: str, period: str, kind: str) -> None:
    """Every request (or canary run) failing pages within 6 minutes of the first failure."""
    replay = _replay(kind=kind, period=period, alerting=f"  profile: {profile}\n")
    timeline = replay.run(_concat(_burn(kind, 120, 0.0), _burn(kind, 30, 1.0)))
    fired = timeline.first(PAGE)
    assert fired is not None
    assert fired - 120 <= 6


@pytest.mark.parametrize(("profile", "period", "kind"), CASES)
def test_a_ten_minute_outage_notifies_once(profile: str, period: str, kind: str) -> None:
    """One 10-minute full outage sends exactly one ALARM notification: the page, at once."""
    replay = _replay(kind=kind, period=period, alerting=f"  profile: {profile}\n")
    traffic = _concat(_burn(kind, 120, 0.0), _burn(kind, 10, 1.0), _burn(kind, DAY, 0.0))
    alarms = replay.run(traffic).alarms()
    assert [n.alarm for n in alarms] == [PAGE]
    assert alarms[0].minute - 120 <= 6


def _concat(*parts: Traffic) -> Traffic:
    out = Traffic()
    for p in parts:
        out.requests += p.requests
        out.faults += p.faults
        out.slow += p.slow
        out.runs += p.runs
        out.failed += p.failed
    return out


# --- the findings ----------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.0015, 0.0025, 0.0029])
def test_default_profile_alerts_on_burns_between_1x_and_3x(ratio: float) -> None:
    """0.15 %, 0.25 %, 0.29 % errors at 99.9 %/30d exhaust the budget in 20, 12, 10 days: a ticket opens."""
    timeline = _replay().run(_burn("availability", 4 * DAY, ratio), until=_stop_on_alert)
    fired = timeline.first(TICKET)
    assert fired is not None
    assert fired < 3 * DAY


@pytest.mark.parametrize("period", ["7d", "28d"])
def test_no_tier_fires_on_a_0_95x_burn_on_short_periods(period: str) -> None:
    """On 7 and 28 days a 0.95x burn (the SLO will be met) opens no ticket (was: 1d/2h at 0.7x on 7d)."""
    timeline = _replay(period=period).run(_burn("availability", 3 * DAY + 720, 0.00095), until=_stop_on_alert)
    assert _any_composite(timeline) is None


def test_ticket_does_not_notify_after_the_incident_is_over() -> None:
    """A 10-minute outage pages at once; the ticket, suppressed, never notifies (was: 70 min later)."""
    replay = _replay()
    timeline = replay.run(_burn("availability", 120, 0).steady(10, error_ratio=1.0).steady(2 * DAY))
    assert timeline.first(TICKET) is not None  # the ticket composite did go to ALARM
    assert [(n.minute, n.alarm) for n in timeline.alarms()] == [(121, PAGE)]


def test_a_ticket_burn_still_notifies_when_no_page_fires() -> None:
    """Suppression only holds a ticket while a page is or was recently firing: a slow burn tickets."""
    timeline = _replay().run(_burn("availability", 3 * DAY, 0.004))
    assert [n.alarm for n in timeline.alarms()] == [TICKET]


def test_min_bad_events_counts_failures_exactly() -> None:
    """2 failed runs of 60 in the 1h window are 2, not 1.9999999999999971, so min_bad_events: 2 is met."""
    replay = _replay(95, sli="{kind: synthetic, canary: shop-canary, min_bad_events: 2}",
                     alerting="  min_requests: 1\n")
    traffic = Traffic().sparse(120, every=1, fail=lambda i: i in (100, 119))
    assert replay.value("obskit/checkout-api/s/page-1h", traffic, 120) == pytest.approx(2 / 60 / 0.05)


# --- detection and reset times ---------------------------------------------------------------
def test_healthy_noisy_stream_fires_nothing() -> None:
    """Three days at 0.05 % errors (half the budget rate, with Poisson noise) page and ticket nobody."""
    replay = _replay()
    timeline = replay.run(Traffic().steady(3 * DAY, error_ratio=0.0005, noise=random.Random(7)))
    assert timeline.notifications == []


def test_two_percent_burst_pages_after_43_minutes() -> None:
    """A 2 % error burst pages once the 1h window reaches 14.4x: 43.2 min in the Workbook, + evaluation."""
    timeline = _replay().run(Traffic().steady(120).steady(90, error_ratio=0.02))
    fired = timeline.first(PAGE)
    assert fired is not None
    assert fired - 120 == 44


def test_page_resets_within_the_short_window_after_recovery() -> None:
    """After a 10-minute outage the 5m window clears the fast tier in 5 min and the 30m window the page."""
    timeline = _replay().run(Traffic().steady(120).steady(10, error_ratio=1.0).steady(120))
    end = 130
    assert timeline.first("obskit/checkout-api/s/page-5m", "OK", end) - end <= 5
    page_clear = timeline.first(PAGE, "OK", end)
    assert page_clear is not None
    assert page_clear - end <= 30
    assert timeline.states[page_clear]["obskit/checkout-api/s/page-1h"] == ALARM  # long window alone: no page


@pytest.mark.parametrize("kind", list(SLIS))
@pytest.mark.parametrize("objective", [99.9, 99.5, 99])
def test_explain_detection_times_agree_with_the_replay(kind: str, objective: float) -> None:
    """explain's full-outage detection time per tier is within a minute of the replayed one."""
    config = parse(_text(objective, kind), "replay.yaml")
    replay = Replay.of(build(config))
    timeline = replay.run(_concat(_burn(kind, 3 * DAY, 0.0), _burn(kind, 600, 1.0)))
    slo = config.slos[0]
    for w in slo.alerting.windows:
        predicted = detection_minutes(config, slo, w, 1.0)
        assert predicted is not None
        ends = (f"/{w.severity}-{_fmt(w.long_s)}", f"/{w.severity}-{_fmt(w.short_s)}")
        pair = [n for n in replay.names if n.endswith(ends)]
        both = next(t for t in range(3 * DAY, len(timeline.states))
                    if all(timeline.states[t][n] == ALARM for n in pair))
        assert abs((both - 3 * DAY) - predicted) <= 1, (w, both - 3 * DAY, predicted)


def test_a_canary_failing_once_in_50_runs_pages_when_explain_says() -> None:
    """1 failed run in 50 is a 20x burn at 99.9 %: the 1h window holds 2 failures after 51 minutes
    (min_bad_events: 2) and the 5m window 1; explain's 2 % column says the same minute."""
    config = parse(_text(kind="synthetic"), "replay.yaml")
    slo = config.slos[0]
    predicted = detection_minutes(config, slo, slo.alerting.windows[0], 0.02)
    timeline = Replay.of(build(config)).run(Traffic().sparse(3 * DAY, every=1).sparse(120, every=1,
                                                                                         fail=lambda i: i % 50 == 0))
    assert timeline.first(PAGE) is not None
    assert predicted is not None
    assert abs(timeline.first(PAGE) - 3 * DAY - predicted) <= 1


def _fmt(seconds: int) -> str:
    from obskit.slo.spec import format_duration

    return format_duration(seconds)


def test_latency_slo_pages_when_requests_turn_slow() -> None:
    """When every request exceeds the threshold, PR(:T) drops to 0 and the latency SLO pages."""
    timeline = _replay(99.0, "latency").run(Traffic().steady(400).steady(30, slow_ratio=1.0))
    fired = timeline.first(PAGE)
    assert fired is not None
    assert fired - 400 == math.ceil(0.01 * 14.4 * 60)  # 8.64 min at 99 %, seen at the next evaluation


@pytest.mark.parametrize(("guard", "pages"), [("", True), ("  min_requests: 100\n", False)])
def test_min_requests_keeps_a_quiet_service_from_paging(guard: str, pages: bool) -> None:
    """One failure among a request per minute pages without the guard and not with min_requests: 100."""
    traffic = Traffic().sparse(120, every=1).sparse(1, every=1, fail=lambda i: True).sparse(60, every=1)
    timeline = _replay(alerting=guard).run(traffic)
    assert (timeline.first(PAGE) is not None) is pages
