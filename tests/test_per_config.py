"""_pipeline.PerConfig: a value built once per configuration, rebuilt by configure(), forgotten by reset()."""

from __future__ import annotations

from typing import Any

import obskit
import obskit.testing
from obskit import _pipeline


def test_built_once_per_configuration_and_again_after_configure() -> None:
    built: list[Any] = []
    value = _pipeline.PerConfig(lambda cfg: built.append(cfg.service) or cfg.service)
    obskit.configure(service="a")
    assert (value(), value()) == ("a", "a")
    obskit.configure(service="b")
    assert value() == "b"
    assert built == ["a", "b"]
    obskit.testing.reset()
    obskit.configure(service="b")
    assert value() == "b"
    assert built == ["a", "b", "b"]
