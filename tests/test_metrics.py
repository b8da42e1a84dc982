"""obskit.metrics: the API, record-time validation, request scoping, aggregation and lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import obskit
import obskit.testing
from _emf_schema import assert_emf
from _fork import run_in_child
from obskit import metrics, semconv
from obskit._context import SCOPE, RequestScope
from obskit.testing import Capture, capture


@pytest.fixture
def cap() -> Iterator[Capture]:
    obskit.configure(service="checkout", environment="prod", metrics="none", logs="none")
    with capture(per_request=False) as c:  # the documents a server writes: one per flush interval
        yield c
    for doc in c.metrics:
        assert_emf(doc)


def _directive(doc: dict[str, Any]) -> dict[str, Any]:
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    return directive


def _diag(key: str) -> int:
    return obskit.diagnostics().get(key, 0)


class _Scope:
    """What an entry point does: install a RequestScope, run, flush_scope in finally."""

    def __init__(self) -> None:
        self.scope = RequestScope()

    def __enter__(self) -> RequestScope:
        self._token = SCOPE.set(self.scope)
        return self.scope

    def __exit__(self, *exc: object) -> None:
        try:
            metrics.flush_scope(self.scope)
        finally:
            SCOPE.reset(self._token)


# --- the API -----------------------------------------------------------------------------------
def test_count_writes_a_count_metric_with_the_default_dimensions(cap: Capture) -> None:
    """count() records unit Count under [Service, Environment] with the configured values."""
    metrics.count("OrdersPlaced")
    metrics.flush()
    (doc,) = cap.metrics
    assert _directive(doc)["Dimensions"] == [["Service", "Environment"]]
    assert _directive(doc)["Metrics"] == [{"Name": "OrdersPlaced", "Unit": "Count"}]
    assert (doc["Service"], doc["Environment"], doc["OrdersPlaced"]) == ("checkout", "prod", 1)
    assert _directive(doc)["Namespace"] == "obskit"


def test_environment_dimension_is_absent_when_not_configured() -> None:
    """Without an environment the default dimension set is [Service] alone."""
    obskit.configure(service="svc", metrics="none", logs="none")
    with capture() as cap:
        metrics.count("X")
    assert _directive(cap.metrics[0])["Dimensions"] == [["Service"]]
    assert "Environment" not in cap.metrics[0]


def test_record_adds_call_dimensions_to_the_defaults(cap: Capture) -> None:
    """Per-call dimensions extend the default set."""
    metrics.record("ChargeLatency", 42.5, "Milliseconds", dimensions={"Provider": "stripe"})
    metrics.flush()
    (doc,) = cap.metrics
    assert _directive(doc)["Dimensions"] == [["Service", "Environment", "Provider"]]
    assert doc["Provider"] == "stripe"
    assert doc["ChargeLatency"] == 42.5


def test_values_of_one_interval_share_one_document_as_an_array(cap: Capture) -> None:
    """Outside a scope, values with the same dimensions are aggregated into one array."""
    for v in (1.0, 2.0, 3.0):
        metrics.record("Size", v, "Bytes")
    metrics.flush()
    (doc,) = cap.metrics
    assert doc["Size"] == [1.0, 2.0, 3.0]


def test_high_resolution_sets_storage_resolution_1(cap: Capture) -> None:
    """resolution=1 is written as StorageResolution 1."""
    metrics.record("QueueDepth", 7, "Count", resolution=1)
    metrics.flush()
    assert _directive(cap.metrics[0])["Metrics"] == [{"Name": "QueueDepth", "Unit": "Count", "StorageResolution": 1}]


def test_unit_is_matched_case_insensitively_and_written_canonically(cap: Capture) -> None:
    """'milliseconds' becomes the CloudWatch spelling 'Milliseconds'."""
    metrics.record("T", 1.0, "milliseconds")
    metrics.flush()
    assert _directive(cap.metrics[0])["Metrics"][0]["Unit"] == "Milliseconds"


def test_several_dimension_sets_share_one_document(cap: Capture) -> None:
    """A list of mappings writes the value under each dimension set in one document."""
    metrics.count("Hits", dimensions=[{}, {"Route": "/a"}, {"Route": "/a", "Method": "GET"}])
    metrics.flush()
    (doc,) = cap.metrics
    assert _directive(doc)["Dimensions"] == [
        ["Service", "Environment"], ["Service", "Environment", "Route"],
        ["Service", "Environment", "Route", "Method"],
    ]
    assert doc["Hits"] == 1


def test_dimension_sets_that_disagree_on_a_value_go_to_separate_documents(cap: Capture) -> None:
    """Sets with different values for one key cannot share root members: two documents."""
    metrics.count("Hits", dimensions=[{"Route": "/a"}, {"Route": "/b"}])
    metrics.flush()
    assert sorted(d["Route"] for d in cap.metrics) == ["/a", "/b"]
    assert all(d["Hits"] == 1 for d in cap.metrics)


def test_properties_are_written_and_the_first_value_wins_in_an_interval(cap: Capture) -> None:
    """Properties are root members; aggregated documents keep the first value."""
    metrics.count("Jobs", properties={"job_id": "a", "batch": 1})
    metrics.count("Jobs", properties={"job_id": "b"})
    metrics.flush()
    (doc,) = cap.metrics
    assert (doc["job_id"], doc["batch"], doc["Jobs"]) == ("a", 1, [1, 1])


def test_trace_id_property_links_a_document_to_its_request(cap: Capture) -> None:
    """A request's metrics carry its trace id as ``trace_id``, also once merged and written later."""
    ctx = obskit.new_trace(sampled=True)
    with obskit.activate(ctx), _Scope():
        metrics.count("Linked")
    with obskit.activate(obskit.new_trace(sampled=True)), _Scope():
        metrics.count("Linked")
    metrics.flush()
    (doc,) = cap.metrics
    assert doc[semconv.METRIC_PROPERTY_TRACE_ID] == ctx.trace_id
    assert doc["Linked"] == [1, 1]


