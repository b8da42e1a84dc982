"""obskit.emitters.emf: EMF documents that validate, split at the limits, and match aws-embedded-metrics."""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

import obskit
from _emf_schema import assert_emf
from obskit import metrics
from obskit.emitters import emf
from obskit.metrics import MetricBatch, MetricGroup
from obskit.testing import capture

TS = 1_700_000_000_000


def _group(
    metrics_: list[tuple[str, str, int, list[Any]]],
    dims: dict[str, str] | None = None,
    sets: list[list[str]] | None = None,
    props: dict[str, Any] | None = None,
) -> MetricGroup:
    dims = {"Service": "svc"} if dims is None else dims
    return MetricGroup(TS, dims, sets or [list(dims)], metrics_, props)


def _parse(payloads: Iterable[bytes]) -> list[dict[str, Any]]:
    out = []
    for p in payloads:
        assert p.endswith(b"\n")
        assert p.count(b"\n") == 1
        out.append(json.loads(p))
    return out


def test_a_single_value_is_a_scalar_and_several_are_an_array() -> None:
    """One value is written as a number, more as an array (both valid EMF)."""
    batch = MetricBatch("ns", [_group([("A", "Count", 60, [1]), ("B", "Milliseconds", 1, [1.5, 2.5])])])
    (doc,) = _parse(emf.serialize(batch))
    assert_emf(doc)
    assert (doc["A"], doc["B"]) == (1, [1.5, 2.5])
    assert doc["_aws"]["Timestamp"] == TS
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "A", "Unit": "Count"}, {"Name": "B", "Unit": "Milliseconds", "StorageResolution": 1},
    ]


def test_documents_are_compact_single_lines() -> None:
    """No spaces after separators and exactly one newline, at the end."""
    batch = MetricBatch("ns", [_group([("A", "Count", 60, [1, 2])], props={"note": "a b"})])
    (payload,) = emf.serialize(batch)
    assert b", " not in payload
    assert b": " not in payload
    assert payload.endswith(b"}\n")


def test_more_than_100_metrics_and_values_split_into_more_documents() -> None:
    """150 metrics with 250 values each: every document within limits, every value present."""
    ms = [(f"M{i}", "Count", 60, list(range(250))) for i in range(150)]
    docs = _parse(emf.serialize(MetricBatch("ns", [_group(ms)])))
    assert len(docs) == 6
    got: Counter[str] = Counter()
    for doc in docs:
        assert_emf(doc)
        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = doc[m["Name"]]
            got[m["Name"]] += len(value) if isinstance(value, list) else 1
    assert got == {f"M{i}": 250 for i in range(150)}


def test_a_document_larger_than_the_sink_accepts_is_split_again() -> None:
    """With a 2 KB ceiling (a stand-in for a datagram) nothing is lost, every piece fits."""
    ms = [(f"Metric{i}", "Count", 60, [float(v) + 0.123456789 for v in range(100)]) for i in range(20)]
    payloads = emf.serialize(MetricBatch("ns", [_group(ms)]), max_bytes=2048)
    assert all(len(p) <= 2048 for p in payloads)
    docs = _parse(payloads)
    total = sum(len(d[n]) if isinstance(d[n], list) else 1 for d in docs for n in d if n.startswith("Metric"))
    assert total == 2000


def test_properties_too_large_for_the_sink_are_dropped_and_values_kept() -> None:
    """A property that alone exceeds the size is dropped (counted); the value still goes out."""
    batch = MetricBatch("ns", [_group([("A", "Count", 60, [1])], props={"blob": "x" * 5000})])
    (doc,) = _parse(emf.serialize(batch, max_bytes=1024))
    assert doc["A"] == 1
    assert "blob" not in doc
    assert obskit.diagnostics()["metrics.clipped.properties_too_large"] == 1


def test_a_document_whose_dimensions_alone_are_too_large_is_dropped_and_counted() -> None:
    """Only when a single value cannot fit is the document dropped, and counted."""
    dims = {f"D{i}": "v" * 1024 for i in range(5)}
    batch = MetricBatch("ns", [_group([("A", "Count", 60, [1])], dims=dims)])
    assert emf.serialize(batch, max_bytes=2048) == []
    assert obskit.diagnostics()["metrics.dropped.document_too_large"] == 1


def test_an_unserialisable_property_is_dropped_not_the_document() -> None:
    """A property the encoder rejects costs the property, never the metrics."""
    batch = MetricBatch("ns", [_group([("A", "Count", 60, [1])], props={"bad": {1: {2: 3}}, "ok": "y"})])
    docs = _parse(emf.serialize(batch))
    assert docs[0]["A"] == 1
    assert obskit.diagnostics()["metrics.clipped.property_unserializable"] == 1


