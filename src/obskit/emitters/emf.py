"""Serialise metric batches as CloudWatch Embedded Metric Format documents and hand them to a sink.

Imports: standard library, ``obskit.config`` parsers, ``obskit.metrics`` types and
``obskit.emitters.sinks``; orjson when installed (imported by the factory, not at import time),
else the standard ``json`` module.

Serialisation is pure (``serialize``: batch in, ``bytes`` documents out); transport is a
``Sink`` (``write(payload)``, ``flush(timeout_s)``, ``close()``), so each is tested alone. A
document is compact JSON ended by ``\\n``: one line for stdout and the agent's TCP stream, one
datagram for UDP. The limits of the CloudWatch EMF specification are kept by splitting, never by dropping:
at most 100 metrics per directive and 100 values per metric (more documents), and a document
larger than the sink accepts (1 MB for CloudWatch Logs, one datagram for UDP) is split again
into smaller ones. Only a single value whose dimensions and properties alone exceed the size is
dropped, after its properties were dropped, and counted.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

from obskit import _diagnostics
from obskit.config import Option, parse_str
from obskit.emitters import sinks

if TYPE_CHECKING:
    from obskit.config import Config
    from obskit.metrics import MetricBatch, MetricGroup

__all__ = [
    "EMFEmitter",
    "create_agent",
    "create_file",
    "create_memory",
    "create_stdout",
    "json_dumps",
    "serialize",
]

OPTIONS: dict[str, Option] = {
    "emf_file_path": Option(None, parse_str, "file the 'file' metric emitter appends EMF lines to"),
    "emf_log_group_name": Option(
        None, parse_str, "log group the CloudWatch agent writes EMF documents to (default '<service>-metrics')"
    ),
    "emf_log_stream_name": Option(None, parse_str, "log stream the CloudWatch agent writes EMF documents to"),
}

MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_EVENT_BYTES = 1_048_576 - 26
"""A CloudWatch Logs event: 1 MB including the 26 bytes PutLogEvents adds per event."""
MAX_DATAGRAM_BYTES = 65_507
"""The largest UDP payload over IPv4."""

Dumps = Callable[[Any], bytes]


def json_dumps() -> Dumps:
    """Compact JSON ending in a newline: orjson when installed (5-15x faster), else ``json``."""
    try:
        import orjson
    except ImportError:
        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

        def dumps(obj: Any) -> bytes:
            return (encoder.encode(obj) + "\n").encode("utf-8")

        return dumps

    # Properties are plain JSON types by the time they get here; anything else makes the
    # encoder raise, and the serialiser then drops the properties (counted), never the values.
    return functools.partial(orjson.dumps, option=orjson.OPT_APPEND_NEWLINE)


def _orjson_with_fragments() -> Any:
    """The ``orjson`` module when it has ``Fragment`` (pre-serialised JSON spliced in as is, 3.9+), else ``None``."""
    try:
        import orjson
    except ImportError:
        return None
    return orjson if hasattr(orjson, "Fragment") else None


class _Definitions:
    """MetricDefinition objects, built once per (name, unit, resolution) and reused."""

    __slots__ = ("cache",)

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str, int], dict[str, Any]] = {}

    def get(self, name: str, unit: str, resolution: int) -> dict[str, Any]:
        key = (name, unit, resolution)
        found = self.cache.get(key)
        if found is None:
            found = {"Name": name, "Unit": unit}
            if resolution == 1:
                found["StorageResolution"] = 1
            if len(self.cache) > 10_000:
                self.cache.clear()
            self.cache[key] = found
        return found


def _documents(
    namespace: str,
    group: MetricGroup,
    dumps: Dumps,
    definitions: _Definitions,
    aws_extra: Mapping[str, Any] | None,
    max_metrics: int,
    max_values: int,
    properties: Mapping[str, Any] | None,
) -> list[bytes]:
    out: list[bytes] = []
    metrics = group.metrics
    head = {"Namespace": namespace, "Dimensions": group.dimension_sets}
    for start in range(0, len(metrics), max_metrics):
        chunk = metrics[start:start + max_metrics]
        rounds = max(-(-len(m[3]) // max_values) for m in chunk)
        for r in range(rounds):
            defs: list[dict[str, Any]] = []
            aws: dict[str, Any] = {"Timestamp": group.timestamp_ms, "CloudWatchMetrics": [{**head, "Metrics": defs}]}
            if aws_extra:
                aws.update(aws_extra)
            doc: dict[str, Any] = {"_aws": aws, **group.dimensions}
            if properties:
                doc.update(properties)
            lo = r * max_values
            for name, unit, resolution, values in chunk:
                part = values if rounds == 1 else values[lo:lo + max_values]
                if not part:
                    continue
                defs.append(definitions.get(name, unit, resolution))
                doc[name] = part[0] if len(part) == 1 else part
            try:
                out.append(dumps(doc))
            except (TypeError, ValueError):  # a property the encoder cannot write
                if not properties:
                    raise
                for key in properties:
                    doc.pop(key, None)
                _diagnostics.incr("metrics.clipped.property_unserializable")
                _diagnostics.report_once(
                    "metrics.clipped.property_unserializable",
                    "obskit: EMF properties dropped from a document: they are not JSON-serialisable",
                )
                out.append(dumps(doc))
    return out


_GroupParts = tuple[int, dict[str, str], list[list[str]], list[tuple[str, str, int, list[float | int]]],
                    dict[str, Any] | None]
"""A ``MetricGroup``'s fields as a plain tuple (a ``MetricGroup`` is one)."""