def test_outside_a_request_the_flushing_context_gives_the_trace_id(cap: Capture) -> None:
    """Values recorded outside a request carry the trace id of the code that flushes them."""
    ctx = obskit.new_trace(sampled=True)
    with obskit.activate(ctx):
        metrics.count("Background")
        metrics.flush()
    metrics.count("Untraced")
    metrics.flush()
    assert cap.metrics[0][semconv.METRIC_PROPERTY_TRACE_ID] == ctx.trace_id
    assert semconv.METRIC_PROPERTY_TRACE_ID not in cap.metrics[1]


def test_trace_id_property_can_be_turned_off() -> None:
    """metrics_trace_id=False leaves the trace id out."""
    obskit.configure(service="s", metrics="none", logs="none", metrics_trace_id=False)
    with capture() as cap, obskit.activate(obskit.new_trace(sampled=True)):
        metrics.count("Unlinked")
    assert semconv.METRIC_PROPERTY_TRACE_ID not in cap.metrics[0]


def test_accepted_number_types_are_written_as_json_numbers(cap: Capture) -> None:
    """bool, Decimal and integers beyond 2^53 become plain JSON numbers."""
    metrics.record("N", True)
    metrics.record("N", Decimal("2.5"))
    metrics.record("N", 2**60)
    metrics.flush()
    assert cap.metrics[0]["N"] == [1, 2.5, float(2**60)]


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "non_finite"),
        (float("inf"), "non_finite"),
        (float("-inf"), "non_finite"),
        ("12", "not_a_number"),
        (None, "not_a_number"),
        (object(), "not_a_number"),
        (b"1", "not_a_number"),
        (2**400, "out_of_range"),
        (1e200, "out_of_range"),
    ],
)
def test_bad_values_are_dropped_and_counted_by_reason(cap: Capture, value: Any, reason: str) -> None:
    """A bad value never raises: it is dropped and counted under its reason."""
    metrics.record("Bad", value)
    metrics.count("Good")
    metrics.flush()
    assert _diag(f"metrics.dropped.{reason}") == 1
    assert cap.metric_values("Bad") == []
    assert cap.metric_values("Good") == [1]


@pytest.mark.parametrize("name", ["x" * 5000, "", "   ", None, 42, "_aws", ["A"], "Caf\ud800"])
def test_invalid_names_are_dropped_and_counted(cap: Capture, name: Any) -> None:
    """Names must be strings of 1-255 characters (and not the metadata member)."""
    metrics.record(name, 1.0)
    metrics.flush()
    assert _diag("metrics.dropped.invalid_name") == 1
    assert cap.metrics == []


