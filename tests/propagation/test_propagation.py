"""extract() and inject(): precedence, correlation ids, round trips and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obskit
from obskit.context import activate, current
from obskit.propagation import (
    CompositePropagator,
    W3CBaggagePropagator,
    W3CTraceContextPropagator,
    XRayPropagator,
    asgi_getter,
    build_propagator,
    extract,
    inject,
    mapping_getter,
)

TID = "5759e988bd862e3fe1be46a994272793"
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
W3C_TID = "12345678901234567890123456789012"
W3C_SID = "1234567890123456"
TRACEPARENT = f"00-{W3C_TID}-{W3C_SID}-01"
HEX = set("0123456789abcdef")


def _valid_trace_id(value: str) -> bool:
    return len(value) == 32 and set(value) <= HEX and value != "0" * 32


# --- extract -----------------------------------------------------------------------------------


def test_extract_traceparent_gives_remote_parent() -> None:
    """A valid traceparent gives its trace id, the caller's span id and remote=True."""
    ctx = extract({"traceparent": TRACEPARENT, "tracestate": "foo=1"})
    assert (ctx.trace_id, ctx.span_id, ctx.sampled, ctx.remote, ctx.tracestate) == (
        W3C_TID, W3C_SID, True, True, "foo=1")


def test_extract_nothing_gives_fresh_trace() -> None:
    """Without any trace header a fresh trace starts, with no parent span."""
    ctx = extract({"host": "example.com"})
    assert _valid_trace_id(ctx.trace_id)
    assert (ctx.span_id, ctx.remote, ctx.random_flag) == (None, False, True)


def test_extract_fresh_traces_differ() -> None:
    """Two requests without headers get different trace ids."""
    assert extract({}).trace_id != extract({}).trace_id


def test_traceparent_wins_over_xray() -> None:
    """A valid traceparent takes precedence over X-Amzn-Trace-Id."""
    ctx = extract({"traceparent": TRACEPARENT, "X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT}"})
    assert ctx.trace_id == W3C_TID


def test_invalid_traceparent_falls_back_to_xray() -> None:
    """An invalid traceparent is ignored and X-Amzn-Trace-Id gives the trace."""
    ctx = extract({"traceparent": "00-xyz", "x-amzn-trace-id": f"Root={ROOT};Parent={PARENT};Sampled=1"})
    assert (ctx.trace_id, ctx.span_id, ctx.sampled) == (TID, PARENT, True)
    assert obskit.diagnostics()["propagation.malformed.traceparent"] == 1


def test_tracestate_dropped_when_trace_comes_from_xray() -> None:
    """A tracestate is never kept when traceparent was invalid."""
    ctx = extract({"traceparent": "garbage", "tracestate": "foo=1", "x-amzn-trace-id": f"Root={ROOT}"})
    assert ctx.tracestate is None


def test_tracestate_without_traceparent_is_discarded() -> None:
    """A tracestate alone does not survive (harness: tracestate included, traceparent missing)."""
    assert extract({"tracestate": "foo=1"}).tracestate is None


def test_invalid_tracestate_does_not_affect_traceparent() -> None:
    """A tracestate failure leaves the traceparent's trace in place."""
    ctx = extract({"traceparent": TRACEPARENT, "tracestate": "FOO=1"})
    assert (ctx.trace_id, ctx.tracestate) == (W3C_TID, None)


def test_duplicate_traceparent_restarts_trace() -> None:
    """Two traceparent lines start a new trace (harness test_traceparent_duplicated)."""
    ctx = extract([(b"traceparent", TRACEPARENT.encode()), (b"traceparent", f"00-{TID}-{PARENT}-01".encode())])
    assert ctx.trace_id not in (W3C_TID, TID)
    assert obskit.diagnostics()["propagation.duplicate.traceparent"] == 1


