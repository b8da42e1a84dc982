"""obskit._logs_render: key classification, hostile values, exceptions as data."""

from __future__ import annotations

import datetime
import enum
import json

import pytest

from obskit import _logs_render as r


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True), ("PASSWORD", True), ("db_password", True), ("password_hash", True),
        ("accessToken", True), ("refresh-token", True), ("X-Api-Key", True), ("apiKey", True),
        ("aws_secret_access_key", True), ("Set-Cookie", True), ("tokens_used", False),
        ("user", False), ("secretary", False), ("keyboard", False),
    ],
)
def test_deny_list_matches_whole_words(key: str, secret: bool) -> None:
    """Deny-list entries match as whole words after camelCase and separator normalisation."""
    assert r.KeyClassifier(r.DEFAULT_REDACT_KEYS, ()).is_secret(key) is secret


def test_classification_is_cached_and_bounded() -> None:
    """Plain keys are remembered for the hot path; the cache empties when full."""
    c = r.KeyClassifier(["token"], ["level"])
    assert (c.classify("a"), c.classify("token"), c.classify("level")) == (r.PLAIN, r.REDACT, r.RESERVED)
    assert c.plain == {"a"}
    for i in range(c.LIMIT):
        c.classify(f"k{i}")
    assert len(c.cache) <= c.LIMIT


class Colour(enum.Enum):
    RED = "red"


def test_json_default_renders_known_types() -> None:
    """Dates, enums, sets, bytes and exceptions become JSON values."""
    assert r.json_default(datetime.date(2024, 1, 2)) == "2024-01-02"
    assert r.json_default(Colour.RED) == "red"
    assert r.json_default(frozenset({1})) == [1]
    assert r.json_default(bytearray(b"\xff")) == "\ufffd"
    assert r.json_default(ValueError("v")) == "ValueError: v"


def test_sanitize_makes_anything_serialisable() -> None:
    """sanitize() output is accepted by the standard json module with strict settings."""
    nested: list[object] = []
    for _ in range(50):
        nested = [nested]
    value = {1: "int key", "big": -(1 << 70), "s": "\udfff", "deep": nested, "obj": object()}
    json.dumps(r.sanitize(value), ensure_ascii=False).encode("utf-8")
    assert r.sanitize(value)["1"] == "int key"


def test_exception_group_members_are_listed() -> None:
    """An ExceptionGroup lists its first members as structured exceptions."""
    group = ExceptionGroup("many", [ValueError("a"), KeyError("b")])
    info = r.exception_info(group)
    assert [e["type"] for e in info["exceptions"]] == ["ValueError", "KeyError"]


def test_shrink_keeps_the_fixed_keys() -> None:
    """An oversized line keeps its first keys and is flagged truncated."""
    d = {"timestamp": "t", "level": "INFO", "message": "m" * 10_000, "blob": ["x" * 100] * 1000}
    line = r.shrink(d, 2048, lambda x: json.dumps(x) + "\n", fixed=3)
    out = json.loads(line)
    assert len(line) <= 2048
    assert (out["timestamp"], out["level"], out["truncated"]) == ("t", "INFO", True)
