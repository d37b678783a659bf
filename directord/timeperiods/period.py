"""TimePeriod: Icinga 2 legacy ranges evaluated exactly, in the period's own time zone.

Evaluation compiles the ranges into a sorted, merged list of ``[begin, end)`` epoch-second segments
per block of ``BLOCK`` seconds (about 388 days) and answers every query by bisection, so
``is_active`` costs one dict lookup and one bisect once a block is compiled.

DST rule (the same as Icinga 2 >= 2.15, and Python's ``fold=0``): range boundaries are wall-clock
times in the period's zone. A wall time that occurs twice (fall back) means its first occurrence; a
wall time that does not exist (spring forward) is read with the offset in force before the jump, so
it lands as far after the gap as it was inside it (02:30 -> 03:30). So on a spring-forward day
``02:00-03:00`` is empty and ``01:00-04:00`` lasts 2 h; on a fall-back day ``01:00-04:00``
lasts 4 h.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from directord.timeperiods import days, intervals
from directord.timeperiods.errors import TimePeriodError
from directord.timeperiods.grammar import DayRule, TimeRange, parse_key, parse_value

BLOCK = 1 << 25
# A day's range may end up to 48 h + 24 h after that day's midnight (begin 48:00 is not allowed,
# but begin 47:59 with an end before it crosses into the third day).
LOOKBACK_DAYS = 3
NEXT_CHANGE_HORIZON = 5 * 366 * 86400
_CACHED_BLOCKS = 16

Segment = tuple[datetime, datetime]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError for malformed names
        raise TimePeriodError(
            f"unknown time zone {name!r}", expected="an IANA name like Europe/Berlin or UTC"
        ) from exc


def _timestamp(at: datetime, what: str) -> float:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at.isoformat()}")
    return at.timestamp()


class TimePeriod:
    """A named set of instants given by Icinga 2 range keys and values, includes and excludes."""

    def __init__(
        self,
        name: str,
        ranges: Mapping[str, str],
        includes: Iterable[str] = (),
        excludes: Iterable[str] = (),
        prefer_includes: bool = True,
        timezone: str = "UTC",
    ) -> None:
        self.name = name
        self.ranges = dict(ranges)
        self.includes = tuple(includes)
        self.excludes = tuple(excludes)
        self.prefer_includes = prefer_includes
        self.timezone = timezone
        try:
            self.tz = _zone(timezone)
        except TimePeriodError as exc:
            raise exc.within(period=name) from None
        rules: list[tuple[DayRule, tuple[TimeRange, ...]]] = []
        for key, value in self.ranges.items():
            try:
                rule = parse_key(key)
            except TimePeriodError as exc:
                raise exc.within(period=name) from None
            try:
                times = parse_value(value, key=key)
            except TimePeriodError as exc:
                raise exc.within(period=name, key=key) from None
            rules.append((rule, times))
        self.rules = tuple(rules)
        self.registry: Registry | None = None
        self._blocks: dict[int, tuple[list[int], list[int], list[intervals.Interval]]] = {}

    def __repr__(self) -> str:
        return f"TimePeriod({self.name!r}, {self.ranges!r}, timezone={self.timezone!r})"

    # -- public face ---------------------------------------------------------------------------

    def is_active(self, at: datetime) -> bool:
        """Whether the instant ``at`` lies inside the period."""
        return self.is_active_ts(_timestamp(at, "at"))

    def next_change(self, after: datetime) -> datetime | None:
        """The first instant strictly after ``after`` at which ``is_active`` flips.

        None when it does not flip within 5 years.
        """
        ts = self.next_change_ts(_timestamp(after, "after"))
        return None if ts is None else datetime.fromtimestamp(ts, self.tz)

    def segments(self, start: datetime, end: datetime) -> list[Segment]:
        """The active stretches within ``[start, end)``: merged, half-open, clipped, in order."""
        lo, hi = _timestamp(start, "start"), _timestamp(end, "end")
        return [
            (datetime.fromtimestamp(b, self.tz), datetime.fromtimestamp(e, self.tz))
            for b, e in self.segments_ts(lo, hi)
        ]

    # -- the same on epoch seconds (the scheduler's fast path) ---------------------------------

    def is_active_ts(self, ts: float) -> bool:
        begins, ends, _ = self._block(math.floor(ts / BLOCK))
        i = bisect_right(begins, ts) - 1
        return i >= 0 and ts < ends[i]

    def next_change_ts(self, after: float) -> float | None:
        state = self.is_active_ts(after)
        horizon = after + NEXT_CHANGE_HORIZON
        t = after
        while t <= horizon:
            k = math.floor(t / BLOCK)
            begins, ends, _ = self._block(k)
            block_end = (k + 1) * BLOCK
            flip: float | None = None
            if state:
                # Active at t: the segment holding t is the first whose end lies after t.
                end = ends[bisect_right(ends, t)]
                if end < block_end or not self.is_active_ts(block_end):
                    flip = end
            else:
                i = bisect_right(begins, t)
                if i < len(begins):
                    flip = begins[i]
                elif self.is_active_ts(block_end):
                    flip = block_end
            if flip is not None:
                return flip if flip <= horizon else None
            t = block_end
        return None

    def segments_ts(self, lo: float, hi: float) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        if hi <= lo:
            return out
        for k in range(math.floor(lo / BLOCK), math.floor(hi / BLOCK) + 1):
            for b, e in self._block(k)[2]:
                begin, end = max(b, lo), min(e, hi)
                if begin >= end:
                    continue
                if out and out[-1][1] == begin:
                    out[-1] = (out[-1][0], end)
                else:
                    out.append((begin, end))
        return out

    # -- compilation ---------------------------------------------------------------------------

    def _block(
        self, k: int, path: tuple[str, ...] = ()
    ) -> tuple[list[int], list[int], list[intervals.Interval]]:
        cached = self._blocks.get(k)
        if cached is not None:
            return cached
        segs = self._compose(k, (*path, self.name))
        compiled = ([b for b, _ in segs], [e for _, e in segs], segs)
        if len(self._blocks) >= _CACHED_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        self._blocks[k] = compiled
        return compiled

    def _compose(self, k: int, path: tuple[str, ...]) -> list[intervals.Interval]:
        """Own segments of block k, then excludes and includes in the order prefer_includes says."""
        segs = self._own_segments(k)
        if not self.includes and not self.excludes:
            return segs
        included = self._others(self.includes, "includes", k, path)
        excluded = self._others(self.excludes, "excludes", k, path)
        if self.prefer_includes:
            return intervals.union(intervals.subtract(segs, excluded), included)
        return intervals.subtract(intervals.union(segs, included), excluded)

    def _others(
        self, names: tuple[str, ...], field: str, k: int, path: tuple[str, ...]
    ) -> list[intervals.Interval]:
        out: list[intervals.Interval] = []
        for other_name in names:
            if self.registry is None:
                raise TimePeriodError(
                    f"{field} {other_name!r}, but the period belongs to no registry",
                    period=self.name,
                )
            other = self.registry.get(other_name, referenced_by=(self.name, field))
            if other.name in path:
                cycle = " -> ".join((*path, other.name))
                raise TimePeriodError(f"includes/excludes form a cycle: {cycle}", period=self.name)
            out = intervals.union(out, other._block(k, path)[2])
        return out

    def _own_segments(self, k: int) -> list[intervals.Interval]:
        lo, hi = k * BLOCK, (k + 1) * BLOCK
        first = datetime.fromtimestamp(lo, self.tz).date() - timedelta(days=LOOKBACK_DAYS)
        last = datetime.fromtimestamp(hi, self.tz).date()
        raw: list[intervals.Interval] = []
        for rule, times in self.rules:
            for day in days.days_covered(rule, first, last):
                midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz)
                for tr in times:
                    raw.append((_wall(midnight, tr.begin), _wall(midnight, tr.end)))
        return intervals.clip(intervals.merge(raw), lo, hi)


def _wall(midnight: datetime, seconds: int) -> int:
    # Aware datetime + timedelta is wall-clock arithmetic in Python; timestamp() then resolves the
    # wall time with fold=0: the DST rule in the module docstring.
    return int((midnight + timedelta(seconds=seconds)).timestamp())


class Registry:
    """Named periods that can include and exclude each other."""

    def __init__(self, periods: Iterable[TimePeriod] = ()) -> None:
        self._periods: dict[str, TimePeriod] = {}
        for period in periods:
            self.add(period)

    def add(self, period: TimePeriod) -> TimePeriod:
        if period.name in self._periods:
            raise TimePeriodError("defined twice", period=period.name)
        if period.registry is not None and period.registry is not self:
            raise TimePeriodError("already belongs to another registry", period=period.name)
        period.registry = self
        self._periods[period.name] = period
        # A new member can change what the others' includes and excludes resolve to.
        for member in self._periods.values():
            member._blocks.clear()
        return period

    def get(self, name: str, *, referenced_by: tuple[str, str] | None = None) -> TimePeriod:
        try:
            return self._periods[name]
        except KeyError:
            if referenced_by is None:
                raise TimePeriodError(f"unknown time period {name!r}") from None
            owner, field = referenced_by
            known = ", ".join(sorted(self._periods)) or "none"
            raise TimePeriodError(
                f"{field} unknown time period {name!r} (known: {known})", period=owner
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._periods

    def __iter__(self) -> Iterator[TimePeriod]:
        return iter(self._periods.values())

    def __len__(self) -> int:
        return len(self._periods)

    def check(self) -> list[TimePeriodError]:
        """Every unknown reference and every include/exclude cycle, as errors (none: empty)."""
        errors: list[TimePeriodError] = []
        for period in self._periods.values():
            for field, names in (("includes", period.includes), ("excludes", period.excludes)):
                for name in names:
                    if name not in self._periods:
                        try:
                            self.get(name, referenced_by=(period.name, field))
                        except TimePeriodError as exc:
                            errors.append(exc)
        if errors:
            return errors
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            period = self._periods[name]
            for other in (*period.includes, *period.excludes):
                if state.get(other) == 1:
                    cycle = " -> ".join([*path[path.index(other) :], other])
                    errors.append(
                        TimePeriodError(f"includes/excludes form a cycle: {cycle}", period=other)
                    )
                elif other not in state:
                    visit(other, [*path, other])
            state[name] = 2

        for name in self._periods:
            if name not in state:
                visit(name, [name])
        return errors