def test_an_unknown_unit_is_dropped_and_counted(cap: Capture) -> None:
    """Only CloudWatch units are accepted."""
    metrics.record("T", 1.0, "Parsecs")
    metrics.flush()
    assert _diag("metrics.dropped.invalid_unit") == 1
    assert cap.metrics == []


@pytest.mark.parametrize("resolution", [0, 5, 30, "60", True, None])
def test_an_invalid_resolution_is_dropped_and_counted(cap: Capture, resolution: Any) -> None:
    """StorageResolution is 1 or 60."""
    metrics.record("T", 1.0, resolution=resolution)
    assert _diag("metrics.dropped.invalid_resolution") == 1


def test_one_metric_name_keeps_one_unit_and_one_resolution(cap: Capture) -> None:
    """A second unit or resolution for a name is dropped: the first use fixes both."""
    metrics.record("T", 1.0, "Milliseconds")
    metrics.record("T", 2.0, "Seconds")
    metrics.record("T", 3.0, "Milliseconds", resolution=1)
    metrics.flush()
    assert cap.metric_values("T") == [1.0]
    assert _diag("metrics.dropped.unit_conflict") == 1
    assert _diag("metrics.dropped.resolution_conflict") == 1


def test_a_metric_named_like_a_dimension_is_dropped(cap: Capture) -> None:
    """A root member cannot be both a dimension and a metric."""
    metrics.count("Service")
    metrics.count("Region", dimensions={"Region": "eu"})
    metrics.flush()
    assert _diag("metrics.dropped.name_conflict") == 2
    assert cap.metrics == []


def test_forty_dimensions_are_clipped_to_thirty(cap: Capture) -> None:
    """Dimensions beyond CloudWatch's 30 per set are clipped, the value kept, the clip counted."""
    metrics.count("Wide", dimensions={f"D{i}": "v" for i in range(40)})
    metrics.flush()
    (doc,) = cap.metrics
    (dims,) = _directive(doc)["Dimensions"]
    assert len(dims) == 30
    assert dims[:2] == ["Service", "Environment"]
    assert doc["Wide"] == 1
    assert _diag("metrics.clipped.too_many_dimensions") == 1


def test_a_non_ascii_dimension_value_is_made_ascii(cap: Capture) -> None:
    """Non-ASCII characters become '?', so CloudWatch accepts the value."""
    metrics.count("C", dimensions={"City": "Zürich"})
    metrics.flush()
    assert cap.metrics[0]["City"] == "Z?rich"
    assert _diag("metrics.clipped.non_ascii") == 1


def test_a_long_dimension_value_is_cut_to_1024(cap: Capture) -> None:
    """Dimension values longer than 1024 characters are truncated and counted."""
    metrics.count("C", dimensions={"Path": "p" * 5000})
    metrics.flush()
    assert cap.metrics[0]["Path"] == "p" * 1024
    assert _diag("metrics.clipped.dimension_value_length") == 1


@pytest.mark.parametrize(
    ("dims", "reason"),
    [
        ({"K": "  "}, "dimension_value"),
        ({"K": None}, "dimension_value"),
        ({"": "v"}, "dimension_name"),
        ({":K": "v"}, "dimension_name"),
        ({"Kä": "v"}, "dimension_name"),
        ({"K" * 256: "v"}, "dimension_name"),
        ("not a mapping", "not_a_mapping"),
    ],
)
def test_invalid_dimensions_are_removed_and_the_value_kept(cap: Capture, dims: Any, reason: str) -> None:
    """An unusable dimension is removed (counted); the value is recorded under the rest."""
    metrics.count("C", dimensions=dims)
    metrics.flush()
    assert _directive(cap.metrics[0])["Dimensions"] == [["Service", "Environment"]]
    assert cap.metrics[0]["C"] == 1
    assert _diag(f"metrics.clipped.{reason}") == 1


def test_numeric_dimension_values_become_strings(cap: Capture) -> None:
    """An int dimension value is written as its string."""
    metrics.count("C", dimensions={"Shard": 7})
    metrics.flush()
    assert cap.metrics[0]["Shard"] == "7"


