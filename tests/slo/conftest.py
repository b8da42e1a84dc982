"""Shared helpers for the SLO generator tests: write a file, load it, collect its problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from obskit.errors import SLOProblem, SLOSpecError
from obskit.slo.spec import SLOConfig, load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "slo.yaml"

MINIMAL = """\
service: checkout-api
alerting:
  page:   {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}
  ticket: {sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}
slos:
  - name: availability
    objective: 99.9
    sli: {kind: availability}
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """Write dedented YAML to a file and return its path."""
    counter = iter(range(1000))

    def _write(text: str) -> Path:
        path = tmp_path / f"slo{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def config_of(write: Callable[[str], Path]) -> Callable[[str], SLOConfig]:
    """Load dedented YAML text as an SLO config."""
    return lambda text: load(write(text))


@pytest.fixture
def problems_of(write: Callable[[str], Path]) -> Callable[[str], list[SLOProblem]]:
    """The problems a dedented YAML text produces (fails the test if it loads cleanly)."""

    def _problems(text: str) -> list[SLOProblem]:
        with pytest.raises(SLOSpecError) as info:
            load(write(text))
        return list(info.value.problems)

    return _problems


@pytest.fixture
def minimal() -> str:
    """A small valid SLO file: one availability SLO with page and ticket topics."""
    return MINIMAL


@pytest.fixture
def example() -> Path:
    """The shipped examples/slo.yaml."""
    return EXAMPLE
