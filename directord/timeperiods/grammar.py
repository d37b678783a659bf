"""Parsing of Icinga 2 legacy range keys ("day definitions") and values ("time ranges").

Pure: text in, frozen dataclasses out. Every error names the text, the position and what was
expected there. The grammar is Icinga 2's (lib/icinga/legacytimeperiod.cpp), made strict where
Icinga 2 silently ignores or rolls over input (see README, "Time periods").
"""

from __future__ import annotations

import calendar
import enum
import re
from dataclasses import dataclass, replace
from datetime import date

from directord.timeperiods.errors import TimePeriodError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
# February 29 exists (in leap years), so a month's longest length is what a month-day may name.
MONTH_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Hours beyond 24 reach into the next days, as in Icinga 2 ("09:00-30:00"); two days is plenty.
MAX_WALL_SECONDS = 48 * 3600
SECONDS_PER_DAY = 86400

_EXPECT_SPEC = "a weekday, month, 'day' or a date"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_INT_RE = re.compile(r"[+-]?\d+\Z")
_TOKEN_RE = re.compile(r"\S+")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?")


class Cycle(enum.Enum):
    """How often a day specification recurs."""

    ONCE = "date"
    WEEK = "weekday"
    MONTH = "day of the month"
    YEAR = "day of the year"


@dataclass(frozen=True, slots=True)
class DaySpec:
    """One day or one recurring day.

    Exactly one shape is filled in:
    - ``on``: a calendar date (``2027-01-01``);
    - ``weekday`` alone: every such weekday (``monday``); 0 = Monday, as in :mod:`datetime`;
    - ``nth`` alone: the nth day of every month, negative from the end (``day -1``);
    - ``month`` + ``nth``: a day of a given month every year (``january 1``);
    - ``weekday`` + ``nth`` [+ ``month``]: the nth such weekday of every month, or of that month
      (``monday -1 may``).
    """

    on: date | None = None
    weekday: int | None = None
    nth: int | None = None
    month: int | None = None

    @property
    def cycle(self) -> Cycle:
        if self.on is not None:
            return Cycle.ONCE
        if self.month is not None:
            return Cycle.YEAR
        if self.nth is not None:
            return Cycle.MONTH
        return Cycle.WEEK

    def __str__(self) -> str:
        if self.on is not None:
            return self.on.isoformat()
        words = []
        if self.weekday is not None:
            words.append(WEEKDAYS[self.weekday])
        elif self.month is None:
            words.append("day")
        if self.month is not None and self.weekday is None:
            words.append(MONTHS[self.month - 1])
        if self.nth is not None:
            words.append(str(self.nth))
        if self.month is not None and self.weekday is not None:
            words.append(MONTHS[self.month - 1])
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class DayRule:
    """A parsed range key: one day spec, or a range of two, with an optional stride."""

    key: str
    start: DaySpec
    end: DaySpec | None = None
    stride: int = 1

    @property
    def cycle(self) -> Cycle:
        return self.start.cycle


@dataclass(frozen=True, slots=True)
class TimeRange:
    """One ``HH:MM-HH:MM`` piece, as wall-clock seconds after the day's midnight.

    ``end`` > ``begin`` always: a range whose end is not after its begin crosses midnight
    (``22:00-06:00``), and ``09:00-09:00`` is a whole day, as in Icinga 2.
    """

    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    pos: int


def parse_key(key: str) -> DayRule:
    """Parse a range key such as ``monday - friday``, ``day 1 - 15 / 5`` or ``monday -1 may``."""
    if not isinstance(key, str):
        raise TimePeriodError("a range key must be a string", text=str(key))
    spec_text, stride = key, 1
    slash = key.find("/")
    if slash >= 0:
        spec_text = key[:slash]
        stride = _parse_stride(key, slash)
    tokens = [_Token(m.group(), m.start()) for m in _TOKEN_RE.finditer(spec_text)]
    if not tokens:
        raise TimePeriodError("empty day definition", text=key, position=0, expected=_EXPECT_SPEC)
    dashes = [i for i, t in enumerate(tokens) if t.text == "-"]
    if len(dashes) > 1:
        raise TimePeriodError(
            "a second '-'", text=key, position=tokens[dashes[1]].pos, expected="one range 'A - B'"
        )
    if not dashes:
        start = _parse_spec(key, tokens)
        if stride != 1:
            raise TimePeriodError(
                "a stride needs a range",
                text=key,
                position=slash,
                expected="a range before '/', as in '2027-01-01 - 2027-03-01 / 7'",
            )
        return DayRule(key, start)
    dash = dashes[0]
    left, right = tokens[:dash], tokens[dash + 1 :]
    if not left:
        raise TimePeriodError(
            "range without a start", text=key, position=tokens[dash].pos, expected=_EXPECT_SPEC
        )
    if not right:
        raise TimePeriodError(
            "range without an end",
            text=key,
            position=tokens[dash].pos + 1,
            expected=_EXPECT_SPEC + " after '- '",
        )
    start = _parse_spec(key, left)
    end = _parse_range_end(key, start, right)
    if start.cycle is not end.cycle:
        raise TimePeriodError(
            f"range from a {start.cycle.value} to a {end.cycle.value}",
            text=key,
            position=right[0].pos,
            expected=f"a {start.cycle.value} as the end, like the start",
        )
    if start.on is not None and end.on is not None and end.on < start.on:
        raise TimePeriodError(
            "range ends before it starts",
            text=key,
            position=right[0].pos,
            expected=f"a date on or after {start.on.isoformat()}",
        )
    return DayRule(key, start, end, stride)