def test_cardinality_guard_folds_excess_values_into_other() -> None:
    """Beyond N distinct values per key, values become 'Other' and the event is counted."""
    obskit.configure(service="s", metrics="none", logs="none", metrics_max_dimension_values=3)
    with capture() as cap:
        for i in range(6):
            metrics.count("Req", dimensions={"UserId": f"u{i}"})
    got = sorted(d["UserId"] for d in cap.metrics)
    assert got == [semconv.OTHER_DIMENSION_VALUE, "u0", "u1", "u2"]
    assert sum(cap.metric_values("Req")) == 6
    assert _diag("metrics.clipped.cardinality") == 3


def test_distinct_metric_names_are_bounded() -> None:
    """metrics_max_names caps the distinct metric names of a process."""
    obskit.configure(service="s", metrics="none", logs="none", metrics_max_names=2)
    with capture() as cap:
        for i in range(4):
            metrics.count(f"M{i}")
    assert {m["Name"] for d in cap.metrics for m in _directive(d)["Metrics"]} == {"M0", "M1"}
    assert _diag("metrics.dropped.too_many_names") == 2


def test_each_drop_reason_is_reported_once_on_the_obskit_logger(
    cap: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """Repeated bad input logs one warning per reason, and every occurrence is counted."""
    with caplog.at_level(logging.WARNING, logger="obskit"):
        for _ in range(5):
            metrics.record("Bad", float("nan"))
    lines = [r for r in caplog.records if r.name == "obskit" and "non_finite" in r.getMessage()]
    assert len(lines) == 1
    assert _diag("metrics.dropped.non_finite") == 5


def test_recording_never_raises_whatever_the_arguments(cap: Capture) -> None:
    """Garbage in every argument is absorbed."""
    metrics.record("R", 1.0, unit=None, dimensions=[1, 2], resolution=object())  # type: ignore[arg-type]
    metrics.record("R", 1.0, dimensions=[{"a": "b"}, "x"], properties="nope")  # type: ignore[arg-type]
    metrics.count(object(), dimensions=object())  # type: ignore[arg-type]
    with metrics.timing(None):  # type: ignore[arg-type]
        pass
    metrics.flush()
    assert cap.metric_values("R") == [1.0]


# --- many metrics, many values: split, nothing good lost -------------------------------------------
def test_150_metrics_250_values_40_dimensions_and_bad_values(cap: Capture) -> None:
    """Limits are kept by splitting: every good value arrives, every bad one is counted."""
    dims = {f"D{i}": f"v{i}" for i in range(40)}
    bad = 0
    for m in range(150):
        for v in range(250 if m < 3 else 2):
            metrics.record(f"Metric{m}", float(v), "Count", dimensions=dims)
        metrics.record(f"Metric{m}", float("nan"), "Count", dimensions=dims)
        bad += 1
    metrics.flush()
    assert len(cap.metrics) == 4  # metrics 0-99 in 3 rounds of 100 values, then metrics 100-149
    for doc in cap.metrics:
        assert len(_directive(doc)["Metrics"]) <= 100
        assert len(_directive(doc)["Dimensions"][0]) == 30
    assert sorted(cap.metric_values("Metric0")) == sorted(float(v) for v in range(250))
    assert sum(len(cap.metric_values(f"Metric{m}")) for m in range(150)) == 3 * 250 + 147 * 2
    assert _diag("metrics.dropped.non_finite") == bad


# --- request scope -------------------------------------------------------------------------------
def test_scope_metrics_wait_for_the_end_of_the_request(cap: Capture) -> None:
    """Inside a scope nothing is written until flush_scope."""
    with _Scope():
        metrics.count("InRequest")
        metrics._flush_process()
        assert cap.metrics == []
    metrics.flush()
    assert cap.metric_values("InRequest") == [1]


def test_scope_metrics_are_written_when_the_request_raised(cap: Capture) -> None:
    """flush_scope in the entry point's finally writes what a failing request recorded."""
    def handler() -> None:
        with _Scope():
            metrics.count("BeforeCrash")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        handler()
    metrics.flush()
    assert cap.metric_values("BeforeCrash") == [1]


def test_many_requests_share_one_document_on_a_server(cap: Capture) -> None:
    """Finished requests merge into the process buffer: one document per dimension set."""
    for i in range(50):
        with _Scope():
            metrics.record_request("GET /orders/{id}", float(i), error=i % 10 == 0, fault=False)
    metrics.flush()
    (doc,) = cap.metrics
    assert _directive(doc)["Dimensions"] == [["Service", "Environment"], ["Service", "Environment", "Operation"]]
    assert doc["Operation"] == "GET /orders/{id}"
    assert len(doc["Latency"]) == 50
    assert sum(doc["Error"]) == 5
    assert doc["Fault"] == [0] * 50


def test_record_request_without_operation_uses_only_the_service_set(cap: Capture) -> None:
    """operation=None gives the [Service] (+Environment) set only."""
    metrics.record_request(None, 5.0, error=False, fault=True)
    metrics.flush()
    (doc,) = cap.metrics
    assert _directive(doc)["Dimensions"] == [["Service", "Environment"]]
    assert [m["Name"] for m in _directive(doc)["Metrics"]] == [
        semconv.METRIC_LATENCY, semconv.METRIC_ERROR, semconv.METRIC_FAULT,
    ]
    assert (doc["Latency"], doc["Error"], doc["Fault"]) == (5.0, 0, 1)


def _requests(*outcomes: tuple[float, bool, bool]) -> list[str]:
    """Record one request per ``(latency, error, fault)``, each in its own trace; their trace ids."""
    ids = []
    for latency, error, fault in outcomes:
        ctx = obskit.new_trace(sampled=True)
        ids.append(ctx.trace_id)
        with obskit.activate(ctx), _Scope():
            metrics.record_request("GET /a", latency, error=error, fault=fault)
    return ids


def test_an_aggregated_document_names_its_first_fault(cap: Capture) -> None:
    """A document with Fault=1 among its values leads to the first failed trace, not a healthy one."""
    ids = _requests((1.0, False, False), (900.0, False, False), (3.0, True, False), (4.0, False, True),
                    (5.0, False, True))
    metrics.flush()
    (doc,) = cap.metrics
    assert doc["Fault"] == [0, 0, 0, 1, 1]
    assert doc[semconv.METRIC_PROPERTY_TRACE_ID] == ids[3]


def test_without_a_fault_the_document_names_its_first_error(cap: Capture) -> None:
    """No fault in the interval: the first error (4xx) request is the exemplar."""
    ids = _requests((1.0, False, False), (2.0, True, False), (900.0, False, False), (4.0, True, False))
    metrics.flush()
    (doc,) = cap.metrics
    assert doc[semconv.METRIC_PROPERTY_TRACE_ID] == ids[1]


def test_a_healthy_document_names_its_slowest_request(cap: Capture) -> None:
    """All requests healthy: the slowest one names the document (what a p99 alarm leads to)."""
    ids = _requests((1.0, False, False), (7.0, False, False), (2.0, False, False))
    metrics.flush()
    (doc,) = cap.metrics
    assert doc[semconv.METRIC_PROPERTY_TRACE_ID] == ids[1]
    assert doc["Latency"] == [1.0, 7.0, 2.0]


def test_request_metrics_after_a_write_take_the_next_requests_trace_id(cap: Capture) -> None:
    """After a write, the next document names the trace of the next request, not the old one."""
    with obskit.activate(obskit.new_trace(sampled=True)), _Scope():
        metrics.record_request("GET /a", 1.0, error=False, fault=False)
    metrics.flush()
    second = obskit.new_trace(sampled=True)
    with obskit.activate(second), _Scope():
        metrics.record_request("GET /a", 2.0, error=False, fault=False)
    metrics.flush()
    assert cap.metrics[1][semconv.METRIC_PROPERTY_TRACE_ID] == second.trace_id


def test_request_metrics_with_a_bad_latency_keep_error_and_fault(cap: Capture) -> None:
    """A NaN latency is dropped and counted; the request's Error and Fault are still recorded."""
    with _Scope():
        metrics.record_request("GET /a", float("nan"), error=True, fault=False)
    metrics.flush()
    (doc,) = cap.metrics
    assert "Latency" not in doc
    assert (doc["Error"], doc["Fault"]) == (1, 0)
    assert _diag("metrics.dropped.non_finite") == 1


def test_request_metrics_whose_name_is_taken_with_another_unit_are_counted_every_time(cap: Capture) -> None:
    """If Latency was first recorded with another unit, each request's Latency is dropped and counted."""
    metrics.count(semconv.METRIC_LATENCY)
    for _ in range(3):
        with _Scope():
            metrics.record_request("GET /a", 5.0, error=False, fault=False)
    metrics.flush()
    assert _diag("metrics.dropped.unit_conflict") == 3
    assert sorted(cap.metric_values(semconv.METRIC_FAULT)) == [0, 0, 0]


def test_request_operations_beyond_the_cardinality_limit_become_other() -> None:
    """Operations past metrics_max_dimension_values are recorded under Operation=Other."""
    obskit.configure(service="s", metrics="none", logs="none", metrics_max_dimension_values=2)
    with capture(per_request=False) as cap:
        for i in range(4):
            with _Scope():
                metrics.record_request(f"GET /r{i}", 1.0, error=False, fault=False)
        metrics.flush()
    assert sorted(d["Operation"] for d in cap.metrics) == ["GET /r0", "GET /r1", semconv.OTHER_DIMENSION_VALUE]
    assert sum(len(v) if isinstance(v, list) else 1 for v in cap.metric_values("Latency")) == 4


def test_request_metrics_after_reset_are_validated_again() -> None:
    """A reset forgets cached request keys: a later conflicting unit is caught, not bypassed."""
    obskit.configure(service="s", metrics="none", logs="none")
    with capture() as cap:
        with _Scope():
            metrics.record_request("GET /a", 1.0, error=False, fault=False)
        metrics.flush()
        assert cap.metric_values("Latency") == [1.0]
    obskit.testing.reset()
    obskit.configure(service="s", metrics="none", logs="none")
    with capture() as cap:
        metrics.count(semconv.METRIC_LATENCY)
        with _Scope():
            metrics.record_request("GET /a", 1.0, error=False, fault=False)
        metrics.flush()
        assert cap.metric_values("Latency") == [1]
    assert _diag("metrics.dropped.unit_conflict") == 1


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "charge-fn")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")


