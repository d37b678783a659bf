"""SVG pictures for the pages: a period's week and month calendars, a job's run timeline.

Pure: instants in, markup out. Geometry is plain arithmetic on wall-clock time in the period's
own zone, so a test can read a rect's x/y/height back into days and hours. Every rect carries
``data-begin``/``data-end`` (ISO-8601 with offset) and a ``<title>`` for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Week calendar: a column per day, 24 hours top to bottom.
WEEK_LEFT = 40.0
WEEK_TOP = 24.0
WEEK_DAY_WIDTH = 100.0
WEEK_HEIGHT = 480.0  # 20 px an hour

# Month calendar: a cell per day, with a 24-hour strip of the active time.
MONTH_CELL_W = 100.0
MONTH_CELL_H = 56.0
MONTH_TOP = 24.0
MONTH_STRIP_Y = 30.0
MONTH_STRIP_H = 14.0

# Timeline of runs.
TIMELINE_W = 800.0
TIMELINE_H = 60.0
TIMELINE_LEFT = 8.0
TIMELINE_MIN_W = 2.0


@dataclass(frozen=True)
class Span:
    """An instant range drawn in one layer (``cls``: active, include, exclude)."""

    begin: datetime
    end: datetime
    cls: str = "active"


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _wall_seconds(at: datetime, day: date, tz: ZoneInfo) -> float:
    """Seconds of wall-clock time from ``day``'s midnight to ``at`` (24 h = the next midnight)."""
    local = at.astimezone(tz)
    return (local.replace(tzinfo=None) - datetime.combine(day, time(0))).total_seconds()


def split_by_day(
    spans: Iterable[Span], first: date, days: int, tz: ZoneInfo
) -> list[tuple[int, float, float, Span]]:
    """(day index, start second, end second of wall time, span) pieces inside the days shown."""
    out = []
    for span in spans:
        for i in range(days):
            day = first + timedelta(days=i)
            lo = max(span.begin, _midnight(day, tz))
            hi = min(span.end, _midnight(day + timedelta(days=1), tz))
            if lo < hi:
                start = max(0.0, _wall_seconds(lo, day, tz))
                end = min(86400.0, _wall_seconds(hi, day, tz))
                if end <= start:  # the repeated hour of a fall-back day folds back
                    end = 86400.0
                out.append((i, start, end, span))
    return out


def _rect(x: float, y: float, w: float, h: float, span: Span, lo: datetime, hi: datetime) -> str:
    title = f"{lo.strftime('%a %Y-%m-%d %H:%M')} – {hi.strftime('%H:%M')}"
    return (
        f'<rect class="{_attr(span.cls)}" x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" '
        f'height="{h:.2f}" data-begin="{_attr(lo.isoformat())}" '
        f'data-end="{_attr(hi.isoformat())}"><title>{escape(title)}</title></rect>'
    )


def week(spans: Sequence[Span], monday: date, tz: ZoneInfo, label: str) -> str:
    """Seven columns from ``monday``; each span's pieces as rects at their wall-clock hours."""
    width = WEEK_LEFT + 7 * WEEK_DAY_WIDTH
    height = WEEK_TOP + WEEK_HEIGHT + 12  # room for the last hour label
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="calendar week" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-label="{_attr(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for i in range(7):
        day = monday + timedelta(days=i)
        x = WEEK_LEFT + i * WEEK_DAY_WIDTH
        parts.append(
            f'<rect class="day" x="{x:.2f}" y="{WEEK_TOP:.2f}" width="{WEEK_DAY_WIDTH:.2f}" '
            f'height="{WEEK_HEIGHT:.2f}"/>'
            f'<text x="{x + WEEK_DAY_WIDTH / 2:.2f}" y="16" text-anchor="middle">'
            f"{WEEKDAYS[day.weekday()]} {day.day}</text>"
        )
    for hour in range(0, 25, 3):
        y = WEEK_TOP + hour * WEEK_HEIGHT / 24
        parts.append(
            f'<line class="hour" x1="{WEEK_LEFT - 4:.0f}" x2="{width:.0f}" y1="{y:.2f}" '
            f'y2="{y:.2f}"/><text x="{WEEK_LEFT - 6:.0f}" y="{y + 4:.2f}" '
            f'text-anchor="end">{hour:02d}:00</text>'
        )
    inset = {"active": 0.0, "include": 0.70, "exclude": 0.85}
    for i, start, end, span in split_by_day(spans, monday, 7, tz):
        lane = inset.get(span.cls, 0.0)
        x = WEEK_LEFT + i * WEEK_DAY_WIDTH + lane * WEEK_DAY_WIDTH
        w = WEEK_DAY_WIDTH * (1.0 - lane) if lane == 0.0 else WEEK_DAY_WIDTH * 0.15
        y = WEEK_TOP + start / 86400 * WEEK_HEIGHT
        h = (end - start) / 86400 * WEEK_HEIGHT
        day = monday + timedelta(days=i)
        lo = max(span.begin, _midnight(day, tz)).astimezone(tz)
        hi = min(span.end, _midnight(day + timedelta(days=1), tz)).astimezone(tz)
        parts.append(_rect(x, y, w, h, span, lo, hi))
    parts.append("</svg>")
    return "".join(parts)


