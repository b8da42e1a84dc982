"""Reading SLO files: the model, the defaults, and every mistake reported with its line."""

from __future__ import annotations

import pytest

from obskit.errors import SLOSpecError
from obskit.slo.spec import load, parse, parse_duration


def test_example_file_loads(example) -> None:
    """The shipped example is valid and keeps the contract's field values."""
    config = load(example)
    assert config.service == "checkout-api"
    assert config.namespace == "Shop"
    assert config.environment == "prod"
    assert config.period_s == 30 * 86_400
    assert [s.name for s in config.slos] == ["availability", "latency", "orders-availability", "uptime",
                                             "payments"]
    assert config.slos[1].sli.threshold_ms == 300
    assert config.slos[2].operation == "GET /orders/{order_id}"
    assert config.slos[3].sli.canary == "checkout-canary"


def test_lines_of_fields_are_remembered(minimal, config_of) -> None:
    """The model knows the line each field came from, for errors found after parsing."""
    config = config_of(minimal)
    assert config.line_of("slos[0].objective") == 7
    assert config.line_of("slos[0].sli.kind") == 8
    assert config.line_of("service") == 1


def test_defaults(minimal, config_of) -> None:
    """Namespace, period and windows default to obskit's namespace, 30 days and the Workbook tiers."""
    config = config_of(minimal)
    assert config.namespace == "obskit"
    assert config.period_s == 30 * 86_400
    assert config.name_prefix == "obskit"
    windows = [(w.severity, w.long_s, w.short_s, w.burn_rate) for w in config.slos[0].alerting.windows]
    assert windows == [("page", 3600, 300, 14.4), ("page", 21600, 1800, 6.0), ("ticket", 86400, 7200, 3.0),
                       ("ticket", 3 * 86400, 21600, 1.0)]


def test_environment_goes_into_the_default_prefix(minimal, config_of) -> None:
    """Two environments of one service in one account get distinct alarm names."""
    assert config_of("environment: prod\n" + minimal).name_prefix == "obskit-prod"


@pytest.mark.parametrize(("period", "shares"), [("28d", [2.142857, 5.357143, 10.714286, 10.714286]),
                                               ("7d", [8.571429, 21.428571, 42.857143, 42.857143])])
def test_burn_rates_stay_at_or_above_1x_for_every_period(minimal, config_of, period: str,
                                                         shares: list[float]) -> None:
    """Other periods keep the burn rates (14.4, 6, 3, 1: never under 1x); the budget shares follow."""
    config = config_of(f"period: {period}\n" + minimal)
    windows = config.slos[0].alerting.windows
    assert [w.burn_rate for w in windows] == [14.4, 6.0, 3.0, 1.0]
    assert [w.budget_percent for w in windows] == shares


@pytest.mark.parametrize("period", ["1d", "2d"])
def test_periods_shorter_than_a_window_cut_it_to_the_period(minimal, config_of, period: str) -> None:
    """On a 2-day SLO the 1x ticket pair watches 2d/4h; on 1 day it replaces the 1d/2h pair at 3x."""
    windows = config_of(f"period: {period}\n" + minimal).slos[0].alerting.windows
    days = int(period[0])
    assert (windows[-1].long_s, windows[-1].short_s, windows[-1].burn_rate) == (days * 86400, days * 7200, 1.0)
    assert min(w.burn_rate for w in windows) == 1.0
    assert len({(w.severity, w.long_s) for w in windows}) == len(windows)


def test_custom_tier_under_1x_is_refused_with_the_fix(minimal, problems_of) -> None:
    """On 7 days, 10 % of the budget in 1d is 0.7x: refused, with the budget_percent that makes it 1x."""
    (problem,) = problems_of("period: 7d\n" + minimal + """\
    alerting:
      windows: [{severity: ticket, long: 1d, short: 2h, budget_percent: 10}]
""")
    assert "0.7x" in problem.message
    assert "budget_percent: 14.286 or more" in (problem.fix or "")


