"""Icinga 2's own evaluation of legacy ranges, quirks included (v2.16, legacytimeperiod.cpp).

This is a reference model, not what directord schedules by. It exists so that ``config check`` can
warn, per key, where Icinga 2 would evaluate the same definition differently, and so that the tests
can hold the model against Icinga 2's own test suite. Every function mirrors an upstream one; the
quirks are documented in shared/notes/icinga2-timeperiod-semantics.md and README "Time periods".
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from directord.timeperiods import intervals
from directord.timeperiods.grammar import MONTHS

# Icinga 2 numbers weekdays from Sunday (struct tm's tm_wday).
WEEKDAYS_FROM_SUNDAY = (
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
)
_LONG_RE = re.compile(r"[+-]?\d+\Z")
_WHITESPACE = " \t\n\v\f\r"


class IcingaError(ValueError):
    """What Icinga 2 throws (std::invalid_argument and friends) for this input."""


class IcingaHang(IcingaError):
    """Input on which Icinga 2 loops forever (``monday 0``)."""


def to_long(text: str) -> int:
    """boost::lexical_cast<long>: optional sign and digits, nothing else."""
    if not _LONG_RE.match(text):
        raise IcingaError(f"Can't convert '{text}' to an integer.")
    return int(text)


def _day_offset(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError as exc:
        raise IcingaError("Year is out of valid range: 1400..9999") from exc


def _month_start(year: int, month: int) -> date:
    try:
        return date(year, month, 1)
    except ValueError as exc:
        raise IcingaError("Year is out of valid range: 1400..9999") from exc


def find_nth_weekday(year: int, month: int, wday: int, n: int) -> date:
    """FindNthWeekday: the nth ``wday`` (0 = Sunday) counted from the month's first (n > 0) or
    last (n < 0) day; the count runs past the month's end. n = 0 loops forever upstream."""
    if n == 0:
        raise IcingaHang("FindNthWeekday with n = 0 never returns")
    if n > 0:
        first = _month_start(year, month)
        offset = (wday - (first.weekday() + 1) % 7) % 7
        return _day_offset(first, offset + 7 * (n - 1))
    last = _day_offset(_month_start(year, month), calendar.monthrange(year, month)[1] - 1)
    offset = ((last.weekday() + 1) % 7 - wday) % 7
    return _day_offset(last, -(offset + 7 * (-n - 1)))


def parse_time_spec(spec: str, ref: date) -> tuple[date, date]:
    """ParseTimeSpec: the local day X a spec names, as (X, X + 1 day)."""
    if len(spec) == 10 and spec[4] == "-" and spec[7] == "-":
        year, month, day = to_long(spec[0:4]), to_long(spec[5:7]), to_long(spec[8:10])
        if not 1 <= month <= 12:
            raise IcingaError(f"Invalid month in time specification: {spec}")
        if not 1 <= day <= 31:
            raise IcingaError(f"Invalid day in time specification: {spec}")
        x = _day_offset(_month_start(year, month), day - 1)
        return x, _day_offset(x, 1)
    tokens = spec.split(" ")
    if len(tokens) > 1 and (tokens[0] == "day" or tokens[0] in MONTHS):
        month = ref.month if tokens[0] == "day" else MONTHS.index(tokens[0]) + 1
        n = to_long(tokens[1])
        start = _month_start(ref.year, month)
        if n >= 0:
            x = _day_offset(start, n - 1)
        else:
            last = _day_offset(start, calendar.monthrange(ref.year, month)[1] - 1)
            x = _day_offset(last, n + 1)
        return x, _day_offset(x, 1)
    if tokens[0] in WEEKDAYS_FROM_SUNDAY:
        wday = WEEKDAYS_FROM_SUNDAY.index(tokens[0])
        if len(tokens) == 1:
            x = _day_offset(ref, (wday - (ref.weekday() + 1) % 7) % 7)
        else:
            month = ref.month
            if len(tokens) > 2:
                if tokens[2] not in MONTHS:
                    raise IcingaError(f"Invalid month in time specification: {spec}")
                month = MONTHS.index(tokens[2]) + 1
            x = find_nth_weekday(ref.year, month, wday, to_long(tokens[1]))
        return x, _day_offset(x, 1)
    raise IcingaError(f"Invalid time specification: {spec}")


