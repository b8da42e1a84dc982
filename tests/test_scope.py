"""request_scope: the request semantics every integration shares (the README's "What one request produces")."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest

import obskit
from obskit import semconv
from obskit._context import SCOPE
from obskit.errors import ConfigError
from obskit.scope import ScopeOptions, current_request, request_scope, set_route
from obskit.testing import FixedClock, capture

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


def _access(cap):
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert len(lines) == 1, cap.logs
    return lines[0]


def test_span_continues_incoming_trace_and_is_named_by_route() -> None:
    """An incoming traceparent is the parent of the server span, named METHOD + route template."""
    with capture() as cap, request_scope("GET", "/orders/7", carrier={"traceparent": TRACEPARENT}) as req:
        req.set_route("/orders/{order_id}")
        req.set_status(200)
    (span,) = cap.spans
    assert span["name"] == "GET /orders/{order_id}"
    assert span["trace_id"] == TRACE
    assert span["parent_span_id"] == PARENT
    assert span["kind"] == "server"
    assert span["attributes"][semconv.ATTR_HTTP_ROUTE] == "/orders/{order_id}"
    assert span["attributes"][semconv.ATTR_URL_PATH] == "/orders/7"


def test_operation_dimension_is_the_route_template() -> None:
    """The Operation dimension of the request metrics is 'METHOD template', never the raw path."""
    with capture() as cap, request_scope("GET", "/orders/7", route="/orders/{order_id}") as req:
        req.set_status(200)
    assert cap.metric_values(semconv.METRIC_LATENCY, {semconv.DIM_OPERATION: "GET /orders/{order_id}"})
    assert not [d for d in cap.metrics if d.get(semconv.DIM_OPERATION) == "GET /orders/7"]


def test_unmatched_route_records_service_level_metrics_only() -> None:
    """Without a route template the request counts at [Service] level and the span is named by method."""
    with capture() as cap, request_scope("GET", "/wp-admin.php") as req:
        req.set_status(404)
    assert cap.spans[0]["name"] == "GET"
    assert cap.metric_values(semconv.METRIC_ERROR) == [1]
    assert all(semconv.DIM_OPERATION not in d for d in cap.metrics)


def test_request_metrics_can_be_turned_off_leaving_span_and_access_line() -> None:
    """request_metrics=False: no Latency/Error/Fault, the rest as usual; the app's own metrics still go out."""
    options = ScopeOptions({"request_metrics": False})
    with capture() as cap, request_scope("GET", "/orders/7", route="/orders/{order_id}", options=options) as req:
        req.set_status(503)
        obskit.metrics.count("OrdersPlaced")
    assert cap.metric_values(semconv.METRIC_LATENCY) == []
    assert cap.metric_values(semconv.METRIC_FAULT) == []
    assert cap.metric_values("OrdersPlaced") == [1]
    assert _access(cap)[semconv.LOG_HTTP_STATUS] == 503
    assert cap.spans[0]["name"] == "GET /orders/{order_id}"


def test_request_metrics_option_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSKIT_REQUEST_METRICS", "false")
    with capture() as cap, request_scope("GET", "/x"):
        pass
    assert cap.metric_values(semconv.METRIC_LATENCY) == []
    assert len(cap.spans) == 1


def test_log_lines_inside_carry_the_server_span_ids() -> None:
    """Lines logged inside the scope carry the request's trace id and server span id."""
    log = obskit.get_logger("t")
    with capture() as cap:
        with request_scope("GET", "/", carrier={"traceparent": TRACEPARENT}):
            log.info("inside")
        line = cap.logs_with(message="inside")[0]
    assert line["trace_id"] == TRACE
    assert line["span_id"] == cap.spans[0]["span_id"]


def test_access_line_has_the_request_fields() -> None:
    """One access line: method, route, path, status, duration_ms, client_ip, user_agent, response_size."""
    clock = FixedClock()
    with capture(clock=clock) as cap:
        req = request_scope("POST", "/orders", route="/orders", peer="10.0.0.1", user_agent="curl/8")
        clock.advance(ms=12.5)
        req.set_status(201)
        req.add_response_size(42)
        req.end()
    line = _access(cap)
    assert line["message"] == semconv.ACCESS_MESSAGE
    assert line[semconv.LOG_HTTP_METHOD] == "POST"
    assert line[semconv.LOG_HTTP_ROUTE] == "/orders"
    assert line[semconv.LOG_HTTP_STATUS] == 201
    assert line[semconv.LOG_DURATION_MS] == 12.5
    assert line[semconv.LOG_CLIENT_IP] == "10.0.0.1"
    assert line[semconv.LOG_USER_AGENT] == "curl/8"
    assert line[semconv.LOG_RESPONSE_SIZE] == 42
    assert cap.metric_values(semconv.METRIC_LATENCY) == [12.5]