@pytest.mark.parametrize("name", ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"])
def test_traceparent_header_name_any_casing(name: str) -> None:
    """The traceparent header name matches in any casing."""
    assert extract({name: TRACEPARENT}).trace_id == W3C_TID


@pytest.mark.parametrize("name", ["trace-parent", "trace.parent"])
def test_traceparent_wrong_header_name_ignored(name: str) -> None:
    """A header with a similar but wrong name is not read."""
    assert extract({name: TRACEPARENT}).trace_id != W3C_TID


def test_xray_header_wins_over_lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the caller's X-Amzn-Trace-Id wins over _X_AMZN_TRACE_ID."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e989-000000000000000000000002;Parent=0000000000000003")
    assert extract({"x-amzn-trace-id": f"Root={ROOT}"}).trace_id == TID


def test_lambda_env_used_without_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without trace headers the Lambda invocation's trace is used."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    ctx = extract({})
    assert (ctx.trace_id, ctx.span_id, ctx.remote) == (TID, PARENT, True)


def test_lambda_env_lineage_joins_a_header_of_the_same_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the X-Ray header wins, the Lineage and Parent of _X_AMZN_TRACE_ID for the same trace are kept."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1")
    ctx = extract({"x-amzn-trace-id": f"Root={ROOT}"})
    assert (ctx.trace_id, ctx.span_id, ctx.xray_extra) == (TID, PARENT, ";Lineage=a87bd80c:1")


def test_lambda_env_lineage_of_another_trace_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lineage of an _X_AMZN_TRACE_ID for another trace is not attached to the header's trace."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e989-000000000000000000000002;Lineage=a87bd80c:1")
    ctx = extract({"x-amzn-trace-id": f"Root={ROOT}"})
    assert (ctx.trace_id, ctx.xray_extra) == (TID, None)


@pytest.mark.parametrize("value", ["Root=1-00000000-000000000000000000000000;Sampled=1", "Parent=53995c3f42cd8ad8"])
def test_malformed_lambda_env_is_counted_even_when_a_header_wins(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """An _X_AMZN_TRACE_ID without a valid Root is counted though the X-Ray header gives the trace."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", value)
    assert extract({"x-amzn-trace-id": f"Root={ROOT}"}).trace_id == TID
    assert obskit.diagnostics()["propagation.malformed.lambda_env"] == 1


def test_precedence_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure(propagation=...) changes which source wins, on the next extract."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    headers = {"traceparent": TRACEPARENT}
    before = extract(headers).trace_id
    obskit.configure(propagation=["lambda", "tracecontext", "xray"])
    assert (before, extract(headers).trace_id) == (W3C_TID, TID)


def test_propagation_can_exclude_a_format() -> None:
    """A format left out of configure(propagation=...) is not read."""
    obskit.configure(propagation=["tracecontext"])
    assert extract({"x-amzn-trace-id": f"Root={ROOT}"}).trace_id != TID


def test_lineage_kept_when_traceparent_wins_on_same_trace() -> None:
    """With both headers on one trace, the X-Ray Lineage is still passed on."""
    ctx = extract({
        "traceparent": f"00-{TID}-{PARENT}-01",
        "x-amzn-trace-id": f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1",
    })
    assert (ctx.trace_id, ctx.xray_extra) == (TID, ";Lineage=a87bd80c:1")


def test_lineage_not_mixed_into_another_trace() -> None:
    """Lineage from an X-Ray header of a different trace is not attached."""
    ctx = extract({"traceparent": TRACEPARENT, "x-amzn-trace-id": f"Root={ROOT};Lineage=a87bd80c:1"})
    assert ctx.xray_extra is None


def test_xray_sampled_requested_is_undecided() -> None:
    """Sampled=? leaves the decision open (sampled is None)."""
    assert extract({"x-amzn-trace-id": f"Root={ROOT};Parent={PARENT};Sampled=?"}).sampled is None


def test_root_only_xray_has_no_span_id() -> None:
    """A Root-only X-Ray header (ALB, API Gateway) gives the trace with span_id None."""
    ctx = extract({"x-amzn-trace-id": f"Root={ROOT}"})
    assert (ctx.trace_id, ctx.span_id) == (TID, None)


def test_baggage_extracted_with_any_trace_source() -> None:
    """Baggage is read whatever the trace came from, including a fresh trace."""
    ctx = extract({"baggage": "userId=Am%C3%A9lie;p=1"})
    assert dict(ctx.baggage) == {"userId": "Amélie"}
    assert dict(ctx.baggage_properties) == {"userId": "p=1"}
    assert _valid_trace_id(ctx.trace_id)


# --- correlation id ----------------------------------------------------------------------------


def test_correlation_id_from_header() -> None:
    """x-correlation-id is used as the correlation id."""
    assert extract({"X-Correlation-Id": "abc-123"}).correlation_id == "abc-123"


def test_correlation_id_falls_back_to_request_id() -> None:
    """x-request-id is used when x-correlation-id is absent."""
    assert extract({"x-request-id": "req-9"}).correlation_id == "req-9"


def test_correlation_id_prefers_first_configured_header() -> None:
    """The first configured header wins."""
    assert extract({"x-request-id": "req-9", "x-correlation-id": "c-1"}).correlation_id == "c-1"


def test_correlation_id_generated_when_absent() -> None:
    """Without a correlation header one is generated, unique per request."""
    a, b = extract({}).correlation_id, extract({}).correlation_id
    assert a
    assert b
    assert a != b


@pytest.mark.parametrize(
    "carrier", [{}, {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}],
)
def test_correlation_id_argument_is_used_when_no_header_carries_one(carrier: dict[str, str]) -> None:
    """The request's own id (say, API Gateway's) stands in for a missing header, with or without a trace."""
    assert extract(carrier, correlation_id="req-7").correlation_id == "req-7"
    assert extract({**carrier, "x-correlation-id": "c-1"}, correlation_id="req-7").correlation_id == "c-1"


@pytest.mark.parametrize("bad", ["", "a\nb", "é", "x" * 257])
def test_an_unusable_correlation_id_argument_gives_a_new_id(bad: str) -> None:
    cid = extract({}, correlation_id=bad).correlation_id
    assert cid != bad
    assert len(cid) == 32


def test_correlation_headers_configurable() -> None:
    """configure(correlation_headers=...) changes which header is read."""
    obskit.configure(correlation_headers=["x-amzn-requestid"])
    assert extract({"X-Amzn-RequestId": "r-1", "x-correlation-id": "c-1"}).correlation_id == "r-1"


def test_invalid_correlation_id_replaced_and_counted() -> None:
    """A correlation id with control characters is replaced and counted."""
    cid = extract({"x-correlation-id": "a\r\nSet-Cookie: x"}).correlation_id
    assert cid is not None
    assert "\n" not in cid
    assert obskit.diagnostics()["propagation.malformed.correlation_id"] == 1


# --- inject ------------------------------------------------------------------------------------


def test_inject_writes_every_header() -> None:
    """inject writes traceparent, tracestate, X-Ray (with Lineage), baggage and the correlation id."""
    ctx = extract({
        "traceparent": f"00-{TID}-{PARENT}-01",
        "tracestate": "foo=1",
        "x-amzn-trace-id": f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1",
        "baggage": "k=a%20b;p",
        "x-correlation-id": "c-1",
    })
    out = inject(context=ctx)
    span = out["traceparent"].split("-")[2]
    assert out == {
        "traceparent": f"00-{TID}-{span}-01",
        "tracestate": "foo=1",
        "x-amzn-trace-id": f"Root={ROOT};Parent={span};Sampled=1;Lineage=a87bd80c:1",
        "baggage": "k=a%20b;p",
        "x-correlation-id": "c-1",
    }


def test_inject_sends_new_parent_id_for_remote_context() -> None:
    """Injecting a just-extracted context sends a new parent id, never the caller's."""
    ctx = extract({"traceparent": TRACEPARENT})
    out = inject(context=ctx)
    assert out["traceparent"].startswith(f"00-{W3C_TID}-")
    assert out["traceparent"].split("-")[2] != W3C_SID