def month(spans: Sequence[Span], first: date, tz: ZoneInfo, label: str) -> str:
    """The month of ``first``: a grid of days (weeks from Monday), each a 24 h strip."""
    start = first.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    ndays = (following - start).days
    lead = start.weekday()
    rows = (lead + ndays + 6) // 7
    width = 7 * MONTH_CELL_W
    height = MONTH_TOP + rows * MONTH_CELL_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="calendar month" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-label="{_attr(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for i, name in enumerate(WEEKDAYS):
        parts.append(
            f'<text x="{i * MONTH_CELL_W + MONTH_CELL_W / 2:.2f}" y="16" '
            f'text-anchor="middle">{name}</text>'
        )

    def cell(index: int) -> tuple[float, float]:
        pos = lead + index
        return (pos % 7) * MONTH_CELL_W, MONTH_TOP + (pos // 7) * MONTH_CELL_H

    for i in range(ndays):
        x, y = cell(i)
        parts.append(
            f'<rect class="day" x="{x:.2f}" y="{y:.2f}" width="{MONTH_CELL_W:.2f}" '
            f'height="{MONTH_CELL_H:.2f}"/><text x="{x + 6:.2f}" y="{y + 18:.2f}">{i + 1}</text>'
            f'<rect class="strip" x="{x + 4:.2f}" y="{y + MONTH_STRIP_Y:.2f}" '
            f'width="{MONTH_CELL_W - 8:.2f}" height="{MONTH_STRIP_H:.2f}"/>'
        )
    lanes = {"active": (0.0, 1.0), "include": (1.0, 0.25), "exclude": (1.25, 0.25)}
    for i, lo_s, hi_s, span in split_by_day(spans, start, ndays, tz):
        x0, y0 = cell(i)
        offset, scale = lanes.get(span.cls, (0.0, 1.0))
        x = x0 + 4 + lo_s / 86400 * (MONTH_CELL_W - 8)
        w = (hi_s - lo_s) / 86400 * (MONTH_CELL_W - 8)
        y = y0 + MONTH_STRIP_Y + offset * MONTH_STRIP_H
        day = start + timedelta(days=i)
        lo = max(span.begin, _midnight(day, tz)).astimezone(tz)
        hi = min(span.end, _midnight(day + timedelta(days=1), tz)).astimezone(tz)
        parts.append(_rect(x, y, w, MONTH_STRIP_H * scale, span, lo, hi))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class RunBar:
    run_id: int
    state: str
    started: float
    finished: float | None
    summary: str
    href: str


def timeline(runs: Sequence[RunBar], now: float, label: str) -> str:
    """Runs on a time axis from the oldest start to now, one bar each, coloured by state; a
    bar's width is its duration (at least 2 px, so a quick run is still visible)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="group" '
        f'viewBox="0 0 {TIMELINE_W:.0f} {TIMELINE_H:.0f}" width="{TIMELINE_W:.0f}" '
        f'height="{TIMELINE_H:.0f}" aria-label="{_attr(label)}"><title>{escape(label)}</title>',
        f'<line class="axis" x1="{TIMELINE_LEFT:.0f}" x2="{TIMELINE_W - TIMELINE_LEFT:.0f}" '
        f'y1="{TIMELINE_H - 10:.0f}" y2="{TIMELINE_H - 10:.0f}"/>',
    ]
    if runs:
        lo = min(r.started for r in runs)
        hi = max(now, *(r.finished or now for r in runs))
        scale = (TIMELINE_W - 2 * TIMELINE_LEFT) / max(hi - lo, 1e-9)
        for r in sorted(runs, key=lambda r: r.started):
            end = r.finished if r.finished is not None else now
            x = TIMELINE_LEFT + (r.started - lo) * scale
            w = max(TIMELINE_MIN_W, (end - r.started) * scale)
            took = f"{end - r.started:.1f}s"
            title = f"run {r.run_id}: {r.state} ({took}) {r.summary}"
            parts.append(
                f'<a href="{_attr(r.href)}"><rect class="run {_attr(r.state)}" x="{x:.2f}" '
                f'y="8" width="{w:.2f}" height="{TIMELINE_H - 24:.0f}" '
                f'data-run="{r.run_id}"><title>{escape(title)}</title></rect></a>'
            )
    parts.append("</svg>")
    return "".join(parts)
