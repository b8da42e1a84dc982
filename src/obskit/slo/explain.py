"""Say in plain numbers what the generated alarms will do, per SLO, before anyone deploys them.

Imports: the standard library and ``obskit.slo`` (``spec`` and the pure math in ``alarms``).

For each SLO: the error budget in minutes of full outage and in requests (from ``expected_rps``
when given, else per million requests), then one row per tier with its threshold, the share of
the budget it lets burn, how long the budget would last at that rate, and how fast a full outage
and a 2 % error rate are detected (SRE Workbook formula, plus up to a minute of CloudWatch
evaluation delay), and when the alert resets after the problem stops.
"""

from __future__ import annotations

from obskit.slo.alarms import budget_threshold, budget_window, detection_seconds, format_span
from obskit.slo.spec import SLO, SLOConfig, format_duration

__all__ = ["explain", "explain_slo"]

HEADERS = ("severity", "long/short", "burn >=", "error ratio >=", "budget spent", "budget lasts",
           "100% errors", "2% errors", "resets after")


def _pct(value: float) -> str:
    return f"{value * 100:.4g}%"


def _detect(seconds: float | None) -> str:
    return "never" if seconds is None else format_span(seconds)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def budget_note(config: SLOConfig, slo: SLO) -> str:
    """What the budget alarm does, and what it cannot see when the period is longer than 7 days."""
    below = f"{slo.alerting.budget_below_percent:g}%"
    text = f"{slo.alerting.budget_severity} when less than {below} of the error budget is left"
    if budget_window(config) < config.period_s:
        text += (f", but an alarm sees 7 days: it fires when those alone spent that much (burn >= "
                 f"{budget_threshold(config, slo):g}x); `obskit slo report` and the dashboard show the whole "
                 f"{format_duration(config.period_s)}")
    return text


def explain_slo(config: SLOConfig, slo: SLO) -> str:
    """The explanation of one SLO (a heading, the budget, and a table of its tiers)."""
    budget = slo.budget
    period = config.period_s
    sli = slo.sli
    if sli.kind == "latency":
        what = f"requests served within {sli.threshold_ms:g} ms"
    elif sli.kind == "synthetic":
        what = f"successful runs of canary {sli.canary}"
    elif sli.kind == "ratio":
        what = "good events (ratio)"
    else:
        what = "requests without a fault"
    if slo.operation:
        what += f" of {slo.operation}"
    out = [f"{config.service}/{slo.name}: {slo.objective:g}% of {what} over {format_duration(period)}"]
    minutes = budget * period / 60
    unit = "runs" if sli.kind == "synthetic" else "requests" if sli.kind != "ratio" else "events"
    if sli.kind == "synthetic":
        amount = f"{budget * period / 60:,.1f} failed runs of a once-a-minute canary"
    elif slo.expected_rps and sli.kind != "ratio":
        count = budget * slo.expected_rps * period
        amount = f"{count:,.0f} bad {unit} at {slo.expected_rps:g} requests/s"
    else:
        amount = f"{budget * 1e6:,.0f} bad {unit} per 1M {unit}"
    out.append(f"  error budget: {minutes:,.1f} min of full outage, or {amount}")
    rows: list[tuple[str, ...]] = [HEADERS]
    for w in slo.alerting.windows:
        rows.append((
            w.severity,
            f"{format_duration(w.long_s)}/{format_duration(w.short_s)}",
            f"{w.burn_rate:g}x",
            _pct(w.burn_rate * budget),
            f"{w.budget_percent:g}% in {format_duration(w.long_s)}",
            format_span(period / w.burn_rate),
            _detect(detection_seconds(w, budget, 1.0)),
            _detect(detection_seconds(w, budget, 0.02)),
            f"<= {format_duration(w.short_s)}",
        ))
    out.extend(_table(rows))
    notes = []
    if slo.alerting.min_requests > 1:
        notes.append(f"windows with fewer than {slo.alerting.min_requests} {unit} read as burn rate 0")
    if sli.kind == "synthetic" and slo.alerting.windows:
        fewest = min(w.short_s for w in slo.alerting.windows) // 60
        if slo.alerting.min_requests > fewest:
            notes.append(f"a once-a-minute canary runs {fewest} times in the shortest window, fewer than "
                         f"min_requests ({slo.alerting.min_requests}): that window never fires")
    if sli.kind == "synthetic" and sli.min_bad_events:
        notes.append(f"windows with fewer than {sli.min_bad_events} failed runs read as burn rate 0")
    if slo.alerting.no_data:
        notes.append(f"{slo.alerting.no_data} when no {unit} are reported for 15 min")
    if slo.alerting.budget_below_percent is not None:
        notes.append(budget_note(config, slo))
    if slo.objective >= 99.99:
        notes.append(f"a full outage spends the whole budget in {format_span(budget * period)}")
    if not slo.alerting.page:
        notes.append("page has no SNS topic: it changes state without notifying")
    out.extend(f"  note: {n}" for n in notes)
    return "\n".join(out)


def explain(config: SLOConfig) -> str:
    """The explanation of every SLO in ``config``, separated by blank lines."""
    return "\n\n".join(explain_slo(config, s) for s in config.slos) + "\n"
