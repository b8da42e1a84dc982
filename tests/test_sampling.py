"""Centralized X-Ray sampling (``trace_sampler="xray"``) against a loopback daemon proxy.

The proxy (``tests/_xray_proxy.py``) validates every request body against botocore's ``xray``
model, serves rules and targets, and listens for segments on UDP on the same port number.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._fork import run_in_child
from tests._xray_proxy import DEFAULT, Proxy, rule

import obskit
from obskit import sampling
from obskit.errors import ConfigError
from obskit.integrations.flask import instrument
from obskit.testing import FixedClock
from obskit.tracing import start_span

T0 = 1_700_000_000
"""The injected clock's epoch second (``FixedClock``'s start)."""


class SpreadIds:
    """Trace ids whose random low 56 bits are evenly spread (golden-ratio steps): a rate of r samples r*n of n."""

    def __init__(self) -> None:
        self.n = 0
        self.spans = 0

    def trace_id(self) -> int:
        self.n += 1
        return (0x5759E988 << 96) | ((self.n * 0x9E3779B97F4A7C) & ((1 << 56) - 1))

    def span_id(self) -> int:
        self.spans += 1
        return self.spans


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy().start()
    yield p
    obskit.testing.reset()  # stop the poller before the proxy goes
    p.close()
    assert p.errors == [], p.errors


def _configure(proxy: Proxy, clock: FixedClock | None = None, **kwargs: Any) -> FixedClock:
    clock = clock or FixedClock()
    kwargs.setdefault("traces", "none")
    obskit.configure(service="orders", trace_sampler="xray", xray_daemon_address=proxy.address, clock=clock,
                     id_generator=SpreadIds(), logs="none", metrics="none", **kwargs)
    return clock


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def decide(path: str, method: str = "GET", host: str = "shop.example.com") -> bool | None:
    """A new server span's sampling decision, as a request with this method, host and path gets it."""
    span = start_span(f"{method} {path}", kind="server",
                      attributes={"http.request.method": method, "url.path": path, "server.address": host})
    span.end()
    return span.context.sampled


def rules_loaded(proxy: Proxy, n: int = 1) -> None:
    """Make the first decision (which starts the poller) and wait until ``n`` rule fetches are in force."""
    decide("/")
    wait_until(lambda: sampling.status().rules_fetches >= n and sampling.status().source == "rules")


def reported(proxy: Proxy, name: str, since: int = 0) -> dict[str, int]:
    """The sums of a rule's statistics over every report so far (from the ``since``-th document)."""
    docs = [d for d in proxy.statistics()[since:] if d["RuleName"] == name]
    return {k: sum(d.get(k, 0) for d in docs) for k in ("RequestCount", "SampledCount", "BorrowCount")}


def _started_app(seen: list[bool | None]) -> Any:
    """A Flask app whose every request appends ``obskit.current().sampled`` to ``seen``, once the rules are in force."""
    app = Flask(__name__)

    @app.get("/<path:path>")
    def any_path(path: str) -> str:
        seen.append(obskit.current().sampled)
        return "ok"

    instrument(app)
    client = app.test_client()
    client.get("/orders/0").close()  # starts the poller
    wait_until(lambda: sampling.status().source == "rules")
    seen.clear()
    return client


# --- the acceptance cases ------------------------------------------------------------------------
def test_health_rule_samples_nothing_orders_rule_everything_and_segments_name_the_rule(proxy: Proxy) -> None:
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), rule("orders", 2, 1.0, 0, path="/orders/*"), DEFAULT)
    _configure(proxy, traces="xray")
    seen: list[bool | None] = []
    client = _started_app(seen)
    proxy.segments(timeout=0.3)  # drop what the first request sent
    seen.clear()
    for i in range(30):
        client.get("/health").close()
        client.get(f"/orders/{i}").close()
    assert seen == [False, True] * 30
    obskit.flush()
    segments = proxy.segments()
    assert len(segments) == 30
    assert {s["http"]["request"]["url"].rsplit("/", 2)[-2] for s in segments} == {"orders"}
    assert {s["aws"]["xray"]["sampling_rule_name"] for s in segments} == {"orders"}
    assert all(s["aws"]["xray"]["sdk"] == "obskit" for s in segments)


