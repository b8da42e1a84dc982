"""Turn validated SLOs into burn-rate alarms: pure math, no AWS, an intermediate representation.

Imports: the standard library, ``obskit.semconv``, ``obskit.errors`` and ``obskit.slo.spec``.

Per SLO and tier (a long and a short window sharing one burn-rate threshold) there is one
metric-math child alarm per window whose value *is* the burn rate, ``error_ratio / (1 - objective)``,
so the console graph reads directly against the threshold. Composite alarms implement the
multi-window logic of the SRE Workbook: a tier fires when both of its windows burn too fast, and a
severity fires when any of its tiers does. Child alarms carry no actions; the composites notify,
and ``ticket`` is suppressed while ``page`` is in ALARM so one incident pages once.

The renderers and ``apply`` only translate this representation; every CloudWatch limit that no
linter checks (periods, metric counts, ids, lengths, actions) is checked here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from obskit import semconv
from obskit._version import __version__
from obskit.errors import SLOProblem, SLOSpecError
from obskit.slo.spec import (
    MAX_ALARM_NAME,
    NAME_SEP,
    SEVERITIES,
    SLO,
    SLOConfig,
    Window,
    format_duration,
    number_text,
    service_token,
    window_parts,
)

__all__ = [
    "AlarmSet",
    "CompositeAlarm",
    "MetricAlarm",
    "MetricQuery",
    "alarm_base",
    "budget_threshold",
    "budget_window",
    "build",
    "burn_queries",
    "detection_seconds",
    "format_span",
    "generator_version",
    "service_token",
]

SUPPRESSOR_WAIT_S = 120
SUPPRESSOR_EXTENSION_S = 1800
NO_DATA_PERIOD_S = 300
NO_DATA_PERIODS = 3
SEP = NAME_SEP
MAX_NAME = MAX_ALARM_NAME
MAX_DESCRIPTION = 1024
MAX_RULE = 10_240
MAX_RULE_CHILDREN = 100
MAX_METRIC_STATS = 10
MAX_EXPRESSION = 2048
_ID_RE = re.compile(r"^[a-z][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """One entry of an alarm's ``Metrics``: a metric statistic or an expression over them."""

    id: str
    namespace: str | None = None
    metric: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str | None = None
    period: int | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = False


@dataclass(frozen=True, slots=True)
class MetricAlarm:
    """A metric(-math) alarm: a burn-rate child (no actions) or a no-data alarm (notifies)."""

    name: str
    part: str
    slo: str
    description: str
    queries: tuple[MetricQuery, ...]
    threshold: float
    comparison: str
    period: int
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    treat_missing_data: str = "notBreaching"
    actions_enabled: bool = False
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    severity: str | None = None
    window_s: int | None = None
    burn_rate: float | None = None


@dataclass(frozen=True, slots=True)
class CompositeAlarm:
    """A severity: ALARM when any tier has both of its windows in ALARM."""

    name: str
    part: str
    slo: str
    description: str
    rule: tuple[tuple[str, ...], ...]
    severity: str
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    suppressor: str | None = None
    suppressor_wait_s: int = SUPPRESSOR_WAIT_S
    suppressor_extension_s: int = SUPPRESSOR_EXTENSION_S
    tags: tuple[tuple[str, str], ...] = ()

    def rule_text(self, ref: Callable[[str], str] | None = None) -> str:
        """The ``AlarmRule``: ``(ALARM("a") AND ALARM("b")) OR (...)``.

        Args:
            ref: optional callable mapping a child alarm name to the text to put inside the
                quotes (renderers pass one that emits a template reference).
        """
        conv: Callable[[str], str] = ref if ref is not None else (lambda name: name)
        groups = [" AND ".join(f'ALARM("{conv(n)}")' for n in group) for group in self.rule]
        if len(groups) == 1:
            return groups[0]
        return " OR ".join(f"({g})" if len(grp) > 1 else g for g, grp in zip(groups, self.rule, strict=True))