def _parse_stride(key: str, slash: int) -> int:
    raw = key[slash + 1 :]
    text = raw.strip()
    pos = slash + 1 + (len(raw) - len(raw.lstrip()))
    if not text.isdigit():
        raise TimePeriodError(
            "invalid stride", text=key, position=pos, expected="a whole number of days after '/'"
        )
    stride = int(text)
    if stride < 1:
        raise TimePeriodError(
            "stride 0", text=key, position=pos, expected="a stride of 1 day or more"
        )
    return stride


def _int(key: str, token: _Token, what: str) -> int:
    if not _INT_RE.match(token.text):
        raise TimePeriodError(
            f"{token.text!r} is not a number", text=key, position=token.pos, expected=what
        )
    return int(token.text)


def _no_more(key: str, tokens: list[_Token], used: int) -> None:
    if len(tokens) > used:
        extra = tokens[used]
        hint = "nothing more"
        if extra.text.startswith("-") and len(extra.text) > 1 and not _INT_RE.match(extra.text):
            hint = "spaces around '-' in a range ('A - B')"
        elif extra.text.startswith("-"):
            hint = "spaces around '-' in a range ('A - B'), or nothing more"
        raise TimePeriodError(
            f"unexpected {extra.text!r}", text=key, position=extra.pos, expected=hint
        )


def _end_of(tokens: list[_Token]) -> int:
    last = tokens[-1]
    return last.pos + len(last.text)


def _parse_spec(key: str, tokens: list[_Token]) -> DaySpec:
    first = tokens[0]
    word = first.text
    if _DATE_RE.match(word):
        _no_more(key, tokens, 1)
        return DaySpec(on=_parse_date(key, first))
    if word == "day":
        if len(tokens) < 2:
            raise TimePeriodError(
                "'day' without a number",
                text=key,
                position=_end_of(tokens),
                expected="a day of the month, 1..31 or -1..-31",
            )
        n = _int(key, tokens[1], "a day of the month, 1..31 or -1..-31")
        if n == 0 or abs(n) > 31:
            raise TimePeriodError(
                f"day {n} does not exist",
                text=key,
                position=tokens[1].pos,
                expected="a day of the month, 1..31 or -1..-31",
            )
        _no_more(key, tokens, 2)
        return DaySpec(nth=n)
    if word in MONTHS:
        month = MONTHS.index(word) + 1
        longest = MONTH_MAX_DAYS[month - 1]
        expect = f"a day of {word}, 1..{longest} or -1..-{longest}"
        if len(tokens) < 2:
            raise TimePeriodError(
                f"{word!r} without a day", text=key, position=_end_of(tokens), expected=expect
            )
        n = _int(key, tokens[1], expect)
        if n == 0 or abs(n) > longest:
            raise TimePeriodError(
                f"{word} {n} does not exist", text=key, position=tokens[1].pos, expected=expect
            )
        _no_more(key, tokens, 2)
        return DaySpec(month=month, nth=n)
    if word in WEEKDAYS:
        weekday = WEEKDAYS.index(word)
        if len(tokens) == 1:
            return DaySpec(weekday=weekday)
        expect = f"which {word} of the month, 1..5 or -1..-5"
        n = _int(key, tokens[1], expect)
        if n == 0 or abs(n) > 5:
            raise TimePeriodError(
                f"there is no {word} number {n} in a month",
                text=key,
                position=tokens[1].pos,
                expected=expect,
            )
        of_month: int | None = None
        if len(tokens) > 2:
            of_month = _parse_month(key, tokens[2])
        _no_more(key, tokens, 3)
        return DaySpec(weekday=weekday, nth=n, month=of_month)
    raise _unknown_word(key, first)


def _parse_month(key: str, token: _Token) -> int:
    if token.text in MONTHS:
        return MONTHS.index(token.text) + 1
    problem = f"unknown month {token.text!r}"
    if token.text.lower() in MONTHS:
        problem += " (month names are lowercase)"
    raise TimePeriodError(problem, text=key, position=token.pos, expected="a month name")