def test_default_rule_borrows_one_a_second_then_samples_its_rate(proxy: Proxy) -> None:
    clock = _configure(proxy)
    rules_loaded(proxy)
    proxy.wait_calls("/SamplingTargets", 2)  # the first decision (which started the poller) is reported by now
    reports = len(proxy.statistics())
    sampled = 0
    for _ in range(50):
        clock.advance(seconds=1)
        sampled += sum(bool(decide(f"/items/{i}")) for i in range(200))
    # 50 borrowed (one a second) + 5% of the other 9,950 (evenly spread ids: exact within a few).
    assert abs(sampled - (50 + 0.05 * 9950)) <= 3
    wait_until(lambda: reported(proxy, "Default", since=reports)["RequestCount"] >= 10_000)
    stats = reported(proxy, "Default", since=reports)
    # Borrowed traces are sampled traces too (SampledCount includes BorrowCount).
    assert stats == {"RequestCount": 10_000, "SampledCount": sampled, "BorrowCount": 50}


def test_quota_and_ttl_from_targets_are_honoured_then_borrowing_resumes(proxy: Proxy) -> None:
    proxy.set_rules(rule("orders", 1, 1.0, 10, path="/orders/*"), DEFAULT)
    proxy.targets = lambda stats: [
        {"RuleName": "orders", "FixedRate": 0.0, "ReservoirQuota": 1, "ReservoirQuotaTTL": T0 + 10, "Interval": 1},
    ]
    clock = _configure(proxy)
    rules_loaded(proxy)
    wait_until(lambda: any(r.reservoir_quota == 1 for r in sampling.status().rules))
    (orders,) = [r for r in sampling.status().rules if r.name == "orders"]
    assert (orders.reservoir_quota, orders.quota_ttl) == (1, T0 + 10)
    since = len(proxy.statistics())
    per_second = []
    for _ in range(3):
        clock.advance(seconds=1)
        per_second.append(sum(bool(decide(f"/orders/{i}")) for i in range(20)))
    assert per_second == [1, 1, 1]  # the quota, and the target's fixed rate 0 (not the rule's 1.0) after it
    clock.advance(seconds=10)  # past the quota's TTL: borrow one a second again
    assert sum(bool(decide(f"/orders/{i}")) for i in range(20)) == 1
    wait_until(lambda: reported(proxy, "orders", since)["RequestCount"] >= 80)
    assert reported(proxy, "orders", since) == {"RequestCount": 80, "SampledCount": 4, "BorrowCount": 1}


def test_sampling_boost_raises_the_rate_until_its_ttl(proxy: Proxy) -> None:
    proxy.set_rules(rule("orders", 1, 0.0, 0, path="/orders/*"), DEFAULT)
    proxy.targets = lambda stats: [{"RuleName": "orders", "FixedRate": 0.0, "Interval": 1,
                                    "SamplingBoost": {"BoostRate": 0.5, "BoostRateTTL": T0 + 5}}]
    clock = _configure(proxy)
    rules_loaded(proxy)
    proxy.wait_calls("/SamplingTargets", 2)
    assert abs(sum(bool(decide(f"/orders/{i}")) for i in range(1000)) - 500) <= 3
    clock.advance(seconds=6)
    assert not any(decide(f"/orders/{i}") for i in range(100))


def test_rule_changes_are_picked_up_at_the_next_report(proxy: Proxy) -> None:
    proxy.set_rules(rule("orders", 1, 1.0, 0, path="/orders/*"), DEFAULT)
    _configure(proxy)
    rules_loaded(proxy)
    assert decide("/orders/1") is True
    fetches = sampling.status().rules_fetches
    proxy.set_rules(rule("orders", 1, 0.0, 0, path="/orders/*"), DEFAULT)
    started = time.monotonic()
    wait_until(lambda: sampling.status().rules_fetches > fetches)
    assert time.monotonic() - started < 5  # LastRuleModification, not the 5-minute turn
    assert not any(decide(f"/orders/{i}") for i in range(50))


def test_proxy_down_at_start_then_up(proxy: Proxy) -> None:
    proxy.stop()
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), DEFAULT)
    clock = _configure(proxy)
    assert decide("/health") is True  # the local default's one a second
    assert sum(bool(decide(f"/health/{i}")) for i in range(1000)) == pytest.approx(50, abs=3)  # then 5%
    wait_until(lambda: obskit.diagnostics().get("sampling.xray.unreachable", 0) >= 1)
    assert sampling.status().source == "local"
    assert "GetSamplingRules" in (sampling.status().last_error or "")
    proxy.start()
    wait_until(lambda: sampling.status().source == "rules")
    clock.advance(seconds=1)
    assert not any(decide("/health") for _ in range(100))


