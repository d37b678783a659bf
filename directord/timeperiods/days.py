"""Which calendar days a parsed range key covers. Pure date arithmetic, no time zones.

A range runs from an occurrence of its start to the next occurrence of its end, both days included,
within the start's cycle (week, month, year) or into the next one when it wraps
(``friday - monday``, ``day 25 - 5``, ``december 24 - january 2``). A stride counts calendar days
from the start of that occurrence.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from directord.timeperiods.grammar import Cycle, DayRule, DaySpec


def _month_length(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def nth_weekday(year: int, month: int, weekday: int, nth: int) -> date | None:
    """The nth ``weekday`` (0 = Monday) of a month, negative from its end; None if there is none."""
    length = _month_length(year, month)
    if nth > 0:
        first = date(year, month, 1).weekday()
        day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
    else:
        last = date(year, month, length).weekday()
        day = length - (last - weekday) % 7 - 7 * (-nth - 1)
    if 1 <= day <= length:
        return date(year, month, day)
    return None


def _day_of_month(year: int, month: int, nth: int, clamp: bool) -> date | None:
    length = _month_length(year, month)
    day = nth if nth > 0 else length + nth + 1
    if clamp and nth > length:
        # "day 25 - 31" in a 30-day month ends on the 30th: the end of the month is meant.
        day = length
    if 1 <= day <= length:
        return date(year, month, day)
    return None


def resolve(spec: DaySpec, year: int, month: int, *, clamp: bool = False) -> date | None:
    """The day ``spec`` names in the cycle that contains (year, month), or None if none exists.

    ``clamp`` is for range ends: a day number past the month's end means its last day.
    """
    if spec.on is not None:
        return spec.on
    if spec.month is not None:
        month = spec.month
    if spec.nth is None:
        raise ValueError("a plain weekday has no day in a month")  # pragma: no cover - guarded
    if spec.weekday is not None:
        return nth_weekday(year, month, spec.weekday, spec.nth)
    return _day_of_month(year, month, spec.nth, clamp)


def covers(rule: DayRule, day: date) -> bool:
    """Whether the key ``rule`` includes the calendar day ``day``."""
    start, end = rule.start, rule.end
    cycle = rule.cycle
    if end is None:
        if cycle is Cycle.ONCE:
            return day == start.on
        if cycle is Cycle.WEEK:
            return day.weekday() == start.weekday
        return resolve(start, day.year, day.month) == day
    if cycle is Cycle.ONCE:
        assert start.on is not None
        assert end.on is not None
        return start.on <= day <= end.on and (day - start.on).days % rule.stride == 0
    if cycle is Cycle.WEEK:
        assert start.weekday is not None
        assert end.weekday is not None
        since_start = (day.weekday() - start.weekday) % 7
        length = (end.weekday - start.weekday) % 7
        return since_start <= length and since_start % rule.stride == 0
    # Month and year cycles: the occurrence that covers `day` began in this cycle or, when it
    # wraps, in the one before.
    step = 1 if cycle is Cycle.MONTH else 12
    for back in (0, step):
        year, month = _add_months(day.year, day.month, -back)
        first = resolve(start, year, month)
        if first is None or first > day:
            continue
        last = resolve(end, year, month, clamp=True)
        if last is None or last < first:
            year, month = _add_months(year, month, step)
            last = resolve(end, year, month, clamp=True)
        if last is None:
            continue
        if day <= last and (day - first).days % rule.stride == 0:
            return True
    return False


def days_covered(rule: DayRule, first: date, last: date) -> list[date]:
    """Every day in [first, last] that ``rule`` covers, in order."""
    out = []
    day = first
    one = timedelta(days=1)
    while day <= last:
        if covers(rule, day):
            out.append(day)
        day += one
    return out