def test_access_line_leaves_out_what_the_request_never_had() -> None:
    """No route, status, peer, user agent or body: those keys are absent, not null."""
    with capture() as cap:
        request_scope("GET", "/nowhere").end()
    line = _access(cap)
    for key in (semconv.LOG_HTTP_ROUTE, semconv.LOG_HTTP_STATUS, semconv.LOG_CLIENT_IP,
                semconv.LOG_USER_AGENT, semconv.LOG_RESPONSE_SIZE):
        assert key not in line
    assert line[semconv.LOG_HTTP_PATH] == "/nowhere"


def test_access_line_of_a_request_without_a_path_has_no_path_key() -> None:
    with capture() as cap:
        for _ in range(2):  # the second line takes the typed fast path
            request_scope("GET").end()
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert [semconv.LOG_HTTP_PATH in line for line in lines] == [False, False]


def test_access_line_fields_are_masked_on_every_line() -> None:
    """A redacted access field stays masked after its key is classified (the typed fast path)."""
    with capture(log_redact_keys=["user_agent"]) as cap:
        for _ in range(3):
            with request_scope("GET", "/a", route="/a", user_agent="secret-agent/1") as req:
                req.set_status(200)
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert [line[semconv.LOG_USER_AGENT] for line in lines] == [semconv.LOG_REDACTED] * 3
    assert [line[semconv.LOG_HTTP_STATUS] for line in lines] == [200] * 3


def test_access_line_with_odd_typed_values_still_renders() -> None:
    """A route or status of another type (set by app code) goes through the checked path."""
    with capture() as cap:
        for _ in range(2):
            with request_scope("GET", "/a") as req:
                req.route = ["/a"]  # type: ignore[assignment]
                req.set_status("200")  # type: ignore[arg-type]
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert [line[semconv.LOG_HTTP_ROUTE] for line in lines] == [["/a"]] * 2
    assert [line[semconv.LOG_HTTP_STATUS] for line in lines] == [200] * 2


@pytest.mark.parametrize(("given", "recorded"), [("404", 404), (HTTPStatus.CREATED, 201), ("OK", None), (2.0, 2)])
def test_a_status_of_another_type_never_reaches_the_app(given: object, recorded: int | None) -> None:
    """set_status with a str or an enum is read as an int; an unreadable one is left out, not raised."""
    with capture() as cap, request_scope("GET", "/a", route="/a") as req:
        req.set_status(given)  # type: ignore[arg-type]
    assert _access(cap).get(semconv.LOG_HTTP_STATUS) == recorded
    assert cap.spans[0]["attributes"].get(semconv.ATTR_HTTP_STATUS) == recorded


def test_a_response_size_that_is_not_a_number_is_not_raised() -> None:
    with capture() as cap, request_scope("GET", "/a", route="/a") as req:
        req.add_response_size(10)
        req.add_response_size("many")  # type: ignore[arg-type]
        req.add_response_size(5)
    assert _access(cap)[semconv.LOG_RESPONSE_SIZE] == 15


def test_access_line_is_stamped_at_the_end_of_the_request() -> None:
    """The access line's timestamp is the moment the request ended (the clock it was timed by)."""
    clock = FixedClock()
    with capture(clock=clock) as cap:
        req = request_scope("GET", "/a", route="/a")
        clock.advance(ms=1500)
        req.end()
    ended = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock.now_ns // 10**9))
    assert _access(cap)["timestamp"] == f"{ended}.500Z"


def test_access_line_follows_the_log_level() -> None:
    """Above INFO a successful request writes no access line, a failed one still does (at ERROR)."""
    with capture(log_level="WARNING") as cap:
        with request_scope("GET", "/ok", route="/ok") as req:
            req.set_status(200)
        with request_scope("GET", "/bad", route="/bad") as req:
            req.set_status(503)
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert [(line["level"], line[semconv.LOG_HTTP_ROUTE]) for line in lines] == [("ERROR", "/bad")]