def test_window_with_explicit_burn_rate(minimal, config_of) -> None:
    """A window may give burn_rate instead of budget_percent; the share is derived."""
    config = config_of(minimal + """\
    alerting:
      windows: [{severity: page, long: 1h, short: 5m, burn_rate: 36}]
""")
    (w,) = config.slos[0].alerting.windows
    assert (w.burn_rate, w.budget_percent) == (36.0, 5.0)


def test_slo_alerting_overrides_topics(minimal, config_of) -> None:
    """A per-SLO page topic replaces the file's; the ticket topic is inherited."""
    config = config_of(minimal + """\
    alerting:
      page: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:other"}
""")
    alerting = config.slos[0].alerting
    assert alerting.page == ("arn:aws:sns:eu-west-1:111111111111:other",)
    assert alerting.ticket == ("arn:aws:sns:eu-west-1:111111111111:ticket",)


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h", 3600), ("2d", 172_800), ("1w", 604_800)])
def test_durations_parse(text: str, seconds: int) -> None:
    """Durations are a whole number and one of s, m, h, d, w."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1hour", "0m", "-5m", "1.5h", "h", ""])
def test_bad_durations_do_not_parse(text: str) -> None:
    """Anything else is not a duration."""
    assert parse_duration(text) is None


def test_unknown_key_suggests_the_right_one(minimal, problems_of) -> None:
    """A misspelt key is reported with its line and a did-you-mean."""
    (p,) = problems_of(minimal.replace("service:", "servise: x\nservice:"))
    assert (p.line, p.field, p.message) == (1, "servise", "unknown key")
    assert p.fix == "did you mean 'service'?"


def test_every_mistake_is_reported_at_once(problems_of) -> None:
    """One run lists every problem of the file, each at its own line."""
    problems = problems_of("""\
        service: checkout-api
        perod: 30d
        slos:
          - name: availability
            objective: 100.5
            sli: {kind: availabilty}
          - name: latency
            objective: 99
            sli: {kind: latency, threshold_ms: -3}
          - name: bad window
            objective: 99.9
            sli: {kind: availability}
            alerting:
              windows:
                - {severity: page, long: 1hour, short: 5m, budget_percent: 2}
        """)
    where = [(p.line, p.field) for p in problems]
    assert where == [
        (2, "perod"),
        (5, "slos[0].objective"),
        (6, "slos[0].sli.kind"),
        (9, "slos[1].sli.threshold_ms"),
        (10, "slos[2].name"),
        (15, "slos[2].alerting.windows[0].long"),
    ]
    assert "did you mean 'period'" in str(problems[0])
    assert "did you mean 'availability'" in str(problems[2])


def test_problem_text_has_file_line_field_and_fix(minimal, problems_of) -> None:
    """The message reads FILE:LINE: field: what is wrong; how to fix."""
    (p,) = problems_of(minimal.replace("99.9", "0"))
    text = str(p)
    assert text.endswith("slos[0].objective: 0 is outside (0, 100); a percentage strictly between 0 and 100, e.g. 99.9")
    assert text.split(":")[1] == "7"


def test_yaml_syntax_error_has_position() -> None:
    """A YAML syntax error is an SLOSpecError with the line and column."""
    with pytest.raises(SLOSpecError) as info:
        parse("service: a\nslos: [1, 2\nx: 3\n", "f.yaml")
    (p,) = info.value.problems
    assert p.file == "f.yaml"
    assert p.line == 3
    assert "column" in p.message


def test_unknown_kind(minimal, problems_of) -> None:
    """An unknown SLI kind lists the kinds."""
    (p,) = problems_of(minimal.replace("kind: availability", "kind: errors"))
    assert p.field == "slos[0].sli.kind"
    assert "availability" in (p.fix or "")


def test_key_of_another_kind_says_which(minimal, problems_of) -> None:
    """A key that belongs to another SLI kind says which kind uses it."""
    (p,) = problems_of(minimal.replace("kind: availability", "kind: availability, threshold_ms: 5"))
    assert "belongs to kind latency" in p.message


def test_window_that_cloudwatch_cannot_evaluate(minimal, problems_of) -> None:
    """Windows must be whole minutes and at most 7 days, as CloudWatch alarm periods."""
    problems = problems_of(minimal + """\
    alerting:
      windows:
        - {severity: page, long: 90s, short: 30s, budget_percent: 2}
        - {severity: ticket, long: 8d, short: 1d, budget_percent: 10}