def test_stdlib_json_fallback_writes_the_same_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without orjson the standard json module produces the same parsed documents."""
    batch = MetricBatch("ns", [_group([("A", "Count", 60, [1, 2.5]), ("B", "None", 60, [3])], props={"p": "é"})])
    fast = _parse(emf.serialize(batch))
    monkeypatch.setitem(sys.modules, "orjson", None)
    slow_dumps = emf.json_dumps()
    slow = _parse(emf.serialize(batch, dumps=slow_dumps))
    assert fast == slow
    assert b", " not in slow_dumps({"a": 1, "b": [1, 2]})


def test_multiple_dimension_sets_reference_root_members() -> None:
    """Each dimension set is a list of keys whose values are root members."""
    dims = {"Service": "svc", "Operation": "GET /x"}
    batch = MetricBatch("ns", [_group([("Latency", "Milliseconds", 60, [1.0])], dims=dims,
                                      sets=[["Service"], ["Service", "Operation"]])])
    (doc,) = _parse(emf.serialize(batch))
    assert_emf(doc)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"], ["Service", "Operation"]]


# --- differential test against aws-embedded-metrics ----------------------------------------------
def _facts(docs: Iterable[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """(namespace, dimension set with values, metric, unit, value) for every value a document carries."""
    out: Counter[tuple[Any, ...]] = Counter()
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dim_set in directive["Dimensions"]:
                dims = tuple(sorted((k, doc[k]) for k in dim_set))
                for m in directive["Metrics"]:
                    value = doc[m["Name"]]
                    for v in value if isinstance(value, list) else [value]:
                        out[(directive["Namespace"], dims, m["Name"], m.get("Unit", "None"), float(v))] += 1
    return out


def _reference(namespace: str, dims: dict[str, str], data: list[tuple[str, float, str]]) -> list[dict[str, Any]]:
    from aws_embedded_metrics.logger.metrics_context import MetricsContext
    from aws_embedded_metrics.serializers.log_serializer import LogSerializer

    ctx = MetricsContext.empty()
    ctx.namespace = namespace
    ctx.set_dimensions([dims])
    for name, value, unit in data:
        ctx.put_metric(name, value, unit)
    return [json.loads(line) for line in LogSerializer.serialize(ctx)]


@pytest.mark.parametrize(
    "shape",
    ["one", "ten", "many_values", "many_metrics"],
)
def test_same_data_gives_the_same_metrics_as_aws_embedded_metrics(shape: str) -> None:
    """For the same recorded data both libraries yield the same (namespace, dims, metric, unit, values)."""
    data: list[tuple[str, float, str]]
    if shape == "one":
        data = [("Latency", 12.5, "Milliseconds")]
    elif shape == "ten":
        data = [(f"M{i}", float(i), "Count") for i in range(10)]
    elif shape == "many_values":
        data = [("Latency", float(v) / 3, "Milliseconds") for v in range(250)] + [("Bytes", 1.0, "Bytes")]
    else:
        data = [(f"Metric{i}", float(v), "Count") for i in range(150) for v in range(3)]
    extra = {"Operation": "GET /orders/{id}", "Region": "eu-west-1"}
    obskit.configure(service="checkout", namespace="shop", metrics="none", logs="none", metrics_trace_id=False)
    with capture() as cap:
        for name, value, unit in data:
            metrics.record(name, value, unit, dimensions=extra)
    for doc in cap.metrics:
        assert_emf(doc)
    expected = _reference("shop", {"Service": "checkout", **extra}, data)
    assert _facts(cap.metrics) == _facts(expected)
    assert len(_facts(cap.metrics)) > 0


@pytest.mark.parametrize("group", [
    _group([("A", "Count", 60, [1])]),
    _group([("A", "Count", 60, [1, 2]), ("B", "Milliseconds", 1, [1.5])], props={"note": "x"}),
    _group([("A", "Count", 60, list(range(250)))]),
    _group([(f"M{i}", "Count", 60, [i]) for i in range(150)]),
    _group([("A", "Count", 60, [1])], props={"bad": object()}),
    _group([("A", "Count", 60, [1e16])]),
    _group([("A", "None", 1, [5e-324])], props={"trace_id": "1-abc", "n": [1, 2]}),
    _group([("A", "None", 60, [-0.0])], dims={}, sets=[[]]),
    _group([("A", "None", 60, [2**53])], dims={"Service": "q\"b\\t\t", "Operation": "GET /a"}),
    _group([("A", "None", 60, [1.5] * 100)], props={"Service": "forged"}),
    _group([("Service", "None", 60, [1.5])], dims={"Operation": "o"}, props={"Service": "x"}),
])
def test_emit_single_writes_what_emit_writes(group: MetricGroup) -> None:
    """The one-group shortcut writes the same documents as ``emit`` of a one-group batch, splits included."""
    single: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    emitter = emf.create_memory(obskit.config.current_config(), single)
    emitter.emit_single("ns", *group)
    emitter.emit_single("ns", *group)  # the second time from the cached document head
    emf.create_memory(obskit.config.current_config(), batch).emit(MetricBatch("ns", [group]))
    assert single == batch * 2
    # the pure serialiser builds every document as a dict: the reference for the cached-head text
    reference = [json.loads(doc) for doc in emf.serialize(MetricBatch("ns", [group]))]
    assert batch == reference
    assert len(single) >= 2
    for doc in single:
        assert_emf(doc)


def test_emit_single_keeps_namespace_and_agent_members_apart() -> None:
    """The cached head of a one-metric document belongs to one namespace and carries ``_aws`` extras."""
    docs: list[dict[str, Any]] = []
    emitter = emf.EMFEmitter(emf.sinks.MemorySink(docs), aws_extra={"LogGroupName": "svc-metrics"})
    group = _group([("A", "Count", 60, [1])])
    emitter.emit_single("one", *group)
    emitter.emit_single("two", *group)
    assert [d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in docs] == ["one", "two"]
    assert {d["_aws"]["LogGroupName"] for d in docs} == {"svc-metrics"}
    assert [d["A"] for d in docs] == [1, 1]


def test_an_int_subclass_is_written_as_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    """An IntEnum value reaches the document as a plain JSON number, on the one-metric fast path too."""
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    obskit.configure(service="svc", metrics="stdout", logs="none", traces="none")
    metrics.record("Level", Level.HIGH)
    metrics.flush()
    line = capsys.readouterr().out.strip()
    assert json.loads(line)["Level"] == 3
    assert '"Level":3' in line


def test_emit_single_to_a_closed_stdout_counts_the_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken stdout never raises from the one-group shortcut: the document is dropped and counted."""
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)
    emf.create_stdout(obskit.config.current_config()).emit_single("ns", *_group([("A", "Count", 60, [1])]))
    assert obskit.diagnostics().get("metrics.dropped.stdout_failure") == 1


