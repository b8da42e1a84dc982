"""Synthetic request streams replayed through the generated alarm definitions.

The evaluator below reads the exact ``PutMetricAlarm``/``PutCompositeAlarm`` arguments obskit
sends (``render.to_api``): each child's ``MetricStat`` queries (Sum/SampleCount of Fault,
``PR(:T)``/SampleCount of Latency) over a sliding window of its period, re-evaluated every
minute as CloudWatch does for standard-resolution alarms, its metric-math ``Expression``
(parsed here: numbers, ids, + - * /, comparisons, AND/OR, ``IF``, ``FILL``), its threshold and
``TreatMissingData``; then each composite's ``AlarmRule`` and ``ActionsSuppressor``. Streams
are per-minute request, fault and slow-request counts.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import pytest

from obskit.slo.alarms import build
from obskit.slo.render import to_api
from obskit.slo.spec import parse

RATE = 1000  # requests per minute
DAY = 1440


# --- metric-math expressions -----------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*)|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|[-+*/(),<>]))")
Value = float | None
Env = dict[str, Value]


def _compile(text: str) -> Callable[[Env], Value]:
    """A metric-math expression as a function of the query values (None = missing point)."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        assert m, f"cannot parse {text[pos:]!r}"
        tokens.append(m.group(m.lastindex or 0))
        pos = m.end()
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal i
        tok = tokens[i]
        assert expected is None or tok == expected, (tok, expected)
        i += 1
        return tok

    def lift(op: Callable[[float, float], Value]) -> Callable[[Value, Value], Value]:
        return lambda a, b: None if a is None or b is None else op(a, b)

    binary: dict[str, Callable[[Value, Value], Value]] = {
        "+": lift(lambda a, b: a + b), "-": lift(lambda a, b: a - b), "*": lift(lambda a, b: a * b),
        "/": lift(lambda a, b: None if b == 0 else a / b),
        ">=": lift(lambda a, b: float(a >= b)), ">": lift(lambda a, b: float(a > b)),
        "<=": lift(lambda a, b: float(a <= b)), "<": lift(lambda a, b: float(a < b)),
        "==": lift(lambda a, b: float(a == b)), "!=": lift(lambda a, b: float(a != b)),
        "AND": lift(lambda a, b: float(bool(a) and bool(b))), "OR": lift(lambda a, b: float(bool(a) or bool(b))),
    }
    levels = [("OR",), ("AND",), (">=", ">", "<=", "<", "==", "!="), ("+", "-"), ("*", "/")]

    def parse_level(n: int) -> Callable[[Env], Value]:
        if n == len(levels):
            return atom()
        left = parse_level(n + 1)
        while peek() in levels[n]:
            op = binary[take()]
            right = parse_level(n + 1)
            left = _combine(left, right, op)
        return left

    def atom() -> Callable[[Env], Value]:
        tok = take()
        if tok == "(":
            inner = parse_level(0)
            take(")")
            return inner
        if re.fullmatch(r"\d+\.?\d*", tok):
            return lambda env, v=float(tok): v
        if peek() == "(":
            take("(")
            args = [parse_level(0)]
            while peek() == ",":
                take(",")
                args.append(parse_level(0))
            take(")")
            if tok == "IF":
                c, a, b = args
                return lambda env: None if (cv := c(env)) is None else (a(env) if cv else b(env))
            if tok == "FILL":
                x, v = args
                return lambda env: v(env) if (xv := x(env)) is None else xv
            raise AssertionError(f"function {tok} not modelled")
        return lambda env, name=tok: env[name]

    fn = parse_level(0)
    assert i == len(tokens), f"trailing tokens in {text!r}"
    return fn


def _combine(left: Callable[[Env], Value], right: Callable[[Env], Value],
             op: Callable[[Value, Value], Value]) -> Callable[[Env], Value]:
    return lambda env: op(left(env), right(env))


# --- the replay ------------------------------------------------------------------------------
class Stream:
    """Per-minute counts of requests, faults and requests slower than the latency threshold."""

    def __init__(self) -> None:
        self.requests: list[float] = []
        self.faults: list[float] = []
        self.slow: list[float] = []

    def add(self, minutes: int, *, error_ratio: float = 0.0, slow_ratio: float = 0.0, rate: float = RATE,
            noise: random.Random | None = None) -> Stream:
        for _ in range(minutes):
            bad = error_ratio * rate
            if noise is not None:  # Poisson-distributed errors around the mean (Knuth's method)
                limit, k, p = math.exp(-bad), 0, 1.0
                while (p := p * noise.random()) > limit:
                    k += 1
                bad = float(k)
            self.requests.append(rate)
            self.faults.append(bad)
            self.slow.append(slow_ratio * rate)
        return self