@pytest.mark.parametrize(
    ("elapsed_ns", "shown"),
    [(1_234_567, 1.235), (1_234_499, 1.234), (1_234_500, 1.235), (999, 0.001), (0, 0.0), (60_000_000_000, 60000.0)],
)
def test_access_line_duration_is_rounded_to_microseconds(elapsed_ns: int, shown: float) -> None:
    """duration_ms has at most three decimals (halves round up); the Latency metric keeps full precision."""
    clock = FixedClock()
    with capture(clock=clock) as cap:
        req = request_scope("GET", "/a", route="/a")
        clock.now_ns += elapsed_ns
        req.set_status(200)
        req.end()
    assert _access(cap)[semconv.LOG_DURATION_MS] == shown
    assert cap.metric_values(semconv.METRIC_LATENCY) == [elapsed_ns / 1e6]


@pytest.mark.parametrize(
    ("status", "error", "fault"),
    [(200, 0, 0), (302, 0, 0), (404, 1, 0), (429, 1, 0), (500, 0, 1), (503, 0, 1)],
)
def test_error_and_fault_follow_the_status(status: int, error: int, fault: int) -> None:
    """4xx counts as Error, 5xx as Fault, everything else as neither."""
    with capture() as cap, request_scope("GET", "/x", route="/x") as req:
        req.set_status(status)
    assert cap.metric_values(semconv.METRIC_ERROR) == [error]
    assert cap.metric_values(semconv.METRIC_FAULT) == [fault]
    assert cap.spans[0]["status"] == ("error" if fault else "unset")


def test_exception_is_a_fault_recorded_on_the_span_and_re_raised() -> None:
    """A handler exception passes through unchanged, counts as a 500 fault and lands on the span."""
    with capture() as cap, pytest.raises(KeyError, match="boom"), request_scope("GET", "/x", route="/x"):
        raise KeyError("boom")
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    span = cap.spans[0]
    assert span["status"] == "error"
    assert span["attributes"][semconv.ATTR_ERROR_TYPE] == "KeyError"
    assert span["events"]
    line = _access(cap)
    assert line[semconv.LOG_HTTP_STATUS] == 500
    assert line[semconv.LOG_ERROR_TYPE] == "KeyError"
    assert line["level"] == "ERROR"


def test_record_4xx_as_error_false_keeps_error_at_zero() -> None:
    """With record_4xx_as_error=False a 404 is neither an Error nor a Fault."""
    opts = ScopeOptions({"record_4xx_as_error": False})
    with capture() as cap, request_scope("GET", "/x", route="/x", options=opts) as req:
        req.set_status(404)
    assert cap.metric_values(semconv.METRIC_ERROR) == [0]


def test_excluded_route_leaves_no_telemetry() -> None:
    """A path in excluded_routes gets no span, no metrics and no access line."""
    opts = ScopeOptions({"excluded_routes": ["/health", "/internal/*"]})
    with capture() as cap:
        for path in ("/health", "/internal/ready"):
            with request_scope("GET", path, options=opts) as req:
                assert not req.active
                assert current_request() is None
                req.set_status(200)
    assert cap.spans == []
    assert cap.metrics == []
    assert cap.logs == []


def test_excluded_routes_from_configure() -> None:
    """excluded_routes given to configure() applies to every request scope."""
    obskit.configure(excluded_routes="/ping")
    with capture() as cap, request_scope("GET", "/ping"):
        pass
    assert cap.spans == []


def test_scope_is_installed_once_and_reset_after() -> None:
    """Inside, SCOPE holds this request; after end() both context variables are back to before."""
    before = obskit.current()
    with capture(), request_scope("GET", "/") as req:
        assert SCOPE.get() is req
        assert current_request() is req
        assert obskit.current().span_id == req.span.span_id
    assert SCOPE.get() is None
    assert obskit.current() == before


def test_set_route_from_inside_names_the_request() -> None:
    """obskit.scope.set_route, called by code inside the request, renames span and Operation."""
    with capture() as cap, request_scope("DELETE", "/orders/7"):
        set_route("/orders/{order_id}")
    assert cap.spans[0]["name"] == "DELETE /orders/{order_id}"


def test_unknown_method_becomes_other() -> None:
    """An unknown HTTP method is named _OTHER, so clients cannot mint new metric dimensions."""
    with capture() as cap, request_scope("FOO1", "/x", route="/x"):
        pass
    assert cap.spans[0]["name"] == "_OTHER /x"


