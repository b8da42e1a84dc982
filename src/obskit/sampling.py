"""Centralized X-Ray sampling: the fleet's rules from the X-Ray service decide which new traces are recorded.

Imports: standard library and obskit's stdlib-only core; ``http.client`` and ``json`` only in
the poller thread, so ``configure(trace_sampler="xray")`` costs nothing on the request path.

``configure(trace_sampler="xray")`` (or ``OBSKIT_TRACE_SAMPLER=xray``, ``OTEL_TRACES_SAMPLER=xray``)
replaces the per-process ratio and reservoir with the sampling rules set in the X-Ray console
or API. The X-Ray daemon (and the CloudWatch agent, and the ADOT collector) proxies two calls
of the X-Ray API on the TCP port of its UDP listener: ``POST /GetSamplingRules`` and
``POST /SamplingTargets``. One background thread, started at the first decision that needs the
rules, fetches them every 5 minutes and reports each rule's statistics with ``SamplingTargets``
at the interval the service asks for (10 s until it says otherwise); the answer assigns each
rule this client's share of the fleet-wide reservoir (a quota per second until a TTL).

Decisions, as the X-Ray SDKs make them: the first rule by priority, then by name, whose
service name, service type, HTTP method, URL path, host, resource ARN and attributes match
(``*`` any run of characters, ``?`` one, case-insensitive) decides. It takes from its
reservoir first (its quota while the quota is fresh; before the first quota arrives, or after
it expires, it borrows one a second), else samples at its fixed rate. The fixed rate reads the
trace id's random low bits as ``trace_sample_rate`` does, so every service deciding the same
trace agrees. Until rules arrive, and when the last rules fetched are more than an hour old,
X-Ray's local default applies: one a second, then 5%.

Only new traces are decided here: a decision that arrives (traceparent flags, ``Sampled=1``/
``Sampled=0``) is kept, and ``Sampled=?`` is decided as a new trace is.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from obskit import _diagnostics, _env
from obskit.config import Option
from obskit.errors import ConfigError
from obskit.semconv import ATTR_HTTP_METHOD, ATTR_SERVER_ADDRESS, ATTR_URL_PATH

__all__ = ["OPTIONS", "RuleStatus", "SamplingStatus", "XRaySampler", "create", "status"]

RULES_INTERVAL_S = 300.0
"""How often the rules are fetched (as the X-Ray SDKs do), plus up to 5 s of jitter."""
TARGETS_INTERVAL_S = 10.0
"""How often statistics are reported until the service asks for another interval."""
RULES_TTL_S = 3600
"""Rules not refreshed for this long are dropped for the local default (as the SDKs do)."""
RETRY_FIRST_S = 1.0
"""After a failed fetch, the next try comes this much later, doubling up to the rules interval."""
HTTP_TIMEOUT_S = 2.0
LOCAL_RESERVOIR_PER_S = 1
LOCAL_FIXED_RATE = 0.05
MAX_STATISTICS_PER_CALL = 25
"""``SamplingStatisticsDocuments`` per ``SamplingTargets`` call (the API's limit)."""
_MAX_PAGES = 20
_JOIN_S = 0.2
_MASK = (1 << 56) - 1
_SCALE = 1 << 56
_CACHE_SIZE = 4096
"""Requests (method, host, path) whose rule a rule set remembers."""
_FIELDS_SIZE = 1024
"""Distinct methods, hosts and (method, host) pairs remembered (emptied when full: a hostile Host header
cannot grow them)."""
_INDEXES_SIZE = 64
"""Path indexes (one per set of rules a method and a host leave: a service has a few)."""
_SEGMENTS_SIZE = 4096
"""(method, host, first path segment) whose answer a rule set remembers."""
_NO_TARGET = (None, 0, -1, 0)
"""A rule's target: (quota per second or None, quota TTL epoch s, boost threshold, boost TTL epoch s)."""
_SAMPLERS = ("ratio", "xray")
_V = TypeVar("_V")


def _parse_sampler(name: str, value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if name == "OTEL_TRACES_SAMPLER":
        # OpenTelemetry's other samplers (always_on, parentbased_traceidratio...) describe what
        # obskit's ratio sampler already does; only "xray" selects something else.
        return "xray" if text == "xray" else "ratio"
    if text not in _SAMPLERS:
        where = f"{name}={value!r}" if name.isupper() else f"configure({name}={value!r})"
        raise ConfigError(f"{where}: expected 'ratio' (trace_sample_rate and trace_reservoir_per_s) or 'xray'")
    return str(text)


OPTIONS: dict[str, Option] = {
    "trace_sampler": Option(
        "ratio", _parse_sampler,
        "how new traces are sampled: 'ratio' (trace_sample_rate, trace_reservoir_per_s) or 'xray' "
        "(the X-Ray service's sampling rules, through the daemon at xray_daemon_address)",
    ),
}


# --- matching -----------------------------------------------------------------------------------
def _glob(pattern: str) -> str:
    """An X-Ray wildcard pattern as a regular expression: ``*`` any run of characters, ``?`` exactly one.

    A run of ``*`` is one ``*``. Each literal stretch between two ``*`` is taken at its first
    occurrence (an atomic group): for globs that never loses a match, and a hostile path cannot
    make the engine try every way of splitting it (``*a*a*a*b`` against ``aaaa...``).
    """
    def fixed(part: str) -> str:
        return "".join("." if c == "?" else re.escape(c) for c in part)

    parts = re.split(r"\*+", pattern)
    if len(parts) == 1:
        return fixed(pattern)
    head, *middle, tail = parts
    return fixed(head) + "".join(f"(?>.*?{fixed(m)})" for m in middle) + ".*" + fixed(tail)


@functools.lru_cache(maxsize=256)
def _matcher(pattern: str) -> Callable[[str], Any] | None:
    """A lower-cased pattern's ``fullmatch`` over lower-cased text; ``None`` when it matches any text."""
    if pattern and not pattern.strip("*"):
        return None
    return re.compile(_glob(pattern), re.DOTALL).fullmatch


def wildcard_match(pattern: str, text: str) -> bool:
    """``*`` any run of characters, ``?`` exactly one, the rest literal; case-insensitive (``str.lower``)."""
    match = _matcher(pattern.lower())
    return match is None or match(text.lower()) is not None


class Rule:
    """One sampling rule: its patterns, its reservoir and fixed rate, and its statistics since the last report."""

    __slots__ = (
        "attribute_matchers", "attributes", "borrowed", "can_borrow", "definition", "host", "method", "name", "path",
        "priority", "priority_key", "requests", "sampled", "spent_s", "target", "threshold", "window",
    )

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.definition = dict(definition)
        """The rule as the service sent it (a refresh keeps the state of a rule that did not change)."""
        self.name: str = definition["RuleName"]
        self.priority: int = definition["Priority"]
        self.priority_key = (self.priority, self.name)
        """Decision order: priority, then name."""
        self.threshold = int(definition["FixedRate"] * _SCALE)
        self.can_borrow = 1 if definition["ReservoirSize"] > 0 else 0
        """Traces a second the rule borrows while it has no fresh quota: one, if it has a reservoir at all."""
        self.method: str = definition["HTTPMethod"]
        self.host: str = definition["Host"]
        self.path: str = definition["URLPath"]
        self.attributes: tuple[tuple[str, str], ...] = tuple(sorted((definition.get("Attributes") or {}).items()))
        self.attribute_matchers = tuple((key, _matcher(pattern.lower())) for key, pattern in self.attributes)
        self.target: tuple[int | None, int, int, int] = _NO_TARGET
        self.window: tuple[int, Iterator[int]] = (-1, itertools.count())
        self.spent_s = -1
        """The second whose reservoir is used up: the rest of it goes straight to the fixed rate."""
        self.requests = itertools.count()
        self.sampled = itertools.count()
        self.borrowed = itertools.count()

    def decide(self, trace_id: int, now_s: int) -> bool:
        """Reservoir first (the quota while fresh, else borrow one a second), then the fixed rate."""
        next(self.requests)
        if self.spent_s != now_s and self._reserve(now_s):
            return True
        _, _, boost, boost_until = self.target
        threshold = self.threshold
        if boost > threshold and now_s <= boost_until:
            threshold = boost
        if (trace_id & _MASK) < threshold:
            next(self.sampled)
            return True
        return False

    def _reserve(self, now_s: int) -> bool:
        """One trace from this second's reservoir if any is left, else the second is marked spent."""
        quota, quota_until, _, _ = self.target
        if quota is not None and now_s <= quota_until:
            limit, borrowing = quota, False
        else:
            limit, borrowing = self.can_borrow, True
        window = self.window
        if window[0] != now_s:
            window = self.window = (now_s, itertools.count())
        if next(window[1]) < limit:
            if borrowing:
                next(self.borrowed)
            next(self.sampled)
            return True
        self.spent_s = now_s
        return False

    def statistics(self) -> tuple[int, int, int]:
        """(requests, sampled, borrowed) since the last call; the counters start again from zero."""
        counters = (self.requests, self.sampled, self.borrowed)
        self.requests, self.sampled, self.borrowed = itertools.count(), itertools.count(), itertools.count()
        return next(counters[0]), next(counters[1]), next(counters[2])


def _local_default() -> Rule:
    return Rule({"RuleName": "Default", "Priority": 10000, "FixedRate": LOCAL_FIXED_RATE,
                 "ReservoirSize": LOCAL_RESERVOIR_PER_S, "HTTPMethod": "*", "Host": "*", "URLPath": "*"})


class RuleSet:
    """The rules that apply to this service, in decision order, and the indexes that find a request's rule.

    Service name, service type and resource ARN are the same for every request of a process,
    so rules that cannot match them are left out here, once. A request is then matched field by
    field. Its method and its host (a service sees few distinct ones) map, once per value, to the
    rules whose pattern they match, as a bitmask; the rules both leave share one ``_PathIndex``,
    which matches only the path. Most rules look at a path's first segment only (``/orders/*``,
    ``/health*``): when the segment settles what every rule says, that answer is kept per
    ``(method, host, segment)`` in ``segments``, so a new ``/orders/123`` (ids in paths) costs a
    dict lookup instead of the path's expression. What was found is also kept per ``(method,
    host, path)`` in ``cache``, a request seen before costing one lookup.
    ``benchmarks/bench_sampling.py`` times both ("64 paths cycling", "every path new").
    """

    __slots__ = ("_host_matchers", "_hosts", "_method_matchers", "_methods", "_paths", "attribute_keys", "cache",
                 "fetched_s", "indexes", "rules", "segments")

    def __init__(self, rules: Sequence[Rule], fetched_s: int) -> None:
        self.rules = tuple(sorted(rules, key=lambda r: r.priority_key))
        self.fetched_s = fetched_s
        self.attribute_keys = frozenset(key for r in self.rules for key, _ in r.attributes)
        """The span attributes some rule names: a request with none of them matches no rule with attributes."""
        self._method_matchers = tuple(_matcher(r.method.lower()) for r in self.rules)
        self._host_matchers = tuple(_matcher(r.host.lower()) for r in self.rules)
        self._methods: dict[Any, int] = {}
        """A request method -> the bitmask of the rules (bit i: ``rules[i]``) whose method pattern it matches."""
        self._hosts: dict[Any, int] = {}
        """The same for hosts."""
        self._paths: dict[int, _PathIndex] = {}
        """The bitmask of the rules a method and a host both leave -> the index over their paths."""
        self.indexes: dict[tuple[Any, Any], _PathIndex] = {}
        """``(method, host)`` -> its path index (one lookup where the three above take three)."""
        self.segments: dict[tuple[Any, Any, str], Rule | tuple[Rule, ...] | _PathIndex] = {}
        """``(method, host, first path segment)`` -> the answer of every such path, or the index that matches
        each, for the first ``_SEGMENTS_SIZE`` (not emptied when full, as ``cache``)."""
        self.cache: dict[tuple[Any, Any, Any], Rule | tuple[Rule, ...]] = {}
        """``(method, host, path)`` -> what ``miss`` found, for the first ``_CACHE_SIZE`` requests that
        differ (the rules, and so this, are replaced every 5 minutes). Not emptied when full: with ids
        in paths it would only fill again with requests that never come back, at a cost to each."""

    def candidates(self, method: Any, host: Any, path: Any) -> Rule | tuple[Rule, ...]:
        """The rule for this request, or the candidates in order when rules with attributes come first.

        Values that are not text are matched as their ``str()``.
        """
        if method.__class__ is not str or host.__class__ is not str or path.__class__ is not str:
            method, host, path = str(method), str(host), str(path)
        key = (method, host, path)
        return self.cache.get(key) or self.miss(key)

    def miss(self, key: tuple[Any, Any, Any]) -> Rule | tuple[Rule, ...]:
        """What ``cache`` does not hold: the rule its first path segment settles, else its path's match."""
        method, host, path = key
        if path.__class__ is not str:
            return self.candidates(method, host, path)
        cut = path.find("/", 1) + 1
        if cut:  # the first segment ("/orders/") often settles the rule, whatever follows (ids)
            segment_key = (method, host, path[:cut].lower())  # as path.lower() begins: "/" ends a word
            settled: Any = self.segments.get(segment_key) or self._settle(segment_key)
        else:
            settled = self.indexes.get((method, host)) or self._index(method, host)
        found: Rule | tuple[Rule, ...] = settled.find(path.lower()) if settled.__class__ is _PathIndex else settled
        if len(self.cache) < _CACHE_SIZE:
            self.cache[key] = found
        return found

    def _settle(self, segment_key: tuple[Any, Any, str]) -> Rule | tuple[Rule, ...] | _PathIndex:
        """What a first segment settles for this method and host, or the index that must match the whole path."""
        method, host, segment = segment_key
        index = self.indexes.get((method, host)) or self._index(method, host)
        answer = index.settled(segment)
        settled = index if answer is None else answer
        if len(self.segments) < _SEGMENTS_SIZE:
            self.segments[segment_key] = settled
        return settled

    def _index(self, method: Any, host: Any) -> _PathIndex:
        """The index over the paths of the rules this method and this host leave (shared by equal sets)."""
        methods = self._methods.get(method)
        if methods is None:
            methods = _bounded_put(self._methods, method, self._mask(self._method_matchers, method))
        hosts = self._hosts.get(host)
        if hosts is None:
            hosts = _bounded_put(self._hosts, host, self._mask(self._host_matchers, host))
        mask = methods & hosts
        index = self._paths.get(mask)
        if index is None:
            if len(self._paths) >= _INDEXES_SIZE:
                self._paths.clear()
                self.indexes.clear()  # so that no more than _INDEXES_SIZE indexes (and their memos) live
            index = self._paths[mask] = _PathIndex([r for i, r in enumerate(self.rules) if mask >> i & 1])
        return _bounded_put(self.indexes, (method, host), index)

    @staticmethod
    def _mask(matchers: Sequence[Callable[[str], Any] | None], value: Any) -> int:
        lowered = (value if value.__class__ is str else str(value)).lower()
        mask = 0
        for bit, match in enumerate(matchers):
            if match is None or match(lowered) is not None:
                mask |= 1 << bit
        return mask

    def find(self, attributes: Mapping[str, Any] | None) -> Rule | None:
        """The rule that decides a request with these span attributes (unknown ones are empty)."""
        found = self.candidates(*_request_key(attributes))
        return found if isinstance(found, Rule) else self.pick(found, attributes)

    def pick(self, candidates: tuple[Rule, ...], attributes: Mapping[str, Any] | None) -> Rule | None:
        """The first candidate whose attribute patterns (if it has any) all match the span's attributes (strings)."""
        if not attributes or attributes.keys().isdisjoint(self.attribute_keys):
            last = candidates[-1] if candidates else None  # no rule with attributes can match: the rule after them
            return last if last is not None and not last.attributes else None
        get = attributes.get
        for rule in candidates:
            for key, match in rule.attribute_matchers:
                value = get(key)
                if value.__class__ is not str or (match is not None and match(value.lower()) is None):
                    break
            else:
                return rule
        return None


_request_fields = operator.itemgetter(ATTR_HTTP_METHOD, ATTR_SERVER_ADDRESS, ATTR_URL_PATH)
"""A request span's (method, host, path) in one call; ``KeyError`` when one is missing."""


def _request_key(attributes: Mapping[str, Any] | None) -> tuple[Any, Any, Any]:
    """The span's (method, host, path); a field it does not have is empty."""
    if not attributes:
        return _NO_FIELDS
    try:
        return _request_fields(attributes)  # type: ignore[no-any-return]
    except KeyError:
        get = attributes.get
        return get(ATTR_HTTP_METHOD, ""), get(ATTR_SERVER_ADDRESS, ""), get(ATTR_URL_PATH, "")


_NO_FIELDS = ("", "", "")


class _PathIndex:
    """Among some rules (those a method and a host leave), the first whose path pattern matches a path.

    The rules without attributes, up to the first whose path is ``*``, become one regular
    expression of alternatives in decision order, each ending in an empty group, so
    ``lastindex`` names the first rule that matched. Paths begin with ``/``: that common prefix
    is factored out and every alternative then starts with a literal character, which the
    engine checks before entering it. Rules with attributes (rare) also depend on the request's
    attributes: each answer lists the ones before the rule found, which ``RuleSet.pick`` tries.
    ``settled`` tells what a first segment alone decides, without the expression.
    """

    __slots__ = ("_order", "answers", "match", "paths")

    def __init__(self, rules: Sequence[Rule]) -> None:
        plain: list[Rule] = []
        catch_all: Rule | None = None
        """The first rule without attributes whose path is ``*``: it answers when no rule before it matches."""
        self.paths: dict[Rule, Callable[[str], Any]] = {}
        """The path patterns of the attribute rules, when they are not ``*``."""
        for rule in rules:
            match = _matcher(rule.path.lower())
            if rule.attributes and match is not None:
                self.paths[rule] = match
            elif not rule.attributes and match is None:
                catch_all = rule
                break
            elif not rule.attributes:
                plain.append(rule)
        self.match: Callable[[str], Any] = re.compile(
            "|".join(f"(?:{_glob(r.path.lower())}())" for r in plain) or "(?!)", re.DOTALL
        ).fullmatch
        """``fullmatch`` over the lower-cased path."""
        attribute_rules = [r for r in rules if r.attributes]
        self.answers = tuple(_answer(found, attribute_rules) for found in (catch_all, *plain))
        """By the matched alternative's group number (0: none matched): the candidates, in order."""
        self._order = tuple((r, r.path.lower(), plain.index(r) + 1 if r in plain else 0)
                            for r in rules if r in self.paths or r in plain)
        """The rules whose path pattern decides, in order: (rule, pattern, its group number or 0)."""

    def find(self, lowered: str) -> Rule | tuple[Rule, ...]:
        """The answer for a lower-cased path: the expression's, without attribute rules whose path differs."""
        m = self.match(lowered)
        found = self.answers[m.lastindex if m is not None else 0]
        if self.paths and isinstance(found, tuple):
            paths = self.paths
            found = tuple(r for r in found if r not in paths or paths[r](lowered) is not None)
        return found

    def settled(self, segment: str) -> Rule | tuple[Rule, ...] | None:
        """The answer every path beginning with ``segment`` (lower-cased) gets, or ``None`` when they differ."""
        number, dropped = 0, set()
        for rule, pattern, group in self._order:
            fate = _fate(pattern, segment)
            if fate is None:
                return None
            if not fate and rule.attributes:
                dropped.add(rule)
            elif fate and not rule.attributes:
                number = group
                break
        found = self.answers[number]
        if dropped and isinstance(found, tuple):
            found = tuple(r for r in found if r not in dropped)
        return found


def _fate(pattern: str, segment: str) -> bool | None:
    """Whether every path beginning with ``segment`` matches ``pattern`` (``True``), none does, or it depends."""
    stars, marks = pattern.find("*"), pattern.find("?")
    wild = min(i for i in (stars, marks, len(pattern)) if i >= 0)
    literal = pattern[:wild]
    if wild == len(pattern):  # no wildcard: only the path equal to it
        return None if pattern.startswith(segment) else False
    if not (literal.startswith(segment) or segment.startswith(literal)):
        return False
    if segment.startswith(literal) and not pattern[wild:].strip("*"):
        return True  # "literal*"
    return None


def _answer(found: Rule | None, attribute_rules: Sequence[Rule]) -> Rule | tuple[Rule, ...]:
    """``found``, after the attribute rules that come before it in decision order (``()``: no rule)."""
    before = tuple(r for r in attribute_rules if found is None or r.priority_key < found.priority_key)
    if not before:
        return found if found is not None else ()
    return (*before, found) if found is not None else before


def _bounded_put(table: dict[Any, _V], key: Any, value: _V) -> _V:
    """``table[key] = value``, emptying ``table`` first when it is full; returns ``value``."""
    if len(table) >= _FIELDS_SIZE:
        table.clear()
    table[key] = value
    return value


# --- status -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleStatus:
    """One rule in force: its definition and the share of the reservoir this process was assigned."""

    name: str
    priority: int
    fixed_rate: float
    reservoir_quota: int | None
    """Traces a second this process may take from the rule's reservoir; ``None`` before the first target."""
    quota_ttl: int
    """Epoch seconds until which the quota holds (0: no quota)."""


@dataclass(frozen=True)
class SamplingStatus:
    """What ``obskit.sampling.status()`` reports: where decisions come from right now."""

    sampler: str
    """``"ratio"`` or ``"xray"``."""
    source: str
    """``"rules"`` (the service's), ``"local"`` (X-Ray's default: no rules yet, or too old) or ``"ratio"``."""
    rules: tuple[RuleStatus, ...]
    rules_fetches: int
    """Successful ``GetSamplingRules`` rounds so far (tests and health checks wait on it)."""
    targets_fetches: int
    """Successful ``SamplingTargets`` calls so far."""
    last_error: str | None


def status() -> SamplingStatus:
    """Where sampling decisions come from now (the live configuration's sampler)."""
    from obskit import _pipeline

    sampler = getattr(_pipeline.get(), "sampler", None)
    if sampler is None:
        return SamplingStatus("ratio", "ratio", (), 0, 0, None)
    got: SamplingStatus = sampler.status()
    return got


# --- the sampler --------------------------------------------------------------------------------
class XRaySampler:
    """Decides new traces by the X-Ray service's rules; one background thread keeps them fresh."""

    def __init__(self, *, service: str, service_type: str, resource_arn: str, address: tuple[str, int],
                 clock: Callable[[], int], rules_interval_s: float = RULES_INTERVAL_S,
                 enabled: bool = True) -> None:
        self._service = service
        self._service_type = service_type
        self._resource_arn = resource_arn
        self._address = address
        self._clock = clock
        self._rules_interval = rules_interval_s
        self._enabled = enabled
        """``False`` in Lambda: its front end decides every trace; the local default covers the rest."""
        self._ruleset: RuleSet | None = None
        self._local = _local_default()
        self._started = not enabled
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client_id = os.urandom(12).hex()
        self._rules_fetches = 0
        self._targets_fetches = 0
        self._last_error: str | None = None
        self._last_modified = 0.0
        self._targets_interval = TARGETS_INTERVAL_S
        self._random = random.Random()

    # request path
    def sample(self, trace_id: int, attributes: Mapping[str, Any] | None = None) -> bool | str:
        """The decision for a new trace: the matched rule's name when it samples, else ``False``.

        ``True`` (no name) when X-Ray's local default sampled it. Never blocks: the first call
        only starts the poller thread.
        """
        if not self._started:
            self._start()
        now_s = self._clock() // 1_000_000_000
        ruleset = self._ruleset
        if ruleset is not None and now_s - ruleset.fetched_s <= RULES_TTL_S:
            try:  # RuleSet.candidates, inlined: every new request pays this (benchmarks/bench_sampling.py)
                key = _request_fields(attributes) if attributes else _NO_FIELDS
                rule: Any = ruleset.cache.get(key) or ruleset.miss(key)
            except (KeyError, TypeError):  # a field missing (empty, then), or a value that is not hashable
                rule = ruleset.candidates(*_request_key(attributes))
            if rule.__class__ is not Rule:
                rule = ruleset.pick(rule, attributes)
            if rule is not None:
                return rule.name if rule.decide(trace_id, now_s) else False
        return self._local.decide(trace_id, now_s)

    def status(self) -> SamplingStatus:
        ruleset = self._ruleset
        now_s = self._clock() // 1_000_000_000
        live = ruleset is not None and now_s - ruleset.fetched_s <= RULES_TTL_S
        rules = tuple(
            RuleStatus(r.name, r.priority, r.definition["FixedRate"], r.target[0], r.target[1])
            for r in (ruleset.rules if ruleset is not None else ())
        )
        return SamplingStatus("xray", "rules" if live else "local", rules, self._rules_fetches,
                              self._targets_fetches, self._last_error)

    # lifecycle
    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self._stop.clear()
            thread = threading.Thread(target=self._run, name="obskit-xray-sampling", daemon=True)
            self._thread = thread
        try:
            thread.start()
        except RuntimeError as exc:  # interpreter shutting down, or no threads left
            _diagnostics.count("sampling.xray.no_thread", "obskit: X-Ray sampling cannot start its thread: %r", exc)

    def close(self) -> None:
        """Stop the poller (the configuration is replaced, or the process shuts down)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(timeout=_JOIN_S)  # it keeps nothing worth waiting for: a call in flight is abandoned

    def after_fork(self) -> None:
        """In a forked child: a new client with its own statistics; the parent's quotas are not ours.

        The rules are kept (they are the fleet's), but each rule borrows again until the
        service assigns this process its own share; the poller restarts at the next decision.
        """
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = None
        self._started = not self._enabled
        self._client_id = os.urandom(12).hex()
        self._local = _local_default()
        ruleset = self._ruleset
        if ruleset is not None:
            for rule in ruleset.rules:
                rule.target = _NO_TARGET
                rule.statistics()

    # the poller thread
    def _run(self) -> None:
        """Fetch the rules, then report statistics at the service's interval; back off while unreachable.

        A fetch that works again after failures, or a ``LastRuleModification`` newer than the
        rules in hand, fetches the rules at once instead of at the next 5-minute turn.
        """
        next_rules, next_targets, failures = time.monotonic(), float("inf"), 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_rules:
                if self._refresh_rules():
                    failures = 0
                    next_rules = now + self._rules_interval + self._random.random() * 5
                    next_targets = now  # the first quotas without waiting a whole interval
                else:
                    failures += 1
                    next_rules = now + self._backoff(failures, self._rules_interval)
            elif now >= next_targets:
                changed = self._report()
                if changed is None:
                    failures += 1
                    next_targets = now + self._backoff(failures, self._targets_interval)
                else:
                    if changed or failures:
                        next_rules = now
                    failures = 0
                    next_targets = now + self._targets_interval + self._random.random() / 10
            self._wake.wait(max(0.0, min(next_rules, next_targets) - time.monotonic()))

    @staticmethod
    def _backoff(failures: int, limit: float) -> float:
        return min(limit, RETRY_FIRST_S * (1 << min(failures - 1, 16)))

    def _call(self, path: str, body: Mapping[str, Any]) -> Any:
        """One POST to the daemon's proxy; the JSON answer, or ``None`` (counted, reported once)."""
        import http.client
        import json

        host, port = self._address
        conn = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise OSError(f"HTTP {resp.status} from {path}: {data[:200]!r}")
            answer = json.loads(data)
            if not isinstance(answer, dict):
                raise ValueError(f"{path} answered {type(answer).__name__}, not an object")
            return answer
        except (OSError, ValueError, http.client.HTTPException) as exc:
            self._last_error = f"{path}: {exc!r}"
            _diagnostics.count(
                "sampling.xray.unreachable",
                "obskit: X-Ray sampling rules unavailable from the daemon at %s:%s (%r); new traces follow "
                "the last rules fetched (for up to an hour), else X-Ray's default (1 a second, then 5%%)",
                host, port, exc,
            )
            return None
        finally:
            conn.close()

    def _refresh_rules(self) -> bool:
        records: list[Any] = []
        token: Any = None
        for _ in range(_MAX_PAGES):
            answer = self._call("/GetSamplingRules", {"NextToken": token} if token else {})
            if answer is None:
                return False
            records.extend(answer.get("SamplingRuleRecords") or ())
            token = answer.get("NextToken")
            if not token:
                break
        rules = [r for r in (self._rule(rec) for rec in records) if r is not None]
        old = {r.name: r for r in self._ruleset.rules} if self._ruleset is not None else {}
        kept = [_carry(old[r.name], r) if r.name in old else r for r in rules]
        self._ruleset = RuleSet(kept, self._clock() // 1_000_000_000)
        self._last_modified = time.time()
        self._rules_fetches += 1
        self._last_error = None
        return True

    def _rule(self, record: Any) -> Rule | None:
        """A rule record as a ``Rule``, if it is valid and can match this service (else ``None``)."""
        definition = record.get("SamplingRule") if isinstance(record, dict) else None
        if not _valid(definition):
            _diagnostics.count("sampling.xray.rule_skipped",
                               "obskit: skipping a sampling rule obskit cannot read: %.300r", record)
            return None
        assert definition is not None
        if definition["Version"] != 1:
            return None  # a newer rule format: the SDKs skip it too
        if not (wildcard_match(definition["ServiceName"], self._service)
                and wildcard_match(definition["ServiceType"], self._service_type)
                and wildcard_match(definition["ResourceARN"], self._resource_arn)):
            return None
        return Rule(definition)

    def _report(self) -> bool | None:
        """Send each rule's statistics; apply the targets. ``True``: the rules changed since the last fetch."""
        ruleset = self._ruleset
        if ruleset is None or not ruleset.rules:
            return False
        now = self._clock() / 1e9
        docs = []
        for rule in ruleset.rules:
            requests, sampled, borrowed = rule.statistics()
            docs.append({"RuleName": rule.name, "ClientID": self._client_id, "Timestamp": now,
                         "RequestCount": requests, "SampledCount": sampled, "BorrowCount": borrowed})
        by_name = {r.name: r for r in ruleset.rules}
        changed = False
        interval: float | None = None
        for start in range(0, len(docs), MAX_STATISTICS_PER_CALL):
            chunk = docs[start:start + MAX_STATISTICS_PER_CALL]
            answer = self._call("/SamplingTargets", {"SamplingStatisticsDocuments": chunk})
            if answer is None:
                return None
            for target in answer.get("SamplingTargetDocuments") or ():
                named = by_name.get(str(target.get("RuleName"))) if isinstance(target, dict) else None
                if named is not None:
                    every = _apply_target(named, target)
                    if every is not None:
                        interval = every if interval is None else min(interval, every)
            modified = _number(answer.get("LastRuleModification"))
            changed = changed or (modified is not None and modified > self._last_modified)
        self._targets_interval = interval if interval is not None else self._targets_interval
        self._targets_fetches += 1
        return changed


def _carry(old: Rule, new: Rule) -> Rule:
    """The rule to keep when ``new`` replaces a rule of the same name: ``old`` itself when unchanged.

    A changed rule keeps the statistics not yet reported and the quota it was assigned (the
    next target replaces it), as the X-Ray SDKs do.
    """
    if old.definition == new.definition:
        return old
    new.requests, new.sampled, new.borrowed = old.requests, old.sampled, old.borrowed
    new.target, new.window = old.target, old.window
    return new


def _number(value: Any) -> float | None:
    """A JSON number or numeric string (epoch seconds as the API sends them), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _apply_target(rule: Rule, target: Mapping[str, Any]) -> float | None:
    """Set a rule's fixed rate, quota and boost from a ``SamplingTargetDocument``; return its interval."""
    rate = _number(target.get("FixedRate"))
    if rate is not None and 0.0 <= rate <= 1.0:
        rule.threshold = int(rate * _SCALE)
    quota, until, boost, boost_until = rule.target
    got = target.get("ReservoirQuota")
    ttl = _number(target.get("ReservoirQuotaTTL"))
    if isinstance(got, int) and not isinstance(got, bool) and got >= 0:
        quota = got
        until = int(ttl) if ttl is not None else 0
    elif ttl is not None:
        until = int(ttl)
    raw_boost = target.get("SamplingBoost")
    if isinstance(raw_boost, dict):
        boost_rate = _number(raw_boost.get("BoostRate"))
        boost_ttl = _number(raw_boost.get("BoostRateTTL"))
        if boost_rate is not None and boost_ttl is not None and 0.0 <= boost_rate <= 1.0:
            boost, boost_until = int(boost_rate * _SCALE), int(boost_ttl)
    rule.target = (quota, until, boost, boost_until)
    interval = target.get("Interval")
    return float(interval) if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0 else None


_TEXT_FIELDS = ("RuleName", "ServiceName", "ServiceType", "Host", "HTTPMethod", "URLPath", "ResourceARN")


def _valid(rule: Any) -> bool:
    if not isinstance(rule, dict):
        return False
    if not all(isinstance(rule.get(k), str) for k in _TEXT_FIELDS) or not rule["RuleName"]:
        return False
    ints = (rule.get("Priority"), rule.get("ReservoirSize"), rule.get("Version"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints) or rule["ReservoirSize"] < 0:
        return False
    rate = rule.get("FixedRate")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
        return False
    attributes = rule.get("Attributes")
    return attributes is None or (
        isinstance(attributes, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
    )


def create(config: Any) -> XRaySampler:
    """The sampler for ``trace_sampler="xray"``; the thread starts at its first decision.

    Raises:
        ConfigError: ``OTEL_TRACES_SAMPLER_ARG`` is malformed (when ``OTEL_TRACES_SAMPLER`` chose this sampler).
    """
    address = config.option("xray_daemon_address")
    tcp = getattr(address, "tcp", None) or address or _env.DEFAULT_XRAY_DAEMON_ADDRESS
    interval = RULES_INTERVAL_S
    if config.sources.get("trace_sampler") == "OTEL_TRACES_SAMPLER":
        endpoint, every = _otel_sampler_arg(os.environ.get(_env.OTEL_TRACES_SAMPLER_ARG, ""))
        tcp, interval = endpoint or tcp, every or interval
    return XRaySampler(
        service=config.service,
        service_type="AWS::Lambda::Function" if config.in_lambda else _env.detect_origin() or "",
        resource_arn="",
        address=tuple(tcp),
        clock=config.clock,
        rules_interval_s=interval,
        enabled=not config.in_lambda,
    )


def _otel_sampler_arg(text: str) -> tuple[tuple[str, int] | None, float | None]:
    """``endpoint=http://host:port,polling_interval=seconds`` (either part optional), as the AWS distro reads it."""
    endpoint: tuple[str, int] | None = None
    every: float | None = None
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        m = re.fullmatch(r"https?://([A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})/?", value) if sep else None
        if key == "endpoint" and m and 0 < int(m[2]) < 65536:
            endpoint = (m[1].strip("[]"), int(m[2]))
        elif key == "polling_interval" and sep and value.isdigit() and int(value) > 0:
            every = float(value)
        else:
            raise ConfigError(
                f"{_env.OTEL_TRACES_SAMPLER_ARG}={text!r}: expected "
                "'endpoint=http://host:port,polling_interval=seconds' (either part may be left out)"
            )
    return endpoint, every
