"""obskit.logs: the line contract, levels, context, buffering, sampling, redaction, bad input."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import obskit
from obskit import logs
from obskit._context import SCOPE, RequestScope, make_context
from obskit.errors import ConfigError
from obskit.testing import FixedClock, SequentialIdGenerator, capture

TRACE_ID = "5759e988bd862e3fe1be46a994272793"
SPAN_ID = "53995c3f42cd8ad8"
ORDER = ["timestamp", "level", "message", "logger", "service", "trace_id", "span_id",
         "xray_trace_id", "correlation_id"]


def _ctx(**kw: Any) -> Any:
    return make_context(kw.pop("trace_id", TRACE_ID), kw.pop("span_id", SPAN_ID), True, **kw)


@contextmanager
def _scope(**kw: Any) -> Iterator[RequestScope]:
    scope = RequestScope(**kw)
    token = SCOPE.set(scope)
    try:
        yield scope
    finally:
        SCOPE.reset(token)


def _stdout_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --- the line contract ---------------------------------------------------------------------------
def test_logger_works_before_configure(capsys: pytest.CaptureFixture[str]) -> None:
    """A module-level logger writes a JSON line to stdout with no configure() call."""
    log = obskit.get_logger("early")
    log.info("hello", n=1)
    [line] = _stdout_lines(capsys)
    assert line["message"] == "hello"
    assert line["logger"] == "early"
    assert line["n"] == 1
    assert line["level"] == "INFO"


def test_default_logger_name_is_calling_module() -> None:
    """get_logger() without a name uses the caller's module name."""
    assert obskit.get_logger().name == __name__


def test_key_order_inside_a_trace() -> None:
    """Keys come in the contract's order, then bound fields, logger fields, call keywords."""
    with capture(service="svc") as cap, obskit.activate(_ctx(correlation_id="c-1")), obskit.bound(b=1):
        obskit.get_logger("x", l=2).info("m", k=3)
    [line] = cap.logs
    assert list(line) == [*ORDER, "b", "l", "k"]
    assert line["service"] == "svc"


