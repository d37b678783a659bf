"""Calendar schedules: when does an ``at`` or ``cron`` job next start, and does it catch up.

Pure: no I/O, no clock. Every function takes the instant it is asked about (epoch seconds), so
tests drive it with a fake clock.

Forms:
- ``at``: one or more wall times (``HH:MM`` or ``HH:MM:SS``) in the job's zone, every day;
- ``at`` + ``interval``: the times are anchors, each repeated every ``interval`` for a day
  (``interval: 15m, at: "00:05"`` is :05, :20, :35 and :50 of every hour);
- ``cron``: a 5-field expression (or 6 fields with seconds first, or ``@daily``, ``@hourly``, ...)
  evaluated by cronsim, the evaluator healthchecks.io maintains.

DST: a wall time that does not exist (spring forward) starts once, at the first instant after the
gap; a wall time that exists twice (fall back) starts once, at its first occurrence. cronsim does
exactly this for 5-field expressions with a fixed minute and hour (Debian cron's rule), but not
for 6-field ones (it skips the day, or runs twice); so expressions with a fixed minute and hour are
evaluated here on naive wall times and mapped to instants by :func:`instant`, whatever their
length. Expressions with ``*`` in the minute or hour field are periodic in elapsed time (as in
Debian cron): ``*/15 * * * *`` also runs in the repeated hour of a fall-back night.

Catch-up (:func:`next_start`): after downtime a calendar job starts at most once for what it
missed, at the latest missed time, and only when that is at most ``catch_up`` seconds older than
the moment the daemon came back; never a burst.
"""

from __future__ import annotations

import bisect
import copy
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cronsim

from directord import units, walltime

DAY = 86400.0
_AT_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\Z")
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS5 = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELDS6 = ("second", *_FIELDS5)
_EXPECT = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT, with #N or L",
}
# How many candidate wall times a search looks at before it gives up (a cron expression that
# never matches: cronsim itself gives up after 50 years).
_MAX_STEPS = 100_000
_BRACKETS = 8
# Parsed cron expressions by text, and the iteration state calendar.Cron._iterate sets on a copy.
_TEMPLATES: dict[str, cronsim.CronSim] = {}
_CRONSIM_STATE = ("skip_initial_tick", "dt", "tick_direction", "fixup_tz", "seconds", "weekdays")


class CalendarError(ValueError):
    """A schedule that cannot be used: ``problem`` in ``text`` at character ``position``."""

    def __init__(self, problem: str, text: str, position: int | None = None) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        where = "" if position is None else f" at {position}"
        super().__init__(f"{text!r}: {problem}{where}")