@dataclass(frozen=True)
class DayRange:
    begin: date
    end: date  # exclusive: the day after the last day
    stride: int


def parse_time_range(timerange: str, ref: date) -> DayRange:
    """ParseTimeRange: [B, E) and the stride of a key, relative to the reference day."""
    definition, stride = timerange, 1
    slash = timerange.find("/")
    if slash >= 0:
        stride = to_long(timerange[slash + 1 :].strip(_WHITESPACE))
        definition = timerange[:slash]
    dash = definition.find("- ")
    if dash < 0:
        begin, end = parse_time_spec(definition, ref)
        return DayRange(begin, end, stride)
    first = definition[:dash].strip(_WHITESPACE)
    second = definition[dash + 1 :].strip(_WHITESPACE)
    begin, _ = parse_time_spec(first, ref)
    try:
        to_long(second.split(" ")[0])
        space = first.find(" ")
        second = first[: space + 1] + second
    except IcingaError:
        pass
    _, end = parse_time_spec(second, ref)
    return DayRange(begin, end, stride)


def _instant(day: date, tz: ZoneInfo, seconds: int = 0) -> int:
    wall = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(seconds=seconds)
    return int(wall.timestamp())


def is_in_time_range(begin: int, end: int, stride: int, ref: int) -> bool:
    """IsInTimeRange on instants: B <= ref < E, and the stride counts elapsed 24 h blocks."""
    if ref < begin or ref >= end:
        return False
    return not (stride > 1 and ((ref - begin) // 86400) % stride > 0)


def is_in_day_definition(daydef: str, day: date, tz: ZoneInfo) -> bool:
    span = parse_time_range(daydef, day)
    return is_in_time_range(
        _instant(span.begin, tz), _instant(span.end, tz), span.stride, _instant(day, tz)
    )


def process_time_range_raw(timerange: str) -> tuple[int, int]:
    """ProcessTimeRangeRaw: a piece as wall seconds after midnight (begin, end)."""
    times = timerange.split("-")
    if len(times) != 2:
        raise IcingaError(f"Invalid timerange: {timerange}")
    walls = []
    for part in times:
        fields = part.split(":")
        if len(fields) not in (2, 3):
            raise IcingaError(f"Invalid time specification: {part}")
        numbers = [to_long(f) for f in fields] + [0]
        walls.append(numbers[0] * 3600 + numbers[1] * 60 + numbers[2])
    begin, end = walls
    if begin >= end:
        end += 86400
    return begin, end


def process_time_ranges(value: str, day: date, tz: ZoneInfo) -> list[tuple[int, int]]:
    out = []
    for piece in value.split(","):
        begin, end = process_time_range_raw(piece)
        b, e = _instant(day, tz, begin), _instant(day, tz, end)
        if b < e:
            out.append((b, e))
    return out


def validate(key: str, value: str, today: date) -> None:
    """What Icinga 2's config validation does with a range: raises IcingaError if it rejects it."""
    parse_time_range(key, today)
    for piece in value.split(","):
        process_time_range_raw(piece)


def segments(
    ranges: dict[str, str], tz: ZoneInfo, first: date, last: date
) -> list[intervals.Interval]:
    """The union of what Icinga 2's ScriptFunc yields for the days first..last, merged.

    Days before ``first`` are evaluated too, so a long-running Icinga 2 is modelled (not one that
    just restarted and lost yesterday's overnight range).
    """
    out: list[intervals.Interval] = []
    day = first - timedelta(days=3)
    while day <= last:
        for key in sorted(ranges):
            if is_in_day_definition(key, day, tz):
                out.extend(process_time_ranges(ranges[key], day, tz))
        day += timedelta(days=1)
    return intervals.merge(out)
