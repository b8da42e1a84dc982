"""Record CloudWatch metrics: count/record/timing/flush, validated at record time, aggregated, never lost.

Imports: standard library and obskit's stdlib-only core (``_context``, ``_diagnostics``,
``_pipeline``, ``semconv``, ``config`` parsers). The EMF serialiser and the sinks live in
``obskit.emitters``; this module hands them a ``MetricBatch`` through ``_pipeline``.

Where a value goes:

- **Inside a request scope** (``obskit._context.SCOPE`` set by middleware or the Lambda
  decorator) it goes to that request's accumulator, created on first use. The entry point
  calls ``flush_scope`` once when the request ends, also when it raised: in Lambda the
  documents are written at once; on a server they are merged into the process buffer, so many
  requests share one document per dimension set (values as arrays) and a busy app writes a
  few lines per flush interval, not one per request.
- **Outside a scope** it goes to the per-process buffer, written on ``flush()``, when it holds
  ``metrics_max_buffered_values`` values, every ``metrics_flush_interval`` seconds (a daemon
  thread started on first use, never at import, and never in Lambda, where the integration
  flushes per invocation), and at interpreter exit.

Every datum is checked here, cheaply, so that every document obskit writes is one CloudWatch
accepts: finite numbers within the API range, names of 1-255 characters, a unit from the
CloudWatch enum, one unit and one storage resolution per metric name, at most 30 dimensions,
dimension values of 1-1024 non-blank ASCII characters, and at most
``metrics_max_dimension_values`` distinct values per dimension key per process (the rest
become ``semconv.OTHER_DIMENSION_VALUE``). Bad input never raises: the datum is dropped (or
the dimension clipped), counted in ``obskit.diagnostics()`` under ``metrics.dropped.<reason>``
or ``metrics.clipped.<reason>`` and reported once on the ``obskit`` logger.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Container, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple, TypeVar

from obskit import _diagnostics, _pipeline, semconv
from obskit._context import CURRENT, SCOPE, RequestScope
from obskit.config import Option, parse_bool, parse_number, parse_optional_str
from obskit.context import is_coroutine_function
from obskit.errors import ConfigError
from obskit.ids import INVALID_TRACE_ID

__all__ = [
    "MetricBatch",
    "MetricGroup",
    "count",
    "flush",
    "flush_scope",
    "record",
    "record_cold_start",
    "record_request",
    "single_metric",
    "timing",
]

F = TypeVar("F", bound=Callable[..., Any])

def _parse_default_dimensions(name: str, value: Any) -> Mapping[str, str]:
    """``{"Team": "payments"}`` or ``"Team=payments,Tier=gold"``: checked as CloudWatch checks a dimension."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"{name}={value!r}: expected 'Key=value' pairs separated by commas")
        value = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, Mapping):
        raise ConfigError(f"configure({name}={value!r}): expected a mapping of dimension names to values")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k.strip() or len(k) > MAX_NAME or not k.isascii() or k.startswith(":") \
                or k == "_aws":
            raise ConfigError(f"{name}: {k!r} is not a dimension name (1-{MAX_NAME} ASCII characters, "
                              "not starting with ':')")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v.strip() or not v.isascii() or len(v) > MAX_DIMENSION_VALUE:
            raise ConfigError(f"{name}: the value of {k!r} must be 1-{MAX_DIMENSION_VALUE} ASCII characters, "
                              f"not {v!r}")
        out[k] = v
    if len(out) > MAX_DIMENSIONS - 2:
        raise ConfigError(f"{name}: at most {MAX_DIMENSIONS - 2} default dimensions (a dimension set holds "
                          f"{MAX_DIMENSIONS} keys, Service and Environment included)")
    return MappingProxyType(out)


_DIMENSION_NAMES = ("obskit", "powertools")


