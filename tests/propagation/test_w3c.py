"""W3C traceparent, tracestate and baggage: the official cases as parser-level tables, and round trips.

The traceparent and tracestate tables are our own transcription of the cases in the W3C
``trace-context`` harness (``test/test.py``), at the parser level: "restart" means the parser
rejects the value, "inherit" means it keeps the trace id. The baggage cases follow the W3C
``baggage`` harness (``test/test_baggage.py``).
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit.propagation.w3c import (
    format_baggage,
    format_traceparent,
    format_tracestate,
    parse_baggage,
    parse_traceparent,
    parse_tracestate,
    tracestate_members,
)

TID = "12345678901234567890123456789012"
SID = "1234567890123456"
VALID = f"00-{TID}-{SID}-01"

# --- traceparent: official cases -------------------------------------------------------------

ACCEPTED = [
    pytest.param(VALID, id="version-00"),
    pytest.param(f"cc-{TID}-{SID}-01", id="future-version"),
    pytest.param(f"cc-{TID}-{SID}-01-what-the-future-will-be-like", id="future-version-with-tail"),
    pytest.param(f" {VALID}", id="leading-space"),
    pytest.param(f"\t{VALID}", id="leading-tab"),
    pytest.param(f"{VALID} ", id="trailing-space"),
    pytest.param(f"{VALID}\t", id="trailing-tab"),
    pytest.param(f"\t {VALID} \t", id="ows-both-sides"),
    pytest.param(f"00-{TID}-{SID}-00", id="not-sampled"),
]

REJECTED = [
    pytest.param(f"{VALID}.", id="version-00-trailing-char"),
    pytest.param(f"{VALID}-what-the-future-will-be-like", id="version-00-trailing-data"),
    pytest.param(f"cc-{TID}-{SID}-01.what-the-future-will-be-like", id="future-version-bad-separator"),
    pytest.param(f"ff-{TID}-{SID}-01", id="version-ff"),
    pytest.param(f".0-{TID}-{SID}-01", id="version-illegal-char-1"),
    pytest.param(f"0.-{TID}-{SID}-01", id="version-illegal-char-2"),
    pytest.param(f"000-{TID}-{SID}-01", id="version-too-long-3"),
    pytest.param(f"0000-{TID}-{SID}-01", id="version-too-long-4"),
    pytest.param(f"0-{TID}-{SID}-01", id="version-too-short"),
    pytest.param(f"00-{'0' * 32}-{SID}-01", id="trace-id-all-zero"),
    pytest.param(f"00-.{TID[1:]}-{SID}-01", id="trace-id-illegal-first"),
    pytest.param(f"00-{TID[:-1]}.-{SID}-01", id="trace-id-illegal-last"),
    pytest.param(f"00-{TID}3-{SID}-01", id="trace-id-too-long"),
    pytest.param(f"00-{TID[:-1]}-{SID}-01", id="trace-id-too-short"),
    pytest.param(f"00-{TID}-{'0' * 16}-01", id="parent-id-all-zero"),
    pytest.param(f"00-{TID}-.{SID[1:]}-01", id="parent-id-illegal-first"),
    pytest.param(f"00-{TID}-{SID[:-1]}.-01", id="parent-id-illegal-last"),
    pytest.param(f"00-{TID}-{SID}7-01", id="parent-id-too-long"),
    pytest.param(f"00-{TID}-{SID[:-1]}-01", id="parent-id-too-short"),
    pytest.param(f"00-{TID}-{SID}-.0", id="flags-illegal-first"),
    pytest.param(f"00-{TID}-{SID}-0.", id="flags-illegal-last"),
    pytest.param(f"00-{TID}-{SID}-001", id="flags-too-long"),
    pytest.param(f"00-{TID}-{SID}-1", id="flags-too-short"),
    pytest.param(f"00-{TID.upper().replace('1', 'A')}-{SID}-01", id="trace-id-upper-case"),
    pytest.param(f"00-{TID}-ABCDEF7890123456-01", id="parent-id-upper-case"),
    pytest.param(f"cc-{TID}-{SID}", id="future-version-too-short"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_traceparent_accepted(value: str) -> None:
    """A value the W3C harness expects a vendor to inherit keeps its trace and parent ids."""
    assert parse_traceparent(value) == (TID, SID, int(value.strip()[53:55], 16))


@pytest.mark.parametrize("value", REJECTED)
def test_traceparent_rejected(value: str) -> None:
    """A value the W3C harness expects a vendor to restart on is rejected."""
    assert parse_traceparent(value) is None


def test_traceparent_flags_keep_random_bit() -> None:
    """The Level 2 random-trace-id flag (0x02) comes through in the flags."""
    assert parse_traceparent(f"00-{TID}-{SID}-03") == (TID, SID, 3)


def test_format_traceparent_writes_version_00_and_flags() -> None:
    """Formatting writes version 00 with the sampled and random bits."""
    assert format_traceparent(TID, SID, True, True) == f"00-{TID}-{SID}-03"
    assert format_traceparent(TID, SID, None) == f"00-{TID}-{SID}-00"


@given(
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.booleans(),
    st.booleans(),
)
def test_traceparent_round_trip(trace: int, span: int, sampled: bool, random_flag: bool) -> None:
    """Every formatted traceparent parses back to the same ids and flags."""
    tid, sid = f"{trace:032x}", f"{span:016x}"
    parsed = parse_traceparent(format_traceparent(tid, sid, sampled, random_flag))
    assert parsed == (tid, sid, int(sampled) | (2 * int(random_flag)))


@given(st.text())
def test_traceparent_parser_never_raises_on_text(value: str) -> None:
    """Arbitrary text gives a result or None, never an exception."""
    result = parse_traceparent(value)
    assert result is None or len(result[0]) == 32


# --- tracestate: official cases ----------------------------------------------------------------

KEY_WITHOUT_VENDOR = string.ascii_lowercase + string.digits + "_-*/"
KEY_WITH_VENDOR = KEY_WITHOUT_VENDOR + "@a-z0-9_-*/"
ALL_VALUE_CHARS = "".join(chr(c) for c in [*range(0x20, 0x2C), *range(0x2D, 0x3D), *range(0x3E, 0x7F)])
LINES_32 = [
    ",".join(f"bar{i:02d}={i:02d}" for i in range(1, 11)),
    ",".join(f"bar{i:02d}={i:02d}" for i in range(11, 21)),
    ",".join(f"bar{i:02d}={i:02d}" for i in range(21, 31)),
    "bar31=31,bar32=32",
]

TRACESTATE_KEPT = [
    pytest.param(["foo=1,bar=2"], [("foo", "1"), ("bar", "2")], id="inherited"),
    pytest.param(["foo=1", ""], [("foo", "1")], id="empty-line-after"),
    pytest.param(["", "foo=1"], [("foo", "1")], id="empty-line-before"),
    pytest.param(
        ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"],
        [("foo", "1"), ("bar", "2"), ("rojo", "1"), ("congo", "2"), ("baz", "3")],
        id="several-lines-joined-in-order",
    ),
    pytest.param([f"{KEY_WITHOUT_VENDOR}={ALL_VALUE_CHARS}"], [(KEY_WITHOUT_VENDOR, ALL_VALUE_CHARS.rstrip())],
                 id="all-allowed-characters"),
    pytest.param([f"{KEY_WITH_VENDOR}={ALL_VALUE_CHARS}"], [(KEY_WITH_VENDOR, ALL_VALUE_CHARS.rstrip())],
                 id="all-allowed-characters-vendor-key"),
    pytest.param(["foo=1 \t , \t bar=2, \t baz=3"], [("foo", "1"), ("bar", "2"), ("baz", "3")], id="ows-1"),
    pytest.param(["foo=1\t \t,\t \tbar=2,\t \tbaz=3"], [("foo", "1"), ("bar", "2"), ("baz", "3")], id="ows-2"),
    pytest.param([" foo=1"], [("foo", "1")], id="ows-leading-space"),
    pytest.param(["\tfoo=1"], [("foo", "1")], id="ows-leading-tab"),
    pytest.param(["foo=1 "], [("foo", "1")], id="ows-trailing-space"),
    pytest.param(["foo=1\t"], [("foo", "1")], id="ows-trailing-tab"),
    pytest.param(["\t foo=1 \t"], [("foo", "1")], id="ows-both"),
    pytest.param(LINES_32, [(f"bar{i:02d}", f"{i:02d}") for i in range(1, 33)], id="32-members"),
    pytest.param(["foo=1", "z" * 256 + "=1"], [("foo", "1"), ("z" * 256, "1")], id="key-256-chars"),
    # Level 2 key grammar: "@" is an ordinary key character after the first one.
    pytest.param(["foo=1", "t" * 241 + "@" + "v" * 14 + "=1"], [("foo", "1"), ("t" * 241 + "@" + "v" * 14, "1")],
                 id="level2-tenant-241-vendor-14"),
    pytest.param(["foo=1", "t@" + "v" * 15 + "=1"], [("foo", "1"), ("t@" + "v" * 15, "1")],
                 id="level2-vendor-15"),
    pytest.param(["foo@=1,bar=2"], [("foo@", "1"), ("bar", "2")], id="level2-trailing-at"),
    pytest.param(["foo@bar@baz=1,bar=2"], [("foo@bar@baz", "1"), ("bar", "2")], id="level2-two-ats"),
    pytest.param(["1foo=1"], [("1foo", "1")], id="level2-leading-digit"),
    pytest.param(["foo= 1"], [("foo", " 1")], id="leading-space-in-value-kept"),
    # Level 2 harness: duplicates are passed on, the left-most (most recent) kept.
    pytest.param(["foo=1,foo=2"], [("foo", "1")], id="duplicate-key-first-kept"),
    pytest.param(["foo=1", "foo=2"], [("foo", "1")], id="duplicate-key-across-lines"),
]

TRACESTATE_DISCARDED = [
    pytest.param([""], id="empty"),
    pytest.param(["foo =1"], id="space-in-key"),
    pytest.param(["FOO=1"], id="upper-case-key"),
    pytest.param(["foo.bar=1"], id="dot-in-key"),
    pytest.param(["@foo=1,bar=2"], id="key-starts-with-at"),
    pytest.param([*LINES_32[:3], "bar31=31,bar32=32,bar33=33"], id="33-members"),
    pytest.param(["foo=1", "z" * 257 + "=1"], id="key-257-chars"),
    pytest.param(["foo=bar=baz"], id="equals-in-value"),
    pytest.param(["foo=,bar=3"], id="empty-value"),
    pytest.param(["foo=1,bar"], id="member-without-equals"),
    pytest.param(["foo=" + "v" * 257], id="value-257-chars"),
    pytest.param(["foo=\x00"], id="nul-in-value"),
    pytest.param(["foo=é"], id="non-ascii-value"),
]


@pytest.mark.parametrize(("lines", "members"), TRACESTATE_KEPT)
def test_tracestate_kept(lines: list[str], members: list[tuple[str, str]]) -> None:
    """A tracestate the W3C harness expects to be inherited is kept, normalised, in order."""
    assert tracestate_members(parse_tracestate(lines)) == members


@pytest.mark.parametrize("lines", TRACESTATE_DISCARDED)
def test_tracestate_discarded(lines: list[str]) -> None:
    """A tracestate with any invalid member (or too many) is discarded whole."""
    assert parse_tracestate(lines) is None


ts_key = st.from_regex(r"[a-z0-9][a-z0-9_\-*/@]{0,20}", fullmatch=True)
ts_value = st.from_regex(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,20}[\x21-\x2b\x2d-\x3c\x3e-\x7e]", fullmatch=True)


@given(st.dictionaries(ts_key, ts_value, min_size=1, max_size=32))
def test_tracestate_round_trip(members: dict[str, str]) -> None:
    """Any valid list of up to 32 members survives format and parse unchanged."""
    pairs = list(members.items())
    assert tracestate_members(parse_tracestate([format_tracestate(pairs)])) == pairs


@given(st.lists(st.text(), max_size=4))
def test_tracestate_parser_never_raises(lines: list[str]) -> None:
    """Arbitrary lines give a string or None, never an exception."""
    result = parse_tracestate(lines)
    assert result is None or isinstance(result, str)


# --- baggage -----------------------------------------------------------------------------------

HARNESS_VALUE = "\t \"';=asdf!@#$%^&*()"
HARNESS_ENCODED = "%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29"


def test_baggage_percent_encoding_matches_harness() -> None:
    """The W3C baggage harness's value encodes exactly as the harness expects."""
    header, dropped = format_baggage({"key": HARNESS_VALUE})
    assert (header, dropped) == (f"key={HARNESS_ENCODED}", 0)


