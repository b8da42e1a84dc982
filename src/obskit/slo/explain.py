"""Say in plain numbers what the generated alarms will do, per SLO, before anyone deploys them.

Imports: the standard library, ``obskit.errors`` and ``obskit.slo`` (``spec`` and the pure math in
``alarms``).

For each SLO: the error budget in minutes of full outage and in requests (from ``expected_rps``
when given, else per million requests), then one row per tier with its threshold, the share of
the budget it lets burn, how long the budget would last at that rate, how fast a full outage and
a 2 % error rate are detected, and when the alert resets after the problem stops.

Detection times are what CloudWatch does, not the Workbook's continuous formula: whole minutes
from the first bad minute to the evaluation (every minute) that sees both windows of the tier
over the threshold; for a canary, whole runs on its schedule (counted from the outage's start,
so they include up to one schedule interval before the first failed run). A tier that a guard
(``min_requests``, ``min_bad_events``) or a canary's schedule keeps from ever firing at the
declared traffic says "cannot fire" and gets no time; ``validate`` warns about it.
"""

from __future__ import annotations

import math
from fractions import Fraction

from obskit.errors import SLOProblem
from obskit.slo.alarms import budget_threshold, budget_window, format_span
from obskit.slo.spec import SLO, SLOConfig, Window, format_duration

__all__ = ["cannot_fire", "detection_minutes", "explain", "explain_slo", "warnings"]

HEADERS = ("severity", "long/short", "burn >=", "error ratio >=", "budget spent", "budget lasts",
           "100% errors", "2% errors", "resets after")


def _pct(value: float) -> str:
    return f"{value * 100:.4g}%"


def _threshold(slo: SLO, w: Window) -> Fraction:
    """The error ratio a window must reach, ``burn_rate * (1 - objective)``, exactly."""
    return Fraction(repr(w.burn_rate)) * Fraction(slo.budget_text)


def cannot_fire(config: SLOConfig, slo: SLO, w: Window) -> str | None:
    """Why tier ``w`` can never fire at the traffic the file declares, or ``None`` when it can.

    A window reads burn rate 0 below ``min_requests`` events (and, for a canary, below
    ``min_bad_events`` failed runs in its long window), so the tier is dead when a window can
    never hold that many: a canary runs ``window / schedule`` times in it; a service serves
    ``expected_rps * short`` requests (only checked when ``expected_rps`` is given).
    """
    del config  # the period does not change what a window can hold
    sli, short = slo.sli, format_duration(w.short_s)
    need = slo.alerting.min_requests
    if sli.kind == "synthetic":
        every = format_duration(sli.schedule_s)
        runs = math.ceil(w.short_s / sli.schedule_s)
        if runs < need:
            return (f"a canary every {every} runs {runs} time(s) in the {short} window, fewer than "
                    f"min_requests ({need})")
        runs = math.ceil(w.long_s / sli.schedule_s)
        if runs < sli.min_bad_events:
            return (f"a canary every {every} runs {runs} time(s) in the {format_duration(w.long_s)} window, "
                    f"fewer than min_bad_events ({sli.min_bad_events})")
        return None
    if slo.expected_rps is not None and need > 1:
        events = Fraction(repr(slo.expected_rps)) * w.short_s
        if events < need:
            return (f"at expected_rps {slo.expected_rps:g} the {short} window sees about {float(events):.3g} "
                    f"requests, fewer than min_requests ({need})")
    return None


