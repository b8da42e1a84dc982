"""An offline CloudWatch: replays per-minute synthetic traffic through a generated template.

Reusable by any test that needs to know what generated alarms *do* (fire, clear, notify), not
only what they say. It reads a CloudFormation template (the dict ``json.loads`` gives for
``to_cloudformation(alarm_set, fmt="json")``) and evaluates it the way CloudWatch documents:

* every ``AWS::CloudWatch::Alarm`` is re-evaluated each minute (standard resolution) over a
  sliding window: at minute ``T`` its ``EvaluationPeriods`` data points cover
  ``[T - k*Period - Period, T - k*Period)`` for ``k = 0..N-1``; each point is its metric-math
  ``Expression`` over the ``MetricStat`` statistics of that span (missing when the metrics have
  no data or the expression divides by zero); ``DatapointsToAlarm`` of them must breach
  ``Threshold`` under ``ComparisonOperator``; missing points follow ``TreatMissingData``
  (``notBreaching``/``breaching`` count as good/bad; ``missing``/``ignore`` use only the points
  present and, when none are, go to INSUFFICIENT_DATA or keep the state);
* every ``AWS::CloudWatch::CompositeAlarm`` evaluates its ``AlarmRule`` (``ALARM``/``OK``/
  ``INSUFFICIENT_DATA`` of a name, ``TRUE``, ``FALSE``, ``AND``, ``OR``, ``NOT``, parentheses;
  ``${LogicalId}`` of ``Fn::Sub`` resolved to the child's ``AlarmName``) after its children;
* notifications are sent on state transitions of alarms with actions. A composite with an
  ``ActionsSuppressor`` holds its ALARM actions while the suppressor is in ALARM, up to
  ``ActionsSuppressorWaitPeriod`` after entering ALARM (waiting for the suppressor to fire) and
  for ``ActionsSuppressorExtensionPeriod`` after the suppressor leaves ALARM; when the hold ends
  and the composite is still in ALARM, it notifies then (that is how a suppressed ticket can
  notify after an incident is over). OK notifications follow only a sent ALARM notification.

The data model is what obskit emits: ``Fault`` (one 0/1 value per request), ``Latency`` (one
value per request; ``PR(:T)`` counts the requests not in ``Traffic.slow``), CloudWatch
Synthetics ``SuccessPercent`` (one 0 or 100 per canary run) and, for ratio SLIs, any metric
names mapped to a role with ``metrics=`` (``bad`` metrics have data only in minutes with bad
events, as counters emitted on error do). Minute ``m`` of a ``Traffic`` is the span
``[m, m+1)``; an evaluation at minute ``T`` sees minutes before ``T``, so a failure in minute
``m`` is seen at ``T = m + 1`` at the earliest (CloudWatch's one-minute evaluation).

Typical use::

    replay = Replay.of(alarm_set)                 # or Replay(template_dict)
    traffic = Traffic().steady(120).steady(10, error_ratio=1.0).steady(240)
    timeline = replay.run(traffic)
    timeline.first("obskit-...-page")             # first minute in ALARM, or None
    timeline.notifications                        # [Notification(minute, alarm, state), ...]
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

__all__ = ["ALARM", "INSUFFICIENT", "OK", "Notification", "Replay", "Timeline", "Traffic", "compile_expression"]

ALARM, OK, INSUFFICIENT = "ALARM", "OK", "INSUFFICIENT_DATA"
Value = float | None
Env = Mapping[str, Value]


# --- traffic ---------------------------------------------------------------------------------
@dataclass
class Traffic:
    """Per-minute counts: requests, faults, slow requests, canary runs and failed runs."""

    requests: list[float] = field(default_factory=list)
    faults: list[float] = field(default_factory=list)
    slow: list[float] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.requests)

    def steady(self, minutes: int, *, error_ratio: float = 0.0, slow_ratio: float = 0.0, rate: float = 1000,
               noise: random.Random | None = None) -> Traffic:
        """``minutes`` of ``rate`` requests a minute, a share of them faults and a share slow.

        With ``noise`` the faults of each minute are Poisson-distributed around the mean.
        """
        for _ in range(minutes):
            bad = error_ratio * rate
            if noise is not None:
                bad = float(_poisson(bad, noise))
            self._minute(rate, bad, slow_ratio * rate, 0, 0)
        return self

    def sparse(self, minutes: int, *, every: int, fail: Callable[[int], bool] = lambda i: False,
               start: int = 0) -> Traffic:
        """One request (or canary run) every ``every`` minutes; ``fail(i)`` says if the i-th one fails.

        Both the request metrics and the canary metrics see the same events, so this models a
        low-traffic service and a canary on a schedule alike. ``start`` offsets the first event.
        """
        for m in range(minutes):
            due = (m - start) % every == 0 and m >= start
            i = (m - start) // every
            bad = 1 if due and fail(i) else 0
            self._minute(1.0 if due else 0.0, float(bad), 0.0, int(due), bad)
        return self

    def _minute(self, requests: float, faults: float, slow: float, runs: int, failed: int) -> None:
        self.requests.append(requests)
        self.faults.append(faults)
        self.slow.append(slow)
        self.runs.append(runs)
        self.failed.append(failed)


def _poisson(mean: float, rng: random.Random) -> int:
    """Knuth's method; fine for the small means of error counts per minute."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while (p := p * rng.random()) > limit:
        k += 1
    return k