@dataclass(frozen=True, slots=True)
class AlarmSet:
    """Every alarm generated for one SLO file, children before the composites that read them."""

    config: SLOConfig
    metric_alarms: tuple[MetricAlarm, ...]
    composite_alarms: tuple[CompositeAlarm, ...]

    @property
    def names(self) -> frozenset[str]:
        """Every alarm name in the set."""
        every: list[MetricAlarm | CompositeAlarm] = [*self.metric_alarms, *self.composite_alarms]
        return frozenset(a.name for a in every)

    @property
    def name_prefix(self) -> str:
        """The prefix every alarm of this service starts with: ``{prefix}/{service}/``."""
        return f"{self.config.name_prefix}{SEP}{service_token(self.config.service)}{SEP}"


def generator_version() -> str:
    """obskit's version, written into tags and template descriptions."""
    return __version__


def alarm_base(config: SLOConfig, slo: SLO) -> str:
    """``{prefix}/{service}/{slo}/``: the start of every alarm name of one SLO.

    ``/`` cannot occur in a prefix, an SLO name or a service token, so two (service, SLO) pairs
    never share a name (``shop`` + ``api-avail`` and ``shop-api`` + ``avail`` used to).
    """
    return f"{config.name_prefix}{SEP}{service_token(config.service)}{SEP}{slo.name}{SEP}"


_num = number_text


