"""The API's time periods: every one with its state now, a period's active segments between two
times, and the preview of ranges not configured (yet) with their week and month calendars."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ValidationError

from directord import catalog, errors, timeperiods
from directord.web import apikit, apimodels, svg
from directord.web import keys as web_keys

PREVIEW_MAX_DAYS = 400


def period_out(request: web.Request, period: timeperiods.TimePeriod) -> apimodels.PeriodOut:
    sup = request.app[web_keys.SUPERVISOR]
    now = datetime.fromtimestamp(sup.clock(), period.tz)
    change = period.next_change(now)
    return apimodels.PeriodOut(
        name=period.name,
        timezone=period.timezone,
        ranges=period.ranges,
        includes=list(period.includes),
        excludes=list(period.excludes),
        prefer_includes=period.prefer_includes,
        active_now=period.is_active(now),
        next_change=None if change is None else change.isoformat(),
        jobs=sorted(n for n, s in sup.specs.items() if s.job_config.timeperiod == period.name),
    )


def _segments(
    period: timeperiods.TimePeriod,
    periods: timeperiods.Registry,
    now: float,
    start_text: str | None,
    end_text: str | None,
    calendars: bool,
) -> apimodels.SegmentsOut:
    """The period's segments from ``start_text`` (default: now) to ``end_text`` (default: seven
    days later); with ``calendars`` its week and month drawn too."""
    start = apikit.instant(start_text, "from", period, datetime.fromtimestamp(now, period.tz))
    end = apikit.instant(end_text, "to", period, start + timedelta(days=7))
    if end <= start:
        raise apikit.invalid([catalog.FieldError("to", "must be after from")])
    if end - start > timedelta(days=PREVIEW_MAX_DAYS):
        raise apikit.invalid(
            [catalog.FieldError("to", f"at most {PREVIEW_MAX_DAYS} days after from")]
        )
    segments = period.segments(start, end)
    week_svg = month_svg = None
    if calendars:
        week_svg, month_svg = calendars_of(period, start, periods)
    return apimodels.SegmentsOut(
        name=period.name,
        timezone=period.timezone,
        start=start.isoformat(),
        to=end.isoformat(),
        segments=[
            apimodels.SegmentOut(begin=b.isoformat(), end=e.isoformat()) for b, e in segments
        ],
        week_svg=week_svg,
        month_svg=month_svg,
    )


def calendars_of(
    period: timeperiods.TimePeriod, at: datetime, periods: timeperiods.Registry | None
) -> tuple[str, str]:
    """The week and the month around ``at`` in the period's zone, with the segments of its
    includes and excludes drawn in lanes of their own."""
    local = at.astimezone(period.tz)
    monday = (local - timedelta(days=local.weekday())).date()
    first = local.date().replace(day=1)
    lo = datetime.combine(min(monday, first), datetime.min.time(), period.tz)
    hi = lo + timedelta(days=45)
    spans = [svg.Span(b, e) for b, e in period.segments(lo, hi)]
    for names, cls in ((period.includes, "include"), (period.excludes, "exclude")):
        for name in names:
            if periods is not None and name in periods:
                spans += [svg.Span(b, e, cls) for b, e in periods.get(name).segments(lo, hi)]
    label = f"when {period.name} is active ({period.timezone})"
    return svg.week(spans, monday, period.tz, label), svg.month(spans, first, period.tz, label)


async def list_periods(request: web.Request) -> tuple[int, BaseModel]:
    """Every time period"""
    periods = request.app[web_keys.SUPERVISOR].periods
    ordered = sorted(periods, key=lambda p: p.name)
    return 200, apimodels.PeriodsOut(timeperiods=[period_out(request, p) for p in ordered])


async def get_period(request: web.Request) -> tuple[int, BaseModel]:
    """A period's active segments between from and to (default: now and seven days later)"""
    sup = request.app[web_keys.SUPERVISOR]
    periods = sup.periods
    name = request.match_info["name"]
    if name not in periods:
        raise apikit.ApiError(404, errors.unknown("time period", name, [p.name for p in periods]))
    query = request.query
    period = periods.get(name)
    return 200, _segments(period, periods, sup.clock(), query.get("from"), query.get("to"), False)


async def preview_period(request: web.Request) -> tuple[int, BaseModel]:
    """Segments of ranges that are not configured (yet): for the live calendar while typing"""
    sup = request.app[web_keys.SUPERVISOR]
    try:
        given = apimodels.PreviewIn.model_validate(await apikit.body(request))
    except ValidationError as exc:
        raise apikit.invalid(apikit.pydantic_errors(exc)) from None
    periods = sup.periods
    missing = [n for n in (*given.includes, *given.excludes) if n not in periods]
    if missing:
        known = [p.name for p in periods]
        raise apikit.invalid(
            [
                catalog.FieldError("includes", errors.unknown("time period", m, known))
                for m in missing
            ]
        )
    try:
        period = timeperiods.TimePeriod(
            "preview",
            given.ranges,
            given.includes,
            given.excludes,
            given.prefer_includes,
            given.timezone,
        )
    except timeperiods.TimePeriodError as exc:
        key = exc.key if exc.key is not None else exc.text
        where = f"ranges[{key!r}]" if key else "ranges"
        if "time zone" in str(exc):
            where = "timezone"
        raise apikit.invalid([catalog.FieldError(where, str(exc))]) from None
    if given.includes or given.excludes:
        scratch = timeperiods.Registry([*(p for p in periods if p.name != "preview"), period])
        period = scratch.get("preview")
        periods = scratch
    return 200, _segments(period, periods, sup.clock(), given.start, given.to, given.calendars)
