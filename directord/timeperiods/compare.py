"""Where Icinga 2 itself would evaluate a period's ranges differently from directord.

``config check`` prints these as warnings, per key, so that users who keep the same definitions
in Icinga 2 and in directord see where the two disagree.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from directord.timeperiods import icinga
from directord.timeperiods.period import TimePeriod


def _state_at(segs: list[tuple[float, float]], t: float) -> bool:
    return any(b <= t < e for b, e in segs)


def _first_difference(
    ours: list[tuple[float, float]], theirs: list[tuple[float, float]]
) -> float | None:
    points = sorted({p for seg in (*ours, *theirs) for p in seg})
    for p in points:
        if _state_at(ours, p) != _state_at(theirs, p):
            return p
    return None


def icinga_differences(period: TimePeriod, today: date, days: int = 366) -> list[str]:
    """One message per range key that Icinga 2 rejects or evaluates differently in the ``days``
    days from ``today`` (local to the period's zone). Empty when the two agree everywhere."""
    warnings = []
    lo_day, hi_day = today, today + timedelta(days=days)
    lo = datetime(lo_day.year, lo_day.month, lo_day.day, tzinfo=period.tz).timestamp()
    hi = datetime(hi_day.year, hi_day.month, hi_day.day, tzinfo=period.tz).timestamp()
    for key, value in period.ranges.items():
        try:
            icinga.validate(key, value, today)
            theirs = [
                (max(b, lo), min(e, hi))
                for b, e in icinga.segments({key: value}, period.tz, lo_day, hi_day)
                if b < hi and e > lo
            ]
        except icinga.IcingaHang:
            warnings.append(f"range {key!r}: Icinga 2 never finishes evaluating this key")
            continue
        except icinga.IcingaError as exc:
            warnings.append(f"range {key!r}: Icinga 2 rejects it ({exc})")
            continue
        single = TimePeriod(period.name, {key: value}, timezone=period.timezone)
        ours = [(float(b), float(e)) for b, e in single.segments_ts(lo, hi)]
        theirs_f = [(float(b), float(e)) for b, e in theirs]
        at = _first_difference(ours, theirs_f)
        if at is None:
            continue
        when = datetime.fromtimestamp(at, period.tz).isoformat()
        state = {True: "active", False: "inactive"}
        warnings.append(
            f"range {key!r}: Icinga 2 evaluates it differently, first at {when}: "
            f"Icinga 2 {state[_state_at(theirs_f, at)]}, directord {state[_state_at(ours, at)]}"
        )
    return warnings