def test_ids_match_the_active_context() -> None:
    """trace_id, span_id, X-Ray id and correlation id come from obskit.current()."""
    with capture() as cap, obskit.activate(_ctx(correlation_id="corr")):
        obskit.get_logger("x").info("m")
    line = cap.logs[0]
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == SPAN_ID
    assert line["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert line["correlation_id"] == "corr"


def test_ids_of_a_new_trace_from_the_configured_generator() -> None:
    """A trace started with new_trace() puts its generated id on the line, in both formats."""
    with capture(id_generator=SequentialIdGenerator()) as cap:
        ctx = obskit.new_trace()
        with obskit.activate(ctx):
            obskit.get_logger("x").info("m")
    assert cap.logs[0]["trace_id"] == ctx.trace_id
    assert cap.logs[0]["xray_trace_id"] == ctx.xray_trace_id
    assert "span_id" not in cap.logs[0]


def test_no_ids_outside_a_trace() -> None:
    """Outside any trace the line carries no id keys at all."""
    with capture() as cap:
        obskit.get_logger("x").info("m")
    assert not {"trace_id", "span_id", "xray_trace_id", "correlation_id"} & set(cap.logs[0])


def test_timestamp_is_rfc3339_utc_milliseconds_from_the_clock() -> None:
    """The timestamp comes from the configured clock, in UTC with milliseconds and Z."""
    clock = FixedClock(1_700_000_000_123_456_789)
    with capture(clock=clock) as cap:
        log = obskit.get_logger("x")
        log.info("a")
        clock.advance(ms=1)
        log.info("b")
        clock.advance(seconds=61)
        log.info("c")
    assert [line["timestamp"] for line in cap.logs] == [
        "2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.124Z", "2023-11-14T22:14:21.124Z",
    ]


def test_none_values_are_left_out() -> None:
    """A keyword or bound field whose value is None does not appear."""
    with capture() as cap, obskit.bound(gone=1):
        obskit.get_logger("x").info("m", gone=None, empty=None, kept=0)
    assert "gone" not in cap.logs[0]
    assert "empty" not in cap.logs[0]
    assert cap.logs[0]["kept"] == 0


def test_environment_written_when_configured() -> None:
    """configure(environment=...) adds an environment field after the ids."""
    with capture(environment="prod") as cap, obskit.activate(_ctx()):
        obskit.get_logger("x").info("m", k=1)
    assert list(cap.logs[0])[-2:] == ["environment", "k"]
    assert cap.logs[0]["environment"] == "prod"


def test_user_field_cannot_overwrite_a_line_field() -> None:
    """A keyword named like a line field is written with a trailing underscore."""
    with capture() as cap, obskit.activate(_ctx()):
        obskit.get_logger("x").info("m", level=3, trace_id="forged")
    line = cap.logs[0]
    assert (line["level"], line["level_"]) == ("INFO", 3)
    assert (line["trace_id"], line["trace_id_"]) == (TRACE_ID, "forged")


def test_bound_fields_are_scoped() -> None:
    """Fields bound with obskit.bound appear inside the block only."""
    log = obskit.get_logger("x")
    with capture() as cap:
        with obskit.bound(order_id=7):
            log.info("in")
        log.info("out")
    assert cap.logs[0]["order_id"] == 7
    assert "order_id" not in cap.logs[1]


def test_bind_new_unbind_return_new_loggers() -> None:
    """bind/new/unbind never change the logger they are called on."""
    base = obskit.get_logger("x", a=1)
    bound = base.bind(b=2)
    with capture() as cap:
        base.info("base")
        bound.info("bound")
        bound.unbind("a", "missing").info("unbound")
        bound.new(c=3).info("new")
    assert [{k: v for k, v in line.items() if k in "abc"} for line in cap.logs] == [
        {"a": 1}, {"a": 1, "b": 2}, {"b": 2}, {"c": 3},
    ]


def test_call_keyword_wins_over_logger_field() -> None:
    """A call keyword replaces the logger's bound field of the same name, in place."""
    with capture() as cap:
        obskit.get_logger("x", k="bound").info("m", k="call")
    assert cap.logs[0]["k"] == "call"


def test_positional_arguments_are_interpolated() -> None:
    """log.info("a %s", x) formats like logging; a bad pattern does not raise."""
    with capture() as cap:
        log = obskit.get_logger("x")
        log.info("user %s has %d", "ann", 3)
        log.info("bad %d", "text")
    assert cap.logs[0]["message"] == "user ann has 3"
    assert cap.logs[1]["message"].startswith("bad %d")
    assert obskit.diagnostics()["logs.bad_format"] == 1


# --- levels --------------------------------------------------------------------------------------
def test_level_filters_lines() -> None:
    """Below the configured level nothing is written; at or above, the line is."""
    with capture(log_level="WARNING") as cap:
        log = obskit.get_logger("x")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
    assert [line["level"] for line in cap.logs] == ["WARNING", "ERROR", "CRITICAL"]


def test_debug_level_writes_debug() -> None:
    """log_level=DEBUG writes debug lines."""
    with capture(log_level="DEBUG") as cap:
        obskit.get_logger("x").debug("d")
    assert cap.logs[0]["level"] == "DEBUG"


def test_aliases_and_log_method() -> None:
    """warn/fatal/msg and log(level, ...) map onto the standard levels."""
    with capture() as cap:
        log = obskit.get_logger("x")
        log.warn("w")
        log.fatal("f")
        log.msg("m")
        log.log(40, "n")
        log.log("warning", "s")
        log.log(10, "dropped")
    assert [line["level"] for line in cap.logs] == ["WARNING", "CRITICAL", "INFO", "ERROR", "WARNING"]


def test_is_enabled_for_follows_configuration() -> None:
    """is_enabled_for and get_effective_level reflect the live log level."""
    log = obskit.get_logger("x")
    obskit.configure(log_level="ERROR", traces="none", metrics="none", logs_bridge="none")
    assert (log.is_enabled_for(30), log.is_enabled_for(40), log.get_effective_level()) == (False, True, 40)


def test_async_methods_log() -> None:
    """The a* methods write the same line as their sync forms."""
    with capture() as cap:
        asyncio.run(obskit.get_logger("x").ainfo("async", k=1))
    assert (cap.logs[0]["message"], cap.logs[0]["k"]) == ("async", 1)


def test_logs_none_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """configure(logs="none") turns every line off."""
    obskit.configure(logs="none", traces="none", metrics="none")
    obskit.get_logger("x").error("e")
    assert capsys.readouterr().out == ""


def test_logger_follows_the_end_of_a_capture(capsys: pytest.CaptureFixture[str]) -> None:
    """After capture() ends without a prior configuration, lines go to stdout again."""
    log = obskit.get_logger("x")
    with capture() as cap:
        log.info("captured")
    log.info("printed")
    assert [line["message"] for line in cap.logs] == ["captured"]
    assert [line["message"] for line in _stdout_lines(capsys)] == ["printed"]


# --- exceptions ----------------------------------------------------------------------------------
def _raise_chained() -> None:
    try:
        {}["key"]
    except KeyError as exc:
        raise ValueError("bad value") from exc


def test_exception_is_structured() -> None:
    """log.exception() writes type, message, frames and the chained cause."""
    with capture() as cap:
        try:
            _raise_chained()
        except ValueError:
            obskit.get_logger("x").exception("failed")
    exc = cap.logs[0]["exception"]
    assert (cap.logs[0]["level"], exc["type"], exc["message"]) == ("ERROR", "ValueError", "bad value")
    assert exc["frames"][-1]["function"] == "_raise_chained"
    assert exc["cause"]["type"] == "KeyError"


def test_exc_info_accepts_an_exception_instance() -> None:
    """exc_info=<exception> renders that exception at any level."""
    with capture() as cap:
        obskit.get_logger("x").warning("w", exc_info=RuntimeError("nope"))
    assert cap.logs[0]["exception"] == {"type": "RuntimeError", "message": "nope", "frames": []}


def test_exception_frames_are_bounded() -> None:
    """A deep traceback keeps the innermost frames and counts the rest."""

    def recurse(n: int) -> None:
        if n == 0:
            raise RecursionError("deep")
        recurse(n - 1)

    with capture() as cap:
        try:
            recurse(100)
        except RecursionError:
            obskit.get_logger("x").exception("deep")
    exc = cap.logs[0]["exception"]
    assert len(exc["frames"]) == 30
    assert exc["frames_omitted"] == 101 - 30 + 1


# --- bad input ----------------------------------------------------------------------------------
class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_hostile_values_never_raise() -> None:
    """Unserialisable values are rendered, not raised: repr, bytes, sets, big ints, surrogates."""
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with capture() as cap:
        obskit.get_logger("x").info(
            "m", obj=_Hostile(), raw=b"\xffok", tags={"a"}, big=1 << 80, sur="\ud800x",
            keys={(1, 2): "tuple key"}, cyc=cyclic,
        )
    line = cap.logs[0]
    assert line["obj"] == "<unrepresentable _Hostile>"
    assert line["raw"] == "\ufffdok"
    assert line["tags"] == ["a"]
    assert line["big"] == str(1 << 80)
    assert line["sur"].endswith("x")
    assert line["keys"] == {"(1, 2)": "tuple key"}
    assert "<cycle>" in json.dumps(line["cyc"]) or "<max depth>" in json.dumps(line["cyc"])
    assert obskit.diagnostics()["logs.unserializable"] == 1


def test_hostile_message_never_raises() -> None:
    """A message object whose str() raises is rendered by type; bytes are decoded."""
    with capture() as cap:
        log = obskit.get_logger("x")
        log.info(_Hostile())
        log.info(b"caf\xc3\xa9")
    assert [line["message"] for line in cap.logs] == ["<unrepresentable _Hostile>", "café"]


def test_long_message_is_clipped_and_counted() -> None:
    """A message beyond log_max_bytes is clipped with a marker and counted."""
    with capture(log_max_bytes=4096) as cap:
        obskit.get_logger("x").info("y" * 100_000)
    message = cap.logs[0]["message"]
    assert len(message) < 4096
    assert "[truncated" in message
    assert obskit.diagnostics()["logs.truncated"] >= 1


def test_oversized_fields_are_clipped_to_the_line_bound() -> None:
    """Large fields are cut so the whole line fits log_max_bytes, and the line is flagged."""
    sink = io.StringIO()
    obskit.configure(log_max_bytes=4096, log_stream=sink, traces="none", metrics="none", logs_bridge="none")
    obskit.get_logger("x").info("m", blob="z" * 50_000, items=list(range(5000)))
    out = sink.getvalue()
    assert len(out.encode()) <= 4096
    assert json.loads(out)["truncated"] is True


def test_closed_stream_is_counted_not_raised() -> None:
    """Writing to a closed stream is swallowed and counted."""
    sink = io.StringIO()
    obskit.configure(log_stream=sink, traces="none", metrics="none", logs_bridge="none")
    sink.close()
    obskit.get_logger("x").info("m")
    assert obskit.diagnostics()["logs.write_failure"] == 1


def test_closed_stdout_in_a_subprocess() -> None:
    """A process whose stdout is closed keeps running and counts the failed writes."""
    code = textwrap.dedent("""
        import os, sys, obskit
        obskit.configure(traces="none", metrics="none")
        os.close(1)
        log = obskit.get_logger("x")
        for _ in range(3):
            log.info("into the void")
        sys.stdout.flush() if False else None
        print(obskit.diagnostics().get("logs.write_failure", 0), file=sys.stderr)
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stderr.strip().splitlines()[-1] in {"0", "1", "2", "3"}  # buffered: failure shows at flush
    code_closed = textwrap.dedent("""
        import sys, obskit
        obskit.configure(traces="none", metrics="none")
        sys.stdout.close()
        obskit.get_logger("x").info("closed")
        print(obskit.diagnostics()["logs.write_failure"], file=sys.stderr)
    """)
    out = subprocess.run([sys.executable, "-c", code_closed], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stderr.strip() == "1"


def test_stdlib_json_fallback_renders_the_same_line() -> None:
    """log_serializer="json" writes the same object as orjson."""
    lines = []
    for serializer in ("orjson", "json"):
        sink = io.StringIO()
        obskit.configure(log_serializer=serializer, log_stream=sink, clock=FixedClock(), traces="none",
                         metrics="none", logs_bridge="none")
        with obskit.activate(_ctx(correlation_id="c")):
            obskit.get_logger("x").info("café", n=1, f=1.5, raw=b"b", nested={"a": [1, None]})
        lines.append(json.loads(sink.getvalue()))
    assert lines[0] == lines[1]


def test_binary_stream_gets_bytes() -> None:
    """A binary log_stream receives UTF-8 bytes, one line per call."""
    sink = io.BytesIO()
    obskit.configure(log_stream=sink, traces="none", metrics="none", logs_bridge="none")
    obskit.get_logger("x").info("é")
    assert json.loads(sink.getvalue().decode())["message"] == "é"


def test_bad_log_options_raise_config_error() -> None:
    """Unknown bridge modes, serialisers and streams are refused at configure time."""
    for bad in ({"logs_bridge": "all"}, {"log_serializer": "yaml"}, {"log_stream": 5},
                {"log_processors": [1]}, {"log_debug_buffer_bytes": -1}):
        with pytest.raises(ConfigError):
            obskit.configure(**bad)


# --- console ---------------------------------------------------------------------------------------
def test_console_renderer_is_plain_without_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    """logs="console" writes a human line, without colour codes when stdout is not a terminal."""
    obskit.configure(logs="console", traces="none", metrics="none", logs_bridge="none")
    try:
        raise ValueError("shown")
    except ValueError:
        obskit.get_logger("x").exception("hello console", k=1)
    out = capsys.readouterr().out
    assert "hello console" in out
    assert "k=1" in out
    assert "ValueError: shown" in out
    assert "\x1b[" not in out


# --- context isolation ----------------------------------------------------------------------------
def test_no_bleed_across_asyncio_tasks() -> None:
    """500 concurrent tasks each log their own trace id and bound field."""
    log = obskit.get_logger("x")

    async def worker(i: int) -> None:
        with obskit.activate(_ctx(trace_id=f"{i + 1:032x}")), obskit.bound(task=i):
            await asyncio.sleep(0)
            log.info("step", n=i)
            await asyncio.sleep(0)
            log.info("step", n=i)

    async def main() -> None:
        await asyncio.gather(*(worker(i) for i in range(500)))

    with capture() as cap:
        asyncio.run(main())
    assert len(cap.logs) == 1000
    assert all(line["trace_id"] == f"{line['n'] + 1:032x}" and line["task"] == line["n"] for line in cap.logs)


def test_no_bleed_across_a_context_thread_pool() -> None:
    """Work submitted to a ContextThreadPoolExecutor logs the submitter's ids and fields."""
    log = obskit.get_logger("x")
    with capture() as cap, obskit.ContextThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for i in range(40):
            with obskit.activate(_ctx(trace_id=f"{i + 1:032x}")), obskit.bound(job=i):
                futures.append(pool.submit(log.info, "work", n=i))
        for f in futures:
            f.result()
    assert len(cap.logs) == 40
    assert all(line["trace_id"] == f"{line['n'] + 1:032x}" and line["job"] == line["n"] for line in cap.logs)


# --- buffer-on-error and sampling ------------------------------------------------------------------
def test_debug_lines_are_held_and_written_when_the_request_fails() -> None:
    """Inside a request, dropped DEBUG lines are held and written by end_request(failed=True)."""
    log = obskit.get_logger("x")
    with capture() as cap, _scope() as scope:
        log.debug("held", n=1)
        log.info("written")
        assert [line["message"] for line in cap.logs] == ["written"]
        logs.end_request(scope, failed=True)
    assert [line["message"] for line in cap.logs] == ["written", "held"]
    assert cap.logs[1]["level"] == "DEBUG"


def test_debug_lines_are_dropped_and_counted_when_the_request_succeeds() -> None:
    """A request that ends well drops its held DEBUG lines and counts them."""
    log = obskit.get_logger("x")
    with capture() as cap, _scope() as scope:
        log.debug("a")
        log.debug("b")
        logs.end_request(scope, failed=False)
    assert cap.logs == []
    assert obskit.diagnostics()["logs.debug_buffer_dropped"] == 2


def test_error_line_flushes_the_buffer_first_and_fails_the_request() -> None:
    """An ERROR line marks the request failed and writes the held DEBUG lines before it."""
    log = obskit.get_logger("x")
    with capture() as cap, _scope() as scope:
        log.debug("before")
        log.error("boom")
        log.debug("after")
        logs.end_request(scope, failed=False)
    assert [line["message"] for line in cap.logs] == ["before", "boom", "after"]
    assert scope.failed is True


def test_filtered_error_still_fails_the_request() -> None:
    """An ERROR call below a CRITICAL level writes nothing but still fails the request."""
    with capture(log_level="CRITICAL") as cap, _scope() as scope:
        obskit.get_logger("x").error("quiet")
    assert cap.logs == []
    assert scope.failed is True


def test_debug_buffer_is_bounded_in_bytes() -> None:
    """The oldest held lines are evicted beyond log_debug_buffer_bytes, and counted."""
    log = obskit.get_logger("x")
    with capture(log_debug_buffer_bytes=1024) as cap, _scope() as scope:
        for i in range(50):
            log.debug("line", i=i, pad="p" * 40)
        assert scope.debug_bytes <= 1024
        logs.end_request(scope, failed=True)
    assert 0 < len(cap.logs) < 50
    assert cap.logs[-1]["i"] == 49
    assert obskit.diagnostics()["logs.debug_buffer_evicted"] == 50 - len(cap.logs)


def test_buffering_off_drops_debug() -> None:
    """log_debug_buffer_bytes=0 turns buffering off."""
    with capture(log_debug_buffer_bytes=0) as cap, _scope() as scope:
        obskit.get_logger("x").debug("d")
        logs.end_request(scope, failed=True)
    assert cap.logs == []


def test_debug_outside_a_request_is_dropped() -> None:
    """Without a request scope a dropped DEBUG line is simply gone."""
    with capture() as cap:
        obskit.get_logger("x").debug("d")
    assert cap.logs == []


def test_upstream_baggage_samples_debug_in() -> None:
    """Baggage obskit.debug=1 from upstream makes the request write its DEBUG lines directly."""
    with capture() as cap, _scope() as scope:
        logs.start_request(scope, make_context(TRACE_ID, baggage={"obskit.debug": "1"}))
        obskit.get_logger("x").debug("direct")
    assert scope.debug_sampled is True
    assert [line["message"] for line in cap.logs] == ["direct"]


def test_sample_rate_one_samples_every_request_in() -> None:
    """sample_rate=1 samples every request in; 0 none."""
    scopes = []
    for rate in (1.0, 0.0):
        obskit.configure(sample_rate=rate, traces="none", metrics="none", logs_bridge="none")
        scope = RequestScope()
        logs.start_request(scope, make_context(TRACE_ID))
        scopes.append(scope.debug_sampled)
    assert scopes == [True, False]


def test_sample_rate_is_decided_per_request() -> None:
    """With sample_rate=0.5 some requests are sampled in and some are not."""
    obskit.configure(sample_rate=0.5, traces="none", metrics="none", logs_bridge="none")
    decisions = set()
    for _ in range(200):
        scope = RequestScope()
        logs.start_request(scope, make_context(TRACE_ID))
        decisions.add(scope.debug_sampled)
    assert decisions == {True, False}


# --- redaction ------------------------------------------------------------------------------------
def test_default_redaction_covers_nested_keys() -> None:
    """Secret keys are masked at any depth, case-insensitively, as whole words."""
    payload = {"user": "ann", "Password": "p", "headers": [{"Authorization": "Bearer x"}, {"X-Api-Key": "k"}]}
    with capture() as cap, obskit.bound(session_id="s"):
        obskit.get_logger("x", client_secret="c").info(
            "m", payload=payload, accessToken="t", tokens_used=5, aws_secret_access_key="k"
        )
    line = cap.logs[0]
    assert line["payload"] == {"user": "ann", "Password": "***",
                               "headers": [{"Authorization": "***"}, {"X-Api-Key": "***"}]}
    assert (line["accessToken"], line["client_secret"], line["session_id"]) == ("***", "***", "***")
    assert line["aws_secret_access_key"] == "***"
    assert line["tokens_used"] == 5
    assert payload["Password"] == "p"  # the caller's object is untouched


def test_redact_keys_option_replaces_the_defaults() -> None:
    """log_redact_keys replaces the deny-list; an empty list turns redaction off."""
    with capture(log_redact_keys=["ssn"]) as cap:
        obskit.get_logger("x").info("m", ssn="123", password="visible", nested={"SSN": 1})
    assert (cap.logs[0]["ssn"], cap.logs[0]["password"], cap.logs[0]["nested"]) == ("***", "visible", {"SSN": "***"})
    with capture(log_redact_keys=[]) as cap:
        obskit.get_logger("x").info("m", password="visible")
    assert cap.logs[0]["password"] == "visible"


def test_redact_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBSKIT_LOG_REDACT_KEYS sets the deny-list."""
    monkeypatch.setenv("OBSKIT_LOG_REDACT_KEYS", "iban, card")
    with capture() as cap:
        obskit.get_logger("x").info("m", iban="DE00", card_number="4111", password="p")
    assert (cap.logs[0]["iban"], cap.logs[0]["card_number"], cap.logs[0]["password"]) == ("***", "***", "p")


# --- structlog processors --------------------------------------------------------------------------
def test_user_processors_run_and_are_redacted_after() -> None:
    """log_processors run on the line dict; what they add is still redacted."""

    def add(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        event["method"] = method
        event["token"] = "leak"
        return event

    with capture(log_processors=[add]) as cap:
        obskit.get_logger("x").warning("m")
    assert (cap.logs[0]["method"], cap.logs[0]["token"]) == ("warning", "***")


def test_structlog_drop_event_drops_the_line() -> None:
    """A processor raising structlog.DropEvent drops the line; a failing one is counted."""
    import structlog

    def drop(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event["message"] == "drop me":
            raise structlog.DropEvent
        return event

    def broken(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("processor bug")

    with capture(log_processors=[drop, broken]) as cap:
        log = obskit.get_logger("x")
        log.info("drop me")
        log.info("keep me")
    assert [line["message"] for line in cap.logs if line["logger"] == "x"] == ["keep me"]
    assert obskit.diagnostics()["logs.processor_failure"] == 2  # "keep me" and the report of the failure


# --- real stdout ------------------------------------------------------------------------------------
def test_real_stdout_lines_in_a_subprocess() -> None:
    """Through real stdout, every line is one JSON object in contract order, stdlib records too."""
    code = textwrap.dedent("""
        import logging, obskit
        from obskit._context import make_context
        log = obskit.get_logger("app")
        obskit.configure(service="svc", traces="none", metrics="none")
        ctx = make_context("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", True, correlation_id="corr")
        with obskit.activate(ctx), obskit.bound(order_id=7):
            log.info("one", amount=1.5)
            logging.getLogger("botocore.thing").warning("two %s", "x", extra={"k": 1})
            log.debug("dropped")
        log.info("outside")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["message"] for line in lines] == ["one", "two x", "outside"]
    assert list(lines[0]) == [*ORDER, "order_id", "amount"]
    assert list(lines[1]) == [*ORDER, "order_id", "k"]
    assert lines[1]["logger"] == "botocore.thing"
    assert lines[1]["trace_id"] == TRACE_ID
    assert "trace_id" not in lines[2]


def test_importing_logs_loads_only_the_standard_library() -> None:
    """import obskit.logs (and a logger made at module level) pulls in no third-party module."""
    code = (
        "import sys, json; before = set(sys.modules); import obskit.logs; obskit.logs.get_logger('m'); "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True)
    loaded = set(json.loads(out.stdout))
    foreign = {m for m in loaded if m.partition(".")[0] not in sys.stdlib_module_names and not m.startswith("obskit")}
    assert foreign == set()
    assert "logging" not in loaded


@pytest.mark.parametrize(
    ("level", "enabled"), [("warning", True), ("debug", False), (None, True), ([], True), (10, False)]
)
def test_is_enabled_for_takes_numbers_and_names_and_never_raises(level: Any, enabled: bool) -> None:
    """Anything that is not a level reads as INFO (the configured level here)."""
    obskit.configure(service="s", logs="json", log_level="INFO", log_stream=io.StringIO())
    assert obskit.get_logger("t").is_enabled_for(level) is enabled


def test_log_with_a_bool_level_logs_at_info() -> None:
    with capture() as cap:
        obskit.get_logger("t").log(True, "odd level")  # type: ignore[arg-type]
    assert cap.logs_with(message="odd level")[0]["level"] == "INFO"