def test_hooks_add_span_attributes_and_log_fields() -> None:
    """request_hook sets span attributes and log_fields binds fields on every line of the request."""
    def hook(span, request):
        span.set_attribute("tenant", request["tenant"])

    opts = ScopeOptions({"request_hook": hook, "log_fields": lambda request: {"tenant": request["tenant"]}})
    with capture() as cap, request_scope("GET", "/", options=opts, request={"tenant": "acme"}):
        obskit.get_logger("t").info("inside")
    assert cap.spans[0]["attributes"]["tenant"] == "acme"
    assert cap.logs_with(message="inside")[0]["tenant"] == "acme"
    assert _access(cap)["tenant"] == "acme"


def test_failing_hook_is_counted_and_the_request_goes_on() -> None:
    """A hook that raises is counted in diagnostics; the request still gets its telemetry."""
    def hook(span, request):
        raise RuntimeError("bad hook")

    opts = ScopeOptions({"request_hook": hook})
    with capture() as cap, request_scope("GET", "/", options=opts):
        pass
    assert cap.spans
    assert obskit.diagnostics().get("scope.hook_failure") == 1


def test_response_headers_carry_correlation_id_and_traceparent() -> None:
    """response_headers lists the ids clients can quote; the correlation id is the incoming one."""
    opts = ScopeOptions({"response_headers": ["x-correlation-id", "traceparent"]})
    carrier = {"traceparent": TRACEPARENT, "x-correlation-id": "order-77"}
    with capture(), request_scope("GET", "/", carrier=carrier, options=opts) as req:
        headers = dict(req.response_headers())
    assert headers["x-correlation-id"] == "order-77"
    assert headers["traceparent"].startswith(f"00-{TRACE}-{req.span.span_id}-")


def test_per_app_correlation_headers() -> None:
    """correlation_headers given to an app picks the correlation id from its own header."""
    opts = ScopeOptions({"correlation_headers": ["X-Ticket"]})
    with capture() as cap, request_scope("GET", "/", carrier={"x-ticket": "T-1"}, options=opts):
        pass
    assert _access(cap)["correlation_id"] == "T-1"


@pytest.mark.parametrize(
    ("options", "peer", "xff", "expected"),
    [
        ({}, "10.0.0.9", "1.2.3.4", "10.0.0.9"),
        ({"trust_forwarded_for": True}, "10.0.0.9", "1.2.3.4, 10.0.0.5", "1.2.3.4"),
        ({"trusted_proxies": ["10.0.0.0/8"]}, "10.0.0.9", "6.6.6.6, 1.2.3.4, 10.0.0.5", "1.2.3.4"),
        ({"trusted_proxies": ["10.0.0.0/8"]}, "8.8.8.8", "1.2.3.4", "8.8.8.8"),
        ({"trusted_proxies": ["127.0.0.1"]}, "127.0.0.1", "5.5.5.5", "5.5.5.5"),
    ],
)
def test_client_ip_uses_forwarded_for_only_from_trusted_proxies(options, peer, xff, expected) -> None:
    """X-Forwarded-For is believed only from trusted peers, walking from the right."""
    opts = ScopeOptions(options)
    with capture() as cap, request_scope("GET", "/", peer=peer, forwarded_for=xff, options=opts):
        pass
    assert _access(cap)[semconv.LOG_CLIENT_IP] == expected


def test_hostile_values_are_clipped() -> None:
    """A 100 KB user agent and path are clipped in the log line and the span."""
    huge = "A" * 100_000
    with capture() as cap, request_scope("GET", "/" + huge, user_agent=huge):
        pass
    assert len(_access(cap)[semconv.LOG_USER_AGENT]) <= 1024
    assert len(cap.spans[0]["attributes"][semconv.ATTR_URL_PATH]) <= 1024


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"excluded_route": ["/x"]}, "did you mean 'excluded_routes'"),
        ({"excluded_routes": ["health"]}, "routes start with '/'"),
        ({"response_headers": ["x-secret"]}, "unknown response header"),
        ({"trusted_proxies": ["not-an-ip"]}, "not an IP address"),
        ({"request_hook": 3}, "expected a callable"),
    ],
)
def test_bad_options_raise_config_error(options, match) -> None:
    """A bad option name or value raises ConfigError at once, naming the fix."""
    with pytest.raises(ConfigError, match=match):
        ScopeOptions(options)


