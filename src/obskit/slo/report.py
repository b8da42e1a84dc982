"""``obskit slo report``: where each SLO stands now, read from CloudWatch with ``GetMetricData``.

Imports: the standard library and ``obskit.slo``; boto3 only inside ``report_from_aws``.

Per SLO: attainment over ``--since`` (default: the SLO period), the error budget left (percent and
minutes of full outage), the burn rate of every alert window ending now, and the state of the
SLO's alarms. Each number is the alarms' own expression (``alarms.burn_queries``) over the
statistics ``GetMetricData`` returns for one period spanning exactly the window, evaluated by
``mathexpr``, so the report says what the alarms see. Over the period the burn rate *is* the
share of the budget spent; over a shorter ``--since`` the spent share is scaled by
``since / period`` (what that span cost of the period's budget, traffic assumed steady).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from obskit.slo.alarms import AlarmSet, CompositeAlarm, MetricAlarm, burn_queries, format_span
from obskit.slo.mathexpr import evaluate
from obskit.slo.spec import SLO, SLOConfig, format_duration

__all__ = ["SLOStatus", "TierStatus", "collect", "report_from_aws", "since_problem", "to_json", "to_text"]

MAX_QUERIES = 500  # GetMetricData MetricDataQueries
_SHOWN = ("page", "ticket", "budget", "no-data")  # the alarms that notify; children show as burn rates


@dataclass(frozen=True, slots=True)
class TierStatus:
    """One tier now: its windows' burn rates against its threshold."""

    severity: str
    long: str
    short: str
    threshold: float
    long_burn: float | None
    short_burn: float | None

    @property
    def burning(self) -> bool:
        """Both windows at or over the threshold: what makes the tier's alarms fire."""
        return all(b is not None and b >= self.threshold for b in (self.long_burn, self.short_burn))


@dataclass(frozen=True, slots=True)
class SLOStatus:
    """One SLO's standing over ``since`` and now."""

    name: str
    objective: float
    attainment: float | None
    budget_left_percent: float | None
    budget_left_minutes: float | None
    burn_rates: dict[str, float | None]
    tiers: list[TierStatus]
    alarms: dict[str, str | None] = field(default_factory=dict)
    """Alarm part (``page``, ``ticket``, ``page-1h``...) -> state, ``None`` when it is not deployed."""