# --- metric math -----------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|[-+*/(),<>]))")


def _lift(op: Callable[[float, float], Value]) -> Callable[[Value, Value], Value]:
    return lambda a, b: None if a is None or b is None else op(a, b)


def _arith(op: Callable[[float, float], float]) -> Callable[[Value, Value], Value]:
    """Metric math arithmetic: a missing operand reads as 0 unless both are missing."""
    return lambda a, b: None if a is None and b is None else op(a or 0.0, b or 0.0)


_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "+": _arith(lambda a, b: a + b), "-": _arith(lambda a, b: a - b), "*": _arith(lambda a, b: a * b),
    "/": _lift(lambda a, b: None if b == 0 else a / b),
    ">=": _lift(lambda a, b: float(a >= b)), ">": _lift(lambda a, b: float(a > b)),
    "<=": _lift(lambda a, b: float(a <= b)), "<": _lift(lambda a, b: float(a < b)),
    "==": _lift(lambda a, b: float(a == b)), "!=": _lift(lambda a, b: float(a != b)),
    "AND": _lift(lambda a, b: float(bool(a) and bool(b))), "OR": _lift(lambda a, b: float(bool(a) or bool(b))),
}
_LEVELS = (("OR",), ("AND",), (">=", ">", "<=", "<", "==", "!="), ("+", "-"), ("*", "/"))
_FUNCTIONS: dict[str, Callable[[list[Value]], Value]] = {
    "IF": lambda a: None if a[0] is None else (a[1] if a[0] else (a[2] if len(a) > 2 else None)),
    "FILL": lambda a: a[1] if a[0] is None else a[0],
    "FLOOR": lambda a: None if a[0] is None else float(math.floor(a[0])),
    "CEIL": lambda a: None if a[0] is None else float(math.ceil(a[0])),
    "ABS": lambda a: None if a[0] is None else abs(a[0]),
}


def compile_expression(text: str) -> Callable[[Env], Value]:
    """A CloudWatch metric-math expression over single points, as a function of query values.

    Models numbers, query ids, ``+ - * /`` (missing operand = 0, division by zero = missing),
    comparisons and ``AND``/``OR`` (1 or 0), and ``IF``, ``FILL``, ``FLOOR``, ``CEIL``, ``ABS``;
    anything else raises, so an unmodelled generated expression cannot pass unnoticed.
    """
    tokens: list[str] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot parse {text[pos:]!r} in {text!r}")
        tokens.append(m.group(m.lastindex or 0))
        pos = m.end()
    at = [0]

    def peek() -> str | None:
        return tokens[at[0]] if at[0] < len(tokens) else None

    def take(expected: str | None = None) -> str:
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"expected {expected or 'a token'} in {text!r}")
        at[0] += 1
        return tok

    def level(n: int) -> Callable[[Env], Value]:
        if n == len(_LEVELS):
            return atom()
        left = level(n + 1)
        while peek() in _LEVELS[n]:
            op, right = _BINARY[take()], level(n + 1)
            left = _bind(op, left, right)
        return left

    def atom() -> Callable[[Env], Value]:
        tok = take()
        if tok == "(":
            inner = level(0)
            take(")")
            return inner
        if tok == "-":
            inner = atom()
            return lambda env: None if (v := inner(env)) is None else -v
        if tok[0].isdigit():
            number = float(tok)
            return lambda env: number
        if peek() == "(":
            take("(")
            args = [level(0)]
            while peek() == ",":
                take(",")
                args.append(level(0))
            take(")")
            if tok not in _FUNCTIONS:
                raise ValueError(f"function {tok} is not modelled")
            fn = _FUNCTIONS[tok]
            return lambda env: fn([a(env) for a in args])
        return lambda env: env[tok]

    compiled = level(0)
    if at[0] != len(tokens):
        raise ValueError(f"trailing tokens in {text!r}")
    return compiled