def test_proxy_going_down_keeps_the_rules_for_an_hour_then_comes_back(proxy: Proxy) -> None:
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), DEFAULT)
    clock = _configure(proxy)
    rules_loaded(proxy)
    proxy.stop()
    wait_until(lambda: obskit.diagnostics().get("sampling.xray.unreachable", 0) >= 1)
    assert not any(decide("/health") for _ in range(100))  # a blip does not flood /health
    clock.advance(seconds=3601)  # the rules are an hour old: X-Ray's local default
    assert sampling.status().source == "local"
    assert decide("/health") is True
    fetches = sampling.status().rules_fetches
    proxy.start()
    wait_until(lambda: sampling.status().rules_fetches > fetches, timeout=15)
    assert sampling.status().source == "rules"
    clock.advance(seconds=1)
    assert not any(decide("/health") for _ in range(100))
    assert obskit.diagnostics()["sampling.xray.unreachable"] >= 1


def test_statistics_carry_each_rules_counts_and_one_client_id(proxy: Proxy) -> None:
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), rule("orders", 2, 1.0, 0, path="/orders/*"), DEFAULT)
    clock = _configure(proxy)
    rules_loaded(proxy)
    proxy.wait_calls("/SamplingTargets", 2)  # the first decision (which started the poller) is reported by now
    since = len(proxy.statistics())
    clock.advance(seconds=1)  # a second whose borrowing the first decision did not use
    for i in range(7):
        decide("/health")
        decide(f"/orders/{i}")
    decide("/orders", method="DELETE", host="h")  # no "/orders/" prefix: the Default rule
    wait_until(lambda: min(reported(proxy, name, since)["RequestCount"] for name in ("orders", "health")) >= 7)
    assert reported(proxy, "health", since) == {"RequestCount": 7, "SampledCount": 0, "BorrowCount": 0}
    assert reported(proxy, "orders", since) == {"RequestCount": 7, "SampledCount": 7, "BorrowCount": 0}
    wait_until(lambda: reported(proxy, "Default", since)["RequestCount"] >= 1)
    assert reported(proxy, "Default", since) == {"RequestCount": 1, "SampledCount": 1, "BorrowCount": 1}
    docs = proxy.statistics()
    assert len({d["ClientID"] for d in docs}) == 1
    assert all(T0 <= d["Timestamp"] <= T0 + 1 for d in docs)  # the configured clock's time


# --- matching ---------------------------------------------------------------------------------------
def test_rules_match_by_priority_then_name_on_method_host_path_service_and_attributes(proxy: Proxy) -> None:
    proxy.set_rules(
        rule("b-same-priority", 5, 1.0, 0, path="/a*"),
        rule("a-same-priority", 5, 1.0, 0, path="/a*"),
        rule("other-service", 1, 1.0, 0, service="payments"),
        rule("ec2-only", 1, 1.0, 0, service_type="AWS::EC2::Instance"),
        rule("posts", 2, 1.0, 0, method="POST", path="/b/?"),
        rule("host", 3, 1.0, 0, host="*.internal"),
        rule("vip", 4, 1.0, 0, Attributes={"customer.tier": "gold*"}),
        rule("Default", 10000, 1.0, 1),
    )
    _configure(proxy, traces="xray")
    rules_loaded(proxy)
    names = [r.name for r in sampling.status().rules]
    assert names == ["posts", "host", "vip", "a-same-priority", "b-same-priority", "Default"]
    proxy.segments(timeout=0.3)
    requests = {
        "/a/1": ("GET", "shop", {}),
        "/b/1": ("post", "shop", {}),
        "/b/12": ("POST", "shop", {}),  # "?" is exactly one character: the Default rule
        "/x": ("GET", "api.INTERNAL", {}),
        "/y": ("GET", "shop", {"customer.tier": "gold-plus"}),
    }
    for path, (method, host, attrs) in requests.items():
        start_span("s", kind="server", attributes={
            "http.request.method": method, "url.path": path, "server.address": host, **attrs}).end()
    obskit.flush()
    got = {urlsplit(s["http"]["request"]["url"]).path: s["aws"]["xray"].get("sampling_rule_name")
           for s in proxy.segments()}
    assert got == {"/a/1": "a-same-priority", "/b/1": "posts", "/b/12": "Default", "/x": "host", "/y": "vip"}