@pytest.mark.usefixtures("lambda_env")
def test_in_lambda_flush_scope_writes_at_once() -> None:
    """In Lambda each invocation's documents are written when its scope ends."""
    obskit.configure(service="fn", metrics="none", logs="none")
    with capture() as cap:
        with _Scope():
            metrics.count("Invocations")
        assert cap.metric_values("Invocations") == [1]


@pytest.mark.usefixtures("lambda_env")
def test_in_lambda_each_group_is_one_document_with_trace_id_and_properties() -> None:
    """In Lambda a request's groups are written at once, each with the trace id and its properties."""
    obskit.configure(service="fn", metrics="none", logs="none")
    ctx = obskit.new_trace(sampled=True)
    with capture() as cap:
        with obskit.activate(ctx), _Scope():
            metrics.count("Orders", properties={"order_id": "o-1"})
            metrics.record_request("GET /orders", 3.0, error=False, fault=False)
        docs = {tuple(_directive(d)["Metrics"][0]["Name"] for _ in (0,)): d for d in cap.metrics}
    assert len(cap.metrics) == 2
    orders = docs[("Orders",)]
    assert (orders["Orders"], orders["order_id"]) == (1, "o-1")
    request = docs[("Latency",)]
    assert (request["Latency"], request["Error"], request["Fault"]) == (3.0, 0, 0)
    assert orders[semconv.METRIC_PROPERTY_TRACE_ID] == request[semconv.METRIC_PROPERTY_TRACE_ID] == ctx.trace_id