def _bind(op: Callable[[Value, Value], Value], left: Callable[[Env], Value],
          right: Callable[[Env], Value]) -> Callable[[Env], Value]:
    return lambda env: op(left(env), right(env))


# --- composite rules -------------------------------------------------------------------------
_RULE_TOKEN = re.compile(r'\s*(?:(ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:"([^"]*)"|([^\s()"]+))\s*\)'
                         r"|(TRUE|FALSE|AND|OR|NOT|\(|\)))")


def compile_rule(rule: str) -> tuple[Callable[[Mapping[str, str]], bool], frozenset[str]]:
    """An ``AlarmRule`` as a function of the alarms' states, and the names it reads."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(rule.rstrip()):
        m = _RULE_TOKEN.match(rule, pos)
        if not m:
            raise ValueError(f"cannot parse alarm rule at {rule[pos:]!r}")
        if m.group(1):
            tokens.append((m.group(1), m.group(2) if m.group(2) is not None else m.group(3)))
        else:
            tokens.append((m.group(4), ""))
        pos = m.end()
    at = [0]

    def take() -> tuple[str, str]:
        at[0] += 1
        return tokens[at[0] - 1]

    def peek() -> str | None:
        return tokens[at[0]][0] if at[0] < len(tokens) else None

    def expr() -> Callable[[Mapping[str, str]], bool]:
        left = term()
        while peek() == "OR":
            take()
            left = _or(left, term())
        return left

    def term() -> Callable[[Mapping[str, str]], bool]:
        left = factor()
        while peek() == "AND":
            take()
            left = _and(left, factor())
        return left

    def factor() -> Callable[[Mapping[str, str]], bool]:
        kind, name = take()
        if kind == "NOT":
            inner = factor()
            return lambda st: not inner(st)
        if kind == "(":
            inner = expr()
            if take()[0] != ")":
                raise ValueError(f"unbalanced parentheses in {rule!r}")
            return inner
        if kind in ("TRUE", "FALSE"):
            return lambda st, v=kind == "TRUE": v
        if kind in (ALARM, OK, INSUFFICIENT):
            return lambda st: st[name] == kind
        raise ValueError(f"unexpected {kind!r} in {rule!r}")

    fn = expr()
    if at[0] != len(tokens):
        raise ValueError(f"trailing tokens in {rule!r}")
    names = frozenset(name for kind, name in tokens if name)
    return fn, names


def _or(a: Callable[[Mapping[str, str]], bool], b: Callable[[Mapping[str, str]], bool]) -> Callable[..., bool]:
    return lambda st: a(st) or b(st)


def _and(a: Callable[[Mapping[str, str]], bool], b: Callable[[Mapping[str, str]], bool]) -> Callable[..., bool]:
    return lambda st: a(st) and b(st)


# --- the evaluator ---------------------------------------------------------------------------
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Notification:
    """An action taken: at evaluation ``minute``, ``alarm`` notified of ``state`` (ALARM or OK)."""

    minute: int
    alarm: str
    state: str


@dataclass
class _Child:
    name: str
    period: int  # minutes
    evaluation_periods: int
    datapoints: int
    stats: list[tuple[str, str, str]]  # (query id, metric name, stat)
    expression: Callable[[Env], Value]
    threshold: float
    compare: Callable[[float, float], bool]
    missing: str
    actions: bool


@dataclass
class _Composite:
    name: str
    rule: Callable[[Mapping[str, str]], bool]
    reads: frozenset[str]
    actions: bool
    suppressor: str | None
    wait: int  # minutes
    extension: int  # minutes


@dataclass
class Timeline:
    """The state of every alarm after each evaluation minute, and the notifications sent."""

    states: list[dict[str, str]]
    notifications: list[Notification]

    def first(self, name: str, state: str = ALARM, after: int = 0) -> int | None:
        """The first evaluation minute ``>= after`` at which ``name`` is in ``state``."""
        return next((t for t in range(max(after, 1), len(self.states)) if self.states[t][name] == state), None)

    def alarms(self, state: str = ALARM) -> list[Notification]:
        """The notifications of ``state`` (ALARM by default)."""
        return [n for n in self.notifications if n.state == state]


class Replay:
    """Evaluates a CloudFormation template's alarms minute by minute over ``Traffic``."""

    def __init__(self, template: Mapping[str, Any], *, metrics: Mapping[str, str] | None = None) -> None:
        """``template``: a CloudFormation template dict; ``metrics``: ratio metric name -> role.

        Roles: ``requests`` (counts every event), ``bad`` (bad events), ``good`` (good events).
        """
        self.roles = {"Fault": "fault", "Latency": "latency", "SuccessPercent": "canary", **(metrics or {})}
        resources = template["Resources"]
        names = {rid: r["Properties"]["AlarmName"] for rid, r in resources.items()}
        self.children: list[_Child] = []
        self.composites: list[_Composite] = []
        for r in resources.values():
            props = r["Properties"]
            if r["Type"] == "AWS::CloudWatch::Alarm":
                self.children.append(self._child(props))
            elif r["Type"] == "AWS::CloudWatch::CompositeAlarm":
                self.composites.append(self._composite(props, names))
        self._order_composites()

    @classmethod
    def of(cls, alarm_set: Any, *, metrics: Mapping[str, str] | None = None) -> Replay:
        """The replay of an ``obskit.slo.alarms.AlarmSet``, through its rendered JSON template."""
        from obskit.slo.render import to_cloudformation

        return cls(json.loads(to_cloudformation(alarm_set, fmt="json")), metrics=metrics)

    @property
    def names(self) -> list[str]:
        """Every alarm name, children first."""
        return [c.name for c in self.children] + [c.name for c in self.composites]

    def _child(self, p: Mapping[str, Any]) -> _Child:
        stats, periods, expr = [], set(), None
        for q in p["Metrics"]:
            if "MetricStat" in q:
                s = q["MetricStat"]
                stats.append((q["Id"], s["Metric"]["MetricName"], s["Stat"]))
                periods.add(s["Period"])
            if q.get("ReturnData"):
                if expr is not None:
                    raise ValueError(f"{p['AlarmName']}: more than one query returns data")
                expr = compile_expression(q["Expression"]) if "Expression" in q else _identity(q["Id"])
        if len(periods) != 1 or expr is None:
            raise ValueError(f"{p['AlarmName']}: needs one period and one query returning data, got {periods}")
        (period,) = periods
        if period % 60:
            raise ValueError(f"{p['AlarmName']}: period {period} s is not modelled (standard resolution only)")
        n = int(p["EvaluationPeriods"])
        return _Child(p["AlarmName"], period // 60, n, int(p.get("DatapointsToAlarm", n)), stats, expr,
                      float(p["Threshold"]), _COMPARE[p["ComparisonOperator"]], p.get("TreatMissingData", "missing"),
                      bool(p.get("ActionsEnabled", True)) and bool(p.get("AlarmActions") or p.get("OKActions")))

    @staticmethod
    def _composite(p: Mapping[str, Any], names: Mapping[str, str]) -> _Composite:
        rule = p["AlarmRule"]
        if isinstance(rule, dict):
            rule = re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: names[m.group(1)], rule["Fn::Sub"])
        fn, reads = compile_rule(rule)
        sup = p.get("ActionsSuppressor")
        if isinstance(sup, dict):
            sup = names[sup["Ref"]]
        has_actions = bool(p.get("ActionsEnabled", True)) and bool(p.get("AlarmActions") or p.get("OKActions"))
        return _Composite(p["AlarmName"], fn, reads, has_actions, sup,
                          int(p.get("ActionsSuppressorWaitPeriod", 0)) // 60,
                          int(p.get("ActionsSuppressorExtensionPeriod", 0)) // 60)

    def _order_composites(self) -> None:
        """Composites after every composite their rule reads (CloudWatch stops at cycles; so do we)."""
        done: list[_Composite] = []
        pending = list(self.composites)
        known = {c.name for c in self.children}
        while pending:
            ready = [c for c in pending if c.reads <= known | {d.name for d in done}]
            if not ready:
                missing = sorted(set().union(*(c.reads for c in pending)) - known - {c.name for c in pending})
                raise ValueError(f"composite rules name unknown alarms or form a cycle: {missing}")
            done.extend(ready)
            pending = [c for c in pending if c not in ready]
        self.composites = done

    # -- data --
    def _series(self, traffic: Traffic) -> dict[str, list[float]]:
        def sums(values: Iterable[float]) -> list[float]:
            return list(accumulate(values, initial=0.0))

        return {
            "requests": sums(traffic.requests), "faults": sums(traffic.faults), "slow": sums(traffic.slow),
            "runs": sums(traffic.runs), "failed": sums(traffic.failed),
            "fault_minutes": sums(1.0 if f > 0 else 0.0 for f in traffic.faults),
        }

    def _stat(self, metric: str, stat: str, w: Mapping[str, float]) -> Value:
        role = self.roles.get(metric)
        if role == "canary":
            n, bad = w["runs"], w["failed"]
            if n == 0:
                return None
            return _pick(metric, stat, {"SampleCount": n, "Sum": 100.0 * (n - bad), "Average": 100.0 * (n - bad) / n,
                                        "Minimum": 0.0 if bad else 100.0, "Maximum": 100.0 if n > bad else 0.0})
        if role == "bad":
            return None if w["fault_minutes"] == 0 else _count(metric, stat, w["faults"])
        n = w["requests"]
        if n == 0:
            return None
        if role == "fault":
            return _pick(metric, stat, {"SampleCount": n, "Sum": w["faults"], "Average": w["faults"] / n})
        if role == "latency":
            if stat == "SampleCount":
                return n
            if stat.startswith("PR(:"):
                return 100.0 * (n - w["slow"]) / n
            raise AssertionError(_no(metric, stat))
        if role == "requests":
            return _count(metric, stat, n)
        if role == "good":
            return _count(metric, stat, n - w["faults"])
        raise AssertionError(f"metric {metric} has no role; pass metrics={{{metric!r}: 'bad'|'good'|'requests'}}")

    # -- evaluation --
    def run(self, traffic: Traffic, *, until: Callable[[dict[str, str]], bool] | None = None) -> Timeline:
        """Evaluate every minute of ``traffic`` (stopping early once ``until(states)`` is true).

        ``states[T]`` is the state after the evaluation at minute ``T`` (``states[0]`` is the
        initial INSUFFICIENT_DATA of freshly created alarms).
        """
        series = self._series(traffic)
        state = dict.fromkeys(self.names, INSUFFICIENT)
        states = [dict(state)]
        notes = _Notifier(self)
        for t in range(1, len(traffic) + 1):
            for c in self.children:
                state[c.name] = self._evaluate(c, series, t, state[c.name])
            for comp in self.composites:
                state[comp.name] = ALARM if comp.rule(state) else OK
            notes.step(t, states[-1], state)
            states.append(dict(state))
            if until is not None and until(state):
                break
        return Timeline(states, notes.sent)

    def point(self, stats: Mapping[str, Mapping[str, Any]], expression: str, traffic: Traffic,
              minute: int) -> Value:
        """Any metric-math ``expression`` over ``stats`` (query id -> ``MetricStat`` in the API's
        shape, one period) at evaluation ``minute``: what a dashboard graph of the same queries shows."""
        periods = {s["Period"] for s in stats.values()}
        if len(periods) != 1:
            raise ValueError(f"one period expected, got {periods}")
        child = _Child("graph", periods.pop() // 60, 1, 1,
                       [(qid, s["Metric"]["MetricName"], s["Stat"]) for qid, s in stats.items()],
                       compile_expression(expression), 0.0, _COMPARE["GreaterThanThreshold"], "missing", False)
        return self._point(child, self._series(traffic), minute)

    def graph(self, stats: Mapping[str, Mapping[str, Any]], expression: str, traffic: Traffic) -> list[Value]:
        """``point`` at every minute of ``traffic`` (1 to its length), its sums computed once."""
        periods = {s["Period"] for s in stats.values()}
        if len(periods) != 1:
            raise ValueError(f"one period expected, got {periods}")
        child = _Child("graph", periods.pop() // 60, 1, 1,
                       [(qid, s["Metric"]["MetricName"], s["Stat"]) for qid, s in stats.items()],
                       compile_expression(expression), 0.0, _COMPARE["GreaterThanThreshold"], "missing", False)
        series = self._series(traffic)
        return [self._point(child, series, t) for t in range(1, len(traffic) + 1)]

    def values(self, name: str, traffic: Traffic) -> list[Value]:
        """``value`` of child alarm ``name`` at every minute of ``traffic`` (1 to its length)."""
        c = next(c for c in self.children if c.name == name)
        series = self._series(traffic)
        return [self._point(c, series, t) for t in range(1, len(traffic) + 1)]

    def value(self, name: str, traffic: Traffic, minute: int) -> Value:
        """The newest data point of child alarm ``name`` in its evaluation at ``minute``."""
        c = next(c for c in self.children if c.name == name)
        return self._point(c, self._series(traffic), minute)

    def _point(self, c: _Child, series: Mapping[str, list[float]], hi: int) -> Value:
        if hi <= 0:
            return None
        lo = max(0, hi - c.period)
        window = {key: s[hi] - s[lo] for key, s in series.items()}
        return c.expression({qid: self._stat(metric, stat, window) for qid, metric, stat in c.stats})

    def _evaluate(self, c: _Child, series: Mapping[str, list[float]], t: int, current: str) -> str:
        breaching = present = 0
        for k in range(c.evaluation_periods):
            value = self._point(c, series, t - k * c.period)
            if value is None:
                if c.missing == "breaching":
                    breaching += 1
                    present += 1
                elif c.missing == "notBreaching":
                    present += 1
                continue
            present += 1
            breaching += c.compare(value, c.threshold)
        if c.missing in ("missing", "ignore") and present == 0:
            return INSUFFICIENT if c.missing == "missing" else current
        return ALARM if breaching >= min(c.datapoints, present) and breaching > 0 else OK


class _Notifier:
    """Actions on transitions, with the suppressor's wait and extension periods."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.sent: list[Notification] = []
        self.held: dict[str, int] = {}  # composite -> minute its ALARM notification is due, if ever
        self.alarmed: set[str] = set()  # alarms whose ALARM notification went out
        self.left: dict[str, int] = {}  # suppressor -> minute it last left ALARM

    def step(self, t: int, before: Mapping[str, str], now: Mapping[str, str]) -> None:
        for c in self.replay.children:
            if c.actions and now[c.name] != before[c.name] and now[c.name] in (ALARM, OK):
                self._send(t, c.name, now[c.name])
        for comp in self.replay.composites:
            if comp.suppressor is not None and before[comp.suppressor] == ALARM != now[comp.suppressor]:
                self.left[comp.suppressor] = t
        for comp in self.replay.composites:
            if comp.actions:
                self._composite(t, comp, before[comp.name], now)

    def _composite(self, t: int, comp: _Composite, before: str, now: Mapping[str, str]) -> None:
        name, sup = comp.name, comp.suppressor
        if now[name] != ALARM:
            self.held.pop(name, None)
            if before == ALARM and now[name] == OK:
                self._send(t, name, OK)
            return
        if sup is None:
            if before != ALARM:
                self._send(t, name, ALARM)
            return
        if before != ALARM:
            self.held[name] = t + comp.wait
        due = self.held.get(name)
        if due is None:
            return
        if now[sup] == ALARM:
            due = max(due, t + 1)  # suppressed: due again once the suppressor clears (and its extension)
        elif sup in self.left and t < self.left[sup] + comp.extension:
            due = max(due, self.left[sup] + comp.extension)
        self.held[name] = due
        if t >= due:
            del self.held[name]
            self._send(t, name, ALARM)

    def _send(self, t: int, name: str, state: str) -> None:
        if state == OK and name not in self.alarmed:
            return
        (self.alarmed.add if state == ALARM else self.alarmed.discard)(name)
        self.sent.append(Notification(t, name, state))


def _identity(qid: str) -> Callable[[Env], Value]:
    return lambda env: env[qid]


def _count(metric: str, stat: str, value: float) -> Value:
    return _pick(metric, stat, {"Sum": value})


def _pick(metric: str, stat: str, table: Mapping[str, float]) -> float:
    if stat not in table:
        raise AssertionError(_no(metric, stat))
    return table[stat]


def _no(metric: str, stat: str) -> str:
    return f"statistic {stat} of {metric} is not modelled"