def test_baggage_percent_decoding_matches_harness() -> None:
    """The harness's encoded value decodes back to the original text."""
    assert parse_baggage([f"key={HARNESS_ENCODED}"])[0] == {"key": HARNESS_VALUE}


def test_baggage_space_is_percent_20_and_plus_is_literal() -> None:
    """A space is written %20 (never +), and a received + stays a plus sign."""
    assert format_baggage({"serverNode": "DF 28"})[0] == "serverNode=DF%2028"
    assert parse_baggage(["k=a+b"])[0] == {"k": "a+b"}


def test_baggage_spec_example() -> None:
    """The spec's example decodes UTF-8 percent-escapes."""
    assert parse_baggage(["userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false"])[0] == {
        "userId": "Amélie", "serverNode": "DF 28", "isProduction": "false",
    }


def test_baggage_invalid_utf8_becomes_replacement_character() -> None:
    """An invalid UTF-8 escape decodes to U+FFFD instead of failing."""
    assert parse_baggage(["k=%FF"])[0] == {"k": "\ufffd"}


def test_baggage_properties_kept_apart_from_values() -> None:
    """Properties are kept separately and the value is only the value."""
    baggage, props, invalid, dropped = parse_baggage(["key1=value1;property1;p2 = v2, key2 = value2"])
    assert baggage == {"key1": "value1", "key2": "value2"}
    assert props == {"key1": "property1;p2=v2"}
    assert (invalid, dropped) == (0, 0)