def test_documents_of_several_metrics_reuse_their_directive_and_stay_exact(capsys: pytest.CaptureFixture[str]) -> None:
    """Flushing the same metrics again writes the same directive; new units after reset() are honoured."""
    obskit.configure(service="svc", metrics="stdout", logs="none", traces="none")
    for latency in (12.5, 7.0):
        metrics.record("Latency", latency, "Milliseconds")
        metrics.count("Hits")
        metrics.flush()
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    for doc in (first, second):
        assert_emf(doc)
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Metrics"] == [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Hits", "Unit": "Count"}]
        assert doc["Hits"] == 1
    assert (first["Latency"], second["Latency"]) == (12.5, 7.0)
    obskit.testing.reset()
    obskit.configure(service="svc", metrics="stdout", logs="none", traces="none")
    metrics.record("Latency", 1.0, "Seconds")
    metrics.record("Hits", 2, "None", resolution=1)
    metrics.flush()
    (doc,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "Latency", "Unit": "Seconds"}, {"Name": "Hits", "Unit": "None", "StorageResolution": 1},
    ]


@pytest.mark.parametrize("group", [
    _group([("A", "Milliseconds", 60, [12.5])]),
    _group([("A", "Count", 60, [1, 2, 3])], props={"trace_id": "1-x"}),
    _group([("A", "Count", 60, [1]), ("B", "Seconds", 1, [0.25, 0.5])], props={"note": "é"}),
])
def test_emitter_shortcuts_without_orjson_write_the_same_documents(
    monkeypatch: pytest.MonkeyPatch, group: MetricGroup
) -> None:
    """Cached heads and directives work with the standard json module too, document for document."""
    fast: list[dict[str, Any]] = []
    emitter = emf.EMFEmitter(emf.sinks.MemorySink(fast))
    assert emitter._number is not None
    assert emitter._fragment is not None
    for _ in range(2):
        emitter.emit_single("ns", *group, shape=("shape",))
    monkeypatch.setitem(sys.modules, "orjson", None)
    slow: list[dict[str, Any]] = []
    fallback = emf.EMFEmitter(emf.sinks.MemorySink(slow))
    assert fallback._number is None
    assert fallback._fragment is None
    for _ in range(2):
        fallback.emit_single("ns", *group, shape=("shape",))
    assert slow == fast
    assert len(fast) == 2
