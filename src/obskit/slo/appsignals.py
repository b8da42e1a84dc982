"""The SLOs of a file as CloudWatch Application Signals ``ServiceLevelObjective`` resources.

Imports: the standard library, ``obskit.semconv``, ``obskit.errors`` and ``obskit.slo``.

For teams that want CloudWatch's own SLO pages (attainment and budget over the whole period,
budget reports, exclusion windows) next to, or instead of, obskit's alarms. Each SLO becomes a
request-based SLO on the statistics the alarms read (``alarms.burn_queries``, the one source):
bad = ``Sum(Fault)``, total = ``SampleCount(Fault)`` for availability; for latency and canaries,
whose alarms read a percentage (``PR(:T)``, ``SuccessPercent``), good = that percentage times
the count, computed by a metric-math query over the same two statistics. The goal is the
objective over a rolling interval of the file's period; ``budget_remaining.below_percent`` is the
SLO's warning threshold; one burn-rate configuration per distinct alert window, so Application
Signals publishes ``BurnRate`` for exactly the windows the alarms watch.
"""

from __future__ import annotations

import re
from typing import Any

from obskit import semconv
from obskit.errors import SLOProblem, SLOSpecError
from obskit.slo.alarms import MetricQuery, burn_queries, generator_version
from obskit.slo.spec import DAY, SLO, SLOConfig, format_duration

__all__ = ["MAX_BURN_RATE_WINDOWS", "PERIOD_S", "slo_name", "to_cloudformation", "to_resources"]

PERIOD_S = 60  # the granularity of the SLI's metric queries
MAX_BURN_RATE_WINDOWS = 10  # BurnRateConfigurations, AWS::ApplicationSignals::ServiceLevelObjective
MAX_LOOK_BACK_MIN = 10_080
_UNSAFE = re.compile(r"[^-._0-9A-Za-z ]+")


def slo_name(config: SLOConfig, slo: SLO) -> str:
    """``<prefix>-<service>-<slo>`` in Application Signals' name pattern (128 characters, alphanumeric ends)."""
    name = _UNSAFE.sub("-", f"{config.name_prefix}-{config.service}-{slo.name}")[:128]
    return re.sub(r"^[^0-9A-Za-z]+|[^0-9A-Za-z]+$", "", name) or "slo"


def _query(q: MetricQuery, *, return_data: bool) -> dict[str, Any]:
    return {"Id": q.id, "MetricStat": {
        "Metric": {"Namespace": q.namespace, "MetricName": q.metric,
                   "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions]},
        "Period": q.period, "Stat": q.stat}, "ReturnData": return_data}


def _counts(config: SLOConfig, slo: SLO) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """("BadCountMetric" or "GoodCountMetric", its queries, the total's queries)."""
    stats, _, _ = burn_queries(config, slo, PERIOD_S)
    by_id = {q.id: q for q in stats}
    total = [_query(by_id.pop("total" if "total" in by_id else "runs"), return_data=True)]
    if "bad" in by_id:
        return "BadCountMetric", [_query(by_id["bad"], return_data=True)], total
    if "good" in by_id:
        return "GoodCountMetric", [_query(by_id["good"], return_data=True)], total
    # a percentage of good events (PR(:T) on Latency, a canary's SuccessPercent) times the count
    (pct,) = by_id.values()
    count = total[0]
    good = [_query(pct, return_data=False), {**count, "ReturnData": False},
            {"Id": "good", "Expression": f"{pct.id} * {count['Id']} / 100", "ReturnData": True}]
    return "GoodCountMetric", good, total


def _windows(config: SLOConfig, slo: SLO) -> list[int]:
    return sorted({secs // 60 for w in slo.alerting.windows for secs in (w.long_s, w.short_s)})


def to_resources(config: SLOConfig) -> dict[str, dict[str, Any]]:
    """One ``AWS::ApplicationSignals::ServiceLevelObjective`` per SLO, by logical id.

    Raises:
        SLOSpecError: when an SLO has more alert windows than Application Signals takes.
    """
    problems: list[SLOProblem] = []
    resources: dict[str, dict[str, Any]] = {}
    for slo in config.slos:
        minutes = _windows(config, slo)
        if len(minutes) > MAX_BURN_RATE_WINDOWS or max(minutes, default=0) > MAX_LOOK_BACK_MIN:
            problems.append(config.problem(f"{slo.path}.alerting", f"{len(minutes)} distinct windows up to "
                                           f"{format_duration(max(minutes) * 60)}; Application Signals takes "
                                           f"{MAX_BURN_RATE_WINDOWS} burn-rate windows of at most 7 days",
                                           "use fewer tiers for this SLO"))
            continue
        kind, monitored, total = _counts(config, slo)
        goal: dict[str, Any] = {
            "Interval": {"RollingInterval": {"Duration": config.period_s // DAY, "DurationUnit": "DAY"}},
            "AttainmentGoal": slo.objective,
        }
        if slo.alerting.budget_below_percent is not None:
            goal["WarningThreshold"] = slo.alerting.budget_below_percent
        what = slo.description or f"{slo.sli.kind} SLO of {config.service}"
        resources[_logical_id(slo.name, resources)] = {
            "Type": "AWS::ApplicationSignals::ServiceLevelObjective",
            "Properties": {
                "Name": slo_name(config, slo),
                "Description": (f"{what}: {slo.objective:g}% over {format_duration(config.period_s)}, "
                                f"generated by obskit from {config.file} with the same metrics as its alarms.")[:1024],
                "RequestBasedSli": {"RequestBasedSliMetric": {
                    "TotalRequestCountMetric": total, "MonitoredRequestCountMetric": {kind: monitored}}},
                "Goal": goal,
                "BurnRateConfigurations": [{"LookBackWindowMinutes": m} for m in minutes],
                "Tags": [{"Key": semconv.SLO_TAG_GENERATOR, "Value": semconv.SLO_GENERATOR_NAME},
                         {"Key": semconv.SLO_TAG_SERVICE, "Value": config.service[:256]},
                         {"Key": semconv.SLO_TAG_SLO, "Value": slo.name}],
            },
        }
    if problems:
        raise SLOSpecError(problems)
    return resources


def _logical_id(name: str, taken: dict[str, Any]) -> str:
    base = "SLO" + "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)
    ident, n = base[:255], 2
    while ident in taken:
        ident, n = f"{base[:250]}{n}", n + 1
    return ident


def to_cloudformation(config: SLOConfig) -> str:
    """A CloudFormation template (YAML) with the file's SLOs as Application Signals SLOs."""
    from obskit.slo.render import dump_yaml

    env = f" ({config.environment})" if config.environment else ""
    return dump_yaml({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (f"Application Signals SLOs of {config.service}{env}, generated by obskit "
                        f"{generator_version()} from {config.file}; regenerate instead of editing.")[:1024],
        "Resources": to_resources(config),
    })