def test_baggage_properties_are_re_emitted() -> None:
    """Formatting writes properties back after the encoded value."""
    assert format_baggage({"k": "a b"}, {"k": "p1;p2=v"})[0] == "k=a%20b;p1;p2=v"


def test_baggage_ows_around_members_and_equals() -> None:
    """OWS around members and around '=' is allowed and removed."""
    assert parse_baggage(["  a = 1 ,\tb=2\t"])[0] == {"a": "1", "b": "2"}


def test_baggage_invalid_member_dropped_alone() -> None:
    """A member with an invalid key or value is dropped and the others kept."""
    baggage, _, invalid, _ = parse_baggage(['good=1,bad key=2,q="x",also=3,noequals'])
    assert baggage == {"good": "1", "also": "3"}
    assert invalid == 3


def test_baggage_64_members_all_kept() -> None:
    """64 members (the spec's minimum) are all kept (harness LimitsTest)."""
    header = ",".join(f"key{i}=value{i}" for i in range(64))
    baggage, _, _, dropped = parse_baggage([header])
    assert len(baggage) == 64
    assert dropped == 0


def test_baggage_8192_bytes_all_kept() -> None:
    """A header of exactly 8192 bytes is kept whole (harness LimitsTest)."""
    header = ",".join(f"k{i:03d}=" + "v" * 118 for i in range(64))
    header = header + "," + "z=" + "v" * (8192 - len(header) - 3)
    assert len(header) == 8192
    baggage, _, _, dropped = parse_baggage([header])
    assert len(baggage) == 65
    assert dropped == 0


