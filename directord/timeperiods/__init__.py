"""Icinga 2 time periods, evaluated exactly. Pure: no I/O, no clock; callers pass the instants."""

from directord.timeperiods.errors import TimePeriodError
from directord.timeperiods.grammar import DayRule, DaySpec, TimeRange, parse_key, parse_value
from directord.timeperiods.period import Registry, TimePeriod

__all__ = [
    "DayRule",
    "DaySpec",
    "Registry",
    "TimePeriod",
    "TimePeriodError",
    "TimeRange",
    "parse_key",
    "parse_value",
]
