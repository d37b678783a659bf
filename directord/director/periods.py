"""Director's time periods, two ways (pure, no I/O).

``convert`` turns them into directord periods evaluated the way Icinga 2 evaluates the config
Director renders: imported templates' ranges, ``range_type = 'exclude'`` ranges, includes and
excludes (nested) and ``prefer_includes``, in one zone. ``director_segments`` is Director's own
runner's view (``IcingaTimePeriod::isActive``): only the period's own ranges, weekday keys only,
``HH:MM-HH:MM`` within one day, closed at both ends, includes and excludes one level deep.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from directord import timeperiods
from directord.director import model

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
# PHP's sscanf('%2d:%2d-%2d:%2d'): whitespace skipped before each number, at most two digits.
_HHMM = re.compile(r"\s*([+-]?\d{1,2}):\s*([+-]?\d{1,2})-\s*([+-]?\d{1,2}):\s*([+-]?\d{1,2})")


def local_zone() -> str:
    """The system's local zone as an IANA name (what Icinga 2 evaluates periods in)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


def period_name(prefix: str, period: model.Period) -> str:
    return f"{prefix}{period.name}"


@dataclass(frozen=True)
class Resolved:
    """A period after its imports: what Icinga 2 gets."""

    ranges: dict[str, str]
    exclude_ranges: dict[str, str]
    includes: tuple[int, ...]
    excludes: tuple[int, ...]
    prefer_includes: bool


def resolve(periods: Mapping[int, model.Period], pid: int, seen: tuple[int, ...] = ()) -> Resolved:
    """Imports first, in weight order (a later one wins per key), the period's own last."""
    period = periods[pid]
    ranges: dict[str, str] = {}
    exclude_ranges: dict[str, str] = {}
    includes: list[int] = []
    excludes: list[int] = []
    prefer: bool | None = None
    for parent in period.imports:
        if parent in seen or parent not in periods:
            continue
        up = resolve(periods, parent, (*seen, pid))
        ranges.update(up.ranges)
        exclude_ranges.update(up.exclude_ranges)
        includes += [i for i in up.includes if i not in includes]
        excludes += [i for i in up.excludes if i not in excludes]
        prefer = up.prefer_includes
    for r in period.ranges:
        (exclude_ranges if r.type == "exclude" else ranges)[r.key] = r.value
    includes += [i for i in period.includes if i not in includes]
    excludes += [i for i in period.excludes if i not in excludes]
    if period.prefer_includes is not None:
        prefer = period.prefer_includes
    return Resolved(ranges, exclude_ranges, tuple(includes), tuple(excludes), prefer is not False)


def convert(
    periods: Mapping[int, model.Period], wanted: set[int], prefix: str, timezone: str
) -> tuple[dict[int, str], dict[str, dict[str, Any]], dict[str, str]]:
    """directord period definitions (the keys of a ``timeperiods:`` entry) for ``wanted`` and
    everything they include or exclude.

    Returns the name of each wanted period, the definitions by name, and per name an error (a
    range Icinga 2 would reject too): a broken period becomes "never", so its jobs do not run."""
    names: dict[int, str] = {}
    out: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    todo = [p for p in wanted if p in periods]
    while todo:
        pid = todo.pop()
        if pid in names:
            continue
        name = period_name(prefix, periods[pid])
        names[pid] = name
        res = resolve(periods, pid)
        includes = [period_name(prefix, periods[i]) for i in res.includes if i in periods]
        excludes = [period_name(prefix, periods[i]) for i in res.excludes if i in periods]
        todo += [i for i in (*res.includes, *res.excludes) if i in periods]
        if res.exclude_ranges:
            hole = f"{name}#exclude"
            out[hole] = {"ranges": res.exclude_ranges, "timezone": timezone}
            excludes.append(hole)
        out[name] = {
            "ranges": res.ranges,
            "includes": includes,
            "excludes": excludes,
            "prefer_includes": res.prefer_includes,
            "timezone": timezone,
        }
    for name, spec in list(out.items()):
        try:
            timeperiods.TimePeriod(name, spec["ranges"], timezone=timezone)
        except timeperiods.TimePeriodError as exc:
            errors[name] = str(exc)
            out[name] = {**spec, "ranges": {}}
    return {p: names[p] for p in wanted if p in names}, out, errors