@pytest.mark.usefixtures("lambda_env")
def test_in_lambda_a_value_recorded_after_the_invocation_is_not_lost() -> None:
    """A thread that records after its invocation ended lands in the process buffer, written on flush."""
    obskit.configure(service="fn", metrics="none", logs="none")
    with capture() as cap:
        s = _Scope()
        with s:
            metrics.count("During")
        token = SCOPE.set(s.scope)
        try:
            metrics.count("After")
        finally:
            SCOPE.reset(token)
        metrics.flush()
    assert cap.metric_values("During") == [1]
    assert cap.metric_values("After") == [1]


@pytest.mark.usefixtures("lambda_env")
def test_cold_start_uses_service_and_function_name() -> None:
    """record_cold_start writes ColdStart=1 under [Service, FunctionName]."""
    obskit.configure(service="fn", metrics="none", logs="none")
    with capture() as cap:
        metrics.record_cold_start()
    (doc,) = cap.metrics
    assert _directive(doc)["Dimensions"] == [["Service", "FunctionName"]]
    assert (doc["FunctionName"], doc["ColdStart"]) == ("charge-fn", 1)


def test_values_recorded_after_the_request_ended_go_to_the_process_buffer(cap: Capture) -> None:
    """A thread outliving its request does not lose its values."""
    s = _Scope()
    with s:
        pass
    token = SCOPE.set(s.scope)
    try:
        metrics.count("Late")
    finally:
        SCOPE.reset(token)
    metrics.flush()
    assert cap.metric_values("Late") == [1]