def test_inject_uses_own_span_id() -> None:
    """A local context with a span id is written with that span id."""
    ctx = extract({"traceparent": TRACEPARENT})._replace(span_id="00000000000000aa", remote=False)
    assert inject(context=ctx)["traceparent"] == f"00-{W3C_TID}-00000000000000aa-01"


def test_inject_defaults_to_current_context() -> None:
    """Without context=, the current context is written."""
    ctx = extract({"traceparent": TRACEPARENT})
    with activate(ctx):
        out = inject()
    assert out["traceparent"].startswith(f"00-{W3C_TID}-")


def test_inject_outside_trace_writes_fresh_trace() -> None:
    """Outside any trace a fresh, valid trace is injected with a correlation id."""
    assert not current().is_valid
    out = inject()
    assert _valid_trace_id(out["traceparent"].split("-")[1])
    assert out["x-correlation-id"]


def test_inject_into_existing_dict_replaces_other_spellings() -> None:
    """Injecting into a dict with X-Amzn-Trace-Id replaces it, leaving one trace header."""
    carrier = {"X-Amzn-Trace-Id": "Root=old", "Accept": "*/*"}
    result = inject(carrier, context=extract({"traceparent": TRACEPARENT}))
    assert result is carrier
    assert "X-Amzn-Trace-Id" not in carrier
    assert carrier["Accept"] == "*/*"


