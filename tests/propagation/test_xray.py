"""X-Amzn-Trace-Id parsing (the header shapes the SDKs accept), formatting, and the Lambda variable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import obskit
from obskit.propagation import LambdaEnvPropagator, XRayPropagator, mapping_getter
from obskit.propagation.xray import format_xray, parse_xray

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TID = "5759e988bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"

# (header, trace_id, span_id, sampled, extra)
TABLE = [
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1", TID, PARENT, True, None, id="full"),
    pytest.param(f"Root={ROOT}", TID, None, None, None, id="root-only-alb-apigw"),
    pytest.param(f"Root={ROOT};Sampled=1", TID, None, True, None, id="root-and-sampled"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=?", TID, PARENT, None, None, id="sampled-requested"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=0", TID, PARENT, False, None, id="not-sampled"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=2", TID, PARENT, None, None, id="sampled-unknown"),
    pytest.param(f"Root={ROOT}; Parent={PARENT}; Sampled=1", TID, PARENT, True, None, id="space-after-semicolon"),
    pytest.param(f"Root = {ROOT} ;Parent= {PARENT};Sampled =1", TID, PARENT, True, None, id="spaces-around-equals"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1;", TID, PARENT, True, None, id="trailing-semicolon"),
    pytest.param(f"Root={ROOT};Junk;Parent={PARENT};Sampled=1", TID, PARENT, True, None, id="key-without-equals"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1;Foo=a=b", TID, PARENT, True, ";Foo=a=b",
                 id="value-with-equals"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2", TID, PARENT,
                 True, ";Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2", id="lineage-kept"),
    pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=1:bd4cecd5:0", TID, PARENT, True,
                 ";Lineage=1:bd4cecd5:0", id="lineage-new-shape"),
    pytest.param(f"Self=1-67891233-12456789abcdef012345678;Root={ROOT};CalledFrom=app", TID, None, None,
                 ";CalledFrom=app", id="alb-self-dropped-unknown-kept"),
    pytest.param(f"Sampled=1;Parent={PARENT};Root={ROOT}", TID, PARENT, True, None, id="any-order"),
    pytest.param(f"Root=1-00000000-{'1' * 24};Parent={PARENT}", "00000000" + "1" * 24, PARENT, None, None,
                 id="zero-epoch-accepted"),
    pytest.param("Root=1-65eb7350-000000000000000000000001;Sampled=1", "65eb7350000000000000000000000001", None,
                 True, None, id="sqs-zero-padded"),
    pytest.param(f"Root={ROOT.upper()};Parent={PARENT.upper()}", TID, PARENT, None, None,
                 id="upper-case-hex-lowered"),
    pytest.param(f"Root=1-00000000-bd862e3fe1be46a994272793;Root={ROOT}", TID, None, None, None,
                 id="duplicate-key-last-wins"),
    pytest.param(f"Root={ROOT};Parent=xyz", TID, None, None, None, id="bad-parent-root-kept"),
    pytest.param(f"Root={ROOT};Parent={'0' * 16}", TID, None, None, None, id="zero-parent-root-kept"),
    pytest.param(f"Root={ROOT};Foo=1;Foo=2", TID, None, None, ";Foo=2", id="duplicate-unknown-last-wins"),
]

REJECTED = [
    pytest.param("", id="empty"),
    pytest.param(f"Parent={PARENT};Sampled=1", id="no-root"),
    pytest.param("Root=2-5759e988-bd862e3fe1be46a994272793", id="version-2"),
    pytest.param("Root=1-5759e988-bd862e3fe1be46a99427279", id="root-too-short"),
    pytest.param("Root=1-5759_988-bd862e3fe1be46a994272793", id="underscore-in-hex"),
    pytest.param("Root=1-+759e988-bd862e3fe1be46a994272793", id="plus-in-hex"),
    pytest.param(f"Root=1-00000000-{'0' * 24}", id="all-zero-root"),
    pytest.param(f"root={ROOT}", id="keys-are-case-sensitive"),
    pytest.param("garbage", id="garbage"),
]


@pytest.mark.parametrize(("header", "trace_id", "span_id", "sampled", "extra"), TABLE)
def test_parse_xray_table(header: str, trace_id: str, span_id: str | None, sampled: bool | None,
                          extra: str | None) -> None:
    """Each header shape parses the way the Go and Java SDKs read it."""
    parsed = parse_xray(header)
    assert parsed is not None
    assert parsed[:4] == (trace_id, span_id, sampled, extra)


@pytest.mark.parametrize("header", REJECTED)
def test_parse_xray_rejected(header: str) -> None:
    """A header without a valid Root yields no trace."""
    assert parse_xray(header) is None


def test_parse_xray_counts_skipped_parts() -> None:
    """Malformed parts are skipped and reported in the skipped count."""
    parsed = parse_xray(f"Root={ROOT};Junk;=x;Parent=zz")
    assert parsed is not None
    assert parsed[4] == 3


def test_format_xray_writes_root_parent_sampled_then_extra() -> None:
    """Formatting writes Root, Parent and Sampled, then the kept fields in order."""
    assert format_xray(TID, PARENT, True, ";Lineage=a:1") == f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a:1"
    assert format_xray(TID, None, None) == f"Root={ROOT};Sampled=?"


def test_extra_fields_are_capped() -> None:
    """A thousand unknown fields are not all passed downstream."""
    header = f"Root={ROOT};" + ";".join(f"F{i}=v" for i in range(1000))
    parsed = parse_xray(header)
    assert parsed is not None
    assert parsed[3] is not None
    assert parsed[3].count(";") == 16


def test_extra_fields_past_the_character_budget_are_skipped_and_counted() -> None:
    """A field that would pass the 2048-character budget is skipped (counted); a shorter later one is kept."""
    parsed = parse_xray(f"Root={ROOT};F0=v;Big={'x' * 3000};F1=v")
    assert parsed is not None
    assert (parsed[3], parsed[4]) == (";F0=v;F1=v", 1)


@given(
    st.integers(1, 2**128 - 1),
    st.one_of(st.none(), st.integers(1, 2**64 - 1)),
    st.sampled_from([True, False, None]),
    st.lists(st.tuples(st.from_regex(r"[A-Z][a-zA-Z]{0,8}", fullmatch=True).filter(
        lambda k: k not in ("Root", "Parent", "Sampled", "Self")),
        st.from_regex(r"[a-z0-9:|]{1,12}", fullmatch=True)), max_size=4, unique_by=lambda kv: kv[0]),
)
def test_xray_round_trip(trace: int, span: int | None, sampled: bool | None, extra: list[tuple[str, str]]) -> None:
    """Every formatted header parses back to the same ids, decision and extra fields."""
    tid = f"{trace:032x}"
    sid = None if span is None else f"{span:016x}"
    extra_str = "".join(f";{k}={v}" for k, v in extra) or None
    parsed = parse_xray(format_xray(tid, sid, sampled, extra_str))
    assert parsed is not None
    assert parsed[:4] == (tid, sid, sampled, extra_str)


@given(st.text())
def test_parse_xray_never_raises(value: str) -> None:
    """Arbitrary text gives a result or None, never an exception."""
    parsed = parse_xray(value)
    assert parsed is None or len(parsed[0]) == 32


def test_propagator_header_name_is_case_insensitive() -> None:
    """X-Amzn-Trace-Id is found in any spelling (REST v1 events use mixed case)."""
    ctx = XRayPropagator().extract({"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT}"}, mapping_getter)
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id, ctx.remote) == (TID, PARENT, True)


def test_propagator_root_only_has_no_parent_and_is_not_remote() -> None:
    """A Root-only header gives the trace with no parent span."""
    ctx = XRayPropagator().extract({"x-amzn-trace-id": f"Root={ROOT}"}, mapping_getter)
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id, ctx.remote) == (TID, None, False)


def test_propagator_oversize_value_ignored_and_counted() -> None:
    """A value longer than the limit is ignored and counted."""
    value = f"Root={ROOT};" + "F=" + "x" * 9000
    assert XRayPropagator().extract({"x-amzn-trace-id": value}, mapping_getter) is None
    assert obskit.diagnostics()["propagation.oversize_header"] == 1


def test_propagator_malformed_counted() -> None:
    """A header without a valid Root is counted as malformed."""
    assert XRayPropagator().extract({"x-amzn-trace-id": "nonsense"}, mapping_getter) is None
    assert obskit.diagnostics()["propagation.malformed.x-amzn-trace-id"] == 1


def test_lambda_env_read_at_every_extract(monkeypatch: pytest.MonkeyPatch) -> None:
    """_X_AMZN_TRACE_ID is read at each extract, so a new invocation's value is seen."""
    prop = LambdaEnvPropagator()
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    first = prop.extract({}, mapping_getter)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e989-000000000000000000000002;Parent=0000000000000003")
    second = prop.extract({}, mapping_getter)
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    third = prop.extract({}, mapping_getter)
    assert first is not None
    assert second is not None
    assert (first.trace_id, second.trace_id, third) == (TID, "5759e989000000000000000000000002", None)


def test_lambda_env_keeps_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lineage of the invocation header is kept for re-emission."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1")
    ctx = LambdaEnvPropagator().extract({}, mapping_getter)
    assert ctx is not None
    assert ctx.xray_extra == ";Lineage=a87bd80c:1"


def test_lambda_env_malformed_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed _X_AMZN_TRACE_ID yields nothing and is counted."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "garbage")
    assert LambdaEnvPropagator().extract({}, mapping_getter) is None
    assert obskit.diagnostics()["propagation.malformed.lambda_env"] == 1