def _unknown_word(key: str, token: _Token) -> TimePeriodError:
    word = token.text
    problem = "unknown day name" if word == key else f"unknown day name {word!r}"
    lower = word.lower()
    if lower in WEEKDAYS or lower in MONTHS or lower == "day":
        problem += " (names are lowercase)"
    elif (
        "-" in word
        and not word.startswith("-")
        and any(word.startswith(name) for name in (*WEEKDAYS, *MONTHS, "day"))
    ):
        problem += " (a range needs spaces around '-': 'A - B')"
    elif _INT_RE.match(word):
        problem = f"a number {word!r} where a day was expected"
    return TimePeriodError(problem, text=key, position=token.pos, expected=_EXPECT_SPEC)


def _parse_date(key: str, token: _Token) -> date:
    year, month, day = int(token.text[0:4]), int(token.text[5:7]), int(token.text[8:10])
    if not 1 <= month <= 12:
        raise TimePeriodError(
            f"month {month} does not exist",
            text=key,
            position=token.pos + 5,
            expected="a month 01..12",
        )
    if year < 1:
        raise TimePeriodError(
            "year 0 does not exist", text=key, position=token.pos, expected="a year 0001..9999"
        )
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise TimePeriodError(
            f"{MONTHS[month - 1]} {year} has no day {day}",
            text=key,
            position=token.pos + 8,
            expected=f"a day 01..{last:02d}",
        )
    return date(year, month, day)


def _parse_range_end(key: str, start: DaySpec, tokens: list[_Token]) -> DaySpec:
    first = tokens[0]
    if not _INT_RE.match(first.text):
        return _parse_spec(key, tokens)
    # The shorthand end "day 1 - 15": the number replaces the start's number, everything else
    # (weekday, month) is the start's. Icinga 2 keeps only the start's first word, so it loses
    # the month of "monday 2 february - 3"; we keep it.
    _no_more(key, tokens, 1)
    if start.nth is None:
        raise TimePeriodError(
            f"a bare number {first.text!r} cannot end a range from {str(start)!r}",
            text=key,
            position=first.pos,
            expected=_EXPECT_SPEC,
        )
    # Re-parse the start with the new number, so its limits are checked with the right message.
    words = str(replace(start, nth=int(first.text))).split(" ")
    pos = first.pos
    shifted = [_Token(w, pos) for w in words]
    return _parse_spec(key, shifted)


def parse_value(value: str, *, key: str | None = None) -> tuple[TimeRange, ...]:
    """Parse a range value: comma-separated ``HH:MM[:SS]-HH:MM[:SS]`` pieces."""
    if not isinstance(value, str):
        raise TimePeriodError("a range value must be a string", text=str(value), key=key)
    ranges: list[TimeRange] = []
    offset = 0
    for piece in value.split(","):
        ranges.append(_parse_piece(value, piece, offset, key))
        offset += len(piece) + 1
    return tuple(ranges)


def _parse_piece(value: str, piece: str, offset: int, key: str | None) -> TimeRange:
    pos = offset + len(piece) - len(piece.lstrip())
    end_of_piece = offset + len(piece.rstrip())
    if pos >= end_of_piece:
        raise TimePeriodError(
            "empty time range",
            text=value,
            position=pos,
            expected="a time range like 08:00-17:00",
            key=key,
        )
    begin, pos = _parse_time(value, pos, key)
    while pos < end_of_piece and value[pos].isspace():
        pos += 1
    if pos >= end_of_piece or value[pos] != "-":
        raise TimePeriodError(
            "time range without '-'",
            text=value,
            position=pos,
            expected="'-' and an end time, like 08:00-17:00",
            key=key,
        )
    pos += 1
    while pos < end_of_piece and value[pos].isspace():
        pos += 1
    end, pos = _parse_time(value, pos, key)
    if pos != end_of_piece:
        raise TimePeriodError(
            f"unexpected {value[pos]!r}",
            text=value,
            position=pos,
            expected="',' and another time range, or the end",
            key=key,
        )
    if end <= begin:
        end += SECONDS_PER_DAY
    return TimeRange(begin, end)


def _parse_time(value: str, pos: int, key: str | None) -> tuple[int, int]:
    match = _TIME_RE.match(value, pos)
    if match is None:
        raise TimePeriodError(
            "invalid time", text=value, position=pos, expected="a time HH:MM or HH:MM:SS", key=key
        )
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = int(match.group(3)) if match.group(3) is not None else 0
    if minutes > 59:
        raise TimePeriodError(
            f"minute {minutes}",
            text=value,
            position=match.start(2),
            expected="minutes 00..59",
            key=key,
        )
    if seconds > 59:
        raise TimePeriodError(
            f"second {seconds}",
            text=value,
            position=match.start(3),
            expected="seconds 00..59",
            key=key,
        )
    total = hours * 3600 + minutes * 60 + seconds
    if total > MAX_WALL_SECONDS:
        raise TimePeriodError(
            f"time {match.group()} is more than two days",
            text=value,
            position=pos,
            expected="a time up to 48:00",
            key=key,
        )
    return total, match.end()