def test_inject_into_asgi_header_list() -> None:
    """A list carrier gets ASGI (bytes, bytes) pairs."""
    headers: list[tuple[bytes, bytes]] = []
    inject(headers, context=extract({"traceparent": TRACEPARENT}))
    names = {name for name, _ in headers}
    assert {b"traceparent", b"x-amzn-trace-id", b"x-correlation-id"} <= names


def test_inject_custom_setter() -> None:
    """A custom setter receives every header."""
    seen: list[tuple[str, str]] = []
    inject(object(), context=extract({}), setter=lambda c, k, v: seen.append((k, v)))
    assert {k for k, _ in seen} == {"traceparent", "x-amzn-trace-id", "x-correlation-id"}


def test_inject_sampled_undecided_writes_question_mark() -> None:
    """An undecided decision is written as Sampled=? for X-Ray and unsampled for W3C."""
    ctx = extract({"x-amzn-trace-id": f"Root={ROOT};Parent={PARENT};Sampled=?"})
    out = inject(context=ctx)
    assert out["x-amzn-trace-id"].endswith(";Sampled=?")
    assert out["traceparent"].endswith("-00")


def test_round_trip_keeps_trace_and_baggage() -> None:
    """extract(inject(ctx)) keeps the trace, sampling, tracestate, baggage and correlation id."""
    ctx = extract({"traceparent": TRACEPARENT, "tracestate": "a=1,b=2", "baggage": "k=v%20w", "x-request-id": "r"})
    back = extract(inject(context=ctx))
    assert (back.trace_id, back.sampled, back.tracestate, dict(back.baggage), back.correlation_id) == (
        W3C_TID, True, "a=1,b=2", {"k": "v w"}, "r")


def test_round_trip_fresh_trace_is_valid_for_xray() -> None:
    """A fresh trace id goes out as a valid X-Ray Root too."""
    out = inject()
    root = out["x-amzn-trace-id"].split(";")[0]
    assert root == f"Root=1-{out['traceparent'][3:11]}-{out['traceparent'][11:35]}"


# --- composite ---------------------------------------------------------------------------------


def test_composite_merges_baggage_and_takes_first_trace() -> None:
    """A hand-built composite takes the first valid trace and merges baggage."""
    comp = CompositePropagator([XRayPropagator(), W3CTraceContextPropagator(), W3CBaggagePropagator()])
    ctx = comp.extract({"traceparent": TRACEPARENT, "x-amzn-trace-id": f"Root={ROOT}", "baggage": "k=v"},
                       mapping_getter)
    assert ctx is not None
    assert (ctx.trace_id, dict(ctx.baggage)) == (TID, {"k": "v"})


def test_composite_returns_none_when_nothing_arrived() -> None:
    """A composite with nothing to read returns None."""
    assert build_propagator().extract({}, mapping_getter) is None


def test_composite_reads_asgi_scope() -> None:
    """The composite reads an ASGI scope through the ASGI getter."""
    scope = {"type": "http", "headers": [(b"traceparent", TRACEPARENT.encode())]}
    ctx = build_propagator().extract(scope, asgi_getter)
    assert ctx is not None
    assert ctx.trace_id == W3C_TID


def test_extract_detects_asgi_scope_and_wsgi_environ() -> None:
    """extract picks the getter from the carrier's shape."""
    scope = {"type": "http", "headers": [(b"traceparent", TRACEPARENT.encode())]}
    environ = {"REQUEST_METHOD": "GET", "HTTP_TRACEPARENT": TRACEPARENT}
    assert extract(scope).trace_id == extract(environ).trace_id == W3C_TID


