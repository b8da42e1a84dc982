"""``explain``: budgets, thresholds and detection times per SLO."""

from __future__ import annotations

import pytest

from obskit.slo.explain import explain
from obskit.slo.spec import load


def test_explain_gives_budget_in_minutes_and_requests(example) -> None:
    """The budget is given in minutes of full outage and in requests at the expected rate."""
    text = explain(load(example))
    assert "error budget: 43.2 min of full outage, or 129,600 bad requests at 50 requests/s" in text


def test_explain_without_rate_says_per_million(config_of, minimal) -> None:
    """Without expected_rps the budget is given per million requests."""
    assert "1,000 bad requests per 1M requests" in explain(config_of(minimal))


def test_explain_rows_have_threshold_and_detection_times(config_of, minimal) -> None:
    """Each tier row shows the burn rate, error ratio, and detection of a full outage and of 2 % errors."""
    lines = explain(config_of(minimal)).splitlines()
    page = next(line for line in lines if line.strip().startswith("page      1h/5m"))
    assert page.split() == ["page", "1h/5m", "14.4x", "1.44%", "2%", "in", "1h", "2.1", "d", "1", "min", "44", "min",
                            "<=", "5m"]
    ticket = next(line for line in lines if line.strip().startswith("ticket"))
    assert "3.6 h" in ticket


def test_explain_says_never_when_a_rate_cannot_fire(config_of, minimal) -> None:
    """At 99 % a 2 % error rate stays under the 14.4x threshold: the row says never."""
    text = explain(config_of(minimal.replace("99.9", "99")))
    assert "never" in next(line for line in text.splitlines() if "1h/5m" in line)


def _row(text: str, tier: str) -> str:
    return next(line for line in text.splitlines() if line.split()[:2] == tier.split())


def test_explain_budget_never_outlasts_a_short_period(config_of, minimal) -> None:
    """On a 7-day SLO no tier's "budget lasts" is longer than 7 days (was: 10.0 d at 0.7x)."""
    text = explain(config_of("period: 7d\n" + minimal))
    assert "10.0 d" not in text
    assert _row(text, "ticket 3d/6h").split()[7:9] == ["7.0", "d"]


CANARY = "{kind: synthetic, canary: shop-canary}"


def test_a_canary_full_outage_takes_two_runs(config_of, minimal) -> None:
    """A once-a-minute canary needs 2 failed runs (min_bad_events) to page: 2 min, not 26 s."""
    text = explain(config_of(minimal.replace("{kind: availability}", CANARY)))
    assert _row(text, "page 1h/5m").split()[9:11] == ["2", "min"]
    assert "canary's 1m schedule" in text


@pytest.mark.parametrize(("extra", "sli"), [
    ("  min_requests: 10\n", CANARY),
    ("  min_requests: 10\n", "{kind: availability}\n    expected_rps: 0.01"),
    ("", "{kind: synthetic, canary: shop-canary, schedule: 1h, min_bad_events: 2}"),
])
def test_a_guard_that_disables_a_tier_says_cannot_fire(config_of, minimal, extra: str, sli: str) -> None:
    """A 1-minute canary or 3 requests per 5 min under min_requests: 10, or an hourly canary that
    must fail twice in an hour: the 1h/5m tier cannot fire, and explain claims no detection time."""
    text = explain(config_of(minimal.replace("alerting:\n", "alerting:\n" + extra)
                             .replace("{kind: availability}", sli)))
    row = _row(text, "page 1h/5m")
    assert row.count("cannot fire") == 2
    assert "note: the page tier 1h/5m cannot fire:" in text