def test_concurrent_asyncio_requests_keep_separate_accumulators(cap: Capture) -> None:
    """Each task's scope holds only its own values until it ends."""
    seen: dict[str, int] = {}

    async def request(name: str, n: int) -> None:
        with _Scope() as scope:
            for _ in range(n):
                metrics.count("Work", dimensions={"Task": name})
                await asyncio.sleep(0)
            seen[name] = scope.metrics.n

    async def main() -> None:
        await asyncio.gather(request("a", 3), request("b", 5))

    asyncio.run(main())
    metrics.flush()
    assert seen == {"a": 3, "b": 5}
    assert sum(cap.metric_values("Work", {"Task": "a"})) == 3
    assert sum(cap.metric_values("Work", {"Task": "b"})) == 5


def test_threads_recording_at_once_lose_nothing(cap: Capture) -> None:
    """The process buffer is thread-safe: every value of every thread is written."""

    def work() -> None:
        for _ in range(2000):
            metrics.count("Hit")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metrics.flush()
    assert len(cap.metric_values("Hit")) == 16_000


def test_flushing_while_threads_record_loses_nothing(cap: Capture) -> None:
    """Draining the buffer concurrently with lock-free appends keeps every value exactly once."""
    done = threading.Event()

    def work() -> None:
        for i in range(5000):
            metrics.record("Racing", float(i))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()

    def flusher() -> None:
        while not done.is_set():
            metrics.flush()

    f = threading.Thread(target=flusher)
    f.start()
    for t in threads:
        t.join()
    done.set()
    f.join()
    metrics.flush()
    assert len(cap.metric_values("Racing")) == 20_000
    assert len(cap.metrics) > 1


# --- bounds and lifecycle -------------------------------------------------------------------------
def test_size_bound_writes_without_a_flush() -> None:
    """Reaching metrics_max_buffered_values writes the buffer at once."""
    obskit.configure(service="s", metrics="none", logs="none", metrics_max_buffered_values=10,
                     metrics_flush_interval=3600)
    with capture() as cap:
        for i in range(25):
            metrics.record("V", float(i))
        assert len(cap.metric_values("V")) == 20
    assert len(cap.metric_values("V")) == 25


def test_age_bound_writes_without_a_flush() -> None:
    """A background thread writes the process buffer every metrics_flush_interval."""
    obskit.configure(service="s", metrics="none", logs="none", metrics_flush_interval=0.05)
    with capture() as cap:
        metrics.count("Aged")
        deadline = time.monotonic() + 10
        while not cap.metrics and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cap.metric_values("Aged") == [1]


def test_no_thread_is_started_before_the_first_value() -> None:
    """Importing and configuring metrics starts nothing."""
    before = {t.name for t in threading.enumerate()}
    obskit.configure(service="s", metrics="none", logs="none")
    with capture():
        assert "obskit-metrics-flush" not in {t.name for t in threading.enumerate()} - before


@pytest.mark.usefixtures("lambda_env")
def test_no_flusher_thread_in_lambda() -> None:
    """In Lambda the integration flushes per invocation; no thread is left to freeze."""
    obskit.configure(service="fn", metrics="none", logs="none")
    with capture():
        metrics.count("X")
        assert "obskit-metrics-flush" not in {t.name for t in threading.enumerate()}


def test_timing_records_milliseconds_for_a_block(cap: Capture) -> None:
    """timing() as a context manager records the block's duration in Milliseconds."""
    with metrics.timing("Block", dimensions={"Step": "one"}):
        time.sleep(0.002)
    metrics.flush()
    (doc,) = cap.metrics
    assert _directive(doc)["Metrics"] == [{"Name": "Block", "Unit": "Milliseconds"}]
    assert doc["Block"] >= 1.0
    assert doc["Step"] == "one"