# --- fetching --------------------------------------------------------------------------------
def _end(now: datetime) -> datetime:
    """Whole minutes: CloudWatch rounds ``StartTime`` down anyway, and data of the current minute is incomplete."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def _query(qid: str, q: Any, period: int) -> dict[str, Any]:
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": q.namespace, "MetricName": q.metric,
                   "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions]},
        "Period": period, "Stat": q.stat}}


def _fetch(client: Any, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, float | None]:
    """The first datapoint (one period from ``start``) of every query; ``None`` where there is none."""
    out: dict[str, float | None] = {q["Id"]: None for q in queries}
    for i in range(0, len(queries), MAX_QUERIES):
        kwargs: dict[str, Any] = {"MetricDataQueries": queries[i:i + MAX_QUERIES], "StartTime": start,
                                  "EndTime": end, "ScanBy": "TimestampAscending"}
        while True:
            page = client.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                points = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
                if points and out.get(result["Id"]) is None:
                    out[result["Id"]] = float(points[0][1])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return out


Key = tuple[str, int, str | None]  # (SLO, window, severity of the tier it serves; None for the span)


def _burns(client: Any, config: SLOConfig, windows: dict[int, list[tuple[SLO, str | None]]],
           end: datetime) -> dict[Key, float | None]:
    """The burn rate of (SLO, window, severity) for every window ending at ``end``, one call per window length.

    The severity matters only where the alarms' guards differ between a tier's long and short
    window (a canary's ``min_bad_events``): each window is computed as its own alarm computes it.
    """
    burns: dict[Key, float | None] = {}
    for secs, entries in windows.items():
        queries, exprs = [], []
        for n, (slo, severity) in enumerate(entries):
            stats, expression, _ = burn_queries(config, slo, secs, severity)
            ids = {q.id: f"s{n}_{q.id}" for q in stats}
            queries += [_query(ids[q.id], q, secs) for q in stats]
            exprs.append(((slo.name, secs, severity), expression, ids))
        values = _fetch(client, queries, end - timedelta(seconds=secs), end)
        for key, expression, ids in exprs:
            burns[key] = evaluate(expression, {qid: values[ids[qid]] for qid in ids})
    return burns


def _alarm_states(client: Any, names: list[str]) -> dict[str, str | None]:
    states: dict[str, str | None] = dict.fromkeys(names)
    for i in range(0, len(names), 100):
        page = client.describe_alarms(AlarmNames=names[i:i + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


def collect(alarm_set: AlarmSet, client: Any, *, since_s: int | None = None,
            now: datetime | None = None) -> list[SLOStatus]:
    """Each SLO's status from a CloudWatch client (``get_metric_data``, ``describe_alarms``)."""
    config = alarm_set.config
    since = since_s or config.period_s
    end = _end(now or datetime.now(UTC))
    windows: dict[int, list[tuple[SLO, str | None]]] = {since: [(slo, None) for slo in config.slos]}
    for slo in config.slos:
        for w in slo.alerting.windows:
            for secs in (w.long_s, w.short_s):
                if (slo, w.severity) not in windows.setdefault(secs, []):
                    windows[secs].append((slo, w.severity))
    burns = _burns(client, config, windows, end)
    every: list[CompositeAlarm | MetricAlarm] = [*alarm_set.composite_alarms, *alarm_set.metric_alarms]
    states = _alarm_states(client, [a.name for a in every])
    return [_status(config, slo, burns, since, {a.part: states[a.name] for a in every if a.slo == slo.name})
            for slo in config.slos]


def _status(config: SLOConfig, slo: SLO, burns: dict[Key, float | None], since: int,
            alarms: dict[str, str | None]) -> SLOStatus:
    over = burns[(slo.name, since, None)]
    attainment = left = minutes = None
    if over is not None:
        attainment = 100 * (1 - over * slo.budget)
        left = 100 * (1 - over * since / config.period_s)
        minutes = left / 100 * slo.budget * config.period_s / 60
    seen = sorted({s for w in slo.alerting.windows for s in (w.long_s, w.short_s)})
    tiers = [TierStatus(w.severity, format_duration(w.long_s), format_duration(w.short_s), w.burn_rate,
                        burns[(slo.name, w.long_s, w.severity)], burns[(slo.name, w.short_s, w.severity)])
             for w in slo.alerting.windows]
    by_window = {secs: value for (name, secs, _), value in sorted(burns.items(), key=lambda kv: kv[0][2] or "")
                 if name == slo.name}
    return SLOStatus(slo.name, slo.objective, attainment, left, minutes,
                     {format_duration(s): by_window[s] for s in seen}, tiers, alarms)


def since_problem(seconds: int) -> str | None:
    """Why ``GetMetricData`` would refuse a period of ``seconds`` reaching that far back, or ``None``.

    CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days, then hourly data: a
    period starting further back must be a multiple of what is kept.
    """
    if seconds % 60:
        return "it must be a whole number of minutes"
    for older_than, step in ((63 * 86_400, 3600), (15 * 86_400, 300)):
        if seconds > older_than and seconds % step:
            return f"a span over {format_duration(older_than)} must be a multiple of {format_duration(step)}"
    return None


def report_from_aws(alarm_set: AlarmSet, *, since_s: int | None = None, region: str | None = None,
                    profile: str | None = None) -> list[SLOStatus]:
    """``collect`` with a boto3 CloudWatch client (``AWS_ENDPOINT_URL`` and the usual configuration apply)."""
    from obskit._deps import require

    boto3 = require("boto3", "slo", feature="obskit slo report")
    client = boto3.session.Session(profile_name=profile, region_name=region).client("cloudwatch")
    return collect(alarm_set, client, since_s=since_s)


# --- output ----------------------------------------------------------------------------------
def to_json(config: SLOConfig, statuses: list[SLOStatus], since_s: int | None = None) -> str:
    """The report for scripts: one object per SLO, burn rates by window, tiers with ``burning``."""
    slos = []
    for s in statuses:
        doc = asdict(s)
        doc["tiers"] = [{**asdict(t), "burning": t.burning} for t in s.tiers]
        slos.append(doc)
    return json.dumps({"service": config.service, "environment": config.environment,
                       "since": format_duration(since_s or config.period_s), "slos": slos}, indent=2) + "\n"


def _x(value: float | None) -> str:
    return "no data" if value is None else f"{value:.2f}x"


def _lines(config: SLOConfig, s: SLOStatus, since: int) -> Iterator[str]:
    yield f"{config.service}/{s.name}: objective {s.objective:g}% over {format_duration(config.period_s)}"
    if s.attainment is None or s.budget_left_percent is None or s.budget_left_minutes is None:
        yield f"  no data over the last {format_duration(since)}"
    else:
        missed = "  OVERSPENT: the objective is missed" if s.budget_left_percent < 0 else ""
        yield (f"  attainment {s.attainment:.4f}% over the last {format_duration(since)}; error budget left "
               f"{s.budget_left_percent:.1f}% = {s.budget_left_minutes:,.1f} min of full outage{missed}")
    if s.tiers:
        yield f"  {'tier':<15} {'alarm at':<10} burn rate now (long / short window)"
    for t in s.tiers:
        state = "   BURNING: both windows over the threshold" if t.burning else ""
        tier, at = f"{t.severity} {t.long}/{t.short}", f">= {t.threshold:g}x"
        yield f"  {tier:<15} {at:<10} {_x(t.long_burn)} / {_x(t.short_burn)}{state}"
    fastest = max((b for b in s.burn_rates.values() if b is not None), default=None)
    if fastest is not None and fastest > 1:
        yield (f"  at the fastest current burn ({fastest:.2f}x) a whole budget lasts "
               f"{format_span(config.period_s / fastest)}")
    states = [f"{part} {state or 'not deployed'}" for part, state in s.alarms.items() if part in _SHOWN]
    if states:
        yield "  alarms: " + ", ".join(states)


def to_text(config: SLOConfig, statuses: list[SLOStatus], since_s: int | None = None) -> str:
    """The report for people, one block per SLO."""
    since = since_s or config.period_s
    return "\n\n".join("\n".join(_lines(config, s, since)) for s in statuses) + "\n"
