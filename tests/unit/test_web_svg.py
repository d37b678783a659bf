"""The calendar and timeline SVGs: geometry read back into days and hours."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from directord import timeperiods
from directord.web import svg

BERLIN = ZoneInfo("Europe/Berlin")


def rects(markup: str, cls: str) -> list[dict[str, str]]:
    out = []
    for m in re.finditer(r"<rect ([^>]*)>", markup):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        if attrs.get("class", "").split()[0] == cls:
            out.append(attrs)
    return out


def spans(period: timeperiods.TimePeriod, first: date, days: int) -> list[svg.Span]:
    lo = datetime.combine(first, datetime.min.time(), period.tz)
    hi = lo + timedelta(days=days)
    return [svg.Span(b, e) for b, e in period.segments(lo, hi)]


def test_monday_nine_to_five_is_exactly_the_monday_block() -> None:
    period = timeperiods.TimePeriod("p", {"monday": "09:00-17:00"}, timezone="Europe/Berlin")
    monday = date(2027, 3, 1)
    markup = svg.week(spans(period, monday, 7), monday, BERLIN, "p")
    (only,) = rects(markup, "active")
    assert float(only["x"]) == svg.WEEK_LEFT
    assert float(only["width"]) == svg.WEEK_DAY_WIDTH
    assert float(only["y"]) == svg.WEEK_TOP + 9 / 24 * svg.WEEK_HEIGHT
    assert float(only["height"]) == 8 / 24 * svg.WEEK_HEIGHT
    assert only["data-begin"] == "2027-03-01T09:00:00+01:00"
    assert only["data-end"] == "2027-03-01T17:00:00+01:00"


def test_a_night_range_is_split_at_midnight_into_two_columns() -> None:
    period = timeperiods.TimePeriod("n", {"friday": "22:00-06:00"}, timezone="Europe/Berlin")
    monday = date(2027, 3, 1)
    pieces = rects(svg.week(spans(period, monday, 7), monday, BERLIN, "n"), "active")
    columns = sorted(round((float(r["x"]) - svg.WEEK_LEFT) / svg.WEEK_DAY_WIDTH) for r in pieces)
    assert columns == [4, 5]  # Friday evening, Saturday morning
    heights = sorted(float(r["height"]) for r in pieces)
    assert heights == [2 / 24 * svg.WEEK_HEIGHT, 6 / 24 * svg.WEEK_HEIGHT]


def test_wall_clock_hours_on_a_spring_forward_day() -> None:
    # 2027-03-28: Berlin jumps 02:00 -> 03:00; 01:00-04:00 lasts 2 h but is drawn at its hours.
    period = timeperiods.TimePeriod("d", {"sunday": "01:00-04:00"}, timezone="Europe/Berlin")
    monday = date(2027, 3, 22)
    (only,) = rects(svg.week(spans(period, monday, 7), monday, BERLIN, "d"), "active")
    assert float(only["y"]) == svg.WEEK_TOP + 1 / 24 * svg.WEEK_HEIGHT
    assert float(only["height"]) == 3 / 24 * svg.WEEK_HEIGHT


def test_month_marks_every_monday_and_nothing_else() -> None:
    period = timeperiods.TimePeriod("m", {"monday": "00:00-24:00"}, timezone="UTC")
    first = date(2027, 2, 1)
    utc = ZoneInfo("UTC")
    pieces = rects(svg.month(spans(period, first, 28), first, utc, "m"), "active")
    days = sorted(r["data-begin"][:10] for r in pieces)
    assert days == ["2027-02-01", "2027-02-08", "2027-02-15", "2027-02-22"]
    assert {float(r["width"]) for r in pieces} == {svg.MONTH_CELL_W - 8}


def test_timeline_bars_follow_start_and_duration() -> None:
    runs = [
        svg.RunBar(1, "succeeded", 1000.0, 1010.0, "ok", "/runs/1"),
        svg.RunBar(2, "failed", 1090.0, 1100.0, "boom <b>", "/runs/2"),
    ]
    markup = svg.timeline(runs, now=1100.0, label="t")
    bars = rects(markup, "run")
    assert [b["data-run"] for b in bars] == ["1", "2"]
    assert float(bars[0]["x"]) == svg.TIMELINE_LEFT
    span = svg.TIMELINE_W - 2 * svg.TIMELINE_LEFT
    assert abs(float(bars[1]["x"]) - (svg.TIMELINE_LEFT + 0.9 * span)) < 0.01
    assert abs(float(bars[0]["width"]) - 0.1 * span) < 0.01
    assert "boom &lt;b&gt;" in markup
    assert "<b>" not in markup
