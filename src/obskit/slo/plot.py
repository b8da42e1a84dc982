"""``obskit slo explain --plot out.svg``: when each tier alerts, against the error ratio, as a picture.

Imports: the standard library and ``obskit.slo``. The SVG is written by hand: a few lines and
labels on two log axes need no plotting library, and the file stays small, diffable and viewable
in any browser or in a README.

One panel per SLO. x: the error ratio, log scale, from half the error budget (a 0.5x burn) to
100 %. y: time, log scale. Per tier, the time from the start of a steady error ratio to the alert
(the SRE Workbook's ``burn_rate * budget / ratio * long`` plus CloudWatch's one-minute
evaluation), from the tier's threshold (below it the tier never fires) to 100 %. The dashed red
line is when the budget is gone at that ratio (``budget / ratio * period``); a tier is useful
where it lies below that line. The shaded band is the error ratios above 1x that no tier covers:
the SLO will be missed and nobody is told.
"""

from __future__ import annotations

import math
from html import escape

from obskit.slo.alarms import format_span
from obskit.slo.spec import SLO, SLOConfig, format_duration

__all__ = ["EVALUATION_S", "plot_svg", "uncovered_band"]

EVALUATION_S = 60  # CloudWatch evaluates standard-resolution alarms once a minute
WIDTH, PANEL_H = 860, 400
LEFT, RIGHT, TOP, BOTTOM = 80, 230, 56, 56
COLORS = {"page": ("#c62828", "#ef6c00", "#ad1457", "#6a1b9a"), "ticket": ("#1565c0", "#00838f", "#2e7d32", "#4e342e")}
_TIME_TICKS = ((60, "1 min"), (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"), (86_400, "1 d"),
               (7 * 86_400, "7 d"), (30 * 86_400, "30 d"), (365 * 86_400, "1 y"))
SAMPLES = 48


def uncovered_band(slo: SLO) -> tuple[float, float] | None:
    """The error ratios (low, high) above a 1x burn that no tier fires on, or ``None``."""
    if not slo.alerting.windows:
        return (slo.budget, 1.0)
    lowest = min(w.burn_rate for w in slo.alerting.windows) * slo.budget
    return (slo.budget, min(lowest, 1.0)) if lowest > slo.budget * (1 + 1e-9) else None


class _Axes:
    """Maps (error ratio, seconds) to pixels of one panel, both on log scales."""

    def __init__(self, top: float, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.top = top
        self.x0, self.x1 = (math.log10(v) for v in x_range)
        self.y0, self.y1 = (math.log10(v) for v in y_range)
        self.w = WIDTH - LEFT - RIGHT
        self.h = PANEL_H - TOP - BOTTOM

    def x(self, ratio: float) -> float:
        return LEFT + (math.log10(ratio) - self.x0) / (self.x1 - self.x0) * self.w

    def y(self, seconds: float) -> float:
        clamped = min(max(math.log10(seconds), self.y0), self.y1)
        return self.top + TOP + self.h - (clamped - self.y0) / (self.y1 - self.y0) * self.h


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _grid(ax: _Axes, x_range: tuple[float, float], y_range: tuple[float, float]) -> list[str]:
    out = []
    bottom = ax.top + TOP + ax.h
    for d in range(math.floor(ax.x0), math.ceil(ax.x1) + 1):
        ratio = 10.0 ** d
        if x_range[0] <= ratio <= x_range[1]:
            x = ax.x(ratio)
            out.append(f'<line x1="{x:.1f}" y1="{ax.top + TOP}" x2="{x:.1f}" y2="{bottom}" class="grid"/>')
            out.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{_pct(ratio)}</text>')
    for secs, label in _TIME_TICKS:
        if y_range[0] <= secs <= y_range[1]:
            y = ax.y(secs)
            out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + ax.w}" y2="{y:.1f}" class="grid"/>')
            out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(f'<rect x="{LEFT}" y="{ax.top + TOP}" width="{ax.w}" height="{ax.h}" class="frame"/>')
    out.append(f'<text x="{LEFT + ax.w / 2}" y="{bottom + 40}" text-anchor="middle">error ratio (log scale)</text>')
    out.append(f'<text transform="translate(18,{ax.top + TOP + ax.h / 2}) rotate(-90)" text-anchor="middle">'
               "time to alert (log scale)</text>")
    return out


def _panel(config: SLOConfig, slo: SLO, top: float) -> list[str]:
    budget, period = slo.budget, config.period_s
    x_range = (budget / 2, 1.0)
    fastest = min((w.burn_rate * budget * w.long_s for w in slo.alerting.windows), default=60.0) + EVALUATION_S
    y_range = (10.0 ** math.floor(math.log10(min(fastest, 60.0))), 10.0 ** math.ceil(math.log10(2 * period)))
    ax = _Axes(top, x_range, y_range)
    where = f" of {slo.operation}" if slo.operation else ""
    out = [f'<g class="slo" data-slo="{escape(slo.name)}">',
           f'<text x="{LEFT}" y="{top + 24}" class="title">{escape(config.service)}/{escape(slo.name)}: '
           f"{slo.objective:g}%{escape(where)} over {format_duration(period)}</text>",
           f'<text x="{LEFT}" y="{top + 42}" class="sub">error budget {_pct(budget)} = '
           f"{budget * period / 60:,.1f} min of full outage; time from a steady error ratio to the alert</text>"]
    band = uncovered_band(slo)
    if band is not None:
        x0, x1 = ax.x(band[0]), ax.x(band[1])
        out.append(f'<rect x="{x0:.1f}" y="{top + TOP}" width="{x1 - x0:.1f}" height="{ax.h}" class="band">'
                   f"<title>no tier fires between {_pct(band[0])} and {_pct(band[1])}</title></rect>")
        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{top + TOP + 16}" text-anchor="middle" class="bandlabel">'
                   "no tier</text>")
    out += _grid(ax, x_range, y_range)
    one_x = ax.x(budget)
    out.append(f'<line x1="{one_x:.1f}" y1="{top + TOP}" x2="{one_x:.1f}" y2="{top + TOP + ax.h}" class="onex"/>')
    exhaust = [(ax.x(r), ax.y(budget / r * period)) for r in _ratios(budget, 1.0)]
    out.append(f'<polyline points="{_path(exhaust)}" class="exhaust"/>')
    out += _tiers(ax, slo, top)
    return [*out, "</g>"]


