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


def test_example_validates_strictly(example: Path, capsys) -> None:
    """The shipped example has no tier a guard disables."""
    code, out, _ = _validate(example, capsys, "--strict")
    assert code == 0
    assert "warning" not in out