def test_baggage_beyond_bytes_drops_whole_members() -> None:
    """Members past 8192 bytes are dropped whole, never cut."""
    header = ",".join(f"k{i:03d}=" + "v" * 200 for i in range(60))
    baggage, _, _, dropped = parse_baggage([header])
    assert dropped == 60 - len(baggage) > 0
    assert all(v == "v" * 200 for v in baggage.values())


def test_baggage_beyond_member_limit_drops_members() -> None:
    """Members past the member limit are dropped whole and counted."""
    header = ",".join(f"k{i}=v" for i in range(200))
    baggage, _, _, dropped = parse_baggage([header], max_members=180)
    assert (len(baggage), dropped) == (180, 20)


def test_a_simple_line_past_the_member_limit_keeps_its_first_members() -> None:
    """A plain ``k=v,k=v`` line with more members than the limit keeps the first ones, counts the rest."""
    baggage, props, invalid, dropped = parse_baggage([",".join(f"k{i}=v{i}" for i in range(10))], max_members=3)
    assert baggage == {"k0": "v0", "k1": "v1", "k2": "v2"}
    assert (props, invalid, dropped) == ({}, 0, 7)


def test_a_repeated_key_keeps_the_properties_of_its_last_value_only() -> None:
    """The last value of a repeated key wins, and the earlier value's properties go with it."""
    assert parse_baggage(["a=1;p=x,a=2"]) == ({"a": "2"}, {}, 0, 0)
    assert parse_baggage(["a=1,a=2;p=x"]) == ({"a": "2"}, {"a": "p=x"}, 0, 0)


def test_format_baggage_respects_byte_limit() -> None:
    """Formatting leaves out whole members that would pass the byte budget."""
    header, dropped = format_baggage({f"k{i}": "v" * 100 for i in range(100)}, max_bytes=1000)
    assert len(header) <= 1000
    assert dropped > 0
    assert all(m.endswith("v" * 100) for m in header.split(","))


def test_format_baggage_skips_key_that_is_not_a_token() -> None:
    """A key with a space cannot go on the wire; it is left out and counted."""
    assert format_baggage({"bad key": "1", "ok": "2"}) == ("ok=2", 1)


bag_key = st.text(alphabet="!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits, min_size=1, max_size=12)


@given(st.dictionaries(bag_key, st.text(max_size=20), max_size=20))
def test_baggage_round_trip(baggage: dict[str, str]) -> None:
    """Any baggage of token keys and text values survives format and parse (modulo lone surrogates)."""
    safe = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in baggage.items()}
    header, dropped = format_baggage(safe)
    assert dropped == 0
    parsed = parse_baggage([header])[0] if header else {}
    assert parsed == safe


@given(st.lists(st.text(), max_size=4))
def test_baggage_parser_never_raises(lines: list[str]) -> None:
    """Arbitrary lines give dicts of strings, never an exception."""
    baggage, props, invalid, dropped = parse_baggage(lines)
    assert all(isinstance(v, str) for v in baggage.values())
    assert invalid >= 0
    assert dropped >= 0
    assert isinstance(props, dict)