def detection_minutes(config: SLOConfig, slo: SLO, w: Window, error_ratio: float) -> int | None:
    """Minutes from the start of a step to ``error_ratio`` until tier ``w`` is in ALARM.

    Counts CloudWatch's evaluation: the errors of minute ``m`` are seen by the evaluation at
    ``m + 1``, so a full outage at 99.9 % (Workbook: 0.86 min on the 1h/5m tier) takes 1 minute.
    ``None`` when the tier never fires at that ratio (below its threshold, or a guard).
    """
    if cannot_fire(config, slo, w) is not None or error_ratio <= 0:
        return None
    threshold, e = _threshold(slo, w), Fraction(repr(error_ratio))
    if e < threshold:
        return None
    sli = slo.sli
    if sli.kind != "synthetic":
        return math.ceil(threshold * (w.long_s // 60) / e)
    every = sli.schedule_s // 60
    n_long, n_short = w.long_s // sli.schedule_s, max(w.short_s // sli.schedule_s, 1)
    least = max(sli.min_bad_events, 1)
    need_long = max(math.ceil(threshold * n_long), least)
    need_short = max(math.ceil(threshold * n_short), 1)
    # failures come every 1/e runs: can each window ever hold enough of them?
    if math.ceil(e * n_short) < need_short or math.ceil(e * n_long) < need_long:
        return None
    runs = max(need_long, need_short if e == 1 else 0)
    return math.ceil(((runs - 1) / e + 1) * every)


def _detect(config: SLOConfig, slo: SLO, w: Window, ratio: float) -> str:
    if cannot_fire(config, slo, w) is not None:
        return "cannot fire"
    minutes = detection_minutes(config, slo, w, ratio)
    return "never" if minutes is None else format_span(minutes * 60) if minutes >= 120 else f"{minutes} min"


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


def _what(slo: SLO) -> str:
    sli = slo.sli
    if sli.kind == "latency":
        what = f"requests served within {sli.threshold_ms:g} ms"
    elif sli.kind == "synthetic":
        what = f"successful runs of canary {sli.canary}"
    elif sli.kind == "ratio":
        what = "good events (ratio)"
    else:
        what = "requests without a fault"
    return what + (f" of {slo.operation}" if slo.operation else "")


def explain_slo(config: SLOConfig, slo: SLO) -> str:
    """The explanation of one SLO (a heading, the budget, and a table of its tiers)."""
    budget, period, sli = slo.budget, config.period_s, slo.sli
    out = [f"{config.service}/{slo.name}: {slo.objective:g}% of {_what(slo)} over {format_duration(period)}"]
    minutes = budget * period / 60
    unit = "runs" if sli.kind == "synthetic" else "requests" if sli.kind != "ratio" else "events"
    if sli.kind == "synthetic":
        every = format_duration(sli.schedule_s)
        amount = f"{budget * period / sli.schedule_s:,.1f} failed runs of a canary every {every}"
    elif slo.expected_rps and sli.kind != "ratio":
        amount = f"{budget * slo.expected_rps * period:,.0f} bad {unit} at {slo.expected_rps:g} requests/s"
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
            _detect(config, slo, w, 1.0),
            _detect(config, slo, w, 0.02),
            f"<= {format_duration(w.short_s)}",
        ))
    out.extend(_table(rows))
    notes = ["detection times count CloudWatch's one-minute evaluation"
             + (f" and the canary's {format_duration(sli.schedule_s)} schedule" if sli.kind == "synthetic" else "")]
    for w in slo.alerting.windows:
        reason = cannot_fire(config, slo, w)
        if reason:
            notes.append(f"the {w.severity} tier {format_duration(w.long_s)}/{format_duration(w.short_s)} "
                         f"cannot fire: {reason}")
    if slo.alerting.min_requests > 1:
        notes.append(f"windows with fewer than {slo.alerting.min_requests} {unit} read as burn rate 0")
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


def warnings(config: SLOConfig) -> list[SLOProblem]:
    """What is valid but will not do what it says: tiers a guard or a canary's schedule disables,
    and burns above 1x that no tier catches (custom windows without a 1x tier).

    ``obskit slo validate`` prints these as warnings; ``--strict`` fails on them.
    """
    out: list[SLOProblem] = []
    for slo in config.slos:
        lowest = min((w.burn_rate for w in slo.alerting.windows), default=None)
        if lowest is not None and lowest > 1:
            where = next((f for f in (f"{slo.path}.alerting.windows", "alerting.windows") if f in config.lines),
                         slo.path)
            out.append(config.problem(
                where, f"no tier fires below {lowest:g}x: a burn between 1x and {lowest:g}x spends the whole "
                f"budget (in {format_span(config.period_s)} to {format_span(config.period_s / lowest)}) without "
                "an alert", "add a ticket tier at 1x, e.g. {severity: ticket, long: 3d, short: 6h, burn_rate: 1}"))
        for w in slo.alerting.windows:
            reason = cannot_fire(config, slo, w)
            if reason is None:
                continue
            fields = [f"{slo.path}.alerting.min_requests", "alerting.min_requests", f"{slo.path}.sli"]
            if "min_bad_events" in reason:
                fields.reverse()
            where = next((f for f in fields if f in config.lines), slo.path)
            fix = ("lower min_requests / min_bad_events, run the canary more often, or use longer windows"
                   if slo.sli.kind == "synthetic" else
                   "lower min_requests below the requests a short window sees, or use longer windows")
            out.append(config.problem(where, f"the {w.severity} tier {format_duration(w.long_s)}/"
                                      f"{format_duration(w.short_s)} cannot fire: {reason}", fix))
    return out