def test_extract_reads_every_header_of_a_wsgi_environ() -> None:
    """Through the WSGI getter, X-Ray header, baggage and correlation id all arrive in one context."""
    from obskit.propagation import wsgi_getter

    environ = {"REQUEST_METHOD": "GET", "HTTP_X_AMZN_TRACE_ID": f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a:1",
               "HTTP_BAGGAGE": "k=v", "HTTP_X_CORRELATION_ID": "c-7"}
    ctx = extract(environ, wsgi_getter)
    assert (ctx.trace_id, ctx.span_id, ctx.sampled, ctx.xray_extra, dict(ctx.baggage), ctx.correlation_id) == (
        TID, PARENT, True, ";Lineage=a:1", {"k": "v"}, "c-7")


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": TRACEPARENT},
        {"traceparent": TRACEPARENT, "tracestate": "a=1,b=2", "x-request-id": "r-1"},
        {"traceparent": TRACEPARENT, "x-amzn-trace-id": f"Root=1-{W3C_TID[:8]}-{W3C_TID[8:]};Lineage=a:1"},
        {"traceparent": TRACEPARENT, "baggage": "k=v"},
        {"traceparent": "00-garbage", "x-correlation-id": "c-1"},
        {"x-correlation-id": "c-2"},
    ],
)
def test_wsgi_environ_reads_as_the_same_headers_in_a_mapping(headers: dict[str, str]) -> None:
    """A WSGI environ gives the same context as the same headers in a plain mapping."""
    from obskit.propagation import wsgi_getter

    environ = {"REQUEST_METHOD": "GET", **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
    got, want = extract(environ, wsgi_getter), extract(headers, mapping_getter)
    fields = ("span_id", "sampled", "baggage", "tracestate", "xray_extra", "remote", "baggage_properties")
    assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
    if "traceparent" in headers and "garbage" not in headers["traceparent"]:
        assert got.trace_id == want.trace_id
    if any("correlation" in k or "request-id" in k for k in headers):
        assert got.correlation_id == want.correlation_id


def test_wsgi_environ_yields_to_lambda_variable_for_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda, an environ whose X-Amzn-Trace-Id names no parent takes it from _X_AMZN_TRACE_ID."""
    from obskit.propagation import wsgi_getter

    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    ctx = extract({"REQUEST_METHOD": "GET", "HTTP_X_AMZN_TRACE_ID": f"Root={ROOT}"}, wsgi_getter)
    assert (ctx.trace_id, ctx.span_id) == (TID, PARENT)
    assert extract({"REQUEST_METHOD": "GET"}, wsgi_getter).trace_id == TID


def test_extract_fresh_trace_keeps_bound_fields_and_baggage() -> None:
    """Without a trace header the fresh trace keeps the caller's bound fields and the arriving baggage."""
    with obskit.bound(job="nightly"):
        ctx = extract({"baggage": "k=v"})
    assert (ctx.span_id, ctx.remote, ctx.random_flag, dict(ctx.fields), dict(ctx.baggage)) == (
        None, False, True, {"job": "nightly"}, {"k": "v"})


def test_extract_fresh_trace_follows_trace_sample_rate() -> None:
    """A fresh trace started by extract is sampled by configure(trace_sample_rate=...)."""
    obskit.configure(trace_sample_rate=0.0)
    assert extract({}).sampled is False


def test_custom_member_is_asked_even_without_its_headers() -> None:
    """A propagator of the user's own is always asked, even when no header it names arrived."""
    class FromEnv:
        fields: frozenset[str] = frozenset()

        def extract(self, carrier: object, getter: object) -> object:
            return current().__class__(TID, PARENT, True, None, current().baggage, None, current().fields,
                                       None, False, True, current().baggage_properties)

        def inject(self, ctx: object, carrier: object, setter: object) -> None:
            """Nothing to write."""

    comp = CompositePropagator([W3CTraceContextPropagator(), FromEnv()])  # type: ignore[list-item]
    from obskit.propagation._carriers import _bulk_mapping, _prepared_getter

    prepared = _bulk_mapping({"host": "x"}, comp.fields)
    ctx = comp._parts(prepared, _prepared_getter, True)[0]
    assert ctx is not None
    assert ctx.trace_id == TID


def test_correlation_ids_differ_in_a_forked_child() -> None:
    """A forked worker does not repeat the parent's sequence of generated correlation ids."""
    import os

    extract({})  # the runtime exists before the fork: the child takes no lock
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next generated id, then leave at once
        os.write(write_fd, extract({}).correlation_id.encode())
        os._exit(0)
    os.close(write_fd)
    mine = extract({}).correlation_id
    os.waitpid(pid, 0)
    theirs = os.read(read_fd, 64).decode()
    os.close(read_fd)
    assert len(theirs) == 32
    assert theirs != mine


# --- hostile input -----------------------------------------------------------------------------


def test_100kb_values_ignored_and_counted() -> None:
    """100 KB header values are ignored, counted, and a fresh trace starts."""
    big = "a" * 100_000
    ctx = extract({"traceparent": big, "tracestate": big, "x-amzn-trace-id": big, "baggage": big,
                   "x-correlation-id": big})
    assert _valid_trace_id(ctx.trace_id)
    assert obskit.diagnostics()["propagation.oversize_header"] >= 2


def test_nul_bytes_tolerated() -> None:
    """NUL bytes in every header never raise."""
    ctx = extract({"traceparent": TRACEPARENT + "\x00", "x-amzn-trace-id": f"Root={ROOT}\x00;Parent=\x00",
                   "baggage": "k=\x00", "x-correlation-id": "\x00"})
    assert _valid_trace_id(ctx.trace_id)
    assert ctx.correlation_id
    assert "\x00" not in ctx.correlation_id


def test_invalid_utf8_tolerated() -> None:
    """Invalid UTF-8 in ASGI headers never raises."""
    headers = [(b"traceparent", b"\xff\xfe"), (b"baggage", b"k=\xc3"), (b"x-amzn-trace-id", b"Root=\x80")]
    assert _valid_trace_id(extract(headers).trace_id)


def test_thousand_repeated_fields_tolerated() -> None:
    """A thousand repeated header lines and fields never raise and are bounded."""
    headers = [(b"traceparent", TRACEPARENT.encode())] * 1000 + [(b"baggage", b"k=v")] * 1000
    headers += [(b"x-amzn-trace-id", (f"Root={ROOT};" + "F=1;" * 1000).encode())]
    ctx = extract(headers)
    assert ctx.trace_id == TID
    assert len(ctx.xray_extra or "") <= 2048


def test_getter_that_raises_gives_fresh_trace_and_counts() -> None:
    """A broken getter cannot make extract raise: a fresh trace starts and it is counted."""
    def broken(carrier: object, key: str) -> list[str]:
        raise RuntimeError("boom")

    ctx = extract({}, broken)
    assert _valid_trace_id(ctx.trace_id)
    assert obskit.diagnostics()["propagation.error"] == 1


def test_non_string_values_tolerated() -> None:
    """Header values of odd types are ignored rather than raising."""
    ctx = extract({"traceparent": 12, "baggage": None, "x-amzn-trace-id": object(), "tracestate": [1, 2]})
    assert _valid_trace_id(ctx.trace_id)


headers_strategy = st.dictionaries(
    st.sampled_from(["traceparent", "TraceState", "baggage", "X-Amzn-Trace-Id", "x-correlation-id",
                     "x-request-id", "host"]),
    st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "replace")), st.lists(st.text(), max_size=3)),
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(headers_strategy)
def test_extract_arbitrary_headers_always_valid(headers: dict[str, object]) -> None:
    """Arbitrary text in every header always yields a valid 32-hex trace id and a correlation id."""
    ctx = extract(headers)
    assert _valid_trace_id(ctx.trace_id)
    assert ctx.correlation_id


