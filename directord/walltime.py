"""Wall time <-> instants in a zone, across DST: a wall time that does not exist (spring
forward) is the first instant after the gap; one that exists twice (fall back) its first
occurrence. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def instant(wall: datetime, tz: ZoneInfo) -> float:
    """The instant of a naive wall time in ``tz``: its first occurrence when it exists twice,
    the first instant after the gap when it does not exist."""
    first = wall.replace(tzinfo=tz, fold=0)
    ts = first.timestamp()
    if to_wall(ts, tz) == wall:
        return ts
    # Inside a gap: fold=0 reads it with the offset before the jump (after the gap), fold=1 with
    # the one after (before the gap). The transition lies between; transitions fall on whole
    # seconds, so a bisection to the second finds it.
    lo, hi = wall.replace(tzinfo=tz, fold=1).timestamp(), ts
    if lo > hi:
        lo, hi = hi, lo
    before = offset_at(lo, tz)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset_at(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return hi


def in_gap(wall: datetime, tz: ZoneInfo) -> bool:
    """Whether a naive wall time does not exist in ``tz`` (skipped by a spring-forward)."""
    return to_wall(wall.replace(tzinfo=tz, fold=0).timestamp(), tz) != wall


def to_local(ts: float, tz: ZoneInfo) -> datetime:
    """``ts`` in ``tz``, rounded down to the microsecond: fromtimestamp rounds to the nearest,
    and 399.9999998 becoming 400.0 would hide a start at 400 from a search after it."""
    whole = math.floor(ts)
    # replace, not + timedelta: arithmetic would drop the fold of a repeated hour.
    return datetime.fromtimestamp(whole, tz).replace(microsecond=int((ts - whole) * 1e6))


def to_wall(ts: float, tz: ZoneInfo) -> datetime:
    return to_local(ts, tz).replace(tzinfo=None)


def offset_at(ts: float, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(ts, tz).utcoffset()


def latest_wall(ts: float, tz: ZoneInfo) -> datetime:
    """The latest wall time whose instant (by :func:`instant`) is at or before ``ts``. In the
    repeated hour of a fall-back, that is later than the wall clock shows: the hour's first
    occurrences are all in the past."""
    local = to_local(ts, tz)
    if local.fold == 1:
        first = local.replace(fold=0)
        return (
            local.replace(tzinfo=None)
            + (first.utcoffset() or timedelta())
            - (local.utcoffset() or timedelta())
        )
    return local.replace(tzinfo=None)
