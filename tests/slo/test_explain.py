"""``explain``: budgets, thresholds and detection times per SLO."""

from __future__ import annotations

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
    assert page.split() == ["page", "1h/5m", "14.4x", "1.44%", "2%", "in", "1h", "2.1", "d", "52", "s", "43", "min",
                            "<=", "5m"]
    ticket = next(line for line in lines if line.strip().startswith("ticket"))
    assert "3.6 h" in ticket


def test_explain_says_never_when_a_rate_cannot_fire(config_of, minimal) -> None:
    """At 99 % a 2 % error rate stays under the 14.4x threshold: the row says never."""
    text = explain(config_of(minimal.replace("99.9", "99")))
    assert "never" in next(line for line in text.splitlines() if "1h/5m" in line)