def _single(
    namespace: str,
    group: _GroupParts,
    dumps: Dumps,
    definitions: _Definitions,
    aws_extra: Mapping[str, Any] | None,
    max_metrics: int,
    max_values: int,
    max_bytes: int,
    directive: Any = None,
) -> bytes | None:
    """The usual case, fast: the whole group in one document; ``None`` when it needs splitting.

    ``directive``: the group's ``CloudWatchMetrics`` list already serialised (an
    ``orjson.Fragment``), instead of building it from the definitions.
    """
    timestamp_ms, dims, sets, metrics, properties = group
    if len(metrics) > max_metrics:
        return None
    if directive is None:
        defs: list[dict[str, Any]] | None = []
        directive = [{"Namespace": namespace, "Dimensions": sets, "Metrics": defs}]
    else:
        defs = None
    aws: dict[str, Any] = {"Timestamp": timestamp_ms, "CloudWatchMetrics": directive}
    if aws_extra:
        aws.update(aws_extra)
    doc: dict[str, Any] = {"_aws": aws, **dims}
    if properties:
        doc.update(properties)
    cache = definitions.cache
    for name, unit, resolution, values in metrics:
        if len(values) > max_values:
            return None
        if defs is not None:
            definition = cache.get((name, unit, resolution))
            defs.append(definition if definition is not None else definitions.get(name, unit, resolution))
        doc[name] = values[0] if len(values) == 1 else values
    try:
        payload = dumps(doc)
    except (TypeError, ValueError):
        return None  # a property the encoder cannot write: the general path drops it
    return payload if len(payload) <= max_bytes else None


def serialize(
    batch: MetricBatch,
    *,
    dumps: Dumps | None = None,
    aws_extra: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
    max_metrics: int = MAX_METRICS_PER_DIRECTIVE,
    max_values: int = MAX_VALUES_PER_METRIC,
    _definitions: _Definitions | None = None,
) -> list[bytes]:
    """Turn a validated batch into EMF documents, one ``bytes`` line each.

    Args:
        batch: what ``obskit.metrics`` buffered, already valid value by value.
        dumps: the JSON encoder (``json_dumps()`` by default).
        aws_extra: members added to each ``_aws`` object (``LogGroupName`` for the agent).
        max_bytes: the largest document the sink accepts; larger ones are split further.
        max_metrics: metrics per directive (CloudWatch's limit is 100).
        max_values: values per metric per document (CloudWatch's limit is 100).

    Returns:
        The documents, each compact JSON ending in ``\\n``. Nothing valid is left out: a
        group is split into as many documents as the limits require.
    """
    dumps = dumps or json_dumps()
    definitions = _definitions or _Definitions()
    out: list[bytes] = []
    namespace = batch.namespace
    for group in batch.groups:
        payload = _single(namespace, group, dumps, definitions, aws_extra, max_metrics, max_values, max_bytes)
        if payload is not None:
            out.append(payload)
            continue
        docs = _documents(batch.namespace, group, dumps, definitions, aws_extra, max_metrics, max_values,
                          group.properties)
        if all(len(d) <= max_bytes for d in docs):
            out.extend(docs)
            continue
        out.extend(_split_oversized(batch.namespace, group, dumps, definitions, aws_extra, max_bytes,
                                    max_metrics, max_values))
    return out