class Replay:
    """Evaluates the generated alarms minute by minute over a stream."""

    def __init__(self, metric_params: list[dict[str, Any]], composite_params: list[dict[str, Any]]) -> None:
        self.children = []
        for p in metric_params:
            stats = [(m["Id"], m["MetricStat"]) for m in p["Metrics"] if "MetricStat" in m]
            (expr,) = [m["Expression"] for m in p["Metrics"] if m.get("ReturnData")]
            periods = {s["Period"] for _, s in stats}
            assert len(periods) == 1
            assert p["EvaluationPeriods"] == p["DatapointsToAlarm"] == 1
            assert p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert p["TreatMissingData"] == "notBreaching"
            self.children.append((p["AlarmName"], periods.pop() // 60, stats, _compile(expr), p["Threshold"]))
        self.composites = composite_params

    @staticmethod
    def _stat(stat: dict[str, Any], n: float, bad: float, slow: float) -> Value:
        if n == 0:
            return None  # no data points in the window
        name, kind = stat["Metric"]["MetricName"], stat["Stat"]
        if kind == "SampleCount":
            return n
        if name == "Fault" and kind == "Sum":
            return bad
        if name == "Latency" and kind.startswith("PR(:"):
            return 100.0 * (n - slow) / n
        raise AssertionError(f"statistic {kind} of {name} not modelled")

    def run(self, stream: Stream) -> list[dict[str, bool]]:
        """The state (True = ALARM) of every alarm at the end of every minute."""
        sums = [list(accumulate(s, initial=0.0)) for s in (stream.requests, stream.faults, stream.slow)]
        states = []
        for t in range(1, len(stream.requests) + 1):
            state: dict[str, bool] = {}
            for name, window, stats, expr, threshold in self.children:
                lo = max(0, t - window)
                n, bad, slow = (s[t] - s[lo] for s in sums)
                env = {qid: self._stat(stat, n, bad, slow) for qid, stat in stats}
                value = expr(env)
                state[name] = value is not None and value >= threshold
            for c in self.composites:
                rule = re.sub(r'ALARM\("([^"]+)"\)', lambda m, st=state: str(st[m.group(1)]), c["AlarmRule"])
                state[c["AlarmName"]] = bool(eval(rule.replace("AND", "and").replace("OR", "or"), {}))
            states.append(state)
        return states

    def notifications(self, states: list[dict[str, bool]]) -> list[tuple[int, str]]:
        """(minute, composite) for each ALARM notification sent, honouring ActionsSuppressor."""
        sent = []
        for c in self.composites:
            name, sup = c["AlarmName"], c.get("ActionsSuppressor")
            wait = c.get("ActionsSuppressorWaitPeriod", 0) // 60
            ext = c.get("ActionsSuppressorExtensionPeriod", 0) // 60
            for t, st in enumerate(states):
                if not st[name] or (t > 0 and states[t - 1][name]):
                    continue
                if sup is not None:
                    recent = states[max(0, t - ext): t + wait + 1]
                    if any(s[sup] for s in recent):
                        continue
                sent.append((t, name))
        return sorted(sent)


def _replay(objective: float = 99.9, sli: str = "{kind: availability}", extra: str = "") -> Replay:
    text = f"""\
service: checkout-api
alerting:
  page: {{sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:page"}}
  ticket: {{sns_topic_arn: "arn:aws:sns:eu-west-1:111111111111:ticket"}}
slos:
  - name: s
    objective: {objective}
    sli: {sli}
{extra}"""
    return Replay(*to_api(build(parse(text, "replay.yaml"))))


PAGE, TICKET = "obskit-checkout-api-s-page", "obskit-checkout-api-s-ticket"


def _first(states: list[dict[str, bool]], name: str, start: int = 0) -> int | None:
    return next((t for t in range(start, len(states)) if states[t][name]), None)


def test_healthy_stream_fires_nothing() -> None:
    """Three days at 0.05 % errors (half the budget rate, with Poisson noise) page and ticket nobody."""
    replay = _replay()
    states = replay.run(Stream().add(3 * DAY, error_ratio=0.0005, noise=random.Random(7)))
    assert _first(states, PAGE) is None
    assert _first(states, TICKET) is None
    assert replay.notifications(states) == []


def test_full_outage_pages_within_workbook_detection_time() -> None:
    """A full outage pages within 0.86 min (Workbook, 99.9 %/1h/14.4x) rounded up to the next evaluation."""
    states = _replay().run(Stream().add(120, error_ratio=0.0005).add(60, error_ratio=1.0))
    fired = _first(states, PAGE)
    assert fired is not None
    assert fired - 120 <= math.ceil(0.864)  # minutes after the outage started


def test_outage_pages_once_and_ticket_is_suppressed() -> None:
    """During an outage the ticket composite is in ALARM too, but only the page notifies."""
    replay = _replay()
    states = replay.run(Stream().add(120).add(60, error_ratio=1.0).add(DAY))
    assert _first(states, TICKET) is not None
    assert replay.notifications(states) == [(120, PAGE)]


def test_two_percent_burst_pages_after_43_minutes() -> None:
    """A 2 % error burst pages once the 1h window reaches 14.4x: 43.2 min in the Workbook."""
    states = _replay().run(Stream().add(120).add(90, error_ratio=0.02))
    fired = _first(states, PAGE)
    assert fired is not None
    assert 43 <= fired - 120 <= 44


def test_page_resets_within_the_short_window_after_recovery() -> None:
    """After a 10-minute outage the 5m window clears the fast tier in 5 min and the 30m window the page."""
    replay = _replay()
    states = replay.run(Stream().add(120).add(10, error_ratio=1.0).add(120))
    end = 130  # first healthy minute
    fast_clear = next(t for t in range(end, len(states)) if not states[t]["obskit-checkout-api-s-page-5m"])
    page_clear = next(t for t in range(end, len(states)) if not states[t][PAGE])
    assert fast_clear - end < 5
    assert page_clear - end < 30
    assert states[page_clear]["obskit-checkout-api-s-page-1h"]  # the long window alone cannot keep paging
    assert states[page_clear]["obskit-checkout-api-s-page-6h"]


def test_slow_burn_opens_a_ticket_and_never_pages() -> None:
    """A 1.5x burn (0.15 % errors) opens a ticket through the 3d/6h tier and never pages."""
    replay = _replay(extra="    alerting: {profile: slow-burn}\n")
    states = replay.run(Stream().add(3 * DAY, error_ratio=0.0005).add(2 * DAY, error_ratio=0.0015))
    fired = _first(states, TICKET)
    assert fired is not None
    assert 35 * 60 <= fired - 3 * DAY <= 37 * 60  # the 3d window reaches 1x after 36 h
    assert _first(states, PAGE) is None
    assert replay.notifications(states) == [(fired, TICKET)]


def test_standard_profile_misses_a_slow_burn() -> None:
    """The standard profile's slowest tier is 3x, so a 1.5x burn opens no ticket (use slow-burn)."""
    states = _replay().run(Stream().add(3 * DAY, error_ratio=0.0005).add(2 * DAY, error_ratio=0.0015))
    assert _first(states, TICKET) is None


def test_latency_slo_pages_when_requests_turn_slow() -> None:
    """When every request exceeds the threshold, PR(:T) drops to 0 and the latency SLO pages."""
    states = _replay(99.0, "{kind: latency, threshold_ms: 300}").run(
        Stream().add(120, slow_ratio=0.001).add(30, slow_ratio=1.0))
    fired = _first(states, PAGE)
    assert fired is not None
    assert fired - 120 <= math.ceil(0.01 * 14.4 * 60)  # 8.64 min at 99 %


@pytest.mark.parametrize(("guard", "pages"), [("", True), ("    alerting: {min_requests: 100}\n", False)])
def test_min_requests_keeps_a_quiet_service_from_paging(guard: str, pages: bool) -> None:
    """One failure among a request per minute pages without the guard and not with min_requests: 100."""
    stream = Stream().add(120, rate=1).add(1, error_ratio=1.0, rate=1).add(60, rate=1)
    states = _replay(extra=guard).run(stream)
    assert (_first(states, PAGE) is not None) is pages