def zone(name: str) -> ZoneInfo:
    """An IANA zone; CalendarError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problem = "unknown time zone (use an IANA name like Europe/Berlin)"
        raise CalendarError(problem, name) from None


# Wall time <-> instants moved to walltime; kept here for callers of calendar.X.
instant = walltime.instant
in_gap = walltime.in_gap


# -- schedules -----------------------------------------------------------------------------------


class Schedule:
    """When a job starts. ``next_after`` is strictly after an instant, ``latest`` at or before."""

    tz: ZoneInfo
    text: str
    # Recent answers as brackets [latest, next): every instant in one has the same latest and
    # next start, so the views' and the scheduler's repeated questions about "now" cost nothing
    # after the first (a cron search costs a few hundred microseconds).
    _brackets: list[tuple[float | None, float | None]]

    def next_after(self, ts: float) -> float | None:
        return self._bracket(ts)[1]

    def latest(self, ts: float) -> float | None:
        return self._bracket(ts)[0]

    def _bracket(self, ts: float) -> tuple[float | None, float | None]:
        for lo, hi in self._brackets:
            if (lo is None or lo <= ts) and (hi is None or ts < hi):
                return lo, hi
        found = (self._latest(ts), self._next(ts))
        self._brackets.append(found)
        if len(self._brackets) > _BRACKETS:
            del self._brackets[0]
        return found

    def _next(self, ts: float) -> float | None:
        raise NotImplementedError

    def _latest(self, ts: float) -> float | None:
        raise NotImplementedError

    def starts(self, after: float, count: int) -> list[float]:
        """The next ``count`` starts after ``after``, in order."""
        out: list[float] = []
        while len(out) < count:
            at = self.next_after(out[-1] if out else after)
            if at is None:
                break
            out.append(at)
        return out


@dataclass(frozen=True)
class Daily(Schedule):
    """Every day at each of ``times`` (wall times, sorted, distinct) in ``tz``."""

    times: tuple[time, ...]
    tz: ZoneInfo
    text: str = ""
    every: float | None = None  # the interval the times were expanded with, if any
    _brackets: list[tuple[float | None, float | None]] = field(
        default_factory=list, compare=False, repr=False
    )

    def _walls(self, start: datetime, forward: bool) -> Iterator[datetime]:
        day = start.date()
        key = start.time()
        if forward:
            i = bisect.bisect_right(self.times, key)
            while True:
                for t in self.times[i:]:
                    yield datetime.combine(day, t)
                day, i = day + timedelta(days=1), 0
        else:
            i = bisect.bisect_right(self.times, key)
            while True:
                for t in reversed(self.times[:i]):
                    yield datetime.combine(day, t)
                day, i = day - timedelta(days=1), len(self.times)

    def _next(self, ts: float) -> float | None:
        return _first(self._walls(walltime.to_wall(ts, self.tz), True), self.tz, lambda x: x > ts)

    def _latest(self, ts: float) -> float | None:
        return _first(
            self._walls(walltime.latest_wall(ts, self.tz), False), self.tz, lambda x: x <= ts
        )


@dataclass(frozen=True)
class Cron(Schedule):
    """A cron expression in ``tz`` (``expr`` is the expression cronsim gets: macros expanded)."""

    expr: str
    tz: ZoneInfo
    text: str = ""
    wall: bool = field(init=False)
    _brackets: list[tuple[float | None, float | None]] = field(
        default_factory=list, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        parts = self.expr.split()
        minute, hour = (parts[1], parts[2]) if len(parts) == 6 else (parts[0], parts[1])
        # A fixed minute and hour are wall times (the DST rule applies); a "*" in either makes
        # the schedule periodic in elapsed time, as Debian cron treats it.
        object.__setattr__(self, "wall", not minute.startswith("*") and not hour.startswith("*"))

    def _walls(self, start: datetime, forward: bool) -> Iterator[datetime]:
        if not forward and start.microsecond == 0:
            # cronsim steps back one second first unless the start has a fraction: keep the
            # start itself a candidate ("at or before"). replace keeps a repeated hour's fold.
            start = start.replace(microsecond=1)
        yield from self._iterate(start, forward)

    def _iterate(self, start: datetime, forward: bool) -> Iterator[datetime]:
        """cronsim's iterator from ``start``. Parsing the expression is most of a search's cost,
        so a parsed template is copied and pointed at ``start`` (what CronSim.__init__ does
        after parsing, for the starts used here: naive, or aware with a "*" minute or hour,
        where it applies no DST fix-up of its own). Any other cronsim: parsed afresh."""
        template = _TEMPLATES.get(self.expr)
        if template is None:
            template = cronsim.CronSim(self.expr, datetime(2000, 1, 1))
            _TEMPLATES[self.expr] = template
        if not all(hasattr(template, a) for a in _CRONSIM_STATE):
            return iter(cronsim.CronSim(self.expr, start, reverse=not forward))
        it = copy.copy(template)
        it.skip_initial_tick = bool(not forward and start.microsecond)
        it.dt = start.replace(microsecond=0)
        it.tick_direction = 1 if forward else -1
        it.fixup_tz = None
        return it

    def _search(self, ts: float, forward: bool) -> float | None:
        if self.wall:
            start = walltime.to_wall(ts, self.tz) if forward else walltime.latest_wall(ts, self.tz)
        else:
            start = walltime.to_local(ts, self.tz)
        cond = (lambda x: x > ts) if forward else (lambda x: x <= ts)
        return _first(self._walls(start, forward), self.tz, cond)

    def _next(self, ts: float) -> float | None:
        return self._search(ts, True)

    def _latest(self, ts: float) -> float | None:
        return self._search(ts, False)


def _first(walls: Iterator[datetime], tz: ZoneInfo, cond: Callable[[float], bool]) -> float | None:
    for steps, wall in enumerate(walls):
        if steps > _MAX_STEPS:
            return None
        ts = instant(wall.replace(tzinfo=None), tz) if wall.tzinfo is None else _aware(wall, tz)
        if cond(ts):
            return ts
    return None


def _aware(dt: datetime, tz: ZoneInfo) -> float:
    """An aware datetime from cronsim as an instant; one inside a gap (cronsim can land on a
    midnight that does not exist) moves to the first instant after the gap."""
    naive = dt.replace(tzinfo=None)
    if in_gap(naive, tz):
        return instant(naive, tz)
    return dt.timestamp()


# -- parsing -------------------------------------------------------------------------------------


def parse_at(value: str | Sequence[str]) -> tuple[time, ...]:
    """``"02:00"``, ``"02:00:30"`` or a list of them -> sorted distinct wall times."""
    items = [value] if isinstance(value, str) else list(value)
    if not items:
        raise CalendarError("at least one time is needed (HH:MM or HH:MM:SS)", "")
    out = set()
    for item in items:
        if not isinstance(item, str):
            raise CalendarError("not a time: write it quoted, as HH:MM or HH:MM:SS", repr(item))
        text = item.strip()
        match = _AT_RE.match(text)
        if not match:
            raise CalendarError("not a time: expected HH:MM or HH:MM:SS", item, 0)
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        offset = len(item) - len(item.lstrip())
        if hour > 23:
            raise CalendarError("hour must be 00-23", item, offset + match.start(1))
        if minute > 59:
            raise CalendarError("minute must be 00-59", item, offset + match.start(2))
        if second > 59:
            raise CalendarError("second must be 00-59", item, offset + match.start(3))
        out.add(time(hour, minute, second))
    return tuple(sorted(out))


def daily(times: Sequence[time], tz: ZoneInfo, every: float | None = None, text: str = "") -> Daily:
    """Every day at ``times``; with ``every`` (seconds, at most a day), each time is an anchor
    repeated every ``every`` seconds until a day after it (wall times, so DST moves none)."""
    if every is None:
        return Daily(tuple(sorted(set(times))), tz, text)
    if every <= 0 or every > DAY:
        problem = "with at, the interval must be more than 0 and at most 1d"
        raise CalendarError(problem, units.format_duration(every))
    out = set()
    for t in times:
        base = t.hour * 3600 + t.minute * 60 + t.second
        k = 0
        while k * every < DAY:
            secs = int(base + k * every) % int(DAY)
            out.add(time(secs // 3600, secs // 60 % 60, secs % 60))
            k += 1
    return Daily(tuple(sorted(out)), tz, text, every)


def parse_cron(text: str, tz: ZoneInfo) -> Cron:
    """A cron expression (5 fields, 6 with seconds first, or a macro) -> Cron; CalendarError
    naming the field and its position otherwise."""
    stripped = text.strip()
    expr = MACROS.get(stripped.lower(), stripped)
    if stripped.startswith("@") and stripped.lower() not in MACROS:
        known = ", ".join(MACROS)
        raise CalendarError(f"unknown macro (known: {known})", text, text.index("@"))
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
    if stripped == expr and len(spans) not in (5, 6):
        raise CalendarError(
            f"{len(spans)} fields; expected 5 (minute hour day-of-month month day-of-week) "
            "or 6 (second first)",
            text,
            spans[6][0] if len(spans) > 6 else len(text),
        )
    try:
        cronsim.CronSim(expr, datetime(2000, 1, 1))
    except (cronsim.CronSimError, ValueError, IndexError) as exc:
        names = _FIELDS6 if len(expr.split()) == 6 else _FIELDS5
        problem = str(exc)
        for i, name in enumerate(names):
            if problem == f"Bad {name}":
                position = spans[i][0] if stripped == expr else 0
                raise CalendarError(
                    f"bad {name} field {expr.split()[i]!r} (expected {_EXPECT[name]})",
                    text,
                    position,
                ) from None
        raise CalendarError(problem[0].lower() + problem[1:], text, 0) from None
    return Cron(expr, tz, text)


# -- due times -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Next:
    at: float
    catch_up: bool = False  # the latest start missed while the daemon was down


def next_start(
    schedule: Schedule,
    *,
    last_attempt: float | None,
    known_since: float,
    now: float,
    catch_up: float,
) -> Next | None:
    """When the job starts next, seen at ``now`` (maybe in the past: it is late).

    - A start that fell after its last attempt while the daemon was up (``known_since`` on) is
      due: if several did (a long run, a busy queue), only the latest, once.
    - One that fell while it was down is caught up only when it is at most ``catch_up`` seconds
      older than ``known_since`` (0: never), and only if the job ran before.
    - A job that never ran waits for its first time.
    """
    floor = known_since if last_attempt is None else last_attempt
    latest = schedule.latest(now)
    if latest is not None and latest > floor:
        if latest >= known_since:
            return Next(latest)
        if last_attempt is not None and catch_up > 0 and known_since - latest <= catch_up:
            return Next(latest, catch_up=True)
    nxt = schedule.next_after(max(now, floor))
    return None if nxt is None else Next(nxt)


def overdue_after(
    schedule: Schedule, *, last_attempt: float | None, known_since: float
) -> float | None:
    """When a calendar job that has not started is overdue: once the start after the first one
    it owes (since its last attempt, while the daemon was up) has passed too."""
    first = schedule.next_after(max(last_attempt or known_since, known_since))
    return None if first is None else schedule.next_after(first)


def default_catch_up(interval: float | None) -> float:
    """``catch_up`` when the job does not say: one interval with ``at`` + ``interval``, 1 h for
    ``at`` and ``cron``."""
    return interval if interval is not None else 3600.0


def build(
    *, at: str | Sequence[str] | None, cron: str | None, interval: float | None, tz: str
) -> Schedule | None:
    """A job's calendar schedule from its config fields, or None for a plain interval job.
    CalendarError for a bad field (config.py names the field)."""
    if cron is None and at is None:
        return None
    zone_ = zone(tz)
    if cron is not None:
        sched = parse_cron(cron, zone_)
        return Cron(sched.expr, zone_, f"cron {cron.strip()}")
    assert at is not None
    times = parse_at(at)
    written = ", ".join(t.isoformat(timespec="seconds").removesuffix(":00") for t in times)
    every = "" if interval is None else f"every {units.format_duration(interval)} "
    text = f"{every}at {written}"
    return daily(times, zone_, interval, text)