def _ratios(low: float, high: float) -> list[float]:
    step = (math.log10(high) - math.log10(low)) / SAMPLES
    return [10 ** (math.log10(low) + i * step) for i in range(SAMPLES + 1)]


def _tiers(ax: _Axes, slo: SLO, top: float) -> list[str]:
    out = []
    legend_x, legend_y = WIDTH - RIGHT + 16, top + TOP + 8
    counts = {"page": 0, "ticket": 0}
    for w in slo.alerting.windows:
        color = COLORS[w.severity][counts[w.severity] % 4]
        counts[w.severity] += 1
        start = w.burn_rate * slo.budget
        name = f"{w.severity} {format_duration(w.long_s)}/{format_duration(w.short_s)}"
        if start >= 1:
            continue
        points = [(ax.x(r), ax.y(start / r * w.long_s + EVALUATION_S)) for r in _ratios(start, 1.0)]
        out.append(f'<polyline points="{_path(points)}" stroke="{color}" class="tier" data-tier="{name}">'
                   f"<title>{name} at {w.burn_rate:g}x: fires from {_pct(start)}; a full outage in "
                   f"{format_span(start * w.long_s + EVALUATION_S)}</title></polyline>")
        out.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="3.5" fill="{color}"/>')
        out.append(f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 22}" y2="{legend_y}" stroke="{color}" '
                   'class="tier"/>')
        out.append(f'<text x="{legend_x + 28}" y="{legend_y + 4}">{name} &#8805; {w.burn_rate:g}x</text>')
        legend_y += 20
    out.append(f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 22}" y2="{legend_y}" class="exhaust"/>')
    out.append(f'<text x="{legend_x + 28}" y="{legend_y + 4}">budget gone</text>')
    out.append(f'<line x1="{legend_x}" y1="{legend_y + 20}" x2="{legend_x + 22}" y2="{legend_y + 20}" class="onex"/>')
    out.append(f'<text x="{legend_x + 28}" y="{legend_y + 24}">1x burn (SLO just met)</text>')
    return out


STYLE = ("text{font:12px sans-serif;fill:#222}.title{font-size:15px;font-weight:bold}.sub{fill:#555}"
         ".grid{stroke:#e0e0e0}.frame{fill:none;stroke:#888}.tier{fill:none;stroke-width:2.5}"
         ".exhaust{fill:none;stroke:#d32f2f;stroke-width:2;stroke-dasharray:6 4}"
         ".onex{stroke:#757575;stroke-width:1;stroke-dasharray:2 3}.band{fill:#ffcdd2;fill-opacity:.6}"
         ".bandlabel{fill:#b71c1c;font-weight:bold}")


def plot_svg(config: SLOConfig) -> str:
    """The SVG document: one panel per SLO of ``config``."""
    height = PANEL_H * len(config.slos)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}">',
             f"<title>When the SLO alarms of {escape(config.service)} fire</title>",
             f"<style>{STYLE}</style>",
             f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>']
    for i, slo in enumerate(config.slos):
        parts += _panel(config, slo, i * PANEL_H)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