def _split_oversized(
    namespace: str,
    group: MetricGroup,
    dumps: Dumps,
    definitions: _Definitions,
    aws_extra: Mapping[str, Any] | None,
    max_bytes: int,
    max_metrics: int,
    max_values: int,
) -> list[bytes]:
    """Halve the metrics, then the values, per document until every document fits."""
    properties = group.properties
    while True:
        docs = _documents(namespace, group, dumps, definitions, aws_extra, max_metrics, max_values, properties)
        if all(len(d) <= max_bytes for d in docs):
            return docs
        if max_metrics > 1:
            max_metrics = max(1, max_metrics // 2)
        elif max_values > 1:
            max_values = max(1, max_values // 2)
        elif properties:
            properties = None
            _diagnostics.incr("metrics.clipped.properties_too_large")
            _diagnostics.report_once(
                "metrics.clipped.properties_too_large",
                "obskit: EMF properties dropped: one value with them exceeds %d bytes", max_bytes,
            )
        else:
            kept = [d for d in docs if len(d) <= max_bytes]
            lost = len(docs) - len(kept)
            _diagnostics.incr("metrics.dropped.document_too_large", lost)
            _diagnostics.report_once(
                "metrics.dropped.document_too_large",
                "obskit: dropped %d EMF document(s): their dimensions alone exceed %d bytes", lost, max_bytes,
            )
            return kept


def _one_group(namespace: str, group: MetricGroup) -> MetricBatch:
    from obskit.metrics import MetricBatch

    return MetricBatch(namespace, [group])


def _one_batch(
    namespace: str,
    timestamp_ms: int,
    dims: dict[str, str],
    sets: list[list[str]],
    metrics: list[tuple[str, str, int, list[float | int]]],
    properties: dict[str, Any] | None,
) -> MetricBatch:
    from obskit.metrics import MetricBatch, MetricGroup

    return MetricBatch(namespace, [MetricGroup(timestamp_ms, dims, sets, metrics, properties)])


class EMFEmitter:
    """A ``MetricEmitter`` writing EMF documents to one ``Sink``.

    Args:
        sink: the transport (``write(payload)``, ``flush(timeout_s)``, ``close()``).
        name: shown in diagnostics (``emitter.<name>.emit_failure``).
        aws_extra: members added to each ``_aws`` object.
        max_bytes: the largest document the sink accepts.
    """

    __slots__ = (
        "_aws_extra", "_definitions", "_directives", "_dumps", "_fragment", "_heads", "_max_bytes", "_number",
        "_stdout", "name", "sink",
    )

    def __init__(
        self,
        sink: Any,
        *,
        name: str = "emf",
        aws_extra: Mapping[str, Any] | None = None,
        max_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.sink = sink
        self.name = name
        self._aws_extra = dict(aws_extra) if aws_extra else None
        self._max_bytes = max_bytes
        self._dumps = json_dumps()
        self._definitions = _Definitions()
        self._heads: dict[tuple[Any, ...], tuple[dict[str, str], list[list[str]], str, str, str]] = {}
        """Serialised constant parts of one-metric documents (see ``_head``)."""
        self._directives: dict[tuple[Any, ...], tuple[list[list[str]], str, Any]] = {}
        """Serialised ``CloudWatchMetrics`` directives of several-metric documents, by shape (see ``_directive``)."""
        orjson = _orjson_with_fragments() if self._dumps.__class__ is functools.partial else None
        self._fragment: Any = None if orjson is None else orjson.Fragment
        self._number = None if orjson is None else orjson.dumps
        """``orjson.dumps`` without options: a number as JSON in half the time of ``repr``."""
        self._stdout = sink.__class__ is sinks.StdoutSink
        """Documents go to stdout as text (``StdoutSink.write_text``), never encoded to bytes and back."""

    def emit_single(
        self,
        namespace: str,
        timestamp_ms: int,
        dims: dict[str, str],
        sets: list[list[str]],
        metrics: list[tuple[str, str, int, list[float | int]]],
        properties: dict[str, Any] | None,
        shape: Hashable | None = None,
    ) -> None:
        """Write one group: what ``emit`` does for a one-group batch, without building the batch.

        ``obskit.metrics`` calls it when its buffer holds a single dimension set (a Lambda
        invocation, a CLI run), the common case; anything that needs splitting goes through
        ``emit``'s general path. ``shape``: a key that stands for the metrics' names, units and
        resolutions in order (``obskit.metrics`` passes an epoch and the names); it lets a
        document of several metrics reuse its serialised directive.
        """
        if len(metrics) == 1:
            text = self._one_metric_text(namespace, timestamp_ms, dims, sets, metrics, properties)
            if text is not None:
                self._write_text(text)
                return
        else:
            directive = None
            if shape is not None and self._fragment is not None:
                directive = self._directive(shape, namespace, sets, metrics)
            payload = _single(namespace, (timestamp_ms, dims, sets, metrics, properties), self._dumps,
                              self._definitions, self._aws_extra, MAX_METRICS_PER_DIRECTIVE, MAX_VALUES_PER_METRIC,
                              self._max_bytes, directive)
            if payload is not None:
                self.sink.write(payload)  # bytes: the stdout sink decodes them itself
                return
        self.emit(_one_batch(namespace, timestamp_ms, dims, sets, metrics, properties))

    def _one_metric_text(
        self,
        namespace: str,
        timestamp_ms: int,
        dims: dict[str, str],
        sets: list[list[str]],
        metrics: list[tuple[str, str, int, list[float | int]]],
        properties: dict[str, Any] | None,
    ) -> str | None:
        """The document of a one-metric group, from the cached head; ``None`` when ``emit``'s general path must decide.

        That is: more than 100 values (split), a property that repeats a member's name or that
        the encoder cannot write, or a document larger than the sink takes.
        """
        name, unit, resolution, values = metrics[0]
        n = len(values)
        if n == 1:
            value = values[0]
            cls = value.__class__
            if cls is float or cls is int:
                number = self._number
                body = repr(value) if number is None else number(value).decode()  # orjson's is the faster
            else:
                body = self._dumps(value)[:-1].decode()
        elif n <= MAX_VALUES_PER_METRIC:
            body = self._dumps(values)[:-1].decode()
        else:
            return None
        key = (id(sets), name, unit, resolution)
        found = self._heads.get(key)
        if found is None or found[0] is not dims or found[1] is not sets or found[2] != namespace:
            found = self._head(key, namespace, dims, sets, metrics)
        head = found[3]
        name_part = found[4]
        if properties:
            if name in properties or not properties.keys().isdisjoint(dims):
                return None  # ``emit`` resolves a property that repeats a member's name (callers filter)
            try:
                props = self._dumps(properties)[1:-2].decode()
            except (TypeError, ValueError):  # a property the encoder cannot write: the general path drops it
                return None
            if props:
                name_part = "," + props + name_part
        text = f'{{"_aws":{{"Timestamp":{timestamp_ms}{head}{name_part}{body}}}\n'
        if len(text) > self._max_bytes // 4 and len(text.encode()) > self._max_bytes:
            return None
        return text

    def _write_text(self, text: str) -> None:
        if self._stdout:
            self.sink.write_text(text)  # stdout takes text: no encoding to bytes and back
        else:
            self.sink.write(text.encode())

    def _head(
        self,
        key: tuple[Any, ...],
        namespace: str,
        dims: dict[str, str],
        sets: list[list[str]],
        metrics: list[tuple[str, str, int, list[float | int]]],
    ) -> tuple[dict[str, str], list[list[str]], str, str, str]:
        """The constant text of a one-metric document: everything but its timestamp, properties and value.

        Such a document is ``{"_aws":{"Timestamp":T,"CloudWatchMetrics":[...]},<dimensions>,
        <properties>,"Name":value}``; all of it but T, the properties and the value is the same
        from flush to flush of the same metric, so it is serialised once and kept (keyed by the
        identity of the cached dimension sets, which it holds on to with the dimensions and the
        namespace it was built for, and checks). Writing the rest by hand is half the work of
        building and encoding the whole document (bench_metrics, flush(1)).
        """
        dumps = self._dumps
        name, unit, resolution, _ = metrics[0]
        aws = {"CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": sets,
                                      "Metrics": [self._definitions.get(name, unit, resolution)]}]}
        if self._aws_extra:
            aws.update(self._aws_extra)
        members = dumps(dims)[1:-2].decode()
        head = "," + dumps(aws)[1:-2].decode() + "}" + ("," + members if members else "")
        if len(self._heads) >= 1024:
            self._heads.clear()
        found = self._heads[key] = (dims, sets, namespace, head, "," + dumps(name)[:-1].decode() + ":")
        return found

    def _directive(
        self, shape: Hashable, namespace: str, sets: list[list[str]],
        metrics: list[tuple[str, str, int, list[float | int]]],
    ) -> Any:
        """The ``CloudWatchMetrics`` list of a several-metric document, serialised once per shape.

        Spliced in as an ``orjson.Fragment``: per document only the timestamp, members and
        values are encoded (bench_metrics, flush(10)).
        """
        key = (id(sets), shape)
        found = self._directives.get(key)
        if found is None or found[0] is not sets or found[1] != namespace:
            defs = [self._definitions.get(name, unit, resolution) for name, unit, resolution, _ in metrics]
            encoded = self._dumps([{"Namespace": namespace, "Dimensions": sets, "Metrics": defs}])
            directive = self._fragment(encoded[:-1])
            if len(self._directives) >= 1024:
                self._directives.clear()
            found = self._directives[key] = (sets, namespace, directive)
        return found[2]

    def emit(self, batch: MetricBatch) -> None:
        """Serialise the batch and write each document to the sink."""
        write = self.sink.write
        namespace = batch.namespace
        for group in batch.groups:
            if len(group.metrics) == 1:
                text = self._one_metric_text(namespace, *group)
                if text is not None:
                    self._write_text(text)
                    continue
            payload = _single(namespace, group, self._dumps, self._definitions, self._aws_extra,
                              MAX_METRICS_PER_DIRECTIVE, MAX_VALUES_PER_METRIC, self._max_bytes)
            if payload is not None:
                write(payload)
                continue
            for payload in serialize(_one_group(namespace, group), dumps=self._dumps, aws_extra=self._aws_extra,
                                     max_bytes=self._max_bytes, _definitions=self._definitions):
                write(payload)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until the sink has delivered what it holds (bounded by ``timeout_s``)."""
        return self.sink.flush(timeout_s) is not False

    def close(self) -> None:
        self.sink.close()

    def after_fork(self) -> None:
        """In a child process: give the sink fresh locks, queues and sockets."""
        after = getattr(self.sink, "after_fork", None)
        if after is not None:
            after()


# --- factories (the built-in table of obskit._pipeline) ----------------------------------------
def create_stdout(config: Config) -> EMFEmitter:
    """EMF on standard output: Lambda, and containers whose stdout goes to CloudWatch Logs."""
    return EMFEmitter(sinks.StdoutSink(), name="emf.stdout")


def create_file(config: Config) -> EMFEmitter:
    """EMF lines appended to ``emf_file_path`` (for an agent or a log shipper tailing it).

    Raises:
        ConfigError: the option is missing or its directory does not exist.
    """
    return EMFEmitter(sinks.FileSink.from_config(config), name="emf.file")


def create_agent(config: Config) -> EMFEmitter:
    """EMF to the CloudWatch agent over TCP or UDP (``emf_agent_endpoint``, default tcp port 25888).

    The documents carry ``_aws.LogGroupName`` (``emf_log_group_name``, default
    ``<service>-metrics``, as aws-embedded-metrics does) and ``LogStreamName`` when set. Sending
    happens on a background thread; the request path only appends to a bounded queue.
    """
    sink = sinks.AgentSink.from_config(config)
    extra = {"LogGroupName": config.option("emf_log_group_name") or f"{config.service}-metrics"}
    stream = config.option("emf_log_stream_name")
    if stream:
        extra["LogStreamName"] = stream
    max_bytes = MAX_DATAGRAM_BYTES if sink.scheme == "udp" else MAX_EVENT_BYTES
    return EMFEmitter(sink, name=f"emf.agent.{sink.scheme}", aws_extra=extra, max_bytes=max_bytes)


def create_memory(config: Config, documents: list[dict[str, Any]]) -> EMFEmitter:
    """EMF documents appended to ``documents`` as dicts, parsed from the bytes a sink would get."""
    return EMFEmitter(sinks.MemorySink(documents), name="emf.memory")
