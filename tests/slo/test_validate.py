"""``obskit slo validate``, run in-process: every problem in one pass, warnings and --strict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from obskit.cli import main

LOW_TRAFFIC = """\
service: shop
expected_rps: 0.01
alerting:
  page: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}
  min_requests: 10
slos:
  - name: avail
    objective: 99.9
    sli: {kind: availability}
"""


def _validate(path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = main(["slo", "validate", *flags, str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_guard_that_disables_a_tier_is_a_warning(write: Callable[[str], Path], capsys) -> None:
    """3 requests per 5 min under min_requests: 10: validate warns at the guard's line and still passes."""
    path = write(LOW_TRAFFIC)
    code, out, err = _validate(path, capsys)
    assert code == 0
    assert "1 warning" in out
    assert f"{path}:5: warning: alerting.min_requests: the page tier 1h/5m cannot fire" in err


def test_strict_fails_on_a_warning(write: Callable[[str], Path], capsys) -> None:
    """--strict turns the same warning into exit status 2."""
    code, _, err = _validate(write(LOW_TRAFFIC), capsys, "--strict")
    assert code == 2
    assert "cannot fire" in err


def test_canary_schedule_that_disables_a_tier_is_a_warning(write: Callable[[str], Path], capsys) -> None:
    """A canary every 10 minutes with min_requests: 2 never has 2 runs in a 5m window."""
    path = write(LOW_TRAFFIC.replace("expected_rps: 0.01\n", "").replace("min_requests: 10", "min_requests: 2")
                 .replace("{kind: availability}", "{kind: synthetic, canary: c, schedule: 10m}"))
    code, _, err = _validate(path, capsys, "--strict")
    assert code == 2
    assert "a canary every 10m runs 1 time(s) in the 5m window, fewer than min_requests (2)" in err


def test_example_warns_only_about_its_custom_windows(example: Path, capsys) -> None:
    """The shipped example has no tier a guard disables; its custom payments windows leave 1x-3x uncovered."""
    code, out, err = _validate(example, capsys)
    assert code == 0
    assert "1 warning" in out
    (warning,) = err.splitlines()
    assert "slos[4].alerting.windows: no tier fires below 3x: a burn between 1x and 3x" in warning


def test_custom_windows_without_a_1x_tier_warn(write: Callable[[str], Path], capsys) -> None:
    """Custom windows whose slowest tier is 3x leave burns of 1x-3x (budget gone in 10-30 days) unalerted."""
    path = write(LOW_TRAFFIC.replace("expected_rps: 0.01\n", "").replace("  min_requests: 10\n", "")
                 + "    alerting:\n      windows: [{severity: ticket, long: 1d, short: 2h, burn_rate: 3}]\n")
    code, _, err = _validate(path, capsys, "--strict")
    assert code == 2
    assert "spends the whole budget (in 30.0 d to 10.0 d) without an alert" in err


# --- finding 7: what validate used to let through -------------------------------------------
BASE = "service: shop\nslos:\n  - name: avail\n    objective: 99.9\n    sli: {sli}\n"


def _ratio(stat: str) -> str:
    return f"{{kind: ratio, bad: {{metric: E, stat: {stat}}}, total: {{metric: T}}}}"


@pytest.mark.parametrize("stat", ["Summ", "p101", "PR(300)", "average"])
def test_a_statistic_cloudwatch_rejects_is_refused(problems_of, stat: str) -> None:
    """`stat: Summ` (and other misspelt statistics) is refused at its line, with the valid ones."""
    (problem,) = problems_of(BASE.format(sli=_ratio(stat)))
    assert problem.message == f"{stat!r} is not a CloudWatch statistic"
    assert problem.line == 5


@pytest.mark.parametrize("stat", ["Sum", "SampleCount", "p99", "p99.9", "tm90", "IQM", "PR(:300)", "TM(10%:90%)",
                                  "TC(0.5:)", "wm99"])
def test_valid_statistics_pass(config_of, stat: str) -> None:
    """CloudWatch's plain, percentile and range statistics are accepted."""
    config = config_of(BASE.format(sli=_ratio(stat)))
    assert config.slos[0].sli.bad.stat == stat


@pytest.mark.parametrize(("value", "rendered"), [("0.0000001", "0"), ("300.1234567", "300.123457")])
def test_a_threshold_the_alarm_cannot_hold_is_refused(problems_of, value: str, rendered: str) -> None:
    """threshold_ms: 0.0000001 would render PR(:0) (every request slow, paging forever): refused."""
    (problem,) = problems_of(BASE.format(sli=f"{{kind: latency, threshold_ms: {value}}}"))
    assert f"becomes PR(:{rendered})" in problem.message


def test_name_length_errors_come_with_the_parse_errors(problems_of) -> None:
    """A too-long alarm name is reported in the same pass as an unrelated mistake."""
    problems = problems_of("service: " + "s" * 250 + "\nslos:\n  - name: avail\n    objective: 120\n"
                           "    sli: {kind: availability}\n")
    messages = [p.message for p in problems]
    assert any("outside (0, 100)" in m for m in messages)
    assert any("CloudWatch allows 255" in m for m in messages)


def test_an_oversized_input_is_refused_quickly(tmp_path: Path) -> None:
    """Over 1 MiB (or /dev/zero) is refused with a clear message, reading at most 1 MiB."""
    from obskit.errors import SLOSpecError
    from obskit.slo.spec import load

    big = tmp_path / "big.yaml"
    big.write_text("service: shop\n" + "# padding\n" * 120_000, encoding="utf-8")
    for path in (big, Path("/dev/zero")):
        with pytest.raises(SLOSpecError) as info:
            load(path)
        (problem,) = info.value.problems
        assert "larger than 1024 KiB" in problem.message
        assert "split the SLOs" in (problem.fix or "")


def test_yaml_merge_keys_get_a_clear_message(problems_of) -> None:
    """`<<: *defaults` is refused as a merge key, with the alternative, not as an unknown key."""
    problems = problems_of("service: shop\nslos:\n  - <<: {objective: 99.9}\n    name: avail\n"
                           "    sli: {kind: availability}\n")
    merge = [p for p in problems if "merge" in p.message]
    assert [(p.line, p.message) for p in merge] == [(3, "YAML merge keys (<<) are not supported")]