def _parse_dimension_names(name: str, value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in _DIMENSION_NAMES:
        return value.strip().lower()
    raise ConfigError(f"{name}={value!r}: expected 'obskit' (Service, FunctionName) or 'powertools' "
                      "(service, function_name)")


OPTIONS: dict[str, Option] = {
    "metrics_flush_interval": Option(
        1.0, parse_number(0.01, 3600.0),
        "seconds between writes of the process buffer (the age bound) and pushes of stdout to its pipe",
    ),
    "sigterm_flush": Option(
        True, parse_bool,
        "flush on SIGTERM when its handler is the default one (chained: obskit flushes, then the default "
        "action ends the process); never replaces a handler someone installed",
    ),
    "metrics_max_buffered_values": Option(
        10_000, parse_number(1, 10_000_000, integer=True),
        "values the process buffer (or one request) holds before it is written (the size bound)",
    ),
    "metrics_max_dimension_values": Option(
        1000, parse_number(1, 10_000_000, integer=True),
        "distinct values per dimension key per process; later ones become 'Other' (cardinality guard)",
    ),
    "metrics_max_names": Option(
        1000, parse_number(1, 10_000_000, integer=True),
        "distinct metric names per process; later names are dropped and counted",
    ),
    "metrics_trace_id": Option(
        True, parse_bool,
        "add the trace id of the request as a trace_id property to each document (metric -> trace)",
    ),
    "metrics_default_dimensions": Option(
        MappingProxyType({}), _parse_default_dimensions,
        "dimensions added to every metric after Service (and Environment): a mapping, or 'Key=value,...' "
        "in the environment; a call's own dimensions override them",
    ),
    "metrics_dimension_names": Option(
        "obskit", _parse_dimension_names,
        "'obskit' (Service, FunctionName) or 'powertools' (service, function_name, and ColdStart written "
        "as Powertools writes it), so existing dashboards and alarms keep matching",
    ),
    "metrics_cold_start": Option(True, parse_bool, "record the ColdStart metric on a Lambda cold start"),
    "metrics_function_name": Option(
        None, parse_optional_str, "the FunctionName dimension of ColdStart (default: the Lambda function's name)",
    ),
    "metrics_warn_empty": Option(
        False, parse_bool,
        "log a warning when a Lambda invocation records no metric of its own (never raises)",
    ),
}

# --- limits (CloudWatch EMF) ---------------------------------------------------------------
MAX_NAME = 255
"""CloudWatch API ``MetricName`` and dimension ``Name``: 1 to 255 characters."""
MAX_DIMENSION_VALUE = 1024
MAX_DIMENSIONS = 30
MAX_VALUE = 2.0**360
"""CloudWatch accepts values in -2^360..2^360; NaN and infinities fail the range check too."""
_MAX_EXACT_INT = 1 << 53
_MAX_DIMENSION_KEYS = 10_000
_MAX_CACHE = 4096
_HIGH_RESOLUTION = 1
_STANDARD_RESOLUTION = 60

_UNITS_BY_LOWER = {u.lower(): u for u in semconv.CLOUDWATCH_UNITS}


# --- what emitters receive --------------------------------------------------------------------
class MetricGroup(NamedTuple):
    """Values that share one set of dimension values: they become one EMF document (or more).

    ``dimensions`` maps every dimension key to its value, the defaults (``Service``,
    ``Environment``) first; each entry of ``dimension_sets`` is a list of keys of it.
    ``metrics`` holds ``(name, unit, storage_resolution, values)``.
    """

    timestamp_ms: int
    dimensions: dict[str, str]
    dimension_sets: list[list[str]]
    metrics: list[tuple[str, str, int, list[float | int]]]
    properties: dict[str, Any] | None


class MetricBatch(NamedTuple):
    """A validated batch for a ``MetricEmitter``: every name, unit, value and dimension is legal."""

    namespace: str
    groups: list[MetricGroup]


# --- per-process state (reset by obskit.testing.reset and in a forked child) ------------------
_meta: dict[str, tuple[str, int]] = {}
"""Metric name -> (unit, storage resolution): the first use of a name fixes both."""
_dims_cache: dict[Any, Any] = {}
"""Raw ``dimensions`` argument (as a hashable tuple) -> validated group key (or list of keys)."""
_distinct: dict[str, set[str]] = {}
"""Dimension key -> the distinct values seen (the cardinality guard)."""
_rt: _pipeline.Runtime | None = None
"""The runtime the cached validation results belong to (set by ``_on_configure``)."""
_state_lock = threading.Lock()



class _DimKey:
    """Validated dimension sets, interned: hashed and compared by identity, so a group lookup is cheap.

    ``sets`` is a tuple of dimension sets, each a tuple of ``(key, value)`` pairs added to the
    default dimensions.
    """

    __slots__ = ("sets",)

    def __init__(self, sets: tuple[tuple[tuple[str, str], ...], ...]) -> None:
        self.sets = sets


_DEFAULT_KEY = _DimKey(((),))
"""Group key of ``dimensions=None``: one dimension set, the default dimensions only."""
_interned: dict[tuple[tuple[tuple[str, str], ...], ...], _DimKey] = {((),): _DEFAULT_KEY}


def _intern(sets: tuple[tuple[tuple[str, str], ...], ...]) -> _DimKey:
    key = _interned.get(sets)
    if key is None:
        if len(_interned) >= _MAX_CACHE:
            _interned.clear()
            _interned[((),)] = _DEFAULT_KEY
        key = _interned[sets] = _DimKey(sets)
    return key


_settings_for: _pipeline.Runtime | None = None
_limit = 10_000
_trace_on = True


def _runtime() -> _pipeline.Runtime:
    rt = _rt
    if rt is None:
        rt = _pipeline.get()
        if _rt is None:  # configure_implicitly() normally set it through _on_configure
            _bind(rt)
    return rt


def _bind(rt: _pipeline.Runtime) -> None:
    global _rt, _single
    _rt = rt
    _single = (None, None)  # let a replaced emitter go
    _dims_cache.clear()
    _request_keys.clear()
    _no_collision.clear()
    _settings(rt)


def _settings(rt: _pipeline.Runtime) -> None:
    """Read the options the hot path needs once per configuration, not once per value."""
    global _settings_for, _limit, _trace_on, _in_lambda
    if _settings_for is not rt:
        _limit = rt.config.option("metrics_max_buffered_values")
        _trace_on = bool(rt.config.option("metrics_trace_id"))
        _in_lambda = bool(rt.config.in_lambda)
        _settings_for = rt


# --- buffers ----------------------------------------------------------------------------------
_Snapshot = tuple["_DimKey", "dict[str, Any] | None", "dict[str, list[float | int]]"]
"""Drained values of one group: (key, properties, {metric name: values})."""


class _Group:
    """One set of dimension values and its metrics' values.

    In a buffer a group lives on across flushes (``take`` drains its lists in place), so the
    hot path can append without a lock: ``list.append`` is atomic, and draining with
    ``values[:k]`` then ``del values[:k]`` keeps whatever another thread appends meanwhile.
    """

    __slots__ = ("exemplar", "idle", "key", "metrics", "properties")

    def __init__(self, key: _DimKey) -> None:
        self.key = key
        self.metrics: dict[str, list[float | int]] = {}
        self.properties: dict[str, Any] | None = None
        self.exemplar = _NO_EXEMPLAR
        """How bad the request whose trace id the document carries was (see ``_exemplar_score``)."""
        self.idle = 0
        """Drains in a row that found no value: after two the group is pruned."""


class _Buffer:
    """Groups of values keyed by their validated dimensions; one per request or per process.

    Appending a value to an existing metric takes no lock (see ``_Group``). New groups, new
    metric names, properties, draining and merging hold ``lock``.
    """

    __slots__ = ("closed", "graveyard", "groups", "limit", "lock", "n", "runtime", "scoped")

    def __init__(self, runtime: _pipeline.Runtime, *, scoped: bool) -> None:
        self.runtime = runtime
        self.groups: dict[_DimKey, _Group] = {}
        self.n = 0
        """Values added since the last drain (approximate under concurrency: it only triggers the size bound)."""
        self.lock = threading.Lock()
        _settings(runtime)
        self.limit: int = _limit
        self.closed = False
        self.scoped = scoped
        self.graveyard: list[_Group] = []
        """Groups pruned at the last drain: drained once more, for a writer that was mid-append."""

    def add_slow(self, key: _DimKey, name: str, value: float | int, properties: Mapping[str, Any] | None) -> int:
        """Add a value that needs a new group, a new metric or properties; call with the lock held."""
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(key)
        values = group.metrics.get(name)
        if values is None:
            if _collides(key, name):
                _drop("name_conflict", name, "its name is also a dimension key of the document")
                return self.n
            group.metrics[name] = [value]
        else:
            values.append(value)
        if properties is not None:
            _merge_properties(group, properties)
        self.n += 1
        return self.n

    def take(self) -> list[_Snapshot]:
        """Drain every group into ``(key, properties, {name: values})`` snapshots for the emitter.

        The trace id property is taken here, from the context that drains: the request itself
        for a request's buffer (``flush_scope`` runs inside it), the caller of ``flush()``
        otherwise.
        """
        out: list[_Snapshot] = []
        trace = _trace_property()
        with self.lock:
            self.n = 0
            pruned = []
            groups = self.groups.values() if not self.graveyard else (*self.graveyard, *self.groups.values())
            for group in groups:
                drained: dict[str, list[float | int]] = {}
                for name, values in group.metrics.items():
                    k = len(values)
                    if k:
                        drained[name] = values[:k]
                        del values[:k]
                if drained:
                    group.idle = 0
                    props = group.properties
                    if trace is not None:
                        props = trace if props is None else {**trace, **props}
                    out.append((group.key, props, drained))
                    group.properties = None
                    group.exemplar = _NO_EXEMPLAR
                else:
                    group.idle += 1
                    if group.idle >= 2 and self.groups.get(group.key) is group:
                        pruned.append(group)
            for group in pruned:
                del self.groups[group.key]
            self.graveyard = pruned
        return out

    def merge(self, snapshots: list[_Snapshot]) -> bool:
        """Fold a finished request's values in (one document per dimension set per interval)."""
        with self.lock:
            mine = self.groups
            for key, properties, drained in snapshots:
                into = mine.get(key)
                if into is None:
                    into = mine[key] = _Group(key)
                for name, values in drained.items():
                    have = into.metrics.get(name)
                    if have is None:
                        into.metrics[name] = values
                    else:
                        have.extend(values)
                    self.n += len(values)
                if properties:
                    _merge_properties(into, properties)
            return self.n >= self.limit


class _Ended:
    """Stands in the scope of a request that ended before it recorded anything."""

    __slots__ = ()
    closed = True
    n = 0


_ENDED = _Ended()


def _trace_property() -> dict[str, Any] | None:
    if not _trace_on:
        return None
    trace_id = CURRENT.get().trace_id
    if trace_id == INVALID_TRACE_ID:
        return None
    return {semconv.METRIC_PROPERTY_TRACE_ID: trace_id}


def _merge_properties(group: _Group, properties: Mapping[str, Any]) -> None:
    """A document has one value per property: the first one recorded in the interval is kept."""
    have = group.properties
    if have is None:
        group.properties = dict(properties)
        return
    for k, v in properties.items():
        have.setdefault(k, v)


def _collides(key: Any, name: str) -> bool:
    pair = (key, name)
    if pair in _no_collision:
        return False
    if name in _default_keys() or any(k == name for pairs in key.sets for k, _ in pairs):
        return True
    if len(_no_collision) >= _MAX_CACHE:
        _no_collision.clear()
    _no_collision.add(pair)
    return False


_no_collision: set[tuple[Any, str]] = set()
"""(group key, metric name) pairs known not to collide under the bound runtime's default dimensions
(a request's own buffer meets every name anew; cleared with the other caches)."""


class _Process:
    """The per-process buffer (``obskit._pipeline``'s flush thread writes it every interval)."""

    buffer: _Buffer | None = None
    lock = threading.Lock()


def _process_buffer(rt: _pipeline.Runtime) -> _Buffer:
    buf = _Process.buffer
    if buf is not None and buf.runtime is rt:
        return buf
    with _Process.lock:
        buf = _Process.buffer
        if buf is not None and buf.runtime is rt:
            return buf
        old, _Process.buffer = buf, _Buffer(rt, scoped=False)
        if not rt.config.in_lambda:
            _start_flusher()
    if old is not None:
        _write_buffer(old)  # data recorded under the previous configuration
    return _Process.buffer


def _start_flusher() -> None:
    """Start the age-bound flush (``obskit._pipeline``'s thread, which runs ``_flush_process``)."""
    _pipeline.start_flusher()


def _flush_process() -> None:
    buf = _Process.buffer
    if buf is None or not buf.n:
        return
    _write_buffer(buf)


# --- serialisation hand-off -------------------------------------------------------------------
_defaults_cache: tuple[Any, dict[str, str]] = (None, {})


def _default_dims(rt: _pipeline.Runtime) -> dict[str, str]:
    """``Service`` (and ``Environment``, then ``metrics_default_dimensions``) of a runtime.

    Built once per configuration; read-only.
    """
    global _defaults_cache
    cached_rt, dims = _defaults_cache
    if cached_rt is rt:
        return dims
    cfg = rt.config
    dims = {_service_key(cfg): _clip_value(cfg.service)}
    if cfg.environment:
        dims[semconv.DIM_ENVIRONMENT] = _clip_value(cfg.environment)
    dims.update(cfg.options.get("metrics_default_dimensions") or {})
    _defaults_cache = (rt, dims)
    return dims


def _powertools_names(cfg: Any) -> bool:
    return bool(cfg.options.get("metrics_dimension_names") == "powertools")


def _service_key(cfg: Any) -> str:
    """The name of the service dimension: ``Service``, or ``service`` for Powertools' dashboards."""
    return semconv.DIM_SERVICE_POWERTOOLS if _powertools_names(cfg) else semconv.DIM_SERVICE


def _default_keys() -> tuple[str, ...]:
    rt = _rt
    if rt is None:
        return (semconv.DIM_SERVICE,)
    return tuple(_default_dims(rt))


def _clip_value(value: str) -> str:
    value = value if value.isascii() else value.encode("ascii", "replace").decode("ascii")
    return value[:MAX_DIMENSION_VALUE]


_layouts_for: _pipeline.Runtime | None = None
_layouts: dict[_DimKey, tuple[dict[str, str], list[list[str]]]] = {}
"""Group key -> (dimension values, dimension sets) for the bound runtime's defaults (cleared by _bind)."""


def _layout(rt: _pipeline.Runtime, key: _DimKey) -> tuple[dict[str, str], list[list[str]]]:
    """The root dimension members and the dimension sets of a group (read-only, cached)."""
    found = _layouts.get(key)
    if found is not None:
        return found
    defaults = _default_dims(rt)
    default_keys = list(defaults)
    dims = dict(defaults)
    sets = []
    for pairs in key.sets:
        keys = list(default_keys)
        for k, v in pairs:
            dims[k] = v
            if k not in defaults:
                keys.append(k)
        sets.append(keys)
    if len(_layouts) >= _MAX_CACHE:
        _layouts.clear()
    _layouts[key] = found = (dims, sets)
    return found


_new_group = tuple.__new__


def to_batch(rt: _pipeline.Runtime, snapshots: list[_Snapshot], timestamp_ms: int | None = None) -> MetricBatch:
    """Turn drained values into the validated batch an emitter serialises."""
    if timestamp_ms is None:
        timestamp_ms = rt.clock() // 1_000_000
    global _layouts_for
    if _layouts_for is not rt:
        _layouts.clear()  # another configuration's defaults (rare: a buffer written after configure())
        _layouts_for = rt
    out: list[MetricGroup] = []
    meta = _meta
    layouts = _layouts
    for key, props, drained in snapshots:
        found = layouts.get(key)
        dims, sets = found if found is not None else _layout(rt, key)
        if props:
            props = _kept_properties(props, dims, drained)
        metrics = []
        for name, values in drained.items():
            unit, resolution = meta.get(name, _NO_META)
            metrics.append((name, unit, resolution, values))
        out.append(_new_group(MetricGroup, (timestamp_ms, dims, sets, metrics, props)))
    return _new_group(MetricBatch, (rt.config.namespace, out))


_NO_META = (semconv.UNIT_NONE, _STANDARD_RESOLUTION)


def _kept_properties(
    props: dict[str, Any], dims: Mapping[str, str], names: Container[str]
) -> dict[str, Any] | None:
    """A document's properties without those that repeat a dimension or metric name (counted).

    A document has one member per name, so such a property would overwrite a dimension value
    or a metric's values.
    """
    kept = {k: v for k, v in props.items() if k not in dims and k not in names}
    if len(kept) != len(props):
        _diagnostics.incr("metrics.clipped.property_conflict")
    return kept or None


def _write(rt: _pipeline.Runtime, groups: list[_Snapshot]) -> None:
    if not groups:
        return
    emitter = rt.metric_emitter
    if emitter is None:
        return
    try:
        batch = to_batch(rt, groups)
    except Exception as exc:
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.to_batch", "obskit: could not build a metric batch: %r", exc)
        return
    try:
        emitter.emit(batch)
    except Exception as exc:
        _pipeline.emitter_failed(emitter, "emit", exc)


def _write_buffer(buf: _Buffer) -> None:
    """Drain ``buf`` and write what it held (one group without a batch when the emitter can)."""
    if len(buf.groups) == 1 and _write_single(buf, buf.runtime):
        return
    _write_groups(buf)


def _write_groups(buf: _Buffer) -> None:
    """Drain ``buf`` and write what it held, however many groups (once per flush interval on a server)."""
    _write(buf.runtime, buf.take())


def _emit_single(emitter: Any) -> Any:
    """Look up the emitter's ``emit_single`` (or ``None``) once: ``_single`` remembers it for later flushes."""
    global _single
    single = getattr(emitter, "emit_single", None)
    _single = (emitter, single)
    return single


def _take_single(buf: _Buffer) -> tuple[_Group, list[tuple[str, str, int, list[float | int]]], Any] | None:
    """Drain the one group of ``buf``: ``(group, [(name, unit, resolution, values)], properties)``.

    ``None``, with nothing drained, when the buffer no longer holds exactly one group (or holds
    pruned ones), or the group has no values: the general path writes those.
    """
    meta = _meta
    metrics: list[tuple[str, str, int, list[float | int]]] = []
    lock = buf.lock
    lock.acquire()  # not ``with``: acquire/release in try/finally costs half as much here
    try:
        groups = buf.groups
        if len(groups) != 1 or buf.graveyard:
            return None
        (group,) = groups.values()
        for name, values in group.metrics.items():
            k = len(values)
            if k == 1:  # one value (flushed per invocation): pop() is atomic, and cheaper than slicing
                unit, resolution = meta.get(name, _NO_META)
                metrics.append((name, unit, resolution, [values.pop()]))
            elif k:
                unit, resolution = meta.get(name, _NO_META)
                metrics.append((name, unit, resolution, values[:k]))
                del values[:k]
        if not metrics:
            return None
        buf.n = 0
        group.idle = 0
        props = group.properties
        group.properties = None
    finally:
        lock.release()
    return group, metrics, props


def _write_single(buf: _Buffer, rt: _pipeline.Runtime) -> bool:
    """``_write_buffer`` for a buffer of one group and an emitter with ``emit_single``: no batch built.

    One dimension set is the common case (a Lambda invocation, a CLI run). ``False`` (nothing
    drained) when the buffer changed meanwhile, the group has nothing to write (its idle count
    and pruning are the general path's), or the emitter has no single-group method.

    The steps: drain the group under the lock (``_take_single``), then the document's layout,
    trace id and properties outside it, then one call to the emitter.
    """
    emitter = rt.metric_emitter
    cached = _single
    single = cached[1] if cached[0] is emitter else _emit_single(emitter)
    if single is None:
        return False
    taken = _take_single(buf)
    if taken is None:
        return False
    group, metrics, props = taken
    try:
        global _layouts_for
        if _layouts_for is not rt:
            _layouts.clear()
            _layouts_for = rt
        key = group.key
        found = _layouts.get(key)
        dims, sets = found if found is not None else _layout(rt, key)
        trace_id = CURRENT.get()[0] if _trace_on else INVALID_TRACE_ID  # [0]: trace_id, without the property
        if trace_id != INVALID_TRACE_ID:
            props = {_TRACE: trace_id} if props is None else {_TRACE: trace_id, **props}
        if props:
            props = _kept_properties(props, dims, {m[0] for m in metrics})
        namespace = rt.config.namespace
        timestamp_ms = rt.clock() // 1_000_000
    except Exception as exc:
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.to_batch", "obskit: could not build a metric batch: %r", exc)
        return True
    try:
        # a name keeps its unit and resolution until reset() (which moves _epoch on): the epoch
        # and the names are the document's shape
        if len(metrics) == 1:
            single(namespace, timestamp_ms, dims, sets, metrics, props)
        else:
            single(namespace, timestamp_ms, dims, sets, metrics, props, (_epoch, *[m[0] for m in metrics]))
    except Exception as exc:
        _pipeline.emitter_failed(emitter, "emit", exc)
    return True


_single: tuple[Any, Any] = (None, None)
"""The last metric emitter ``_write_single`` used, and its ``emit_single`` (or ``None``)."""
_epoch = 0
"""Moves on when ``_meta`` is cleared: a metric name means one unit and resolution per epoch."""


# --- validation -------------------------------------------------------------------------------
def _drop(reason: str, name: Any, why: str) -> None:
    key = f"metrics.dropped.{reason}"
    _diagnostics.count(key, "obskit: dropped metric %r: %s (counted as %s)", _shown(name), why, key)


def _clip(reason: str, what: Any, why: str) -> None:
    key = f"metrics.clipped.{reason}"
    _diagnostics.count(key, "obskit: clipped metric dimension %r: %s (counted as %s)", _shown(what), why, key)


def _shown(value: Any) -> Any:
    """A long name cut for a diagnostic message."""
    return value if not isinstance(value, str) or len(value) <= 80 else value[:77] + "..."


def _check_value(name: str, value: Any) -> float | int | None:
    """The value as a JSON number CloudWatch accepts, or ``None`` (dropped and counted)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, bytes)) or value is None:
        _drop("not_a_number", name, f"value {value!r} is not a number")
        return None
    if isinstance(value, int):
        if -MAX_VALUE <= value <= MAX_VALUE:
            # int(): an int subclass (an IntEnum) becomes a plain int, which every serialiser writes as a number
            return int(value) if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT else float(value)
        _drop("out_of_range", name, "the value is outside CloudWatch's range -2^360..2^360")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        _drop("not_a_number", name, f"value of type {type(value).__name__} is not a number")
        return None
    if not math.isfinite(number):
        _drop("non_finite", name, "NaN and infinities are not valid CloudWatch values")
        return None
    if not -MAX_VALUE <= number <= MAX_VALUE:
        _drop("out_of_range", name, "the value is outside CloudWatch's range -2^360..2^360")
        return None
    return number


def _register(name: Any, unit: Any, resolution: Any) -> bool:
    """Validate a metric's name, unit and resolution; the first use of a name fixes the last two."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or not name.strip():
        _drop("invalid_name", name, f"a metric name must be a string of 1-{MAX_NAME} characters")
        return False
    if name == "_aws":
        _drop("invalid_name", name, "'_aws' is the EMF metadata member")
        return False
    if not name.isascii() and not _encodable(name):
        _drop("invalid_name", name, "a metric name must be valid Unicode (it has a lone surrogate)")
        return False
    canonical = _UNITS_BY_LOWER.get(unit.lower()) if isinstance(unit, str) else None
    if canonical is None:
        _drop("invalid_unit", name, f"unit {unit!r} is not a CloudWatch unit")
        return False
    if isinstance(resolution, bool) or resolution not in (_HIGH_RESOLUTION, _STANDARD_RESOLUTION):
        _drop("invalid_resolution", name, f"resolution {resolution!r} is neither 1 nor 60")
        return False
    resolution = int(resolution)
    with _state_lock:
        have = _meta.get(name)
        if have is None:
            if len(_meta) >= _runtime().config.option("metrics_max_names"):
                _drop("too_many_names", name, "the per-process limit of distinct metric names is reached")
                return False
            _meta[name] = (canonical, resolution)
            return True
    if have[0] != canonical:
        _drop("unit_conflict", name, f"it was first recorded with unit {have[0]!r}, now {canonical!r}")
        return False
    if have[1] != resolution:
        _drop("resolution_conflict", name, f"it was first recorded with resolution {have[1]}, now {resolution}")
        return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dims_key(dimensions: Any) -> Any:
    """The validated group key for a ``dimensions`` argument (cached); a list when sets conflict."""
    try:
        if dimensions.__class__ is dict or isinstance(dimensions, Mapping):
            raw: Any = tuple(dimensions.items())
        else:
            raw = tuple(tuple(m.items()) for m in dimensions)
        hit = _dims_cache.get(raw)
    except (TypeError, AttributeError):
        raw, hit = None, None
    if hit is not None:
        return hit
    key = _validate_dimensions(dimensions)
    if raw is not None:
        if len(_dims_cache) >= _MAX_CACHE:
            _dims_cache.clear()
        _dims_cache[raw] = key
    return key


def _validate_dimensions(dimensions: Any) -> Any:
    if isinstance(dimensions, Mapping):
        mappings: Sequence[Any] = (dimensions,)
    elif isinstance(dimensions, (list, tuple)) and dimensions:
        mappings = dimensions
    else:
        _clip("not_a_mapping", dimensions, "dimensions must be a mapping or a list of mappings")
        return _DEFAULT_KEY
    room = MAX_DIMENSIONS - len(_default_keys())
    sets: list[tuple[tuple[str, str], ...]] = []
    for m in mappings:
        if not isinstance(m, Mapping):
            _clip("not_a_mapping", m, "each dimension set must be a mapping")
            continue
        pairs = _validate_pairs(m, room)
        if pairs not in sets:
            sets.append(pairs)
    if not sets:
        return _DEFAULT_KEY
    # All sets of one document share its root members: split sets that disagree on a value
    # (a set that overrides a default dimension disagrees with one that keeps the default).
    effective = _with_overridden_defaults(sets)
    keys: list[_DimKey] = []
    pending = sets
    while pending:
        values: dict[str, str] = {}
        here, later = [], []
        for pairs in pending:
            if all(values.get(k, v) == v for k, v in effective.get(pairs, pairs)):
                values.update(effective.get(pairs, pairs))
                here.append(pairs)
            else:
                later.append(pairs)
        keys.append(_intern(tuple(here)))
        pending = later
    return keys[0] if len(keys) == 1 else keys


def _with_overridden_defaults(
    sets: list[tuple[tuple[str, str], ...]],
) -> dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """For each set, its pairs plus the default value of every default key another set overrides.

    Empty (the usual case) when no set names a default dimension.
    """
    rt = _rt
    if rt is None:
        return {}
    defaults = _default_dims(rt)
    overridden = {k for pairs in sets for k, _ in pairs if k in defaults}
    if not overridden:
        return {}
    out = {}
    for pairs in sets:
        named = {k for k, _ in pairs}
        out[pairs] = (*pairs, *((k, defaults[k]) for k in overridden if k not in named))
    return out


def _validate_pairs(mapping: Mapping[Any, Any], room: int) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    limit: int = _runtime().config.option("metrics_max_dimension_values")
    for k, v in mapping.items():
        if not isinstance(k, str) or not k.strip() or len(k) > MAX_NAME or not k.isascii() or k.startswith(":"):
            _clip("dimension_name", k, f"a dimension name must be 1-{MAX_NAME} ASCII characters, not starting with ':'")
            continue
        if k == "_aws":
            _clip("dimension_name", k, "'_aws' is the EMF metadata member")
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        elif not isinstance(v, str):
            _clip("dimension_value", k, f"the value of dimension {k!r} must be a string, not {type(v).__name__}")
            continue
        if not v.strip():
            _clip("dimension_value", k, f"the value of dimension {k!r} is blank")
            continue
        if not v.isascii():
            _clip("non_ascii", k, f"non-ASCII characters in the value of dimension {k!r} became '?'")
            v = v.encode("ascii", "replace").decode("ascii")
        if len(v) > MAX_DIMENSION_VALUE:
            _clip("dimension_value_length", k, f"the value of dimension {k!r} was cut to {MAX_DIMENSION_VALUE}")
            v = v[:MAX_DIMENSION_VALUE]
        if any(k == have for have, _ in out):
            continue
        if len(out) >= room:
            _clip("too_many_dimensions", k, f"a dimension set holds at most {MAX_DIMENSIONS} keys")
            break
        with _state_lock:
            seen = _distinct.get(k)
            if seen is None:
                if len(_distinct) >= _MAX_DIMENSION_KEYS:
                    seen = None
                else:
                    seen = _distinct[k] = set()
            if seen is None:
                admitted = False
            elif v in seen:
                admitted = True
            elif len(seen) < limit:
                seen.add(v)
                admitted = True
            else:
                admitted = False
        if not admitted:
            _clip("cardinality", k, f"dimension {k!r} has reached its limit of distinct values; "
                                    f"further values are recorded as {semconv.OTHER_DIMENSION_VALUE!r}")
            v = semconv.OTHER_DIMENSION_VALUE
        out.append((k, v))
    return tuple(out)


def _check_properties(properties: Any) -> dict[str, Any] | None:
    if not isinstance(properties, Mapping):
        _clip("property", properties, "properties must be a mapping")
        return None
    out: dict[str, Any] = {}
    for k, v in properties.items():
        if not isinstance(k, str) or not k or k == "_aws":
            _clip("property", k, "a property name must be a non-empty string other than '_aws'")
            continue
        if isinstance(v, float) and not -MAX_VALUE <= v <= MAX_VALUE:
            _clip("property", k, "a property value must be finite")
            continue
        if v is not None and not isinstance(v, (str, int, float, bool, list, dict)):
            v = str(v)
        out[k] = v
    return out or None


# --- the public API ---------------------------------------------------------------------------
def record(
    name: str,
    value: float,
    unit: str = "None",
    *,
    dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    resolution: int = 60,
    properties: Mapping[str, Any] | None = None,
) -> None:
    """Record one value of metric ``name``.

    Never raises: a bad value, name, unit or dimension is dropped or clipped and counted in
    ``obskit.diagnostics()`` (``metrics.dropped.*``, ``metrics.clipped.*``).

    Args:
        name: the metric name, 1-255 characters.
        value: a finite number.
        unit: a CloudWatch unit (``"Milliseconds"``, ``"Count"``, ``"Bytes"``, ... ``"None"``).
            The first use of a name fixes its unit and resolution for the process: one metric,
            one unit, so its statistics stay meaningful.
        dimensions: extra dimensions on top of the defaults (``Service``, and ``Environment``
            when configured), or a list of mappings to write the value under several dimension
            sets at once (each set gets the defaults too).
        resolution: ``60`` (standard) or ``1`` (high resolution, per-second data).
        properties: non-metric fields for the document (for Logs Insights); one value per
            property per document, the first recorded in a flush interval wins.
    """
    try:
        meta = _meta.get(name) if name.__class__ is str else None  # a list is no name: _register says so
        if (meta is None or meta[0] != unit or meta[1] != resolution) and not _register(name, unit, resolution):
            return
        cls: Any = value.__class__  # Any: mypy would narrow float to exclude int
        if not ((cls is float and -MAX_VALUE <= value <= MAX_VALUE)
                or (cls is int and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT)):
            checked = _check_value(name, value)
            if checked is None:
                return
            value = checked
        if dimensions is None and properties is None and _scope_get() is None:
            # The commonest call (a value outside any request, default dimensions, a metric
            # already in the buffer): one append, kept inline (bench_metrics "obskit record
            # (default dims)"). A process buffer exists only for a runtime with a metric
            # emitter, so the buffer's runtime being the bound one says it all.
            buf = _Process.buffer
            if buf is not None and buf.runtime is _rt:
                group = buf.groups.get(_DEFAULT_KEY)
                if group is not None:
                    values = group.metrics.get(name)
                    if values is not None:
                        values.append(value)  # atomic: no lock (see _Group)
                        n = buf.n = buf.n + 1
                        if n >= buf.limit:
                            _full(buf)
                        return
        _record_in_group(name, value, dimensions, properties)
    except Exception as exc:  # telemetry never breaks the app
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.record", "obskit: metric %r not recorded: %r", name, exc)


def _record_in_group(
    name: str, value: float, dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None,
    properties: Mapping[str, Any] | None,
) -> None:
    """``record`` past its fast path: call dimensions, properties, a request scope, or a first value.

    The value goes to the group of its dimension set, in the request scope's buffer when there
    is one (aggregated per request), else in the process buffer. Dimension sets that disagree
    on a key become one document each. May raise: ``record`` counts and reports.
    """
    rt = _rt
    if rt is None:
        rt = _runtime()
    if rt.metric_emitter is None:
        return
    props = None if properties is None else _check_properties(properties)
    if dimensions is None:
        key = _DEFAULT_KEY
    else:
        key = _dims_key(dimensions)
        if key.__class__ is list:  # dimension sets that disagree: one document each
            for k in key:
                _add(rt, k, name, value, props)
            return
    buf = _buffer(rt, _scope_get())
    group = buf.groups.get(key)
    values = None if group is None or props is not None else group.metrics.get(name)
    if values is None:
        with buf.lock:
            n = buf.add_slow(key, name, value, props)
    else:
        values.append(value)  # atomic: no lock (see _Group)
        n = buf.n = buf.n + 1
    if n >= buf.limit:
        _full(buf)


_scope_get = SCOPE.get


def _buffer(rt: _pipeline.Runtime, scope: RequestScope | None) -> _Buffer:
    """Where a value goes: the request's own buffer, else (outside a request, or after it ended) the process's."""
    if scope is not None:
        buf = scope.metrics
        if buf is None:
            buf = scope.metrics = _Buffer(rt, scoped=True)
            return buf
        if not buf.closed:
            return buf  # type: ignore[no-any-return]
    buf = _Process.buffer
    return buf if buf is not None and buf.runtime is rt else _process_buffer(rt)


def _add(rt: _pipeline.Runtime, key: _DimKey, name: str, value: float | int, props: Mapping[str, Any] | None) -> None:
    buf = _buffer(rt, _scope_get())
    with buf.lock:
        n = buf.add_slow(key, name, value, props)
    if n >= buf.limit:
        _full(buf)


def _full(buf: _Buffer) -> None:
    """The size bound is reached: a request hands its values on, the process buffer writes."""
    if buf.scoped:
        _hand_on(buf)
    else:
        _write_buffer(buf)


def count(
    name: str,
    value: float = 1,
    *,
    dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> None:
    """Count an occurrence (unit ``Count``); ``value`` adds several at once. Never raises.

    Args:
        name: the metric name, 1-255 characters.
        value: how many occurrences (a finite number, default 1).
        dimensions: as for ``record``.
        properties: as for ``record``.
    """
    record(name, value, semconv.UNIT_COUNT, dimensions=dimensions, properties=properties)


class timing:
    """Record the duration of a block or of each call of a function, in milliseconds.

    Example::

        with metrics.timing("ChargeLatency"):
            charge(card)

        @metrics.timing("Render", dimensions={"Template": "invoice"})
        async def render(): ...

    The duration is recorded also when the block raises (the exception passes through).
    """

    __slots__ = ("_dimensions", "_name", "_starts")

    def __init__(
        self, name: str, *, dimensions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None
    ) -> None:
        self._name = name
        self._dimensions = dimensions
        self._starts: list[int] = []

    def __enter__(self) -> timing:
        self._starts.append(time.perf_counter_ns())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._starts:
            elapsed = time.perf_counter_ns() - self._starts.pop()
            record(self._name, elapsed / 1e6, semconv.UNIT_MILLISECONDS, dimensions=self._dimensions)

    def __call__(self, fn: F) -> F:
        name, dims = self._name, self._dimensions
        if is_coroutine_function(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter_ns()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    elapsed = time.perf_counter_ns() - start
                    record(name, elapsed / 1e6, semconv.UNIT_MILLISECONDS, dimensions=dims)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter_ns() - start
                record(name, elapsed / 1e6, semconv.UNIT_MILLISECONDS, dimensions=dims)

        return wrapper  # type: ignore[return-value]


def flush(timeout_s: float | None = None) -> bool:
    """Write every buffered metric now and wait for the sink; ``True`` if it finished in time.

    Inside a request scope the request's metrics are written too (they would otherwise wait
    for the end of the request). Never raises.
    """
    try:
        scope = _scope_get()
        if scope is not None and scope.metrics is not None and scope.metrics.n:
            buf = scope.metrics
            _write_buffer(buf)
        buf = _Process.buffer
        if buf is not None and buf.n and not (len(buf.groups) == 1 and _write_single(buf, buf.runtime)):
            _write_groups(buf)
        rt = _pipeline.RUNTIME
        emitter = None if rt is None else rt.metric_emitter
        if emitter is None:
            return True
        try:
            return emitter.flush(timeout_s) is not False
        except Exception as exc:
            _pipeline.emitter_failed(emitter, "flush", exc)
            return False
    except Exception as exc:
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.flush", "obskit: metric flush failed: %r", exc)
        return False


# --- for integrations ------------------------------------------------------------------------
def record_request(operation: str | None, latency_ms: float, *, error: bool, fault: bool) -> None:
    """Record the request metrics (``Latency``, ``Error``, ``Fault``) of one finished request.

    Dimension sets ``[Service]`` and ``[Service, Operation]`` (only ``[Service]`` when
    ``operation`` is ``None``), each with ``Environment`` when configured. Goes to the
    request's accumulator inside a scope, else to the process buffer. Never raises.

    This runs once per request, so it skips the generic ``record`` path: the names, units and
    the dimension key of an operation are validated (and the cardinality guard applied) once,
    when the operation is first seen, and the three values are appended under that cached key.
    On a server a request's values go straight into the process buffer (where ``flush_scope``
    would merge them anyway), with the request's trace id as the document's property.
    """
    try:
        rt = _rt
        if rt is None:
            rt = _runtime()
        if rt.metric_emitter is None:
            return
        key = _request_keys.get(operation)
        if key is None:
            key = _request_key(rt, operation)
        cls: Any = latency_ms.__class__
        if key is _NOT_CACHED or not (
            (cls is float and -MAX_VALUE <= latency_ms <= MAX_VALUE)
            or (cls is int and -_MAX_EXACT_INT <= latency_ms <= _MAX_EXACT_INT)
        ):
            _record_request_slow(operation, latency_ms, error, fault)
            return
        scope = _scope_get()
        if scope is None:
            buf = _Process.buffer
            if buf is None or buf.runtime is not rt:
                buf = _process_buffer(rt)
            traced = False
        elif _in_lambda:
            buf = scope.metrics
            if buf is None:
                buf = scope.metrics = _Buffer(rt, scoped=True)
            elif buf.closed:
                buf = _process_buffer(rt)
            traced = False  # a request's own buffer gets the trace id when it is drained
        else:
            buf = _Process.buffer
            if buf is None or buf.runtime is not rt:
                buf = _process_buffer(rt)
            traced = _trace_on
        _add_request(buf, key, latency_ms, 1 if error else 0, 1 if fault else 0, traced)
    except Exception as exc:  # telemetry never breaks the app
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.record", "obskit: request metrics not recorded: %r", exc)


def _record_request_slow(operation: str | None, latency_ms: float, error: bool, fault: bool) -> None:
    """The generic path: each value validated and counted on its own (bad latency, name conflicts)."""
    dims: Any = None if operation is None else ({}, {semconv.DIM_OPERATION: operation})
    record(semconv.METRIC_LATENCY, latency_ms, semconv.UNIT_MILLISECONDS, dimensions=dims)
    record(semconv.METRIC_ERROR, 1 if error else 0, semconv.UNIT_COUNT, dimensions=dims)
    record(semconv.METRIC_FAULT, 1 if fault else 0, semconv.UNIT_COUNT, dimensions=dims)


_REQUEST_METRICS = (
    (semconv.METRIC_LATENCY, semconv.UNIT_MILLISECONDS),
    (semconv.METRIC_ERROR, semconv.UNIT_COUNT),
    (semconv.METRIC_FAULT, semconv.UNIT_COUNT),
)
_NOT_CACHED: Any = object()
"""Cached for an operation whose request metrics need the generic path (a name already in use
with another unit, the name limit reached, dimension sets that split)."""
_request_keys: dict[str | None, Any] = {}
"""Operation -> validated group key of its request metrics (cleared with the other caches)."""
_in_lambda = False


def _request_key(rt: _pipeline.Runtime, operation: str | None) -> Any:
    """Validate the request metrics of ``operation`` once: names, units, dimensions, cardinality."""
    key: Any = _NOT_CACHED
    ok = True
    for name, unit in _REQUEST_METRICS:
        have = _meta.get(name)
        if have is None:
            # Register now unless that would fail (the generic path then counts the drop).
            if len(_meta) >= rt.config.option("metrics_max_names") or not _register(name, unit, _STANDARD_RESOLUTION):
                ok = False
        elif have != (unit, _STANDARD_RESOLUTION):
            ok = False
    if ok:
        found = _DEFAULT_KEY if operation is None else _dims_key(({}, {semconv.DIM_OPERATION: operation}))
        if found.__class__ is _DimKey:
            key = found
    if len(_request_keys) >= _MAX_CACHE:
        _request_keys.clear()
    _request_keys[operation] = key
    return key


def _add_request(buf: _Buffer, key: _DimKey, latency: float, error: int, fault: int, traced: bool) -> None:
    """Append one request's three values to ``buf`` (lock-free when the group is already there).

    ``traced``: give the group the current trace id as its property unless it has one (on a
    server the first request of a flush interval names the document's trace).
    """
    group = buf.groups.get(key)
    trace = None
    score = _NO_EXEMPLAR
    if traced:
        score = _FAULT_SCORE if fault else _ERROR_SCORE if error else latency
    if group is not None:
        if score > group.exemplar:  # a worse request than the document's exemplar so far
            trace = _trace_property()
        if trace is None:
            m = group.metrics
            lat = m.get(semconv.METRIC_LATENCY)
            err = m.get(semconv.METRIC_ERROR)
            flt = m.get(semconv.METRIC_FAULT)
            if lat is not None and err is not None and flt is not None:
                lat.append(latency)  # atomic: no lock (see _Group)
                err.append(error)
                flt.append(fault)
                n = buf.n = buf.n + 3
                if n >= buf.limit:
                    _full(buf)
                return
    elif traced:
        trace = _trace_property()
    with buf.lock:
        if buf.groups.get(key) is None and not _collides(key, semconv.METRIC_LATENCY) and not _collides(
            key, semconv.METRIC_ERROR
        ) and not _collides(key, semconv.METRIC_FAULT):
            # A new group (every request's own buffer in Lambda): built in one go.
            group = buf.groups[key] = _Group(key)
            group.metrics = {
                semconv.METRIC_LATENCY: [latency], semconv.METRIC_ERROR: [error], semconv.METRIC_FAULT: [fault],
            }
            if trace is not None:
                group.properties = trace
                group.exemplar = score
            n = buf.n = buf.n + 3
        else:
            group = buf.groups.get(key)
            if trace is not None and group is not None and score > group.exemplar:
                group.properties = {**group.properties, **trace} if group.properties else trace
                group.exemplar = score
                trace = None
            buf.add_slow(key, semconv.METRIC_LATENCY, latency, trace)
            buf.add_slow(key, semconv.METRIC_ERROR, error, None)
            n = buf.add_slow(key, semconv.METRIC_FAULT, fault, None)
    if n >= buf.limit:
        _full(buf)


_TRACE = semconv.METRIC_PROPERTY_TRACE_ID
_NO_EXEMPLAR = -math.inf
_ERROR_SCORE = MAX_VALUE * 2
"""Above any latency: an error request is a better exemplar than the slowest healthy one."""
_FAULT_SCORE = math.inf
"""Above an error. Scores only replace the exemplar when strictly higher, so on a server a
document's ``trace_id`` is its interval's first fault, else its first error, else its slowest
request: following a ``Fault`` datapoint leads to a failed trace (README, "From a metric to a
trace")."""


def record_cold_start(function_name: str | None = None) -> None:
    """Record ``ColdStart`` = 1 (Count) with ``[Service, FunctionName]`` (+ ``Environment`` and defaults).

    The function is ``metrics_function_name`` (``POWERTOOLS_METRICS_FUNCTION_NAME``), else
    ``function_name`` (the Lambda context's), else ``AWS_LAMBDA_FUNCTION_NAME``. With
    ``metrics_dimension_names="powertools"`` it is the document Powertools writes: its own,
    with exactly ``function_name`` and ``service``.
    """
    try:
        cfg = _runtime().config
        function = cfg.options.get("metrics_function_name") or function_name or cfg.function_name
        if _powertools_names(cfg):
            pt_dims = {semconv.DIM_SERVICE_POWERTOOLS: cfg.service}
            if function:
                pt_dims = {semconv.DIM_FUNCTION_NAME_POWERTOOLS: function, **pt_dims}
            _write_one(semconv.METRIC_COLD_START, 1, semconv.UNIT_COUNT, None, pt_dims, False,
                       _STANDARD_RESOLUTION, None)
            return
    except Exception:
        function = None
    dims = None if not function else {semconv.DIM_FUNCTION_NAME: function}
    count(semconv.METRIC_COLD_START, 1, dimensions=dims)


def single_metric(
    name: str,
    value: float,
    unit: str = "None",
    *,
    namespace: str | None = None,
    dimensions: Mapping[str, str] | None = None,
    default_dimensions: bool = True,
    resolution: int = 60,
    properties: Mapping[str, Any] | None = None,
) -> None:
    """Write one value in an EMF document of its own, now: its own namespace, its own dimensions.

    Powertools' ``single_metric``. ``record`` aggregates values that share dimensions into one
    document per request or flush interval; use this for the rare metric that must not share
    them: another ``namespace``, or ``default_dimensions=False`` for exactly the ``dimensions``
    given (not even ``Service``). Each call writes a document, so keep it off hot loops.
    Never raises: what ``record`` would drop is dropped and counted here too.

    Args:
        name: the metric name, 1-255 characters.
        value: a finite number.
        unit: a CloudWatch unit (fixed per name for the process, as with ``record``).
        namespace: the CloudWatch namespace; the configured one when omitted.
        dimensions: the document's dimensions (one dimension set).
        default_dimensions: add ``Service`` (``Environment``, ``metrics_default_dimensions``) first.
        resolution: ``60`` or ``1``.
        properties: non-metric fields of the document.
    """
    global _singles
    _singles += 1
    _write_one(name, value, unit, namespace, dimensions, default_dimensions, resolution, properties)


_singles = 0
"""``single_metric`` calls in this process (the empty-metrics check of a Lambda invocation)."""


def single_metric_count() -> int:
    """How many ``single_metric`` calls this process made (compare two readings)."""
    return _singles


def has_own_metrics(scope: RequestScope) -> bool:
    """Whether the request recorded a metric of its own so far (not ``ColdStart``, not the request metrics)."""
    buf = scope.metrics
    if buf is None or buf.__class__ is not _Buffer:
        return False
    own = (semconv.METRIC_COLD_START, semconv.METRIC_LATENCY, semconv.METRIC_ERROR, semconv.METRIC_FAULT)
    return any(name not in own for group in buf.groups.values() for name in group.metrics)


def _write_one(name: str, value: Any, unit: str, namespace: str | None, dimensions: Mapping[str, str] | None,
            default_dimensions: bool, resolution: int, properties: Mapping[str, Any] | None) -> None:
    try:
        rt = _runtime()
        emitter = rt.metric_emitter
        if emitter is None or not _register(name, unit, resolution):
            return
        checked = _check_value(name, value)
        if checked is None:
            return
        if namespace is None:
            namespace = rt.config.namespace
        elif not isinstance(namespace, str) or not namespace.strip() or len(namespace) > 255 or not namespace.isascii():
            _drop("invalid_namespace", name, f"namespace {namespace!r} is not 1-255 ASCII characters")
            return
        dims = dict(_default_dims(rt)) if default_dimensions else {}
        given: Any = dimensions
        if given is not None:
            if isinstance(given, Mapping):
                dims.update(_validate_pairs(given, MAX_DIMENSIONS - len(dims)))
            else:
                _clip("not_a_mapping", given, "dimensions must be a mapping")
        if name in dims:
            _drop("name_conflict", name, "its name is also a dimension key of the document")
            return
        props = _trace_property()
        if properties is not None:
            extra = _check_properties(properties)
            if extra:
                props = {**(props or {}), **extra}
        if props:
            props = _kept_properties(props, dims, (name,))
        unit_name, res = _meta.get(name, _NO_META)
        group = MetricGroup(rt.clock() // 1_000_000, dims, [list(dims)], [(name, unit_name, res, [checked])], props)
    except Exception as exc:
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.single", "obskit: single metric %r not written: %r", name, exc)
        return
    try:
        emitter.emit(MetricBatch(namespace, [group]))
    except Exception as exc:
        _pipeline.emitter_failed(emitter, "emit", exc)


def flush_scope(scope: RequestScope) -> None:
    """Hand a finished request's metrics on; called once by the entry point, in ``finally``.

    In Lambda the documents are written at once; on a server the values join the process
    buffer, which writes few documents per flush interval (under ``obskit.testing.capture()``:
    at once, so a test sees them as soon as the request is over). Never raises.
    """
    try:
        buf = scope.metrics
        if buf is None:
            scope.metrics = _ENDED  # late writers (threads outliving the request) use the process buffer
        else:
            buf.closed = True
            _hand_on(buf)
        rt = _rt
        if rt is not None and rt.capture is not None and rt.capture.per_request and not _in_lambda:
            # Under obskit.testing.capture() a finished request's metrics are in cap.metrics at
            # once: the server's flush interval would only make tests call obskit.flush().
            _write_buffer(_process_buffer(rt))
    except Exception as exc:
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.flush_scope", "obskit: request metrics not written: %r", exc)


def _hand_on(buf: _Buffer) -> None:
    rt = buf.runtime
    if buf.closed and rt.config.in_lambda:
        _write_closed(rt, buf)
        return
    groups = buf.take()
    if not groups:
        return
    if rt.config.in_lambda:
        _write(rt, groups)
        return
    process = _process_buffer(rt)
    if process.merge(groups):
        _write_buffer(process)


def _write_closed(rt: _pipeline.Runtime, buf: _Buffer) -> None:
    """Write a finished request's buffer in one pass (Lambda): drain and batch-building merged.

    The buffer is closed, so its groups are taken whole instead of drained value by value; a
    writer still appending from a thread that outlived the request lands in the taken lists
    (written now) or, having seen ``closed``, in the process buffer.
    """
    with buf.lock:
        groups, buf.groups, buf.n = buf.groups, {}, 0
    emitter = rt.metric_emitter
    if not groups or emitter is None:
        return
    try:
        trace = _trace_property()
        timestamp_ms = rt.clock() // 1_000_000
        global _layouts_for
        if _layouts_for is not rt:
            _layouts.clear()
            _layouts_for = rt
        out: list[MetricGroup] = []
        meta = _meta
        for group in groups.values():
            key = group.key
            found = _layouts.get(key)
            dims, sets = found if found is not None else _layout(rt, key)
            drained = group.metrics
            props = group.properties
            if props is None and trace is not None and _TRACE not in dims and _TRACE not in drained:
                props = trace  # the usual case: only the trace id, nothing to check further
            else:
                if trace is not None:
                    props = trace if props is None else {**trace, **props}
                if props:
                    props = _kept_properties(props, dims, drained)
            metrics = [(name, *meta.get(name, _NO_META), values) for name, values in drained.items() if values]
            if metrics:
                out.append(_new_group(MetricGroup, (timestamp_ms, dims, sets, metrics, props)))
        batch = _new_group(MetricBatch, (rt.config.namespace, out))
    except Exception as exc:
        _diagnostics.incr("metrics.internal_error")
        _diagnostics.report_once("metrics.to_batch", "obskit: could not build a metric batch: %r", exc)
        return
    if not out:
        return
    try:
        emitter.emit(batch)
    except Exception as exc:
        _pipeline.emitter_failed(emitter, "emit", exc)


# --- lifecycle hooks --------------------------------------------------------------------------
def _on_configure(runtime: _pipeline.Runtime, explicit: bool) -> None:
    """A new configuration is live: write what the old one buffered (its emitter is still open)."""
    _bind(runtime)
    buf = _Process.buffer
    if buf is not None and buf.runtime is not runtime and buf.n:
        _write_buffer(buf)


def _on_reset() -> None:
    global _rt, _epoch, _single
    _epoch += 1
    _single = (None, None)
    _pipeline.stop_flusher()
    _Process.buffer = None
    with _state_lock:
        _meta.clear()
        _distinct.clear()
        _dims_cache.clear()
        _request_keys.clear()
        _no_collision.clear()
    _rt = None


def _after_fork() -> None:
    """In a child process: the parent's buffered values are the parent's to write."""
    global _state_lock
    _state_lock = threading.Lock()
    _Process.lock = threading.Lock()
    buf = _Process.buffer
    _Process.buffer = None
    if buf is not None:
        buf.lock = threading.Lock()


_pipeline.on_flush(_flush_process)
_pipeline.on_reset(_on_reset)
_pipeline.on_fork(_after_fork)