def registry(definitions: Mapping[str, Mapping[str, Any]]) -> timeperiods.Registry:
    """The evaluable periods of ``convert``'s definitions."""
    reg = timeperiods.Registry()
    for name, spec in definitions.items():
        reg.add(
            timeperiods.TimePeriod(
                name,
                spec["ranges"],
                includes=spec.get("includes", ()),
                excludes=spec.get("excludes", ()),
                prefer_includes=spec.get("prefer_includes", True),
                timezone=spec["timezone"],
            )
        )
    return reg


# -- Director's own evaluation --------------------------------------------------------------


def _own_segments(
    period: model.Period, tz: ZoneInfo, first: date, days: int
) -> list[tuple[float, float]]:
    """Closed [begin, end] stretches Director's IcingaTimePeriodRange::isActive accepts."""
    out = []
    for n in range(days + 1):
        day = first + timedelta(days=n)
        weekday = WEEKDAYS[(day.weekday() + 1) % 7]
        for r in period.ranges:  # Director loads every range_type alike
            if r.key != weekday:
                continue
            for piece in re.split(r"\s*,\s*", r.value):
                m = _HHMM.match(piece)
                if not m:
                    continue
                h1, m1, h2, m2 = (int(g) for g in m.groups())
                begin, end = _wall(day, h1, m1, tz), _wall(day, h2, m2, tz)
                if begin is not None and end is not None and begin <= end:
                    out.append((begin, end))
    return out


def _wall(day: date, hour: int, minute: int, tz: ZoneInfo) -> float | None:
    # strtotime('Y-m-d HH:MM:00'): 24:00 is the next midnight; other out-of-range times fail.
    if not (0 <= hour <= 24 and 0 <= minute <= 59) or (hour == 24 and minute):
        return None
    base = datetime(day.year, day.month, day.day, tzinfo=tz)
    return (base + timedelta(hours=hour, minutes=minute)).timestamp()


def director_active(
    periods: Mapping[int, model.Period], pid: int, tz: ZoneInfo, first: date, days: int
) -> tuple[Callable[[float], bool], list[float]]:
    """Director's isActive as a function of an instant strictly between boundaries, and the
    boundaries themselves."""
    period = periods[pid]
    own = _own_segments(period, tz, first, days)
    inc = [_own_segments(periods[i], tz, first, days) for i in period.includes if i in periods]
    exc = [_own_segments(periods[i], tz, first, days) for i in period.excludes if i in periods]
    prefer = period.prefer_includes is not False

    def inside(segs: list[tuple[float, float]], t: float) -> bool:
        return any(b <= t <= e for b, e in segs)

    def active(t: float) -> bool:
        included = any(inside(s, t) for s in inc)
        excluded = any(inside(s, t) for s in exc)
        if prefer:
            return True if included else False if excluded else inside(own, t)
        return False if excluded else True if included else inside(own, t)

    points = sorted({p for segs in (own, *inc, *exc) for seg in segs for p in seg})
    return active, points


@dataclass(frozen=True)
class Disagreement:
    at: float
    directord_active: bool
    director_active: bool


def first_disagreement(
    ours: timeperiods.TimePeriod,
    periods: Mapping[int, model.Period],
    pid: int,
    start: float,
    days: int,
) -> Disagreement | None:
    """The first instant in ``[start, start + days)`` from which directord's and Director's
    runner decide differently. Boundary instants do not count (Director's ranges are closed,
    Icinga 2's half-open), so each stretch between two boundaries is judged at its middle."""
    end = start + days * 86400
    first_day = datetime.fromtimestamp(start, ours.tz).date() - timedelta(days=1)
    theirs, their_points = director_active(periods, pid, ours.tz, first_day, days + 2)
    our_points = [p for seg in ours.segments_ts(start, end) for p in seg]
    points = sorted({start, end, *(p for p in (*our_points, *their_points) if start < p < end)})
    for lo, hi in itertools.pairwise(points):
        mid = (lo + hi) / 2
        mine, director = ours.is_active_ts(mid), theirs(mid)
        if mine != director:
            return Disagreement(lo, mine, director)
    return None