def test_incoming_decisions_are_kept_and_undecided_xray_parents_follow_the_rules(proxy: Proxy) -> None:
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), rule("orders", 2, 1.0, 0, path="/orders/*"), DEFAULT)
    _configure(proxy)
    seen: list[bool | None] = []
    client = _started_app(seen)
    tid = "5759e988bd862e3fe1be46a994272793"
    client.get("/orders/1", headers={"traceparent": f"00-{tid}-53995c3f42cd8ad8-00"}).close()
    client.get("/health", headers={"traceparent": f"00-{tid}-53995c3f42cd8ad8-01"}).close()
    client.get("/health", headers={"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}).close()
    client.get("/orders/2", headers={"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"}).close()
    client.get("/health", headers={"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?"}).close()
    client.get("/orders/3", headers={"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?"}).close()
    assert seen == [False, True, True, False, False, True]


# --- configuration, lifecycle -------------------------------------------------------------------
@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("OBSKIT_TRACE_SAMPLER", "xray", "xray"),
    ("OBSKIT_TRACE_SAMPLER", "Ratio", "ratio"),
    ("OTEL_TRACES_SAMPLER", "xray", "xray"),
    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "ratio"),
])
def test_the_sampler_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                                expected: str) -> None:
    monkeypatch.setenv(variable, value)
    config = obskit.configure(traces="none")
    assert config.option("trace_sampler") == expected
    assert config.sources["trace_sampler"] == variable
    assert sampling.status().sampler == expected


def test_an_unknown_sampler_fails_at_configure_time(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"trace_sampler='always'.*'ratio'.*'xray'"):
        obskit.configure(trace_sampler="always")
    monkeypatch.setenv("OBSKIT_TRACE_SAMPLER", "xrey")
    with pytest.raises(ConfigError, match="OBSKIT_TRACE_SAMPLER='xrey'"):
        obskit.configure()


def test_the_tcp_address_of_a_split_daemon_address_serves_the_rules(proxy: Proxy) -> None:
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), DEFAULT)
    obskit.configure(service="orders", trace_sampler="xray", traces="none", logs="none", metrics="none",
                     xray_daemon_address=f"udp:127.0.0.1:9 tcp:127.0.0.1:{proxy.port}")
    rules_loaded(proxy)
    assert not any(decide("/health") for _ in range(20))


def test_no_thread_until_a_decision_and_none_after_shutdown(proxy: Proxy) -> None:
    import threading

    def pollers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "obskit-xray-sampling"]

    _configure(proxy)
    assert pollers() == []
    assert proxy.calls == []
    obskit.new_trace()
    wait_until(lambda: len(proxy.calls) >= 1)
    assert len(pollers()) == 1
    obskit.configure(service="orders", traces="none", logs="none", metrics="none")  # replaced: stopped
    wait_until(lambda: pollers() == [], timeout=5)


def test_a_forked_child_is_a_new_client_with_its_own_counts(proxy: Proxy) -> None:
    proxy.set_rules(rule("orders", 1, 1.0, 0, path="/orders/*"), DEFAULT)
    _configure(proxy)
    rules_loaded(proxy)
    for i in range(5):
        decide(f"/orders/{i}")
    wait_until(lambda: reported(proxy, "orders")["RequestCount"] >= 5)
    parent_ids = {d["ClientID"] for d in proxy.statistics()}

    def child() -> None:
        reports = sampling.status().targets_fetches
        for i in range(3):
            assert decide(f"/orders/{i}") is True
        # Two reports: the counts are in one of them.
        wait_until(lambda: sampling.status().targets_fetches >= reports + 2)

    run_in_child(child)
    child_docs = [d for d in proxy.statistics() if d["ClientID"] not in parent_ids]
    assert child_docs
    assert len({d["ClientID"] for d in child_docs}) == 1
    assert reported(proxy, "orders")["RequestCount"] == 8  # 5 from the parent, 3 from the child, none twice