""")
    assert [p.field.rsplit(".", 1)[1] for p in problems] == ["long", "short", "long"]
    assert "7 days" in problems[2].message


def test_short_window_must_be_shorter(minimal, problems_of) -> None:
    """A short window not shorter than the long one is refused."""
    (p,) = problems_of(minimal + """\
    alerting:
      windows: [{severity: page, long: 1h, short: 1h, budget_percent: 2}]
""")
    assert p.field.endswith(".short")


def test_unreachable_tier_is_refused_with_fix(minimal, problems_of) -> None:
    """At 90 % a 14.4x tier needs an error ratio above 100 %, so it is refused with the fix."""
    problems = problems_of(minimal.replace("99.9", "90"))
    assert len(problems) == 1  # only the 1h/5m tier at 14.4x; 6x and 3x can still fire
    (p,) = problems
    assert p.field == "slos[0].objective"
    assert "never reaches it" in p.message
    assert "raise the objective above 93.06%" in (p.fix or "")


def test_duplicate_slo_names(minimal, problems_of) -> None:
    """Two SLOs with one name would share alarm names, so the second is refused."""
    (p,) = problems_of(minimal + """\
  - name: availability
    objective: 99
    sli: {kind: availability}
""")
    assert (p.line, p.field) == (9, "slos[1].name")


def test_bad_topic_arn(minimal, problems_of) -> None:
    """An SNS topic must be an SNS ARN."""
    (p,) = problems_of(minimal.replace('"arn:aws:sns:eu-west-1:111111111111:page"', "my-topic"))
    assert (p.line, p.field) == (3, "alerting.page.sns_topic_arn")


def test_more_than_five_topics(minimal, problems_of) -> None:
    """CloudWatch allows 5 actions per state, so 6 topics are refused."""
    arns = ", ".join(f'"arn:aws:sns:eu-west-1:111111111111:t{i}"' for i in range(6))
    (p,) = problems_of(minimal.replace('"arn:aws:sns:eu-west-1:111111111111:page"', f"[{arns}]"))
    assert "5 actions" in p.message


def test_ratio_needs_bad_or_good(minimal, problems_of) -> None:
    """A ratio SLI needs exactly one of bad and good next to total."""
    (p,) = problems_of(minimal.replace("{kind: availability}", "{kind: ratio, total: {metric: Calls}}"))
    assert "exactly one of bad and good" in p.message


def test_missing_required_fields(minimal, problems_of) -> None:
    """Missing service and objective are both reported."""
    problems = problems_of(minimal.replace("service: checkout-api\n", "").replace("    objective: 99.9\n", ""))
    assert {p.field for p in problems} == {"service", "slos[0].objective"}


def test_period_must_be_whole_days(minimal, problems_of) -> None:
    """An SLO period in hours is refused."""
    (p,) = problems_of("period: 36h\n" + minimal)
    assert p.field == "period"


def test_tagged_values_are_refused(minimal, problems_of) -> None:
    """A YAML tag such as a CloudFormation !Ref is not a value obskit can use."""
    (p,) = problems_of(minimal.replace("service: checkout-api", "service: !Ref Service"))
    assert "tag" in p.message


def test_two_documents_are_refused(minimal, problems_of) -> None:
    """An obskit SLO file holds one document (OpenSLO files may hold several)."""
    (p,) = problems_of(minimal + "---\n" + minimal)
    assert "one YAML document" in p.message