def test_disabled_obskit_records_nothing() -> None:
    """With configure(disabled=True) a scope records nothing and sets no context."""
    with capture(disabled=True) as cap, request_scope("GET", "/") as req:
        assert not req.active
        assert SCOPE.get() is None
    assert cap.spans == []
    assert cap.metrics == []


def test_no_headers_starts_a_fresh_trace_without_diagnostics() -> None:
    """A request without any carrier starts a new trace and counts nothing as malformed."""
    with capture() as cap, request_scope("GET", "/"):
        pass
    assert cap.spans[0]["parent_span_id"] is None
    assert obskit.diagnostics() == {}


def test_end_is_idempotent() -> None:
    """Ending twice writes the telemetry once."""
    with capture() as cap:
        req = request_scope("GET", "/x", route="/x")
        req.end()
        req.end()
    assert len(cap.spans) == 1
    assert cap.metric_values(semconv.METRIC_FAULT) == [0]


def test_failed_request_writes_its_held_debug_lines() -> None:
    """A request that ends in a fault writes its buffered DEBUG lines; a good one drops them."""
    log = obskit.get_logger("t")
    with capture(log_level="INFO") as cap:
        with request_scope("GET", "/ok", route="/ok") as req:
            log.debug("kept only on failure", n=1)
            req.set_status(200)
        with request_scope("GET", "/bad", route="/bad") as req:
            log.debug("kept only on failure", n=2)
            req.set_status(500)
    debug = cap.logs_with(message="kept only on failure")
    assert [line["n"] for line in debug] == [2]


def test_upstream_debug_baggage_makes_the_request_log_debug_lines() -> None:
    """A request whose baggage carries obskit.debug=1 writes its DEBUG lines, without sampling configured."""
    carrier = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "baggage": "obskit.debug=1",
    }
    with capture() as cap, request_scope("GET", "/a", route="/a", carrier=carrier) as req:
        assert req.debug_sampled
        obskit.get_logger("t").debug("detail")
    assert cap.logs_with(message="detail")


def test_without_baggage_or_sampling_debug_lines_are_held_and_dropped() -> None:
    """No upstream flag and sample_rate 0: the request is not sampled and its DEBUG lines are dropped."""
    with capture() as cap, request_scope("GET", "/a", route="/a") as req:
        assert not req.debug_sampled
        obskit.get_logger("t").debug("detail")
    assert not cap.logs_with(message="detail")


def test_sample_rate_one_samples_every_request() -> None:
    """With sample_rate=1 every request logs DEBUG lines even without upstream baggage."""
    obskit.configure(service="s", traces="none", metrics="none", logs="json", sample_rate=1.0)
    with capture(), request_scope("GET", "/a", route="/a") as req:
        assert req.debug_sampled


def test_caller_attributes_are_checked_and_the_route_wins_over_them() -> None:
    """A caller's span attributes go through the span's checks, and the route template overrides theirs."""
    with capture() as cap, request_scope(
        "GET", "/orders/7", route="/orders/{order_id}",
        attributes={"app.tier": "gold", "app.bad": {"not": "plain"}, semconv.ATTR_HTTP_ROUTE: "/spoofed"},
    ) as req:
        req.set_status(200)
    attrs = cap.spans[0]["attributes"]
    assert (attrs["app.tier"], attrs[semconv.ATTR_HTTP_ROUTE], "app.bad" in attrs) == (
        "gold", "/orders/{order_id}", False)
    assert cap.spans[0]["metadata"] == {"default": {"app.bad": {"not": "plain"}}}  # a mapping is X-Ray metadata
    assert obskit.diagnostics().get("tracing.attribute_dropped.type") is None


def test_values_of_unexpected_types_from_a_server_are_cleaned() -> None:
    """A bytes scheme from an odd server is read as text (counted), the rest kept as it came."""
    with capture() as cap, request_scope("GET", "/", scheme=b"http", host="example.com") as req:  # type: ignore[arg-type]
        req.set_status(200)
    attrs = cap.spans[0]["attributes"]
    assert (attrs[semconv.ATTR_URL_SCHEME], attrs[semconv.ATTR_SERVER_ADDRESS]) == ("http", "example.com")
    assert obskit.diagnostics().get("scope.cleaned_arguments") == 1