def test_otel_sampler_arg_names_the_endpoint_and_a_bad_one_fails_at_configure_time(
        proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.set_rules(rule("health", 1, 0.0, 0, path="/health*"), DEFAULT)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "xray")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", f"endpoint=http://127.0.0.1:{proxy.port},polling_interval=60")
    obskit.configure(service="orders", traces="none", logs="none", metrics="none")  # the daemon address: default
    rules_loaded(proxy)
    assert not any(decide("/health") for _ in range(20))
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "endpoint=localhost:2000")
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG='endpoint=localhost:2000'"):
        obskit.configure(service="orders", traces="none")


def test_rules_obskit_cannot_use_are_skipped_and_counted(proxy: Proxy) -> None:
    proxy.set_rules(
        {"SamplingRule": {"RuleName": "broken", "Priority": "first"}},
        rule("v2", 1, 1.0, 0, path="/health*", Version=2),  # a newer rule format: skipped, as the SDKs do
        rule("elsewhere", 1, 1.0, 0, path="/health*", ResourceARN="arn:aws:ecs:us-east-1:1:container/x"),
        rule("health", 2, 0.0, 0, path="/health*"),
        DEFAULT,
    )
    _configure(proxy)
    rules_loaded(proxy)
    assert [r.name for r in sampling.status().rules] == ["health", "Default"]
    assert obskit.diagnostics()["sampling.xray.rule_skipped"] == 1
    assert not any(decide("/health") for _ in range(20))


def test_a_proxy_answering_garbage_is_counted_and_the_local_default_applies(proxy: Proxy) -> None:
    _configure(proxy)
    proxy.stop()
    import http.server
    import threading

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"<html")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", proxy.port), Garbage)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        assert decide("/") is True
        wait_until(lambda: obskit.diagnostics().get("sampling.xray.unreachable", 0) >= 1)
        assert sampling.status().source == "local"
        assert "JSONDecodeError" in (sampling.status().last_error or "")
    finally:
        obskit.testing.reset()
        server.shutdown()
        server.server_close()


def test_in_lambda_the_front_end_decides_and_no_thread_starts(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    _configure(proxy)
    assert all(obskit.new_trace().sampled is not None for _ in range(5))
    time.sleep(0.3)
    assert proxy.calls == []
    assert sampling.status().source == "local"


def test_the_ratio_sampler_is_the_default_and_ignores_rules(proxy: Proxy) -> None:
    obskit.configure(service="orders", traces="none", trace_sample_rate=0.0, xray_daemon_address=proxy.address)
    assert sampling.status() == sampling.SamplingStatus("ratio", "ratio", (), 0, 0, None)
    assert decide("/orders/1") is False
    time.sleep(0.2)
    assert proxy.calls == []


def test_capture_shows_the_rule_on_the_root_span_and_stops_its_poller(proxy: Proxy) -> None:
    import threading

    proxy.set_rules(rule("orders", 1, 1.0, 0, path="/orders/*"), DEFAULT)
    _configure(proxy)
    with obskit.testing.capture() as cap:
        rules_loaded(proxy)
        assert decide("/orders/7") is True
    (span,) = [s for s in cap.spans if s["attributes"].get("url.path") == "/orders/7"]
    assert span["attributes"]["aws.xray.sampling_rule_name"] == "orders"
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "obskit-xray-sampling"], timeout=5)