@settings(max_examples=100)
@given(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=80)), max_size=8))
def test_extract_arbitrary_asgi_bytes_always_valid(headers: list[tuple[bytes, bytes]]) -> None:
    """Arbitrary bytes in ASGI headers always yield a valid trace id."""
    assert _valid_trace_id(extract(headers).trace_id)


@settings(max_examples=100)
@given(st.lists(st.tuples(st.sampled_from([b"traceparent", b"x-amzn-trace-id", b"baggage", b"tracestate"]),
                          st.binary(max_size=120)), max_size=6))
def test_inject_after_arbitrary_extract_is_well_formed(headers: list[tuple[bytes, bytes]]) -> None:
    """Whatever arrived, inject writes a traceparent that parses."""
    from obskit.propagation.w3c import parse_traceparent

    out = inject(context=extract(headers))
    assert parse_traceparent(out["traceparent"]) is not None
    assert all(v.isascii() and v.isprintable() for v in out.values())


def test_root_only_header_takes_the_parent_of_the_lambda_variable_for_the_same_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """API Gateway's Root-only header and Lambda's variable of the same trace: the span hangs under Lambda's segment."""
    root = "1-5759e988-bd862e3fe1be46a994272793"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1")
    ctx = obskit.extract({"X-Amzn-Trace-Id": f"Root={root}"})
    assert ctx.xray_trace_id == root
    assert ctx.span_id == "53995c3f42cd8ad8"
    assert ctx.sampled is True
    assert ctx.remote


def test_root_only_header_of_another_trace_keeps_its_own_trace_and_no_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Lambda variable of a different trace lends the header no parent."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-000000000000000000000001;Parent=53995c3f42cd8ad8;Sampled=1")
    ctx = obskit.extract({"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"})
    assert ctx.xray_trace_id == "1-5759e988-bd862e3fe1be46a994272793"
    assert ctx.span_id is None