def test_the_requests_own_texts_are_clipped_once_for_the_span_and_the_line_alike() -> None:
    """Path, scheme, host, client and user agent: at most 1024 characters on the span and the access line."""
    long = "x" * 5000
    with capture() as cap, request_scope(
        "GET", "/" + long, scheme="h" + long, host=long, peer=long, user_agent=long,
    ) as req:
        req.set_status(200)
    attrs = cap.spans[0]["attributes"]
    line = _access(cap)
    assert {len(attrs[k]) for k in (
        semconv.ATTR_URL_PATH, semconv.ATTR_URL_SCHEME, semconv.ATTR_SERVER_ADDRESS, semconv.ATTR_CLIENT_ADDRESS,
        semconv.ATTR_USER_AGENT)} == {1024}
    assert (line[semconv.LOG_HTTP_PATH], line[semconv.LOG_USER_AGENT], line[semconv.LOG_CLIENT_IP]) == (
        attrs[semconv.ATTR_URL_PATH], attrs[semconv.ATTR_USER_AGENT], attrs[semconv.ATTR_CLIENT_ADDRESS])
    assert obskit.diagnostics()["scope.clipped"] == 5


def test_the_callers_attributes_are_neither_kept_nor_changed() -> None:
    """The span takes its own copy of a caller's attributes: changing them later changes nothing."""
    mine = {"app.tier": "gold"}
    with capture() as cap, request_scope("GET", "/", attributes=mine) as req:
        mine["app.tier"] = "changed"
        req.set_status(200)
    assert mine == {"app.tier": "changed"}
    assert cap.spans[0]["attributes"]["app.tier"] == "gold"
    assert semconv.ATTR_HTTP_METHOD not in mine


def test_a_very_long_route_is_clipped_on_the_span() -> None:
    """A route template longer than a span attribute may be is clipped there, and counted."""
    route = "/" + "a" * 5000
    with capture() as cap, request_scope("GET", "/x") as req:
        req.set_route(route)
        req.set_status(200)
    assert len(cap.spans[0]["attributes"][semconv.ATTR_HTTP_ROUTE]) == 4096
    assert obskit.diagnostics().get("tracing.attribute_clipped") == 1


def test_span_attribute_limit_holds_for_the_request_attributes_too() -> None:
    """With a caller's attributes filling the span, the limit of 128 holds and the status set at the end is counted."""
    many = {f"app.k{i}": i for i in range(130)}
    with capture() as cap, request_scope("GET", "/", attributes=many) as req:
        req.set_status(200)
    assert len(cap.spans[0]["attributes"]) == 128
    assert obskit.diagnostics().get("tracing.attribute_dropped.limit") == 5


def test_a_request_sampled_in_for_debug_tells_downstream_in_baggage() -> None:
    """With sample_rate=1 the request's context carries baggage obskit.debug=1, so inject() passes it on."""
    obskit.configure(sample_rate=1.0, metrics="none")
    with capture(sample_rate=1.0), request_scope("GET", "/x", route="/x"):
        headers = obskit.inject({})
        assert obskit.current().baggage[semconv.BAGGAGE_DEBUG_KEY] == "1"
    assert "obskit.debug=1" in headers["baggage"]


def test_a_request_not_sampled_in_adds_no_debug_baggage() -> None:
    """Without debug sampling nothing is added to the baggage."""
    with capture(), request_scope("GET", "/x", route="/x"):
        headers = obskit.inject({})
    assert "baggage" not in headers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"path": 404},
        {"path": ["/a"]},
        {"fields": ["tenant"]},
        {"links": 5},
        {"user_agent": b"curl/8"},
        {"host": 8080, "scheme": 1},
        {"peer": ("10.0.0.1", 5000)},
        {"operation": ["process"], "route": None},
    ],
)
def test_a_request_with_odd_values_is_still_traced_logged_and_measured(kwargs: dict) -> None:
    """Values of the wrong type (a hand-built environ, an odd event) are made text, not a lost request."""
    method = None if "operation" in kwargs else "GET"
    kwargs = {"path": "/a", **kwargs}
    with capture() as cap, request_scope(method, **kwargs) as req:
        req.set_status(200)
        obskit.get_logger("t").info("inside")
    assert len(cap.spans) == 1
    assert cap.logs_with(message="inside")[0]["trace_id"] == cap.spans[0]["trace_id"]
    assert len([line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]) == 1
    assert cap.metric_values(semconv.METRIC_LATENCY)
    assert "scope.error.begin" not in obskit.diagnostics()