# --- matching: the indexes answer as a plain reference does ---------------------------------------
def _reference_match(pattern: str, text: str) -> bool:
    """X-Ray's wildcards, translated the plain way (``*`` -> ``.*``, ``?`` -> ``.``), both sides lower-cased."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(regex, text.lower(), re.DOTALL) is not None


def _reference_rule(definitions: list[dict[str, Any]], method: str, host: str, path: str,
                    attributes: dict[str, Any]) -> str | None:
    """The first rule by priority, then name, whose every pattern matches (attributes: strings only)."""
    for d in sorted(definitions, key=lambda d: (d["Priority"], d["RuleName"])):
        if not (_reference_match(d["HTTPMethod"], method) and _reference_match(d["Host"], host)
                and _reference_match(d["URLPath"], path)):
            continue
        if all(isinstance(attributes.get(k), str) and _reference_match(p, attributes[k])
               for k, p in (d.get("Attributes") or {}).items()):
            return str(d["RuleName"])
    return None


_TEXT = st.text(alphabet="aAbB/.-1?*\0éÉİΣ", max_size=7) | st.lists(
    st.sampled_from(["a", "A", "ab", "", "?", "*", "Σ", "1"]), min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))
"""Request fields: letters in both cases, the wildcard characters as plain text, NUL, non-ASCII (İ lower-cases to
two characters, Σ to a different one at the end of a word); and paths of segments, whose first may decide."""


@st.composite
def _pattern(draw: st.DrawFn, near: str) -> str:
    """A pattern, often one that matches ``near`` (characters kept, case-swapped, ``?``, runs as ``*``)."""
    if draw(st.booleans()):
        return draw(st.text(alphabet="aAb/.1?*é", max_size=6))
    out, i = [], 0
    while i < len(near):
        how = draw(st.sampled_from(["keep", "keep", "swap", "?", "*", "**"]))
        if how.startswith("*"):
            out.append(how)
            i += draw(st.integers(0, len(near) - i))
        else:
            out.append(near[i].swapcase() if how == "swap" else "?" if how == "?" else near[i])
            i += 1
    return "".join(out)


@st.composite
def _rules_and_requests(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, dict[str, Any]]]]:
    requests = [(draw(_TEXT), draw(_TEXT), draw(_TEXT), draw(st.sampled_from([{}, {"tier": "Gold"}, {"tier": 7}])))
                for _ in range(draw(st.integers(1, 6)))]
    definitions = []
    for n in range(draw(st.integers(1, 8))):
        method, host, path, _ = draw(st.sampled_from(requests))
        attributes = draw(st.sampled_from([{}, {}, {"tier": "gold"}, {"tier": "g*"}, {"other": "*"}]))
        definitions.append({
            "RuleName": f"r{n}", "Priority": draw(st.integers(1, 4)), "FixedRate": 1.0, "ReservoirSize": 0,
            "HTTPMethod": draw(_pattern(method)), "Host": draw(_pattern(host)), "URLPath": draw(_pattern(path)),
            "Attributes": attributes,
        })
    return definitions, requests


@settings(max_examples=400, deadline=None)
@given(_rules_and_requests())
def test_the_indexes_pick_the_rule_a_plain_wildcard_reference_picks(
    case: tuple[list[dict[str, Any]], list[tuple[str, str, str, dict[str, Any]]]],
) -> None:
    definitions, requests = case
    sampler = sampling.XRaySampler(service="orders", service_type="", resource_arn="", address=("127.0.0.1", 9),
                                   clock=FixedClock(), enabled=False)
    sampler._ruleset = sampling.RuleSet([sampling.Rule(d) for d in definitions], T0)
    for method, host, path, more in requests * 2:  # the second time from the cache
        attributes = {"http.request.method": method, "server.address": host, "url.path": path, **more}
        expected = _reference_rule(definitions, method, host, path, attributes)
        found = sampler._ruleset.find(attributes)
        assert (found.name if found else None) == expected, (method, host, path, more)
        assert sampler.sample(1 << 60, attributes) == (expected or True)  # no rule: the local default's reservoir


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("/orders/*", "/ORDERS/12", True), ("/orders/*", "/orders", False), ("*", "", True), ("", "", True),
    ("", "/", False), ("**", "", True), ("?", "", False), ("?", "é", True), ("/a?c", "/abc", True),
    ("/a?c", "/abbc", False), ("*.png", "/img/A.PNG", True), ("/img/*.png", "/img/.png", True),
    ("*a*b*", "xxaxxbxx", True), ("*a*b", "ba", False), ("/v1/*/items", "/v1/x/y/items", True),
    ("/search?q=*", "/search?q=", True), ("/search?q=*", "/searchXq=1", True), ("[a]", "a", False),
    ("a\0b", "a\0b", True), ("É*", "é", True), ("a.c", "abc", False),
])
def test_wildcards_match_as_x_ray_defines_them(pattern: str, text: str, expected: bool) -> None:
    assert sampling.wildcard_match(pattern, text) is expected
    assert _reference_match(pattern, text) is expected
    found = _ruleset({"RuleName": "r", "Priority": 1, "URLPath": pattern, "Host": pattern, "HTTPMethod": pattern}).find(
        {"url.path": text, "http.request.method": text, "server.address": text})
    assert (found is not None) is expected


@pytest.mark.parametrize(("pattern", "settles"), [
    ("/orders/*", True), ("/orders*", True), ("/ord*", True), ("/orders/**", True), ("/ORDERS/*", True),
    ("/carts/*", True), ("/orders", True), ("", True),  # no path under /orders/ matches: Default
    ("/orders/?*", False), ("/orders/", False), ("/orders/1", False), ("/o?ders/*", False), ("*/orders/*", False),
    ("/orders/*/items", False),
])
def test_a_first_segment_settles_the_rule_only_when_every_path_under_it_gets_the_same(pattern: str,
                                                                                      settles: bool) -> None:
    ruleset = _ruleset({"RuleName": "orders", "Priority": 1, "URLPath": pattern},
                       {"RuleName": "Default", "Priority": 9})
    for path in ["/orders/1", "/Orders/1/items", "/orders/", "/orders/2x"] * 2:  # the second time from the caches
        found = ruleset.find({"url.path": path})
        assert found is not None
        assert (found.name == "orders") is _reference_match(pattern, path), path
    assert (ruleset.segments[("", "", "/orders/")].__class__ is not sampling._PathIndex) is settles


def _ruleset(*definitions: dict[str, Any]) -> sampling.RuleSet:
    base = {"FixedRate": 1.0, "ReservoirSize": 0, "HTTPMethod": "*", "Host": "*", "URLPath": "*"}
    return sampling.RuleSet([sampling.Rule({**base, **d}) for d in definitions], T0)


def test_requests_without_fields_or_with_values_that_are_not_text_are_matched_as_text() -> None:
    ruleset = _ruleset({"RuleName": "empty-path", "Priority": 1, "URLPath": ""},
                       {"RuleName": "ints", "Priority": 2, "URLPath": "/1?"},
                       {"RuleName": "post", "Priority": 3, "HTTPMethod": "POST"},
                       {"RuleName": "Default", "Priority": 9})

    def name(attributes: dict[str, Any] | None) -> str | None:
        found = ruleset.find(attributes)
        return found.name if found else None

    assert name(None) == "empty-path"  # a span without attributes: every field empty
    assert name({"http.request.method": "POST"}) == "empty-path"
    assert name({"http.request.method": "POST", "url.path": "/x"}) == "post"
    assert name({"url.path": 123}) == "Default"  # "123": not "/1?"
    assert name({"url.path": ["/", "1", "2"]}) == "Default"  # not hashable: its str(), uncached
    assert name({"url.path": b"/12"}) == "Default"  # "b'/12'"


@pytest.mark.timeout(30)
def test_a_path_that_would_make_a_naive_matcher_backtrack_is_decided_at_once(proxy: Proxy) -> None:
    """``*a*a...b`` against ``aaaa...``: a translation that tries every split takes hours (hostile paths)."""
    proxy.set_rules(rule("hostile", 1, 1.0, 0, path="/*a*a*a*a*a*a*a*a*b"), rule("Default", 10000, 0.0, 0))
    _configure(proxy)
    rules_loaded(proxy)
    assert decide("/" + "a" * 64) is False
    assert decide("/" + "a" * 64 + "b") is True


def test_the_caches_are_bounded_and_a_full_one_still_answers_right() -> None:
    ruleset = _ruleset({"RuleName": "orders", "Priority": 1, "URLPath": "/orders/*", "Host": "api.*"},
                       {"RuleName": "Default", "Priority": 9, "FixedRate": 0.0})
    for i in range(sampling._CACHE_SIZE + 100):
        found = ruleset.find({"url.path": f"/orders/{i}", "http.request.method": "GET", "server.address": f"api.{i}"})
        assert found is not None
        assert found.name == "orders"
    assert len(ruleset.cache) == sampling._CACHE_SIZE  # kept, not emptied: new paths are matched uncached
    assert len(ruleset.indexes) <= sampling._FIELDS_SIZE
    assert len(ruleset._hosts) <= sampling._FIELDS_SIZE
    assert len(ruleset.segments) == sampling._SEGMENTS_SIZE  # one per (method, host, "/orders/"): kept, not emptied
    found = ruleset.find({"url.path": "/carts/1", "http.request.method": "GET", "server.address": "api.x"})
    assert found is not None
    assert found.name == "Default"