def format_span(seconds: float) -> str:
    """A rough human duration: ``52 s``, ``43 min``, ``5.0 h``, ``2.1 d``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def detection_seconds(window: Window, budget: float, error_ratio: float) -> float | None:
    """How long after a step to ``error_ratio`` both windows of a tier cross its threshold.

    Window ``W`` averages the errors of its last ``W`` seconds, so after ``t`` seconds of a step it
    reads ``error_ratio * t / W`` and crosses ``burn_rate * budget`` at
    ``t = burn_rate * budget / error_ratio * W`` (SRE Workbook, iteration 4); the long window is
    the slower one. ``None`` when the ratio never reaches the threshold. CloudWatch adds up to
    one minute of evaluation delay on top.
    """
    threshold = window.burn_rate * budget
    if error_ratio <= 0 or error_ratio < threshold:
        return None
    return threshold / error_ratio * window.long_s


# --- building --------------------------------------------------------------------------------
def _dimensions(config: SLOConfig, slo: SLO) -> tuple[tuple[str, str], ...]:
    dims = [(semconv.DIM_SERVICE, config.service)]
    if slo.operation is not None:
        dims.append((semconv.DIM_OPERATION, slo.operation))
    if config.environment is not None:
        dims.append((semconv.DIM_ENVIRONMENT, config.environment))
    return tuple(dims)


def _queries(config: SLOConfig, slo: SLO, period: int,
             long: bool = True) -> tuple[tuple[MetricQuery, ...], str, MetricQuery]:
    """The MetricStat queries, the burn-rate expression and the query counting events (no-data).

    ``long``: the window is the long one of a tier, where a canary's ``min_bad_events`` applies
    (the short window only confirms the burn is still going on: one failure is enough there).
    """
    sli, b = slo.sli, slo.budget_text
    n = max(slo.alerting.min_requests, 1)
    if sli.kind == "availability":
        dims, ns = _dimensions(config, slo), config.namespace
        stats = (
            MetricQuery("bad", ns, semconv.METRIC_FAULT, dims, "Sum", period, label="faults"),
            MetricQuery("total", ns, semconv.METRIC_FAULT, dims, "SampleCount", period, label="requests"),
        )
        return stats, f"IF(total >= {n}, bad / total, 0) / {b}", stats[1]
    if sli.kind == "latency":
        t = _num(sli.threshold_ms or 0.0)
        if sli.metric is not None:
            ns, name, dims = sli.metric.namespace, sli.metric.metric, sli.metric.dimensions
        else:
            ns, name, dims = config.namespace, semconv.METRIC_LATENCY, _dimensions(config, slo)
        stats = (
            MetricQuery("good_pct", ns, name, dims, f"PR(:{t})", period, label=f"% of requests <= {t} ms"),
            MetricQuery("total", ns, name, dims, "SampleCount", period, label="requests"),
        )
        return stats, f"IF(total >= {n}, (100 - good_pct) / 100, 0) / {b}", stats[1]
    if sli.kind == "synthetic":
        # Each run reports SuccessPercent 0 or 100, so Sum / 100 is the exact count of successful
        # runs and `runs - ok_sum / 100` the exact count of failures: the min_bad_events guard
        # compares whole numbers (Average-based arithmetic makes 2 failures of 60 runs 1.99999...).
        dims = ((semconv.DIM_CANARY_NAME, sli.canary or ""),)
        ns, name = semconv.SYNTHETICS_NAMESPACE, semconv.METRIC_SYNTHETICS_SUCCESS
        stats = (
            MetricQuery("ok_sum", ns, name, dims, "Sum", period, label="100 x successful runs"),
            MetricQuery("runs", ns, name, dims, "SampleCount", period, label="canary runs"),
        )
        cond = f"runs >= {n}"
        if sli.min_bad_events > 1 and long:
            cond += f" AND runs - ok_sum / 100 >= {sli.min_bad_events}"
        return stats, f"IF({cond}, (runs - ok_sum / 100) / runs, 0) / {b}", stats[1]
    # ratio of any two metrics
    assert sli.total is not None
    tot = sli.total
    total = MetricQuery("total", tot.namespace, tot.metric, tot.dimensions, tot.stat, period, label="events")
    if sli.bad is not None:
        r = sli.bad
        bad = MetricQuery("bad", r.namespace, r.metric, r.dimensions, r.stat, period, label="bad events")
        return (bad, total), f"IF(total >= {n}, FILL(bad, 0) / total, 0) / {b}", total
    r = sli.good  # type: ignore[assignment]
    assert r is not None
    good = MetricQuery("good", r.namespace, r.metric, r.dimensions, r.stat, period, label="good events")
    return (good, total), f"IF(total >= {n}, (total - FILL(good, 0)) / total, 0) / {b}", total


def burn_queries(config: SLOConfig, slo: SLO, period: int,
                 severity: str | None = None) -> tuple[tuple[MetricQuery, ...], str, MetricQuery]:
    """The statistics and the burn-rate expression over ``period`` that the alarms read.

    The one source of the SLI math: the alarms, the dashboard, the report and the Application
    Signals export call this, so none of them can disagree. ``severity``: the window's tier
    severity, which decides whether it is a long window (where a canary's ``min_bad_events``
    guard applies); ``None`` for spans that are not alert windows (the period, the budget).
    Returns the MetricStat queries, the expression (its value is the burn rate) and the query
    counting events.
    """
    long = severity is None or any(w.long_s == period for w in slo.alerting.windows if w.severity == severity)
    return _queries(config, slo, period, long=long)


def _what(slo: SLO) -> str:
    sli = slo.sli
    if sli.kind == "latency":
        where = f" of {slo.operation}" if slo.operation else ""
        return f"requests{where} served within {_num(sli.threshold_ms or 0)} ms"
    if sli.kind == "availability":
        where = f" of {slo.operation}" if slo.operation else ""
        return f"requests{where} without a fault"
    if sli.kind == "synthetic":
        return f"successful runs of canary {sli.canary}"
    return "good events"


def build(config: SLOConfig) -> AlarmSet:
    """Generate every alarm for ``config`` and check it against CloudWatch's limits.

    Raises:
        SLOSpecError: when an alarm would break a CloudWatch limit (a name too long, too many
            actions...), located at the SLO that caused it.
    """
    version_ = generator_version()
    period_text = format_duration(config.period_s)
    metric_alarms: list[MetricAlarm] = []
    composites: list[CompositeAlarm] = []
    for slo in config.slos:
        base = alarm_base(config, slo)
        common = (
            (semconv.SLO_TAG_GENERATOR, semconv.SLO_GENERATOR_NAME),
            (semconv.SLO_TAG_GENERATOR_VERSION, version_),
            (semconv.SLO_TAG_SERVICE, config.service[:256]),
            (semconv.SLO_TAG_SLO, slo.name),
            *(((semconv.SLO_TAG_ENVIRONMENT, config.environment[:256]),) if config.environment else ()),
        )
        head = f"{config.service}/{slo.name}: {slo.objective:g}% of {_what(slo)} over {period_text}"
        runbook = f" Runbook: {slo.alerting.runbook_url}" if slo.alerting.runbook_url else ""
        # one child per distinct (severity, window, burn rate)
        parts = window_parts(slo.alerting.windows)
        child_of: dict[tuple[str, int, float], str] = {}
        tiers: dict[str, list[tuple[str, ...]]] = {s: [] for s in SEVERITIES}
        tier_text: dict[str, list[str]] = {s: [] for s in SEVERITIES}
        for w in slo.alerting.windows:
            pair: list[str] = []
            exhaust = format_span(config.period_s / w.burn_rate)
            for role, secs in (("long", w.long_s), ("short", w.short_s)):
                key = (w.severity, secs, w.burn_rate)
                if key not in child_of:
                    part = parts[key]
                    name = base + part
                    child_of[key] = name
                    stats, expr, _ = burn_queries(config, slo, secs, w.severity)
                    queries = (*stats, MetricQuery("burn", expression=expr,
                                                   label=f"burn rate over {format_duration(secs)}",
                                                   return_data=True))
                    desc = (
                        f"{head}. Burn rate over {format_duration(secs)}, the {role} window of the "
                        f"{w.severity} tier {format_duration(w.long_s)}/{format_duration(w.short_s)}: "
                        f"ALARM at >= {_num(w.burn_rate)}x, i.e. {_num(w.budget_percent)}% of the "
                        f"{period_text} error budget spent in {format_duration(w.long_s)}; at that rate the "
                        f"budget lasts {exhaust}. Notifications come from {base}{w.severity}.{runbook}"
                    )
                    metric_alarms.append(MetricAlarm(
                        name=name, part=part, slo=slo.name, description=desc[:MAX_DESCRIPTION],
                        queries=queries, threshold=w.burn_rate,
                        comparison="GreaterThanOrEqualToThreshold", period=secs,
                        tags=(*common, (semconv.SLO_TAG_SEVERITY, w.severity),
                              (semconv.SLO_TAG_WINDOW, format_duration(secs))),
                        severity=w.severity, window_s=secs, burn_rate=w.burn_rate,
                    ))
                pair.append(child_of[key])
            tiers[w.severity].append(tuple(pair))
            tier_text[w.severity].append(
                f"({format_duration(w.long_s)} and {format_duration(w.short_s)} >= {_num(w.burn_rate)}x: "
                f"{_num(w.budget_percent)}% of the budget in {format_duration(w.long_s)}, exhausted in {exhaust})"
            )
        page_name: str | None = None
        for severity in SEVERITIES:
            if not tiers[severity]:
                continue
            name = base + severity
            actions = slo.alerting.actions(severity)
            suppressor = page_name if severity == "ticket" else None
            # A ticket tier stays in ALARM up to its short window after an incident ends, and the
            # page clears before that: hold the ticket that long after the page clears, or one
            # incident notifies twice, the second time when it is already over.
            extension = max(w.short_s for w in slo.alerting.windows if w.severity == severity)
            desc = (f"{severity.upper()}: {head} is burning its error budget: "
                    + " or ".join(tier_text[severity]) + "."
                    + (f" Suppressed while {page_name} is in ALARM." if suppressor else "") + runbook)
            composites.append(CompositeAlarm(
                name=name, part=severity, slo=slo.name, description=desc[:MAX_DESCRIPTION],
                rule=tuple(tiers[severity]), severity=severity, alarm_actions=actions, ok_actions=actions,
                suppressor=suppressor, suppressor_extension_s=max(extension, SUPPRESSOR_EXTENSION_S),
                tags=(*common, (semconv.SLO_TAG_SEVERITY, severity)),
            ))
            if severity == "page":
                page_name = name
        if slo.alerting.no_data is not None:
            _, _, count = _queries(config, slo, NO_DATA_PERIOD_S)
            count = MetricQuery(count.id, count.namespace, count.metric, count.dimensions, "SampleCount",
                                NO_DATA_PERIOD_S, label=count.label, return_data=True)
            actions = slo.alerting.actions(slo.alerting.no_data)
            minutes = NO_DATA_PERIOD_S * NO_DATA_PERIODS // 60
            metric_alarms.append(MetricAlarm(
                name=base + "no-data", part="no-data", slo=slo.name,
                description=(f"{slo.alerting.no_data.upper()}: {head}: no {count.label} reported for "
                             f"{minutes} min, so the burn-rate alarms see nothing.{runbook}")[:MAX_DESCRIPTION],
                queries=(count,), threshold=1, comparison="LessThanThreshold", period=NO_DATA_PERIOD_S,
                evaluation_periods=NO_DATA_PERIODS, datapoints_to_alarm=NO_DATA_PERIODS,
                treat_missing_data="breaching", actions_enabled=True, alarm_actions=actions, ok_actions=actions,
                tags=(*common, (semconv.SLO_TAG_SEVERITY, slo.alerting.no_data)),
                severity=slo.alerting.no_data,
            ))
        if slo.alerting.budget_below_percent is not None:
            metric_alarms.append(_budget_alarm(config, slo, base, common, (head, runbook)))
    alarm_set = AlarmSet(config, tuple(metric_alarms), tuple(composites))
    problems = check_limits(alarm_set)
    if problems:
        raise SLOSpecError(problems)
    return alarm_set


BUDGET_WINDOW_MAX_S = 7 * 86_400  # the longest range a CloudWatch alarm evaluates


def budget_window(config: SLOConfig) -> int:
    """The window the budget alarm reads: the SLO period, or the 7 days CloudWatch lets an alarm see."""
    return min(config.period_s, BUDGET_WINDOW_MAX_S)


def budget_threshold(config: SLOConfig, slo: SLO) -> float:
    """The burn rate over ``budget_window`` at which the remaining budget is below the limit.

    Over the whole period the burn rate *is* the share of the budget spent, so with a period of
    7 days or less the alarm is exact: ALARM when ``burn >= 1 - below/100``. A longer period
    cannot be evaluated by an alarm; the last 7 days alone spending that share of the period's
    budget is a sufficient condition (never a false alarm), so the threshold is scaled by
    ``period / 7d``. What the 7 days cannot see, ``obskit slo report`` and the dashboard show.
    """
    spent = 1 - (slo.alerting.budget_below_percent or 0) / 100
    return round(spent * config.period_s / budget_window(config), 6)


def _budget_alarm(config: SLOConfig, slo: SLO, base: str, tags: tuple[tuple[str, str], ...],
                  text: tuple[str, str]) -> MetricAlarm:
    head, runbook = text
    severity = slo.alerting.budget_severity
    window = budget_window(config)
    stats, expr, _ = _queries(config, slo, window)
    threshold = budget_threshold(config, slo)
    below = _num(slo.alerting.budget_below_percent or 0)
    scope = ("" if window == config.period_s else
             f" CloudWatch alarms see at most 7 days, so this fires when the last 7 days alone spent that "
             f"much (burn >= {_num(threshold)}x over 7d); `obskit slo report` gives the exact figure.")
    actions = slo.alerting.actions(severity)
    return MetricAlarm(
        name=base + "budget", part="budget", slo=slo.name,
        description=(f"{severity.upper()}: {head}: less than {below}% of the {format_duration(config.period_s)} "
                     f"error budget is left.{scope}{runbook}")[:MAX_DESCRIPTION],
        queries=(*stats, MetricQuery("burn", expression=expr, label=f"burn rate over {format_duration(window)}",
                                     return_data=True)),
        threshold=threshold, comparison="GreaterThanOrEqualToThreshold", period=window,
        actions_enabled=True, alarm_actions=actions, ok_actions=actions,
        tags=(*tags, (semconv.SLO_TAG_SEVERITY, severity)), severity=severity, window_s=window,
        burn_rate=threshold,
    )


def check_limits(alarm_set: AlarmSet) -> list[SLOProblem]:
    """Everything CloudWatch would reject in ``alarm_set`` that cfn-lint and botocore let through."""
    config = alarm_set.config
    path_of = {s.name: s.path for s in config.slos}
    problems: list[SLOProblem] = []
    seen: set[str] = set()

    def bad(alarm: MetricAlarm | CompositeAlarm, message: str, fix: str) -> None:
        path = path_of.get(alarm.slo, "")
        problems.append(config.problem(f"{path}.name" if path else "service", f"alarm {alarm.name!r}: {message}",
                                       fix))

    every: list[MetricAlarm | CompositeAlarm] = [*alarm_set.metric_alarms, *alarm_set.composite_alarms]
    for alarm in every:
        if len(alarm.name) > MAX_NAME:
            bad(alarm, f"the name is {len(alarm.name)} characters; CloudWatch allows {MAX_NAME}",
                "shorten the service, SLO name or alerting.name_prefix")
        if alarm.name in seen:
            bad(alarm, "the name is generated twice", "rename one of the SLOs")
        seen.add(alarm.name)
        for actions in (alarm.alarm_actions, alarm.ok_actions):
            if len(actions) > 5:
                bad(alarm, f"{len(actions)} actions; CloudWatch allows 5 per state", "use fewer SNS topics")
    budget_of = {s.name: s.budget for s in config.slos}
    for a in alarm_set.metric_alarms:
        if a.part == "budget" and a.threshold * budget_of[a.slo] >= 1:
            bad(a, f"even a full outage over {format_duration(a.period)} cannot spend that much of the budget "
                   f"(burn {_num(a.threshold)}x x budget {_num(budget_of[a.slo])} >= 1)",
                "raise budget_remaining.below_percent or the objective")
        stats = [q for q in a.queries if q.expression is None]
        if len(stats) > MAX_METRIC_STATS:
            bad(a, f"reads {len(stats)} metrics; a math alarm may read {MAX_METRIC_STATS}", "split the SLI")
        if sum(q.return_data for q in a.queries) != 1:
            bad(a, "needs exactly one query with ReturnData", "report this as an obskit bug")
        if len({q.period for q in stats}) > 1:
            bad(a, "mixes periods; all metrics of one math alarm need the same period", "report this as an obskit bug")
        for q in a.queries:
            if not _ID_RE.match(q.id):
                bad(a, f"query id {q.id!r} does not match ^[a-z][A-Za-z0-9_]*$", "report this as an obskit bug")
            if q.expression is not None and len(q.expression) > MAX_EXPRESSION:
                bad(a, "the expression is longer than 2048 characters", "simplify the SLI")
        if a.period not in (10, 20, 30) and a.period % 60:
            bad(a, f"period {a.period} s is not 10, 20, 30 or a multiple of 60", "use whole minutes")
        span = a.period * a.evaluation_periods
        if span > 7 * 86_400 or (a.period < 3600 and span > 86_400):
            bad(a, f"evaluates {span} s; CloudWatch allows 7 days (1 day for periods under 1 h)",
                "use shorter windows")
    for c in alarm_set.composite_alarms:
        rule = c.rule_text()
        if len(rule) > MAX_RULE:
            bad(c, f"the rule is {len(rule)} characters; CloudWatch allows {MAX_RULE}", "use fewer windows")
        children = {n for group in c.rule for n in group}
        if len(children) > MAX_RULE_CHILDREN:
            bad(c, f"the rule names {len(children)} alarms; CloudWatch allows {MAX_RULE_CHILDREN}",
                "use fewer windows")
        missing = children - seen
        if missing:
            bad(c, f"the rule names unknown alarms {sorted(missing)}", "report this as an obskit bug")
    return problems