def test_timing_decorates_sync_and_async_functions(cap: Capture) -> None:
    """timing() as a decorator records each call, sync or async, and keeps the return value."""

    @metrics.timing("SyncCall")
    def f(x: int) -> int:
        return x + 1

    @metrics.timing("AsyncCall")
    async def g(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert f(1) == 2
    assert f(2) == 3
    assert asyncio.run(g(4)) == 8
    metrics.flush()
    assert len(cap.metric_values("SyncCall")) == 2
    assert len(cap.metric_values("AsyncCall")) == 1


def test_timing_records_also_when_the_block_raises(cap: Capture) -> None:
    """The exception passes through unchanged and the duration is still recorded."""

    @metrics.timing("Failing")
    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    with pytest.raises(ValueError, match="inner"), metrics.timing("FailingBlock"):
        raise ValueError("inner")
    metrics.flush()
    assert len(cap.metric_values("Failing")) == 1
    assert len(cap.metric_values("FailingBlock")) == 1


def test_metrics_none_records_nothing_and_flush_succeeds() -> None:
    """With metrics disabled, recording is a no-op and flush() returns True."""
    obskit.configure(service="s", metrics="none", logs="none")
    metrics.count("Nothing")
    assert metrics.flush() is True
    assert obskit.diagnostics() == {}


def test_reconfiguring_writes_the_old_buffer_to_the_old_emitter(tmp_path: Path) -> None:
    """Values recorded before configure() is called again are written where they were meant to go."""
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    obskit.configure(service="s", metrics="file", logs="none", emf_file_path=str(first))
    metrics.count("Before")
    obskit.configure(service="s", metrics="file", logs="none", emf_file_path=str(second))
    metrics.count("After")
    metrics.flush()
    assert json.loads(first.read_text())["Before"] == 1
    assert json.loads(second.read_text())["After"] == 1


def test_a_name_that_cannot_be_encoded_costs_only_itself(tmp_path: Path) -> None:
    """A lone surrogate in a name is refused when recorded, so the document it would share still goes out."""
    out = tmp_path / "emf.log"
    obskit.configure(service="s", metrics="file", logs="none", emf_file_path=str(out))
    metrics.count("Good")
    metrics.count("Bad\ud800")
    metrics.flush()
    (doc,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert doc["Good"] == 1
    assert _diag("metrics.dropped.invalid_name") == 1
    assert not [k for k in obskit.diagnostics() if k.startswith("emitter.")]


def test_a_forked_child_does_not_write_the_parents_buffer(tmp_path: Path) -> None:
    """After fork the child starts with empty buffers; the parent's values are written once."""
    out = tmp_path / "emf.log"
    obskit.configure(service="s", metrics="file", logs="none", emf_file_path=str(out))
    metrics.count("Parent")

    def child() -> None:
        metrics.count("Child")
        metrics.flush()

    run_in_child(child)
    metrics.flush()
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(k for d in docs for k in ("Parent", "Child") if k in d) == ["Child", "Parent"]


def _count_in_worker() -> None:
    metrics.count("Worker")


def test_a_multiprocessing_worker_writes_its_metrics_before_it_exits(tmp_path: Path) -> None:
    """A forked multiprocessing worker ends with os._exit, past atexit: its buffered values are still written."""
    import multiprocessing

    out = tmp_path / "emf.log"
    obskit.configure(service="s", metrics="file", logs="none", emf_file_path=str(out),
                     metrics_flush_interval=3600)
    worker = multiprocessing.get_context("fork").Process(target=_count_in_worker)
    worker.start()
    worker.join(30)
    assert worker.exitcode == 0
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["Worker"] for d in docs if "Worker" in d] == [1]


def test_metrics_recorded_without_flush_are_written_at_exit() -> None:
    """A process that never calls flush() still writes its metrics on stdout at exit."""
    code = (
        "import obskit.metrics as m; "
        "m.count('AtExit', dimensions={'Job': 'nightly'}); m.record('Rows', 12, 'Count')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSKIT_", "AWS_"))}
    env.update(OBSKIT_SERVICE="batch", OBSKIT_LOGS="none", OBSKIT_METRICS_FLUSH_INTERVAL="3600")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env,
                         timeout=60)
    docs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    for doc in docs:
        assert_emf(doc)
    assert sorted(k for d in docs for k in ("AtExit", "Rows") if k in d) == ["AtExit", "Rows"]
    assert next(d for d in docs if "AtExit" in d)["Job"] == "nightly"
