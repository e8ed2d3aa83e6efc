"""The board's 30-day chart: daily SLA attainment, drawn as SVG by the server.

The figures are the reports' own (``qualityapi.reports.service.daily_attainment``: met ÷
(met + breached) among the clock cycles that ended that day, every subject and target).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape

from qualityapi.reports.schemas import DailyAttainment
from qualityapi.reports.service import daily_attainment

__all__ = ["daily_attainment", "render_svg"]


# --- drawing -----------------------------------------------------------------------------

WIDTH, HEIGHT = 760, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 30, 28


def _pct(value: float) -> str:
    return f"{value * 100:.1f}".rstrip("0").rstrip(".") + " %"


def render_svg(days: Sequence[DailyAttainment], *, goal: float, tz: str) -> str:
    """Bars per day (height = attainment), green at or above ``goal``, red below, grey
    where no clock ended; a dashed goal line; the period's overall figure in the title."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    n = max(len(days), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    met = sum(d.met for d in days)
    ended = met + sum(d.breached for d in days)
    overall = f"{_pct(met / ended)} ({met} of {ended} met)" if ended else "no clock ended"
    label = f"SLA attainment per day, last {len(days)} days ({tz}): {overall}"
    uid = uuid.uuid4().hex[:8]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="t{uid}" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="t{uid}">{escape(label)}</title>',
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="600" fill="#1d2430">'
        f"SLA attainment, last {len(days)} days: {escape(overall)}</text>",
    ]
    for frac in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d8dbe2" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5c6470">'
            f"{int(frac * 100)} %</text>"
        )
    for i, d in enumerate(days):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        tip = f"{d.date.isoformat()}: " + (
            f"{_pct(d.ratio)} ({d.met} met, {d.breached} breached)"
            if d.ratio is not None
            else "no clock ended"
        )
        if d.ratio is None:
            parts.append(
                f'<rect class="day none" x="{x:.1f}" y="{_TOP + plot_h - 2:.1f}" '
                f'width="{bar_w:.1f}" height="2" fill="#c5cad3"><title>{escape(tip)}</title></rect>'
            )
        else:
            h = max(plot_h * d.ratio, 1.0)
            colour = "#2e7d32" if d.ratio >= goal else "#c62828"
            parts.append(
                f'<rect class="day" x="{x:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(tip)}</title></rect>'
            )
        if i % 5 == 0 or i == len(days) - 1:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                f'fill="#5c6470">{d.date:%m-%d}</text>'
            )
    goal_y = _TOP + plot_h * (1 - goal)
    parts.append(
        f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{goal_y:.1f}" y2="{goal_y:.1f}" '
        'stroke="#1f5fbf" stroke-width="1.5" stroke-dasharray="5 4"/>'
        f'<text x="{WIDTH - _RIGHT}" y="{goal_y - 4:.1f}" text-anchor="end" fill="#1f5fbf">'
        f"goal {_pct(goal)}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