def test_odd_values_are_cleaned_once_and_counted() -> None:
    with capture() as cap, request_scope("GET", b"/bytes", user_agent=7):  # type: ignore[arg-type]
        pass
    assert cap.spans[0]["attributes"][semconv.ATTR_URL_PATH] == "/bytes"
    assert _access(cap)[semconv.LOG_USER_AGENT] == "7"
    assert obskit.diagnostics()["scope.cleaned_arguments"] == 1


def test_a_route_that_is_not_text_names_the_request_as_text() -> None:
    with capture() as cap, request_scope("GET", "/orders/7") as req:
        req.set_route(42)  # type: ignore[arg-type]
    assert cap.spans[0]["name"] == "GET 42"


def test_an_http_scope_inside_another_is_the_same_request() -> None:
    """A second middleware on the same request (an app behind a Lambda adapter, or wrapped twice).

    One access line and one set of request metrics, from the outer scope, named by the inner
    scope's route; the inner scope adds an internal child span that lines inside carry.
    """
    with (
        capture() as cap,
        request_scope("GET", "/items/7", route="/{proxy+}") as outer,
        request_scope("GET", "/items/7") as inner,  # inside the outer one
    ):
        inner.set_route("/items/{item_id}")
        inner.set_status(503)
        obskit.get_logger("app").info("inside")
    outer_span = next(s for s in cap.spans if s["kind"] == "server")
    inner_span = next(s for s in cap.spans if s["kind"] == "internal")
    assert inner_span["parent_span_id"] == outer_span["span_id"]
    assert outer_span["name"] == inner_span["name"] == "GET /items/{item_id}"
    line = _access(cap)
    assert (line[semconv.LOG_HTTP_ROUTE], line[semconv.LOG_HTTP_STATUS]) == ("/items/{item_id}", 503)
    inside = cap.logs_with(message="inside")[0]
    assert (inside["trace_id"], inside["span_id"]) == (outer_span["trace_id"], inner_span["span_id"])
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]
    assert cap.metric_values(semconv.METRIC_FAULT, {semconv.DIM_OPERATION: "GET /items/{item_id}"}) == [1]
    assert outer.status == 503


def test_an_exception_in_the_inner_scope_reaches_the_outer_one() -> None:
    with (
        capture() as cap,
        request_scope("POST", "/orders") as outer,
        pytest.raises(KeyError),
        request_scope("POST", "/orders", route="/orders"),  # inside the outer one
    ):
        raise KeyError("sku")
    assert isinstance(outer.exception, KeyError)
    line = _access(cap)
    assert (line[semconv.LOG_ERROR_TYPE], line[semconv.LOG_HTTP_ROUTE]) == ("KeyError", "/orders")
    assert cap.metric_values(semconv.METRIC_FAULT) == [1]


def test_a_non_http_scope_inside_a_request_keeps_its_own_line() -> None:
    """Per-message work inside an invocation (an operation, not a second view of the request) is its own."""
    with (
        capture() as cap,
        request_scope("POST", "/batch", route="/batch"),
        request_scope(None, operation="process message"),  # inside the outer one
    ):
        pass
    lines = [line for line in cap.logs if line.get("logger") == semconv.ACCESS_LOGGER]
    assert [line[semconv.LOG_HTTP_ROUTE] for line in lines] == ["process message", "/batch"]


def test_a_failure_that_is_not_an_odd_argument_is_counted_as_a_failure_not_a_cleaned_retry() -> None:
    """Text arguments and a hook handing back a list for fields: no retry, ``scope.error.begin`` counted."""
    options = ScopeOptions({"log_fields": lambda request: ["not", "a", "mapping"]})
    with capture() as cap, request_scope("GET", "/orders/7", fields={"a": 1}, options=options):
        assert not obskit.current().is_valid  # the request runs untraced, nothing left set
    assert not cap.spans
    counters = obskit.diagnostics()
    assert counters["scope.error.begin"] == 1
    assert "scope.cleaned_arguments" not in counters


def test_odd_arguments_are_still_retried_cleaned() -> None:
    """A number for a path (a hand-built environ): one cleaned retry, the request traced."""
    with capture() as cap, request_scope("GET", 7):  # type: ignore[arg-type]
        pass
    assert cap.spans[0]["attributes"][semconv.ATTR_URL_PATH] == "7"
    assert obskit.diagnostics()["scope.cleaned_arguments"] == 1
